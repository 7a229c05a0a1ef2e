"""Text that came from data, made safe to print: the one escaping rule and the one length cap.

Class labels, dataset and subset names are refused at load when they hold a character that could control a
terminal or forge a line (:func:`text_problem`). Whatever else reaches the console (file names, values quoted in
error messages) goes through :func:`escape`, and every error line is capped by :func:`cap`.
"""

from __future__ import annotations

import re
import reprlib

# Longest error line cotal prints; the rest is summarised (a hostile value must not flood the terminal).
MAX_MESSAGE = 1000
# Control characters (C0, DEL, C1), line and paragraph separators, lone surrogates (unprintable in UTF-8), and
# the bidirectional marks, overrides and isolates that reorder what follows them on screen.
_OTHERS = "\\x7f-\\x9f\\u2028\\u2029\\ud800-\\udfff\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
_UNSAFE_RE = re.compile(f"[\\x00-\\x1f{_OTHERS}]")
# On a console stream, the tab, line feed and carriage return of cotal's own output and progress bars pass.
_STREAM_RE = re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f{_OTHERS}]")

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 80
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 8
_short.maxlevel = 3


def text_problem(text: str) -> str | None:
    """Why ``text`` may not be printed as it is (naming the first unsafe character), or None."""
    found = _UNSAFE_RE.search(text)
    return None if found is None else f"contains the control character {_code(found.group())}"


def _code(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def escape(text: str) -> str:
    """``text`` with every unsafe character written as ``\\xNN`` / ``\\uNNNN``."""
    return _UNSAFE_RE.sub(lambda m: _code(m.group()), text)


def escape_stream(text: str) -> str:
    """:func:`escape` for a console stream: tab, line feed and carriage return are kept."""
    return _STREAM_RE.sub(lambda m: _code(m.group()), text)


def short_repr(value: object) -> str:
    """``repr(value)`` bounded in length and depth (a quoted value never floods a message)."""
    try:
        return escape(_short.repr(value))
    except ValueError:  # an integer with more digits than Python converts to text
        return f"<{type(value).__name__} too large to show>"


def cap(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
