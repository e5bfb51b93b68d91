"""Reading PayPal's value shapes: money objects, timestamps, HATEOAS links.

PayPal's REST APIs spell money two ways:

* v2 (Orders, Payments, Invoicing, Disputes, Transaction Search): ``{"currency_code": "GBP",
  "value": "10.50"}``, the value a decimal string in the currency's own precision ("1500" for JPY,
  which PayPal does not subdivide);
* v1 (the Payments v1 ``sale`` and ``refund`` of ``PAYMENT.SALE.*`` webhooks):
  ``{"total": "10.50", "currency": "GBP"}``, and ``{"value": "0.88", "currency": "GBP"}`` for a
  ``transaction_fee``.

Every amount is read exactly (:func:`integrator.money.parse_amount`): an amount with more decimals
than its ISO currency allows is refused with :class:`MalformedPayload`, never rounded. Some values
are signed (Transaction Search debits are negative): :func:`money_value` keeps the sign.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from integrator import money

__all__ = [
    "as_list",
    "as_mapping",
    "currency_of",
    "last_path_segment",
    "link",
    "midday",
    "money_value",
    "optional_money",
    "parse_date",
    "parse_time",
    "sub",
    "text",
]


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or :class:`MalformedPayload` naming ``what``."""
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"paypal: {what} is not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` as a JSON array (absent or null is an empty list)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"paypal: {what} is not a list")
    return value


def sub(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The nested object at ``key``, or an empty mapping when it is absent or not an object."""
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def text(value: Any) -> str:
    """A string field, or ``""`` for anything else."""
    return value if isinstance(value, str) else ""


def currency_of(obj: Any, what: str) -> str:
    """The ISO code of a v2 (``currency_code``) or v1 (``currency``) money object."""
    data = as_mapping(obj, what)
    code = data.get("currency_code", data.get("currency"))
    if not isinstance(code, str) or not code:
        raise MalformedPayload(f"paypal: {what} has no currency")
    try:
        return money.normalize_currency(code)
    except money.UnknownCurrency as exc:
        raise MalformedPayload(f"paypal: {what}: {exc}") from exc


def money_value(obj: Any, what: str, currency: str | None = None) -> Decimal:
    """The exact signed amount of a money object (``value`` or v1 ``total``).

    When ``currency`` is given the object must be in it: PayPal never mixes currencies inside one
    breakdown except where a field says so (``receivable_amount``), and a mix-up must not be booked.
    """
    data = as_mapping(obj, what)
    code = currency_of(data, what)
    if currency is not None and code != currency:
        raise MalformedPayload(f"paypal: {what} is in {code}, expected {currency}")
    raw = data.get("value", data.get("total"))
    if not isinstance(raw, str) or not raw.strip():
        raise MalformedPayload(f"paypal: {what} has no value")
    try:
        return money.parse_amount(raw, code)
    except money.InvalidAmount as exc:
        raise MalformedPayload(f"paypal: {what}: {exc}") from exc


def optional_money(obj: Any, what: str, currency: str) -> Decimal:
    """Like :func:`money_value`, but an absent object is zero in ``currency``."""
    if obj is None:
        return money.zero(currency)
    return money_value(obj, what, currency)


def parse_time(value: Any, what: str) -> datetime:
    """An aware datetime from PayPal's RFC 3339 strings (``2026-11-20T10:15:30Z``, with or without
    fractions, ``+0000`` offsets as Transaction Search writes them)."""
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"paypal: {what} is missing")
    raw = value.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    elif len(raw) > 5 and raw[-5] in "+-" and raw[-4:].isdigit():
        raw = f"{raw[:-2]}:{raw[-2:]}"  # +0000 -> +00:00
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise MalformedPayload(f"paypal: {what} {value!r} is not a date and time") from exc
    if parsed.tzinfo is None:
        raise MalformedPayload(f"paypal: {what} {value!r} has no time zone")
    return parsed


def parse_date(value: Any, what: str) -> date:
    """A calendar date (``YYYY-MM-DD``) such as an invoice date or a due date."""
    if not isinstance(value, str):
        raise MalformedPayload(f"paypal: {what} is missing")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise MalformedPayload(f"paypal: {what} {value!r} is not a date") from exc


def midday(day: date) -> datetime:
    """A calendar date as an instant: noon UTC falls on the same calendar day in every time zone
    between UTC-11 and UTC+11, so the business day of a date-only document does not shift."""
    return datetime.combine(day, time(12, 0), tzinfo=UTC)


def link(obj: Mapping[str, Any], rel: str) -> str:
    """The ``href`` of the first HATEOAS link with relation ``rel`` (``""`` when there is none)."""
    for item in as_list(obj.get("links"), "links"):
        if isinstance(item, Mapping) and item.get("rel") == rel and isinstance(item.get("href"), str):
            return str(item["href"])
    return ""


def last_path_segment(href: str) -> str:
    """The id at the end of a link (``.../v2/payments/captures/2GG2..`` -> ``2GG2..``)."""
    return href.rstrip("/").rsplit("/", 1)[-1] if href else ""
