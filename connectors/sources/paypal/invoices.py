"""PayPal Invoicing (Invoicing v2) -> Invoice documents and the payments recorded on them.

An invoice is booked once it has been sent (``SENT``, ``UNPAID``, ``PARTIALLY_PAID``, ``PAID``,
``MARKED_AS_PAID``, ``PAYMENT_PENDING``, and their refunded states); drafts and scheduled invoices
are not yet owed and book nothing. Each item has a quantity, a unit price (before tax and discount),
an optional discount (an amount for the line, or a percentage) and a tax with PayPal's own ``name``
and ``percent``, so tax lines are named as the invoicer named them. ``configuration.tax_inclusive``
says whether prices include tax. An invoice-level discount is spread over the lines in proportion
to their value after their own discounts; shipping has its own amount and tax. A positive custom
amount is a fee line; a negative one is a further discount.

Payments: an invoice paid through PayPal produces a PayPal capture whose ``invoice_id`` is the
invoice's id; that capture is the Payment (``invoice_external_id``), booked from the capture's
webhook or from the back-fill, with PayPal's fee. The invoice event therefore only adds the
payments PayPal did not process (``type`` ``EXTERNAL``: cash, cheque, bank transfer marked on the
invoice), each as a Payment of the invoice with the method the invoicer recorded.
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
    Invoice,
    LineItem,
    Party,
    Payment,
    ShippingLine,
    TaxLine,
)

from .context import GATEWAY, Context
from .values import (
    as_list,
    as_mapping,
    currency_of,
    midday,
    money_value,
    optional_money,
    parse_date,
    parse_time,
    sub,
    text,
)

__all__ = ["BOOKED_STATUSES", "documents_from_invoice"]

BOOKED_STATUSES = frozenset(
    {
        "SENT",
        "UNPAID",
        "PARTIALLY_PAID",
        "PAID",
        "MARKED_AS_PAID",
        "PAYMENT_PENDING",
        "PARTIALLY_REFUNDED",
        "REFUNDED",
        "MARKED_AS_REFUNDED",
    }
)
ZERO = Decimal(0)
_HUNDRED = Decimal(100)


def _percent(value: Any, what: str) -> Decimal:
    """A PayPal percentage string (``"20"``) as a fraction (0.20)."""
    try:
        rate = Decimal(str(value)) / _HUNDRED
    except Exception as exc:
        raise MalformedPayload(f"paypal: {what} percent {value!r} is not a number") from exc
    if not rate.is_finite() or rate < 0:
        raise MalformedPayload(f"paypal: {what} percent {value!r} is not a positive number")
    return rate


def _tax(tax_obj: Any, base: Decimal, currency: str, what: str) -> TaxLine | None:
    """An item's or shipping's tax as PayPal named and computed it (computed here only if absent)."""
    if not isinstance(tax_obj, Mapping):
        return None
    rate = _percent(tax_obj.get("percent", "0"), f"{what} tax")
    if tax_obj.get("amount") is not None:
        amount = money_value(tax_obj.get("amount"), f"{what} tax amount", currency)
    else:
        amount = money.quantize(base * rate, currency)
    if amount == 0 and rate == 0:
        return None
    return TaxLine(
        title=text(tax_obj.get("name")) or f"Tax {(rate * 100).normalize():f}%", rate=rate, amount=amount
    )


def _line_discount(discount_obj: Any, gross: Decimal, currency: str, what: str) -> Decimal:
    """A discount as an amount: PayPal's amount when given (it takes precedence), else the percent of ``gross``."""
    if not isinstance(discount_obj, Mapping):
        return ZERO
    if discount_obj.get("amount") is not None:
        return money_value(discount_obj.get("amount"), f"{what} discount", currency)
    if discount_obj.get("percent") is not None:
        return money.quantize(gross * _percent(discount_obj.get("percent"), f"{what} discount"), currency)
    return ZERO


def _customer(invoice: Mapping[str, Any]) -> Party:
    """The first recipient's billing details as the invoice's customer."""
    recipients = as_list(invoice.get("primary_recipients"), "primary_recipients")
    billing = recipients[0].get("billing_info") if recipients and isinstance(recipients[0], Mapping) else None
    billing = billing if isinstance(billing, Mapping) else {}
    name = sub(billing, "name")
    person = text(name.get("full_name")) or " ".join(
        x for x in (text(name.get("given_name")), text(name.get("surname"))) if x
    )
    email = text(billing.get("email_address"))
    company = text(billing.get("business_name"))
    return Party(external_id=email, name=company or person, email=email, company=company)


