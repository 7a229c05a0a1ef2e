"""Entry point of the ``cotal`` command.

Each subcommand lives in ``cotal/cli/<name>.py`` and defines ``register(subparsers)``, which adds its
parser and sets ``func`` (``args -> exit code``). Errors that come from input (:class:`CotalError`)
print one line and exit 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cotal import __version__
from cotal.errors import CotalError

# Order shown by `cotal --help`: the pipeline from raw videos to numbers.
COMMANDS = ("demo", "extract", "synth", "data", "cluster", "fit", "detect", "eval", "report", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cotal",
        description="Unsupervised temporal action localization with temporal co-attention models.",
    )
    parser.add_argument("--version", action="version", version=f"cotal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cotal.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except CotalError as e:
        print(f"cotal {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cotal {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
