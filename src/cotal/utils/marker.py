"""The marker of a folder cotal made, and the rule for what ``--overwrite`` may delete.

``FOLDER/.cotal.json`` records the kind of folder (``run``, ``dataset``, ``demo`` or ``export``), the inode
number of the folder it was written in, and for folders written all at once (datasets, exports) every path
cotal put there (``made``). A marker counts only where cotal wrote it: a copied marker records another
folder's inode, a symbolic link is not a plain file, and an unreadable or malformed one is no marker.

A folder may be deleted only when its marker counts and every entry in it is one cotal made: listed in
``made``, a file of the run layout (:meth:`cotal.utils.run.RunLayout.owns`), a part of a demo folder (itself
checked as what it is), or a temporary file of a process that no longer runs.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cotal.errors import DataError
from cotal.utils.io import read_json, write_json
from cotal.utils.run import RunLayout

MARKER = ".cotal.json"
LOCK = ".cotal.lock"
KINDS = ("run", "dataset", "demo", "export")
# What a demo folder holds: the options file and, by name, the folders of the kind each must be.
DEMO_OPTIONS = "demo.json"
DEMO_PARTS = {"data": "dataset", "unsupervised": "run", "weakly_supervised": "run"}
# Staging folders and temporary files: ``.<name>.<pid>.<random>.tmp`` (or ``.old`` for a folder moved aside).
STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.(?:tmp|old)$")


def alive(pid: int) -> bool:
    """Whether a process ``pid`` runs (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # not a pid at all
        return False
    return True


def stale_temporary(name: str) -> bool:
    """Whether ``name`` is a staging folder or temporary file of a process that no longer runs."""
    m = STAGING.match(name)
    return m is not None and not alive(int(m["pid"]))


def read_marker(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The marker of ``folder`` if cotal wrote it there (see the module docstring), else None."""
    folder = Path(folder)
    try:
        info, here = os.lstat(folder / MARKER), os.stat(folder)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    try:
        record = read_json(folder / MARKER)
    except DataError:
        return None
    if not isinstance(record, dict) or record.get("kind") not in KINDS or record.get("folder") != here.st_ino:
        return None
    made = record.get("made")
    if made is not None and not (isinstance(made, list) and all(isinstance(m, str) for m in made)):
        return None
    return record


def marker_kind(folder: str | os.PathLike) -> str | None:
    """The kind recorded in the marker of ``folder`` when it counts (None when absent, copied or malformed)."""
    record = read_marker(folder)
    return None if record is None else record["kind"]


def write_marker(folder: str | os.PathLike, kind: str, made: Iterable[str] | None = None) -> None:
    """Mark ``folder`` (created) as a cotal folder of ``kind``; ``made`` lists every path cotal put in it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"kind": kind, "folder": os.stat(folder).st_ino}
    if made is not None:
        record["made"] = sorted(made)
    write_json(folder / MARKER, record)


def entries(folder: str | os.PathLike, prefix: str = "") -> Iterator[str]:
    """Relative paths (``a/b``) of everything under ``folder``; symbolic links are listed, never followed."""
    with os.scandir(folder) as it:
        found = sorted(it, key=lambda e: e.name)
    for entry in found:
        yield prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from entries(entry.path, f"{prefix}{entry.name}/")


def is_unmarked_run(folder: Path) -> bool:
    """A run folder whose marker does not count (copied, or restored from a backup): config.yaml plus a run.json
    that cotal wrote. Enough to resume it, never to delete it."""
    layout = RunLayout(folder)
    if not layout.config.is_file() or not layout.run_info.is_file():
        return False
    try:
        run = read_json(layout.run_info)
    except DataError:
        return False
    versions = run.get("versions") if isinstance(run, dict) else None
    return isinstance(versions, dict) and "cotal" in versions and isinstance(run.get("invocations"), list)


def is_kind(folder: Path, kind: str) -> bool:
    """Whether cotal may continue writing ``folder`` as a ``kind`` folder: its marker counts, or it holds what a
    run or a demo folder holds (a copied or restored one; deleting it still needs the marker)."""
    if marker_kind(folder) == kind:
        return True
    if kind == "run":
        return is_unmarked_run(folder)
    if kind == "demo":
        names = {p.name for p in folder.iterdir()}
        return DEMO_OPTIONS in names and names <= {DEMO_OPTIONS, MARKER, LOCK, *DEMO_PARTS}
    return False


def deletion_problem(folder: str | os.PathLike, kind: str) -> str | None:
    """Why ``folder`` may not be deleted as a ``kind`` folder cotal made, or None when it may.

    Raises:
        OSError: a folder inside cannot be listed (its name is in the error).
    """
    folder = Path(folder)
    record = read_marker(folder)
    if record is None or record["kind"] != kind:
        return f"its {MARKER} was not written there by cotal for a {kind} folder"
    if kind == "demo":
        return _demo_problem(folder)
    if kind == "run":
        owned = RunLayout(folder).owns
    elif record.get("made") is None:
        return f"its {MARKER} does not list what cotal made"
    else:
        owned = set(record["made"]).__contains__
    for rel in entries(folder):
        if rel not in (MARKER, LOCK) and not owned(rel) and not stale_temporary(Path(rel).name):
            return f"it holds {rel}, which cotal did not make"
    return None


def _demo_problem(folder: Path) -> str | None:
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name in (MARKER, LOCK, DEMO_OPTIONS) or stale_temporary(name):
            continue
        if name not in DEMO_PARTS or entry.is_symlink() or not entry.is_dir():
            return f"it holds {name}, which cotal did not make"
        inner = deletion_problem(entry, DEMO_PARTS[name])
        if inner is not None:
            return f"{name}: {inner}"
    return None


def clear_folder(folder: str | os.PathLike) -> None:
    """Delete everything in ``folder`` except its lock file (held by this process while it clears)."""
    with os.scandir(folder) as it:
        for entry in it:
            if entry.name == LOCK:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def escaping_link(folder: str | os.PathLike) -> str | None:
    """The first symbolic link under ``folder`` that leads out of it (relative path), or None."""
    root = Path(folder).resolve()
    for rel in entries(folder):
        path = Path(folder) / rel
        if path.is_symlink():
            target = path.resolve()
            if target != root and not target.is_relative_to(root):
                return rel
    return None
