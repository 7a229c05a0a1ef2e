"""The one way settings are checked: a typed builder for config dataclasses, and compact range checks.

Every stage keeps its settings in a dataclass in ``<stage>/config.py`` whose enumerated strings are typed
``Literal[...]``. A mapping (a YAML section, keyword arguments) becomes such a dataclass through
:func:`build_config`, which rejects unknown keys, wrongly typed values and strings outside a ``Literal``, naming
the key. A class's ``__post_init__`` calls :func:`check_choices`, so that direct construction
(``DetectConfig(nms="x")``) is as strict as a file, and :func:`check_range` for the per-field ranges. Free of
NumPy and PyTorch: the CLI loads configs before any heavy library.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from cotal.errors import ConfigError
from cotal.utils.text import short_repr

T = TypeVar("T")


def build_config(cls: type[T], mapping: Any, where: str) -> T:
    """An instance of the dataclass ``cls`` built from ``mapping``, every value checked against its annotation.

    Nested dataclasses are built the same way; lists become tuples where the annotation says ``tuple`` and
    integers become floats where it says ``float``. Keys left out take the class's defaults.

    Args:
        cls: a dataclass, e.g. ``DetectConfig``.
        mapping: its settings, e.g. a YAML section or keyword arguments.
        where: dotted name of the section in messages (``"detect"`` -> ``detect.nms: ...``); ``""`` for a
            top-level mapping whose messages the caller prefixes itself (e.g. with a file name).

    Raises:
        ConfigError: one line naming the key: an unknown key, a wrongly typed value, a string outside a
            ``Literal``, or what the class's own checks reject.
    """
    if not isinstance(mapping, dict):
        raise ConfigError(f"{_at(where)}expected a mapping, got {type(mapping).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - names, key=str)
    if unknown:
        raise ConfigError(f"{_at(where)}unknown key {short_repr(unknown[0])}; known keys: {', '.join(sorted(names))}")
    kwargs = {k: _coerce(hints[k], v, _key(where, k)) for k, v in mapping.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{_at(where)}{e}") from None


def check_choices(obj: Any, where: str) -> None:
    """Raise :class:`ConfigError` when a ``Literal``-typed field of the dataclass ``obj`` holds another value."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if typing.get_origin(hints[f.name]) is Literal:
            _coerce(hints[f.name], getattr(obj, f.name), _key(where, f.name))


def check_range(
    obj: Any,
    where: str,
    names: Iterable[str],
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    optional: bool = False,
) -> None:
    """Raise :class:`ConfigError` unless each field ``names`` of ``obj`` is a finite number in the range.

    ``integer`` asks for an ``int`` (never a bool); ``optional`` lets ``None`` pass. The message names the field
    and the range: ``cluster.top_fraction must be a number in (0, 1], got 1.5``.
    """
    for name in names:
        value = getattr(obj, name)
        if value is None and optional:
            continue
        kinds = (int,) if integer else (int, float)
        ok = not isinstance(value, bool) and isinstance(value, kinds) and _finite(value)
        ok = ok and (low is None or (value > low if low_open else value >= low))
        ok = ok and (high is None or (value < high if high_open else value <= high))
        if not ok:
            what = f"{'an integer' if integer else 'a number'} {_describe(low, high, low_open, high_open)}"
            raise ConfigError(f"{_key(where, name)} must be {what}, got {short_repr(value)}")


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond a float's range
        return False


def _describe(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {_num(low)}"
    return f"{'<' if high_open else '<='} {_num(high)}" if high is not None else "(finite)"


def _num(x: float) -> str:
    """A bound as written: integers in full (4294967295, not 4.29497e+09), other numbers short."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _key(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def _kind(tp: Any) -> str:
    """An annotation in words, for messages: ``bool | Literal["auto"]`` is "true/false or 'auto'"."""
    if typing.get_origin(tp) is Literal:
        return " or ".join(map(repr, typing.get_args(tp)))
    if typing.get_origin(tp) in (tuple, list):
        return "a list"
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; lists become tuples, ints become floats."""
    if dataclasses.is_dataclass(tp):
        return build_config(tp, value, where)  # type: ignore[arg-type]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            try:
                return _coerce(arg, value, where)
            except ConfigError:
                continue
        expected = " or ".join(_kind(arg) for arg in args)
        raise ConfigError(f"{where}: expected {expected}, got {short_repr(value)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {short_repr(value)} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {short_repr(value)}")
        item_t = args[0] if args else Any
        items = [_coerce(item_t, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {short_repr(value)}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {short_repr(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {short_repr(value)}")
        if isinstance(value, int) and not _finite(value):
            raise ConfigError(f"{where}: {short_repr(value)} is beyond the range of a number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {short_repr(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {short_repr(value)}")
        return value
    if value is None and tp is type(None):
        return None
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {short_repr(value)}")
    return value
