"""A Squarespace order (Orders API) and its transactions Document (Transactions API) -> a Sale and
its Refunds.

The two APIs split the truth: the **order** has the goods (``lineItems[]`` with ``unitPricePaid``
and ``quantity``, ``shippingLines[]``, ``discountLines[]``, the totals and
``priceTaxInterpretation``); the **Document** has the money (``payments[]`` with their
``processingFees[]`` and ``refunds[]``, and per line the ``discountAmount`` and ``taxes[]`` with
name and rate). One Document belongs to one order (``salesOrderId``).

* Lines: gross = ``unitPricePaid`` x ``quantity``; the discount and the taxes come from the
  Document's ``salesLineItems[]`` (matched by id, else by position). Without a Document (an order
  imported from another channel) the order's ``discountTotal`` and ``taxTotal`` are shared over the
  lines in proportion to their value, under one tax named "Tax".
* ``priceTaxInterpretation`` ``INCLUSIVE`` means prices include tax.
* Tenders: one per payment, method = the provider in lower case (``squarespace``, ``stripe``,
  ``paypal``, ``square``) or ``gift_card`` for a payment by gift card; ``fee`` = the processing
  fees in the site's currency. A fee charged in another currency (``amountGatewayCurrency`` with
  ``exchangeRate``) gives the Sale an exchange rate.
* Refunds: the Transactions API gives each refund's amount, never its items. A refund of the whole
  order (the only refund, equal to the grand total) mirrors the sale exactly. Any other refund is
  booked as an amount (an ``adjustment``) unless the channel chooses ``refund_allocation =
  proportional``, which shares the amount over the sale's lines, shipping and taxes in proportion.
  A processing fee given back (``feeRefunds[]``, matched on ``externalTransactionId``) is a
  negative fee on the refund's tender.
* A voided Document (``voided``) makes a voided Sale; test-mode orders book nothing unless the
  channel includes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
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
    TaxLine,
    Tender,
)

from . import values as v

__all__ = ["Choices", "build_documents"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class Choices:
    """What the channel decided: how to split partial refunds, whether to book test orders."""

    refund_allocation: Literal["amount_only", "proportional"] = "amount_only"
    include_test_orders: bool = False


def _text(value: Any) -> str:
    return str(value or "").strip()


def _taxes(obj: Mapping[str, Any], cur: str, what: str) -> tuple[TaxLine, ...]:
    return tuple(
        TaxLine(
            title=_text(t.get("name")) or "Tax",
            rate=v.rate(t.get("rate"), f"{what} tax rate"),
            amount=v.money_value(t.get("amount"), cur, f"{what} tax"),
            code=_text(t.get("jurisdiction")),
        )
        for t in v.objects(obj, "taxes")
    )


def _name(item: Mapping[str, Any]) -> str:
    name = _text(item.get("productName")) or "Item"
    options = [_text(o.get("value")) for o in v.objects(item, "variantOptions") if _text(o.get("value"))]
    return f"{name} ({', '.join(options)})" if options else name


def _lines(order: Mapping[str, Any], document: Mapping[str, Any] | None, cur: str) -> list[LineItem]:
    items = v.objects(order, "lineItems")
    sales = v.objects(document, "salesLineItems") if document else []
    by_id = {str(s.get("id")): s for s in sales}
    lines = []
    for position, item in enumerate(items):
        quantity = Decimal(str(item.get("quantity") or 0))
        if quantity <= 0:
            raise MalformedPayload(f"squarespace: line {item.get('id')} has quantity {quantity}")
        unit = v.money_value(item.get("unitPricePaid"), cur, "unitPricePaid", required=True)
        sale_line = by_id.get(str(item.get("id"))) or (sales[position] if len(sales) == len(items) else None)
        discount = (
            v.money_value(sale_line.get("discountAmount"), cur, "line discountAmount") if sale_line else ZERO
        )
        kind: Literal["product", "gift_card"] = (
            "gift_card" if item.get("lineItemType") == "GIFT_CARD" else "product"
        )
        lines.append(
            LineItem(
                line_id=str(item.get("id") or position),
                sku=_text(item.get("sku")),
                name=_name(item),
                quantity=quantity,
                unit_price=unit,
                discount=discount,
                tax_lines=_taxes(sale_line, cur, "line") if sale_line else (),
                kind=kind,
            )
        )
    if document is None and lines:
        lines = _share_order_totals(order, lines, cur)
    return lines


def _share_order_totals(order: Mapping[str, Any], lines: list[LineItem], cur: str) -> list[LineItem]:
    """No Document: share the order's discount and tax over the lines by value."""
    discount = v.money_value(order.get("discountTotal"), cur, "discountTotal")
    tax = v.money_value(order.get("taxTotal"), cur, "taxTotal")
    discounts = money.allocate(discount, [ln.gross(cur) for ln in lines], cur)
    taxes = money.allocate(tax, [ln.gross(cur) - d for ln, d in zip(lines, discounts, strict=True)], cur)
    shared = []
    for ln, d, t in zip(lines, discounts, taxes, strict=True):
        tax_lines = (TaxLine("Tax", ZERO, t),) if tax else ()
        shared.append(
            LineItem(
                ln.line_id, ln.sku, ln.name, ln.quantity, ln.unit_price, d, tax_lines, ln.category, ln.kind
            )
        )
    return shared


