"""The store's order workflow (which statuses make a sale, cancellations, partly cancelled
orders) and the B2B invoices of orders sold on credit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connectors.base import MalformedPayload
from integrator.canonical import Invoice, Payment, Sale
from integrator.services.transactions import expected_total, validate_document
from tests.fixtures.magento import load, make_source

D = Decimal


def _with(name: str, **fields: object) -> dict:
    order = load(name)
    order.update(fields)
    return order


@pytest.mark.parametrize(
    ("state", "status", "invoiced", "expected"),
    [
        ("new", "pending", False, None),  # placed, nothing paid
        ("pending_payment", "pending_payment", False, None),  # waiting for the gateway's redirect
        ("payment_review", "fraud", False, None),
        ("processing", "processing", False, None),  # shipped before it was invoiced
        ("processing", "processing", True, "completed"),  # "processing with an invoice"
        ("complete", "complete", True, "completed"),
        ("closed", "closed", True, "completed"),  # fully refunded: its credit memos reverse it
        ("holded", "holded", True, None),  # on hold: what was booked stays as it is
        ("canceled", "canceled", False, "voided"),
    ],
)
def test_default_workflow(state: str, status: str, invoiced: bool, expected: str | None) -> None:
    order = _with("order_discount_two_rates", state=state, status=status)
    if not invoiced:
        for key in ("total_invoiced", "base_total_invoiced", "total_paid", "base_total_paid"):
            order[key] = D(0)
    docs = make_source().parse_event("order", order)
    assert [d.status for d in docs if isinstance(d, Sale)] == ([expected] if expected else [])


def test_a_cancelled_order_is_a_voided_sale_as_it_was_ordered() -> None:
    (sale,) = make_source().parse_event("order", load("order_canceled"))
    # Voided as ordered (50.00 + 10.00 VAT + 4.95 + 0.99 = 65.94), so it still validates and the
    # journal books nothing for it (and reverses an earlier revision that booked it).
    assert (sale.status, sale.total, len(sale.lines)) == ("voided", D("65.94"), 1)
    assert validate_document(sale) == [] and sale.tenders[0].amount == D("0.00")


def test_store_specific_statuses_and_no_invoice_requirement() -> None:
    source = make_source(
        sale_statuses="complete,ready_to_ship", require_invoice=False, void_statuses=["canceled", "rejected"]
    )
    assert (
        source.parse_event(
            "order", _with("order_discount_two_rates", state="processing", status="processing")
        )
        == []
    )
    order = _with("order_discount_two_rates", state="processing", status="ready_to_ship")
    for key in ("total_invoiced", "base_total_invoiced", "total_paid", "base_total_paid"):
        order[key] = D(0)
    (sale,) = source.parse_event("order", order)
    # Booked before payment: nothing was paid, so the card tender is 0.00 and the journal books
    # the 133.85 as an unpaid balance.
    assert sale.status == "completed" and sale.tenders[0].amount == D("0.00") and sale.total == D("133.85")
    (voided,) = source.parse_event("order", _with("order_pending", state="holded", status="rejected"))
    assert voided.status == "voided"


def test_partly_cancelled_order_is_booked_for_what_was_not_cancelled() -> None:
    order = load("order_discount_two_rates")
    # The lantern was out of stock and cancelled; the scarves were invoiced and shipped.
    lantern = order["items"][2]
    lantern.update(qty_canceled=D(1), qty_invoiced=D(0))
    for key, value in (
        ("total_canceled", "30.71"),
        ("subtotal_canceled", "32.50"),
        ("tax_canceled", "1.46"),
        ("discount_canceled", "3.25"),
    ):
        order[key] = order[f"base_{key}"] = D(value)
    for key in ("total_invoiced", "base_total_invoiced", "total_paid", "base_total_paid"):
        order[key] = D("103.14")
    (sale,) = make_source().parse_event("order", order)
    # Scarves 81.00 + 16.20 and delivery 4.95 + 0.99 = 103.14 = 133.85 - 30.71 cancelled.
    assert [ln.sku for ln in sale.lines] == ["KENTE-SCARF-RED"]
    assert sale.total == D("103.14") == expected_total(sale) and sale.tenders[0].amount == D("103.14")
    assert sale.metadata["partly_canceled"] == "30.71"


def test_b2b_order_is_no_sale_and_its_invoice_is_a_b2b_invoice() -> None:
    source = make_source(b2b_payment_methods="companycredit, purchaseorder", payment_terms_days=45)
    assert source.parse_event("order", load("order_b2b_company_credit")) == []
    docs = source.parse_event(
        "invoice", {"invoice": load("invoice_b2b"), "order": load("order_b2b_company_credit")}
    )
    (invoice,) = docs
    assert isinstance(invoice, Invoice)
    # 10 x 80.00 = 800.00 + VAT 160.00, freight 25.00 + VAT 5.00 = 990.00, due 45 days after
    # 21 November 2026.
    assert invoice.total == D("990.00") == expected_total(invoice)
    assert invoice.due_date == date(2027, 1, 5)
    assert (invoice.customer.company, invoice.customer.tax_number) == ("Accra Trading Ltd", "GB123456789")
    assert (invoice.number, invoice.status) == ("000000041", "paid")
    assert validate_document(invoice) == []


def test_b2b_invoice_paid_state_as_payment_when_the_store_says_so() -> None:
    source = make_source(b2b_payment_methods="companycredit", invoice_paid_is_payment=True)
    docs = source.parse_event(
        "invoice", {"invoice": load("invoice_b2b"), "order": load("order_b2b_company_credit")}
    )
    invoice, payment = docs
    assert isinstance(payment, Payment)
    assert (payment.invoice_external_id, payment.amount, payment.method) == (
        "41",
        D("990.00"),
        "company_credit",
    )
    assert payment.external_id == "invoice-41-paid" and invoice.external_id == "41"


def test_invoices_of_other_orders_cancelled_invoices_and_invoices_without_order() -> None:
    source = make_source(b2b_payment_methods="companycredit")
    invoice = load("invoice_b2b")
    assert (
        source.parse_event("invoice", {"invoice": invoice, "order": load("order_discount_two_rates")}) == []
    )
    invoice["state"] = 3
    assert (
        source.parse_event("invoice", {"invoice": invoice, "order": load("order_b2b_company_credit")}) == []
    )
    with pytest.raises(MalformedPayload, match="without its order"):
        source.parse_event("invoice", {"invoice": load("invoice_b2b"), "order": None})


def test_event_types_that_carry_nothing() -> None:
    assert make_source().parse_event("shipment", {"entity_id": 1}) == []
