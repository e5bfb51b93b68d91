"""Re-posting after a past-dated mapping change: a reversal and a new entry per affected document,
through the outbox, never an edit of what the ledger has.

Given sales booked on 20 and 21 November under version 1 (textiles -> 4000), when a change moving
textiles to 4010 from 1 November is approved with re-posting and executed, then the ledger gains
exactly the intended movement (4000 debited, 4010 credited by the textiles revenue) and nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from integrator.choices import EntryKind, PostingMode, PostingState, TransactionStatus
from integrator.models import (
    AuditEvent,
    BookEntry,
    BookLine,
    JournalEntry,
    JournalLine,
    MappingSet,
    Posting,
    RepostRequest,
    Transaction,
)
from integrator.services import mapping_changes as svc
from integrator.services import reposting
from integrator.services.closing import close_day
from tests.conftest import make_channel, sale_event
from tests.integrator.test_mapping_changes import textiles_change

BASKET = [
    {
        "sku": "BASKET-1",
        "name": "Basket",
        "category": "homeware",
        "quantity": 1,
        "unit_price": "10.00",
        "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}],
    }
]


def net_by_account(entries: Any) -> dict[str, Decimal]:
    """Debit minus credit per account code over some journal entries."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    for ln in JournalLine.objects.filter(entry__in=entries).select_related("account"):
        net[ln.account.code] += ln.debit - ln.credit
    return {code: amount for code, amount in net.items() if amount}


