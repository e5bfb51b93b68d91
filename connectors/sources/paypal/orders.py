"""PayPal Checkout orders (Orders v2) -> Sale documents, with their captures as tenders.

An order's purchase unit states what the buyer paid for::

    amount = item_total + tax_total + shipping + handling + insurance - shipping_discount - discount

Items carry a unit price and a tax amount *per unit*; taxes have no name or rate, so each line's
tax is named by the channel's configured rate that reproduces it (see :mod:`.context`), else
``Tax <rate>%`` with the rate it implies. Prices are exclusive of tax (PayPal adds tax on top).
The order-level ``discount`` is spread over the lines in proportion to their value (the canonical
model allocates discounts to what they reduce); ``shipping_discount`` reduces shipping. Tax that
the items do not account for (``tax_total`` minus the items' taxes) is the tax on shipping.
Handling and insurance are fee lines. An order without items is one line for ``item_total``.

A sale is made only once money has moved: its tenders are the purchase unit's completed captures
(``paypal`` method, the capture id as reference, PayPal's fee for information). An order of one
purchase unit is booked under the order id; each unit of a multi-unit order is its own sale
(``<order id>/<reference_id>``), so a refund finds the sale of the capture it refunds.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import (
    CanonicalDocument,
    Discount,
    ExchangeRate,
    LineItem,
    Party,
    Payment,
    Sale,
    ShippingLine,
    TaxLine,
    Tender,
)

from .context import GATEWAY, METHOD, Context
from .payments import capture_link, payment_from_capture
from .values import as_list, as_mapping, currency_of, money_value, optional_money, parse_time, sub, text

__all__ = ["documents_from_order", "sale_id_for_capture", "sale_id_of_unit"]

ZERO = Decimal(0)
_RATE_PLACES = Decimal("0.0001")


def _units(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    units = [as_mapping(u, "purchase unit") for u in as_list(order.get("purchase_units"), "purchase_units")]
    if not units:
        raise MalformedPayload(f"paypal: order {order.get('id')} has no purchase units")
    return units


def sale_id_of_unit(order: Mapping[str, Any], unit: Mapping[str, Any]) -> str:
    """The sale's external id: the order id, qualified by the unit's reference for multi-unit orders."""
    order_id = str(order.get("id") or "")
    if len(as_list(order.get("purchase_units"), "purchase_units")) <= 1:
        return order_id
    return f"{order_id}/{text(unit.get('reference_id')) or 'default'}"


def _captures(unit: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    payments = unit.get("payments")
    if not isinstance(payments, Mapping):
        return []
    return [as_mapping(c, "capture") for c in as_list(payments.get("captures"), "captures")]


def sale_id_for_capture(order_obj: Any, capture_id: str) -> str:
    """The sale a capture of this order pays (the order id when no unit lists the capture)."""
    order = as_mapping(order_obj, "order")
    for unit in _units(order):
        if any(c.get("id") == capture_id for c in _captures(unit)):
            return sale_id_of_unit(order, unit)
    return str(order.get("id") or "")


def _tax_line(
    tax: Decimal, bases: list[Decimal], quantity: Decimal, currency: str, ctx: Context
) -> TaxLine | None:
    """Name a tax amount by the configured rate that reproduces it (on the discounted or the
    undiscounted base, rounded per unit or per line), else by the rate it implies."""
    if tax == 0:
        return None
    slack = money.quantum(currency) * max(quantity, Decimal(1))
    for title, rate in ctx.tax_rates():
        for base in bases:
            if abs(money.quantize(base * rate, currency) - tax) <= slack:
                return TaxLine(title=title, rate=rate, amount=tax)
    base = next((b for b in bases if b), ZERO)
    rate = (tax / base).quantize(_RATE_PLACES) if base else ZERO
    percent = (rate * 100).normalize()
    return TaxLine(title=f"Tax {percent:f}%", rate=rate, amount=tax)


def _breakdown(unit: Mapping[str, Any], currency: str, what: str) -> dict[str, Decimal]:
    """The purchase unit's amount breakdown, each part zero when absent."""
    amount = as_mapping(unit.get("amount"), f"{what} amount")
    raw = amount.get("breakdown")
    breakdown = raw if isinstance(raw, Mapping) else {}
    keys = ("item_total", "tax_total", "shipping", "handling", "insurance", "shipping_discount", "discount")
    return {k: optional_money(breakdown.get(k), f"{what} breakdown.{k}", currency) for k in keys}


