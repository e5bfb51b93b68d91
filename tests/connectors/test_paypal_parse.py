"""PayPal events to canonical documents, to the minor unit, each compared with a hand calculation.

Objects the parser fetches (the order behind a capture, the capture behind a refund) come from the
PayPal sandbox over HTTP; every document must also pass the core's validation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors import http
from connectors.base import MalformedPayload
from connectors.sandbox.paypal import PayPalSandbox
from connectors.sources.paypal import PayPalSource
from integrator.canonical import Dispute, Invoice, Payment, Refund, Sale
from integrator.services.integration_log import record_call
from integrator.services.transactions import content_hash, expected_total, validate_document
from tests.contract import load_spec
from tests.fixtures import paypal as fx

D = Decimal


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[http.CallRecord]]:
    recorded: list[http.CallRecord] = []
    http.set_call_recorder(recorded.append)
    yield recorded
    http.set_call_recorder(record_call)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[PayPalSandbox]:
    with PayPalSandbox() as server:
        yield fx.seed(server)


def parse(source: PayPalSource, event: dict[str, Any]) -> list[Any]:
    docs = source.parse_event(event["event_type"], event)
    for doc in docs:
        assert validate_document(doc) == [], doc
    return docs


def event(event_type: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "WH-TEST",
        "event_type": event_type,
        "create_time": "2026-11-20T10:15:35Z",
        "resource": resource,
    }


def test_worked_example_order_with_discount_two_tax_rates_and_shipping(sandbox: PayPalSandbox) -> None:
    """Order 5O190127TN364715T, by hand:

    kente 2 x 40.00 = 80.00, VAT 20 % 2 x 8.00 = 16.00; book 1 x 15.00, VAT 5 % 0.75;
    item_total 95.00; discount 9.50 spread by value: 80/95 x 9.50 = 8.00 and 1.50;
    shipping 5.00 whose VAT is tax_total 17.75 - 16.75 = 1.00 (20 %);
    total 95.00 - 9.50 + 5.00 + 17.75 = 108.25, paid by one capture (fee 3.44, net 104.81).
    """
    sale, payment = parse(
        fx.source(sandbox), event("CHECKOUT.ORDER.COMPLETED", fx.load("order_gbp_discount_two_taxes.json"))
    )
    assert isinstance(sale, Sale) and isinstance(payment, Payment)
    assert (sale.external_id, sale.number, sale.currency, sale.total) == (
        fx.ORDER_ID,
        "KC-10421",
        "GBP",
        D("108.25"),
    )
    kente, book = sale.lines
    assert (kente.sku, kente.quantity, kente.unit_price, kente.discount) == (
        "KENTE-12",
        2,
        D("40.00"),
        D("8.00"),
    )
    assert [(t.title, t.rate, t.amount) for t in kente.tax_lines] == [("VAT 20%", D("0.20"), D("16.00"))]
    assert (book.sku, book.quantity, book.unit_price, book.discount) == (
        "BOOK-ANANSI",
        1,
        D("15.00"),
        D("1.50"),
    )
    assert [(t.title, t.rate, t.amount) for t in book.tax_lines] == [("VAT 5%", D("0.05"), D("0.75"))]
    (shipping,) = sale.shipping
    assert (shipping.amount, shipping.discount) == (D("5.00"), D("0.00"))
    assert [(t.title, t.amount) for t in shipping.tax_lines] == [("VAT 20%", D("1.00"))]
    assert not sale.prices_include_tax
    assert expected_total(sale) == D("80.00") - D("8.00") + D("15.00") - D("1.50") + D("5.00") + D("17.75")
    (tender,) = sale.tenders
    assert (tender.method, tender.amount, tender.reference, tender.fee) == (
        "paypal",
        D("108.25"),
        fx.CAPTURE_ID,
        D("3.44"),
    )
    assert sale.customer is not None and (sale.customer.name, sale.customer.email) == (
        "Ama Mensah",
        "ama.mensah@example.com",
    )
    assert (payment.external_id, payment.amount, payment.fee, payment.sale_external_id) == (
        fx.CAPTURE_ID,
        D("108.25"),
        D("3.44"),
        fx.ORDER_ID,
    )
    assert payment.metadata["net"] == str(D("108.25") - D("3.44"))


def test_an_event_that_is_not_an_object_is_malformed(sandbox: PayPalSandbox) -> None:
    """Issue 14 (poison property): a stored event that is not a JSON object is a MalformedPayload
    with a reason, not a raw AttributeError."""
    with pytest.raises(MalformedPayload, match="not a JSON object"):
        fx.source(sandbox).parse_event("PAYMENT.CAPTURE.COMPLETED", ["not", "an", "event"])  # type: ignore[arg-type]


def test_the_capture_webhook_reads_the_order_and_gives_the_same_documents(sandbox: PayPalSandbox) -> None:
    """PAYMENT.CAPTURE.COMPLETED and CHECKOUT.ORDER.COMPLETED must land on the same transactions
    with the same content, or the second would be booked as a change."""
    by_capture = parse(fx.source(sandbox), fx.load("event_capture_completed_gbp.json"))
    by_order = parse(
        fx.source(sandbox), event("CHECKOUT.ORDER.COMPLETED", fx.load("order_gbp_discount_two_taxes.json"))
    )
    assert [(d.kind, d.external_id) for d in by_capture] == [
        ("sale", fx.ORDER_ID),
        ("payment", fx.CAPTURE_ID),
    ]
    assert [content_hash(d) for d in by_capture] == [content_hash(d) for d in by_order]


def test_without_credentials_a_capture_is_still_the_tender_of_its_order(sandbox: PayPalSandbox) -> None:
    (payment,) = parse(
        fx.source(sandbox, with_credentials=False), fx.load("event_capture_completed_gbp.json")
    )
    assert (payment.kind, payment.sale_external_id, payment.fee) == ("payment", fx.ORDER_ID, D("3.44"))


def test_a_partial_refund_points_to_the_order_and_gives_back_part_of_the_fee(sandbox: PayPalSandbox) -> None:
    (refund,) = parse(fx.source(sandbox), fx.load("event_capture_refunded_gbp.json"))
    assert isinstance(refund, Refund)
    assert (refund.external_id, refund.sale_external_id, refund.total, refund.adjustment) == (
        fx.REFUND_ID,
        fx.ORDER_ID,
        D("30.00"),
        D("30.00"),
    )
    (tender,) = refund.tenders
    assert (tender.method, tender.amount, tender.fee, tender.reference) == (
        "paypal",
        D("30.00"),
        D("-0.87"),
        fx.CAPTURE_ID,
    )
    assert refund.metadata["net"] == "29.13" and refund.reason == "One cloth arrived damaged"


def test_a_eur_capture_settled_in_gbp_keeps_its_currency_and_paypals_rate(sandbox: PayPalSandbox) -> None:
    """100.00 EUR - 3.25 fee = 96.75 EUR; x 0.854100 = 82.634175, credited as 82.63 GBP."""
    (payment,) = parse(
        fx.source(sandbox), event("PAYMENT.CAPTURE.COMPLETED", fx.load("capture_eur_settled_gbp.json"))
    )
    assert (payment.currency, payment.amount, payment.fee, payment.sale_external_id) == (
        "EUR",
        D("100.00"),
        D("3.25"),
        "",
    )
    (rate,) = payment.exchange_rates
    assert (rate.base, rate.quote, rate.rate) == ("EUR", "GBP", D("0.854100"))
    assert (
        (D("96.75") * rate.rate).quantize(D("0.01")) == D(payment.metadata["receivable_amount"]) == D("82.63")
    )


def test_a_yen_order_has_no_minor_unit(sandbox: PayPalSandbox) -> None:
    """2 x 6500 + 2000 = 15000 JPY; tax 2 x 650 (10 %) + 160 (8 %) = 1460; total 16460."""
    sale, payment = parse(fx.source(sandbox), event("CHECKOUT.ORDER.COMPLETED", fx.load("order_jpy.json")))
    assert (sale.currency, sale.total, payment.amount, payment.fee) == (
        "JPY",
        D("16460"),
        D("16460"),
        D("633"),
    )
    assert [[(t.title, t.amount) for t in ln.tax_lines] for ln in sale.lines] == [
        [("Tax 10%", D("1300"))],
        [("Tax 8%", D("160"))],
    ]
    assert all(ln.unit_price == ln.unit_price.to_integral_value() for ln in sale.lines)
    bad = fx.load("order_jpy.json")
    bad["purchase_units"][0]["items"][1]["unit_amount"]["value"] = "2000.5"
    with pytest.raises(MalformedPayload, match="more decimals than JPY allows"):
        fx.source(sandbox).parse_event("CHECKOUT.ORDER.COMPLETED", event("CHECKOUT.ORDER.COMPLETED", bad))


def test_v1_sale_and_its_refund(sandbox: PayPalSandbox) -> None:
    (payment,) = parse(fx.source(sandbox), fx.load("event_sale_completed_v1.json"))
    assert (payment.external_id, payment.amount, payment.fee, payment.sale_external_id) == (
        fx.V1_SALE_ID,
        D("24.99"),
        D("1.02"),
        "",
    )
    assert payment.metadata["invoice_id"] == "KC-10388"
    (refund,) = parse(fx.source(sandbox), fx.load("event_sale_refunded_v1.json"))
    assert (refund.total, refund.sale_external_id, refund.tenders[0].fee) == (
        D("5.00"),
        fx.V1_SALE_ID,
        D("-0.15"),
    )


def test_disputes_open_won_and_lost_and_a_reversal_of_the_same_capture(sandbox: PayPalSandbox) -> None:
    (opened,) = parse(fx.source(sandbox), fx.load("event_dispute_created.json"))
    (won,) = parse(fx.source(sandbox), fx.load("event_dispute_resolved_won.json"))
    assert isinstance(opened, Dispute) and isinstance(won, Dispute)
    assert (opened.external_id, opened.status, opened.amount) == (
        fx.WON_CAPTURE_ID,
        "needs_response",
        D("62.50"),
    )
    assert (won.external_id, won.status) == (fx.WON_CAPTURE_ID, "won")  # debited then credited back
    assert won.source_updated_at is not None and opened.source_updated_at is not None
    assert won.source_updated_at > opened.source_updated_at

    (lost,) = parse(fx.source(sandbox), event("CUSTOMER.DISPUTE.RESOLVED", fx.load("dispute_lost.json")))
    assert (lost.external_id, lost.status, lost.amount, lost.fee) == (
        fx.LOST_CAPTURE_ID,
        "lost",
        D("45.00"),
        D("0.00"),
    )
    assert lost.metadata["dispute_fee"] == "14.00"  # booked from the transfer that deducts it
    (reversal,) = parse(fx.source(sandbox), fx.load("event_capture_reversed.json"))
    assert (reversal.kind, reversal.external_id, reversal.status, reversal.amount) == (
        "dispute",
        fx.LOST_CAPTURE_ID,
        "lost",
        D("45.00"),
    )


def test_a_slim_dispute_webhook_is_completed_from_the_api(sandbox: PayPalSandbox) -> None:
    slim = {
        k: v
        for k, v in fx.load("dispute_lost.json").items()
        if k not in ("disputed_transactions", "dispute_outcome")
    }
    (lost,) = parse(fx.source(sandbox), event("CUSTOMER.DISPUTE.RESOLVED", slim))
    assert (lost.external_id, lost.status) == (fx.LOST_CAPTURE_ID, "lost")
    with pytest.raises(MalformedPayload, match="names no seller transaction"):
        fx.source(sandbox, with_credentials=False).parse_event(
            "CUSTOMER.DISPUTE.RESOLVED", event("X", slim) | {"event_type": "CUSTOMER.DISPUTE.RESOLVED"}
        )


def test_an_invoice_with_two_tax_rates_discounts_shipping_and_a_bank_payment(sandbox: PayPalSandbox) -> None:
    """Invoice KC-W-0042, by hand:

    stoles 10 x 24.00 = 240.00 less 10 % = 24.00; pots 4 x 18.50 = 74.00;
    invoice discount 5 % of 290.00 = 14.50, spread 216/290 -> 10.80 and 74/290 -> 3.70;
    VAT 20 % of 205.20 = 41.04; VAT 5 % of 70.30 = 3.515 -> 3.52; shipping 12.00 + 2.40 VAT;
    total 205.20 + 70.30 + 12.00 + 41.04 + 3.52 + 2.40 = 334.46.
    """
    invoice, bank = parse(fx.source(sandbox), fx.load("event_invoice_paid.json"))
    assert isinstance(invoice, Invoice) and isinstance(bank, Payment)
    assert (invoice.external_id, invoice.number, invoice.total, invoice.due_date) == (
        fx.INVOICE_ID,
        "KC-W-0042",
        D("334.46"),
        date(2026, 12, 18),
    )
    assert invoice.occurred_at.date() == date(2026, 11, 18)
    assert (invoice.customer.name, invoice.customer.email) == (
        "Kumasi Crafts Ltd",
        "accounts@kumasicrafts.example",
    )
    stoles, pots = invoice.lines
    assert (stoles.discount, [(t.title, t.amount) for t in stoles.tax_lines]) == (
        D("34.80"),
        [("VAT 20%", D("41.04"))],
    )
    assert (pots.discount, [(t.title, t.amount) for t in pots.tax_lines]) == (
        D("3.70"),
        [("VAT 5%", D("3.52"))],
    )
    assert [(s.amount, s.tax()) for s in invoice.shipping] == [(D("12.00"), D("2.40"))]
    assert expected_total(invoice) == D("334.46")
    assert (bank.external_id, bank.amount, bank.method, bank.invoice_external_id) == (
        "EXTR-86F38350LX4353815",
        D("134.46"),
        "bank_transfer",
        fx.INVOICE_ID,
    )
    (paypal_part,) = parse(
        fx.source(sandbox), event("PAYMENT.CAPTURE.COMPLETED", fx.load("capture_invoice_payment.json"))
    )
    assert (
        paypal_part.amount,
        paypal_part.fee,
        paypal_part.invoice_external_id,
        paypal_part.sale_external_id,
    ) == (D("200.00"), D("6.10"), fx.INVOICE_ID, "")


def test_paypals_own_invoice_example_adds_up(sandbox: PayPalSandbox) -> None:
    """The example invoice of invoicing_v2.json: 60.00 of items, 7.50 item and 2.63 invoice
    discounts, a 10.00 packing charge, 10.00 shipping, 4.34 tax: 74.21 USD."""
    spec = load_spec("paypal/invoicing_v2.json")
    example = _find_example(spec, "74.21")
    example = copy.deepcopy(example) | {"status": "SENT"}
    (invoice,) = parse(fx.source(sandbox), event("INVOICING.INVOICE.UPDATED", example))
    assert (invoice.total, invoice.currency) == (D("74.21"), "USD")
    assert [ln.kind for ln in invoice.lines] == ["product", "product", "fee"]
    assert sum((ln.discount for ln in invoice.lines), D(0)) == D("7.50") + D("2.63")


def _find_example(node: Any, total: str) -> dict[str, Any]:
    """The spec's example invoice whose amount is ``total``."""
    if isinstance(node, dict):
        if node.get("amount", {}).get("value") == total and "items" in node:
            return node
        for value in node.values():
            found = _find_example(value, total)
            if found:
                return found
    if isinstance(node, list):
        for value in node:
            found = _find_example(value, total)
            if found:
                return found
    return {}


