"""Magento order -> canonical :class:`~integrator.canonical.Sale`, as the store's workflow says.

* **When an order is a sale** (:func:`disposition`): its status (or state) is one of the store's
  sale statuses and, unless the store says otherwise, it is fully invoiced; a cancelled order
  gives a ``voided`` sale (books nothing, undoes an earlier revision); any other status
  (``pending``, ``pending_payment``, ``holded``, ``payment_review`` ...) gives nothing yet.
  ``closed`` (fully refunded) stays a sale: the credit memos are the refunds that reverse it.
* **Currency**: the channel's currency is the store's base currency, so the ``base_*`` twins are
  emitted; the order's own currency and total are the presentment ones and ``base_to_order_rate``
  is stated in ``exchange_rates``. A channel kept in the order currency gets the plain fields.
* **What the customer paid** is ``grand_total`` through the payment method plus what Adobe
  Commerce took off it before payment: gift card accounts (a liability redeemed), store credit
  and reward points (tender methods ``store_credit`` and ``reward_points``, mapped to their
  liability accounts). A payment method's tender is what was paid (``total_paid``); anything not
  yet paid is an unpaid balance.
* **Totals** are Magento's, never recomputed: lines, shipping, gift wrapping, fixed product tax
  and Admin UI SDK custom fees add up to them; a difference is reported by validation.
* **Orders sold on credit** (a payment method in ``b2b_payment_methods``) are not sales: their
  Magento invoices are the B2B invoices (see ``invoices.py``).
* **Partly cancelled orders** (some rows cancelled after others were invoiced) are booked for
  what was not cancelled: each row's quantity and amounts less its cancelled share, the
  shipping less ``shipping_canceled``, the total less ``total_canceled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import Discount, ExchangeRate, LineItem, Sale, ShippingLine, Tender

from . import values as v
from .lines import (
    GIFT_CARD_TYPES,
    fallback_tax_title,
    line_from_item,
    order_context,
    priced_order_items,
    shipping_from,
    spread_tax,
)
from .settings import StoreSettings

__all__ = ["amounts_for", "disposition", "exchange_rates", "liability_tenders", "parse_order"]

ZERO = Decimal(0)
Disposition = Literal["sale", "void", "wait"]


def _currency(code: Any, what: str) -> str:
    try:
        return money.normalize_currency(v.text(code))
    except money.UnknownCurrency as exc:
        raise MalformedPayload(f"magento: {what}: {exc}") from exc


def amounts_for(obj: Mapping[str, Any], channel_currency: str) -> v.Amounts:
    """Which twin to emit for an order, credit memo or invoice: the base currency when it is the
    channel's (the usual case), the order currency when that is the channel's instead."""
    base = _currency(obj.get("base_currency_code") or channel_currency, "base_currency_code")
    order_cur = _currency(obj.get("order_currency_code") or base, "order_currency_code")
    if channel_currency != base and channel_currency == order_cur:
        return v.Amounts(order_cur, use_base=False)
    return v.Amounts(base, use_base=True)


def exchange_rates(obj: Mapping[str, Any]) -> tuple[ExchangeRate, ...]:
    """Magento's own rate between the base and the order currency (1 base = rate order)."""
    base = v.text(obj.get("base_currency_code")).upper()
    order_cur = v.text(obj.get("order_currency_code")).upper()
    rate = v.decimal(obj.get("base_to_order_rate"), "base_to_order_rate")
    if base and order_cur and base != order_cur and rate > 0:
        return (ExchangeRate(base=base, quote=order_cur, rate=rate.normalize()),)
    return ()


def _matches(order: Mapping[str, Any], statuses: frozenset[str]) -> bool:
    return v.text(order.get("status")).lower() in statuses or v.text(order.get("state")).lower() in statuses


def _fully_invoiced(order: Mapping[str, Any]) -> bool:
    due = v.decimal(order.get("base_grand_total"), "base_grand_total") - v.decimal(
        order.get("base_total_canceled"), "base_total_canceled"
    )
    return v.decimal(order.get("base_total_invoiced"), "base_total_invoiced") >= due


def disposition(order: Mapping[str, Any], settings: StoreSettings) -> Disposition:
    """What the order is for the books now (see the module docstring)."""
    if _matches(order, settings.void_statuses):
        return "void"
    if _matches(order, settings.sale_statuses):
        if settings.require_invoice and not _fully_invoiced(order):
            return "wait"
        return "sale"
    return "wait"


