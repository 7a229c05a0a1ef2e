"""Atomic file output and safe loading.

Every artefact cotal writes goes through :func:`atomic_write`: the data lands in a temporary file in
the destination folder and is renamed into place, so an interrupted job never leaves a half-written
file behind under the final name. Inside a folder claimed with :func:`confined` (a run, a dataset being
extracted) no write goes through a symbolic link that leads out of it.

Readers refuse what would silently lose or explode data: a JSON object with a repeated key (JSON keeps only the
last copy) and YAML aliases that expand far beyond the file (an "alias bomb").
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml

from cotal.errors import DataError
from cotal.utils.text import short_repr

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

# Read once at import (reading the umask means setting it, so it is put back at once); outputs honour it.
UMASK = os.umask(0)
os.umask(UMASK)
# YAML values that aliases (``*name``) may add beyond those written in the file.
MAX_ALIAS_EXPANSION = 10_000
# Folders claimed with `confined`: (absolute path as given, resolved path).
_CONFINED: list[tuple[Path, Path]] = []


@contextlib.contextmanager
def confined(root: str | os.PathLike) -> Iterator[None]:
    """Within the block, :func:`atomic_open` refuses a path under ``root`` whose folder lies outside it."""
    entry = (Path(os.path.abspath(root)), Path(root).resolve())
    _CONFINED.append(entry)
    try:
        yield
    finally:
        _CONFINED.remove(entry)


def check_confined(path: str | os.PathLike) -> None:
    """Raise :class:`DataError` when ``path`` lies in a :func:`confined` folder but its folder, followed through
    symbolic links, does not."""
    path = Path(os.path.abspath(path))
    for given, real in _CONFINED:
        if path.is_relative_to(given) or path.is_relative_to(real):
            folder = path.parent.resolve()
            if folder != real and not folder.is_relative_to(real):
                raise DataError(
                    f"{path}: a symbolic link leads out of {given} (to {folder}); cotal does not write through it"
                )


def open_nofollow(path: str | os.PathLike, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` itself (a lock or log file replaced by a link)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise DataError(f"{path}: is a symbolic link; cotal does not write through it") from None
        raise


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
    check_confined(path)
    with naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # The pid in the name lets a later run tell a file left by a killed process (cotal.utils.outdir).
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp makes 0600; outputs get the permissions of a plain open()
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        with naming(path):
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def naming(target: Path) -> Iterator[None]:
    """An operating-system error in the block names ``target``, not the hidden temporary file beside it."""
    try:
        yield
    except OSError as e:
        if e.filename is None or Path(e.filename).parent != target.parent or e.filename == str(target):
            raise
        raise type(e)(e.errno, e.strerror, str(target)) from None


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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _DuplicateKey(key)
    return out


class _DuplicateKey(Exception):
    pass


# Decodes one value at a time (``raw_decode``) with the checks of parse_json.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def repeated_key(source: str | os.PathLike, key: str) -> DataError:
    """The error for a key that appears twice in one JSON object."""
    return DataError(f"{source}: the key {short_repr(key)} appears twice in one object (JSON would keep only the last)")


def _value_error(e: Exception, source: str | os.PathLike) -> DataError:
    """The DataError for what the decoder raises beyond a syntax error."""
    if isinstance(e, _DuplicateKey):
        return repeated_key(source, e.args[0])
    if isinstance(e, RecursionError):
        return DataError(f"{source}: JSON nested too deeply")
    return DataError(f"{source}: not valid JSON ({str(e).split(';')[0]})")  # a number beyond Python's digit limit


def parse_json(text: str, source: str | os.PathLike) -> Any:
    """JSON text as Python objects; malformed text or a repeated key in an object raises :class:`DataError`."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{source}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (_DuplicateKey, RecursionError, ValueError) as e:
        raise _value_error(e, source) from None


def decode_json_value(text: str, pos: int, source: str | os.PathLike) -> tuple[Any, int]:
    """The JSON value of ``text`` starting at ``pos``, and where it ends, with the checks of :func:`parse_json`.

    Raises:
        json.JSONDecodeError: a syntax error (the caller may hold only part of the text and read more).
        DataError: a repeated key, nesting too deep, or a number beyond Python's digit limit.
    """
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError:
        raise
    except (_DuplicateKey, RecursionError, ValueError) as e:
        raise _value_error(e, source) from None


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing, empty, badly encoded or malformed file, or a repeated key in an object, raises
    :class:`DataError`."""
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path}: file is empty")
    return parse_json(text, path)


class _Loader(yaml.SafeLoader):
    """The safe loader, with YAML 1.2's floats: ``1e-3`` is a number (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+)$"
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str | os.PathLike) -> Any:
    """YAML text through the safe loader (numbers as YAML 1.2 writes them: ``1e-3`` too); malformed text, a key
    repeated in one mapping, recursive aliases or aliases adding more than :data:`MAX_ALIAS_EXPANSION` values raise
    :class:`DataError`."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise DataError(f"{source}: not valid YAML ({str(e).splitlines()[0]})") from None
    except RecursionError:
        raise DataError(f"{source}: YAML nested too deeply") from None
    except (ValueError, OverflowError) as e:  # a number beyond Python's digit limit or a float's range
        raise DataError(f"{source}: not valid YAML ({str(e).split(';')[0]})") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, source: str | os.PathLike) -> None:
    """Refuse repeated keys, and count the values of ``root`` as aliases expand them (each node visited once)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise DataError(f"{source}: a YAML alias refers to itself (a recursive structure)")
        active.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
            _check_unique_keys(node, source)
        sizes[key] = 1 + sum(size(child) for child in children)
        active.discard(key)
        return sizes[key]

    if size(root) > len(sizes) + MAX_ALIAS_EXPANSION:
        raise DataError(
            f"{source}: YAML aliases (*name) expand to {size(root)} values from {len(sizes)} written ones; "
            f"refusing more than {MAX_ALIAS_EXPANSION} repeated values"
        )


def _check_unique_keys(node: yaml.MappingNode, source: str | os.PathLike) -> None:
    seen: set[tuple[str, str]] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            if (key.tag, key.value) in seen:
                raise DataError(
                    f"{source}: line {key.start_mark.line + 1}: the key {short_repr(key.value)} appears twice in one "
                    "mapping (YAML would keep only the last)"
                )
            seen.add((key.tag, key.value))


def read_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML file with the safe loader; errors raise :class:`DataError` (see :func:`parse_yaml`)."""
    return parse_yaml(read_text(path), path)


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