def test_drafts_and_cancelled_invoices_book_nothing(sandbox: PayPalSandbox) -> None:
    for status in ("DRAFT", "SCHEDULED", "CANCELLED"):
        body = fx.load("event_invoice_paid.json")
        body["resource"]["invoice"]["status"] = status
        assert (
            fx.source(sandbox).parse_event(
                "INVOICING.INVOICE.UPDATED", body | {"event_type": "INVOICING.INVOICE.UPDATED"}
            )
            == []
        )


def test_when_the_web_shop_books_the_sales_paypal_gives_only_tenders(sandbox: PayPalSandbox) -> None:
    shop = fx.source(sandbox, sales_booked_by="other_channel")
    (payment,) = parse(shop, fx.load("event_capture_completed_gbp.json"))
    assert (payment.sale_external_id, payment.fee) == ("KC-10421", D("3.44"))  # the shop's order number
    assert parse(shop, fx.load("event_capture_refunded_gbp.json")) == []  # the shop's channel books it
    by_custom = fx.source(sandbox, sales_booked_by="other_channel", sale_reference="custom_id")
    (payment,) = parse(
        by_custom, event("CHECKOUT.ORDER.COMPLETED", fx.load("order_gbp_discount_two_taxes.json"))
    )
    assert payment.sale_external_id == "kc-web-10421"


