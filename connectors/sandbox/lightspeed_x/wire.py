"""JSON as X-Series writes it: money as bare JSON numbers, never strings, never floats.

Python's ``json`` cannot write a :class:`~decimal.Decimal` as a number, so the sandbox writes its
objects with :func:`dumps`, which spells Decimals out in plain notation (``4.30435``, ``1500``).
Read them back with ``json.loads(text, parse_float=Decimal)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads"]


def dumps(value: Any) -> str:
    """JSON text with Decimals as plain numbers."""
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text if text not in ("-0",) else "0"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("the X-Series sandbox never writes floats")
    return json.dumps(value)


def loads(text: str | bytes) -> Any:
    """JSON with every fraction read as a Decimal."""
    return json.loads(text, parse_float=Decimal)
