"""Recovery: re-process failed and quarantined inbox events, one or in bulk, audited, exactly once.

The failure is real: Shopify's ``refunds/create`` webhook does not say whether the order's prices
include tax, so the connector fetches the order; while the shop answers 503 the event fails. Once
the shop is back, re-processing books the refund; re-processing again (or re-processing an event
that was booked before it was marked failed) never makes a second transaction or posting.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.core.management import call_command

from connectors.sandbox.base import Fault
from connectors.sandbox.shopify import ShopifySandbox, sign_webhook
from integrator.choices import EventStatus, PostingMode
from integrator.models import AuditEvent, InboundEvent, Job, MappingSet, Posting, Transaction
from integrator.services.channel_setup import ChannelDetails, set_up_channel
from integrator.services.mappings import activate_version, create_version
from integrator.services.posting import run_outbox
from integrator.services.recovery import reprocess_event, reprocess_events, start_bulk_reprocess
from tests.conftest import sale_event, standard_rules
from tests.fixtures.shopify import load

pytestmark = pytest.mark.django_db
SECRET = "shopify-app-secret"


@pytest.fixture
def shop() -> Iterator[ShopifySandbox]:
    with ShopifySandbox() as server:
        server.add_order(load("order_multicurrency"))
        yield server


@pytest.fixture
def web(ledger: Any, shop: ShopifySandbox) -> Any:
    """A mapped Shopify channel on the sandbox shop, posting to the built-in ledger."""
    details = ChannelDetails("Web shop", "web", "GBP", "Europe/London", PostingMode.PER_TRANSACTION, ledger)
    channel, _ = set_up_channel(
        "shopify",
        details,
        {"base_url": shop.url, "access_token": shop.access_token, "webhook_secret": SECRET},
    )
    version = create_version(
        MappingSet.objects.create(channel=channel, connection=ledger),
        effective_from=date(2020, 1, 1),
        rules=standard_rules(ledger),
    )
    activate_version(version)
    return channel


@pytest.fixture
def deliver(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """POST a Shopify webhook to the real endpoint, signed as Shopify signs; processing runs inline."""

    def send(topic: str, payload: dict[str, Any]) -> InboundEvent:
        body = json.dumps(payload).encode()
        event_id = str(uuid.uuid4())
        headers = {"HTTP_X_SHOPIFY_HMAC_SHA256": sign_webhook(body, SECRET), "HTTP_X_SHOPIFY_TOPIC": topic,
                   "HTTP_X_SHOPIFY_EVENT_ID": event_id, "HTTP_X_SHOPIFY_WEBHOOK_ID": str(uuid.uuid4())}  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/hooks/web/", data=body, content_type="application/json", **headers)
        assert response.status_code == 202, response.content
        return InboundEvent.objects.get(dedupe_key=event_id)

    return send


def test_a_failed_event_is_booked_once_after_the_vendor_recovers(
    web: Any, shop: ShopifySandbox, deliver: Any, users: Any
) -> None:
    sale_event_row = deliver("orders/paid", load("order_multicurrency"))
    run_outbox(worker="test")
    assert sale_event_row.transactions.get().kind == "sale"

    shop.faults.next(*[Fault("status", status=503) for _ in range(10)])
    refund_event = deliver("refunds/create", load("refund_multicurrency"))
    refund_event.refresh_from_db()
    assert refund_event.status == EventStatus.FAILED and refund_event.error
    assert not Transaction.objects.filter(kind="refund").exists()

    shop.faults.clear()
    clerk = users["finance_clerk"]
    outcome = reprocess_event(refund_event, actor=clerk)
    assert (
        outcome.before == EventStatus.FAILED and outcome.after == EventStatus.PROCESSED and outcome.recovered
    )
    refund = Transaction.objects.get(kind="refund")
    assert outcome.transactions == (str(refund.pk),)
    run_outbox(worker="test")
    postings = Posting.objects.count()
    assert postings == 2  # the sale and the refund

    # Again: nothing to do (it is processed), nothing new.
    again = reprocess_event(refund_event, actor=clerk)
    assert again.skipped == "the event is processed"
    # An event booked before it was marked failed (a worker died after booking): re-processing
    # lands on the same transaction and the same posting.
    InboundEvent.objects.filter(pk=sale_event_row.pk).update(status=EventStatus.FAILED, error="worker lost")
    replay = reprocess_event(sale_event_row, actor=clerk)
    assert replay.after == EventStatus.PROCESSED
    run_outbox(worker="test")
    assert Transaction.objects.count() == 2 and Posting.objects.count() == postings

    row = AuditEvent.objects.filter(action="inbound_event.reprocessed", object_id=str(refund_event.pk)).get()
    assert (
        row.actor_id == clerk.pk and row.before["status"] == "failed" and row.after["status"] == "processed"
    )


def test_an_unreadable_event_stays_quarantined_and_says_so(channel: Any, post_event: Any, users: Any) -> None:
    assert post_event("till", sale_event("Q-1", currency="XQZ")).status_code == 202
    event = InboundEvent.objects.get()
    assert event.status == EventStatus.QUARANTINED
    outcome = reprocess_event(event, actor=users["finance_clerk"])
    assert outcome.after == EventStatus.QUARANTINED and not outcome.recovered and "XQZ" in outcome.error
    assert not Transaction.objects.exists()


def test_two_people_reprocessing_the_same_event_claim_it_once(
    web: Any, shop: ShopifySandbox, deliver: Any, users: Any
) -> None:
    deliver("orders/paid", load("order_multicurrency"))
    shop.faults.next(*[Fault("status", status=503) for _ in range(10)])
    event = deliver("refunds/create", load("refund_multicurrency"))
    shop.faults.clear()
    # The second person's claim comes after the first person's: the status is no longer failed.
    first = reprocess_event(event.pk, actor=users["finance_clerk"])
    second = reprocess_event(event.pk, actor=users["finance_manager"])
    assert first.recovered and second.skipped == "the event is processed"
    assert AuditEvent.objects.filter(action="inbound_event.reprocessed").count() == 1
    assert Transaction.objects.filter(kind="refund").count() == 1


def test_bulk_reprocess_from_a_screen_runs_as_a_job(
    web: Any, shop: ShopifySandbox, deliver: Any, users: Any, django_capture_on_commit_callbacks: Any
) -> None:
    deliver("orders/paid", load("order_multicurrency"))
    shop.faults.next(*[Fault("status", status=503) for _ in range(10)])
    failed = deliver("refunds/create", load("refund_multicurrency"))
    shop.faults.clear()
    with django_capture_on_commit_callbacks(execute=True):
        job = start_bulk_reprocess([failed.pk], actor=users["finance_manager"])
    job.refresh_from_db()
    assert job.status == "done" and job.message == "1 recovered, 0 still failing, 0 skipped"
    assert (job.done, job.total) == (1, 1)
    assert AuditEvent.objects.get(action="inbound_event.reprocessed").actor_id == users["finance_manager"].pk
    assert Job.objects.filter(kind="reprocess").count() == 1


def test_reprocess_command_filters_by_status_and_channel(channel: Any, post_event: Any) -> None:
    from io import StringIO

    for n in range(3):
        post_event("till", sale_event(f"Q-{n}", currency="XQZ"))
    out = StringIO()
    call_command("reprocess", "--status", "quarantined", "--channel", "till", "--dry-run", stdout=out)
    assert "3 events would be re-processed" in out.getvalue()
    call_command("reprocess", "--status", "quarantined", "--channel", "till", stdout=out)
    assert "0 recovered, 3 still failing, 0 skipped" in out.getvalue()
    rows = AuditEvent.objects.filter(action="inbound_event.reprocessed")
    assert rows.count() == 3 and {r.actor_label for r in rows} == {"manage.py reprocess"}
    summary = reprocess_events(InboundEvent.objects.filter(channel=channel))
    assert summary.still_failing == 3
