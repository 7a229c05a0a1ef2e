"""Folders and files cotal writes: the checks before writing, staging, locking and --overwrite.

Nothing lost: cotal writes into a folder only when it is absent, empty, or one cotal made of the same kind
(:mod:`cotal.utils.marker`), and never into a folder that overlaps one of its inputs. Whole folders are built in
a staging folder beside the target (``.<name>.<pid>.<random>.tmp``) and renamed onto it; staging folders whose
process is gone (SIGKILL, power loss) are removed by the next command that writes the same target (temporary
files of a killed writer inside a run folder, when the run is next claimed). A run folder is locked
(``fcntl.flock`` on ``.cotal.lock``) while a process writes it, ``--overwrite`` included; the lock dies with the
process, so a killed run never leaves a stale lock. ``--overwrite`` deletes a folder only when everything in it
is what cotal made (:func:`cotal.utils.marker.deletion_problem`), and a single-file output replaces an existing
file only with ``--overwrite`` and never one of the command's inputs or a file of a folder cotal made.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from cotal.errors import ConfigError, DataError
from cotal.utils.io import UMASK, confined, naming, open_nofollow
from cotal.utils.marker import (
    LOCK,
    MARKER,
    STAGING,
    clear_folder,
    deletion_problem,
    entries,
    escaping_link,
    is_kind,
    stale_temporary,
    write_marker,
)

# Folders a later command continues (a run resumes, a demo reuses its data); the others are replaced whole.
RESUMABLE = ("run", "demo")


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
        kind: ``"run"`` or ``"demo"`` (an existing one is continued) or ``"dataset"`` / ``"export"`` (replaced
            whole, only with ``overwrite``).
        inputs: files and folders the command reads; ``out`` may neither be nor contain nor lie inside one.
        overwrite: allow deleting a non-empty folder that cotal made of this kind and that holds nothing else.
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
    if kind in RESUMABLE and not is_kind(target, kind):
        raise ConfigError(f"{out}: folder holds other files and is not a cotal {kind} folder; choose a new --out")
    if kind not in RESUMABLE and not overwrite:
        raise ConfigError(f"{out}: folder is not empty; pass --overwrite to replace it")
    if overwrite:
        refuse_deletion(target, kind, out)
    return target


def refuse_deletion(folder: Path, kind: str, shown: str | os.PathLike | None = None) -> None:
    """Raise :class:`ConfigError` unless ``folder`` may be deleted as a ``kind`` folder cotal made."""
    problem = deletion_problem(folder, kind)
    if problem is not None:
        raise ConfigError(
            f"{shown or folder}: --overwrite deletes only a {kind} folder cotal made, and {problem}; "
            "delete it yourself or choose another --out"
        )


def check_output_file(
    out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), *, overwrite: bool = False
) -> Path:
    """Refuse a single-file output that would destroy an input or a file cotal did not write; returns ``out``.

    ``out`` may not be a folder, nor one of the inputs, nor an existing file inside an input folder (a dataset's
    ``annotations.json``, a run's ``final.json``) or inside any folder cotal made (a run's ``metrics.json``); a new
    file there is fine. Any other existing file is replaced only with ``overwrite``.

    Raises:
        ConfigError: naming ``out`` and what it would overwrite.
    """
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"{out}: is a folder; expected a file name to write")
    target = path.resolve()
    exists = os.path.lexists(path)
    for item in inputs:
        if item is None:
            continue
        source = Path(item).resolve()
        if target == source or (exists and source in target.parents):
            raise ConfigError(f"{out}: would overwrite the input {item}; choose another output file")
    if not exists:
        return path
    owner = next((p for p in target.parents if os.path.lexists(p / MARKER)), None)
    if owner is not None:
        raise ConfigError(f"{out}: belongs to the cotal folder {owner}; choose a file outside it")
    if not overwrite:
        raise ConfigError(f"{out}: exists; pass --overwrite to replace it")
    return path


def _remove_stale(entry: Path) -> bool:
    """Remove ``entry`` if it is a staging folder or temporary file of a process that no longer runs."""
    if not stale_temporary(entry.name):
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
        if (m := STAGING.match(entry.name)) and m["name"] == out.name and _remove_stale(entry)
    ]


def clean_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove temporary files (``atomic_open``) and staging folders anywhere under ``folder`` whose process is
    gone (a SIGKILL or power loss mid-write); returns what was removed."""
    return [entry for entry in sorted(Path(folder).rglob(".*.tmp")) if _remove_stale(entry)]


