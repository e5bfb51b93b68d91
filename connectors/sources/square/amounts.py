"""Reading Square's value shapes: ``Money`` objects, RFC 3339 timestamps, decimal quantities.

Square sends every amount as a ``Money`` object ``{"amount": <int in the smallest unit>,
"currency": "GBP"}``: pence for GBP, cents for USD, whole yen for JPY (a 0-decimal currency, so
``{"amount": 1500, "currency": "JPY"}`` is 1500 yen). A few Payouts API examples spell the key
``currency_code``; we accept both so a payout is never dropped over a spelling. Anything that is
not an integer amount with a known ISO-4217 code is refused with :class:`MalformedPayload`
rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import MalformedPayload
from integrator import money

__all__ = ["as_dict", "as_list", "money_amount", "money_currency", "parse_quantity", "parse_time"]


def as_dict(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or :class:`MalformedPayload` naming ``what``."""
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"square: {what} is not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` as a JSON array (absent/null is an empty list)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"square: {what} is not a list")
    return value


def money_currency(value: Any, what: str) -> str:
    """The ISO currency code of a Square ``Money`` object."""
    obj = as_dict(value, what)
    code = obj.get("currency") or obj.get("currency_code")
    if not isinstance(code, str) or not money.is_known_currency(code):
        raise MalformedPayload(f"square: {what} has no known currency ({code!r})")
    return money.normalize_currency(code)


def money_amount(value: Any, currency: str, what: str, *, required: bool = True) -> Decimal:
    """The Decimal amount of a Square ``Money`` object, checked against the document currency.

    An absent Money (``None``) is zero unless ``required``. A Money in another currency than the
    document's is refused: Square never mixes currencies inside one order, so it means corruption.
    """
    if value is None:
        if required:
            raise MalformedPayload(f"square: {what} is missing")
        return money.zero(currency)
    obj = as_dict(value, what)
    amount = obj.get("amount")
    if amount is None:
        if required:
            raise MalformedPayload(f"square: {what} has no amount")
        return money.zero(currency)
    if obj.get("currency") or obj.get("currency_code"):
        own = money_currency(obj, what)
        if own != currency:
            raise MalformedPayload(f"square: {what} is in {own}, the document is in {currency}")
    try:
        return money.from_minor(amount, currency)
    except money.InvalidAmount as exc:
        raise MalformedPayload(f"square: {what}: {exc}") from exc


def parse_time(value: Any, what: str) -> datetime:
    """An RFC 3339 timestamp (``2024-05-01T10:15:30.123Z``) as an aware datetime."""
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"square: {what} is missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"square: {what} is not an RFC 3339 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise MalformedPayload(f"square: {what} has no UTC offset: {value!r}")
    return parsed


def parse_quantity(value: Any, what: str) -> Decimal:
    """A line quantity: Square sends a decimal string (``"2"``, ``"1.5"`` for measured goods)."""
    if not isinstance(value, str):
        raise MalformedPayload(f"square: {what} quantity must be a decimal string, got {value!r}")
    try:
        quantity = Decimal(value)
    except InvalidOperation as exc:
        raise MalformedPayload(f"square: {what} quantity {value!r} is not a number") from exc
    if not quantity.is_finite() or quantity <= 0:
        raise MalformedPayload(f"square: {what} quantity {value!r} must be positive")
    return quantity