def liability_tenders(obj: Mapping[str, Any], amounts: v.Amounts) -> list[Tender]:
    """Gift card accounts, store credit and reward points applied to an order or credited back
    by a credit memo (Adobe Commerce keeps them in ``extension_attributes``)."""
    ext = v.extension(obj)
    tenders: list[Tender] = []
    cards = v.objects(ext, "gift_cards")
    card_total = amounts.get(ext, "gift_cards_amount")
    if cards and sum((amounts.get(c, "amount") for c in cards), ZERO) == card_total:
        for card in cards:
            code = v.text(card.get("code"))
            # A gift card code is a bearer secret: keep only enough to recognise the card.
            ref = f"...{code[-4:]}" if len(code) > 4 else ""
            tenders.append(
                Tender("gift_card", amounts.get(card, "amount"), "giftcardaccount", ref, kind="gift_card")
            )
    elif card_total:
        tenders.append(Tender("gift_card", card_total, "giftcardaccount", kind="gift_card"))
    credit = amounts.get(ext, "customer_balance_amount")
    if credit:
        tenders.append(Tender("store_credit", credit, "customerbalance"))
    reward = amounts.get(ext, "reward_currency_amount")
    if reward:
        tenders.append(Tender("reward_points", reward, "reward"))
    return [t for t in tenders if t.amount]


def _cancelled_share(item: Mapping[str, Any]) -> Decimal:
    """The fraction of a row that was cancelled (0 for a row fully or not yet invoiced)."""
    ordered = v.decimal(item.get("qty_ordered"), "qty_ordered")
    cancelled = v.decimal(item.get("qty_canceled"), "qty_canceled")
    return cancelled / ordered if ordered > 0 and cancelled > 0 else ZERO


def _scaled(item: Mapping[str, Any], share: Decimal, amounts: v.Amounts) -> Mapping[str, Any]:
    """A row with its cancelled share taken off every amount (rounded to the currency)."""
    keep = 1 - share
    scaled = dict(item)
    for name in (
        "row_total",
        "row_total_incl_tax",
        "discount_amount",
        "discount_tax_compensation_amount",
        "tax_amount",
    ):
        key = amounts.name(name)
        if item.get(key) is not None:
            scaled[key] = money.quantize(amounts.raw(item, name) * keep, amounts.currency)
    return scaled


def _fee_lines(
    order: Mapping[str, Any], amounts: v.Amounts, items: list[Mapping[str, Any]]
) -> list[LineItem]:
    """Gift wrapping, fixed product tax (WEEE) and Admin UI SDK custom fees: money in the grand
    total that is neither a product row nor shipping."""
    ext = v.extension(order)
    cur = amounts.currency
    fees: list[LineItem] = []
    wrapping = (
        ("gw_price", "gw_tax_amount", "Gift wrapping"),
        ("gw_items_price", "gw_items_tax_amount", "Gift wrapping (items)"),
        ("gw_card_price", "gw_card_tax_amount", "Printed card"),
    )
    for price_key, tax_key, name in wrapping:
        price, tax = amounts.get(ext, price_key), amounts.get(ext, tax_key)
        if price or tax:
            taxes = spread_tax(tax, (), cur, fallback_title=f"{name} tax", base=price)
            fees.append(LineItem(price_key, "", name, Decimal(1), price, tax_lines=taxes, kind="fee"))
    for item in items:
        weee = amounts.get(item, "weee_tax_applied_row_amount")
        if weee:
            item_id = v.text(item.get("item_id"))
            fees.append(
                LineItem(
                    f"weee-{item_id}",
                    v.text(item.get("sku")),
                    "Fixed product tax",
                    Decimal(1),
                    weee,
                    kind="fee",
                )
            )
    for fee in v.objects(ext, "custom_fees"):
        amount = amounts.get(fee, "custom_fee_amount")
        if amount:
            code = v.text(fee.get("custom_fee_code"))
            fees.append(
                LineItem(
                    f"fee-{code}",
                    code,
                    v.text(fee.get("custom_fee_label")) or code,
                    Decimal(1),
                    amount,
                    kind="fee",
                )
            )
    return fees


def _item_lines(
    order: Mapping[str, Any], amounts: v.Amounts, settings: StoreSettings, *, less_cancelled: bool
) -> list[LineItem]:
    """The order's priced rows as lines (less their cancelled share when ``less_cancelled``)."""
    ctx = order_context(order, amounts)
    lines = []
    for item in priced_order_items(v.objects(order, "items")):
        item_id = v.entity_id(item.get("item_id"), "order item_id")
        share = _cancelled_share(item) if less_cancelled else ZERO
        ordered = v.decimal(item.get("qty_ordered"), "qty_ordered")
        quantity = ordered - v.decimal(item.get("qty_canceled"), "qty_canceled") if share else ordered
        if share and quantity <= 0:
            continue  # the whole row was cancelled
        row = _scaled(item, share, amounts) if share else item
        percent = v.decimal(item.get("tax_percent"), "tax_percent")
        kind = "gift_card" if item.get("product_type") in GIFT_CARD_TYPES else "product"
        lines.append(
            line_from_item(
                row,
                amounts,
                quantity=quantity,
                inclusive=settings.prices_include_tax,
                tax_template=ctx.item_taxes.get(item_id, ()),
                fallback_title=fallback_tax_title(ctx.order_taxes, percent),
                line_id=item_id,
                kind=kind,
            )
        )
    return lines


