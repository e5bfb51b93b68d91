"""Reading Shopify's values: money (plain strings and ``*_set`` money bags), rates, times, ids.

Shopify's REST payloads carry money twice: a plain decimal string in the shop currency
(``"total_price": "54.99"``) and, since API 2019-10, a money bag
``"total_price_set": {"shop_money": {...}, "presentment_money": {...}}``. Everything here reads the
shop money from the bag when there is one and falls back to the plain field otherwise, and refuses
(with :class:`~connectors.base.MalformedPayload`) any amount that is not exact in its currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import MalformedPayload
from integrator import money

__all__ = [
    "amount",
    "as_list",
    "as_mapping",
    "external_id",
    "money_bag",
    "objects",
    "parse_time",
    "presentment_money",
    "rate",
    "shop_money",
]

ZERO = Decimal(0)


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else MalformedPayload naming ``what``."""
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"shopify: {what} is not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` as a list (``None`` is an empty list), else MalformedPayload naming ``what``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"shopify: {what} is not a list")
    return value


def objects(container: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """``container[key]`` as a list of JSON objects (missing or null is empty)."""
    return [as_mapping(item, f"an entry of {key}") for item in as_list(container.get(key), key)]


def amount(value: Any, currency: str, what: str = "amount") -> Decimal:
    """An exact amount in ``currency`` from a Shopify value.

    Shopify sends decimal strings; a few newer fields (``refund_line_items[].subtotal``) arrive as
    JSON numbers, which Python has already turned into floats. A float's ``repr`` is the shortest
    text that reads back to it, i.e. the digits Shopify printed, so we parse that text and let
    :func:`integrator.money.parse_amount` refuse anything with more decimals than the currency has.
    """
    if isinstance(value, float):
        value = repr(value)
    try:
        return money.parse_amount(value, currency)
    except (money.InvalidAmount, money.UnknownCurrency) as exc:
        raise MalformedPayload(f"shopify: bad {what} {value!r} in {currency}: {exc}") from exc


def money_bag(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """The ``<key>_set`` money bag of ``obj``, if Shopify sent one."""
    bag = obj.get(f"{key}_set")
    return bag if isinstance(bag, Mapping) else None


def shop_money(obj: Mapping[str, Any], key: str, currency: str, *, required: bool = False) -> Decimal:
    """The shop-currency amount of ``obj[key]``: ``<key>_set.shop_money`` first, then the plain field.

    A missing value is zero unless ``required``. The bag's currency must be the shop currency.
    """
    bag = money_bag(obj, key)
    if bag is not None and isinstance(bag.get("shop_money"), Mapping):
        shop = bag["shop_money"]
        code = shop.get("currency_code")
        if code and money.is_known_currency(code) and money.normalize_currency(code) != currency:
            raise MalformedPayload(f"shopify: {key}_set.shop_money is in {code}, expected {currency}")
        return amount(shop.get("amount"), currency, key)
    value = obj.get(key)
    if value is None:
        if required:
            raise MalformedPayload(f"shopify: missing {key}")
        return money.zero(currency)
    return amount(value, currency, key)


def presentment_money(obj: Mapping[str, Any], key: str) -> tuple[str, Decimal] | None:
    """``(currency, amount)`` of ``<key>_set.presentment_money``, or None when not sent."""
    bag = money_bag(obj, key)
    if bag is None or not isinstance(bag.get("presentment_money"), Mapping):
        return None
    pres = bag["presentment_money"]
    try:
        code = money.normalize_currency(pres.get("currency_code", ""))
    except money.UnknownCurrency as exc:
        raise MalformedPayload(f"shopify: {key}_set presentment currency: {exc}") from exc
    return code, amount(pres.get("amount"), code, key)


def rate(value: Any) -> Decimal:
    """A tax rate as a Decimal fraction (Shopify sends a JSON number such as ``0.2``).

    Converted through ``repr`` for the same reason as :func:`amount`: it is the text Shopify sent.
    """
    if value is None:
        return ZERO
    if isinstance(value, bool):
        raise MalformedPayload(f"shopify: bad tax rate {value!r}")
    try:
        result = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"shopify: bad tax rate {value!r}") from exc
    if not result.is_finite() or result < 0 or result > 10:
        raise MalformedPayload(f"shopify: bad tax rate {value!r}")
    return result


def parse_time(value: Any, what: str) -> datetime:
    """An ISO-8601 timestamp with its offset (Shopify always sends one); naive ones are refused."""
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"shopify: missing {what}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"shopify: bad {what} {value!r}") from exc
    if parsed.tzinfo is None:
        raise MalformedPayload(f"shopify: {what} {value!r} has no UTC offset")
    return parsed


def external_id(value: Any, what: str) -> str:
    """A Shopify numeric id as our string external id."""
    if isinstance(value, bool) or value is None or value == "":
        raise MalformedPayload(f"shopify: missing {what}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    raise MalformedPayload(f"shopify: bad {what} {value!r}")
