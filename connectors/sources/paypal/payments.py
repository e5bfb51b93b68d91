"""PayPal captures, v1 sales, refunds and reversals -> Payment, Refund and Dispute documents.

One PayPal transaction id is one :class:`~integrator.canonical.Payment`, whichever way it arrives:
a ``PAYMENT.CAPTURE.COMPLETED`` webhook (v2 capture), a ``PAYMENT.SALE.COMPLETED`` webhook (the
v1 API's ``sale``, same id space), a capture embedded in a ``CHECKOUT.ORDER.COMPLETED`` order, or a
back-fill that fetched the capture: every path builds the document from the same fields, so a
webhook and a pull end in one transaction with one revision.

Fees come from ``seller_receivable_breakdown`` (``paypal_fee``; v1 ``transaction_fee``). When the
capture is in another currency than the PayPal balance that receives it (a EUR capture credited to
a GBP account), PayPal states ``exchange_rate`` and ``receivable_amount``: the document keeps the
capture's own currency and amounts and carries PayPal's rate in ``exchange_rates``.

What a capture *is* depends on the channel (see :mod:`.context`):

* the capture of a PayPal Checkout order is the tender of that order's sale (``sale_external_id``
  is the order id): it books nothing by itself, the sale carries it;
* with ``sales_booked_by=other_channel`` it is the tender of the shop's order named by the
  capture's ``invoice_id`` or ``custom_id``;
* a capture that names an invoice of PayPal Invoicing (``invoice_id`` = ``INV2-...``) is a payment
  of that invoice (``invoice_external_id``);
* anything else (a PayPal.Me payment, a v1 button) is a standalone payment, booked against
  receivables.

A refund points to its capture through ``links[rel=up]`` and to the sale the capture paid; a
PayPal-initiated reversal (``PAYMENT.CAPTURE.REVERSED``, ``PAYMENT.SALE.REVERSED``) is money taken
back under a dispute or chargeback and becomes the capture's :class:`Dispute` (see
:mod:`.disputes`), so it and the dispute's own events end in one document.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import MalformedPayload, Permanent
from integrator import money
from integrator.canonical import Dispute, ExchangeRate, Payment, Refund, Tender

from .context import GATEWAY, METHOD, Context
from .values import (
    as_list,
    as_mapping,
    currency_of,
    last_path_segment,
    link,
    money_value,
    optional_money,
    parse_time,
    text,
)

__all__ = [
    "CAPTURED_STATUSES",
    "CaptureLink",
    "capture_link",
    "order_id_of",
    "payment_from_capture",
    "payment_from_v1_sale",
    "refund_from_object",
    "refund_from_v1",
    "reversal_dispute",
    "reversal_dispute_v1",
]

#: Capture states in which the money has moved (a later refund does not undo the capture).
CAPTURED_STATUSES = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
_V1_CAPTURED_STATES = frozenset({"completed", "partially_refunded", "refunded"})
INVOICE_PREFIX = "INV2-"


class CaptureLink:
    """Where a capture belongs: the sale it pays (``sale_id``), the invoice it pays
    (``invoice_id``), and whether refunds of it are booked by another channel."""

    def __init__(self, sale_id: str = "", invoice_id: str = "", external_sale: bool = False) -> None:
        self.sale_id = sale_id
        self.invoice_id = invoice_id
        self.external_sale = external_sale


def order_id_of(capture: Mapping[str, Any]) -> str:
    """The Orders v2 order a capture belongs to (``supplementary_data.related_ids.order_id``, or
    the ``up`` link when it points at an order)."""
    supplementary = capture.get("supplementary_data")
    if isinstance(supplementary, Mapping):
        related = supplementary.get("related_ids")
        if isinstance(related, Mapping) and isinstance(related.get("order_id"), str):
            return str(related["order_id"])
    up = link(capture, "up")
    if "/checkout/orders/" in up:
        return last_path_segment(up)
    return ""


def capture_link(capture: Mapping[str, Any], ctx: Context, *, order_sale_id: str = "") -> CaptureLink:
    """Decide what a capture pays (see the module doc). ``order_sale_id`` is given when the
    caller already knows the order's sale (a capture embedded in an order)."""
    invoice_field = text(capture.get("invoice_id") or capture.get("invoice_number"))
    if invoice_field.startswith(INVOICE_PREFIX):
        return CaptureLink(invoice_id=invoice_field)
    if not ctx.books_sales:
        ref = text(capture.get(ctx.sale_reference_field))
        if not ref and ctx.sale_reference_field == "custom_id":
            ref = text(capture.get("custom"))  # v1 spelling
        if not ref and ctx.sale_reference_field == "invoice_id":
            ref = text(capture.get("invoice_number"))
        return CaptureLink(sale_id=ref, external_sale=bool(ref))
    if order_sale_id:
        return CaptureLink(sale_id=order_sale_id)
    order_id = order_id_of(capture)
    if not order_id:
        return CaptureLink()
    if ctx.api is not None:
        from .orders import sale_id_for_capture  # orders import this module

        order = ctx.api.get(f"/v2/checkout/orders/{order_id}")
        return CaptureLink(sale_id=sale_id_for_capture(order, str(capture.get("id"))))
    # Without credentials the order cannot be read; an order of one purchase unit (nearly all)
    # is booked under its own id, so the capture is its tender.
    return CaptureLink(sale_id=order_id)


