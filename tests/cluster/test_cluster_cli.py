"""``cotal cluster`` round trip on the toy dataset."""

from __future__ import annotations

import json

import numpy as np

from cotal.cli.main import main
from cotal.cluster.weights import SnippetWeights
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
    att = {v: np.ones(ds.num_snippets(v)) for v in ids}
    SnippetWeights.shared(att, ds.streams).save(tmp_path / "att.npz")
    out = tmp_path / "test.json"
    args = ["cluster", "--data", str(root), "--subset", "test", "--attention", str(tmp_path / "att.npz")]
    assert main([*args, "--clusters", "auto", "--set", "cluster.solver=sparse", "--out", str(out)]) == 0
    assert sorted(json.loads(out.read_text())) == ids
    assert "sparse solver" in capsys.readouterr().out

    att[ids[0]] = np.ones(ds.num_snippets(ids[0]) + 2)
    SnippetWeights.shared(att, ds.streams).save(tmp_path / "att.npz")
    assert main([*args, "--clusters", "2", "--out", str(tmp_path / "bad.json")]) == 2
    assert ids[0] in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()
    assert main(["cluster", "--data", str(root), "--clusters", "99", "--out", str(tmp_path / "x.json")]) == 2
    assert "must be smaller than the number of videos" in capsys.readouterr().err


def test_cluster_cli_reproduces_round_0_of_fit(tmp_path, capsys) -> None:
    """One function, one config: `cotal cluster` with fit's settings gives fit's round-0 clustering."""
    from cotal.config import load_config
    from cotal.pipeline import fit

    root = write_toy_dataset(tmp_path / "toy", num_videos=30)
    config = load_config("demo", {"pipeline": {"clusters": 3, "rounds": 1, "seed": 3}, "cluster": {"center": True}})
    config.train.epochs = 1
    fit(root, tmp_path / "run", config, progress=False)
    run_info = json.loads((tmp_path / "run" / "round_0" / "clustering.json").read_text())
    capsys.readouterr()
    out = tmp_path / "clusters.json"
    cluster = ["cluster", "--data", str(root), "--clusters", "3", "--config", "demo", "--out", str(out), "--set"]
    assert main([*cluster, "cluster.center=true", "pipeline.seed=3"]) == 0
    assert json.loads(out.read_text()) == json.loads((tmp_path / "run" / "round_0" / "clusters.json").read_text())
    # The same descriptors: the affinity's sigma (from every pairwise distance) is the run's.
    assert f"sigma={run_info['sigma']:.4f}" in capsys.readouterr().out
    assert main(["cluster", "--overwrite", *cluster[1:], "pipeline.seed=3"]) == 0  # no centring: other descriptors
    assert f"sigma={run_info['sigma']:.4f}" not in capsys.readouterr().out
