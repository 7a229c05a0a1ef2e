"""report.html: every section from a real (tiny) run, video choice, pictures from video files, the CLI, a browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cotal.cli.main import main
from cotal.config import load_config
from cotal.pipeline import fit
from cotal.report import choose_videos, keyframes, timings_table, write_report_html
from cotal.utils.io import read_json, write_json
from tests.extras import skip_without_extra

TINY = {
    "pipeline": {"clusters": 3, "rounds": 2},
    "model": {"base_dim": 16},
    "train": {"epochs": 3, "batch_size": 6, "device": "cpu"},
}


@pytest.fixture(scope="module")
def run_with_videos(tmp_path_factory):
    """A finished unsupervised run on toy features whose test videos point at a real video file (as after
    ``cotal extract``), with one label-free per-round signal added to metrics.json; and the videos' folder."""
    skip_without_extra("extract")  # the run's test videos point at a rendered video file
    from cotal.features.outputs import PARTS
    from cotal.synth.videos import render_video_dataset
    from tests.toy_data import write_toy_dataset

    root = tmp_path_factory.mktemp("report")
    data = write_toy_dataset(root / "data", num_videos=18)
    # Both rounds always run: 3 training epochs leave the toy attention near chance and flat, which the guards
    # would stop on.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("cotal.pipeline.rounds.signals.attention_distinctiveness", lambda attention, distinct: 0.5)
        patch.setattr("cotal.pipeline.rounds.FLAT_SUPPORT", 1.01)
        fit(data, root / "run", load_config(None, TINY), progress=False)
    clips = render_video_dataset(
        root / "clips", num_videos=1, num_classes=1, seed=1, width=64, height=48, min_duration=2.0, max_duration=2.0
    )
    video = sorted((clips / "videos").glob("*.mp4"))[0]
    ann = read_json(data / "annotations.json")["database"]
    for vid, rec in ann.items():
        if rec["subset"] == "test":
            write_json(data / PARTS / f"{vid}.json", {"video_id": vid, "source": str(video)})
    metrics = read_json(root / "run" / "metrics.json")
    for k, r in enumerate(metrics["rounds"]):
        r["label_free_signal"] = 0.25 + k
    write_json(root / "run" / "metrics.json", metrics)
    return data, root / "run", video.parent


def test_report_plots_the_silhouette_of_every_c_with_the_run_s_c(run_with_videos, tmp_path):
    _, run, _ = run_with_videos
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    info = copy / "round_0" / "clustering.json"
    record = read_json(info)
    assert record["num_clusters"] == 3
    write_json(info, {**record, "auto_scores": {"2": 0.4, "3": 0.3, "4": 0.1}})  # C = 3 kept, 2 scores higher
    page = write_report_html(copy, videos=[], per_end=0, out=tmp_path / "r.html").read_text()
    assert "Number of clusters: C = 3" in page and 'alt="auto C"' in page


def test_report_has_every_section(run_with_videos, tmp_path):
    data, run, clips = run_with_videos
    test_ids = sorted(v for v, r in read_json(data / "annotations.json")["database"].items() if r["subset"] == "test")
    path = write_report_html(run, videos=[test_ids[-1]], per_end=1, out=tmp_path / "r.html", video_dir=clips)
    page = path.read_text()
    # Run context, wall time as a table (not a dict), and the label-free signal column of every round.
    for text in ("training videos", "clusters C", "epochs per model", "git commit", "command", "<td>training</td>"):
        assert text in page, text
    assert "{'" not in page
    assert "label_free_signal" in page and "<td class=n>1.25</td>" in page
    # What the run chose without labels: the centring with its statistic, the final round with its agreements.
    assert "Label-free choices" in page and "snippet variance constant within videos" in page
    assert "mean ARI with the others" in page and "(the next one: no model, never kept)" in page
    # Curves of all four models, per-class AP, the cluster-to-class matrix and every cluster's view.
    assert "Training curves" in page and "class_0" in page and "Cluster-to-class matrix" in page
    assert all(f"cluster {k}:" in page for k in range(3))
    assert "top detections: video" in page
    # The requested video first, then best and worst by AP; pictures from the video file.
    titles = re.findall(r"<h3>(video_\d+) \(([^;]+);", page)
    assert titles[0] == (test_ids[-1], "requested")
    assert any("best by AP" in why for _, why in titles) and any("worst by AP" in why for _, why in titles)
    assert 'class="thumbs"' in page
    # Offline: no external reference of any kind.
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "Content-Security-Policy" in page


