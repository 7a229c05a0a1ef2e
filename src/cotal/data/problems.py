"""Dataset problems: every check and every message about a broken dataset lives here.

``cotal data check`` collects these :class:`Problem` s; the loaders (:class:`~cotal.data.FeatureDataset`,
:func:`~cotal.data.dataset.load_feature_file`) raise the first one as a :class:`DataError`, so a file gets the
same one-line message from both.

Tolerances (see docs/data.md):

- snippet count: ``|T - floor(duration * fps / stride)| <= max(2, 5% of the expected count)``;
- segments: ``-0.5 s <= start`` and ``end <= duration + 0.5 s``; ``end > start`` always;
- values: finite and ``|x| <= 1e6``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cotal.data.annotations import Annotations, VideoAnnotation
from cotal.data.ids import video_file
from cotal.data.timing import SnippetTiming
from cotal.errors import DataError
from cotal.utils.text import escape, short_repr

LENGTH_TOLERANCE_SNIPPETS = 2
LENGTH_TOLERANCE_FRACTION = 0.05
SEGMENT_TOLERANCE_S = 0.5
# Rows per block of the value scan: bounds the temporary memory for any file size.
SCAN_BLOCK_ELEMENTS = 1 << 22
# Largest feature magnitude accepted. Real snippet features are O(1)-O(100); squares and sums over thousands of
# dims of values near 1e19 overflow float32 (max 3.4e38), so such files would train to NaN.
MAX_ABS_VALUE = 1e6
# Longest feature file accepted (about 3.6 h at 0.64 s per snippet): the model's non-local blocks are quadratic in
# T, so one absurdly long file would otherwise stall training and export. Real videos are far shorter.
MAX_SNIPPETS = 20_000
# Even the lenient loader refuses a T beyond this multiple of the duration's snippet count (plus the tolerance).
LENGTH_HARD_FACTOR = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset.

    Attributes:
        path: the file (or folder) at fault.
        message: what is wrong, one line (may name a video, key or index).
    """

    path: str
    message: str

    def __str__(self) -> str:
        return escape(f"{self.path}: {self.message}")  # file names come from the disk: printed, never obeyed

    def error(self) -> DataError:
        """The same text as a :class:`DataError`, for loaders that stop at the first problem."""
        return DataError(str(self))

    @classmethod
    def from_error(cls, path: str | os.PathLike, err: DataError) -> Problem:
        """Wrap an error raised by a parser (whose text usually starts with ``path``)."""
        text, prefix = str(err), f"{path}: "
        return cls(path=str(path), message=text[len(prefix) :] if text.startswith(prefix) else text)


def missing_file_problem(path: str | os.PathLike) -> Problem:
    return Problem(path=str(path), message="file not found")