def _shipping(
    order: Mapping[str, Any], amounts: v.Amounts, settings: StoreSettings, *, less_cancelled: bool
) -> list[ShippingLine]:
    """The order's shipping with its taxes (less ``shipping_canceled`` when ``less_cancelled``)."""
    ctx = order_context(order, amounts)
    template = ctx.shipping_taxes or (ctx.order_taxes if len(ctx.order_taxes) == 1 else ())
    source: Mapping[str, Any] = order
    cancelled = amounts.get(order, "shipping_canceled") if less_cancelled else ZERO
    if cancelled:
        # Only the part not cancelled was charged; its tax in proportion (Magento keeps no twin).
        amount = amounts.get(order, "shipping_amount")
        keep = (amount - cancelled) / amount if amount else ZERO
        source = dict(order)
        for name in (
            "shipping_amount",
            "shipping_incl_tax",
            "shipping_tax_amount",
            "shipping_discount_amount",
        ):
            if amounts.has(order, name):
                source[amounts.name(name)] = money.quantize(amounts.raw(order, name) * keep, amounts.currency)
    line = shipping_from(
        source,
        amounts,
        inclusive=settings.prices_include_tax,
        discount=amounts.get(source, "shipping_discount_amount"),
        compensation=amounts.get(source, "shipping_discount_tax_compensation_amount"),
        tax_template=template,
        title=v.text(order.get("shipping_description")) or "Shipping",
    )
    return [line] if line is not None else []


def parse_order(order: Mapping[str, Any], settings: StoreSettings, channel_currency: str) -> list[Sale]:
    """A Magento order (REST ``sales-data-order-interface`` or an Adobe Commerce webhook's
    ``data.order``) as ``[Sale]``, ``[voided Sale]`` or ``[]`` (module docstring)."""
    order_id = v.entity_id(order.get("entity_id"), "order entity_id")
    payment = v.child(order, "payment")
    method_code = v.text(payment.get("method"))
    if settings.is_b2b(method_code):
        return []  # sold on credit: its Magento invoices are the documents (invoices.py)
    state = disposition(order, settings)
    if state == "wait":
        return []
    amounts = amounts_for(order, channel_currency)
    # A cancelled order is voided as it was ordered; a sale is what was not cancelled.
    less_cancelled = state == "sale"
    priced = priced_order_items(v.objects(order, "items"))
    lines = _item_lines(order, amounts, settings, less_cancelled=less_cancelled)
    lines += _fee_lines(order, amounts, priced)
    shipping = _shipping(order, amounts, settings, less_cancelled=less_cancelled)
    liabilities = liability_tenders(order, amounts)
    cancelled = amounts.get(order, "total_canceled") if less_cancelled else amounts.zero()
    grand = amounts.get(order, "grand_total") - cancelled
    paid = amounts.get(order, "total_paid") if amounts.has(order, "total_paid") else grand
    tenders = [
        Tender(
            method=settings.method_name(method_code),
            amount=min(max(paid, money.zero(amounts.currency)), grand),
            gateway=method_code,
            reference=v.text(payment.get("last_trans_id")),
        ),
        *liabilities,
    ]
    total = grand + sum((t.amount for t in liabilities), ZERO)
    discount_total = -amounts.get(order, "discount_amount")
    discounts: tuple[Discount, ...] = ()
    if discount_total:
        code = v.text(order.get("coupon_code") or order.get("discount_description")) or "discount"
        discounts = (Discount(code=code, amount=abs(discount_total), target="order"),)
    presentment = v.Amounts(
        _currency(order.get("order_currency_code") or amounts.currency, "order currency"), use_base=False
    )
    pres_total = None
    if presentment.currency != amounts.currency:
        pres_liab = sum((t.amount for t in liability_tenders(order, presentment)), ZERO)
        pres_cancelled = presentment.get(order, "total_canceled") if less_cancelled else presentment.zero()
        pres_total = presentment.get(order, "grand_total") - pres_cancelled + pres_liab
    created = v.parse_time(order.get("created_at"), "order created_at")
    updated = v.parse_time(order["updated_at"], "order updated_at") if order.get("updated_at") else None
    metadata = {
        "state": v.text(order.get("state")),
        "status": v.text(order.get("status")),
        "payment_method": method_code,
        "store_id": v.text(order.get("store_id")),
    }
    if cancelled:
        metadata["partly_canceled"] = str(cancelled)
    if amounts.rounded:
        metadata["rounded_fields"] = ",".join(sorted(set(amounts.rounded)))[:500]
    return [
        Sale(
            external_id=order_id,
            occurred_at=created,
            currency=amounts.currency,
            total=total,
            lines=tuple(lines),
            prices_include_tax=settings.prices_include_tax,
            number=v.text(order.get("increment_id")),
            shipping=tuple(shipping),
            discounts=discounts,
            tenders=tuple(tenders),
            customer=order_context(order, amounts).customer,
            presentment_currency=presentment.currency if pres_total is not None else "",
            presentment_total=pres_total,
            status="voided" if state == "void" else "completed",
            exchange_rates=exchange_rates(order),
            source_updated_at=updated,
            metadata={k: x for k, x in metadata.items() if x},
        )
    ]
