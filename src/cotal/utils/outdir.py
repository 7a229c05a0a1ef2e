"""Folders cotal makes: the marker that says so, the checks before writing one, staging and locking.

Nothing lost: cotal writes into a folder only when it is absent, empty, or marked as one cotal made of the
same kind (``.cotal.json``: ``{"kind": "run" | "dataset"}``), and never into a folder that overlaps one of its
inputs. Whole folders are built in a staging folder beside the target (``.<name>.<pid>.<random>.tmp``) and
renamed onto it; staging folders whose process is gone (SIGKILL, power loss) are removed by the next command
that writes the same target (temporary files of a killed writer inside a run folder, when the run is next
claimed). A run folder is locked (``fcntl.flock`` on ``.cotal.lock``) while a process writes
it; the lock dies with the process, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from cotal.errors import ConfigError, DataError
from cotal.utils.io import UMASK, read_json, write_json
from cotal.utils.run import RunLayout

MARKER = ".cotal.json"
LOCK = ".cotal.lock"
KINDS = ("run", "dataset")


def marker_kind(folder: str | os.PathLike) -> str | None:
    """The kind recorded in ``folder/.cotal.json`` (None when absent or unreadable)."""
    path = Path(folder) / MARKER
    if not path.is_file():
        return None
    try:
        kind = read_json(path).get("kind")
    except (DataError, AttributeError):
        return None
    return kind if kind in KINDS else None


def write_marker(folder: str | os.PathLike, kind: str) -> None:
    """Mark ``folder`` as a cotal folder of ``kind``."""
    write_json(Path(folder) / MARKER, {"kind": kind})


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def check_target(
    out: str | os.PathLike,
    kind: str,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    overwrite: bool = False,
) -> Path:
    """Refuse an output folder that could lose data; returns its resolved path.

    Args:
        out: the folder to write.
        kind: ``"run"`` (an existing run folder is resumed) or ``"dataset"`` (replaced only with ``overwrite``).
        inputs: files and folders the command reads; ``out`` may neither be nor contain nor lie inside one.
        overwrite: allow replacing a non-empty dataset folder that cotal made.
    Raises:
        ConfigError: ``out`` is a file, overlaps an input, or is a non-empty folder cotal may not write into.
    """
    target = Path(out).resolve()
    for item in inputs:
        source = Path(item).resolve()
        if _overlap(target, source):
            raise ConfigError(f"{out}: the output folder overlaps the input {item}; choose a folder outside it")
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if not target.is_dir() or not any(target.iterdir()):
        return target
    found = marker_kind(target)
    if kind == "run":
        if found == "run" or (found is None and _is_unmarked_run(target)):
            return target
        raise ConfigError(f"{out}: folder holds other files and is not a cotal run folder; choose a new --out")
    if not overwrite:
        raise ConfigError(f"{out}: folder is not empty; pass --overwrite to replace it")
    if found != kind:
        raise ConfigError(
            f"{out}: --overwrite replaces only a {kind} folder cotal made (its {MARKER} does not say so); "
            "delete it yourself or choose another --out"
        )
    return target


def _is_unmarked_run(folder: Path) -> bool:
    """A run folder written before the marker existed: config.yaml plus a run.json that cotal wrote."""
    layout = RunLayout(folder)
    if not layout.config.is_file() or not layout.run_info.is_file():
        return False
    try:
        run = read_json(layout.run_info)
    except DataError:
        return False
    versions = run.get("versions") if isinstance(run, dict) else None
    return isinstance(versions, dict) and "cotal" in versions and isinstance(run.get("invocations"), list)


def check_output_file(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Refuse a single-file output that would destroy an input; returns ``out`` as a Path.

    ``out`` may not be a folder, nor one of the inputs, nor an existing file inside an input folder (a dataset's
    ``annotations.json``, a run's ``final.json``); a new file inside an input folder is fine.

    Raises:
        ConfigError: naming ``out`` and the input it would overwrite.
    """
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"{out}: is a folder; expected a file name to write")
    target = path.resolve()
    for item in inputs:
        if item is None:
            continue
        source = Path(item).resolve()
        if target == source or (target.exists() and source in target.parents):
            raise ConfigError(f"{out}: would overwrite the input {item}; choose another output file")
    return path


_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.(?:tmp|old)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _remove_stale(entry: Path) -> bool:
    """Remove ``entry`` if it is a staging folder or temporary file of a process that no longer runs."""
    m = _STAGING.match(entry.name)
    if not m or _alive(int(m["pid"])):
        return False
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
    print(f"cotal: removed {entry}, left by an interrupted earlier run", file=sys.stderr)
    return True


def clean_stale_staging(out: str | os.PathLike) -> list[Path]:
    """Remove the staging folders of ``out`` left by processes that no longer run; returns what was removed."""
    out = Path(out)
    if not out.parent.is_dir():
        return []
    return [
        entry
        for entry in out.parent.iterdir()
        if (m := _STAGING.match(entry.name)) and m["name"] == out.name and _remove_stale(entry)
    ]


def clean_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove temporary files (``atomic_open``) and staging folders anywhere under ``folder`` whose process is
    gone (a SIGKILL or power loss mid-write); returns what was removed."""
    return [entry for entry in sorted(Path(folder).rglob(".*.tmp")) if _remove_stale(entry)]


def make_staging(out: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new empty folder beside ``out`` named after it and this process (so a later run can tell it is stale)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=suffix, dir=out.parent))
    tmp.chmod(0o777 & ~UMASK)  # mkdtemp makes 0700; a dataset or run folder gets a plain mkdir's permissions
    return tmp


def replace_dir(new: Path, dest: Path) -> None:
    """Rename ``new`` onto ``dest``; an existing ``dest`` is moved aside first and deleted afterwards."""
    if not dest.exists():
        os.rename(new, dest)
        return
    old = make_staging(dest, suffix=".old")
    os.rename(dest, old / dest.name)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(old / dest.name, dest)  # put the previous folder back
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike, kind: str) -> Iterator[Path]:
    """Yield a staging folder; on success it is marked as ``kind`` and replaces ``out``, on any error removed."""
    out = Path(out)
    tmp = make_staging(out)
    try:
        yield tmp
        write_marker(tmp, kind)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def locked(folder: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created) for the block; a second holder gets a ConfigError."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ConfigError(
                f"{folder}: another cotal process (pid {owner}) is writing this folder; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def path_inside(folder: str | os.PathLike, relative: object, source: str | os.PathLike) -> Path:
    """``folder / relative`` for a path read from a file in ``folder``; it must stay inside ``folder``.

    Raises:
        DataError: ``relative`` is not a string, is absolute, or resolves outside ``folder`` (``..``, symlinks).
    """
    if not isinstance(relative, str) or not relative:
        raise DataError(f"{source}: expected a relative file path, got {relative!r}")
    root = Path(folder).resolve()
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or root not in path.parents:
        raise DataError(f"{source}: path {relative!r} leads outside {folder}; refusing to read it")
    return path


@contextlib.contextmanager
def run_folder(
    out: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *, main: bool = True
) -> Iterator[Path]:
    """Claim a run folder for the block: checked (:func:`check_target`), locked and marked as a run.

    Only the main process of a distributed run locks and marks; the others only check.
    """
    path = check_target(out, "run", inputs=inputs)
    if not main:
        yield path
        return
    with locked(path):
        write_marker(path, "run")
        clean_stale_temporaries(path)
        yield path