def _shipping(
    order: Mapping[str, Any], document: Mapping[str, Any] | None, cur: str
) -> tuple[ShippingLine, ...]:
    raw = v.objects(order, "shippingLines")
    charged = v.objects(document, "shippingLineItems") if document else []
    lines = []
    for position, ship in enumerate(raw):
        detail = charged[position] if position < len(charged) else None
        lines.append(
            ShippingLine(
                title=_text(ship.get("method")) or "Shipping",
                amount=v.money_value(ship.get("amount"), cur, "shipping amount"),
                discount=v.money_value(detail.get("discountAmount"), cur, "shipping discountAmount")
                if detail
                else ZERO,
                tax_lines=_taxes(detail, cur, "shipping") if detail else (),
            )
        )
    return tuple(lines)


def _fees(payment: Mapping[str, Any], cur: str) -> tuple[Decimal, tuple[ExchangeRate, ...]]:
    """A payment's processing fees in the site's currency, and the rate of any fee charged in the
    gateway's own currency."""
    total = ZERO
    rates: list[ExchangeRate] = []
    for fee in v.objects(payment, "processingFees"):
        amount = v.money_value(fee.get("amount"), cur, "processing fee")
        total += amount
        gateway = fee.get("amountGatewayCurrency")
        if isinstance(gateway, Mapping) and fee.get("exchangeRate") not in (None, "", 0):
            gateway_cur = v.currency_of(gateway, "processing fee amountGatewayCurrency")
            if gateway_cur != cur:
                gateway_amount = v.money_value(gateway, gateway_cur, "processing fee amountGatewayCurrency")
                stated = Decimal(str(fee["exchangeRate"]))
                # Which way the stated rate goes is read from the two amounts it converts between.
                forward = money.quantize(amount * stated, gateway_cur) == gateway_amount
                rates.append(
                    ExchangeRate(cur, gateway_cur, stated)
                    if forward
                    else ExchangeRate(gateway_cur, cur, stated)
                )
    return total, tuple(rates)


def _method(payment: Mapping[str, Any]) -> str:
    if payment.get("giftCardId"):
        return "gift_card"
    return _text(payment.get("provider")).lower() or "unknown"


def _tender(payment: Mapping[str, Any], cur: str) -> tuple[Tender, tuple[ExchangeRate, ...]]:
    fee, rates = _fees(payment, cur)
    method = _method(payment)
    card = _text(payment.get("creditCardType"))
    return (
        Tender(
            method=method,
            amount=v.money_value(payment.get("amount"), cur, "payment amount", required=True),
            gateway=_text(payment.get("provider")) + (f" {card}" if card else ""),
            reference=_text(payment.get("externalTransactionId")) or _text(payment.get("id")),
            fee=fee,
            kind="gift_card" if method == "gift_card" else "payment",
        ),
        rates,
    )


