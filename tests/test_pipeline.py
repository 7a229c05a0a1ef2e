"""End to end: `cotal fit` (unsupervised and weak), resume, `cotal detect` on unlabelled videos, config handling."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cotal.cli.main import main
from cotal.config import load_config, parse_overrides
from cotal.errors import ConfigError
from cotal.pipeline import fit
from cotal.utils.io import read_json, write_json
from cotal.utils.run import RUN_FORMAT
from tests.extras import needs_extra

TINY = {
    "pipeline": {"clusters": 3, "rounds": 2},
    "model": {"base_dim": 16, "dropout": 0.0},
    "train": {"epochs": 3, "batch_size": 6, "device": "cpu"},
}


def _tiny(**pipeline) -> dict:
    over = json.loads(json.dumps(TINY))
    over["pipeline"].update(pipeline)
    return over


@pytest.fixture(scope="module", autouse=True)
def toy_attention_counts_as_selective():
    """The toy models train for a few seconds and their S stays nearly uniform, which the flat-attention guard
    stops on; these tests are about what the rounds write, so the guard's bound is lifted for them
    (test_flat_attention_stops_the_rounds restores it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("cotal.pipeline.rounds.FLAT_SUPPORT", 1.01)
        yield


@pytest.fixture(scope="module")
def unsup_run(tmp_path_factory):
    from tests.toy_data import write_toy_dataset

    root = tmp_path_factory.mktemp("pipe")
    data = write_toy_dataset(root / "data", num_videos=18)
    run = root / "run"
    metrics = fit(data, run, load_config(None, _tiny()), progress=False)
    return data, run, metrics


def test_unsupervised_run_writes_every_artefact(unsup_run):
    data, run, metrics = unsup_run
    for name in (
        "config.yaml",
        "run.json",
        "log.txt",
        "clusters.json",
        "detections_test.json",
        "metrics.json",
        "final.json",
        "round_0/clusters.json",
        "round_1/clusters.json",
        "round_0/attention_train.npz",
        "round_1/model_rgb/model.pt",
        "round_1/model_flow/model.pt",
    ):
        assert (run / name).exists(), name
    assert [r["round"] for r in metrics["rounds"]] == [0, 1]
    assert set(metrics["detection"]) == {"soft", "hungarian"}
    # Detection labels are the final model's pseudo-classes, i.e. the ids in clusters.json.
    clusters = read_json(run / "clusters.json")
    assert clusters == read_json(run / f"round_{metrics['selected_round']}" / "clusters.json")
    labels = {d["label"] for dets in read_json(run / "detections_test.json")["results"].values() for d in dets}
    assert labels and labels <= {str(c) for c in set(clusters.values())}
    run_info = read_json(run / "run.json")
    assert run_info["seed"] == 0 and run_info["run_format"] == RUN_FORMAT and "torch" in run_info["versions"]
    assert set(metrics["timings_s"]) >= {"clustering", "training", "inference", "detection", "evaluation"}
    info = read_json(run / "round_0" / "clustering.json")
    assert info["num_clusters"] == 3 and len(info["confidence"]) == len(clusters) and len(info["eigenvalues"]) >= 3


def test_ground_truth_never_reaches_unsupervised_training(unsup_run, tmp_path):
    """Relabelling every video must not change clusters, models or detections (labels are report-only)."""
    data, run, _ = unsup_run
    data2 = tmp_path / "data"
    shutil.copytree(data, data2)
    ann = read_json(data2 / "annotations.json")
    for v in ann["database"].values():
        for a in v["annotations"]:
            a["label"] = "renamed_" + a["label"][::-1]
    write_json(data2 / "annotations.json", ann)
    fit(data2, tmp_path / "run", load_config(None, _tiny()), progress=False)
    assert read_json(tmp_path / "run" / "clusters.json") == read_json(run / "clusters.json")
    assert read_json(tmp_path / "run" / "detections_test.json") == read_json(run / "detections_test.json")


def test_rerun_resumes_without_recomputing(unsup_run):
    data, run, metrics = unsup_run
    before = (run / "round_1" / "model_rgb" / "model.pt").stat().st_mtime_ns
    again = fit(data, run, load_config(None, _tiny()), progress=False)
    assert (run / "round_1" / "model_rgb" / "model.pt").stat().st_mtime_ns == before
    assert again["rounds"] == metrics["rounds"]
    assert len(read_json(run / "run.json")["invocations"]) >= 2


def test_resume_refuses_a_different_config(unsup_run):
    data, run, _ = unsup_run
    with pytest.raises(ConfigError, match="different configuration"):
        fit(data, run, load_config(None, _tiny(rounds=3)), progress=False)


def test_rerun_with_new_detection_settings_only_redetects(unsup_run, tmp_path):
    data, run, metrics = unsup_run
    part = tmp_path / "run"
    shutil.copytree(run, part)
    before = (part / "round_1" / "model_rgb" / "model.pt").stat().st_mtime_ns
    over = _tiny()
    over["detect"] = {"activation": "cas_x_attention", "max_per_video": 3}
    again = fit(data, part, load_config(None, over), progress=False)
    assert (part / "round_1" / "model_rgb" / "model.pt").stat().st_mtime_ns == before
    assert again["rounds"] == metrics["rounds"]
    assert all(len(d) <= 3 for d in read_json(part / "detections_test.json")["results"].values())
    assert load_config(part / "config.yaml").detect.activation == "cas_x_attention"


def test_killed_run_resumes_to_the_same_result(unsup_run, tmp_path):
    """Delete the later stages of a finished run (as if killed after round 0): resuming reproduces them."""
    data, run, metrics = unsup_run
    part = tmp_path / "run"
    shutil.copytree(run, part)
    for p in ("round_1", "round_2", "final.json", "metrics.json", "clusters.json", "detections_test.json"):
        target = part / p
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    again = fit(data, part, load_config(None, _tiny()), progress=False)
    assert again["rounds"] == metrics["rounds"]
    assert read_json(part / "detections_test.json") == read_json(run / "detections_test.json")


def test_cli_detect_on_unlabelled_videos(unsup_run, tmp_path):
    data, run, _ = unsup_run
    new = tmp_path / "new"
    shutil.copytree(data, new)
    ann = read_json(new / "annotations.json")
    for v in ann["database"].values():
        v["annotations"] = []
        v["subset"] = "unseen"
    write_json(new / "annotations.json", ann)
    out = tmp_path / "dets.json"
    assert main(["detect", "--run", str(run), "--data", str(new), "--out", str(out)]) == 0
    results = read_json(out)["results"]
    assert set(results) == set(ann["database"])
    for vid, dets in results.items():
        dur = ann["database"][vid]["duration"]
        assert all(0 <= d["segment"][0] < d["segment"][1] <= dur + 1e-9 for d in dets)


def test_run_folder_name_with_braces(toy_dataset, tmp_path):
    """Run-folder paths are never format templates: ``a{b}`` is just a name."""
    run = tmp_path / "a{b}"
    metrics = fit(toy_dataset, run, load_config(None, _tiny(rounds=1)), progress=False)
    assert (run / "round_0" / "outputs_train_rgb.npz").exists() and (run / "round_0" / "outputs_test_flow.npz").exists()
    assert metrics["selected_round"] == 0 and "detection" in metrics


def test_cli_detect_rejects_a_folder_that_is_not_a_run(tmp_path, capsys, toy_dataset):
    assert main(["detect", "--run", str(tmp_path), "--data", str(toy_dataset), "--out", str(tmp_path / "d.json")]) == 2
    assert "final.json" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()


def test_weak_supervision_end_to_end(toy_dataset, tmp_path):
    over = _tiny(supervision="weak")
    over["train"]["epochs"] = 30  # standardised toy features (unit scale, not x3) need more updates than raw ones
    metrics = fit(toy_dataset, tmp_path / "run", load_config(None, over), progress=False)
    assert metrics["rounds"] == []
    res = metrics["detection"]["weak"]
    labels = {
        d["label"] for dets in read_json(tmp_path / "run" / "detections_test.json")["results"].values() for d in dets
    }
    assert labels <= {"class_0", "class_1", "class_2"}
    # The toy set is easy: a weakly supervised model must localise most actions at tIoU 0.1.
    assert res["map_per_tiou"][0] > 0.5


def test_cli_fit_flags(toy_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        [
            "fit",
            "--data",
            str(toy_dataset),
            "--out",
            str(run),
            "--clusters",
            "3",
            "--rounds",
            "1",
            "--steps",
            "2",
            "--quiet",
            "--streams",
            "flow",
            "--set",
            "model.base_dim=16",
            "model.fab=paper",
            "train.batch_size=6",
        ]
    )
    assert code == 0
    cfg = load_config(run / "config.yaml")
    assert cfg.pipeline.streams == ("flow",) and cfg.model.fab == "paper"
    assert cfg.train.epochs == 1  # 2 steps of 9 videos at batch 6 = 1 epoch
    assert (run / "round_0" / "model_flow" / "model.pt").exists() and not (run / "round_0" / "model_rgb").exists()
    out = capsys.readouterr().out
    assert "Clustering of the training videos" in out and "report:" in out
    assert "Training curves" in (run / "report.html").read_text()


def test_fit_rejects_a_missing_stream(toy_dataset, tmp_path):
    (toy_dataset / "flow").rename(toy_dataset / "flow_gone")
    with pytest.raises(ConfigError, match="flow"):
        fit(toy_dataset, tmp_path / "run", load_config(None, _tiny()), progress=False)


def test_config_presets_inheritance_and_errors(tmp_path):
    demo = load_config("demo")
    assert demo.pipeline.rounds == 2
    child = tmp_path / "child.yaml"
    child.write_text("_base_: demo\ntrain:\n  epochs: 7\n")
    cfg = load_config(child)
    assert cfg.train.epochs == 7 and cfg.train.batch_size == demo.train.batch_size
    assert load_config(None, parse_overrides(["pipeline.streams=[rgb]"])).pipeline.streams == ("rgb",)
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        load_config(None, {"train": {"epoch": 3}})
    with pytest.raises(ConfigError, match="train.lr"):
        load_config(None, {"train": {"lr": "fast"}})
    with pytest.raises(ConfigError, match="unknown preset|not found"):
        load_config("no_such_preset")
    loop = tmp_path / "loop.yaml"
    loop.write_text("_base_: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops"):
        load_config(loop)


def test_config_round_trips_through_yaml(tmp_path):
    import yaml

    cfg = load_config("thumos14")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    assert load_config(tmp_path / "c.yaml") == cfg
    assert np.isclose(cfg.pipeline.tiou_thresholds[-1], 0.7)


def test_geometric_attention_is_where_streams_agree():
    from cotal.cluster.weights import geometric_attention

    a = np.array([0.7, 0.1, 0.1, 0.1], dtype=np.float32)
    b = np.array([0.1, 0.1, 0.1, 0.7], dtype=np.float32)
    same = geometric_attention([a, a])
    np.testing.assert_allclose(same, a, rtol=1e-6)
    g = geometric_attention([a, b])
    assert np.isclose(g.sum(), 1.0) and g[0] == pytest.approx(g[3]) and g[0] > g[1]
    assert geometric_attention([a, np.array([1.0, 0, 0, 0])])[1:].max() < 1e-4


@pytest.mark.parametrize("pooling", ["geometric", "per_stream"])
def test_attention_pooling_runs(toy_dataset, tmp_path, pooling):
    from cotal.cluster.weights import SnippetWeights

    run = tmp_path / "run"
    metrics = fit(toy_dataset, run, load_config(None, _tiny(attention_pooling=pooling)), progress=False)
    assert len(metrics["rounds"]) == 2
    weights = SnippetWeights.load(run / "round_0" / "attention_train.npz").by_stream
    assert set(weights) == {"rgb", "flow"}
    assert all(np.isclose(w.sum(), 1.0, atol=1e-5) for table in weights.values() for w in table.values())
    same = all(np.array_equal(weights["rgb"][v], weights["flow"][v]) for v in weights["rgb"])
    assert same == (pooling == "geometric")  # one fused S for both streams, or each stream's own


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_auto_clusters_are_estimated_once(unsup_run, tmp_path):
    data, _, _ = unsup_run
    over = _tiny(clusters="auto")
    over["cluster"] = {"solver": "sparse"}
    metrics = fit(data, tmp_path / "run", load_config(None, over), progress=False)
    assert len({r["num_clusters"] for r in metrics["rounds"]}) == 1
    assert (tmp_path / "run" / "round_1" / "outputs_train_rgb.npz").exists()


def test_cli_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--videos", "16", "--classes", "2", "--dim", "16", "--quiet"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Clustering of the training videos" in text and "weakly supervised" in text
    for run in ("unsupervised", "weakly_supervised"):
        report = (out / run / "report.html").read_text()
        assert report.count("data:image/png;base64,") >= 2 and "mAP" in report


def test_zscore_run_stores_the_statistics_in_the_run_and_the_models(toy_dataset, tmp_path):
    """Features on a wild scale: the run standardises with training statistics and `detect` reuses them."""
    from cotal.data import FeatureDataset
    from cotal.data.normalize import load_normalization
    from cotal.model import load_model
    from cotal.pipeline import detect_run
    from cotal.utils.io import write_npy

    ds = FeatureDataset(toy_dataset)
    for v in ds.video_ids():
        for s in ds.streams:
            write_npy(toy_dataset / s / f"{v}.npy", np.asarray(ds.features(v, s)) * 1000 + 50)
    over = _tiny(rounds=1)
    over["data"] = {"normalize": "zscore"}
    run = tmp_path / "run"
    fit(toy_dataset, run, load_config(None, over), progress=False)
    norm = load_normalization(run / "normalization.npz")
    train = np.concatenate([np.asarray(FeatureDataset(toy_dataset).features(v, "rgb")) for v in ds.train_ids])
    assert norm.method == "zscore"
    np.testing.assert_allclose(norm.streams["rgb"].shift, train.mean(0), rtol=1e-4)
    model, _ = load_model(run / "round_0" / "model_rgb" / "model.pt")
    np.testing.assert_array_equal(model.input_shift.numpy(), norm.streams["rgb"].shift)
    again = detect_run(run, toy_dataset, subset="test")
    assert again == read_json(run / "detections_test.json")["results"]


def test_round_signals_and_consensus_selection(unsup_run, tmp_path, monkeypatch):
    from sklearn.metrics import adjusted_rand_score

    from cotal.pipeline import rounds

    data, _, _ = unsup_run
    monkeypatch.setattr(rounds.signals, "attention_distinctiveness", lambda att, d: 0.5)  # every round kept
    run = tmp_path / "run"
    metrics = fit(data, run, load_config(None, _tiny(rounds=3)), progress=False)
    rows = metrics["rounds"]
    signals = {"silhouette", "attention_distinctiveness", "inverted", "attention_support", "flat"}
    assert [r["round"] for r in rows] == [0, 1, 2] and all(signals <= set(r) for r in rows)
    # The candidates: the three rounds' clusterings and the one round 2's S gives next (written, never trained on).
    assert (run / "round_3" / "clusters.json").exists() and not (run / "round_3" / "model_rgb").exists()
    labels = [read_json(run / f"round_{r}" / "clusters.json") for r in range(4)]
    ids = sorted(labels[0])
    vectors = [[lab[v] for v in ids] for lab in labels]
    mean_ari = [np.mean([adjusted_rand_score(vectors[i], vectors[j]) for j in range(4) if j != i]) for i in range(4)]
    agreement = metrics["selection"]["agreement"]
    assert metrics["selection"]["rule"] == "consensus" and set(agreement) == {"0", "1", "2", "3"}
    np.testing.assert_allclose([agreement[str(i)] for i in range(4)], mean_ari, atol=1e-9)
    best = max(range(4), key=lambda i: (mean_ari[i], i))
    sel = metrics["selected_round"]
    assert sel == min(best, 2)  # the next clustering has no model: it stands for the last round
    assert read_json(run / "clusters.json") == read_json(run / f"round_{sel}" / "clusters.json")
    assert read_json(run / "final.json")["models"]["rgb"] == f"round_{sel}/model_rgb/model.pt"
    assert (run / "round0_weights.npz").exists()
    last = fit(data, tmp_path / "last", load_config(None, _tiny(rounds=3, select_round="last")), progress=False)
    assert last["selected_round"] == 2 and not (tmp_path / "last" / "round_3").exists()


def test_inverted_attention_stops_the_rounds(unsup_run, tmp_path, monkeypatch):
    """A model whose S favours the shared background ends the rounds; its S never pools a clustering."""
    from cotal.pipeline import rounds

    data, _, _ = unsup_run
    monkeypatch.setattr(rounds.signals, "attention_distinctiveness", lambda att, d: -0.5)
    run = tmp_path / "run"
    metrics = fit(data, run, load_config(None, _tiny(rounds=3)), progress=False)
    assert len(metrics["rounds"]) == 1 and metrics["rounds"][0]["inverted"]
    assert metrics["selected_round"] == 0 and not (run / "round_1").exists()
    assert "favours the shared background (inverted)" in (run / "log.txt").read_text()


def test_flat_attention_stops_the_rounds(unsup_run, tmp_path, monkeypatch):
    """S spread over most of every video pools like the mean: the rounds end and round 0 is kept."""
    from cotal.pipeline import rounds
    from cotal.pipeline.selection import FLAT_SUPPORT

    data, _, _ = unsup_run
    monkeypatch.setattr(rounds, "FLAT_SUPPORT", FLAT_SUPPORT)
    monkeypatch.setattr(rounds.signals, "attention_support", lambda attention: 0.9)
    run = tmp_path / "run"
    metrics = fit(data, run, load_config(None, _tiny(rounds=3)), progress=False)
    assert len(metrics["rounds"]) == 1 and metrics["rounds"][0]["flat"] and not metrics["rounds"][0]["inverted"]
    assert metrics["selected_round"] == 0 and not (run / "round_1").exists()
    assert "is flat (it pools like the mean)" in (run / "log.txt").read_text()


def test_weak_supervision_leaves_out_unlabelled_training_videos(toy_dataset, tmp_path):
    from cotal.data import FeatureDataset

    ann = read_json(toy_dataset / "annotations.json")
    unlabelled = FeatureDataset(toy_dataset).train_ids[0]
    ann["database"][unlabelled]["annotations"] = []
    write_json(toy_dataset / "annotations.json", ann)
    run = tmp_path / "run"
    fit(toy_dataset, run, load_config(None, _tiny(supervision="weak")), progress=False)
    log = (run / "log.txt").read_text()
    n = len(FeatureDataset(toy_dataset).train_ids)
    assert "1 training videos have no labels" in log and f"training rgb model on {n - 1} videos" in log


def test_a_run_of_another_run_format_is_refused_not_migrated(unsup_run, tmp_path):
    from cotal.errors import DataError
    from cotal.pipeline import detect_run

    data, run, _ = unsup_run
    old = tmp_path / "old"
    shutil.copytree(run, old)
    info = read_json(old / "run.json")
    info.pop("run_format")  # as every cotal before run formats were recorded wrote it
    write_json(old / "run.json", info)
    with pytest.raises(DataError, match="written by another cotal .*run format 1; this cotal reads format"):
        fit(data, old, load_config(None, _tiny()), progress=False)
    with pytest.raises(DataError, match="run format 1"):
        detect_run(old, data, subset="test")


def test_stages_run_alone_on_a_new_pipeline(toy_dataset, tmp_path):
    """Each public stage computes what it needs on first use: no hidden order of calls."""
    from cotal.data import FeatureDataset
    from cotal.pipeline import Pipeline

    ds = FeatureDataset(toy_dataset)
    config = load_config(None, _tiny(clusters="auto"))
    first = Pipeline(ds, config, tmp_path / "run").cluster(0)
    assert first.labels.shape == (len(ds.train_ids),) and first.n_clusters >= 2
    fresh = Pipeline(ds, config, tmp_path / "run")  # reads round 0 back; C comes from it
    assert fresh.num_clusters() == first.n_clusters
    np.testing.assert_array_equal(fresh.cluster(0).labels, first.labels)
    assert Pipeline(ds, config, tmp_path / "other").normalization.streams