def _require_id(obj: Mapping[str, Any], what: str) -> str:
    value = obj.get("id")
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"paypal: {what} has no id")
    return value


def _rate(value: Any, what: str) -> Decimal:
    """An exchange rate string as a positive Decimal."""
    try:
        rate = Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"paypal: {what} exchange rate {value!r} is not a number") from exc
    if not rate.is_finite() or rate <= 0:
        raise MalformedPayload(f"paypal: {what} exchange rate {value!r} is not a positive number")
    return rate


def _metadata(capture: Mapping[str, Any], fee: Decimal, net: Decimal) -> dict[str, str]:
    """What a payment keeps for people and for reconciliation: fee, net and the merchant's references."""
    meta = {"paypal_fee": str(fee), "net": str(net)}
    for key, v1 in (("invoice_id", "invoice_number"), ("custom_id", "custom")):
        value = text(capture.get(key) or capture.get(v1))
        if value:
            meta[key] = value
    return meta


def payment_from_capture(capture_obj: Any, ctx: Context, link_to: CaptureLink) -> Payment | None:
    """A completed v2 capture as a Payment; None while pending, or when declined or failed."""
    capture = as_mapping(capture_obj, "capture")
    capture_id = _require_id(capture, "capture")
    if capture.get("status") not in CAPTURED_STATUSES:
        return None
    currency = currency_of(capture.get("amount"), f"capture {capture_id} amount")
    amount = money_value(capture.get("amount"), f"capture {capture_id} amount", currency)
    breakdown = capture.get("seller_receivable_breakdown")
    fee = money.zero(currency)
    net = amount
    rates: tuple[ExchangeRate, ...] = ()
    meta: dict[str, str]
    if isinstance(breakdown, Mapping):
        what = f"capture {capture_id} seller_receivable_breakdown"
        gross = money_value(breakdown.get("gross_amount"), f"{what}.gross_amount", currency)
        if gross != amount:
            raise MalformedPayload(f"paypal: {what}: gross {gross} differs from the captured {amount}")
        fee = optional_money(breakdown.get("paypal_fee"), f"{what}.paypal_fee", currency)
        platform = sum(
            (
                money_value(as_mapping(p, "platform fee").get("amount"), f"{what}.platform_fees", currency)
                for p in as_list(breakdown.get("platform_fees"), f"{what}.platform_fees")
            ),
            money.zero(currency),
        )
        net = (
            optional_money(breakdown.get("net_amount"), f"{what}.net_amount", currency)
            if breakdown.get("net_amount") is not None
            else amount - fee - platform
        )
        if amount - fee - platform != net:
            raise MalformedPayload(
                f"paypal: {what}: gross - fees != net ({amount} - {fee} - {platform} != {net})"
            )
        meta = _metadata(capture, fee, net)
        if platform:
            meta["platform_fees"] = str(platform)
        exchange = breakdown.get("exchange_rate")
        if isinstance(exchange, Mapping) and exchange.get("value") is not None:
            base = currency_of({"currency_code": exchange.get("source_currency") or currency}, what)
            quote = currency_of({"currency_code": exchange.get("target_currency")}, f"{what}.exchange_rate")
            rates = (ExchangeRate(base, quote, _rate(exchange.get("value"), what)),)
            receivable = breakdown.get("receivable_amount")
            if isinstance(receivable, Mapping):
                meta["receivable_amount"] = str(money_value(receivable, f"{what}.receivable_amount", quote))
                meta["receivable_currency"] = quote
    else:
        meta = _metadata(capture, fee, net)
        meta["fee_source"] = "unavailable: the capture carries no seller_receivable_breakdown"
    return Payment(
        external_id=capture_id,
        occurred_at=parse_time(capture.get("create_time"), f"capture {capture_id} create_time"),
        currency=currency,
        amount=amount,
        method=METHOD,
        gateway=GATEWAY,
        fee=fee,
        sale_external_id=link_to.sale_id,
        invoice_external_id=link_to.invoice_id,
        exchange_rates=rates,
        source_updated_at=_updated(capture, ctx),
        metadata=meta,
    )


