"""Options that several commands share, so that they read the same everywhere."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable

from cotal.data.config import STREAMS
from cotal.errors import ConfigError
from cotal.utils.seed import check_seed
from cotal.utils.text import short_repr


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


def add_videos(p: argparse.ArgumentParser, what: str) -> None:
    """``--videos DIR``: the folder whose video files may give the report's pictures (none without it)."""
    p.add_argument(
        "--videos",
        metavar="DIR",
        type=existing_folder,
        help=f"folder of the video files `cotal extract` read: {what} come only from files inside it (none without it)",
    )


def existing_folder(text: str) -> str:
    """An existing folder (argparse type)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"not a folder: {short_repr(text)}")
    return text


def positive_number(text: str) -> float:
    """A finite number > 0 (argparse type: ``--fps``, ``--stride``, ``--window``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {short_repr(text)}")
    return value


# Upper bounds of the counts a command line may ask for: far beyond any real use, refused before anything runs
# (``--epochs 10**23`` would otherwise be accepted and never end).
MAX_EPOCHS = 1_000_000
MAX_STEPS = 1_000_000_000
MAX_ROUNDS = 1_000
MAX_CLUSTERS = 100_000
MAX_FEATURE_DIM = 1 << 20


def int_in(low: int, high: int, *, auto: bool = False) -> Callable[[str], int | str]:
    """An argparse type: an integer in ``[low, high]`` (or the word ``auto`` when ``auto``)."""

    def parse(text: str) -> int | str:
        if auto and text == "auto":
            return text
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            either = "'auto' or " if auto else ""
            raise argparse.ArgumentTypeError(f"must be {either}an integer from {low} to {high}, got {short_repr(text)}")
        return value

    return parse
