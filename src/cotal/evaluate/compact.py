"""Detections files parsed straight into compact arrays, so memory stays a small multiple of the file size.

``json.load`` of an ActivityNet results file builds a dict, a list and three boxed numbers per detection: about 18x
the file size in RAM (3.76 GB for a 200 MB file). :func:`read_detection_arrays` walks the top-level object itself
and decodes one video's list at a time, validating it and appending it to growing arrays (two float64 per segment,
one per score, one shared string per distinct label), then drops it. The text is read in chunks and only its
unconsumed tail is kept (see ``benchmarks/eval_memory.py``). :func:`apply_mapping_arrays` relabels cluster ids
on those arrays.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from cotal.errors import DataError
from cotal.evaluate.formats import DetectionArrays, detections_to_arrays
from cotal.evaluate.mapping import cluster_id
from cotal.utils.io import atomic_open, decode_json_value, repeated_key, require_file

_WS = json.decoder.WHITESPACE  # type: ignore[attr-defined]
CHUNK_CHARS = 1 << 22  # text read per refill (4 Mi characters)


class _Stream:
    """A JSON text read in chunks, with the few steps needed to walk objects and decode one value at a time.

    Only the unconsumed tail of the text is kept. A value is accepted only when something follows it in the
    buffer (or the file has ended), so a number cut at a chunk border is never decoded short.
    """

    def __init__(self, fh: TextIO, source: str) -> None:
        self.fh, self.source = fh, source
        self.buf, self.pos, self.base, self.eof = "", 0, 0, False

    def _fill(self, at_least: int = CHUNK_CHARS) -> bool:
        """Append at least ``at_least`` characters (fewer at the end of the file); False when nothing was left."""
        if self.eof:
            return False
        if self.pos > len(self.buf) // 2:  # drop what was consumed
            self.base += self.pos
            self.buf, self.pos = self.buf[self.pos :], 0
        try:
            more = self.fh.read(at_least)
        except UnicodeDecodeError as e:
            raise DataError(f"{self.source}: not UTF-8 text (byte {e.object[e.start]:#04x})") from None
        self.eof = len(more) < at_least
        self.buf += more
        return bool(more)

    def peek(self) -> str:
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or not self._fill():
                return self.buf[self.pos : self.pos + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = self.buf[self.pos : self.pos + 20] or "end of file"
            at = self.base + self.pos
            raise DataError(f"{self.source}: not valid JSON (expected {char!r} at character {at}, found {found!r})")
        self.pos += 1

    def value(self) -> object:
        self.peek()
        while True:
            try:
                obj, end = decode_json_value(self.buf, self.pos, self.source)
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return obj
            except json.JSONDecodeError as e:
                if self.eof:
                    raise DataError(
                        f"{self.source}: not valid JSON ({e.msg} at character {self.base + e.pos})"
                    ) from None
            self._fill(max(CHUNK_CHARS, len(self.buf) - self.pos))  # doubling: a long value is re-read O(log) times

    def members(self) -> Iterator[str]:
        """The keys of the object starting here; the caller consumes each value before the next key."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                self.expect('"')
            key = self.value()
            self.expect(":")
            yield key  # type: ignore[misc]
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("}")
            return


