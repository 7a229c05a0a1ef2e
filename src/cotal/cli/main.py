"""Entry point of the ``cotal`` command.

Each subcommand lives in ``cotal/cli/<name>.py`` and defines ``register(subparsers)``, which adds its
parser and sets ``func`` (``args -> exit code``). A command module imports PyTorch, SciPy and scikit-learn
inside ``func``, never at the top, so that building the parser (``cotal --help``) stays fast. No traceback
reaches a user: every failure prints ONE line ``cotal CMD: ...`` on stderr and exits non-zero (see
docs/reliability.md):

====  ==========================================================================================
2     bad input (:class:`CotalError`) or an operating-system error (file, folder, disk, permission)
3     an internal error (a bug): the traceback is written to a file named in the line (``--debug`` shows it)
130   interrupted (Ctrl-C); 143: terminated (SIGTERM); 141: the output pipe was closed
====  ==========================================================================================

SIGTERM is turned into an exception, so staged folders and temporary files are removed on the way out
exactly as for Ctrl-C. While a command runs, whatever it prints passes :func:`cotal.utils.text.escape_stream` (no
text from data can drive the terminal), and a warning is one line ``cotal CMD: warning: ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, TextIO

from cotal import __version__
from cotal.errors import CotalError
from cotal.utils.runtime import prefer_passive_openmp
from cotal.utils.text import MAX_MESSAGE, cap, escape, escape_stream

# Order shown by `cotal --help`: the pipeline from raw videos to numbers.
COMMANDS = ("demo", "extract", "synth", "data", "cluster", "fit", "detect", "eval", "report", "export")
EXIT_INPUT, EXIT_INTERNAL, EXIT_PIPE, EXIT_INTERRUPT, EXIT_TERM = 2, 3, 141, 130, 143


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so cleanup handlers run as for Ctrl-C."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line too (the usage itself is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"{self.prog}: error: {_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cotal",
        description="Unsupervised temporal action localization with temporal co-attention models.",
    )
    parser.add_argument("--version", action="version", version=f"cotal {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an internal error (also COTAL_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"cotal.cli.{name}").register(sub)
    return parser


def describe_os_error(e: OSError) -> str:
    """``<file>: <what>`` for an operating-system error (read-only folder, full disk, not a folder, ...)."""
    where = [str(f) for f in (e.filename, e.filename2) if f is not None]
    what = e.strerror or str(e) or type(e).__name__
    return f"{' -> '.join(where)}: {what}" if where else what


def _write_crash_report(command: str, exc: BaseException) -> str | None:
    """Write the traceback to a file in the temporary folder; returns its path (None if that fails too)."""
    text = f"cotal {__version__} {command}: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\nargv: {sys.argv}\n\n"
    text += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        fd, path = tempfile.mkstemp(prefix=f"cotal-{command}-traceback-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    except OSError:
        return None
    return path


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (main thread only; restored afterwards)."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _EscapingStream:
    """A console stream whose text passes :func:`escape_stream`; everything else is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape_stream(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _console(prefix: str) -> Iterator[None]:
    """Within the block stdout and stderr escape control characters and warnings are one line each."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        print(f"{prefix}: warning: {_line(str(message))}", file=sys.stderr)

    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _EscapingStream(sys.stdout), _EscapingStream(sys.stderr)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        sys.stdout, sys.stderr = streams


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    prefer_passive_openmp()  # before any command module loads torch
    try:
        parser = build_parser()  # light: each command imports its heavy modules when it runs
    except KeyboardInterrupt:
        print("cotal: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    prefix = f"cotal {args.command}"
    debug = args.debug or os.environ.get("COTAL_DEBUG") == "1"
    try:
        with _sigterm_raises(), _console(prefix):
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # a closed pipe surfaces here, inside the handlers, not at interpreter exit
            return code
    except CotalError as e:
        print(f"{prefix}: error: {_line(str(e))}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted; nothing half-written was left behind", file=sys.stderr)
        return EXIT_INTERRUPT
    except Terminated:
        print(f"{prefix}: terminated (SIGTERM); nothing half-written was left behind", file=sys.stderr)
        return EXIT_TERM
    except BrokenPipeError:
        _silence_stdout()
        print(f"{prefix}: output pipe closed before all output was written", file=sys.stderr)
        return EXIT_PIPE
    except OSError as e:
        print(f"{prefix}: error: {_line(describe_os_error(e))}", file=sys.stderr)
        return EXIT_INPUT
    except MemoryError:
        print(f"{prefix}: error: out of memory (input or setting too large for this machine?)", file=sys.stderr)
        return EXIT_INPUT
    except RuntimeError as e:
        if not _is_allocation_failure(e):
            return _internal_error(prefix, args.command, e, debug)
        print(f"{prefix}: error: out of memory ({_line(str(e), 200)})", file=sys.stderr)
        return EXIT_INPUT
    except Exception as e:
        return _internal_error(prefix, args.command, e, debug)


def _is_allocation_failure(e: RuntimeError) -> bool:
    """PyTorch reports a failed allocation (absurd sizes) as a RuntimeError, not MemoryError."""
    text = str(e)
    return "can't allocate memory" in text or "out of memory" in text.lower()


def _internal_error(prefix: str, command: str, e: Exception, debug: bool) -> int:
    """A bug: one line for the user, the traceback in a file (or on stderr with ``--debug``)."""
    if debug:
        traceback.print_exception(type(e), e, e.__traceback__)
    report = None if debug else _write_crash_report(command, e)
    where = f"; traceback in {report}" if report else ("" if debug else "; rerun with --debug to see it")
    print(
        f"{prefix}: internal error ({type(e).__name__}: {_line(str(e), 300)}){where}; please report it",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def _line(text: str, limit: int = MAX_MESSAGE) -> str:
    """A message as one line (even when an underlying library's text is not), escaped and capped."""
    return cap(escape(" ".join(text.split()) if "\n" in text else text), limit)


if __name__ == "__main__":
    sys.exit(main())
