"""Raw payloads made storable as jsonb: text cleaned, keys made strings, depth bounded."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from charlee_collector.core.text import clean_text


def json_safe(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that PostgreSQL JSONB accepts: clean strings, finite numbers only."""
    if depth > 50:
        return None
    kind = type(value)
    if kind is str:
        return _json_str(value)
    # dict and list first, by exact type: JSON gives only those, and the ABC checks are slow.
    if kind is dict:
        return _json_dict(value, depth)
    if kind is list:
        return _json_list(value, depth)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return _json_dict(value, depth)
    if isinstance(value, list | tuple):
        return _json_list(value, depth)
    return clean_text(str(value))


def _json_str(value: str) -> str | None:
    if value.isascii() and "\x00" not in value:  # most strings: nothing to clean but the ends
        return value.strip() or value
    return clean_text(value) if value.strip() else value.replace("\x00", "")


# A payload's values are mostly strings and ints: those are cleaned here without a recursive
# call each (a json_safe call per value was most of the cost of cleaning a payload's ``raw``).
def _json_dict(value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    if depth >= 50:  # the values would be past the depth limit
        return {_json_key(key): None for key in value}
    clean: dict[str, Any] = {}
    for key, item in value.items():
        key = key.strip() if type(key) is str and key.isascii() and "\x00" not in key else _json_key(key)
        kind = type(item)
        if kind is str:
            clean[key] = _json_str(item)
        elif kind is int or item is None or kind is bool:
            clean[key] = item
        else:
            clean[key] = json_safe(item, depth + 1)
    return clean


def _json_list(value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
    if depth >= 50:
        return [None] * len(value)
    return [_json_str(item) if type(item) is str else json_safe(item, depth + 1) for item in value]


def _json_key(key: Any) -> str:
    return str(clean_text(str(key)) or "")
