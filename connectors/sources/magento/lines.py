"""Magento item rows, shipping and taxes -> canonical lines, shared by orders, credit memos and
invoices (their items carry the same amount fields).

How Magento's item amounts fit together (per row, in either currency):

* ``row_total`` is the price without tax before discount; ``row_total_incl_tax`` with tax;
* ``discount_amount`` is the row's discount, tax-inclusive when the store applies discounts on
  prices including tax; ``discount_tax_compensation_amount`` is then the tax part of it;
* ``tax_amount`` is the tax charged after the discount.

So the net revenue of a row is ``row_total - discount_amount + discount_tax_compensation_amount``
and what the customer pays for it is that plus ``tax_amount``: this is how Magento's
``grand_total`` adds up, and every line built here reproduces it exactly. Tax-exclusive lines keep
Magento's ``price``; tax-inclusive lines keep ``price_incl_tax`` and a discount that makes the
line add up (a negative one, from Magento rounding the two sides separately, is left to the
rounding account instead).

Which rows are priced: a configurable product's child row carries no amounts (its parent does);
a bundle priced from its children carries them on the children and none on the parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from integrator import money
from integrator.canonical import LineItem, Party, ShippingLine, TaxLine

from . import values as v

__all__ = [
    "OrderContext",
    "line_from_item",
    "order_context",
    "priced_order_items",
    "shipping_from",
    "spread_tax",
]

ZERO = Decimal(0)
UNIT_PRICE_PLACES = Decimal("0.0001")  # what a money column stores (integrator.models.fields)
GIFT_CARD_TYPES = frozenset({"giftcard"})


@dataclass(frozen=True)
class OrderContext:
    """What credit memos and invoices need to know about their order: the priced items and their
    product types, each item's tax breakdown (rates and titles), the shipping taxes, the payment
    method and the customer. Built by :func:`order_context` in the emitted currency."""

    order_id: str
    increment_id: str = ""
    method_code: str = ""
    items: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    priced_item_ids: frozenset[str] = frozenset()
    item_taxes: Mapping[str, tuple[TaxLine, ...]] = field(default_factory=dict)
    shipping_taxes: tuple[TaxLine, ...] = ()
    order_taxes: tuple[TaxLine, ...] = ()
    customer: Party | None = None
    known: bool = True  # False when the order could not be read: fall back on the rows themselves


def _item_id(item: Mapping[str, Any]) -> str:
    return v.text(item.get("item_id") or item.get("entity_id"))


def _parent_id(item: Mapping[str, Any]) -> str:
    parent = item.get("parent_item_id")
    if not parent and isinstance(item.get("parent_item"), Mapping):
        parent = item["parent_item"].get("item_id")
    return v.text(parent)


def _carries_amounts(item: Mapping[str, Any]) -> bool:
    return any(
        v.decimal(item.get(k), k)
        for k in ("base_row_total", "row_total", "base_tax_amount", "base_discount_amount")
    )


def priced_order_items(items: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The order rows that carry the money (see the module docstring), in Magento's order."""
    by_id = {_item_id(it): it for it in items}
    children: dict[str, list[Mapping[str, Any]]] = {}
    for it in items:
        parent = _parent_id(it)
        if parent:
            children.setdefault(parent, []).append(it)

    def priced_by_children(parent: Mapping[str, Any]) -> bool:
        kids = children.get(_item_id(parent), [])
        return parent.get("product_type") == "bundle" and any(_carries_amounts(k) for k in kids)

    result = []
    for it in items:
        parent_id = _parent_id(it)
        if parent_id and parent_id in by_id:
            if priced_by_children(by_id[parent_id]):
                result.append(it)
            continue
        if priced_by_children(it):
            continue
        result.append(it)
    return result


def _tax_line(entry: Mapping[str, Any], amounts: v.Amounts) -> TaxLine:
    """One applied tax (``code``, ``title``, ``percent``, ``amount``/``base_amount``) as a TaxLine."""
    code = v.text(entry.get("code") or entry.get("tax_code"))
    percent = v.decimal(entry.get("percent", entry.get("tax_percent")), "tax percent")
    return TaxLine(
        title=v.text(entry.get("title")) or code or "Tax",
        rate=(percent / 100).normalize() if percent else ZERO,
        amount=amounts.get(entry, "amount"),
        code=code,
    )


def _party(order: Mapping[str, Any]) -> Party | None:
    """Only what the books need: id, name, email, company, VAT number (no addresses)."""
    billing = v.child(order, "billing_address")
    company_attrs = v.extension(order).get("company_order_attributes")
    company = v.text(billing.get("company"))
    if not company and isinstance(company_attrs, Mapping):
        company = v.text(company_attrs.get("company_name"))
    first = v.text(order.get("customer_firstname") or billing.get("firstname"))
    last = v.text(order.get("customer_lastname") or billing.get("lastname"))
    guest = bool(order.get("customer_is_guest")) or not order.get("customer_id")
    party = Party(
        external_id="" if guest else v.text(order.get("customer_id")),
        name=f"{first} {last}".strip(),
        email=v.text(order.get("customer_email") or billing.get("email")),
        company=company,
        tax_number=v.text(billing.get("vat_id") or order.get("customer_taxvat")),
    )
    return party if any((party.external_id, party.name, party.email, party.company)) else None