def payment_from_v1_sale(sale_obj: Any, ctx: Context) -> Payment | None:
    """A completed Payments v1 ``sale`` (``PAYMENT.SALE.COMPLETED``) as a Payment."""
    sale = as_mapping(sale_obj, "sale")
    sale_id = _require_id(sale, "sale")
    if text(sale.get("state")).lower() not in _V1_CAPTURED_STATES:
        return None
    what = f"sale {sale_id}"
    currency = currency_of(sale.get("amount"), f"{what} amount")
    amount = money_value(sale.get("amount"), f"{what} amount", currency)
    fee = optional_money(sale.get("transaction_fee"), f"{what} transaction_fee", currency)
    meta = _metadata(sale, fee, amount - fee)
    rates: tuple[ExchangeRate, ...] = ()
    receivable = sale.get("receivable_amount")
    if sale.get("exchange_rate") is not None and isinstance(receivable, Mapping):
        quote = currency_of(receivable, f"{what} receivable_amount")
        rates = (ExchangeRate(currency, quote, _rate(sale.get("exchange_rate"), what)),)
        meta["receivable_amount"] = str(money_value(receivable, f"{what} receivable_amount", quote))
        meta["receivable_currency"] = quote
    link_to = capture_link(sale, ctx)
    return Payment(
        external_id=sale_id,
        occurred_at=parse_time(sale.get("create_time"), f"{what} create_time"),
        currency=currency,
        amount=amount,
        method=METHOD,
        gateway=GATEWAY,
        fee=fee,
        sale_external_id=link_to.sale_id,
        invoice_external_id=link_to.invoice_id,
        exchange_rates=rates,
        source_updated_at=_updated(sale, ctx),
        metadata=meta,
    )


def _updated(obj: Mapping[str, Any], ctx: Context) -> Any:
    raw = obj.get("update_time")
    if isinstance(raw, str) and raw:
        return parse_time(raw, "update_time")
    return ctx.event_time


# -- refunds ---------------------------------------------------------------------------------


def _capture_of(refund: Mapping[str, Any], what: str) -> str:
    """The refunded capture's id from ``links[rel=up]``."""
    up = link(refund, "up")
    capture_id = last_path_segment(up) if "/captures/" in up or "/sale/" in up else ""
    if not capture_id:
        raise MalformedPayload(f"paypal: {what} has no link to its capture (links[rel=up])")
    return capture_id


def _link_of_capture(capture_id: str, hint: Mapping[str, Any], ctx: Context) -> CaptureLink:
    """What the refunded capture paid: read from the capture itself when the API is available,
    else from what the refund repeats (``invoice_id``/``custom_id``)."""
    if ctx.api is not None:
        try:
            capture = ctx.api.get(f"/v2/payments/captures/{capture_id}")
        except Permanent:
            capture = None  # an old v1 sale the v2 API does not serve: decide from the refund
        if capture is not None:
            return capture_link(capture, ctx)
    return capture_link(hint, ctx)


def _refund_document(
    *,
    refund_id: str,
    capture_id: str,
    link_to: CaptureLink,
    currency: str,
    total: Decimal,
    fee_back: Decimal,
    occurred: Any,
    updated: Any,
    reason: str,
    meta: dict[str, str],
) -> Refund:
    """The Refund of a capture, linked to the sale the capture paid (or to the capture itself)."""
    meta = {"capture_id": capture_id, **meta}
    return Refund(
        external_id=refund_id,
        # A refund of a standalone capture points to the capture itself (see the platform page).
        sale_external_id=link_to.sale_id or capture_id,
        occurred_at=occurred,
        currency=currency,
        total=total,
        # PayPal refunds money, not lines: the whole amount is the adjustment, so lines + shipping
        # + adjustment == total holds as for every other source.
        adjustment=total,
        tenders=(Tender(method=METHOD, amount=total, gateway=GATEWAY, reference=capture_id, fee=-fee_back),),
        reason=reason,
        source_updated_at=updated,
        metadata=meta,
    )


