"""Invariants PostgreSQL enforces itself: concurrency-safe inbox, balanced journals, append-only audit."""

from __future__ import annotations

import copy
import json
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test import Client

from integrator.models import (
    AuditEvent,
    BookEntry,
    InboundEvent,
    JournalEntry,
    JournalLine,
    Posting,
    Transaction,
)
from tests.conftest import sale_event, signed_headers

pytestmark = pytest.mark.postgres


@pytest.mark.django_db(transaction=True)
def test_same_webhook_ten_times_five_concurrently_gives_one_of_everything(channel: Any) -> None:
    body = json.dumps(sale_event("S-CONC")).encode()
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(5)

    def deliver(wait: bool) -> None:
        try:
            if wait:
                barrier.wait(timeout=10)
            response = Client().post(
                "/hooks/till/", data=body, content_type="application/json", **signed_headers(body)
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(True,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for _ in range(5):
        deliver(False)
    assert len(statuses) == 10
    assert all(200 <= s < 300 for s in statuses), statuses
    assert statuses.count(202) == 1
    assert InboundEvent.objects.count() == 1
    assert InboundEvent.objects.get().deliveries == 10
    assert (Transaction.objects.count(), JournalEntry.objects.count(), Posting.objects.count()) == (1, 1, 1)
    assert BookEntry.objects.count() == 1


@pytest.mark.django_db
def test_unbalanced_journal_is_refused_even_by_raw_sql(channel: Any, post_event: Any) -> None:
    post_event("till", sale_event("S-BAL"))
    line = JournalLine.objects.filter(credit__gt=0).first()
    with (
        pytest.raises(IntegrityError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute("UPDATE integrator_journalline SET credit = credit + 0.01 WHERE id = %s", [line.pk])
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.django_db(transaction=True)
def test_unbalanced_insert_fails_at_commit(channel: Any) -> None:
    from integrator.choices import EntryKind

    account = channel.ledger_connection.accounts.first()
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        entry = JournalEntry.objects.create(
            kind=EntryKind.MANUAL, channel=channel, connection=channel.ledger_connection,
            reference="RAW-1", date="2026-11-20", currency="GBP",
        )  # fmt: skip
        JournalLine.objects.create(
            entry=entry, position=0, account=account, debit=Decimal("10.00"), currency="GBP", role="x"
        )
    assert not JournalEntry.objects.filter(reference="RAW-1").exists()


@pytest.mark.django_db
def test_a_line_with_both_sides_or_a_negative_amount_is_refused(channel: Any, post_event: Any) -> None:
    post_event("till", sale_event("S-SIDES"))
    line = JournalLine.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.filter(pk=line.pk).update(debit=Decimal("1"), credit=Decimal("1"))


@pytest.mark.django_db
def test_audit_rows_cannot_be_updated_or_deleted(channel: Any) -> None:
    row = AuditEvent.objects.first()
    assert row is not None
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).update(action="tampered")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).delete()


@pytest.mark.django_db
def test_the_balance_check_never_scans_the_whole_journal(channel: Any, post_event: Any) -> None:
    """The balance trigger runs once per line at commit and keeps its plan for the session: planned
    while the table looked empty, a sequential scan made each commit read every journal line once
    per line it wrote (migration 0022). With statistics saying the table is tiny, which is when
    the planner would choose that scan, the trigger's look-ups go through the index."""
    post_event("till", sale_event("S-PLAN"))
    first = JournalLine.objects.filter(debit__gt=0).first()
    assert first is not None
    position = (
        JournalLine.objects.filter(entry=first.entry)
        .order_by("-position")
        .values_list("position", flat=True)[0]
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE integrator_journalline")  # a few rows: a sequential scan looks cheapest
        cur.execute("SET CONSTRAINTS integrator_journal_balanced IMMEDIATE")  # fire at each statement

        def scans() -> tuple[int, int]:
            cur.execute(
                "SELECT seq_scan, COALESCE(idx_scan, 0) FROM pg_stat_xact_user_tables"
                " WHERE relname = 'integrator_journalline'"
            )
            row = cur.fetchone()
            return int(row[0]), int(row[1])

        before = scans()
        for _ in range(8):  # past the five custom plans after which a generic one may be kept
            pair = []
            for debit, credit in ((Decimal("1.00"), Decimal("0")), (Decimal("0"), Decimal("1.00"))):
                position += 1
                line = copy.copy(first)
                line.pk, line.position, line.debit, line.credit = None, position, debit, credit
                line.functional_debit, line.functional_credit = debit, credit
                pair.append(line)
            JournalLine.objects.bulk_create(pair)  # one INSERT: both lines, then the check of each
        after = scans()
    assert after[0] == before[0], "the balance check read the whole journal"
    assert after[1] >= before[1] + 16  # an index look-up per line written
    with connection.cursor() as cur:
        cur.execute("SELECT proconfig FROM pg_proc WHERE proname = 'integrator_check_entry_balanced'")
        assert cur.fetchone()[0] == ["enable_seqscan=off"]
