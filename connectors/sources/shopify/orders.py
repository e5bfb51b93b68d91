"""Shopify order -> canonical :class:`~integrator.canonical.Sale` (plus the refunds it carries).

Choices (the "why" behind each is in the package docstring):

* Only orders whose ``financial_status`` is ``paid``, ``partially_paid``, ``partially_refunded`` or
  ``refunded`` are sales. ``pending``, ``authorized``, ``voided`` and ``expired`` orders give ``[]``:
  no money has been taken, so there is nothing to book yet; the ``orders/paid`` or ``orders/updated``
  event that follows payment brings the sale. A cancelled order that was never paid therefore yields
  nothing; a cancelled paid order stays a sale and its refund(s) reverse it.
* Amounts are in the shop currency (``*_set.shop_money`` when present, else the plain fields, which
  Shopify documents as shop currency); the presentment currency and total are recorded on the Sale.
* Line discounts come from ``discount_allocations`` (order-level codes included: Shopify allocates
  them to lines, before tax). ``total_price`` is the original total; later refunds are separate
  Refund documents, never netted into the sale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import (
    CanonicalDocument,
    Discount,
    ExchangeRate,
    LineItem,
    Party,
    Refund,
    Sale,
    ShippingLine,
    Tender,
)

from . import values as v
from .refunds import OrderContext, parse_refund, tax_lines_of

__all__ = ["COMPLETED_FINANCIAL_STATUSES", "order_context", "parse_order"]

COMPLETED_FINANCIAL_STATUSES = frozenset({"paid", "partially_paid", "partially_refunded", "refunded"})
PAYMENT_KINDS = frozenset({"sale", "capture"})
DISCOUNT_TARGETS: dict[str, Literal["line", "shipping", "order"]] = {
    "line_item": "line",
    "shipping_line": "shipping",
}
FEE_TOTALS = (("original_total_duties", "Duties"), ("original_total_additional_fees", "Additional fees"))

TransactionFetcher = Callable[[str], list[Mapping[str, Any]]]


def shop_currency(order: Mapping[str, Any]) -> str:
    """The order's shop currency (``currency``; ``presentment_currency`` is the customer's)."""
    try:
        return money.normalize_currency(order.get("currency", ""))
    except money.UnknownCurrency as exc:
        raise MalformedPayload(f"shopify: order currency: {exc}") from exc


def order_context(order: Mapping[str, Any]) -> OrderContext:
    """What the order's refunds need to know about it."""
    cur = shop_currency(order)
    shipping_taxes = tuple(t for line in v.objects(order, "shipping_lines") for t in tax_lines_of(line, cur))
    lines = {str(li.get("id")): li for li in v.objects(order, "line_items")}
    return OrderContext(
        order_id=v.external_id(order.get("id"), "order id"),
        currency=cur,
        taxes_included=bool(order.get("taxes_included")),
        name=str(order.get("name") or ""),
        shipping_tax_lines=shipping_taxes,
        line_items=lines,
    )


def _is_tip(line: Mapping[str, Any]) -> bool:
    """Shopify shows a checkout tip as a product-less, untaxed, unshipped line titled "Tip"; it is
    already counted in ``total_tip_received``, so it must not also be a product line."""
    return (
        str(line.get("title") or line.get("name") or "").strip().lower() == "tip"
        and not line.get("product_id")
        and not line.get("variant_id")
        and not line.get("gift_card")
        and not line.get("requires_shipping")
        and not line.get("taxable")
    )


def _allocated(obj: Mapping[str, Any], cur: str) -> Decimal:
    """Sum of the discount allocated to a line or shipping line (shop money)."""
    if "discount_allocations" not in obj:
        return v.shop_money(obj, "total_discount", cur)  # payloads older than discount allocations
    allocations = v.objects(obj, "discount_allocations")
    return sum((v.shop_money(a, "amount", cur) for a in allocations), money.zero(cur))


def _line(line: Mapping[str, Any], cur: str) -> LineItem:
    quantity = line.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise MalformedPayload(f"shopify: bad line quantity {quantity!r}")
    return LineItem(
        line_id=v.external_id(line.get("id"), "line item id"),
        sku=str(line.get("sku") or ""),
        name=str(line.get("name") or line.get("title") or ""),
        quantity=Decimal(quantity),
        unit_price=v.shop_money(line, "price", cur, required=True),
        discount=_allocated(line, cur),
        tax_lines=tax_lines_of(line, cur),
        kind="gift_card" if line.get("gift_card") else "product",
    )


