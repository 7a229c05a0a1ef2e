"""The types the report expects in a run's files (``metrics.json``, ``final.json``, ``run.json``, ``config.yaml``).

A run folder is data like any other: a value of the wrong type is an input error naming the file and the field
(``RUN/metrics.json: detection.soft.average_map must be a number, got 'high'``), never a crash while drawing.

A schema is a type or a tuple of types (``bool`` never counts as a number), ``[schema]`` for a list of such
items, or a dict for an object: ``{str: schema}`` types every value, ``{"key": schema}`` a required field and
``{"?key": schema}`` an optional one; fields not named are not checked (the report does not read them).
"""

from __future__ import annotations

import os
from typing import Any

from cotal.errors import DataError
from cotal.utils.text import short_repr

NUMBER = (int, float)
_NAMES = {int: "an integer", float: "a number", str: "a string", type(None): "null", bool: "true or false"}

# Ground-truth clustering scores of a round, as the report plots them.
CLUSTER_KEYS = ("purity", "ari", "nmi_geometric", "nmi_arithmetic")
_DETECTION = {
    "tiou_thresholds": [NUMBER],
    "map_per_tiou": [NUMBER],
    "average_map": NUMBER,
    "ap": {str: [NUMBER]},
    "num_gt": {str: int},
}
_OPTIONAL_NUMBER = (int, float, type(None))
_CENTER = {
    "center": bool,
    "setting": (bool, str),
    "threshold": NUMBER,
    **{f"?{k}": _OPTIONAL_NUMBER for k in ("video_share", "silhouette", "alternative_silhouette")},
}
METRICS = {
    "?rounds": [{"round": int, **{f"?{k}": NUMBER for k in CLUSTER_KEYS}}],
    "?detection": {str: _DETECTION},
    "?timings_s": {str: NUMBER},
    "?selected_round": int,
    "?selection": {"rule": str, "?agreement": {str: NUMBER}},
    "?choices": {"?center": _CENTER},
}
CLUSTERING = {"num_clusters": int, "?auto_scores": (dict, type(None))}
FINAL = {"?class_names": [str], "models": {str: object}}
RUN_INFO = {"?invocations": [{"?argv": [str]}], "?versions": {}, "?data": str}
CONFIG = {"?pipeline": {"?tiou_thresholds": [NUMBER], "?streams": [str]}, "?train": {}}


def describe(schema: Any) -> str:
    """What a value of ``schema`` is, in words."""
    if isinstance(schema, list):
        return "a list"
    if isinstance(schema, dict):
        return "an object"
    kinds = schema if isinstance(schema, tuple) else (schema,)
    if kinds == NUMBER:
        return "a number"
    return " or ".join(_NAMES.get(k, k.__name__) for k in kinds)


def _matches(value: Any, schema: Any) -> bool:
    if isinstance(schema, list):
        return isinstance(value, list)
    if isinstance(schema, dict):
        return isinstance(value, dict)
    if schema is object:
        return True
    kinds = schema if isinstance(schema, tuple) else (schema,)
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def check_fields(value: Any, schema: Any, source: str | os.PathLike, where: str = "") -> Any:
    """Return ``value`` if it matches ``schema`` (see the module docstring).

    Raises:
        DataError: ``source: <field> must be <what>, got <value>`` for the first field that does not match.
    """
    if not _matches(value, schema):
        raise DataError(f"{source}: {where or 'the file'} must be {describe(schema)}, got {short_repr(value)}")
    if isinstance(schema, list):
        for i, item in enumerate(value):
            check_fields(item, schema[0], source, f"{where}[{i}]")
    elif isinstance(schema, dict):
        for key, sub in schema.items():
            if key is str:
                for k, v in value.items():
                    check_fields(v, sub, source, f"{where}.{k}" if where else str(k))
                continue
            name = key.removeprefix("?")
            field = f"{where}.{name}" if where else name
            if name in value:
                check_fields(value[name], sub, source, field)
            elif not key.startswith("?"):
                raise DataError(f"{source}: {field} is missing")
    return value


def check_metrics(metrics: Any, source: str | os.PathLike) -> dict[str, Any]:
    """``metrics.json`` as the report reads it: :data:`METRICS`, and a ground-truth count for every class with an AP.

    Raises:
        DataError: naming the file and the field.
    """
    check_fields(metrics, METRICS, source)
    for name, res in metrics.get("detection", {}).items():
        missing = [c for c in res["ap"] if c not in res["num_gt"]]
        if missing:
            raise DataError(f"{source}: detection.{name}.num_gt lacks the class {short_repr(missing[0])}")
    return metrics
