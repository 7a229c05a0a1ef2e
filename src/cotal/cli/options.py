"""Options that several commands share, so that they read the same everywhere."""

from __future__ import annotations

import argparse
import math
import sys

from cotal.data.config import STREAMS
from cotal.errors import ConfigError
from cotal.utils.seed import check_seed


def add_streams(p: argparse.ArgumentParser, help_default: str) -> None:
    """``--streams rgb flow`` or ``--streams rgb,flow`` (both accepted); read it with :func:`streams_value`."""
    p.add_argument(
        "--streams",
        nargs="+",
        metavar="STREAM",
        help=f"subset of rgb, flow: space- or comma-separated, e.g. 'rgb flow' or 'rgb,flow' ({help_default})",
    )


def streams_value(values: list[str] | None) -> tuple[str, ...] | None:
    """The streams named in ``--streams`` values, in the order given; None when the option was not used."""
    if values is None:
        return None
    names = [s.strip() for v in values for s in v.split(",") if s.strip()]
    bad = [s for s in names if s not in STREAMS]
    if bad or not names:
        raise ConfigError(f"--streams: expected rgb and/or flow, got {' '.join(values)!r}")
    return tuple(dict.fromkeys(names))


def add_quiet(p: argparse.ArgumentParser, *aliases: str) -> None:
    """``--quiet``: no progress bars and no log lines on the console."""
    p.add_argument("--quiet", *aliases, dest="quiet", action="store_true", help="no progress bars or log lines")


def progress_enabled(quiet: bool) -> bool:
    """Progress bars only on a terminal: redirected to a file, each redraw would be a line of it."""
    return not quiet and sys.stderr.isatty()


def seed_value(text: str) -> int:
    """``--seed``: an integer in ``[0, 2**32 - 1]`` (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    try:
        return check_seed(value, "the seed")
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_seed(p: argparse.ArgumentParser, help: str, default: int | None = 0) -> None:
    """``--seed N`` checked by :func:`seed_value`."""
    p.add_argument("--seed", type=seed_value, default=default, help=help)


def positive_number(text: str) -> float:
    """A finite number > 0 (argparse type: ``--fps``, ``--stride``, ``--window``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value