def _fee_lines(order: Mapping[str, Any], cur: str) -> list[LineItem]:
    """Duties and additional fees are part of ``total_price`` but not line items: keep them as fee
    lines so the sale still adds up."""
    fees = []
    for key, name in FEE_TOTALS:
        if v.money_bag(order, key) is not None:
            amount = v.shop_money(order, key, cur)
            if amount:
                fee = LineItem(
                    line_id=key, sku="", name=name, quantity=Decimal(1), unit_price=amount, kind="fee"
                )
                fees.append(fee)
    return fees


def _discounts(order: Mapping[str, Any], cur: str) -> tuple[Discount, ...]:
    """Discount codes and automatic discounts, for information; amounts are what Shopify allocated
    (shop money), summed per discount application."""
    applications = v.objects(order, "discount_applications")
    if not applications:
        return tuple(
            Discount(
                code=str(dc.get("code") or ""),
                amount=v.shop_money(dc, "amount", cur),
                target="shipping" if dc.get("type") == "shipping" else "order",
            )
            for dc in v.objects(order, "discount_codes")
        )
    per_index: dict[int, Decimal] = {}
    for holder in [*v.objects(order, "line_items"), *v.objects(order, "shipping_lines")]:
        for alloc in v.objects(holder, "discount_allocations"):
            index = alloc.get("discount_application_index")
            if isinstance(index, int):
                per_index[index] = per_index.get(index, money.zero(cur)) + v.shop_money(alloc, "amount", cur)
    result = []
    for index, app in enumerate(applications):
        target = DISCOUNT_TARGETS.get(str(app.get("target_type")), "order")
        code = app.get("code") or app.get("title") or app.get("description") or app.get("type") or ""
        result.append(Discount(code=str(code), amount=per_index.get(index, money.zero(cur)), target=target))
    return tuple(result)