def make_staging(out: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new empty folder beside ``out`` named after it and this process (so a later run can tell it is stale)."""
    out = Path(out)
    with naming(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_staging(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=suffix, dir=out.parent))
    tmp.chmod(0o777 & ~UMASK)  # mkdtemp makes 0700; a dataset or run folder gets a plain mkdir's permissions
    return tmp


def replace_dir(new: Path, dest: Path, kind: str) -> None:
    """Rename ``new`` onto ``dest``; an existing non-empty ``dest`` must be a ``kind`` folder cotal may delete
    (checked again here: it may have changed while ``new`` was built), is moved aside and deleted afterwards."""
    if not dest.exists():
        os.rename(new, dest)
        return
    if any(dest.iterdir()):
        refuse_deletion(dest, kind)
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
    """Yield a staging folder; on success it is marked as ``kind`` with the list of what it holds and replaces
    ``out``; on any error it is removed."""
    out = Path(out)
    tmp = make_staging(out)
    try:
        with confined(tmp):
            yield tmp
        write_marker(tmp, kind, made=entries(tmp))
        replace_dir(tmp, out, kind)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def locked(folder: str | os.PathLike, *, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created) for the block; a second holder gets a ConfigError.

    ``shared``: a reader's lock on an existing folder (``cotal report`` writing elsewhere): readers share it, a
    writer is refused while one holds it and the reverse; it needs only read access to an existing lock file.
    """
    folder = Path(folder)
    if not shared:
        folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = _open_lock(folder / LOCK, shared)
    except DataError as e:
        raise ConfigError(str(e)) from None
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{folder}: another cotal process {_holder(fd)}; wait for it to finish") from None
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock(path: Path, shared: bool) -> int:
    if shared:
        with contextlib.suppress(FileNotFoundError):
            return open_nofollow(path, os.O_RDONLY)
    return open_nofollow(path, os.O_RDWR | os.O_CREAT, 0o644)


def _holder(fd: int) -> str:
    """Who holds the lock that ``fd`` could not take, in words: a writer records its pid in the file; readers
    (shared holders) record nothing, and a shared lock can still be taken beside them."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        return f"(pid {pid}) is writing this folder"
    fcntl.flock(fd, fcntl.LOCK_UN)
    return "is reading this folder"


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
    out: str | os.PathLike,
    inputs: Iterable[str | os.PathLike] = (),
    *,
    main: bool = True,
    overwrite: bool = False,
) -> Iterator[Path]:
    """Claim a run folder for the block: checked (:func:`check_target`), locked, emptied when ``overwrite``,
    marked as a run, free of symbolic links leading out of it, and :func:`~cotal.utils.io.confined`.

    Only the main process of a distributed run locks and marks; the others only check.
    """
    path = check_target(out, "run", inputs=inputs, overwrite=overwrite)
    link = escaping_link(path) if path.is_dir() else None
    if link is not None:
        raise ConfigError(
            f"{path / link}: a symbolic link leads out of the run folder; cotal does not write through it"
        )
    if not main:
        yield path
        return
    with locked(path):
        if overwrite and any(p.name != LOCK for p in path.iterdir()):
            refuse_deletion(path, "run", out)  # again, now that no other cotal process can write it
            clear_folder(path)
        write_marker(path, "run")
        clean_stale_temporaries(path)
        with confined(path):
            yield path
