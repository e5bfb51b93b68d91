"""WooCommerce order -> canonical :class:`~integrator.canonical.Sale`.

What the REST API says, and how it is read:

* Line ``subtotal`` (before coupons) and ``total`` (after coupons) are always **net of tax**, even
  in a store whose prices include tax (``prices_include_tax`` only says how prices were entered).
  So the Sale is emitted tax-exclusive (``prices_include_tax=False``) from WooCommerce's own net
  amounts and rounded taxes, which is exact either way; the store's setting is kept in
  ``metadata["woo_prices_include_tax"]``. Any cent between WooCommerce's rounded parts and its
  ``total`` is booked on the rounding account by the journal.
* The coupon on a line is ``subtotal - total``; ``coupon_lines[]`` are kept as discount codes for
  information. A 100 % coupon gives lines with a zero total and a 0.00 sale.
* ``fee_lines[]`` become lines of kind ``fee`` (category ``fee``); a negative fee (a discount
  entered as a fee) stays negative.
* Taxes per rate come from ``tax_lines[]`` (see :mod:`.taxes`).
* Gift cards (the WooCommerce Gift Cards extension): ``gift_cards[]`` on the order are gift cards
  *redeemed*; the order ``total`` is what is left to pay, so the sale's total is ``total`` plus the
  redemptions, and each redemption is a ``gift_card`` tender. Gift cards *sold* are the line items
  whose product id or SKU the channel lists in ``gift_card_product_ids`` / ``gift_card_skus``.
* Currency: WooCommerce gives amounts only in the order's ``currency``; that is what is emitted.
  When WooPayments multi-currency states the rate it used
  (``_wcpay_multi_currency_order_exchange_rate``: 1 store currency = rate order currency), it goes
  into ``exchange_rates``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import (
    Discount,
    ExchangeRate,
    LineItem,
    Party,
    Sale,
    ShippingLine,
    Tender,
)

from . import values as v
from .taxes import Rate, rates_of, share_taxes

__all__ = ["OrderContext", "SaleRules", "build_sale", "money_line", "order_context"]

ZERO = Decimal(0)
WCPAY_RATE = "_wcpay_multi_currency_order_exchange_rate"
WCPAY_BASE = "_wcpay_multi_currency_order_default_currency"


@dataclass(frozen=True)
class SaleRules:
    """The channel's choices: which statuses are sales, and which products are gift cards."""

    sale_statuses: frozenset[str] = frozenset({"processing", "completed"})
    gift_card_product_ids: frozenset[str] = frozenset()
    gift_card_skus: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OrderContext:
    """What a refund needs to know about its order."""

    order_id: str
    currency: str
    number: str
    payment_method: str
    payment_method_title: str
    line_items: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    exchange_rates: tuple[ExchangeRate, ...] = ()
    store_prices_include_tax: bool = False
    rates: Mapping[str, Rate] = field(default_factory=dict)
    gift_card_line_ids: frozenset[str] = frozenset()
    modified_at: datetime | None = None


def order_currency(order: Mapping[str, Any]) -> str:
    """The order's currency (an ISO code)."""
    try:
        return money.normalize_currency(str(order.get("currency") or ""))
    except money.UnknownCurrency as exc:
        raise MalformedPayload(f"woocommerce: order currency: {exc}") from exc


def exchange_rates(order: Mapping[str, Any], currency: str) -> tuple[ExchangeRate, ...]:
    """The conversion WooPayments multi-currency recorded on the order, if any."""
    raw_rate, base = v.meta_value(order, WCPAY_RATE), v.meta_value(order, WCPAY_BASE)
    if raw_rate in (None, "") or not base:
        return ()
    rate = v.weight(raw_rate, "multi-currency exchange rate")
    if rate <= 0 or not money.is_known_currency(str(base)):
        return ()
    base_code = money.normalize_currency(str(base))
    if base_code == currency:
        return ()
    return (ExchangeRate(base=base_code, quote=currency, rate=rate),)


