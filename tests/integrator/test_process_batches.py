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
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def _refusing(table: str, condition: str, sqlstate: str) -> Iterator[None]:
    """A trigger that refuses rows of ``table`` matching ``condition`` (SQL on ``NEW``): what no
    check of ours foresaw and the database turned down. PostgreSQL raises ``sqlstate``, SQLite
    aborts the statement as a constraint does."""
    name = f"refuse_{table}"
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                f"RAISE EXCEPTION 'value too long for type character varying(80)' USING ERRCODE = '{sqlstate}'; "
                "END $$ LANGUAGE plpgsql"
            )
            cur.execute(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN ({condition}) EXECUTE FUNCTION {name}()"
            )
        else:
            cur.execute(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                f"WHEN {condition} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute(
                f"DROP TRIGGER {name}" + (f" ON {table}" if connection.vendor == "postgresql" else "")
            )
            if connection.vendor == "postgresql":
                cur.execute(f"DROP FUNCTION {name}()")


@pytest.fixture
def refused_sku() -> Iterator[str]:
    """A database that refuses one SKU (a trigger on the sale lines' table). PostgreSQL raises a
    data error (SQLSTATE 22001, value too long, as a column would)."""
    with _refusing("integrator_transactionline", "NEW.sku = 'REFUSED'", "22001"):
        yield "REFUSED"


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


def test_the_task_of_one_posting_sends_the_few_due_one_by_one(channel: Any, monkeypatch: Any) -> None:
    """Fewer than MIN_TASK_BATCH due: no batch call (a vendor's batch budget is not spent on a
    handful), but the task sends each of them, since a batch's postings share few messages."""
    from integrator.models import BookEntry, PostingAttempt
    from integrator.services import posting as posting_service
    from integrator.services.posting import MIN_TASK_BATCH
    from integrator.tasks import send_posting

    for i in range(MIN_TASK_BATCH - 1):
        _store(channel, f"A-{i}")
    process_received_events()
    first = Posting.objects.order_by("next_attempt_at").first()
    assert first is not None
    batches: list[int] = []
    real_batch = posting_service.send_postings_batch
    monkeypatch.setattr(
        posting_service,
        "send_postings_batch",
        lambda ids, **kw: batches.append(len(ids)) or real_batch(ids, **kw),
    )

    send_posting(str(first.pk))

    assert batches == []
    assert Posting.objects.filter(state=PostingState.POSTED).count() == MIN_TASK_BATCH - 1
    assert BookEntry.objects.count() == PostingAttempt.objects.count() == MIN_TASK_BATCH - 1
    send_posting(str(first.pk))  # a second delivery sends nothing more
    assert BookEntry.objects.count() == MIN_TASK_BATCH - 1


@override_settings(PROCESS_BATCH_SIZE=50, POSTING_TASK_BATCH=10)
def test_a_posting_task_goes_on_with_what_is_still_due_of_its_connection(
    channel: Any, monkeypatch: Any
) -> None:
    """The postings of a batch share one message; a task that sent some queues one more message for
    what is still due (another worker's claim may have hidden those rows from the tasks that had
    messages), so nothing waits for the outbox sweep; once nothing is due, none is queued."""
    from django_q.conf import Conf
    from django_q.models import OrmQ

    from integrator import tasks
    from integrator.models import BookEntry, PostingAttempt

    for i in range(25):
        _store(channel, f"G-{i}")
    process_received_events()
    monkeypatch.setattr(Conf, "SYNC", False)  # queued in the database, run below as a worker would
    monkeypatch.setattr(Conf, "ORM", "default")
    oldest = Posting.objects.order_by("next_attempt_at").values_list("pk", flat=True)
    first = oldest.first()

    tasks.send_posting(str(first))

    assert Posting.objects.filter(state=PostingState.POSTED).count() == 10
    queued = list(OrmQ.objects.all())
    assert [q.task["args"] for q in queued] == [(str(oldest.filter(state=PostingState.PENDING).first()),)]
    runs = 0
    while OrmQ.objects.exists():
        for q in list(OrmQ.objects.all()):
            q.delete()
            tasks.send_posting(*q.task["args"])
            runs += 1
    assert runs == 2  # 10, then the last 5, which leave nothing due
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 25
    assert BookEntry.objects.count() == PostingAttempt.objects.count() == 25


