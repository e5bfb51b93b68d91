"""Reading Squarespace's values: money objects, times, rates and lists.

Squarespace's Commerce APIs print money as ``{"currency": "USD", "value": "55.00"}`` (the value a
decimal string) and times as ISO 8601 UTC strings with milliseconds (``2016-12-23T15:58:07.187Z``).
The docs warn that an empty array may come as ``null``: every list is read through :func:`objects`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import MalformedPayload
from integrator import money

__all__ = ["as_mapping", "currency_of", "money_value", "objects", "parse_time", "rate", "rfc3339"]

ZERO = Decimal(0)


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else MalformedPayload naming ``what``."""
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"squarespace: {what} is not an object")
    return value


def objects(container: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """``container[key]`` as a list of objects; missing or ``null`` is empty."""
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"squarespace: {key} is not a list")
    return [as_mapping(item, f"an entry of {key}") for item in value]


def currency_of(obj: Any, what: str) -> str:
    """The ISO code of a money object."""
    code = as_mapping(obj, what).get("currency")
    try:
        return money.normalize_currency(str(code or ""))
    except money.UnknownCurrency as exc:
        raise MalformedPayload(f"squarespace: {what} currency: {exc}") from exc


def money_value(obj: Any, currency: str, what: str, *, required: bool = False) -> Decimal:
    """The exact amount of a money object, which must be in ``currency``; missing is zero unless
    ``required``."""
    if obj is None:
        if required:
            raise MalformedPayload(f"squarespace: missing {what}")
        return money.zero(currency)
    found = currency_of(obj, what)
    if found != currency:
        raise MalformedPayload(f"squarespace: {what} is in {found}, expected {currency}")
    value = obj.get("value")
    if isinstance(value, float):
        value = repr(value)
    try:
        return money.parse_amount(value, currency)
    except money.InvalidAmount as exc:
        raise MalformedPayload(f"squarespace: bad {what} {value!r} in {currency}: {exc}") from exc


def rate(value: Any, what: str) -> Decimal:
    """A tax rate as a fraction. Squarespace sends a decimal string; a value above 1 is read as a
    percentage (``"8.875"`` -> 0.08875), so either way of writing a rate is understood."""
    if value is None or value == "":
        return ZERO
    try:
        result = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"squarespace: bad {what} {value!r}") from exc
    if not result.is_finite() or result < 0:
        raise MalformedPayload(f"squarespace: bad {what} {value!r}")
    return result / 100 if result > 1 else result


def parse_time(value: Any, what: str) -> datetime:
    """An ISO 8601 time; Squarespace's are UTC (``Z``); one without an offset is read as UTC."""
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"squarespace: missing {what}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"squarespace: bad {what} {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """A time as Squarespace's filters want it: ``YYYY-MM-DDThh:mm:ss.sssZ``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
