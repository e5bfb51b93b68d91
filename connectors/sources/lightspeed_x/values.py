"""Reading X-Series values: JSON numbers as exact Decimals, timestamps, objects and lists.

X-Series sends money as JSON numbers in major units with as many decimals as its own arithmetic
left (``"price": 4.30435`` ex tax for a 4.95 tax-inclusive price). We read them with
``parse_float=Decimal`` so no float ever exists; a pulled record stored as JSON by the inbox comes
back with the same digits as strings, so both spellings are accepted here. Amounts are rounded to
the currency's minor unit only where a document needs them (:mod:`connectors.sources.lightspeed_x.sales`).

Timestamps: API 2.0 writes ``2014-09-18T01:37:56+00:00``; the 0.9 objects found in webhooks write
``2014-09-18 01:37:56`` without a zone, which is UTC (the vendor keeps every timestamp in UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import MalformedPayload

__all__ = ["as_dict", "as_list", "number", "optional_number", "parse_time", "text"]

ZERO = Decimal(0)


def as_dict(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or :class:`MalformedPayload` naming ``what``."""
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"lightspeed_x: {what} is not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` as a JSON array (absent or null is an empty list)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"lightspeed_x: {what} is not a list")
    return value


def number(value: Any, what: str) -> Decimal:
    """An exact Decimal from a JSON number (already a Decimal), an integer or a numeric string."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        # A float here means someone parsed the JSON without parse_float=Decimal: refuse, never guess.
        raise MalformedPayload(f"lightspeed_x: {what} is not an exact number ({value!r})")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise MalformedPayload(f"lightspeed_x: {what} is not a number ({value!r})") from None
    else:
        raise MalformedPayload(f"lightspeed_x: {what} is not a number ({value!r})")
    if not result.is_finite() or abs(result) >= Decimal("1e15"):
        raise MalformedPayload(f"lightspeed_x: {what} is out of range ({value!r})")
    return result


def optional_number(obj: Mapping[str, Any], key: str, what: str) -> Decimal | None:
    """``obj[key]`` as a number, or None when absent or null."""
    value = obj.get(key)
    return None if value is None or value == "" else number(value, what)


def text(value: Any) -> str:
    """A string field (None becomes empty)."""
    return "" if value is None else str(value)


def parse_time(value: Any, what: str) -> datetime:
    """A timezone-aware datetime from either X-Series timestamp spelling (naive means UTC)."""
    if not isinstance(value, str) or not value.strip():
        raise MalformedPayload(f"lightspeed_x: {what} is missing")
    raw = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedPayload(f"lightspeed_x: {what} is not a timestamp ({value!r})") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
