"""Magento invoices -> canonical B2B :class:`~integrator.canonical.Invoice` (where configured).

A store that sells on credit (Adobe Commerce B2B "Payment on Account", purchase orders, bank
transfer on terms) lists those payment methods in ``b2b_payment_methods``. Orders paid with them
are not sales: each Magento invoice of such an order is a B2B invoice to the customer's company,
due ``payment_terms_days`` after it was issued, which the ledger keeps open until the money comes
in (the bank reconciliation matches it). Invoices of other orders carry nothing (their order is
the sale).

An invoice in state 2 ("Paid") can also be booked as the payment received when the store says
so (``invoice_paid_is_payment``); by default it is not, because a "Payment on Account" invoice is
"Paid" as soon as it is charged to the company's credit line. A cancelled invoice (state 3)
books nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from integrator.canonical import CanonicalDocument, Discount, Invoice, Party, Payment

from . import values as v
from .creditmemos import shipping_discount
from .lines import GIFT_CARD_TYPES, OrderContext, fallback_tax_title, line_from_item, shipping_from
from .orders import amounts_for, exchange_rates
from .settings import StoreSettings

__all__ = ["parse_invoice"]

ZERO = Decimal(0)
OPEN, PAID, CANCELED = 1, 2, 3  # Magento\Sales\Model\Order\Invoice::STATE_*


def _rows(invoice: Mapping[str, Any], ctx: OrderContext) -> list[Mapping[str, Any]]:
    """The invoice rows that carry money (those of the order's priced rows, with a quantity)."""
    rows = []
    for row in v.objects(invoice, "items"):
        if v.decimal(row.get("qty"), "invoice item qty") <= 0:
            continue
        order_item = v.text(row.get("order_item_id"))
        if order_item in ctx.items and order_item not in ctx.priced_item_ids:
            continue
        rows.append(row)
    return rows


def parse_invoice(
    invoice: Mapping[str, Any], ctx: OrderContext | None, settings: StoreSettings, channel_currency: str
) -> list[CanonicalDocument]:
    """An invoice as ``[Invoice]`` (plus its ``Payment`` when configured), or ``[]`` when its
    order is not sold on credit (module docstring). The order is required: it says how the
    invoice is paid and to whom it is addressed."""
    invoice_id = v.entity_id(invoice.get("entity_id"), "invoice entity_id")
    v.entity_id(invoice.get("order_id"), "invoice order_id")
    if ctx is None or not ctx.known:
        raise MalformedPayload(f"magento: invoice {invoice_id} cannot be read without its order")
    if not settings.is_b2b(ctx.method_code):
        return []
    state = v.decimal(invoice.get("state") or OPEN, "invoice state")
    if state == CANCELED:
        return []
    amounts = amounts_for(invoice, channel_currency)
    inclusive = settings.prices_include_tax
    rows = _rows(invoice, ctx)
    lines = []
    for row in rows:
        order_item_id = v.text(row.get("order_item_id"))
        order_item = ctx.items.get(order_item_id, {})
        lines.append(
            line_from_item(
                row,
                amounts,
                quantity=v.decimal(row.get("qty"), "invoice item qty"),
                inclusive=inclusive,
                tax_template=ctx.item_taxes.get(order_item_id, ()),
                fallback_title=fallback_tax_title(
                    ctx.order_taxes, v.decimal(order_item.get("tax_percent"), "%")
                ),
                line_id=order_item_id or v.text(row.get("entity_id")),
                kind="gift_card" if order_item.get("product_type") in GIFT_CARD_TYPES else "product",
            )
        )
    template = ctx.shipping_taxes or (ctx.order_taxes if len(ctx.order_taxes) == 1 else ())
    shipping = shipping_from(
        invoice,
        amounts,
        inclusive=inclusive,
        discount=shipping_discount(invoice, rows, amounts),
        compensation=amounts.get(invoice, "shipping_discount_tax_compensation_amount"),
        tax_template=template,
        title="Shipping",
    )
    created = v.parse_time(invoice.get("created_at"), "invoice created_at")
    updated = v.parse_time(invoice["updated_at"], "invoice updated_at") if invoice.get("updated_at") else None
    total = amounts.get(invoice, "grand_total")
    discount = -amounts.get(invoice, "discount_amount")
    customer = ctx.customer or Party(name=f"Magento order {ctx.increment_id or ctx.order_id}")
    number = v.text(invoice.get("increment_id"))
    docs: list[CanonicalDocument] = [
        Invoice(
            external_id=invoice_id,
            occurred_at=created,
            currency=amounts.currency,
            total=total,
            lines=tuple(lines),
            customer=customer,
            due_date=created.date() + timedelta(days=settings.payment_terms_days),
            prices_include_tax=inclusive,
            number=number,
            shipping=(shipping,) if shipping is not None else (),
            discounts=(Discount("discount", abs(discount)),) if discount else (),
            status="paid" if state == PAID else "open",
            exchange_rates=exchange_rates(invoice),
            source_updated_at=updated,
            metadata={
                "order_id": ctx.order_id,
                "order_increment_id": ctx.increment_id,
                "payment_method": ctx.method_code,
            },
        )
    ]
    if state == PAID and settings.invoice_paid_is_payment and total:
        docs.append(
            Payment(
                external_id=f"invoice-{invoice_id}-paid",
                occurred_at=updated or created,
                currency=amounts.currency,
                amount=total,
                method=settings.method_name(ctx.method_code),
                gateway=ctx.method_code,
                invoice_external_id=invoice_id,
                customer=customer,
                exchange_rates=exchange_rates(invoice),
                source_updated_at=updated,
                metadata={"invoice_number": number},
            )
        )
    return docs
