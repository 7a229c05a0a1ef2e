"""Atomic file output and safe loading.

Every artefact cotal writes goes through :func:`atomic_write`: the data lands in a temporary file in
the destination folder and is renamed into place, so an interrupted job never leaves a half-written
file behind under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml

from cotal.errors import DataError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

# Read once at import (reading the umask means setting it, so it is put back at once); outputs honour it.
UMASK = os.umask(0)
os.umask(UMASK)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    The file gets the permissions a plain ``open`` would give under the process umask (mkstemp's are 0600).
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a file name to write")
    for folder in (path.parent, *path.parent.parents):  # a file where a folder is needed
        if folder.exists():
            if not folder.is_dir():
                raise DataError(f"{folder}: is a file, not a folder; cannot write {path}")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    # The pid in the name lets a later run tell a file left by a killed process (cotal.utils.outdir).
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp makes 0600; outputs get the permissions of a plain open()
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, writer: Callable[[IO], Any], mode: str = "wb") -> None:
    """Call ``writer(fileobj)`` on a temporary file, then move it onto ``path``."""
    with atomic_open(path, mode) as fh:
        writer(fh)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 1) -> None:
    """Write ``obj`` as JSON atomically."""
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=indent)
        fh.write("\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as YAML atomically (keys keep their order)."""
    with atomic_open(path, "w") as fh:
        yaml.safe_dump(obj, fh, sort_keys=False)


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write one plain (non-object) array as ``.npy`` atomically."""
    if array.dtype == object:
        raise DataError(f"{path}: refusing to write an object array (it would need pickle to load)")
    with atomic_open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def require_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it is a file; a folder or a missing path raises :class:`DataError`."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return path


def read_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file's content; missing, unreadable or badly encoded files raise :class:`DataError`."""
    path = require_file(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing, empty, badly encoded or malformed file raises :class:`DataError`."""
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path}: file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply") from None


def read_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML file with the safe loader; errors raise :class:`DataError`."""
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DataError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    except RecursionError:
        raise DataError(f"{path}: YAML nested too deeply") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    """Raise :class:`DataError` unless ``path`` hashes to ``expected``: run before unpickling anything."""
    got = sha256_file(path)
    if got != expected:
        raise DataError(f"{path}: sha256 {got} does not match the expected {expected}; refusing to load it")


def torch_save_atomic(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` through a temporary file (checkpoints are never left half-written)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))


def torch_load_safe(path: str | os.PathLike, map_location: str = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True`` so that no code in the file can run."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # torch's first line would advise weights_only=False, which cotal never uses
        raise DataError(
            f"{path}: not a weights-only PyTorch checkpoint (a corrupt or foreign file, or one that holds objects "
            "other than tensors, which cotal does not load)"
        ) from None
    except Exception as e:  # torch raises a zoo of types for corrupt files
        raise DataError(f"{path}: cannot load checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None


# Pickles name the module numpy had when they were written: numpy.core (1.x) or numpy._core (2.x).
_NUMPY_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(mod, "_reconstruct"): _multiarray._reconstruct for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(mod, "scalar"): _multiarray.scalar for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays, dtypes and scalars only: any other global (os.system, ...) is
    refused, so no code can run while loading.

    Args:
        fh: binary file positioned at the pickle.
        source: the file, named in the error.
        encoding: how Python 2 ``str`` objects are read ("bytes" for old W-TALC files).
    Raises:
        DataError: (on ``load``) the pickle references anything else.
    """

    def __init__(self, fh: IO[bytes], source: str | os.PathLike = "pickle", encoding: str = "ASCII") -> None:
        super().__init__(fh, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _NUMPY_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: the pickle references {module}.{name}, which is not a numpy array constructor; "
                "refusing to load it"
            ) from None
