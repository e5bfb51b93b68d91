"""Processing the inbox and sending postings in batches (issue 19): many events in one database
transaction, claimed so that two workers never take the same rows, and every event ending exactly
as it would on its own.

* A batch books its sales with one audit append for the lot, and the audit chain stays intact.
* A row the database refuses inside a batch is marked (quarantined or failed, as on its own) in
  its own savepoint; the rows beside it in the same batch are booked.
* A batch whose transaction fails as a whole is processed again row by row: nothing is lost and
  nothing stays ``received``.
* The task of one posting sends the due postings of its connection as one batch (alone when only
  a handful are due).
* Claims: rows a live batch holds are left to it (by ``process_received_events`` and by the task of
  another row), the task of a claimed row does nothing, a lapsed claim is taken again, and the
  sweep processes a dead worker's rows whatever their claim.

Runs on SQLite and, with ``DATABASE_URL``, PostgreSQL.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from connectors.base import WebhookEnvelope
from integrator.choices import EventStatus, PostingState, TransactionStatus
from integrator.models import AuditEvent, InboundEvent, Posting, Transaction
from integrator.services import audit
from integrator.services.ingest import store_event
from integrator.services.pipeline import (
    process_event_batch,
    process_events_from,
    process_received_events,
    retry_failed_events,
)
from integrator.services.posting import run_outbox
from tests.conftest import sale_event

pytestmark = pytest.mark.django_db


def _store(channel: Any, sale_id: str, **line: Any) -> InboundEvent:
    event = sale_event(sale_id)
    event["data"]["lines"][0].update(line)
    envelope = WebhookEnvelope(dedupe_key=f"k-{sale_id}", event_type="sale.completed")
    return store_event(channel, envelope, json.dumps(event), {}).event


def _chain_intact() -> bool:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)  # raises CommandError on a broken chain
    return "audit chain intact" in out.getvalue()


def _statuses(events: list[InboundEvent]) -> dict[str, str]:
    rows = InboundEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("dedupe_key", "status")
    return dict(rows)


@override_settings(PROCESS_BATCH_SIZE=25)
def test_a_batch_books_every_sale_with_one_audit_append_and_an_intact_chain(channel: Any) -> None:
    events = [_store(channel, f"B-{i}") for i in range(60)]
    before = AuditEvent.objects.count()

    assert process_received_events() == 60

    assert set(_statuses(events).values()) == {EventStatus.PROCESSED}
    assert Transaction.objects.filter(status=TransactionStatus.JOURNALED).count() == 60
    assert AuditEvent.objects.filter(action="transaction.journaled").count() == 60
    assert AuditEvent.objects.count() - before == 60
    assert all(e.attempts == 1 for e in InboundEvent.objects.all())
    run_outbox(limit=200)
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 60
    assert _chain_intact()


@pytest.fixture
def refused_sku() -> Any:
    """A database that refuses one SKU (a trigger on the sale lines' table): what no check of ours
    foresaw and the database turned down. PostgreSQL raises a data error (SQLSTATE 22001, value too
    long, as a column would), SQLite aborts the statement as a constraint does."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "CREATE FUNCTION refuse_sku() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'value too long for type character varying(80)' USING ERRCODE = '22001'; "
                "END $$ LANGUAGE plpgsql"
            )
            cur.execute(
                "CREATE TRIGGER refuse_sku BEFORE INSERT ON integrator_transactionline FOR EACH ROW "
                "WHEN (NEW.sku = 'REFUSED') EXECUTE FUNCTION refuse_sku()"
            )
        else:
            cur.execute(
                "CREATE TRIGGER refuse_sku BEFORE INSERT ON integrator_transactionline "
                "WHEN NEW.sku = 'REFUSED' BEGIN SELECT RAISE(ABORT, 'refused sku'); END"
            )
    yield "REFUSED"
    with connection.cursor() as cur:
        cur.execute(
            "DROP TRIGGER refuse_sku"
            + (" ON integrator_transactionline" if connection.vendor == "postgresql" else "")
        )
        if connection.vendor == "postgresql":
            cur.execute("DROP FUNCTION refuse_sku()")


@override_settings(PROCESS_BATCH_SIZE=50)
def test_a_row_the_database_refuses_inside_a_batch_is_marked_and_its_neighbours_are_booked(
    channel: Any, refused_sku: str
) -> None:
    good = [_store(channel, f"N-{i}") for i in range(4)]
    refused = _store(channel, "N-refused", sku=refused_sku)
    good += [_store(channel, f"N-{i}") for i in range(4, 8)]

    assert process_received_events() == 9

    refused.refresh_from_db()
    if connection.vendor == "postgresql":  # the event's data is at fault: a retry would fail the same way
        assert refused.status == EventStatus.QUARANTINED, refused.error
        assert refused.error.startswith("cannot store the event: DataError"), refused.error
    else:  # an aborted statement is not known to be the data's fault: retried by the sweep
        assert refused.status == EventStatus.FAILED, refused.error
        assert refused.error.startswith("the database refused the write: IntegrityError"), refused.error
    assert set(_statuses(good).values()) == {EventStatus.PROCESSED}
    booked = set(Transaction.objects.values_list("external_id", flat=True))
    assert booked == {f"N-{i}" for i in range(8)}
    assert Transaction.objects.filter(status=TransactionStatus.JOURNALED).count() == 8
    assert _chain_intact()


