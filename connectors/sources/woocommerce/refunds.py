"""WooCommerce order refund -> canonical :class:`~integrator.canonical.Refund`.

A refund (``GET /orders/<id>/refunds``) carries its ``amount`` as a positive string and its items
as negative copies of the order's: ``line_items[]`` (``quantity`` -1, ``total`` -36.00,
``taxes[]``, and meta ``_refunded_item_id`` pointing at the order line), ``shipping_lines[]``,
``fee_lines[]`` and ``tax_lines[]`` (per rate, negative). Everything is negated into our positive
convention. Three shapes occur and all are handled the same way:

* a **line refund** (items returned, perhaps restocked);
* a **shipping-only refund** (only ``shipping_lines``);
* an **amount-only refund** (no items at all: "refund 10.00"), which becomes an ``adjustment``.

Whatever the items do not explain (an amount-only refund, or a total typed by hand that differs
from the items) is the refund's ``adjustment``, so the refund always adds up to WooCommerce's
``amount``. ``restock`` is true when a returned product's order line records a restock
(``_restock_refunded_items``, which WooCommerce writes when "restock refunded items" is ticked; the
count is per order line and cumulative, so a later refund of a line restocked before reads as
restocked too). A returned gift card line stays a gift card (the liability is reversed).
The tender is the order's payment method: ``refunded_payment`` tells whether WooCommerce asked the
gateway to pay the money back (kept in the metadata); either way the money left the business.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from integrator import money
from integrator.canonical import LineItem, Refund, ShippingLine, Tender

from . import values as v
from .orders import OrderContext, money_line
from .taxes import Rate, rates_of, share_taxes

__all__ = ["parse_refund", "summary_refund"]

ZERO = Decimal(0)


def _text(value: Any) -> str:
    return html.unescape(str(value or "")).strip()


def _fallback_rates(items: list[Mapping[str, Any]], ctx: OrderContext, *, shipping: bool) -> dict[str, Rate]:
    """Per-rate amounts for a refund that lists no ``tax_lines`` (older stores): each item's own
    rounded ``total_tax`` shared over its rates, summed per rate; titles come from the order."""
    cur = ctx.currency
    rates: dict[str, Rate] = {}
    for item in items:
        entries = [t for t in v.objects(item, "taxes") if t.get("id") is not None]
        item_tax = -v.amount(item.get("total_tax"), cur, "refund item total_tax")
        weights = [-v.weight(t.get("total"), "refund item tax") for t in entries]
        for entry, part in zip(entries, v.spread(item_tax, weights, cur), strict=True):
            rate_id = str(entry.get("id"))
            order_rate = ctx.rates.get(rate_id)
            known = rates.get(rate_id) or Rate(
                rate_id,
                order_rate.title if order_rate else "Tax",
                order_rate.rate if order_rate else ZERO,
                order_rate.code if order_rate else "",
                ZERO,
                ZERO,
            )
            rates[rate_id] = replace(
                known,
                goods=known.goods + (ZERO if shipping else part),
                shipping=known.shipping + (part if shipping else ZERO),
            )
    return rates


def _rates(
    refund: Mapping[str, Any],
    ctx: OrderContext,
    goods: list[Mapping[str, Any]],
    ships: list[Mapping[str, Any]],
) -> dict[str, Rate]:
    """The refund's per-rate tax amounts: its own ``tax_lines`` when it has them."""
    if v.objects(refund, "tax_lines"):
        return rates_of(refund, ctx.currency, sign=-1)
    rates = _fallback_rates(goods, ctx, shipping=False)
    for rate_id, rate in _fallback_rates(ships, ctx, shipping=True).items():
        known = rates.get(rate_id)
        rates[rate_id] = replace(known, shipping=known.shipping + rate.shipping) if known else rate
    return rates


def _product_line(item: Mapping[str, Any], ctx: OrderContext) -> tuple[LineItem, bool] | None:
    """A returned line (and whether it was restocked), or None when it moves nothing."""
    cur = ctx.currency
    quantity = -v.quantity(item.get("quantity"), "refund line quantity")
    net = -v.amount(item.get("total"), cur, "refund line total")
    if not quantity and not net and not v.amount(item.get("total_tax"), cur, "refund line total_tax"):
        return None
    original = ctx.line_items.get(str(v.meta_value(item, "_refunded_item_id") or ""))
    gross = net
    if original is not None and quantity > 0:
        original_qty = v.quantity(original.get("quantity"), "order line quantity")
        original_gross = v.amount(original.get("subtotal"), cur, "order line subtotal")
        if original_qty > 0:
            unit = original_gross / original_qty
            if unit == money.quantize(unit, cur):
                gross = unit * quantity
    restocked = bool(
        original is not None
        and quantity > 0
        and v.weight(v.meta_value(original, "_restock_refunded_items"), "restocked quantity") > 0
    )
    original_id = str(v.meta_value(item, "_refunded_item_id") or "")
    line = money_line(
        line_id=original_id or str(item.get("id") or ""),
        sku=str(item.get("sku") or (original or {}).get("sku") or ""),
        name=_text(item.get("name")) or "Item",
        quantity=quantity if quantity > 0 else Decimal(1),
        gross=gross,
        net=net,
        currency=cur,
        kind="gift_card" if original_id in ctx.gift_card_line_ids else "product",
    )
    return line, restocked


