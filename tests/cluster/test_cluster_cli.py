"""``cotal cluster`` round trip on the toy dataset."""

from __future__ import annotations

import json

import numpy as np

from cotal.cli.main import main
from cotal.data.attention import save_attention
from cotal.data.dataset import FeatureDataset
from tests.extras import needs_extra
from tests.toy_data import write_toy_dataset


def test_cluster_cli_round_trip(tmp_path, capsys) -> None:
    root = write_toy_dataset(tmp_path / "toy", num_videos=30)
    out = tmp_path / "out" / "clusters.json"
    assert main(["cluster", "--data", str(root), "--clusters", "3", "--out", str(out)]) == 0
    ds = FeatureDataset(root)
    assignments = json.loads(out.read_text())
    assert sorted(assignments) == ds.train_ids  # the train subset by default, every video once
    assert set(assignments.values()) == {0, 1, 2}
    # The toy classes are easy: each cluster holds exactly one class.
    by_cluster: dict[int, set[str]] = {}
    for vid, c in assignments.items():
        by_cluster.setdefault(c, set()).add(ds.annotation(vid).labels[0])
    assert all(len(classes) == 1 for classes in by_cluster.values())
    printed = capsys.readouterr().out
    assert "C=3" in printed and "purity 1.000" in printed and "ARI 1.000" in printed
    assert not list(out.parent.glob(".*.tmp"))  # written atomically


@needs_extra("scale")  # the exact k-NN graph of the sparse solver is faiss's
def test_cluster_cli_attention_subset_auto_and_errors(tmp_path, capsys) -> None:
    root = write_toy_dataset(tmp_path / "toy", num_videos=30)
    ds = FeatureDataset(root)
    ids = ds.test_ids
    att = {"all": {v: np.ones(ds.num_snippets(v)) for v in ids}}
    save_attention(tmp_path / "att.npz", att)
    out = tmp_path / "test.json"
    args = ["cluster", "--data", str(root), "--subset", "test", "--attention", str(tmp_path / "att.npz")]
    assert main([*args, "--clusters", "auto", "--auto-range", "2", "5", "--solver", "sparse", "--out", str(out)]) == 0
    assert sorted(json.loads(out.read_text())) == ids
    assert "sparse solver" in capsys.readouterr().out

    att["all"][ids[0]] = np.ones(ds.num_snippets(ids[0]) + 2)
    save_attention(tmp_path / "att.npz", att)
    assert main([*args, "--clusters", "2", "--out", str(tmp_path / "bad.json")]) == 2
    assert ids[0] in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()
    assert main(["cluster", "--data", str(root), "--clusters", "99", "--out", str(tmp_path / "x.json")]) == 2
    assert "must be smaller than the number of videos" in capsys.readouterr().err