def _customer(order: Mapping[str, Any]) -> Party | None:
    """Only what the books need: id, name, email (no addresses, no phone numbers)."""
    customer = order.get("customer")
    email = str(order.get("email") or order.get("contact_email") or "")
    if isinstance(customer, Mapping) and customer.get("id") is not None:
        name = " ".join(str(customer.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
        return Party(external_id=str(customer["id"]), name=name, email=str(customer.get("email") or email))
    return Party(email=email) if email else None


def _tender(tx: Mapping[str, Any], amount: Decimal) -> Tender:
    gateway = str(tx.get("gateway") or "")
    return Tender(
        method=gateway or "unknown",
        amount=amount,
        gateway=gateway,
        reference=str(tx.get("id") or ""),
        kind="gift_card" if gateway == "gift_card" else "payment",
    )


def _tenders(
    order: Mapping[str, Any], total: Decimal, cur: str, fetch: TransactionFetcher | None
) -> tuple[Tender, ...]:
    """How the order was paid: successful sale/capture transactions when we have them, otherwise the
    single gateway for the whole total. Webhook bodies carry no transactions; an order paid through
    several gateways (gift card + card) is looked up with ``fetch`` to split the amounts."""
    transactions = order.get("transactions")
    names = v.as_list(order.get("payment_gateway_names"), "payment_gateway_names")
    gateways = [g for g in names if isinstance(g, str) and g]
    if transactions is None and not total:
        return ()
    if transactions is None and len(set(gateways)) == 1:
        return (_tender({"gateway": gateways[0]}, total),)
    if transactions is None:
        if fetch is None:
            raise MalformedPayload(
                "shopify: order paid through several gateways; cannot fetch its transactions"
            )
        transactions = fetch(v.external_id(order.get("id"), "order id"))
    paid = [
        tx
        for tx in v.objects({"transactions": transactions}, "transactions")
        if tx.get("kind") in PAYMENT_KINDS and tx.get("status", "success") == "success"
    ]
    if all(str(tx.get("currency") or cur).upper() == cur for tx in paid):
        return tuple(_tender(tx, v.amount(tx.get("amount"), cur)) for tx in paid)
    # Paid in the presentment currency: Shopify settles in the shop currency at its own rate (the
    # exact settled amounts come with the payout), so split the shop-currency total in proportion.
    pres = v.presentment_money(order, "total_price")
    pres_cur = pres[0] if pres else str(paid[0].get("currency")).upper()
    pres_amounts = [v.amount(tx.get("amount"), pres_cur) for tx in paid]
    paid_shop = total
    if pres and sum(pres_amounts) != pres[1] and pres[1]:
        paid_shop = money.quantize(total * sum(pres_amounts) / pres[1], cur)
    parts = money.allocate(paid_shop, pres_amounts, cur)
    return tuple(_tender(tx, part) for tx, part in zip(paid, parts, strict=True))


def _presentment_rate(
    presentment: str, presentment_total: Decimal | None, shop: str, shop_total: Decimal
) -> tuple[ExchangeRate, ...]:
    """Shopify's own conversion of an order paid in another currency (shop money over presentment
    money), stated so the books record the rate the shop applied."""
    if not presentment or presentment == shop or not presentment_total:
        return ()
    rate = (shop_total / presentment_total).quantize(Decimal("0.000000000001"))
    return (ExchangeRate(base=presentment, quote=shop, rate=rate),)


def parse_order(
    order: Mapping[str, Any], fetch_transactions: TransactionFetcher | None = None
) -> list[CanonicalDocument]:
    """A Shopify order (webhook body or REST object) as ``[Sale, *Refunds]``, or ``[]`` when the
    order is not (yet) a completed sale."""
    order_id = v.external_id(order.get("id"), "order id")
    status = str(order.get("financial_status") or "")
    if status not in COMPLETED_FINANCIAL_STATUSES:
        return []
    cur = shop_currency(order)
    raw_lines = v.objects(order, "line_items")
    tip_lines = [li for li in raw_lines if _is_tip(li)]
    lines = [_line(li, cur) for li in raw_lines if not _is_tip(li)] + _fee_lines(order, cur)
    shipping = tuple(
        ShippingLine(
            title=str(s.get("title") or s.get("code") or "Shipping"),
            amount=v.shop_money(s, "price", cur),
            discount=_allocated(s, cur),
            tax_lines=tax_lines_of(s, cur),
        )
        for s in v.objects(order, "shipping_lines")
    )
    tips = v.shop_money(order, "total_tip_received", cur)
    if not tips and tip_lines:
        tips = sum((_line(li, cur).gross(cur) for li in tip_lines), money.zero(cur))
    total = v.shop_money(order, "total_price", cur, required=True)
    occurred_at = v.parse_time(order.get("processed_at") or order.get("created_at"), "order processed_at")
    updated_at = v.parse_time(order["updated_at"], "order updated_at") if order.get("updated_at") else None
    pres = v.presentment_money(order, "total_price")
    presentment_currency = str(order.get("presentment_currency") or (pres[0] if pres else "")).upper()
    metadata = {
        "financial_status": status,
        "shopify_total_tax": str(v.shop_money(order, "total_tax", cur)),
        "shopify_total_discounts": str(v.shop_money(order, "total_discounts", cur)),
    }
    if order.get("cancelled_at"):
        metadata["cancelled_at"] = str(order["cancelled_at"])
    if order.get("source_name"):
        metadata["source_name"] = str(order["source_name"])
    sale = Sale(
        external_id=order_id,
        occurred_at=occurred_at,
        currency=cur,
        total=total,
        lines=tuple(lines),
        prices_include_tax=bool(order.get("taxes_included")),
        number=str(order.get("name") or ""),
        shipping=shipping,
        discounts=_discounts(order, cur),
        tenders=_tenders(order, total, cur, fetch_transactions),
        tips=tips,
        customer=_customer(order),
        presentment_currency=presentment_currency if presentment_currency else "",
        presentment_total=pres[1] if pres else None,
        exchange_rates=_presentment_rate(presentment_currency, pres[1] if pres else None, cur, total),
        source_updated_at=updated_at,
        metadata=metadata,
    )
    ctx = order_context(order)
    refunds: list[Refund] = []
    for raw in v.objects(order, "refunds"):
        refund = parse_refund(raw, ctx)
        if refund is not None:
            refunds.append(refund)
    return [sale, *refunds]