def _lines(
    unit: Mapping[str, Any], currency: str, parts: dict[str, Decimal], what: str, ctx: Context
) -> tuple[list[LineItem], Decimal]:
    """Product lines (discount allocated, taxes named) and the tax they carry."""
    items = [as_mapping(i, "item") for i in as_list(unit.get("items"), f"{what} items")]
    raw: list[tuple[str, str, str, Decimal, Decimal, Decimal]] = []
    for n, item in enumerate(items):
        name = text(item.get("name")) or f"Item {n + 1}"
        quantity_text = text(item.get("quantity")) or "1"
        if not quantity_text.isdigit() or int(quantity_text) <= 0:
            raise MalformedPayload(f"paypal: {what} item {name!r} has quantity {quantity_text!r}")
        quantity = Decimal(quantity_text)
        unit_price = money_value(item.get("unit_amount"), f"{what} item {name!r} unit_amount", currency)
        unit_tax = optional_money(item.get("tax"), f"{what} item {name!r} tax", currency)
        raw.append(
            (name, text(item.get("sku")), text(item.get("category")).lower(), quantity, unit_price, unit_tax)
        )
    if not raw:
        item_total = parts["item_total"] or (
            money_value(unit.get("amount"), f"{what} amount", currency)
            - parts["tax_total"] - parts["shipping"] - parts["handling"] - parts["insurance"]
            + parts["shipping_discount"] + parts["discount"]
        )  # fmt: skip
        raw.append((text(unit.get("description")) or "PayPal order", "", "", Decimal(1), item_total, ZERO))
    grosses = [money.quantize(q * p, currency) for _, _, _, q, p, _ in raw]
    if items and parts["item_total"] and sum(grosses, ZERO) != parts["item_total"]:
        raise MalformedPayload(
            f"paypal: {what}: items add up to {sum(grosses, ZERO)}, item_total says {parts['item_total']}"
        )
    discounts = (
        money.allocate(parts["discount"], grosses, currency) if parts["discount"] else [ZERO] * len(raw)
    )
    lines: list[LineItem] = []
    line_tax = ZERO
    for n, ((name, sku, category, quantity, unit_price, unit_tax), gross, discount) in enumerate(
        zip(raw, grosses, discounts, strict=True)
    ):
        tax_amount = money.quantize(unit_tax * quantity, currency)
        line_tax += tax_amount
        tax_line = _tax_line(tax_amount, [gross, gross - discount], quantity, currency, ctx)
        lines.append(
            LineItem(
                line_id=str(n + 1),
                sku=sku,
                name=name,
                quantity=quantity,
                unit_price=unit_price,
                discount=discount,
                tax_lines=(tax_line,) if tax_line else (),
                category=category,
            )
        )
    for label, key in (("Handling", "handling"), ("Insurance", "insurance")):
        if parts[key]:
            lines.append(
                LineItem(
                    line_id=key, sku="", name=label, quantity=Decimal(1), unit_price=parts[key], kind="fee"
                )
            )
    return lines, line_tax


def _party(order: Mapping[str, Any]) -> Party | None:
    """The payer as the sale's customer (name and email only)."""
    payer = order.get("payer")
    if not isinstance(payer, Mapping):
        return None
    name = sub(payer, "name")
    full = " ".join(x for x in (text(name.get("given_name")), text(name.get("surname"))) if x)
    party = Party(
        external_id=text(payer.get("payer_id")),
        name=text(name.get("full_name")) or full,
        email=text(payer.get("email_address")),
    )
    return party if (party.external_id or party.name or party.email) else None