def refund_from_object(refund_obj: Any, ctx: Context) -> Refund | None:
    """A completed v2 refund as a Refund of the sale its capture paid; None while pending, when
    failed or cancelled, or when another channel books the sale (and so its refunds)."""
    refund = as_mapping(refund_obj, "refund")
    refund_id = _require_id(refund, "refund")
    if refund.get("status") != "COMPLETED":
        return None
    what = f"refund {refund_id}"
    capture_id = _capture_of(refund, what)
    link_to = _link_of_capture(capture_id, refund, ctx)
    if link_to.external_sale:
        return None
    currency = currency_of(refund.get("amount"), f"{what} amount")
    total = money_value(refund.get("amount"), f"{what} amount", currency)
    breakdown = refund.get("seller_payable_breakdown")
    fee_back = money.zero(currency)
    meta: dict[str, str] = {}
    if isinstance(breakdown, Mapping):
        fee_back = optional_money(breakdown.get("paypal_fee"), f"{what} paypal_fee", currency)
        if breakdown.get("net_amount") is not None:
            meta["net"] = str(money_value(breakdown.get("net_amount"), f"{what} net_amount", currency))
    if link_to.invoice_id:
        meta["invoice_id"] = link_to.invoice_id
    return _refund_document(
        refund_id=refund_id,
        capture_id=capture_id,
        link_to=link_to,
        currency=currency,
        total=total,
        fee_back=fee_back,
        occurred=parse_time(refund.get("create_time"), f"{what} create_time"),
        updated=_updated(refund, ctx),
        reason=text(refund.get("note_to_payer")),
        meta=meta,
    )


def refund_from_v1(refund_obj: Any, ctx: Context) -> Refund | None:
    """A completed Payments v1 ``refund`` (``PAYMENT.SALE.REFUNDED``): ``sale_id`` names the sale."""
    refund = as_mapping(refund_obj, "refund")
    refund_id = _require_id(refund, "refund")
    if text(refund.get("state")).lower() != "completed":
        return None
    what = f"refund {refund_id}"
    capture_id = text(refund.get("sale_id")) or _capture_of(refund, what)
    link_to = _link_of_capture(capture_id, refund, ctx)
    if link_to.external_sale:
        return None
    currency = currency_of(refund.get("amount"), f"{what} amount")
    total = abs(money_value(refund.get("amount"), f"{what} amount", currency))
    fee_back = abs(optional_money(refund.get("refund_from_transaction_fee"), f"{what} fee", currency))
    return _refund_document(
        refund_id=refund_id,
        capture_id=capture_id,
        link_to=link_to,
        currency=currency,
        total=total,
        fee_back=fee_back,
        occurred=parse_time(refund.get("create_time"), f"{what} create_time"),
        updated=_updated(refund, ctx),
        reason=text(refund.get("reason") or refund.get("description")),
        meta={},
    )


# -- reversals -------------------------------------------------------------------------------


def _reversal(
    capture_id: str, currency: str, amount: Decimal, occurred: Any, updated: Any, reversal_id: str
) -> Dispute:
    """A reversal as the capture's lost Dispute."""
    return Dispute(
        external_id=capture_id,  # one dispute document per capture: see disputes.py
        occurred_at=occurred,
        currency=currency,
        amount=amount,
        status="lost",
        payment_external_id=capture_id,
        reason="reversal",
        source_updated_at=updated,
        metadata={"reversal_id": reversal_id, "source": "reversal"},
    )


def reversal_dispute(reversal_obj: Any, ctx: Context) -> Dispute | None:
    """``PAYMENT.CAPTURE.REVERSED``: PayPal took the money back (its resource is a refund)."""
    refund = as_mapping(reversal_obj, "reversal")
    reversal_id = _require_id(refund, "reversal")
    if refund.get("status") not in (None, "COMPLETED"):
        return None
    what = f"reversal {reversal_id}"
    capture_id = _capture_of(refund, what)
    currency = currency_of(refund.get("amount"), f"{what} amount")
    amount = abs(money_value(refund.get("amount"), f"{what} amount", currency))
    return _reversal(
        capture_id,
        currency,
        amount,
        parse_time(refund.get("create_time"), f"{what} create_time"),
        _updated(refund, ctx),
        reversal_id,
    )


def reversal_dispute_v1(reversal_obj: Any, ctx: Context) -> Dispute | None:
    """``PAYMENT.SALE.REVERSED`` (v1): the resource is a refund naming the reversed ``sale_id``."""
    refund = as_mapping(reversal_obj, "reversal")
    reversal_id = _require_id(refund, "reversal")
    what = f"reversal {reversal_id}"
    capture_id = text(refund.get("sale_id")) or _capture_of(refund, what)
    currency = currency_of(refund.get("amount"), f"{what} amount")
    amount = abs(money_value(refund.get("amount"), f"{what} amount", currency))
    return _reversal(
        capture_id,
        currency,
        amount,
        parse_time(refund.get("create_time"), f"{what} create_time"),
        _updated(refund, ctx),
        reversal_id,
    )
