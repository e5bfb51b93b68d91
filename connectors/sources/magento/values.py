"""Reading Magento's values: money in the emitted currency, times, ids, objects.

Magento's REST API sends money as JSON numbers taken from ``decimal(20,4)`` columns, each amount
twice: in the order's currency (``grand_total``) and in the store's base currency
(``base_grand_total``). :class:`Amounts` reads one side consistently, so a document never mixes
the two. Observer webhooks and older exports send the same numbers as strings (``"5.0000"``).

Magento keeps four decimals and rounds with its own precision, so an amount can carry more
decimals than its currency has (a yen store rounding tax to cents). Such an amount is rounded
half-up to the currency's minor unit and the field is listed in :attr:`Amounts.rounded`; the
journal puts any difference to the vendor's rounded total on the rounding account, so no unit is
lost and none is invented silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import MalformedPayload
from integrator import money

__all__ = [
    "Amounts",
    "as_list",
    "as_mapping",
    "child",
    "decimal",
    "entity_id",
    "extension",
    "objects",
    "parse_time",
    "text",
]

ZERO = Decimal(0)

#: Base-currency twins whose names do not follow ``base_<name>`` (Magento's column-length limits
#: and the gift-wrapping module's own naming).
_BASE_NAMES = {
    "shipping_discount_tax_compensation_amount": "base_shipping_discount_tax_compensation_amnt",
    "weee_tax_applied_row_amount": "base_weee_tax_applied_row_amnt",
    "gw_price": "gw_base_price",
    "gw_tax_amount": "gw_base_tax_amount",
    "gw_items_price": "gw_items_base_price",
    "gw_items_tax_amount": "gw_items_base_tax_amount",
    "gw_card_price": "gw_card_base_price",
    "gw_card_tax_amount": "gw_card_base_tax_amount",
}


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else MalformedPayload naming ``what``."""
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"magento: {what} is not an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    """``value`` as a list (``None`` is empty), else MalformedPayload naming ``what``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"magento: {what} is not a list")
    return value


def objects(container: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """``container[key]`` as a list of JSON objects (missing or null is empty)."""
    return [as_mapping(item, f"an entry of {key}") for item in as_list(container.get(key), key)]


def child(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``obj[key]`` when it is an object, else an empty one (Magento omits or nulls them)."""
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def extension(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's ``extension_attributes`` (Magento sends ``[]`` for an empty one)."""
    ext = obj.get("extension_attributes")
    return ext if isinstance(ext, Mapping) else {}


def decimal(value: Any, what: str) -> Decimal:
    """A number (JSON number, Decimal or numeric string) as an exact Decimal; ``None`` is zero.

    A float can only reach us if someone decoded JSON without ``parse_float=Decimal``; its
    ``repr`` is the shortest text that reads back to it, i.e. the digits Magento printed."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise MalformedPayload(f"magento: bad {what} {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation as exc:
        raise MalformedPayload(f"magento: bad {what} {value!r}") from exc
    if not result.is_finite() or abs(result) >= Decimal("1e15"):
        raise MalformedPayload(f"magento: bad {what} {value!r}")
    return result


def text(value: Any) -> str:
    """A value as text (``None`` is empty)."""
    return "" if value is None else str(value)


def entity_id(value: Any, what: str) -> str:
    """A Magento numeric id (sent as a number, or as a string by observer payloads) as text."""
    if isinstance(value, bool) or value is None or value == "":
        raise MalformedPayload(f"magento: missing {what}")
    if isinstance(value, int | Decimal) and int(value) == value and value > 0:
        return str(int(value))
    if isinstance(value, str) and value.strip().isdigit():
        return str(int(value.strip()))
    raise MalformedPayload(f"magento: bad {what} {value!r}")


def parse_time(value: Any, what: str) -> datetime:
    """Magento's ``YYYY-MM-DD HH:MM:SS`` timestamps are UTC without an offset; one with an
    offset (a customised export) is taken as it says."""
    if not isinstance(value, str) or not value.strip():
        raise MalformedPayload(f"magento: missing {what}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"magento: bad {what} {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass
class Amounts:
    """Reads the amounts of Magento objects in one currency: the base twins (``base_*``) when
    ``use_base``, the order-currency fields otherwise. Collects the names of fields it had to
    round (see the module docstring)."""

    currency: str
    use_base: bool
    rounded: list[str] = field(default_factory=list)

    def name(self, field_name: str) -> str:
        """The field that holds ``field_name``'s amount in this currency."""
        if not self.use_base:
            return field_name
        return _BASE_NAMES.get(field_name, f"base_{field_name}")

    def raw(self, obj: Mapping[str, Any], field_name: str) -> Decimal:
        """The exact value, unrounded (for unit prices, which may carry four decimals)."""
        key = self.name(field_name)
        return decimal(obj.get(key), key)

    def get(self, obj: Mapping[str, Any], field_name: str) -> Decimal:
        """The amount of ``field_name`` in this currency, quantised to its minor unit."""
        key = self.name(field_name)
        value = decimal(obj.get(key), key)
        exact = money.quantize(value, self.currency)
        if exact != value:
            self.rounded.append(key)
        return exact

    def has(self, obj: Mapping[str, Any], field_name: str) -> bool:
        """Whether the object carries the field at all (``null`` counts as absent)."""
        return obj.get(self.name(field_name)) is not None

    def zero(self) -> Decimal:
        """Zero in this currency."""
        return money.zero(self.currency)
