"""Exceptions clear on the event that settles them: a posting reaching the ledger, a day closing.

Before, a transaction posted after a run kept its "not in the ledger" exception until somebody
reran the checks by hand.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth import get_user_model

from integrator.choices import PostingMode, PostingState, TransactionStatus
from integrator.models import AuditEvent, LedgerConnection, Posting, Transaction
from integrator.services.closing import close_day
from integrator.services.posting import replay_posting, run_outbox
from reconciliation.choices import ExceptionKind, ExceptionStatus
from reconciliation.models import ReconciliationException
from reconciliation.services.resolution import resolve_exception
from reconciliation.services.runs import run_reconciliation
from tests.conftest import make_channel, sale_event

DAY = date(2026, 11, 20)


def _unposted(txn: Transaction) -> ReconciliationException:
    return ReconciliationException.objects.get(kind=ExceptionKind.UNPOSTED_TRANSACTION, transaction=txn)


def test_a_held_posting_that_posts_later_clears_its_exception(
    ledger: LedgerConnection, channel: Any, post_event: Any
) -> None:
    ledger.lock_date = DAY  # the period is closed: the sale's posting is held
    ledger.save()
    post_event("till", sale_event("S-HELD"))
    txn = Transaction.objects.get(external_id="S-HELD")
    posting = Posting.objects.get(entry__transaction=txn)
    assert posting.state == PostingState.HELD
    run_reconciliation(DAY)
    exc = _unposted(txn)
    assert exc.status == ExceptionStatus.OPEN and "its posting is held" in exc.explanation

    ledger.lock_date = None  # the manager reopens the period and replays the posting
    ledger.save()
    replay_posting(posting)
    assert run_outbox(worker="test") == 1
    posting.refresh_from_db()
    assert posting.state == PostingState.POSTED

    exc.refresh_from_db()
    assert exc.status == ExceptionStatus.RESOLVED and exc.auto_resolved
    assert exc.resolution_note.startswith(f"Posted to the ledger as {posting.remote_number} with till/sale/")
    assert "cleared automatically" in exc.resolution_note
    trail = AuditEvent.objects.filter(action="reconciliation_exception.auto_resolved").get()
    assert trail.after["event"] == "posted" and trail.after["keys"] == [exc.key]
    assert trail.actor_label == "system"
    rerun = run_reconciliation(DAY)
    assert rerun.exceptions_new == 0 and rerun.exceptions_open == 0


def test_closing_the_day_clears_daily_summary_not_closed_and_posting_keeps_it_clear(
    ledger: LedgerConnection, post_event: Any
) -> None:
    shop = make_channel(ledger, slug="shop", mode=PostingMode.DAILY_SUMMARY)
    post_event("shop", sale_event("S-DAY-1"))
    post_event("shop", sale_event("S-DAY-2", total="72.00", lines=[{
        "sku": "KENTE-6", "name": "Kente strip", "category": "textiles", "quantity": 1, "unit_price": "60.00",
        "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "12.00"}]}]))  # fmt: skip
    run_reconciliation(DAY)
    waiting = list(ReconciliationException.objects.filter(status=ExceptionStatus.OPEN).order_by("amount"))
    assert [e.amount for e in waiting] == [72, 144]
    assert all("which has not been closed" in e.explanation for e in waiting)

    (summary,) = close_day(shop, DAY)
    for exc in waiting:
        exc.refresh_from_db()
        assert exc.status == ExceptionStatus.RESOLVED and exc.auto_resolved
        assert f"The daily summary {summary.reference} was closed" in exc.resolution_note
    (trail,) = AuditEvent.objects.filter(action="reconciliation_exception.auto_resolved")
    assert trail.after["event"] == "day_closed" and trail.after["resolved"] == 2

    assert run_outbox(worker="test") == 1  # the summary reaches the ledger
    assert set(Transaction.objects.values_list("status", flat=True)) == {TransactionStatus.POSTED}
    assert AuditEvent.objects.filter(action="reconciliation_exception.auto_resolved").count() == 1
    rerun = run_reconciliation(DAY)
    assert rerun.exceptions_open == 0 and rerun.exceptions_new == 0
    # Both sales count as booked through their summary's posting, and it carried exactly their total.
    (day,) = rerun.summary["channel_days"]
    assert (day["transactions"], day["sales_system"], day["posted"]) == (2, "216.00", "216.00")


def test_a_persons_resolution_stands_and_other_transactions_stay_open(
    ledger: LedgerConnection, channel: Any, post_event: Any, users: Any
) -> None:
    ledger.lock_date = DAY
    ledger.save()
    post_event("till", sale_event("S-A"))
    post_event("till", sale_event("S-B"))
    run_reconciliation(DAY)
    a, b = (Transaction.objects.get(external_id=x) for x in ("S-A", "S-B"))
    clerk = users["finance_clerk"]
    resolve_exception(_unposted(a), note="Talked to the manager: the period reopens on Monday.", actor=clerk)
    ledger.lock_date = None
    ledger.save()
    replay_posting(Posting.objects.get(entry__transaction=a))
    run_outbox(worker="test")
    mine = _unposted(a)
    assert mine.status == ExceptionStatus.RESOLVED and not mine.auto_resolved
    assert mine.resolved_by == get_user_model().objects.get(username="finance_clerk")
    assert mine.resolution_note.startswith("Talked to the manager")
    other = _unposted(b)
    assert other.status == ExceptionStatus.OPEN, "S-B's posting is still held"
    assert not AuditEvent.objects.filter(action="reconciliation_exception.auto_resolved").exists()


def test_postings_posted_as_one_batch_clear_their_own_exceptions_and_no_other(
    ledger: LedgerConnection, channel: Any, post_event: Any
) -> None:
    ledger.lock_date = DAY
    ledger.save()
    for sale in ("S-1", "S-2", "S-3"):
        post_event("till", sale_event(sale))
    run_reconciliation(DAY)
    held = [Transaction.objects.get(external_id=x) for x in ("S-1", "S-2", "S-3")]
    assert all(_unposted(t).status == ExceptionStatus.OPEN for t in held)
    ledger.lock_date = None
    ledger.save()
    for txn in held[:2]:
        replay_posting(Posting.objects.get(entry__transaction=txn))

    assert run_outbox(worker="test") == 2  # the built-in ledger takes both as one batch

    assert [_unposted(t).status for t in held] == [ExceptionStatus.RESOLVED, ExceptionStatus.RESOLVED,
                                                   ExceptionStatus.OPEN]  # fmt: skip
    assert all(_unposted(t).auto_resolved for t in held[:2])
    assert AuditEvent.objects.filter(action="reconciliation_exception.auto_resolved").count() == 2
