"""The report's HTML vocabulary: escaping, number formatting, tables, embedded images, and the page file."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cotal.utils.io import atomic_open

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em} h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0 1em} td,th{border:1px solid #ddd;padding:.2em .55em;font-size:.88em}
th{background:#f3f3f3;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f5f5f5;padding:0 .25em} img{max-width:100%} .muted{color:#777}
.tw{overflow-x:auto} .thumbs img{height:64px;margin-right:4px;border:1px solid #ccc} .cluster{margin-bottom:1.2em}
"""
# No network, no scripts: everything the page shows is inline.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def esc(x: Any) -> str:
    """``str(x)`` escaped for HTML text and attribute values."""
    return html.escape(str(x))


def fmt(v: Any) -> str:
    """Floats with at most 3 decimals and no trailing zeros (0.7, 0.247, 125.8)."""
    if isinstance(v, (float, np.floating)):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


def cell(value: Any) -> Any:
    """A table cell's value: booleans as yes/no, anything else as it is."""
    return ("yes" if value else "no") if isinstance(value, bool) else value


def table(header: Sequence[str] | None, rows: Sequence[Sequence[Any]], shade: np.ndarray | None = None) -> str:
    """An HTML table (no header row when ``header`` is None); numbers right-aligned; ``shade`` (rows x columns-1,
    in [0, 1]) tints the value cells."""
    out = ["<table>" + ("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if header else "")]
    for i, row in enumerate(rows):
        cells = []
        for j, v in enumerate(row):
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            style = ""
            if shade is not None and j > 0 and shade[i, j - 1] > 0:
                style = f' style="background:rgba(31,119,180,{0.75 * float(shade[i, j - 1]):.2f})"'
            cells.append(f"<td{' class=n' if num else ''}{style}>{esc(fmt(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return '<div class="tw">' + "".join(out) + "</table></div>"


def img(png_b64: str, alt: str) -> str:
    """An ``<img>`` showing base64 PNG data inline."""
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{png_b64}">'


def write_page(path: Path, title: str, parts: Sequence[str]) -> None:
    """One self-contained HTML file (a CSP forbids every request), written atomically."""
    with atomic_open(path, "w") as fh:
        fh.write(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n"
        )
        fh.write("\n".join(parts))
        fh.write("\n</body></html>\n")