def test_pending_captures_and_other_events_book_nothing(sandbox: PayPalSandbox) -> None:
    pending = fx.load("capture_eur_settled_gbp.json") | {"status": "PENDING"}
    assert (
        fx.source(sandbox).parse_event(
            "PAYMENT.CAPTURE.COMPLETED", event("PAYMENT.CAPTURE.COMPLETED", pending)
        )
        == []
    )
    assert (
        fx.source(sandbox).parse_event("CHECKOUT.ORDER.APPROVED", event("CHECKOUT.ORDER.APPROVED", {})) == []
    )
    with pytest.raises(MalformedPayload, match="does not match"):
        fx.source(sandbox).parse_event(
            "PAYMENT.CAPTURE.COMPLETED", event("PAYMENT.CAPTURE.REFUNDED", pending)
        )
    broken = fx.load("capture_eur_settled_gbp.json")
    broken["seller_receivable_breakdown"]["net_amount"]["value"] = "96.70"
    with pytest.raises(MalformedPayload, match="gross - fees != net"):
        fx.source(sandbox).parse_event(
            "PAYMENT.CAPTURE.COMPLETED", event("PAYMENT.CAPTURE.COMPLETED", broken)
        )


def test_times_are_read_in_either_offset_spelling() -> None:
    """The OpenAPI files write ``Z`` or ``+00:00``; Transaction Search has been seen writing ``+0000``."""
    from connectors.sources.paypal.values import parse_time

    assert parse_time("2026-11-20T10:15:31+0000", "t") == parse_time("2026-11-20T10:15:31Z", "t")
    assert parse_time("2026-11-20T11:15:31.120+01:00", "t").utcoffset() == timedelta(hours=1)
    with pytest.raises(MalformedPayload, match="no time zone"):
        parse_time("2026-11-20T10:15:31", "t")
