"""Stripe events -> canonical documents, with related objects fetched from the sandbox over HTTP.

The story in ``tests/fixtures/stripe``: a GBP shop (Ananse Imports) takes a 45.00 order through a
PaymentIntent, a 15000 XOF order settled in GBP, an 80.00 order partly refunded (25.00), a 60.00
order disputed (plus a 20.00 dispute fee); a payout of 94.78 settles all of it with a Radar fee
and an adjustment; a later payout of 48.85 fails because the bank account was closed.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors import http
from connectors.base import MalformedPayload, SourceConfig, sales_source_class
from connectors.sandbox.stripe import StripeSandbox
from connectors.sources.stripe import StripeSource
from connectors.sources.stripe.amounts import stripe_amount
from integrator.canonical import Dispute, Payment, Payout, Refund
from integrator.services.integration_log import record_call

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe"
KEY = "sk_test_parse"


def event(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"event_{name}.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[http.CallRecord]]:
    """Outbound calls, recorded in memory: connector tests need no database for the integration log."""
    recorded: list[http.CallRecord] = []
    http.set_call_recorder(recorded.append)
    yield recorded
    http.set_call_recorder(record_call)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[StripeSandbox]:
    objects = json.loads((FIXTURES / "objects.json").read_text())
    with StripeSandbox(secret_key=KEY) as server:
        server.load(objects["objects"], objects["payouts"])
        yield server


def stripe(sandbox: StripeSandbox | None = None, **settings: Any) -> StripeSource:
    """A source for a fresh channel; with a sandbox it has the secret key, without it has none."""
    return StripeSource(
        SourceConfig(
            channel_slug=f"stripe-{uuid.uuid4().hex[:8]}",
            currency="GBP",
            base_url=sandbox.url if sandbox else "",
            credentials={"secret_key": KEY} if sandbox else {},
            settings=settings,
        )
    )


def only(docs: list[Any]) -> Any:
    assert len(docs) == 1, docs
    return docs[0]


def test_the_registry_finds_the_stripe_source() -> None:
    cls = sales_source_class("stripe")
    assert cls is StripeSource
    assert cls.capabilities == {"webhook", "pull", "payouts"}


# -- payments --------------------------------------------------------------------------------


def test_a_gbp_charge_is_a_payment_with_the_fee_from_its_balance_transaction(
    sandbox: StripeSandbox, calls: list[http.CallRecord]
) -> None:
    payment = only(stripe(sandbox).parse_event("charge.succeeded", event("charge_succeeded_gbp")))
    assert isinstance(payment, Payment)
    assert (payment.external_id, payment.currency) == ("ch_3QAnanseGbp4500Chg0001", "GBP")
    assert payment.amount == Decimal("45.00") and payment.fee == Decimal("0.88")
    assert payment.gateway == "stripe" and payment.method == "card"
    assert payment.occurred_at.isoformat() == "2025-11-19T08:10:00+00:00"
    assert payment.customer is not None and payment.customer.external_id == "cus_QAnanseAma001"
    assert payment.metadata["balance_transaction"] == "txn_3QAnanseGbp4500Txn0001"
    fetched = sandbox.requests_to("GET", r"^/v1/balance_transactions/txn_3QAnanseGbp4500Txn0001$")
    assert fetched[-1].header("Authorization") == f"Bearer {KEY}"
    assert fetched[-1].header("Stripe-Version") == "2023-08-16"
    # The call went through VendorHTTP: recorded for the integration log, without the key.
    assert [(c.vendor, c.method, c.status) for c in calls] == [("stripe", "GET", 200)]
    assert calls[0].url.endswith("/v1/balance_transactions/txn_3QAnanseGbp4500Txn0001")
    assert KEY not in repr(calls[0])


def test_payment_intent_and_charge_events_for_one_charge_give_one_transaction(sandbox: StripeSandbox) -> None:
    source = stripe(sandbox, sale_metadata_key="order_id")
    from_intent = only(source.parse_event("payment_intent.succeeded", event("payment_intent_succeeded")))
    from_charge = only(source.parse_event("charge.succeeded", event("charge_succeeded_gbp")))
    assert (from_intent.kind, from_intent.external_id) == (from_charge.kind, from_charge.external_id)
    assert from_intent == from_charge  # same content too: the second is not a spurious revision
    # The order id lives on the intent's metadata (Stripe does not copy it to the charge).
    assert from_charge.sale_external_id == "1001"


def test_without_a_secret_key_both_events_still_meet_and_the_fee_is_marked_unknown() -> None:
    source = stripe()
    from_intent = only(source.parse_event("payment_intent.succeeded", event("payment_intent_succeeded")))
    from_charge = only(source.parse_event("charge.succeeded", event("charge_succeeded_gbp")))
    assert (from_intent.kind, from_intent.external_id) == ("payment", "ch_3QAnanseGbp4500Chg0001")
    assert (from_charge.kind, from_charge.external_id) == ("payment", "ch_3QAnanseGbp4500Chg0001")
    assert from_intent.amount == from_charge.amount == Decimal("45.00")
    for payment in (from_intent, from_charge):
        assert payment.fee == Decimal("0.00")
        assert payment.metadata["fee_source"].startswith("unavailable")


def test_a_zero_decimal_xof_charge_is_exact_and_its_gbp_settlement_is_kept_aside(
    sandbox: StripeSandbox,
) -> None:
    payment = only(stripe(sandbox).parse_event("charge.succeeded", event("charge_succeeded_xof")))
    assert payment.currency == "XOF"
    assert payment.amount == Decimal("15000") and payment.amount.as_tuple().exponent == 0
    # The balance transaction is in GBP: its fee cannot sit on an XOF payment.
    assert payment.fee == Decimal("0")
    assert payment.metadata["fee_source"] == "settlement_currency"
    assert (payment.metadata["settlement_currency"], payment.metadata["settlement_amount"]) == (
        "GBP",
        "19.50",
    )
    assert (payment.metadata["settlement_fee"], payment.metadata["settlement_net"]) == ("0.84", "18.66")
    assert payment.metadata["exchange_rate"] == "0.0013"


def test_an_event_read_back_from_the_inbox_with_decimal_floats_parses_the_same() -> None:
    """The worker reads stored bodies with ``parse_float=Decimal``: an exchange rate is then a Decimal."""
    objects = {o["id"]: o for o in json.loads((FIXTURES / "objects.json").read_text())["objects"]}
    xof = event("charge_succeeded_xof")
    xof["data"]["object"]["balance_transaction"] = objects[xof["data"]["object"]["balance_transaction"]]
    stored = json.loads(json.dumps(xof), parse_float=Decimal)
    assert isinstance(stored["data"]["object"]["balance_transaction"]["exchange_rate"], Decimal)
    payment = only(stripe().parse_event("charge.succeeded", stored))
    assert payment.metadata["exchange_rate"] == "0.0013" and payment.metadata["settlement_fee"] == "0.84"


def test_a_zero_decimal_ugx_charge_and_fee_are_converted_exactly() -> None:
    charge = copy.deepcopy(event("charge_succeeded_gbp"))
    obj = charge["data"]["object"]
    obj.update(currency="ugx", amount=250_000, amount_captured=250_000)
    obj["balance_transaction"] = {
        **json.loads((FIXTURES / "objects.json").read_text())["objects"][0],
        "currency": "ugx",
        "amount": 250_000,
        "fee": 8_751,
        "net": 241_249,
        "fee_details": [],
    }
    payment = only(stripe().parse_event("charge.succeeded", charge))  # expanded: no HTTP needed
    assert (payment.amount, payment.fee) == (Decimal("250000"), Decimal("8751"))
    assert payment.amount.as_tuple().exponent == 0 and payment.fee.as_tuple().exponent == 0


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (1050, "gbp", "10.50"),
        (15000, "xof", "15000"),
        (250000, "ugx", "250000"),
        (1, "jpy", "1"),
        (50000, "isk", "500"),  # Stripe keeps ISK two-decimal in its API (multiples of 100)
        (5000, "mga", "5000.00"),  # Stripe: zero-decimal; ISO 4217: two decimals
        (12340, "kwd", "12.340"),
        (-2500, "gbp", "-25.00"),
    ],
)
def test_stripe_minor_units_follow_stripes_currency_table(minor: int, currency: str, expected: str) -> None:
    amount = stripe_amount(minor, currency)
    assert amount == Decimal(expected) and str(amount) == expected


@pytest.mark.parametrize(
    ("value", "currency"), [(4010, "isk"), (10.5, "gbp"), ("1050", "gbp"), (True, "gbp"), (1, "xyz")]
)
def test_amounts_that_are_not_exact_are_refused(value: Any, currency: str) -> None:
    with pytest.raises(MalformedPayload):
        stripe_amount(value, currency)


def test_an_uncaptured_charge_books_nothing_until_its_capture() -> None:
    authorised = copy.deepcopy(event("charge_succeeded_gbp"))
    authorised["data"]["object"].update(captured=False, amount_captured=0)
    assert stripe().parse_event("charge.succeeded", authorised) == []
    captured = copy.deepcopy(event("charge_succeeded_gbp"))
    captured["type"] = "charge.captured"
    captured["data"]["object"].update(amount_captured=3000)  # a partial capture takes less
    assert only(stripe().parse_event("charge.captured", captured)).amount == Decimal("30.00")


# -- refunds ---------------------------------------------------------------------------------


def test_a_partial_refund_is_listed_from_the_api_and_points_to_its_charge(sandbox: StripeSandbox) -> None:
    refund = only(stripe(sandbox).parse_event("charge.refunded", event("charge_refunded_partial")))
    assert isinstance(refund, Refund)
    assert (refund.external_id, refund.sale_external_id) == (
        "re_3QAnanseGbp2500Ref0001",
        "ch_3QAnanseGbp8000Chg0001",
    )
    assert refund.total == refund.adjustment == Decimal("25.00") and refund.currency == "GBP"
    assert refund.reason == "requested_by_customer"
    listed = sandbox.requests_to("GET", r"^/v1/refunds$")
    assert listed and listed[-1].arg("charge") == "ch_3QAnanseGbp8000Chg0001"


def test_refund_updated_and_charge_refunded_give_the_same_refund(sandbox: StripeSandbox) -> None:
    source = stripe(sandbox)
    from_charge = only(source.parse_event("charge.refunded", event("charge_refunded_partial")))
    from_refund = only(source.parse_event("refund.updated", event("refund_updated")))
    assert (from_charge.kind, from_charge.external_id, from_charge.total) == (
        from_refund.kind,
        from_refund.external_id,
        from_refund.total,
    )


def test_charge_refunded_without_a_key_or_embedded_list_is_refused_not_guessed() -> None:
    with pytest.raises(MalformedPayload, match=r"GET /v1/refunds\?charge="):
        stripe().parse_event("charge.refunded", event("charge_refunded_partial"))


def test_charge_refunded_from_an_older_api_version_uses_the_embedded_refunds() -> None:
    old = copy.deepcopy(event("charge_refunded_partial"))
    refund = event("refund_updated")["data"]["object"]
    old["data"]["object"]["refunds"] = {
        "object": "list",
        "data": [refund],
        "has_more": False,
        "url": "/v1/refunds",
    }
    assert only(stripe().parse_event("charge.refunded", old)).external_id == refund["id"]


@pytest.mark.parametrize("status", ["pending", "failed", "canceled", "requires_action"])
def test_a_refund_that_has_not_succeeded_books_nothing(status: str) -> None:
    pending = copy.deepcopy(event("refund_updated"))
    pending["data"]["object"]["status"] = status
    assert stripe().parse_event("refund.updated", pending) == []


# -- disputes --------------------------------------------------------------------------------


def test_dispute_created_and_funds_withdrawn_give_one_dispute_with_its_fee() -> None:
    source = stripe()  # the dispute embeds its balance transactions: no key needed
    created = only(source.parse_event("charge.dispute.created", event("charge_dispute_created")))
    withdrawn = only(
        source.parse_event("charge.dispute.funds_withdrawn", event("charge_dispute_funds_withdrawn"))
    )
    assert isinstance(created, Dispute)
    assert (created.kind, created.external_id) == (withdrawn.kind, withdrawn.external_id)
    assert (created.amount, created.fee, created.status) == (
        Decimal("60.00"),
        Decimal("20.00"),
        "needs_response",
    )
    assert created.payment_external_id == created.sale_external_id == "ch_3QAnanseGbp6000Chg0001"
    assert created.reason == "product_not_received"
    assert created.metadata["net_withdrawn"] == "60.00"


def test_a_won_dispute_reinstates_the_funds_and_keeps_the_fee() -> None:
    won = copy.deepcopy(event("charge_dispute_funds_withdrawn"))
    won["type"] = "charge.dispute.funds_reinstated"
    dispute = won["data"]["object"]
    withdrawal = dispute["balance_transactions"][0]
    reinstatement = {
        **withdrawal,
        "id": "txn_1QAnanseReinstate6000",
        "amount": 6000,
        "fee": 0,
        "net": 6000,
        "fee_details": [],
        "description": "Chargeback reversal",
    }
    dispute.update(status="won", balance_transactions=[withdrawal, reinstatement])
    result = only(stripe().parse_event("charge.dispute.funds_reinstated", won))
    assert (result.status, result.amount, result.fee) == ("won", Decimal("60.00"), Decimal("20.00"))
    assert result.metadata["net_withdrawn"] == "0.00"


def test_an_inquiry_moves_no_money_and_books_nothing() -> None:
    inquiry = copy.deepcopy(event("charge_dispute_created"))
    inquiry["data"]["object"].update(status="warning_needs_response", balance_transactions=[])
    assert stripe().parse_event("charge.dispute.created", inquiry) == []


# -- payouts ---------------------------------------------------------------------------------


def test_a_paid_payout_fetched_over_http_adds_up_and_its_fees_are_separable(sandbox: StripeSandbox) -> None:
    payout = only(stripe(sandbox).parse_event("payout.paid", event("payout_paid")))
    assert isinstance(payout, Payout)
    assert (payout.external_id, payout.status, payout.currency) == (
        "po_1QAnanseGbp9478Pay0001",
        "paid",
        "GBP",
    )
    assert payout.amount == Decimal("94.78")
    assert sum((i.net for i in payout.items), Decimal(0)) == payout.amount
    assert payout.gross() == Decimal("119.00") and payout.fees() == Decimal("24.22")
    assert payout.gross() - payout.fees() == payout.amount
    assert all(i.amount - i.fee == i.net for i in payout.items)
    by_type = {i.type for i in payout.items}
    assert by_type == {"charge", "refund", "dispute", "fee", "other_adjustment"}
    assert "po_1QAnanseGbp9478Pay0001" not in {
        i.source_id for i in payout.items
    }  # its own transfer is no item
    assert str(payout.arrival_date) == "2025-11-22"
    listed = sandbox.requests_to("GET", r"^/v1/balance_transactions$")
    assert any(r.arg("payout") == "po_1QAnanseGbp9478Pay0001" for r in listed)


def test_a_failed_payout_has_status_failed_and_the_reason(sandbox: StripeSandbox) -> None:
    payout = only(stripe(sandbox).parse_event("payout.failed", event("payout_failed")))
    assert payout.status == "failed" and payout.amount == Decimal("48.85")
    assert payout.metadata["failure_code"] == "account_closed"
    assert sum((i.net for i in payout.items), Decimal(0)) == payout.amount
    assert {i.source_id for i in payout.items} == {"ch_3QAnanseGbp3000Chg0001", "ch_3QAnanseGbp2000Chg0001"}


def test_a_payout_of_many_transactions_is_read_across_pages() -> None:
    with StripeSandbox(secret_key=KEY, seed=7) as server:
        for n in range(230):
            server.create_charge(1000 + n, "gbp", fee=20 + n % 7, created=1763539200 + n, event=False)
        po = server.create_payout(created=1763712000)
        payout = only(
            stripe(server).parse_event("payout.paid", {"type": "payout.paid", "data": {"object": po}})
        )
        pages = server.requests_to("GET", r"^/v1/balance_transactions$")
    assert len(payout.items) == 230
    assert sum((i.net for i in payout.items), Decimal(0)) == payout.amount
    assert [r.arg("starting_after") != "" for r in pages] == [False, True, True]


def test_a_payout_whose_transactions_do_not_add_up_is_refused(sandbox: StripeSandbox) -> None:
    broken = copy.deepcopy(event("payout_paid"))
    broken["data"]["object"]["amount"] += 1
    with pytest.raises(MalformedPayload, match="net 9478 but the payout is 9479"):
        stripe(sandbox).parse_event("payout.paid", broken)


def test_a_payout_without_a_key_is_kept_with_a_note_instead_of_items() -> None:
    payout = only(stripe().parse_event("payout.paid", event("payout_paid")))
    assert payout.amount == Decimal("94.78") and payout.items == ()
    assert payout.metadata["items"].startswith("unavailable")


# -- everything else -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type", ["customer.created", "charge.failed", "invoice.paid", "payout.created"]
)
def test_event_types_that_carry_nothing_for_the_books_give_nothing(event_type: str) -> None:
    assert stripe().parse_event(event_type, {"type": event_type, "data": {"object": {"id": "x"}}}) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "charge.succeeded"},
        {"type": "charge.succeeded", "data": {"object": "ch_1"}},
        {"type": "refund.updated", "data": {"object": {"object": "charge", "id": "ch_1"}}},
        {"type": "payout.paid", "data": {"object": {"object": "payout", "id": "po_1", "status": "exploded"}}},
    ],
)
def test_unreadable_events_are_malformed(payload: dict[str, Any]) -> None:
    event_type = str(payload["type"])
    with pytest.raises(MalformedPayload):
        stripe().parse_event(event_type, payload)


def test_an_event_type_that_contradicts_its_payload_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="does not match"):
        stripe().parse_event("charge.succeeded", event("refund_updated"))


@pytest.mark.parametrize("created", [67768036191676800, -67768036191676800, 2**62])
def test_a_time_no_calendar_holds_is_malformed_not_a_crash(created: int) -> None:
    """Found by the poison-event property: an out-of-range ``created`` made the C library raise
    OSError (errno 75), which no reader expected; the event must be quarantined with a reason."""
    payload = {**event("payout_paid"), "created": created}
    with pytest.raises(MalformedPayload, match="not a time a calendar holds"):
        stripe().parse_event("payout.paid", payload)
