"""Export a finished run's models to ONNX and check them against PyTorch with onnxruntime.

Each model of the run's final round becomes ``DIR/<model>.onnx`` with inputs ``features`` (B,T,D) float32 and
``mask`` (B,T) bool (True = valid snippet) and outputs ``cas`` (B,T,C), ``attention`` (B,T) and ``logits`` (B,C),
batch and time dynamic. ``DIR/manifest.json`` names each model's input stream, D, the label names of the C
outputs and the largest PyTorch/onnxruntime difference measured at export.

The model's 'same' convolutions shift their taps by fixed offsets, which tracing writes into the graph; a video
shorter than the largest offset would then be sliced wrongly. The exported graph therefore appends ``PAD_STEPS``
masked zero snippets to every input and crops them from the outputs: masked steps change nothing (the convolutions
read zeros beyond the end either way, attention ignores them), so outputs equal PyTorch's for any length >= 1.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cotal.data.ids import id_problem
from cotal.errors import CotalError, DataError
from cotal.model.coattention import CoAttentionModel
from cotal.utils.deps import require
from cotal.utils.io import atomic_write, read_json, write_json
from cotal.utils.outdir import check_target, path_inside, staged_folder
from cotal.utils.run import RunLayout, check_run_format
from cotal.utils.text import short_repr

TOLERANCE = 1e-4
OPSET = 17


class _Exportable(nn.Module):
    """(features, mask) -> (cas, attention, logits), with the masked padding described in the module docstring."""

    def __init__(self, model: CoAttentionModel, pad_steps: int) -> None:
        super().__init__()
        self.model = model
        self.pad_steps = pad_steps

    def forward(self, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        steps = features.shape[1]
        x = torch.cat([features, features.new_zeros(features.shape[0], self.pad_steps, features.shape[2])], dim=1)
        m = torch.cat([mask, mask.new_zeros(mask.shape[0], self.pad_steps)], dim=1)
        out = self.model(x, m)
        return out.cas[:, :steps], out.attention[:, :steps], out.logits


def max_shift(model: CoAttentionModel) -> int:
    """Largest time offset any convolution of ``model`` reads (dilation * half the kernel)."""
    return max(
        (m.dilation[0] * (m.kernel_size[0] - 1) // 2 for m in model.modules() if isinstance(m, nn.Conv1d)),
        default=0,
    )


def export_model(model: CoAttentionModel, path: str | os.PathLike) -> None:
    """Write ``model`` (eval mode) as ONNX to ``path`` atomically."""
    _require_onnx()
    model = model.eval()
    wrapper = _Exportable(model, pad_steps=max_shift(model) + 1).eval()
    x = torch.zeros(2, 8, model.in_dim)
    mask = torch.ones(2, 8, dtype=torch.bool)
    dynamic = {0: "batch", 1: "time"}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shapes turned into constants: handled by the padding
        torch.onnx.export(
            wrapper,
            (x, mask),
            buf,
            input_names=["features", "mask"],
            output_names=["cas", "attention", "logits"],
            dynamic_axes={
                "features": dynamic,
                "mask": dynamic,
                "cas": dynamic,
                "attention": dynamic,
                "logits": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))


def check_export(
    model: CoAttentionModel, path: str | os.PathLike, lengths: tuple[int, ...] = (1, 5, 37, 160), seed: int = 0
) -> float:
    """Largest |PyTorch - onnxruntime| over all outputs on a padded batch of videos of ``lengths`` snippets."""
    _require_onnx()
    import onnxruntime as ort

    gen = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    x = torch.randn(len(lengths), steps, model.in_dim, generator=gen)
    mask = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    x = x * mask[..., None]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    # The whole padded batch, and each video alone at its own length (variable T across calls).
    cases = [(x, mask)] + [(x[i : i + 1, :n], mask[i : i + 1, :n]) for i, n in enumerate(lengths)]
    model = model.eval()
    for xb, mb in cases:
        with torch.no_grad():
            out = model(xb, mb)
        ref = (out.cas, out.attention, out.logits)
        got = session.run(None, {"features": xb.numpy(), "mask": mb.numpy()})
        for r, g in zip(ref, got, strict=True):
            worst = max(worst, float(np.abs(r.numpy() - g).max()))
    return worst


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, overwrite: bool = False) -> dict[str, Any]:
    """Export every model of a finished run to ``out_dir`` and check each; returns (and writes) the manifest.

    ``out_dir`` is built beside its place and renamed onto it when complete; it must be absent or empty, or with
    ``overwrite`` an export folder cotal made (:func:`cotal.utils.outdir.check_target`), and may not overlap the run.

    Raises:
        DataError: not a finished run.
        ConfigError: onnx/onnxruntime missing, or ``out_dir`` may not be written.
        CotalError: an exported model differs from PyTorch by more than :data:`TOLERANCE`.
    """
    from cotal.model import load_model

    _require_onnx()
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    final_path = RunLayout(run_dir).final
    if not final_path.is_file():
        raise DataError(f"{run_dir}: no {final_path.name}; is this a finished `cotal fit` run directory?")
    check_run_format(run_dir)
    final = read_json(final_path)
    if (
        not isinstance(final, dict)
        or not isinstance(final.get("models"), dict)
        or not isinstance(final.get("class_names"), list)
        or not isinstance(final.get("supervision"), str)
    ):
        raise DataError(f"{final_path}: malformed; expected an object with 'models', 'class_names' and 'supervision'")
    check_target(out_dir, "export", inputs=[run_dir], overwrite=overwrite)
    manifest: dict[str, Any] = {
        "run": str(run_dir.resolve()),
        "supervision": final["supervision"],
        "labels": list(final["class_names"]),
        "inputs": {"features": "(B, T, D) float32", "mask": "(B, T) bool, True = valid snippet"},
        "outputs": {"cas": "(B, T, C)", "attention": "(B, T)", "logits": "(B, C)"},
        "opset": OPSET,
        "models": {},
    }
    with staged_folder(out_dir, "export") as tmp:
        for name, rel in final["models"].items():
            why = id_problem(name)  # a model name becomes a file name, under the same rules as a video id
            if why is not None:
                raise DataError(f"{final_path}: model name {short_repr(name)} {why}")
            model, stream = load_model(path_inside(run_dir, rel, final_path))
            path = tmp / f"{name}.onnx"
            export_model(model, path)
            diff = check_export(model, path)
            if not diff <= TOLERANCE:
                raise CotalError(
                    f"{out_dir / path.name}: ONNX outputs differ from PyTorch by {diff:.2e} > {TOLERANCE:g}"
                )
            manifest["models"][name] = {
                "file": path.name,
                "stream": stream,
                "in_dim": model.in_dim,
                "num_classes": model.num_classes,
                "max_abs_diff": diff,
            }
        write_json(tmp / "manifest.json", manifest)
    return manifest


def _require_onnx() -> None:
    for module in ("onnx", "onnxruntime"):
        require(module, "ONNX export")