def order_context(order: Mapping[str, Any], amounts: v.Amounts) -> OrderContext:
    """Read what credit memos and invoices need from their order."""
    ext = v.extension(order)
    items = v.objects(order, "items")
    item_taxes: dict[str, tuple[TaxLine, ...]] = {}
    shipping: tuple[TaxLine, ...] = ()
    for entry in v.objects(ext, "item_applied_taxes"):
        lines = tuple(_tax_line(t, amounts) for t in v.objects(entry, "applied_taxes"))
        if entry.get("type") == "shipping":
            shipping = lines
        elif entry.get("item_id") is not None:
            item_taxes[v.text(entry.get("item_id"))] = lines
    order_taxes = tuple(_tax_line(t, amounts) for t in v.objects(ext, "applied_taxes"))
    payment = v.child(order, "payment")
    return OrderContext(
        order_id=v.entity_id(order.get("entity_id"), "order entity_id"),
        increment_id=v.text(order.get("increment_id")),
        method_code=v.text(payment.get("method")),
        items={_item_id(it): it for it in items},
        priced_item_ids=frozenset(_item_id(it) for it in priced_order_items(items)),
        item_taxes=item_taxes,
        shipping_taxes=shipping,
        order_taxes=order_taxes,
        customer=_party(order),
    )


def spread_tax(
    total: Decimal, template: tuple[TaxLine, ...], currency: str, *, fallback_title: str, base: Decimal
) -> tuple[TaxLine, ...]:
    """Tax lines for ``total``: the template's rates and titles with their amounts when they add
    up to it, else ``total`` split over them in proportion (exact to the unit). Without a template
    one line carries it, at the rate it represents on ``base`` (the taxed amount)."""
    if template:
        if sum((t.amount for t in template), ZERO) == total:
            return template
        weights = [t.amount for t in template]
        if not any(weights):
            weights = [t.rate for t in template]
        parts = money.allocate(total, weights, currency)
        return tuple(TaxLine(t.title, t.rate, p, t.code) for t, p in zip(template, parts, strict=True))
    if not total:
        return ()
    rate = (total / base).quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP) if base else ZERO
    return (TaxLine(title=fallback_title, rate=rate, amount=total),)


def _unit_price(
    gross: Decimal, quantity: Decimal, candidate: Decimal, currency: str
) -> tuple[Decimal, Decimal]:
    """Quantity and unit price whose product rounds to the row's amount: Magento's own unit price
    when it does (the usual case), else one derived from the row, else the row as one unit."""
    if quantity > 0:
        if money.quantize(quantity * candidate, currency) == gross:
            return quantity, candidate
        derived = (gross / quantity).quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
        if money.quantize(quantity * derived, currency) == gross:
            return quantity, derived
    return Decimal(1), gross


def line_from_item(
    item: Mapping[str, Any],
    amounts: v.Amounts,
    *,
    quantity: Decimal,
    inclusive: bool,
    tax_template: tuple[TaxLine, ...],
    fallback_title: str,
    line_id: str,
    kind: str = "product",
) -> LineItem:
    """One canonical line from a Magento order, credit memo or invoice row (module docstring)."""
    cur = amounts.currency
    row = amounts.get(item, "row_total")
    discount = amounts.get(item, "discount_amount")
    compensation = amounts.get(item, "discount_tax_compensation_amount")
    tax = amounts.get(item, "tax_amount")
    net = row - discount + compensation
    if kind == "gift_card":
        # A gift card sold is a liability at what the customer paid for it, never taxed.
        qty, unit = _unit_price(row, quantity, amounts.raw(item, "price"), cur)
        return LineItem(
            line_id,
            v.text(item.get("sku")),
            v.text(item.get("name")),
            qty,
            unit,
            discount=row - net,
            kind="gift_card",
        )
    if inclusive:
        gross = amounts.get(item, "row_total_incl_tax") if amounts.has(item, "row_total_incl_tax") else ZERO
        if not gross and (row or tax):
            gross = row + tax + compensation  # rows written before Magento kept the incl-tax total
        line_discount = max(gross - tax - net, money.zero(cur))
        candidate = amounts.raw(item, "price_incl_tax")
    else:
        gross = row
        line_discount = discount - compensation
        candidate = amounts.raw(item, "price")
    qty, unit = _unit_price(gross, quantity, candidate, cur)
    return LineItem(
        line_id=line_id,
        sku=v.text(item.get("sku")),
        name=v.text(item.get("name")),
        quantity=qty,
        unit_price=unit,
        discount=line_discount,
        tax_lines=spread_tax(tax, tax_template, cur, fallback_title=fallback_title, base=net),
        kind="fee" if kind == "fee" else "product",
    )


def shipping_from(
    obj: Mapping[str, Any],
    amounts: v.Amounts,
    *,
    inclusive: bool,
    discount: Decimal,
    compensation: Decimal,
    tax_template: tuple[TaxLine, ...],
    title: str,
) -> ShippingLine | None:
    """The shipping of an order, credit memo or invoice (``shipping_amount`` without tax,
    ``shipping_incl_tax``, ``shipping_tax_amount``), with the part of the discount Magento gave
    on it; None when there is no shipping money at all."""
    cur = amounts.currency
    amount = amounts.get(obj, "shipping_amount")
    tax = amounts.get(obj, "shipping_tax_amount")
    if not amount and not tax and not discount:
        return None
    net = amount - discount + compensation
    tax_lines = spread_tax(tax, tax_template, cur, fallback_title="Shipping tax", base=net)
    if inclusive:
        gross = amounts.get(obj, "shipping_incl_tax") if amounts.has(obj, "shipping_incl_tax") else ZERO
        if not gross:
            gross = amount + tax + compensation
        return ShippingLine(title, gross, max(gross - tax - net, money.zero(cur)), tax_lines)
    return ShippingLine(title, amount, discount - compensation, tax_lines)


def fallback_tax_title(order_taxes: tuple[TaxLine, ...], percent: Decimal) -> str:
    """The title of a tax Magento did not itemise: the order's only tax when it has one."""
    if len(order_taxes) == 1:
        return order_taxes[0].title
    return f"Tax {percent.normalize()}%" if percent else "Tax"
