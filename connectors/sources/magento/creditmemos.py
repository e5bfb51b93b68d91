"""Magento credit memo -> canonical :class:`~integrator.canonical.Refund`, linked to its order's sale.

A credit memo is Magento's refund document. What it carries, and what it becomes:

* **rows** (``items[]`` with ``qty`` > 0): returned lines, with Magento's own row, discount and
  tax amounts; the tax is split over the order row's rates (``item_applied_taxes``);
* **shipping** (``shipping_amount``, ``shipping_tax_amount``): shipping given back; the part of
  the order's shipping discount it carries is what ``discount_amount`` holds beyond the rows'
  discounts. A memo with shipping and no rows is a shipping-only refund;
* **adjustments**: ``adjustment_positive`` (an "Adjustment Refund": money back beyond the rows)
  and ``adjustment_negative`` (an "Adjustment Fee" kept back) are amount-only; their difference
  is :attr:`Refund.adjustment` (positive when more goes back);
* **money back**: ``grand_total`` through the order's payment method, plus what Adobe Commerce
  credits back to gift card accounts and store credit (``extension_attributes``).

Only memos in state 2 (refunded) are refunds: an open memo (1) has moved no money yet and a
cancelled one (3) never will. The order is read for the rows' rates, product types and the
payment method; without it the rows themselves decide (a row with money is a line).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from integrator import money
from integrator.canonical import LineItem, Refund, TaxLine, Tender

from . import values as v
from .lines import GIFT_CARD_TYPES, OrderContext, fallback_tax_title, line_from_item, shipping_from
from .orders import amounts_for, exchange_rates, liability_tenders
from .settings import StoreSettings

__all__ = ["REFUNDED", "parse_creditmemo", "shipping_discount"]

ZERO = Decimal(0)
REFUNDED = 2  # Magento\Sales\Model\Order\Creditmemo::STATE_REFUNDED


def _rows(memo: Mapping[str, Any], ctx: OrderContext | None) -> list[Mapping[str, Any]]:
    """The memo's rows that carry money: those of the order's priced rows, or (without the order)
    any row with a quantity and an amount."""
    rows = []
    for row in v.objects(memo, "items"):
        if v.decimal(row.get("qty"), "credit memo item qty") <= 0:
            continue
        order_item = v.text(row.get("order_item_id"))
        if ctx is not None and ctx.known and order_item in ctx.items:
            if order_item in ctx.priced_item_ids:
                rows.append(row)
            continue
        if any(
            v.decimal(row.get(k), k) for k in ("base_row_total", "base_tax_amount", "base_discount_amount")
        ):
            rows.append(row)
    return rows


def shipping_discount(doc: Mapping[str, Any], rows: list[Mapping[str, Any]], amounts: v.Amounts) -> Decimal:
    """The part of a memo's (or invoice's) discount that is on shipping: Magento's document
    ``discount_amount`` (negative) covers the rows' discounts and the shipping's."""
    total = -amounts.get(doc, "discount_amount")
    on_rows = sum((amounts.get(r, "discount_amount") for r in rows), ZERO)
    return max(total - on_rows, money.zero(amounts.currency))


def _line(row: Mapping[str, Any], ctx: OrderContext | None, amounts: v.Amounts, inclusive: bool) -> LineItem:
    """A memo row as a line, with its order row's rates, titles and product type when known."""
    order_item_id = v.text(row.get("order_item_id"))
    order_item = ctx.items.get(order_item_id, {}) if ctx is not None else {}
    percent = v.decimal(order_item.get("tax_percent"), "tax_percent")
    order_taxes = ctx.order_taxes if ctx is not None else ()
    return line_from_item(
        row,
        amounts,
        quantity=v.decimal(row.get("qty"), "credit memo item qty"),
        inclusive=inclusive,
        tax_template=ctx.item_taxes.get(order_item_id, ()) if ctx is not None else (),
        fallback_title=fallback_tax_title(order_taxes, percent),
        line_id=order_item_id or v.text(row.get("entity_id")),
        kind="gift_card" if order_item.get("product_type") in GIFT_CARD_TYPES else "product",
    )