def order_context(order: Mapping[str, Any], rules: SaleRules | None = None) -> OrderContext:
    """The refund context of an order (``rules`` tell which of its lines are gift cards)."""
    cur = order_currency(order)
    rules = rules or SaleRules()
    lines = v.objects(order, "line_items")
    return OrderContext(
        order_id=v.external_id(order.get("id"), "order id"),
        currency=cur,
        number=str(order.get("number") or order.get("id") or ""),
        payment_method=str(order.get("payment_method") or ""),
        payment_method_title=str(order.get("payment_method_title") or ""),
        line_items={str(li.get("id")): li for li in lines},
        exchange_rates=exchange_rates(order, cur),
        store_prices_include_tax=bool(order.get("prices_include_tax")),
        rates=rates_of(order, cur),
        gift_card_line_ids=frozenset(str(li.get("id")) for li in lines if _kind(li, rules) == "gift_card"),
        modified_at=v.parse_gmt(order["date_modified_gmt"], "order date_modified_gmt")
        if order.get("date_modified_gmt")
        else None,
    )


def money_line(
    *,
    line_id: str,
    sku: str,
    name: str,
    quantity: Decimal,
    gross: Decimal,
    net: Decimal,
    currency: str,
    kind: Literal["product", "gift_card", "fee"] = "product",
    category: str = "",
) -> LineItem:
    """A line whose money is exact: ``gross`` before the coupon and ``net`` after it.

    When the gross does not divide exactly by the quantity (3 for 10.00), the line becomes one unit
    at the gross and the real quantity goes into the name, so no cent is invented or lost.
    """
    if gross < net:  # a price raised after the fact: nothing was discounted
        gross = net
    unit = gross / quantity if quantity > 0 else gross
    if quantity <= 0 or unit != money.quantize(unit, currency):
        if quantity != 1:
            name = f"{name} x {quantity.normalize():f}"
        quantity, unit = Decimal(1), gross
    return LineItem(
        line_id=line_id,
        sku=sku,
        name=name,
        quantity=quantity,
        unit_price=unit,
        discount=gross - net,
        kind=kind,
        category=category,
    )


def _text(value: Any) -> str:
    """WooCommerce names arrive HTML-escaped (``Ship Your Idea &ndash; Color: Black``)."""
    return html.unescape(str(value or "")).strip()


def _kind(item: Mapping[str, Any], rules: SaleRules) -> Literal["product", "gift_card"]:
    product = str(item.get("product_id") or "")
    sku = str(item.get("sku") or "")
    if (product and product in rules.gift_card_product_ids) or (sku and sku in rules.gift_card_skus):
        return "gift_card"
    return "product"


def _customer(order: Mapping[str, Any]) -> Party | None:
    """Only what the books need: id, name, company, email (no addresses, no phone numbers)."""
    billing = order.get("billing") if isinstance(order.get("billing"), Mapping) else {}
    assert isinstance(billing, Mapping)
    name = " ".join(_text(billing.get(k)) for k in ("first_name", "last_name")).strip()
    customer_id = order.get("customer_id")
    party = Party(
        external_id=str(customer_id) if customer_id else "",
        name=name,
        email=str(billing.get("email") or ""),
        company=_text(billing.get("company")),
    )
    return party if any((party.external_id, party.name, party.email, party.company)) else None


def _gift_card_tenders(order: Mapping[str, Any], cur: str) -> list[Tender]:
    tenders = []
    for card in v.objects(order, "gift_cards"):
        used = v.amount(card.get("amount"), cur, "gift card amount")
        if used:
            # The code is a bearer secret: keep the extension's id, never the code.
            tenders.append(
                Tender(
                    method="gift_card",
                    amount=used,
                    gateway="woocommerce_gift_cards",
                    reference=f"gift_card:{card.get('id') or ''}",
                    kind="gift_card",
                )
            )
    return tenders