def _books(prefix: str) -> list[tuple[Any, ...]]:
    """What the journal holds for the sales whose ids start with ``prefix``, with the prefix taken
    out of every reference and number, so two sets of the same sales compare equal."""
    from integrator.models import JournalEntry

    rows = []
    for entry in JournalEntry.objects.filter(reference__contains=f"/{prefix}").order_by("reference"):
        posting = Posting.objects.filter(entry=entry).first()
        lines = tuple(
            (ln.position, ln.account_id, ln.role, ln.debit, ln.credit, ln.functional_debit, ln.functional_credit,
             ln.tax_code_id, ln.tax_rate, ln.currency, ln.description.replace(prefix, ""), ln.mapping_rule_id)
            for ln in entry.lines.order_by("position")
        )  # fmt: skip
        rows.append(
            (entry.reference.replace(prefix, ""), entry.number.replace(prefix, ""), entry.kind, entry.date,
             entry.currency, entry.memo.replace(prefix, ""), entry.mapping_version_id, entry.exchange_rate,
             entry.rate_source, entry.transaction.status, entry.transaction.status_reasons,
             posting.state if posting else None, posting.posting_date if posting else None, lines)
        )  # fmt: skip
    return rows


def test_a_batch_journals_new_sales_as_one_by_one_does(channel: Any) -> None:
    """The batch's journal (one statement per table) is the one advance_transaction makes alone:
    same entries, lines, numbers, statuses and postings; and one audit row per transaction."""
    with override_settings(PROCESS_BATCH_SIZE=1):
        for i in range(6):
            _store(channel, f"ONE-{i}")
        process_received_events()
    with override_settings(PROCESS_BATCH_SIZE=50):
        for i in range(6):
            _store(channel, f"BAT-{i}")
        process_received_events()

    alone, together = _books("ONE-"), _books("BAT-")
    assert len(together) == 6 and together == alone
    assert {t.status for t in Transaction.objects.all()} == {TransactionStatus.JOURNALED}
    journaled = AuditEvent.objects.filter(action="transaction.journaled")
    assert journaled.count() == 12 and _chain_intact()


@override_settings(PROCESS_BATCH_SIZE=50)
def test_a_batch_leaves_what_it_cannot_journal_plainly_to_advance_transaction(channel: Any) -> None:
    """In one batch: plain sales, a refund of one of them, a sale whose total does not add up and a
    sale of a till number used before. Each ends as it would on its own."""
    from integrator.models import JournalEntry

    _store(channel, "M-1")
    bad = sale_event("M-2", total="99.00")
    store_event(
        channel, WebhookEnvelope(dedupe_key="k-M-2", event_type="sale.completed"), json.dumps(bad), {}
    )
    refund = sale_event("M-1R")
    refund["type"] = "refund.completed"
    refund["data"].update({"sale_id": "M-1", "number": "M-1R"})
    store_event(
        channel, WebhookEnvelope(dedupe_key="k-M-1R", event_type="refund.completed"), json.dumps(refund), {}
    )
    again = sale_event("M-3")
    again["data"]["number"] = "M-1"  # a till's ticket number used again by another sale
    store_event(
        channel, WebhookEnvelope(dedupe_key="k-M-3", event_type="sale.completed"), json.dumps(again), {}
    )

    process_received_events()

    by_id = {t.external_id: t for t in Transaction.objects.all()}
    assert by_id["M-1"].status == TransactionStatus.JOURNALED
    assert by_id["M-3"].status == TransactionStatus.JOURNALED
    numbers = dict(JournalEntry.objects.values_list("reference", "number"))
    assert numbers["till/sale/M-1"] == "M-1"
    assert numbers["till/sale/M-3"] == "M-1-M-3"  # the number is taken: the id's end is added
    assert InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() == 4
    assert by_id["M-2"].status == TransactionStatus.INVALID and by_id["M-2"].status_reasons
    assert by_id["M-1R"].status == TransactionStatus.JOURNALED and by_id["M-1R"].sale_id == by_id["M-1"].pk
    assert _chain_intact()


@pytest.fixture
def refused_entry() -> Iterator[str]:
    """A database that refuses the journal entry of one sale (a trigger on the entries' table)."""
    with _refusing("integrator_journalentry", "NEW.reference = 'till/sale/J-refused'", "23514"):
        yield "J-refused"


@override_settings(PROCESS_BATCH_SIZE=50)
def test_a_batch_whose_journal_the_database_refuses_journals_one_by_one(
    channel: Any, refused_entry: str
) -> None:
    """The batch's one INSERT of entries is refused: it is undone, with its audit rows, and each
    transaction is journaled on its own; only the refused one waits, received, for a person."""
    for i in range(3):
        _store(channel, f"J-{i}")
    _store(channel, refused_entry)
    for i in range(3, 6):
        _store(channel, f"J-{i}")

    assert process_received_events() == 7

    statuses = dict(Transaction.objects.values_list("external_id", "status"))
    assert statuses.pop(refused_entry) == TransactionStatus.RECEIVED
    assert set(statuses.values()) == {TransactionStatus.JOURNALED} and len(statuses) == 6
    assert InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() == 7
    assert AuditEvent.objects.filter(action="transaction.journaled").count() == 6  # none of the undone batch
    assert Posting.objects.count() == 6
    assert _chain_intact()