def parse_refund(refund: Mapping[str, Any], ctx: OrderContext) -> Refund | None:
    """One WooCommerce refund as a canonical Refund, or None when it moves no money."""
    cur = ctx.currency
    refund_id = v.external_id(refund.get("id"), "refund id")
    total = v.amount(refund.get("amount"), cur, "refund amount")
    returned = [(item, _product_line(item, ctx)) for item in v.objects(refund, "line_items")]
    kept = [(item, parsed) for item, parsed in returned if parsed is not None]
    raw_lines = [item for item, _ in kept]
    raw_fees = [
        f for f in v.objects(refund, "fee_lines") if v.amount(f.get("total"), cur, "refund fee total")
    ]
    raw_shipping = v.objects(refund, "shipping_lines")
    rates = _rates(refund, ctx, [*raw_lines, *raw_fees], raw_shipping)
    goods_taxes = share_taxes([*raw_lines, *raw_fees], rates, cur, shipping=False, sign=-1)
    ship_taxes = share_taxes(raw_shipping, rates, cur, shipping=True, sign=-1)

    lines: list[LineItem] = []
    restock = False
    for (_, (line, restocked)), taxes in zip(kept, goods_taxes[: len(raw_lines)], strict=True):
        restock |= restocked
        lines.append(replace(line, tax_lines=taxes))
    for fee, taxes in zip(raw_fees, goods_taxes[len(raw_lines) :], strict=True):
        amount = -v.amount(fee.get("total"), cur, "refund fee total")
        lines.append(
            LineItem(
                line_id=f"fee:{v.meta_value(fee, '_refunded_item_id') or fee.get('id') or ''}",
                sku="",
                name=_text(fee.get("name")) or "Fee",
                quantity=Decimal(1),
                unit_price=amount,
                tax_lines=taxes,
                kind="fee",
                category="fee",
            )
        )
    shipping = tuple(
        ShippingLine(
            title=_text(s.get("method_title")) or "Shipping",
            amount=-v.amount(s.get("total"), cur, "refund shipping total"),
            tax_lines=taxes,
        )
        for s, taxes in zip(raw_shipping, ship_taxes, strict=True)
    )
    explained = sum((ln.gross(cur) - ln.discount + ln.tax() for ln in lines), ZERO) + sum(
        (s.amount + s.tax() for s in shipping), ZERO
    )
    adjustment = total - explained
    if not total and not lines and not shipping:
        return None
    when = v.parse_gmt(refund.get("date_created_gmt"), "refund date_created_gmt")
    method = ctx.payment_method or "manual"
    metadata = {
        "order_number": ctx.number,
        "refunded_payment": "yes" if refund.get("refunded_payment") else "no",
    }
    return Refund(
        external_id=refund_id,
        sale_external_id=ctx.order_id,
        occurred_at=when,
        currency=cur,
        total=total,
        lines=tuple(lines),
        prices_include_tax=False,
        shipping=shipping,
        tenders=(
            Tender(
                method=method, amount=total, gateway=ctx.payment_method_title or method, reference=refund_id
            ),
        )
        if total
        else (),
        adjustment=adjustment,
        reason=_text(refund.get("reason")),
        restock=restock,
        number=f"{ctx.number}-R{refund_id}",
        exchange_rates=ctx.exchange_rates,
        # The order's last change, when later: a refund first known only from the order's summary
        # (no API keys) is then replaced by its itemised version, never taken as stale.
        source_updated_at=max(when, ctx.modified_at) if ctx.modified_at else when,
        metadata=metadata,
    )


def summary_refund(summary: Mapping[str, Any], ctx: OrderContext, when: Any) -> Refund | None:
    """A refund known only from the order's ``refunds[]`` summary (``{id, reason, total}``), used
    when the channel has no API keys to fetch the refund itself: booked as an amount-only refund
    dated at the order's last change."""
    total = -v.amount(summary.get("total"), ctx.currency, "refund total")
    if not total:
        return None
    refund_id = v.external_id(summary.get("id"), "refund id")
    occurred_at = v.parse_gmt(when, "order date_modified_gmt")
    method = ctx.payment_method or "manual"
    return Refund(
        external_id=refund_id,
        sale_external_id=ctx.order_id,
        occurred_at=occurred_at,
        currency=ctx.currency,
        total=total,
        tenders=(
            Tender(
                method=method, amount=total, gateway=ctx.payment_method_title or method, reference=refund_id
            ),
        ),
        adjustment=total,
        reason=_text(summary.get("reason")),
        number=f"{ctx.number}-R{refund_id}",
        exchange_rates=ctx.exchange_rates,
        source_updated_at=occurred_at,
        metadata={"order_number": ctx.number, "itemised": "no"},
    )