def _customer(order: Mapping[str, Any]) -> Party | None:
    billing = order.get("billingAddress") if isinstance(order.get("billingAddress"), Mapping) else {}
    assert isinstance(billing, Mapping)
    name = " ".join(_text(billing.get(k)) for k in ("firstName", "lastName")).strip()
    email = _text(order.get("customerEmail"))
    return Party(name=name, email=email) if name or email else None


def _sale(order: Mapping[str, Any], document: Mapping[str, Any] | None, cur: str) -> Sale:
    order_id = _text(order.get("id"))
    tenders: list[Tender] = []
    rates: list[ExchangeRate] = []
    for payment in v.objects(document, "payments") if document else []:
        tender, found = _tender(payment, cur)
        tenders.append(tender)
        rates.extend(found)
    stamps = [v.parse_time(order.get("modifiedOn") or order.get("createdOn"), "order modifiedOn")]
    if document and document.get("modifiedOn"):
        stamps.append(v.parse_time(document["modifiedOn"], "document modifiedOn"))
    metadata = {
        "fulfillment_status": _text(order.get("fulfillmentStatus")),
        "channel": _text(order.get("channelName") or order.get("channel")),
        "processing_fees": str(sum((t.fee for t in tenders), money.zero(cur))),
    }
    if document is None:
        metadata["transactions_document"] = "none"
    elif document.get("paymentGatewayError"):
        metadata["payment_gateway_error"] = _text(document["paymentGatewayError"])
    return Sale(
        external_id=order_id,
        occurred_at=v.parse_time(order.get("createdOn"), "order createdOn"),
        currency=cur,
        total=v.money_value(order.get("grandTotal"), cur, "grandTotal", required=True),
        lines=tuple(_lines(order, document, cur)),
        prices_include_tax=_text(order.get("priceTaxInterpretation")).upper() == "INCLUSIVE",
        number=_text(order.get("orderNumber")) or order_id,
        shipping=_shipping(order, document, cur),
        discounts=tuple(
            Discount(
                code=_text(d.get("promoCode") or d.get("name") or d.get("description")),
                amount=v.money_value(d.get("amount"), cur, "discount amount"),
                target="order",
            )
            for d in v.objects(order, "discountLines")
        ),
        tenders=tuple(tenders),
        customer=_customer(order),
        status="voided" if document and document.get("voided") else "completed",
        exchange_rates=tuple(dict.fromkeys(rates)),
        source_updated_at=max(stamps),
        metadata=metadata,
    )


def _proportional(sale: Sale, amount: Decimal) -> tuple[tuple[LineItem, ...], tuple[ShippingLine, ...]]:
    """Share ``amount`` over the sale's net values and taxes, in proportion, exact in sum."""
    cur = sale.currency
    weights: list[Decimal] = []
    for holder_net, taxes in [
        *(
            (ln.gross(cur) - ln.discount - (ln.tax() if sale.prices_include_tax else ZERO), ln.tax_lines)
            for ln in sale.lines
        ),
        *(
            (s.amount - s.discount - (s.tax() if sale.prices_include_tax else ZERO), s.tax_lines)
            for s in sale.shipping
        ),
    ]:
        weights.append(holder_net)
        weights.extend(t.amount for t in taxes)
    parts = iter(money.allocate(amount, weights, cur))
    lines = []
    for ln in sale.lines:
        net = next(parts)
        taxes = tuple(TaxLine(t.title, t.rate, next(parts), t.code) for t in ln.tax_lines)
        # One unit at the refunded share: the quantities returned are not known.
        lines.append(
            replace(
                ln,
                name=f"{ln.name} (share of refund)",
                quantity=Decimal(1),
                unit_price=net,
                discount=ZERO,
                tax_lines=taxes,
            )
        )
    shipping = []
    for s in sale.shipping:
        net = next(parts)
        taxes = tuple(TaxLine(t.title, t.rate, next(parts), t.code) for t in s.tax_lines)
        shipping.append(ShippingLine(s.title, net, ZERO, taxes))
    return tuple(lines), tuple(shipping)