def build_sale(order: Mapping[str, Any], rules: SaleRules, *, status: str = "completed") -> Sale:
    """The Sale of a WooCommerce order (``status="voided"`` for one cancelled after it was booked)."""
    cur = order_currency(order)
    order_id = v.external_id(order.get("id"), "order id")
    rates = rates_of(order, cur)
    raw_lines = v.objects(order, "line_items")
    raw_fees = v.objects(order, "fee_lines")
    goods_taxes = share_taxes([*raw_lines, *raw_fees], rates, cur, shipping=False)
    lines: list[LineItem] = []
    for item, taxes in zip(raw_lines, goods_taxes[: len(raw_lines)], strict=True):
        line = money_line(
            line_id=v.external_id(item.get("id"), "line item id"),
            sku=str(item.get("sku") or ""),
            name=_text(item.get("name")) or "Item",
            quantity=v.quantity(item.get("quantity"), "line quantity"),
            gross=v.amount(item.get("subtotal"), cur, "line subtotal"),
            net=v.amount(item.get("total"), cur, "line total"),
            currency=cur,
            kind=_kind(item, rules),
        )
        lines.append(replace(line, tax_lines=taxes))
    for fee, taxes in zip(raw_fees, goods_taxes[len(raw_lines) :], strict=True):
        fee_total = v.amount(fee.get("total"), cur, "fee total")
        line = LineItem(
            line_id=f"fee:{v.external_id(fee.get('id'), 'fee line id')}",
            sku="",
            name=_text(fee.get("name")) or "Fee",
            quantity=Decimal(1),
            unit_price=fee_total,
            kind="fee",
            category="fee",
        )
        lines.append(replace(line, tax_lines=taxes))
    raw_shipping = v.objects(order, "shipping_lines")
    shipping_taxes = share_taxes(raw_shipping, rates, cur, shipping=True)
    shipping = tuple(
        ShippingLine(
            title=_text(s.get("method_title")) or "Shipping",
            amount=v.amount(s.get("total"), cur, "shipping total"),
            tax_lines=taxes,
        )
        for s, taxes in zip(raw_shipping, shipping_taxes, strict=True)
    )
    gift_tenders = _gift_card_tenders(order, cur)
    to_pay = v.amount(order.get("total"), cur, "order total")
    total = to_pay + sum((t.amount for t in gift_tenders), ZERO)
    tenders = list(gift_tenders)
    if to_pay:
        method = str(order.get("payment_method") or "") or "manual"
        tenders.append(
            Tender(
                method=method,
                amount=to_pay,
                gateway=str(order.get("payment_method_title") or method),
                reference=str(order.get("transaction_id") or ""),
            )
        )
    when = order.get("date_paid_gmt") or order.get("date_completed_gmt") or order.get("date_created_gmt")
    metadata = {
        "woo_status": str(order.get("status") or ""),
        "woo_prices_include_tax": "yes" if order.get("prices_include_tax") else "no",
        "woo_total_tax": str(v.amount(order.get("total_tax"), cur, "order total_tax")),
        "woo_discount_total": str(v.amount(order.get("discount_total"), cur, "order discount_total")),
    }
    if order.get("created_via"):
        metadata["created_via"] = str(order["created_via"])
    return Sale(
        external_id=order_id,
        occurred_at=v.parse_gmt(when, "order date_paid_gmt / date_created_gmt"),
        currency=cur,
        total=total,
        lines=tuple(lines),
        prices_include_tax=False,
        number=str(order.get("number") or order_id),
        shipping=shipping,
        discounts=tuple(
            Discount(
                code=str(c.get("code") or ""),
                amount=v.amount(c.get("discount"), cur, "coupon discount"),
                target="order",
            )
            for c in v.objects(order, "coupon_lines")
        ),
        tenders=tuple(tenders),
        customer=_customer(order),
        status=status,
        exchange_rates=exchange_rates(order, cur),
        source_updated_at=v.parse_gmt(order["date_modified_gmt"], "order date_modified_gmt")
        if order.get("date_modified_gmt")
        else None,
        metadata=metadata,
    )