@dataclass(frozen=True)
class NpyHeader:
    """Shape and dtype of a ``.npy`` file, read without touching its data."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int


def read_npy_header(path: str | os.PathLike) -> tuple[NpyHeader | None, Problem | None]:
    """Parse the header of a ``.npy`` file.

    Returns:
        ``(header, None)`` or ``(None, problem)`` for a missing, empty, non-npy or truncated file.
    """
    path = Path(path)
    if not path.is_file():
        return None, missing_file_problem(path)
    size = path.stat().st_size
    if size == 0:
        return None, Problem(path=str(path), message="file is empty")
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
    except OSError as e:
        return None, Problem(path=str(path), message=f"cannot read ({e.strerror or e})")
    except (ValueError, EOFError) as e:
        return None, Problem(path=str(path), message=f"not a valid .npy file ({str(e).splitlines()[0]})")
    header = NpyHeader(shape=tuple(shape), dtype=dtype, fortran_order=fortran, data_offset=offset)
    if not dtype.hasobject:
        needed = offset + math.prod(shape) * dtype.itemsize
        if needed > size:
            return None, Problem(path=str(path), message=f"corrupt .npy file: truncated (header says shape {shape})")
        if needed < size:
            return None, Problem(
                path=str(path),
                message=f"corrupt .npy file: {size - needed} bytes beyond the data of the header's shape {shape} "
                "(a header edited to fewer rows, or data appended)",
            )
    return header, None


def feature_header_problem(path: str | os.PathLike, header: NpyHeader) -> Problem | None:
    """Problems visible in the header of a ``(T, D)`` feature file: pickled objects, ndim, dtype, T = 0, D = 0."""
    path = str(path)
    if header.dtype.hasobject:
        return Problem(
            path=path,
            message="holds pickled Python objects, not a plain array; cotal never unpickles feature files "
            "(convert a published layout with `cotal data convert`)",
        )
    if len(header.shape) != 2:
        return Problem(path=path, message=f"expected a 2-D (T, D) array, got shape {header.shape}")
    if header.dtype.kind != "f":
        return Problem(path=path, message=f"expected a float array, got dtype {header.dtype}")
    if header.shape[0] == 0:
        return Problem(path=path, message=f"has no snippets (T = 0, shape {header.shape})")
    if header.shape[1] == 0:
        return Problem(path=path, message=f"has no feature dimensions (D = 0, shape {header.shape})")
    if header.shape[0] > MAX_SNIPPETS:
        return Problem(
            path=path,
            message=f"T = {header.shape[0]} snippets exceeds the limit of {MAX_SNIPPETS} (cost grows with T^2); "
            "split the video or check fps/stride",
        )
    return None


def open_feature_file(path: str | os.PathLike, mmap: bool = True) -> tuple[np.ndarray | None, Problem | None]:
    """Open a ``(T, D)`` feature file after its header checks (values are not scanned here).

    Returns:
        ``(array, None)`` with a read-only (T, D) array (memory-mapped when ``mmap``), or ``(None, problem)``.
    """
    header, problem = read_npy_header(path)
    if problem is None:
        problem = feature_header_problem(path, header)
    if problem is not None:
        return None, problem
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        return None, Problem(path=str(path), message=f"corrupt .npy file ({type(e).__name__}: {e})")
    arr.flags.writeable = False
    return arr, None


def value_problem(path: str | os.PathLike, arr: np.ndarray) -> Problem | None:
    """Scan ``arr`` (T, D) for NaN/Inf and for values beyond ``MAX_ABS_VALUE``, in row blocks.

    A memory-mapped file is never copied whole. Only a block whose largest magnitude is not finite or too large
    is searched element-wise for the first bad value.
    """
    rows = max(1, SCAN_BLOCK_ELEMENTS // max(1, arr.shape[1]))
    for start in range(0, arr.shape[0], rows):
        block = arr[start : start + rows]
        with np.errstate(over="ignore", invalid="ignore"):
            peak = float(np.abs(block).max()) if block.size else 0.0
        if math.isfinite(peak) and peak <= MAX_ABS_VALUE:
            continue
        bad = np.argwhere(~np.isfinite(block))
        if len(bad):
            return Problem(
                path=str(path),
                message=f"contains NaN/Inf (first at snippet {start + bad[0][0]}, dim {bad[0][1]})",
            )
        t, d = np.argwhere(np.abs(block) > MAX_ABS_VALUE)[0]
        return Problem(
            path=str(path),
            message=f"value {float(block[t, d]):.3g} at snippet {start + t}, dim {d} is beyond +-{MAX_ABS_VALUE:g} "
            "(training arithmetic would overflow float32); wrong dtype or scale?",
        )
    return None


def length_problem(
    path: str | os.PathLike, num_snippets: int, duration: float, timing: SnippetTiming, *, lenient: bool = False
) -> Problem | None:
    """T must match ``floor(duration * fps / stride)`` within ``max(2, 5%)`` snippets.

    ``lenient`` (the default loader) only refuses a T above ``LENGTH_HARD_FACTOR`` times that count plus the
    tolerance: real ground truth is sloppy, but such a file is the wrong video or the wrong fps/stride.
    """
    expected = timing.expected_snippets(duration)
    tolerance = max(LENGTH_TOLERANCE_SNIPPETS, LENGTH_TOLERANCE_FRACTION * expected)
    wrong = (
        num_snippets > LENGTH_HARD_FACTOR * expected + tolerance
        if lenient
        else abs(num_snippets - expected) > tolerance
    )
    if wrong:
        return Problem(
            path=str(path),
            message=f"T = {num_snippets} snippets but duration {duration:g} s at fps {timing.fps:g} / stride "
            f"{timing.stride:g} gives {expected} (tolerance {tolerance:g}); wrong fps/stride or wrong video?",
        )
    return None


def stream_length_problem(path: str | os.PathLike, video_id: str, lengths: dict[str, int]) -> Problem | None:
    """All streams of one video must have the same T."""
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{s} T={t}" for s, t in lengths.items())
        return Problem(path=str(path), message=f"video {video_id!r}: streams have different lengths ({listed})")
    return None


def dim_problems(stream_dir: str | os.PathLike, dims: dict[str, int]) -> list[Problem]:
    """Feature files of one stream must share D; the files off the most common D are reported."""
    if len(set(dims.values())) <= 1:
        return []
    values, counts = np.unique(list(dims.values()), return_counts=True)
    common = int(values[np.argmax(counts)])
    return [
        Problem(
            path=str(video_file(stream_dir, vid)),
            message=f"D = {d}, but most files of this stream have D = {common}",
        )
        for vid, d in sorted(dims.items())
        if d != common
    ]


def segment_problems(source: str | os.PathLike, video: VideoAnnotation) -> list[Problem]:
    """Each segment needs ``end > start`` and must lie in ``[0, duration]`` up to 0.5 s."""
    out = []
    for j, ((s, e), lab) in enumerate(zip(video.segments.tolist(), video.labels, strict=True)):
        where = f"video {video.video_id!r}: segment {j} [{s:g}, {e:g}] ({lab})"
        if e <= s:
            out.append(Problem(path=str(source), message=f"{where} has end <= start"))
        elif s < -SEGMENT_TOLERANCE_S or e > video.duration + SEGMENT_TOLERANCE_S:
            out.append(Problem(path=str(source), message=f"{where} lies outside [0, {video.duration:g}] s"))
    return out


def subset_problems(
    meta_path: str | os.PathLike, train_subset: str, test_subset: str, annotations: Annotations
) -> list[Problem]:
    """The train and test subsets named in dataset.yaml must each hold at least one video."""
    present = annotations.subsets
    return [
        Problem(
            path=str(meta_path),
            message=f"{key} {name!r} matches no video in annotations.json "
            f"(subsets there: {', '.join(present) or 'none'})",
        )
        for key, name in (("train_subset", train_subset), ("test_subset", test_subset))
        if name not in present
    ]


def annotation_problems(annotations_path: str | os.PathLike, annotations: Annotations) -> list[Problem]:
    """Semantic annotation checks (labels that print alike, segment bounds), in video-id order."""
    out = label_problems(annotations_path, annotations)
    for vid in sorted(annotations):
        out.extend(segment_problems(annotations_path, annotations[vid]))
    return out


def label_problems(source: str | os.PathLike, annotations: Annotations) -> list[Problem]:
    """Labels written in several ways that print alike (read as one class), and labels that differ only by case
    (read as separate classes)."""
    out = [
        Problem(
            path=str(source),
            message=f"label {short_repr(label)} is written as {', '.join(map(short_repr, spellings))} "
            "(Unicode form or spaces around it); cotal reads them as one class",
        )
        for label, spellings in annotations.label_variants.items()
    ]
    by_case: dict[str, list[str]] = {}
    for label in annotations.classes:
        by_case.setdefault(label.casefold(), []).append(label)
    out += [
        Problem(
            path=str(source),
            message=f"labels {' and '.join(map(short_repr, labels))} differ only by case; they are separate classes",
        )
        for labels in by_case.values()
        if len(labels) > 1
    ]
    return out