def book_net() -> dict[str, Decimal]:
    """Debit minus credit per account code in the built-in ledger (what was really posted)."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    for ln in BookLine.objects.all():
        net[ln.account_code] += ln.debit - ln.credit
    return {code: amount for code, amount in net.items() if amount}


@pytest.fixture
def booked(channel: Any, post_event: Any) -> MappingSet:
    """Two textiles sales and a basket sale, posted under version 1."""
    post_event("till", sale_event("T-1", occurred_at="2026-11-20T10:00:00+00:00"))
    post_event("till", sale_event("T-2", occurred_at="2026-11-21T10:00:00+00:00"))
    post_event(
        "till", sale_event("B-1", lines=BASKET, total="12.00", occurred_at="2026-11-21T11:00:00+00:00")
    )
    assert set(Transaction.objects.values_list("status", flat=True)) == {TransactionStatus.POSTED}
    return MappingSet.objects.get(channel=channel)


def approved_repost(mset: MappingSet, users: Any, effective_from: date = date(2026, 11, 1)) -> RepostRequest:
    change = textiles_change(mset, users["finance_clerk"], effective_from=effective_from)
    svc.approve_change(change, actor=users["finance_manager"], comment="regroup", confirm_reposting=True)
    return RepostRequest.objects.get(change=change)


def test_reposting_posts_reversal_and_new_entries_that_net_to_the_intended_change(
    booked: MappingSet, users: Any, django_capture_on_commit_callbacks: Any
) -> None:
    ledger_before = book_net()
    repost = approved_repost(booked, users)
    docs = {d["document"]: d for d in repost.preview["documents"]}
    assert set(docs) == {"sale T-1", "sale T-2"}  # the basket's journal does not change
    assert docs["sale T-1"]["delta"] == [
        {"account": "4000", "amount": "120.00"},
        {"account": "4010", "amount": "-120.00"},
    ]
    originals = list(JournalEntry.objects.filter(kind=EntryKind.TRANSACTION).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        done = reposting.execute_repost(repost, actor=users["finance_manager"])
    assert done.status == "done" and done.executed_by == users["finance_manager"]
    results = list(done.results.select_related("reversal_entry", "new_entry", "transaction"))
    assert sorted((r.transaction.external_id, r.outcome) for r in results) == [
        ("T-1", "reposted"),
        ("T-2", "reposted"),
    ]
    made = []
    for r in results:
        assert (
            r.reversal_entry.kind == EntryKind.REVERSAL
            and r.reversal_entry.reverses_id == r.original_entry_id
        )
        assert (
            r.new_entry.mapping_version_id == repost.version_id and r.new_entry.date == r.original_entry.date
        )
        assert r.new_entry.reference.endswith("/v2") and r.reversal_entry.reference.endswith("/rev-v2")
        made += [r.reversal_entry_id, r.new_entry_id]
    # Reversal + new entry move the books by exactly the intended change: 240.00 from 4000 to 4010.
    assert net_by_account(made) == {"4000": Decimal("240.00"), "4010": Decimal("-240.00")}
    # The originals are untouched (never edited), only marked superseded.
    assert JournalEntry.objects.filter(pk__in=originals, superseded=True).count() == 2
    # Everything reached the ledger through the outbox, one document each.
    assert set(Posting.objects.values_list("state", flat=True)) == {PostingState.POSTED}
    assert BookEntry.objects.count() == 3 + 4
    after = book_net()
    change = {
        code: after.get(code, Decimal(0)) - ledger_before.get(code, Decimal(0))
        for code in set(after) | set(ledger_before)
    }
    assert {c: a for c, a in change.items() if a} == {"4000": Decimal("240.00"), "4010": Decimal("-240.00")}
    assert set(Transaction.objects.values_list("status", flat=True)) == {TransactionStatus.POSTED}
    audit = AuditEvent.objects.filter(action="journal.reposted")
    assert audit.count() == 2
    row = audit.first()
    assert row is not None and row.before["lines"] and row.after["delta"] and row.after["reversal"]
    assert AuditEvent.objects.filter(action="repost.executed", object_id=str(repost.pk)).get().after[
        "counts"
    ] == {"reposted": 2}


def test_documents_in_a_closed_period_are_left_alone_and_reported(booked: MappingSet, users: Any) -> None:
    repost = approved_repost(booked, users)
    connection = booked.connection
    connection.lock_date = date(2026, 11, 20)
    connection.save()
    done = reposting.execute_repost(repost, actor=users["finance_manager"])
    outcomes = {r.transaction.external_id: r.outcome for r in done.results.select_related("transaction")}
    assert outcomes == {"T-1": "closed_period", "T-2": "reposted"}
    closed = done.results.get(transaction__external_id="T-1")
    assert (
        closed.reversal_entry is None
        and closed.new_entry is None
        and "closed up to 2026-11-20" in closed.message
    )
    assert (
        JournalEntry.objects.get(transaction__external_id="T-1", kind=EntryKind.TRANSACTION).superseded
        is False
    )


def test_only_a_manager_executes_and_only_once(booked: MappingSet, users: Any) -> None:
    repost = approved_repost(booked, users)
    for actor in (users["finance_clerk"], users["auditor"]):
        with pytest.raises(PermissionDenied):
            reposting.execute_repost(repost, actor=actor)
    reposting.execute_repost(repost, actor=users["finance_manager"])
    count = JournalEntry.objects.count()
    with pytest.raises(reposting.RepostError, match="executed"):
        reposting.execute_repost(repost, actor=users["finance_manager"])
    with pytest.raises(reposting.RepostError):
        reposting.cancel_repost(repost, actor=users["finance_manager"])
    assert JournalEntry.objects.count() == count


def test_a_cancelled_reposting_posts_nothing(booked: MappingSet, users: Any) -> None:
    repost = approved_repost(booked, users)
    reposting.cancel_repost(repost, actor=users["finance_manager"], comment="will fix in January")
    with pytest.raises(reposting.RepostError, match="cancelled"):
        reposting.execute_repost(repost, actor=users["finance_manager"])
    assert JournalEntry.objects.filter(kind=EntryKind.REVERSAL).count() == 0
    row = AuditEvent.objects.get(action="repost.cancelled")
    assert row.before == {"status": "pending"} and row.after["comment"] == "will fix in January"


def test_daily_summary_entries_not_yet_summarised_are_replaced_without_a_reversal(
    ledger: Any, users: Any, post_event: Any
) -> None:
    channel = make_channel(ledger, slug="popup", mode=PostingMode.DAILY_SUMMARY)
    post_event("popup", sale_event("P-1", occurred_at="2026-11-20T10:00:00+00:00"))
    post_event("popup", sale_event("P-2", occurred_at="2026-11-21T10:00:00+00:00"))
    close_day(channel, date(2026, 11, 20))  # P-1 reached a summary; P-2 did not
    mset = MappingSet.objects.get(channel=channel)
    repost = approved_repost(mset, users)
    done = reposting.execute_repost(repost, actor=users["finance_manager"])
    by_txn = {r.transaction.external_id: r for r in done.results.select_related("transaction")}
    assert by_txn["P-1"].reversal_entry is not None and by_txn["P-2"].reversal_entry is None
    assert by_txn["P-2"].new_entry is not None
    assert Posting.objects.filter(entry__kind__in=[EntryKind.REVERSAL, EntryKind.TRANSACTION]).count() == 0
    # The next summary of 20 November carries the reversal and the new entry: the movement only.
    again = close_day(channel, date(2026, 11, 20))
    assert len(again) == 1 and again[0].reference.endswith("/2")
    assert net_by_account([again[0].pk]) == {"4000": Decimal("120.00"), "4010": Decimal("-120.00")}
    first = close_day(channel, date(2026, 11, 21))
    assert net_by_account([first[0].pk])["4010"] == Decimal("-120.00") and "4000" not in net_by_account(
        [first[0].pk]
    )