def test_report_without_video_files_has_no_pictures(run_with_videos, tmp_path):
    import shutil

    data, run, clips = run_with_videos
    bare = tmp_path / "data"
    shutil.copytree(data, bare, ignore=shutil.ignore_patterns(".parts"))
    page = write_report_html(run, bare, per_end=1, out=tmp_path / "r.html", video_dir=clips).read_text()
    assert 'class="thumbs"' not in page and "Test videos" in page
    # Recorded video files give pictures only when asked for with their folder (--videos).
    page = write_report_html(run, per_end=1, out=tmp_path / "r2.html").read_text()
    assert 'class="thumbs"' not in page and "keyframes" not in page


def test_choose_videos_puts_requested_first_then_best_and_worst():
    scores = {"a": 0.9, "b": 0.1, "c": 0.5, "d": 0.7, "e": 0.0}
    got = choose_videos(list(scores), ["c"], scores, per_end=2)
    assert [v for v, _ in got] == ["c", "a", "d", "e", "b"]
    assert choose_videos(["x", "y", "z"], [], {}, per_end=1) == [("x", "first test videos"), ("y", "first test videos")]


def test_keyframes_come_at_the_asked_times(run_with_videos):
    data, _, _ = run_with_videos
    video = read_json(next((data / ".parts").glob("*.json")))["source"]
    frames = keyframes(Path(video), [0.1, 1.0, 5.0], size=24)
    assert [t for t, _ in frames] == [0.1, 1.0, 5.0]  # past the end: the last frame
    assert all(img.shape[0] == 24 and img.dtype.name == "uint8" for _, img in frames)


def test_timings_table_is_a_table():
    text = timings_table({"clustering": 1.0, "training": 3.0})
    assert text.splitlines()[2].split() == ["training", "3.0", "75%"]


def test_console_tables_load_without_matplotlib():
    """`cotal fit --no-report` prints its tables without drawing anything."""
    code = "import sys, cotal.report as r; r.print_summary({}); print('matplotlib' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "False"


def test_cli_report_and_its_errors(run_with_videos, tmp_path, capsys):
    data, run, clips = run_with_videos
    out = tmp_path / "r.html"
    assert main(["report", str(run), "--best-worst", "1", "--out", str(out), "--videos", str(clips)]) == 0
    assert 'class="thumbs"' in out.read_text() and "report:" in capsys.readouterr().out
    assert main(["report", str(run), "--video-ids", "no_such_video", "--out", str(out), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "no_such_video" in err and len(err.strip().splitlines()) == 1
    assert main(["report", str(tmp_path)]) == 2
    assert "final.json" in capsys.readouterr().err


def test_report_loads_in_a_browser_offline_and_without_errors(run_with_videos, tmp_path):
    from tests.browser import find_browser, render

    if find_browser() is None:
        pytest.skip("no Chromium installed (CI installs Debian's chromium in .ci/run)")
    _, run, clips = run_with_videos
    page = write_report_html(run, per_end=1, out=tmp_path / "report.html", video_dir=clips)
    shot = tmp_path / "report.png"
    result = render(page.resolve().as_uri(), screenshot=shot)
    assert result.errors == []
    assert [u for u in result.requests if not u.startswith("data:")] == [page.resolve().as_uri()]
    assert result.images >= 5 and result.broken_images == 0
    assert result.title.startswith("cotal report")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(json.dumps({"screenshot": str(shot)}))