def documents_from_invoice(invoice_obj: Any, ctx: Context) -> list[CanonicalDocument]:
    """The invoice (once sent) and its external payments."""
    raw = as_mapping(invoice_obj, "invoice")
    invoice = as_mapping(raw.get("invoice"), "invoice") if "invoice" in raw and "detail" not in raw else raw
    invoice_id = text(invoice.get("id"))
    if not invoice_id:
        raise MalformedPayload("paypal: invoice has no id")
    status = text(invoice.get("status"))
    if status not in BOOKED_STATUSES:
        return []  # drafts, scheduled and cancelled invoices book nothing (see the platform page)
    what = f"invoice {invoice_id}"
    detail = as_mapping(invoice.get("detail"), f"{what} detail")
    currency = currency_of({"currency_code": detail.get("currency_code")}, f"{what} currency_code")
    config = sub(invoice, "configuration")
    inclusive = bool(config.get("tax_inclusive"))
    total = money_value(invoice.get("amount"), f"{what} amount", currency)
    amount_obj = as_mapping(invoice.get("amount"), f"{what} amount")
    breakdown = sub(amount_obj, "breakdown")

    items = [as_mapping(i, "item") for i in as_list(invoice.get("items"), f"{what} items")]
    grosses: list[Decimal] = []
    own_discounts: list[Decimal] = []
    for n, item in enumerate(items):
        label = f"{what} item {text(item.get('name')) or n + 1}"
        quantity = Decimal(text(item.get("quantity")) or "1")
        price = money_value(item.get("unit_amount"), f"{label} unit_amount", currency)
        gross = money.quantize(quantity * price, currency)
        grosses.append(gross)
        own_discounts.append(_line_discount(item.get("discount"), gross, currency, label))
    extra_discount = ZERO
    invoice_discount = sub(breakdown, "discount")
    level = invoice_discount.get("invoice_discount")
    if isinstance(level, Mapping):
        after_own = sum((g - d for g, d in zip(grosses, own_discounts, strict=True)), ZERO)
        # PayPal reports the computed invoice discount as a negative amount beside the percent.
        extra_discount = abs(_line_discount(level, after_own, currency, f"{what} invoice discount"))
    custom = sub(breakdown, "custom")
    custom_amount = optional_money(custom.get("amount"), f"{what} custom amount", currency)
    if custom_amount < 0:
        extra_discount += -custom_amount
    shares = (
        money.allocate(extra_discount, [g - d for g, d in zip(grosses, own_discounts, strict=True)], currency)
        if extra_discount and items
        else [ZERO] * len(items)
    )
    lines: list[LineItem] = []
    for n, item in enumerate(items):
        label = f"{what} item {text(item.get('name')) or n + 1}"
        discount = own_discounts[n] + shares[n]
        # Only used when PayPal omits the computed tax amount: the base follows the invoice's setting.
        base = grosses[n] - discount if config.get("tax_calculated_after_discount", True) else grosses[n]
        tax_line = _tax(item.get("tax"), base, currency, label)
        lines.append(
            LineItem(
                line_id=text(item.get("id")) or str(n + 1),
                sku="",
                name=text(item.get("name")) or f"Item {n + 1}",
                quantity=Decimal(text(item.get("quantity")) or "1"),
                unit_price=money_value(item.get("unit_amount"), f"{label} unit_amount", currency),
                discount=discount,
                tax_lines=(tax_line,) if tax_line else (),
            )
        )
    if custom_amount > 0:
        lines.append(
            LineItem(
                line_id="custom",
                sku="",
                name=text(custom.get("label")) or "Custom amount",
                quantity=Decimal(1),
                unit_price=custom_amount,
                kind="fee",
            )
        )
    shipping: list[ShippingLine] = []
    ship = sub(breakdown, "shipping")
    ship_amount = optional_money(ship.get("amount"), f"{what} shipping", currency)
    if ship_amount:
        ship_tax = _tax(ship.get("tax"), ship_amount, currency, f"{what} shipping")
        shipping.append(
            ShippingLine(title="Shipping", amount=ship_amount, tax_lines=(ship_tax,) if ship_tax else ())
        )
    discounts = (
        (Discount(code="invoice_discount", amount=extra_discount, target="order"),) if extra_discount else ()
    )
    term = sub(detail, "payment_term")
    due = parse_date(term.get("due_date"), f"{what} due_date") if term.get("due_date") else None
    issued = parse_date(detail.get("invoice_date"), f"{what} invoice_date")
    meta = sub(detail, "metadata")
    updated = meta.get("last_update_time")
    docs: list[CanonicalDocument] = [
        Invoice(
            external_id=invoice_id,
            occurred_at=midday(issued),
            currency=currency,
            total=total,
            lines=tuple(lines),
            customer=_customer(invoice),
            due_date=due,
            prices_include_tax=inclusive,
            number=text(detail.get("invoice_number")) or invoice_id,
            shipping=tuple(shipping),
            discounts=discounts,
            status="paid" if status in ("PAID", "MARKED_AS_PAID") else "open",
            source_updated_at=parse_time(updated, f"{what} last_update_time") if updated else ctx.event_time,
            metadata={"paypal_status": status, "reference": text(detail.get("reference"))},
        )
    ]
    payments = sub(invoice, "payments")
    for n, raw_payment in enumerate(as_list(payments.get("transactions"), f"{what} payments")):
        payment = as_mapping(raw_payment, f"{what} payment")
        if payment.get("type") != "EXTERNAL":
            continue  # a PayPal payment is its capture: booked from the capture (module doc)
        payment_id = text(payment.get("payment_id")) or f"{invoice_id}:external:{n + 1}"
        method = text(payment.get("method")).lower() or "other"
        docs.append(
            Payment(
                external_id=payment_id,
                occurred_at=midday(parse_date(payment.get("payment_date"), f"{what} payment_date")),
                currency=currency,
                amount=money_value(payment.get("amount"), f"{what} payment amount", currency),
                method=method,
                gateway=f"{GATEWAY}_invoicing",
                invoice_external_id=invoice_id,
                customer=_customer(invoice),
                metadata={"note": text(payment.get("note"))} if text(payment.get("note")) else {},
            )
        )
    return docs
