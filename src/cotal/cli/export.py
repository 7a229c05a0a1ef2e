"""``cotal export``: a finished run's models as ONNX files, each checked against PyTorch with onnxruntime."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from cotal.train.onnx_export import TOLERANCE, export_run

    manifest = export_run(args.run, args.onnx, overwrite=args.overwrite)
    for name, rec in manifest["models"].items():
        print(
            f"{name}: {args.onnx}/{rec['file']} (stream {rec['stream']}, D={rec['in_dim']}, "
            f"C={rec['num_classes']}); max |PyTorch - onnxruntime| = {rec['max_abs_diff']:.1e} <= {TOLERANCE:g}"
        )
    print(f"manifest: {args.onnx}/manifest.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a run's models to ONNX", description=__doc__)
    p.add_argument("run", help="run directory written by `cotal fit`")
    p.add_argument("--onnx", required=True, metavar="DIR", help="output folder for <model>.onnx and manifest.json")
    p.add_argument("--overwrite", action="store_true", help="replace an export folder cotal made in DIR")
    p.set_defaults(func=run)
