"""Poison events (issue 14, item 2): a signed event no column can hold never stays ``received`` and
never holds up the events behind it.

Each probe of the issue, on SQLite and (with ``DATABASE_URL``) PostgreSQL: a lone ``\\ud800`` in a
product name, a quantity of 10^20, a Stripe amount of 10^30, a lone surrogate in an event id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from connectors.base import WebhookEnvelope
from integrator.choices import EventStatus
from integrator.models import InboundEvent, Transaction
from integrator.services.channels import create_channel
from integrator.services.ingest import store_event
from integrator.services.pipeline import MAX_EVENT_ATTEMPTS, process_received_events, retry_failed_events
from integrator.services.recovery import reprocess_event
from tests.conftest import sale_event, signed_headers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _generic(sale_id: str, **line: Any) -> str:
    event = sale_event(sale_id)
    event["data"]["lines"][0].update(line)
    return json.dumps(event)


def _store(channel: Any, body: str, key: str, event_type: str = "sale.completed") -> InboundEvent:
    return store_event(channel, WebhookEnvelope(dedupe_key=key, event_type=event_type), body, {}).event


def _stripe_charge(amount: int) -> str:
    event = json.loads((FIXTURES / "stripe" / "event_charge_succeeded_gbp.json").read_text())
    event["id"] = f"evt_poison_{amount}"
    event["data"]["object"]["amount"] = amount
    event["data"]["object"]["amount_captured"] = amount
    return json.dumps(event)


@pytest.fixture
def stripe_channel(ledger: Any) -> Any:
    """A Stripe channel (no API key: charge events are read from the webhook alone)."""
    return create_channel(platform="stripe", name="Stripe", slug="stripe", currency="GBP",
                          ledger_connection=ledger, webhook_secrets=["whsec_test"])  # fmt: skip


def test_poison_events_are_quarantined_with_a_reason_and_the_good_ones_behind_them_are_booked(
    channel: Any, stripe_channel: Any
) -> None:
    poisons = [
        _store(channel, _generic("P-1", name="Kente \ud800 cloth"), "p1"),
        _store(channel, _generic("P-2", quantity=10**20), "p2"),
        _store(channel, _generic("P-3", unit_price="1" + "0" * 30), "p3"),
        _store(stripe_channel, _stripe_charge(10**30), "p4", "charge.succeeded"),
        _store(channel, _generic("P-5", name="NUL \u0000 inside"), "p5"),
    ]
    good = [_store(channel, _generic(f"G-{i}"), f"g{i}") for i in range(3)]
    assert "\\ud800" in InboundEvent.objects.get(pk=poisons[0].pk).body  # the JSON escape, as sent

    assert process_received_events() == len(poisons) + len(good)

    for event in poisons:
        event.refresh_from_db()
        assert event.status == EventStatus.QUARANTINED, (event.dedupe_key, event.status, event.error)
        assert event.error.startswith("cannot read the event"), event.error
    reasons = {e.dedupe_key: e.error for e in InboundEvent.objects.filter(pk__in=[p.pk for p in poisons])}
    assert "lone surrogate (U+D800)" in reasons["p1"]
    assert "out of range" in reasons["p2"]  # the generic source's own check
    assert "lines/0/unit_price" in reasons["p3"]
    assert "too large or too precise for the books" in reasons["p4"]
    assert "NUL" in reasons["p5"]
    for event in good:
        event.refresh_from_db()
        assert event.status == EventStatus.PROCESSED
    assert set(Transaction.objects.values_list("external_id", flat=True)) == {"G-0", "G-1", "G-2"}
    assert not InboundEvent.objects.filter(status=EventStatus.RECEIVED).exists()


def test_a_quarantined_event_can_be_re_processed_and_stays_quarantined_while_still_unreadable(
    channel: Any,
) -> None:
    event = _store(channel, _generic("P-9", name="\udc00 shawl"), "p9")
    process_received_events()
    outcome = reprocess_event(event.pk, actor_label="test")
    assert (outcome.before, outcome.after) == (EventStatus.QUARANTINED, EventStatus.QUARANTINED)
    assert "sale.lines[0].name holds a lone surrogate (U+DC00)" in outcome.error


def test_a_lone_surrogate_in_an_event_id_is_stored_escaped_and_still_deduplicated(channel: Any) -> None:
    event = sale_event("S-sur")
    event["id"] = "evt-\ud800-1"
    body = json.dumps(event).encode()  # json escapes it: "evt-\\ud800-1"
    client = Client(raise_request_exception=False)
    first = client.post("/hooks/till/", data=body, content_type="application/json", **signed_headers(body))
    again = client.post("/hooks/till/", data=body, content_type="application/json", **signed_headers(body))
    assert (first.status_code, again.status_code) == (202, 200)
    stored = InboundEvent.objects.get()
    assert stored.dedupe_key == "evt-\\ud800-1" and stored.deliveries == 2


def test_a_lone_surrogate_in_a_stripe_event_id_is_not_a_500(stripe_channel: Any) -> None:
    import time

    from connectors.sources.stripe.signature import expected_signature

    event = json.loads(_stripe_charge(4500))
    event["id"] = "evt_\udfff"
    body = json.dumps(event).encode()
    now = int(time.time())
    header = f"t={now},v1={expected_signature('whsec_test', now, body)}"
    response = Client(raise_request_exception=False).post(
        "/hooks/stripe/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 202
    assert InboundEvent.objects.get().dedupe_key == "evt_\\udfff"


def test_a_failed_event_says_when_it_is_retried_and_is_quarantined_after_the_last_attempt(
    channel: Any,
) -> None:
    event = _store(channel, _generic("F-1"), "f1")
    # A failure the sweep retries: the event is marked failed as a vendor fetch error would.
    InboundEvent.objects.filter(pk=event.pk).update(
        status=EventStatus.FAILED, attempts=MAX_EVENT_ATTEMPTS, error="Retryable: vendor down"
    )
    retry_failed_events()
    event.refresh_from_db()
    assert event.status == EventStatus.QUARANTINED
    assert event.error == f"gave up after {MAX_EVENT_ATTEMPTS} attempts; last: Retryable: vendor down"
    assert reprocess_event(event.pk, actor_label="test").after == EventStatus.PROCESSED
