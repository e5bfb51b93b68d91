"""Clover: the auth-code header, the verification handshake, delivery identity, and orders to the cent.

Deliveries really travel: the Clover sandbox POSTs them over HTTP to a small receiver on 127.0.0.1,
and the source judges what the receiver got (raw bytes and headers). Orders are fetched from the
Clover sandbox over HTTP as the worker does.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import (
    MalformedPayload,
    SignatureInvalid,
    SourceConfig,
    WebhookRequest,
    sales_source_class,
)
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.clover import CloverSandbox
from connectors.sources.clover import CloverSource
from connectors.sources.clover.orders import cash_event_document, documents_from_order, tender_method
from integrator.canonical import Refund, Sale
from tests.fixtures import clover as fx

D = Decimal


class Receiver(SandboxServer):
    """Stands in for our /hooks/ endpoint: keeps what arrived, answers 200."""

    vendor = "receiver"

    @route("POST", "/hooks/{slug}/")
    def hook(self, req: Request) -> Response:
        return Response(200, {"ok": True})

    def last(self) -> WebhookRequest:
        req = self.requests[-1]
        return WebhookRequest(body=req.body, headers=req.headers, url=self.url, received_at=datetime.now(UTC))


@pytest.fixture(scope="module")
def servers():
    with CloverSandbox(merchant_id=fx.MERCHANT, access_token=fx.TOKEN) as clover, Receiver() as receiver:
        yield clover, receiver


def source(clover: CloverSandbox, *codes: str, **credentials: Any) -> CloverSource:
    config = SourceConfig(
        channel_slug="clover-nyc",
        currency="USD",
        base_url=clover.url,
        credentials={"access_token": fx.TOKEN, **credentials},
        webhook_secrets=tuple(codes),
        settings={"merchant_id": fx.MERCHANT},
    )
    return CloverSource(config, sleep=lambda s: None)


def deliver(servers, auth: str | None, updates=None, body: bytes | None = None) -> WebhookRequest:
    clover, receiver = servers
    answer = clover.send_webhook(
        receiver.url + "/hooks/clover-nyc/",
        auth,
        updates or [("O:QW3E5R7T9Y1U2", "UPDATE", 1795788000000)],
        body=body,
    )
    assert answer.status_code == 200
    return receiver.last()


def test_registry_finds_clover_with_its_capabilities():
    cls = sales_source_class("clover")
    assert cls is CloverSource
    assert cls.capabilities == frozenset({"webhook", "pull"})
    assert cls.scheduled_pull_minutes == 60  # Clover does not guarantee delivery


@pytest.mark.parametrize(
    ("sent", "configured", "accepted"),
    [
        (fx.AUTH_CODE, (fx.AUTH_CODE,), True),
        (fx.OLD_AUTH_CODE, (fx.AUTH_CODE, fx.OLD_AUTH_CODE), True),  # rotation: both codes work
        ("not-the-code", (fx.AUTH_CODE,), False),
        (fx.AUTH_CODE.upper(), (fx.AUTH_CODE,), False),  # compared byte for byte
        (fx.AUTH_CODE[:-1], (fx.AUTH_CODE,), False),
        (None, (fx.AUTH_CODE,), False),  # no header at all
        (fx.AUTH_CODE, (), False),  # nothing configured: nothing is accepted
    ],
)
def test_auth_code_table(servers, sent, configured, accepted):
    request = deliver(servers, sent)
    src = source(servers[0], *configured)
    if accepted:
        src.verify_webhook(request)
    else:
        with pytest.raises(SignatureInvalid):
            src.verify_webhook(request)


def test_auth_code_may_come_from_the_setup_wizards_credential(servers):
    request = deliver(servers, fx.AUTH_CODE)
    source(servers[0], webhook_auth_code=fx.AUTH_CODE).verify_webhook(request)


def test_verification_handshake_is_answered_and_recorded_never_an_event(servers):
    clover, receiver = servers
    assert clover.send_verification(receiver.url + "/hooks/clover-nyc/", "ce7643c1").status_code == 200
    request = receiver.last()
    assert request.header("X-Clover-Auth") == ""  # the code comes before the auth code exists
    reply = source(clover, fx.AUTH_CODE).handle_handshake(request)
    assert reply is not None and reply.status == 200
    assert reply.record["verification_code"] == "ce7643c1"
    fx.schema_validator("verification.schema.json").validate(json.loads(request.body))


def test_an_ordinary_delivery_is_not_a_handshake(servers):
    request = deliver(servers, fx.AUTH_CODE)
    assert source(servers[0], fx.AUTH_CODE).handle_handshake(request) is None
    smuggled = deliver(servers, None, body=b'{"verificationCode": "x", "merchants": {}}')
    assert source(servers[0]).handle_handshake(smuggled) is None  # only the exact shape


def test_a_verification_code_that_is_not_a_string_is_malformed(servers):
    request = deliver(servers, None, body=b'{"verificationCode": 12}')
    with pytest.raises(MalformedPayload):
        source(servers[0]).handle_handshake(request)


def test_identity_is_the_object_type_and_ts_and_a_batch_is_one_event(servers):
    single = deliver(servers, fx.AUTH_CODE)
    src = source(servers[0], fx.AUTH_CODE)
    assert src.identify_webhook(single).dedupe_key == "O:QW3E5R7T9Y1U2:UPDATE:1795788000000"
    a = [("O:A", "CREATE", 1), ("P:B", "UPDATE", 2)]
    first = src.identify_webhook(deliver(servers, fx.AUTH_CODE, a))
    again = src.identify_webhook(deliver(servers, fx.AUTH_CODE, list(reversed(a))))
    assert first.dedupe_key == again.dedupe_key and first.dedupe_key.startswith("batch:")
    assert first.event_type == "notification"
    later = src.identify_webhook(deliver(servers, fx.AUTH_CODE, [("O:A", "UPDATE", 3)]))
    assert later.dedupe_key != first.dedupe_key


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"appId": "x"}', b'{"merchants": {"M": [{"objectId": "O:1", "type": "EDIT", "ts": 1}]}}',
     b'{"merchants": {"M": [{"objectId": "O:1", "type": "CREATE", "ts": "1"}]}}', b'{"merchants": {}}'],
)  # fmt: skip
def test_malformed_deliveries_are_refused(servers, body):
    with pytest.raises(MalformedPayload):
        source(servers[0], fx.AUTH_CODE).identify_webhook(deliver(servers, fx.AUTH_CODE, body=body))


# -- orders to the cent ---------------------------------------------------------------------------


def test_worked_example_discounts_two_taxes_split_tender_tip_and_change():
    sale, refund = documents_from_order(
        fx.load("order_discount_two_taxes.json"), merchant_id=fx.MERCHANT, default_currency="USD"
    )
    assert isinstance(sale, Sale) and isinstance(refund, Refund)
    scarf, shea = sale.lines
    # Scarf 40.00 less 10 % (4.00) = 36.00; shea 2 x 12.50 = 25.00. The $5 order discount is spread
    # 36 : 25 -> 2.95 and 2.05 (500 cents x 36/61 = 295.08, x 25/61 = 204.92; the spare cent goes to
    # the larger remainder). Taxable: 33.05 and 22.95.
    assert (scarf.discount, shea.discount) == (D("6.95"), D("2.05"))
    assert (shea.quantity, shea.unit_price) == (D(2), D("12.50"))
    # 33.05 x 4 % = 1.322 -> 1.32; 33.05 x 4.5 % = 1.48725 -> 1.49; 22.95 x 4 % = 0.918 -> 0.92.
    assert [(t.title, t.rate, t.amount) for t in scarf.tax_lines] == [
        ("NY State", D("0.04"), D("1.32")), ("NYC", D("0.045"), D("1.49"))]  # fmt: skip
    assert [(t.title, t.amount) for t in shea.tax_lines] == [("NY State", D("0.92"))]
    # 33.05 + 22.95 + 3.73 = 59.73 (Clover's total) + the $5.00 tip = 64.73 paid.
    assert (sale.total, sale.tips, sale.prices_include_tax) == (D("64.73"), D("5.00"), False)
    cash, card = sale.tenders
    assert (cash.method, cash.amount, cash.change) == ("cash", D("30.00"), D("10.00"))  # 40.00 tendered
    assert (card.method, card.amount) == ("card", D("34.73"))  # 29.73 + 5.00 tip
    assert (sale.location, sale.register) == (fx.MERCHANT, "DEVNYC0000001")
    # The refund of 15.00 (0.94 of it tax) the next day on the other register, spread like the sale:
    # net 14.06 over 33.05 : 22.95 -> 8.30 and 5.76; tax 0.94 over 1.32 : 1.49 : 0.92 -> 0.33, 0.38, 0.23.
    assert refund.sale_external_id == sale.external_id and refund.total == D("15.00")
    assert refund.occurred_at.date() > sale.occurred_at.date() and refund.register == "DEVNYC0000002"
    assert [ln.unit_price for ln in refund.lines] == [D("8.30"), D("5.76")]
    assert [[t.amount for t in ln.tax_lines] for ln in refund.lines] == [[D("0.33"), D("0.38")], [D("0.23")]]
    assert [(t.method, t.amount) for t in refund.tenders] == [("card", D("15.00"))]


def test_refund_of_chosen_items_is_itemised():
    order = fx.load("order_discount_two_taxes.json")
    order["refunds"]["elements"][0].update(
        amount=2387, taxAmount=0, lineItems={"elements": [{"id": "LISHEA0000001"}]}
    )
    refund = documents_from_order(order, merchant_id=fx.MERCHANT, default_currency="USD")[1]
    assert isinstance(refund, Refund)
    (line,) = refund.lines  # shea butter: 22.95 + 0.92 tax = 23.87
    assert (line.line_id, line.unit_price * line.quantity - line.discount, line.tax()) == (
        "LISHEA0000001", D("22.95"), D("0.92"))  # fmt: skip


def test_zero_decimal_vat_inclusive_till_with_mobile_money_and_change():
    (sale,) = documents_from_order(
        fx.load("order_xof_vat_orange_money.json"), merchant_id=fx.DAKAR, default_currency="XOF"
    )
    assert isinstance(sale, Sale)
    assert (sale.currency, sale.total, sale.prices_include_tax) == ("XOF", D("15500"), True)
    # 10 000 - 10 000 / 1.18 (8 474.58 -> 8 475) = 1 525; 5 500 - 4 661 = 839: Clover's taxAmounts.
    assert [ln.tax() for ln in sale.lines] == [D("1525"), D("839")]
    assert [(t.method, t.amount, t.change) for t in sale.tenders] == [
        ("orange_money", D("10000"), D("0")), ("cash", D("5500"), D("500"))]  # fmt: skip


def test_voided_payments_make_a_voided_sale_and_an_open_ticket_makes_nothing():
    (void,) = documents_from_order(
        fx.load("order_voided.json"), merchant_id=fx.MERCHANT, default_currency="USD"
    )
    assert isinstance(void, Sale) and void.status == "voided" and void.total == 0
    open_ticket = fx.load("order_voided.json")
    open_ticket["payments"] = {"elements": []}
    assert documents_from_order(open_ticket, merchant_id=fx.MERCHANT, default_currency="USD") == []


def test_tax_removed_orders_carry_no_tax():
    order = fx.load("order_discount_two_taxes.json")
    order.update(taxRemoved=True, total=5600, refunds={"elements": []})
    order["payments"]["elements"][1]["amount"] = 2600
    (sale,) = documents_from_order(order, merchant_id=fx.MERCHANT, default_currency="USD")
    assert all(not ln.tax_lines for ln in sale.lines) and sale.total == D("61.00")


def test_an_order_whose_lines_miss_its_total_is_refused():
    order = fx.load("order_discount_two_taxes.json")
    order["total"] = 6100
    with pytest.raises(MalformedPayload, match=r"Clover says 61\.00"):
        documents_from_order(order, merchant_id=fx.MERCHANT, default_currency="USD")


@pytest.mark.parametrize(
    ("tender", "method"),
    [({"labelKey": "com.clover.tender.cash", "label": "Cash"}, "cash"),
     ({"labelKey": "com.clover.tender.credit_card", "label": "Credit Card"}, "card"),
     ({"labelKey": "com.clover.tender.debit_card", "label": "Debit"}, "card"),
     ({"labelKey": "com.clover.tender.external_payment", "label": "M-Pesa"}, "mpesa"),
     ({"labelKey": "com.example.tender", "label": "Orange Money"}, "orange_money"),
     ({"labelKey": "com.clover.tender.gift_card", "label": "Gift Card"}, "gift_card"),
     ({}, "other")],
)  # fmt: skip
def test_tender_method_names(tender, method):
    assert tender_method(tender) == method


def test_cash_events_become_float_changes_and_sales_are_left_out():
    events = fx.load("cash_events.json")["elements"]
    docs = [cash_event_document(e, merchant_id=fx.MERCHANT, currency="USD") for e in events]
    assert [(d.float_change, d.over_short) if d else None for d in docs] == [
        (D("100.00"), D(0)), None, (D("-250.00"), D(0))]  # fmt: skip
    validator = fx.schema_validator("cash_event.schema.json")
    for e in events:
        validator.validate(e)


# -- webhooks fetch by REST ----------------------------------------------------------------------


def test_a_batch_delivery_fetches_each_order_once_and_ignores_other_merchants(servers):
    clover, _ = servers
    clover.add_order(fx.load("order_discount_two_taxes.json"))
    src = source(clover, fx.AUTH_CODE)
    before = len(clover.requests_to("GET", r"/orders/"))
    payload = fx.load("notification_batch.json")
    fx.schema_validator("notification.schema.json").validate(payload)
    docs = src.parse_event("notification", payload)
    assert sorted((d.kind, d.external_id) for d in docs) == [
        ("refund", "RFDCARD000001"),
        ("sale", "QW3E5R7T9Y1U2"),
    ]
    fetched = clover.requests_to("GET", r"/orders/")[before:]
    assert [r.path.rsplit("/", 1)[-1] for r in fetched] == [
        "QW3E5R7T9Y1U2"
    ]  # the other merchant's is not read
    assert "lineItems.taxRates" in fetched[0].arg("expand")


def test_a_deleted_order_is_a_voided_sale_and_an_unknown_one_is_nothing(servers):
    clover, _ = servers
    src = source(clover, fx.AUTH_CODE)
    gone = src.parse_event(
        "notification",
        {"merchants": {fx.MERCHANT: [{"objectId": "O:GONE00000001", "type": "DELETE", "ts": 1795790000000}]}},
    )
    assert [(d.kind, d.external_id, getattr(d, "status", "")) for d in gone] == [
        ("sale", "GONE00000001", "voided")
    ]
    clover.add_order({**fx.load("order_voided.json"), "id": "DELETEDLATER1"})
    clover.delete_order("DELETEDLATER1")
    fetched = src.parse_event(
        "notification",
        {
            "merchants": {
                fx.MERCHANT: [{"objectId": "O:DELETEDLATER1", "type": "UPDATE", "ts": 1795790000000}]
            }
        },
    )
    assert fetched == []  # a 404 books nothing: only Clover's DELETE voids a ticket


def test_the_order_clover_serves_matches_our_recorded_shape(servers):
    clover, _ = servers
    clover.add_order(fx.load("order_discount_two_taxes.json"))
    src = source(clover, fx.AUTH_CODE)
    from connectors.sources.clover import ORDER_EXPAND

    served = src.api.get("orders/QW3E5R7T9Y1U2", [("expand", ORDER_EXPAND)])
    fx.schema_validator("order.schema.json").validate(served)
    unexpanded = src.api.get("orders/QW3E5R7T9Y1U2")
    assert "lineItems" not in unexpanded and "payments" not in unexpanded  # Clover expands on request only


def test_test_connection_names_the_merchant_and_checks_the_currency(servers):
    clover, _ = servers
    check = source(clover).test_connection()
    assert check.ok and "Sandbox Cafe" in check.message
    wrong = source(clover)
    wrong.config = replace(wrong.config, currency="EUR")
    assert not wrong.test_connection().ok
    refused = source(clover)
    refused.config = replace(refused.config, credentials={"access_token": "revoked"})
    result = refused.test_connection()
    assert not result.ok and "401" in result.message


@pytest.mark.parametrize("millis", [67768036191676800000, 2**70])
def test_a_time_no_calendar_holds_is_malformed_not_a_crash(millis: int) -> None:
    """As for Stripe: epoch milliseconds past the calendar are a malformed payload, not an OSError."""
    from connectors.sources.clover.orders import from_millis

    with pytest.raises(MalformedPayload, match="not a time a calendar holds"):
        from_millis(millis, "createdTime")