def read_detection_arrays(path: str | os.PathLike) -> DetectionArrays:
    """Read and validate an ActivityNet results file (see :func:`cotal.evaluate.formats.read_detections`).

    Returns:
        :class:`DetectionArrays` in file order.
    Raises:
        DataError: the errors of ``read_detections`` for malformed entries and of
            :func:`cotal.utils.io.parse_json` (a key repeated in one object, a number beyond Python's digit limit),
            and a video id listed twice (JSON would silently keep only the last list).
    """
    source = str(path)
    with open(require_file(path), encoding="utf-8") as fh:
        cur = _Stream(fh, source)
        if cur.peek() == "":
            raise DataError(f"{source}: file is empty")
        if cur.peek() != "{":
            raise DataError(f"{source}: expected a JSON object with a 'results' object mapping video ids to detections")
        parts: list[DetectionArrays] = []
        labels: dict[str, str] = {}  # one string object per distinct label
        seen: set[str] = set()
        keys: set[str] = set()
        found = False
        for key in cur.members():
            if key in keys:
                raise repeated_key(source, key)
            keys.add(key)
            if key != "results" or cur.peek() != "{":
                cur.value()  # version, external_data, ...: not needed
                continue
            found = True
            for vid in cur.members():
                if vid in seen:
                    raise DataError(f"{source}: video {vid!r} is listed twice in 'results'")
                seen.add(vid)
                arr = detections_to_arrays({vid: cur.value()}, source=source)
                parts.append(
                    DetectionArrays(
                        video_ids=arr.video_ids,
                        counts=arr.counts,
                        segments=arr.segments,
                        labels=[labels.setdefault(lab, lab) for lab in arr.labels],
                        scores=arr.scores,
                    )
                )
        if cur.peek() != "":
            raise DataError(f"{source}: not valid JSON (extra data at character {cur.base + cur.pos})")
    if not found:
        raise DataError(f"{source}: expected a JSON object with a 'results' object mapping video ids to detections")
    return _concat(parts)


def _concat(parts: Sequence[DetectionArrays]) -> DetectionArrays:
    return DetectionArrays(
        video_ids=[v for p in parts for v in p.video_ids],
        counts=np.concatenate([p.counts for p in parts]) if parts else np.zeros(0, np.int64),
        segments=np.concatenate([p.segments for p in parts]) if parts else np.zeros((0, 2)),
        labels=[lab for p in parts for lab in p.labels],
        scores=np.concatenate([p.scores for p in parts]) if parts else np.zeros(0),
    )


def apply_mapping_arrays(arr: DetectionArrays, mapping: Mapping[int, Sequence[tuple[str, float]]]) -> DetectionArrays:
    """:func:`cotal.evaluate.mapping.apply_mapping` on arrays: each detection of a mapped cluster becomes one per
    mapped class (``score * weight``, in the mapping's order); others pass through unchanged."""
    targets = {lab: mapping.get(cluster_id(lab)) for lab in set(arr.labels)}
    fan = np.fromiter((len(targets[lab] or ((lab, 1.0),)) for lab in arr.labels), np.int64, count=len(arr.labels))
    src = np.repeat(np.arange(len(arr.labels)), fan)
    labels, weights = [], np.empty(len(src))
    k = 0
    for lab in arr.labels:
        for cls, w in targets[lab] or ((lab, 1.0),):
            labels.append(cls)
            weights[k] = w
            k += 1
    video_of = np.repeat(np.arange(len(arr.video_ids)), arr.counts)[src]
    return DetectionArrays(
        video_ids=list(arr.video_ids),
        counts=np.bincount(video_of, minlength=len(arr.video_ids)).astype(np.int64),
        segments=arr.segments[src],
        labels=labels,
        scores=arr.scores[src] * weights,
    )


def write_generated_detections(path: str | os.PathLike, videos: int, per_video: int, seed: int = 0) -> Path:
    """A large valid results file for memory measurements (``benchmarks/eval_memory.py``, tests)."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    with atomic_open(path, "w") as fh:
        fh.write('{"version": "generated", "results": {')
        for v in range(videos):
            starts = rng.uniform(0, 100, per_video)
            ends = starts + rng.uniform(0.5, 10, per_video)
            classes = rng.integers(0, 20, per_video)
            scores = rng.uniform(0, 1, per_video)
            dets = ",".join(
                f'{{"segment": [{s:.3f}, {e:.3f}], "label": "{c}", "score": {p:.6f}}}'
                for s, e, c, p in zip(starts, ends, classes, scores, strict=True)
            )
            fh.write(f'{"," if v else ""}"video_{v:06d}": [{dets}]')
        fh.write("}}")
    return path