def _fee_refunds(payment: Mapping[str, Any], cur: str) -> dict[str, Decimal]:
    given_back: dict[str, Decimal] = {}
    for fee in v.objects(payment, "processingFees"):
        for back in v.objects(fee, "feeRefunds"):
            key = _text(back.get("externalTransactionId"))
            if key:
                given_back[key] = given_back.get(key, ZERO) + v.money_value(
                    back.get("amount"), cur, "fee refund"
                )
    return given_back


def _refunds(sale: Sale, document: Mapping[str, Any], choices: Choices) -> list[Refund]:
    cur = sale.currency
    raw = [(payment, r) for payment in v.objects(document, "payments") for r in v.objects(payment, "refunds")]
    refunds: list[Refund] = []
    for payment, refund in raw:
        refund_id = _text(refund.get("id"))
        if not refund_id:
            raise MalformedPayload(f"squarespace: a refund of order {sale.external_id} has no id")
        amount = v.money_value(refund.get("amount"), cur, "refund amount", required=True)
        when = v.parse_time(refund.get("refundedOn"), "refund refundedOn")
        external = _text(refund.get("externalTransactionId"))
        tender = Tender(
            method=_method(payment),
            amount=amount,
            gateway=_text(payment.get("provider")),
            reference=external or refund_id,
            fee=-_fee_refunds(payment, cur).get(external, ZERO) if external else ZERO,
            kind="gift_card" if _method(payment) == "gift_card" else "payment",
        )
        whole = len(raw) == 1 and amount == sale.total
        lines: tuple[LineItem, ...] = ()
        shipping: tuple[ShippingLine, ...] = ()
        inclusive = sale.prices_include_tax
        if whole:
            lines, shipping = sale.lines, sale.shipping
        elif choices.refund_allocation == "proportional":
            lines, shipping = _proportional(sale, amount)
            inclusive = False
        explained = sum(
            (ln.gross(cur) - ln.discount + (ZERO if inclusive else ln.tax()) for ln in lines), ZERO
        ) + sum((s.amount - s.discount + (ZERO if inclusive else s.tax()) for s in shipping), ZERO)
        refunds.append(
            Refund(
                external_id=refund_id,
                sale_external_id=sale.external_id,
                occurred_at=when,
                currency=cur,
                total=amount,
                lines=lines,
                prices_include_tax=inclusive,
                shipping=shipping,
                tenders=(tender,),
                adjustment=amount - explained,
                number=f"{sale.number}-R{len(refunds) + 1}",
                exchange_rates=sale.exchange_rates,
                source_updated_at=when,
                metadata={
                    "order_number": sale.number,
                    "allocation": "whole order" if whole else choices.refund_allocation,
                },
            )
        )
    return refunds


def _summary_refund(order: Mapping[str, Any], sale: Sale, cur: str) -> list[Refund]:
    """No Document: the order's ``refundedTotal`` as one amount-only refund (it grows, as a new
    revision, when more is refunded)."""
    refunded = v.money_value(order.get("refundedTotal"), cur, "refundedTotal")
    if not refunded:
        return []
    when: datetime = v.parse_time(order.get("modifiedOn") or order.get("createdOn"), "order modifiedOn")
    return [
        Refund(
            external_id=f"{sale.external_id}:refunded",
            sale_external_id=sale.external_id,
            occurred_at=when,
            currency=cur,
            total=refunded,
            adjustment=refunded,
            number=f"{sale.number}-R",
            source_updated_at=when,
            metadata={"order_number": sale.number, "itemised": "no"},
        )
    ]


def build_documents(
    order: Mapping[str, Any], document: Mapping[str, Any] | None, choices: Choices = Choices()
) -> list[CanonicalDocument]:
    """``[Sale, *Refunds]`` for an order and its Document (or ``[]`` for a test order)."""
    if order.get("testmode") and not choices.include_test_orders:
        return []
    if document is not None and _text(document.get("salesOrderId")) not in ("", _text(order.get("id"))):
        raise MalformedPayload(
            f"squarespace: document {document.get('id')} belongs to order {document.get('salesOrderId')}, "
            f"not {order.get('id')}"
        )
    cur = v.currency_of(order.get("grandTotal"), "grandTotal")
    sale = _sale(order, document, cur)
    refunds = _refunds(sale, document, choices) if document is not None else _summary_refund(order, sale, cur)
    return [sale, *refunds]