def _sale_of_unit(
    order: Mapping[str, Any], unit: Mapping[str, Any], captured: list[Payment], ctx: Context
) -> Sale:
    """One purchase unit as a Sale whose tenders are its completed captures."""
    order_id = str(order.get("id"))
    what = f"order {order_id}"
    currency = currency_of(unit.get("amount"), f"{what} amount")
    total = money_value(unit.get("amount"), f"{what} amount", currency)
    parts = _breakdown(unit, currency, what)
    lines, line_tax = _lines(unit, currency, parts, what, ctx)
    shipping: list[ShippingLine] = []
    shipping_tax = parts["tax_total"] - line_tax if parts["tax_total"] else ZERO
    if shipping_tax < 0:
        raise MalformedPayload(
            f"paypal: {what}: items carry {line_tax} tax, tax_total says {parts['tax_total']}"
        )
    if parts["shipping"] or shipping_tax:
        base = parts["shipping"] - parts["shipping_discount"]
        tax_line = _tax_line(shipping_tax, [base, parts["shipping"]], Decimal(1), currency, ctx)
        shipping.append(
            ShippingLine(
                title="Shipping",
                amount=parts["shipping"],
                discount=parts["shipping_discount"],
                tax_lines=(tax_line,) if tax_line else (),
            )
        )
    tenders = tuple(
        Tender(method=METHOD, amount=p.amount, gateway=GATEWAY, reference=p.external_id, fee=p.fee)
        for p in captured
        if p.currency == currency
    )
    discounts = []
    if parts["discount"]:
        discounts.append(Discount(code="discount", amount=parts["discount"], target="order"))
    if parts["shipping_discount"]:
        discounts.append(
            Discount(code="shipping_discount", amount=parts["shipping_discount"], target="shipping")
        )
    rates: list[ExchangeRate] = []
    for p in captured:
        rates.extend(r for r in p.exchange_rates if r not in rates)
    meta = {"order_id": order_id}
    for key in ("invoice_id", "custom_id", "reference_id"):
        if text(unit.get(key)):
            meta[key] = text(unit[key])
    return Sale(
        external_id=sale_id_of_unit(order, unit),
        occurred_at=min(p.occurred_at for p in captured),
        currency=currency,
        total=total,
        lines=tuple(lines),
        prices_include_tax=False,
        number=text(unit.get("invoice_id")) or order_id,
        shipping=tuple(shipping),
        discounts=tuple(discounts),
        tenders=tenders,
        customer=_party(order),
        exchange_rates=tuple(rates),
        source_updated_at=_order_updated(order, ctx),
        metadata=meta,
    )


def _order_updated(order: Mapping[str, Any], ctx: Context) -> Any:
    raw = order.get("update_time") or order.get("create_time")
    return parse_time(raw, "order update_time") if isinstance(raw, str) and raw else ctx.event_time


def documents_from_order(order_obj: Any, ctx: Context) -> list[CanonicalDocument]:
    """Each purchase unit with completed captures as a Sale, followed by a Payment per capture
    (the sale's tender, booking nothing by itself). With ``sales_booked_by=other_channel`` only
    the Payments are made: the shop's own channel books the sale."""
    order = as_mapping(order_obj, "order")
    if not isinstance(order.get("id"), str) or not order.get("id"):
        raise MalformedPayload("paypal: order has no id")
    if order.get("status") == "VOIDED":
        return []
    docs: list[CanonicalDocument] = []
    for unit in _units(order):
        sale_id = sale_id_of_unit(order, unit)
        payments: list[Payment] = []
        for capture in _captures(unit):
            link_to = (
                capture_link(capture, ctx, order_sale_id=sale_id)
                if ctx.books_sales
                else capture_link(capture, ctx)
            )
            payment = payment_from_capture(capture, ctx, link_to)
            if payment is not None:
                payments.append(payment)
        tender_payments = [p for p in payments if p.sale_external_id == sale_id]
        if ctx.books_sales and tender_payments:
            docs.append(_sale_of_unit(order, unit, tender_payments, ctx))
        docs.extend(payments)
    return docs
