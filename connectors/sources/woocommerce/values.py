"""Reading WooCommerce's values: money strings, raw tax weights, GMT times, ids and meta data.

WooCommerce's REST API (v3) prints money as decimal strings rounded to the store's price decimals
(``"total": "29.35"``), refunds with negative amounts, and times twice: ``date_created`` in the
site's time zone and ``date_created_gmt`` in UTC, both *without* an offset. Per-rate tax amounts in
``line_items[].taxes[]`` are the stored, unrounded values (``"0.454545"`` when the store rounds tax
at subtotal), so they are only ever used as weights, never as money.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import MalformedPayload
from integrator import money

__all__ = [
    "amount",
    "as_list",
    "as_mapping",
    "external_id",
    "meta_value",
    "objects",
    "parse_gmt",
    "quantity",
    "spread",
    "weight",
]

ZERO = Decimal(0)


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else MalformedPayload naming ``what``."""
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"woocommerce: {what} is not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` as a list (``None`` is an empty list), else MalformedPayload naming ``what``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"woocommerce: {what} is not a list")
    return value


def objects(container: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """``container[key]`` as a list of JSON objects (missing or null is empty)."""
    return [as_mapping(item, f"an entry of {key}") for item in as_list(container.get(key), key)]


def amount(value: Any, currency: str, what: str) -> Decimal:
    """An exact amount in ``currency``; missing or empty is zero. WooCommerce prints money as
    strings; a JSON number arrives here as a Decimal (the inbox decodes floats as Decimals)."""
    if value is None or value == "":
        return money.zero(currency)
    if isinstance(value, float):  # never produced by our decoders; kept exact through its repr
        value = repr(value)
    try:
        return money.parse_amount(value, currency)
    except (money.InvalidAmount, money.UnknownCurrency) as exc:
        raise MalformedPayload(f"woocommerce: bad {what} {value!r} in {currency}: {exc}") from exc


def weight(value: Any, what: str) -> Decimal:
    """A raw (possibly unrounded) number used only to share a rounded amount out."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise MalformedPayload(f"woocommerce: bad {what} {value!r}")
    try:
        result = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"woocommerce: bad {what} {value!r}") from exc
    if not result.is_finite():
        raise MalformedPayload(f"woocommerce: bad {what} {value!r}")
    return result


def spread(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Share ``total`` out in proportion to ``weights`` so the parts add up to it exactly.

    Non-negative weights use :func:`integrator.money.allocate` (largest remainder). Mixed signs (a
    negative fee line carrying tax) are rounded one by one and the difference goes to the largest
    weight, which is still exact in sum.
    """
    if not weights:
        return []
    if all(w >= 0 for w in weights):
        return money.allocate(total, weights, currency)
    weight_sum = sum(weights, ZERO)
    parts = [money.quantize(total * w / weight_sum, currency) if weight_sum else ZERO for w in weights]
    biggest = max(range(len(weights)), key=lambda i: abs(weights[i]))
    parts[biggest] += total - sum(parts, ZERO)
    return parts


def quantity(value: Any, what: str) -> Decimal:
    """A line quantity (WooCommerce sends integers; plugins may send decimal strings)."""
    if isinstance(value, bool) or value is None:
        raise MalformedPayload(f"woocommerce: bad {what} {value!r}")
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"woocommerce: bad {what} {value!r}") from exc
    if not result.is_finite():
        raise MalformedPayload(f"woocommerce: bad {what} {value!r}")
    return result


def parse_gmt(value: Any, what: str) -> datetime:
    """A ``*_gmt`` timestamp: WooCommerce prints UTC without an offset (``2017-03-22T19:28:08``).
    An explicit offset, if a plugin adds one, is honoured."""
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"woocommerce: missing {what}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"woocommerce: bad {what} {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def external_id(value: Any, what: str) -> str:
    """A WooCommerce numeric id as our string external id."""
    if isinstance(value, bool) or value is None or value == "" or value == 0:
        raise MalformedPayload(f"woocommerce: missing {what}")
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    raise MalformedPayload(f"woocommerce: bad {what} {value!r}")


def meta_value(obj: Mapping[str, Any], key: str) -> Any:
    """The value of ``meta_data[key]`` (the last one wins, as WooCommerce's ``get_meta``), or None."""
    found = None
    for entry in objects(obj, "meta_data"):
        if entry.get("key") == key:
            found = entry.get("value")
    return found
