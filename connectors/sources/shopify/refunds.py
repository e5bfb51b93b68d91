"""Shopify refund -> canonical :class:`~integrator.canonical.Refund`.

A Shopify refund (the ``refunds/create`` webhook body, or one entry of an order's ``refunds[]``)
carries:

* ``refund_line_items[]``: the returned quantity with Shopify's own ``subtotal_set`` (after
  discounts) and ``total_tax_set``. We never recompute them: the line keeps the original unit price,
  its discount is whatever makes ``gross - discount`` equal Shopify's subtotal exactly, and the tax
  is spread over the original line's tax lines in proportion to their amounts with
  :func:`integrator.money.allocate` (so the parts add up to Shopify's ``total_tax`` to the cent).
* ``order_adjustments[]``: ``shipping_refund`` (shipping given back; Shopify reports it as a negative
  amount with its tax separately) and ``refund_discrepancy`` (the difference between what the lines
  account for and what was actually refunded; negative when more money went back). Both are negated
  into our positive convention; a discrepancy becomes :attr:`Refund.adjustment`.
* ``transactions[]``: the money movements. Successful ``refund`` transactions are the tenders and,
  when they are in the shop currency, their sum is the refund total.

Multi-currency: lines and adjustments carry shop money, but transactions are in the presentment
currency. Then the total is the sum of the shop-money parts and the tenders split it in proportion to
the presentment amounts (the exact settled amounts arrive with the payout).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import LineItem, Refund, ShippingLine, TaxLine, Tender

from . import values as v

__all__ = ["OrderContext", "parse_refund", "tax_lines_of"]

RESTOCKING_TYPES = frozenset({"return", "cancel", "legacy_restock"})


@dataclass(frozen=True)
class OrderContext:
    """What a refund needs to know about its order: the shop currency, whether prices include tax,
    the shipping tax lines (titles and rates for a shipping refund's tax) and the order's line items
    (for old refund payloads without an embedded ``line_item``)."""

    order_id: str
    currency: str
    taxes_included: bool
    name: str = ""
    shipping_tax_lines: tuple[TaxLine, ...] = ()
    line_items: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def tax_lines_of(obj: Mapping[str, Any], currency: str) -> tuple[TaxLine, ...]:
    """The ``tax_lines`` of a line item or shipping line, amounts in shop money."""
    return tuple(
        TaxLine(
            title=str(t.get("title") or "Tax"),
            rate=v.rate(t.get("rate")),
            amount=v.shop_money(t, "price", currency),
        )
        for t in v.objects(obj, "tax_lines")
    )


def _spread_tax(
    total: Decimal, template: tuple[TaxLine, ...], currency: str, title: str
) -> tuple[TaxLine, ...]:
    """Split Shopify's tax amount over the original tax lines, in proportion to their amounts."""
    if not template:
        return (TaxLine(title=title, rate=Decimal(0), amount=total),) if total else ()
    weights = [t.amount for t in template]
    if not any(weights):
        weights = [t.rate for t in template]
    parts = money.allocate(total, weights, currency)
    return tuple(TaxLine(t.title, t.rate, part) for t, part in zip(template, parts, strict=True))


def _legacy_subtotal_and_tax(line: Mapping[str, Any], quantity: int, cur: str) -> tuple[Decimal, Decimal]:
    """Old refund payloads (before ``subtotal_set``) lack Shopify's amounts: take the line's
    discount and tax in proportion to the refunded quantity."""
    line_qty = int(line.get("quantity") or quantity) or 1
    price = v.shop_money(line, "price", cur)
    allocations = v.objects(line, "discount_allocations")
    discount = (
        sum((v.shop_money(a, "amount", cur) for a in allocations), money.zero(cur))
        if allocations
        else v.shop_money(line, "total_discount", cur)
    )
    tax = sum((t.amount for t in tax_lines_of(line, cur)), money.zero(cur))
    share = Decimal(quantity) / Decimal(line_qty)
    subtotal = money.quantize(price * quantity, cur) - money.quantize(discount * share, cur)
    return subtotal, money.quantize(tax * share, cur)


def _refund_line(rli: Mapping[str, Any], ctx: OrderContext) -> LineItem | None:
    cur = ctx.currency
    quantity = rli.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise MalformedPayload(f"shopify: bad refund line quantity {quantity!r}")
    if quantity == 0:
        return None
    line_id = v.external_id(rli.get("line_item_id") or (rli.get("line_item") or {}).get("id"), "line_item_id")
    line = rli.get("line_item") or ctx.line_items.get(line_id)
    line = v.as_mapping(line, f"line item {line_id} of the refund")
    unit_price = v.shop_money(line, "price", cur, required=True)
    if "subtotal_set" in rli or "subtotal" in rli:
        subtotal = v.shop_money(rli, "subtotal", cur)
        tax_total = v.shop_money(rli, "total_tax", cur)
    else:
        subtotal, tax_total = _legacy_subtotal_and_tax(line, quantity, cur)
    gross = money.quantize(unit_price * quantity, cur)
    discount = gross - subtotal
    if discount < 0:
        raise MalformedPayload(f"shopify: refund line {line_id} refunds more than its price")
    return LineItem(
        line_id=line_id,
        sku=str(line.get("sku") or ""),
        name=str(line.get("name") or line.get("title") or ""),
        quantity=Decimal(quantity),
        unit_price=unit_price,
        discount=discount,
        tax_lines=_spread_tax(tax_total, tax_lines_of(line, cur), cur, "Tax"),
        kind="gift_card" if line.get("gift_card") else "product",
    )


def _shipping_refund(amount: Decimal, tax: Decimal, ctx: OrderContext, title: str) -> ShippingLine:
    tax_lines = _spread_tax(tax, ctx.shipping_tax_lines, ctx.currency, "Shipping tax")
    # Shopify reports shipping refunds net of tax; our convention wants the amount to include the tax
    # when the order's prices do.
    shown = amount + tax if ctx.taxes_included else amount
    return ShippingLine(title=title, amount=shown, tax_lines=tax_lines)


def _tenders(transactions: list[Mapping[str, Any]], total: Decimal, ctx: OrderContext) -> tuple[Tender, ...]:
    cur = ctx.currency
    amounts: list[Decimal] = []
    for tx in transactions:
        tx_cur = str(tx.get("currency") or cur).upper()
        amounts.append(v.amount(tx.get("amount"), tx_cur if money.is_known_currency(tx_cur) else cur))
    in_shop = all(str(tx.get("currency") or cur).upper() == cur for tx in transactions)
    shop_amounts = amounts if in_shop else money.allocate(total, amounts, cur)
    return tuple(
        Tender(
            method=str(tx.get("gateway") or "unknown"),
            amount=shop_amount,
            gateway=str(tx.get("gateway") or ""),
            reference=str(tx.get("id") or ""),
            kind="gift_card" if tx.get("gateway") == "gift_card" else "payment",
        )
        for tx, shop_amount in zip(transactions, shop_amounts, strict=True)
    )


def parse_refund(refund: Mapping[str, Any], ctx: OrderContext) -> Refund | None:
    """One Shopify refund as a canonical Refund, or None when it moves nothing (a restock-only
    record with no lines, no shipping, no adjustment and no money)."""
    cur = ctx.currency
    refund_id = v.external_id(refund.get("id"), "refund id")
    order_id = v.external_id(refund.get("order_id", ctx.order_id), "refund order_id")
    if order_id != ctx.order_id:
        raise MalformedPayload(f"shopify: refund {refund_id} belongs to order {order_id}, not {ctx.order_id}")
    when = refund.get("processed_at") or refund.get("created_at")
    occurred_at = v.parse_time(when, "refund created_at")

    rlis = v.objects(refund, "refund_line_items")
    pairs = [(r, _refund_line(r, ctx)) for r in rlis]
    lines = tuple(line for _, line in pairs if line is not None)
    # A refund that restocks some lines and not others says so per line (only then: a line's
    # ``restock`` left at None keeps the stored content hashes of every other refund unchanged).
    restocking = {
        str(r.get("restock_type")) in RESTOCKING_TYPES for r, ln in pairs if ln and r.get("restock_type")
    }
    if len(restocking) > 1:
        lines = tuple(
            dataclasses.replace(ln, restock=str(r.get("restock_type")) in RESTOCKING_TYPES)
            for r, ln in pairs
            if ln is not None
        )

    shipping: list[ShippingLine] = []
    adjustment = money.zero(cur)
    for adj in v.objects(refund, "order_adjustments"):
        # Shopify records money going back as negative adjustments: negate into our positive convention.
        amount = -v.shop_money(adj, "amount", cur)
        tax = -v.shop_money(adj, "tax_amount", cur)
        if adj.get("kind") == "shipping_refund":
            shipping.append(_shipping_refund(amount, tax, ctx, str(adj.get("reason") or "Shipping refund")))
        else:  # refund_discrepancy and any kind Shopify adds later: money not explained by lines
            adjustment += amount + tax
    if not shipping:
        for rsl in v.objects(refund, "refund_shipping_lines"):
            subtotal, tax = v.shop_money(rsl, "subtotal_amount", cur), v.shop_money(rsl, "tax_amount", cur)
            shipping.append(_shipping_refund(subtotal, tax, ctx, "Shipping refund"))

    net_lines = sum((ln.gross(cur) - ln.discount for ln in lines), money.zero(cur))
    net_shipping = sum((s.amount - s.discount for s in shipping), money.zero(cur))
    tax = sum((ln.tax() for ln in lines), money.zero(cur)) + sum((s.tax() for s in shipping), money.zero(cur))
    parts_total = net_lines + net_shipping + adjustment + (money.zero(cur) if ctx.taxes_included else tax)

    transactions = [
        tx
        for tx in v.objects(refund, "transactions")
        if tx.get("kind") == "refund" and tx.get("status", "success") == "success"
    ]
    metadata = {"order_name": ctx.name} if ctx.name else {}
    in_shop = all(str(tx.get("currency") or cur).upper() == cur for tx in transactions)
    if not transactions:
        total = money.zero(cur)  # nothing went back (e.g. a restock recorded without money)
    elif in_shop:
        total = sum((v.amount(tx.get("amount"), cur) for tx in transactions), money.zero(cur))
    else:
        total = parts_total
        pres_cur = str(transactions[0].get("currency")).upper()
        if money.is_known_currency(pres_cur):
            pres_amounts = [v.amount(tx.get("amount"), pres_cur) for tx in transactions]
            pres_total = sum(pres_amounts, money.zero(pres_cur))
            metadata |= {"presentment_currency": pres_cur, "presentment_total": str(pres_total)}
    if not lines and not shipping and not adjustment and not total:
        return None

    restock_types = {str(r.get("restock_type")) for r in rlis if r.get("restock_type")}
    restock = bool(restock_types & RESTOCKING_TYPES) if restock_types else bool(refund.get("restock"))
    return Refund(
        external_id=refund_id,
        sale_external_id=order_id,
        occurred_at=occurred_at,
        currency=cur,
        total=total,
        lines=lines,
        prices_include_tax=ctx.taxes_included,
        shipping=tuple(shipping),
        tenders=_tenders(transactions, total, ctx),
        adjustment=adjustment,
        reason=str(refund.get("note") or ""),
        restock=restock,
        source_updated_at=occurred_at,
        metadata=metadata,
    )