@override_settings(PROCESS_BATCH_SIZE=50)
def test_a_batch_that_fails_as_a_whole_is_processed_again_row_by_row(
    channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [_store(channel, f"F-{i}") for i in range(6)]
    real = audit.record_many
    failures = []

    def connection_lost_once(rows: list[dict[str, Any]]) -> Any:
        # The batch's last write fails as a lost connection would: its whole transaction is undone.
        if not failures:
            failures.append(len(rows))
            raise OperationalError("server closed the connection unexpectedly")
        return real(rows)

    monkeypatch.setattr(audit, "record_many", connection_lost_once)

    assert process_received_events() == 6

    assert failures == [6]
    assert set(_statuses(events).values()) == {EventStatus.PROCESSED}
    assert Transaction.objects.filter(status=TransactionStatus.JOURNALED).count() == 6
    # The batch's attempt and the one on its own are both counted.
    assert {e.attempts for e in InboundEvent.objects.all()} == {2}
    assert AuditEvent.objects.filter(action="transaction.journaled").count() == 6
    assert _chain_intact()


@override_settings(PROCESS_BATCH_SIZE=50)
def test_rows_a_live_batch_holds_are_left_to_it_until_its_claim_lapses(channel: Any) -> None:
    held = [_store(channel, f"H-{i}") for i in range(3)]
    free = [_store(channel, f"R-{i}") for i in range(3)]
    later = timezone.now() + timedelta(minutes=4)
    InboundEvent.objects.filter(pk__in=[e.pk for e in held]).update(claimed_by="other", claimed_until=later)

    assert process_received_events() == 3  # only the free ones
    assert set(_statuses(free).values()) == {EventStatus.PROCESSED}
    assert set(_statuses(held).values()) == {EventStatus.RECEIVED}

    process_events_from(held[0].pk)  # the task of a held row: the live batch will do it
    assert set(_statuses(held).values()) == {EventStatus.RECEIVED}

    InboundEvent.objects.filter(pk=held[0].pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    process_events_from(held[0].pk)  # the claim lapsed (its worker died): the task takes its row
    assert _statuses(held)[held[0].dedupe_key] == EventStatus.PROCESSED
    assert _statuses(held)[held[1].dedupe_key] == EventStatus.RECEIVED  # still held by the other

    # The sweep processes rows left received for 5 minutes, claimed or not.
    InboundEvent.objects.filter(pk__in=[e.pk for e in held]).update(
        received_at=timezone.now() - timedelta(minutes=6)
    )
    assert retry_failed_events() == 2
    assert set(_statuses(held).values()) == {EventStatus.PROCESSED}


@override_settings(PROCESS_BATCH_SIZE=50)
def test_a_task_takes_its_own_row_and_the_waiting_rows_behind_it(channel: Any) -> None:
    events = [_store(channel, f"T-{i}") for i in range(5)]
    InboundEvent.objects.filter(pk=events[0].pk).update(claimed_by="mine", claimed_until=None)

    process_events_from(events[2].pk)

    assert set(_statuses(events).values()) == {EventStatus.PROCESSED}
    assert InboundEvent.objects.filter(claimed_by="mine").count() == 0  # re-claimed by the batch
    assert process_event_batch([e.pk for e in events]) == 0  # nothing left to claim


@override_settings(PROCESS_BATCH_SIZE=50)
def test_the_task_of_one_posting_sends_its_connections_due_postings_as_one_batch(channel: Any) -> None:
    from integrator.models import BookEntry, PostingAttempt
    from integrator.tasks import send_posting

    for i in range(12):
        _store(channel, f"S-{i}")
    process_received_events()
    first = Posting.objects.order_by("next_attempt_at").first()
    assert first is not None and Posting.objects.filter(state=PostingState.PENDING).count() == 12

    send_posting(str(first.pk))

    assert Posting.objects.filter(state=PostingState.POSTED).count() == 12
    assert BookEntry.objects.count() == 12
    assert PostingAttempt.objects.count() == 12
    send_posting(str(first.pk))  # its task again (a broker's second delivery): nothing more is sent
    assert BookEntry.objects.count() == 12 and PostingAttempt.objects.count() == 12


def test_the_task_of_one_posting_sends_it_alone_when_few_are_due(channel: Any) -> None:
    from integrator.services.posting import MIN_TASK_BATCH
    from integrator.tasks import send_posting

    for i in range(MIN_TASK_BATCH - 1):
        _store(channel, f"A-{i}")
    process_received_events()
    first = Posting.objects.order_by("next_attempt_at").first()
    assert first is not None

    send_posting(str(first.pk))  # a vendor's batch budget is not spent on a handful

    first.refresh_from_db()
    assert first.state == PostingState.POSTED
    assert Posting.objects.filter(state=PostingState.PENDING).count() == MIN_TASK_BATCH - 2