def parse_creditmemo(
    memo: Mapping[str, Any], ctx: OrderContext | None, settings: StoreSettings, channel_currency: str
) -> list[Refund]:
    """A credit memo (REST ``sales-data-creditmemo-interface`` or a webhook's ``data.creditmemo``)
    as ``[Refund]``, or ``[]`` while it is not refunded (module docstring)."""
    memo_id = v.entity_id(memo.get("entity_id"), "credit memo entity_id")
    order_id = v.entity_id(memo.get("order_id"), "credit memo order_id")
    state = memo.get("state")
    if state is not None and v.decimal(state, "credit memo state") != REFUNDED:
        return []
    amounts = amounts_for(memo, channel_currency)
    rows = _rows(memo, ctx)
    inclusive = settings.prices_include_tax
    lines = tuple(_line(r, ctx, amounts, inclusive) for r in rows)
    template: tuple[TaxLine, ...] = ()
    if ctx is not None:
        template = ctx.shipping_taxes or (ctx.order_taxes if len(ctx.order_taxes) == 1 else ())
    shipping = shipping_from(
        memo,
        amounts,
        inclusive=inclusive,
        discount=shipping_discount(memo, rows, amounts),
        compensation=amounts.get(memo, "shipping_discount_tax_compensation_amount"),
        tax_template=template,
        title="Shipping refund",
    )
    adjustment = amounts.get(memo, "adjustment_positive") - amounts.get(memo, "adjustment_negative")
    liabilities = liability_tenders(memo, amounts)
    grand = amounts.get(memo, "grand_total")
    method_code = ctx.method_code if ctx is not None else ""
    tenders = [
        Tender(
            method=settings.method_name(method_code),
            amount=grand,
            gateway=method_code,
            reference=v.text(memo.get("transaction_id")),
        ),
        *liabilities,
    ]
    comments = [v.text(c.get("comment")) for c in v.objects(memo, "comments") if c.get("comment")]
    created = v.parse_time(memo.get("created_at"), "credit memo created_at")
    updated = v.parse_time(memo["updated_at"], "credit memo updated_at") if memo.get("updated_at") else None
    metadata = {
        "order_increment_id": ctx.increment_id if ctx is not None else "",
        "invoice_id": v.text(memo.get("invoice_id")),
        "adjustment_refund": str(amounts.get(memo, "adjustment_positive") or ""),
        "adjustment_fee": str(amounts.get(memo, "adjustment_negative") or ""),
    }
    order_cur = v.text(memo.get("order_currency_code")).upper()
    if amounts.use_base and order_cur and order_cur != amounts.currency:
        # What the customer saw in their own currency (Refund has no presentment fields).
        metadata["presentment_currency"] = order_cur
        metadata["presentment_total"] = str(v.Amounts(order_cur, use_base=False).get(memo, "grand_total"))
    if amounts.rounded:
        metadata["rounded_fields"] = ",".join(sorted(set(amounts.rounded)))[:500]
    return [
        Refund(
            external_id=memo_id,
            sale_external_id=order_id,
            occurred_at=created,
            currency=amounts.currency,
            total=grand + sum((t.amount for t in liabilities), ZERO),
            lines=lines,
            prices_include_tax=inclusive,
            shipping=(shipping,) if shipping is not None else (),
            tenders=tuple(t for t in tenders if t.amount or t is tenders[0]),
            adjustment=adjustment,
            reason=comments[0][:255] if comments else "",
            number=v.text(memo.get("increment_id")),
            exchange_rates=exchange_rates(memo),
            source_updated_at=updated,
            metadata={k: x for k, x in metadata.items() if x and x != "0"},
        )
    ]
