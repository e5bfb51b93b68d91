"""Period close: checks green or explained, the lock date, holding what is dated inside, reopening
only by a finance manager, and moving a held posting (never into a locked period, never far away
without a reason). Every step is audited."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied

from connectors.sandbox.quickbooks import QuickBooksSandbox
from integrator.choices import PeriodCloseStatus, PostingState
from integrator.models import AuditEvent, LedgerAccount, LedgerConnection, PeriodClose, Posting
from integrator.services.period_close import (
    CloseRefused,
    close_period,
    period_status,
    read_ledger_lock_date,
    reopen_period,
)
from integrator.services.posting import move_held_posting, run_outbox
from reconciliation.services.runs import run_reconciliation
from tests.conftest import sale_event

pytestmark = pytest.mark.django_db

MARCH = "2025-03-{:02d}T10:00:00+00:00"


def sell(post_event: Any, number: str, day: int, month_text: str = MARCH) -> Posting:
    assert post_event("till", sale_event(number, occurred_at=month_text.format(day))).status_code == 202
    run_outbox(worker="test")
    return Posting.objects.get(entry__transaction__number=number)


def test_a_green_month_closes_and_what_is_dated_inside_is_then_held(
    channel: Any, ledger: Any, post_event: Any, users: Any
) -> None:
    assert sell(post_event, "S-1", 3).state == PostingState.POSTED
    run_reconciliation(start=date(2025, 3, 1), end=date(2025, 3, 31))
    status = period_status(ledger, 2025, 3)
    assert status.covers_from is None and status.ended and not status.closed
    assert [(c.key, c.ok) for c in status.checks] == [
        ("dead_letters", True), ("held", True), ("in_ledger", True), ("payouts_matched", True),
        ("reconciliation", True),
    ]  # fmt: skip

    record = close_period(ledger, 2025, 3, actor=users["finance_manager"])
    ledger.refresh_from_db()
    assert ledger.lock_date == date(2025, 3, 31) and record.status == PeriodCloseStatus.CLOSED
    assert record.closed_by == users["finance_manager"] and all(c["ok"] for c in record.checks)
    closed = AuditEvent.objects.get(action="period.closed")
    assert closed.before == {"lock_date": None} and closed.after["lock_date"] == "2025-03-31"

    # A sale dated inside the closed month is held, never posted.
    late = sell(post_event, "S-LATE", 20)
    assert late.state == PostingState.HELD and "closed up to 2025-03-31" in late.last_error
    assert period_status(ledger, 2025, 3).closed


def test_failing_checks_must_be_explained_and_the_explanation_is_kept(
    channel: Any, ledger: Any, post_event: Any, users: Any
) -> None:
    LedgerAccount.objects.filter(connection=ledger, code="4000").update(active=False)  # the ledger refuses
    dead = sell(post_event, "S-DEAD", 5)
    assert dead.state == PostingState.DEAD
    checks = {c.key: c for c in period_status(ledger, 2025, 3).checks}
    assert not checks["dead_letters"].ok and checks["dead_letters"].detail == "1 posting dead-lettered"
    assert (
        not checks["reconciliation"].ok
        and "1 day never reconciled (05 Mar)" in checks["reconciliation"].detail
    )

    with pytest.raises(CloseRefused) as refused:
        close_period(ledger, 2025, 3, explanations={"dead_letters": "ok"}, actor=users["finance_manager"])
    assert set(refused.value.errors) == {"dead_letters", "reconciliation"}
    ledger.refresh_from_db()
    assert ledger.lock_date is None and not PeriodClose.objects.exists()

    why = {"dead_letters": "Booked by hand in the ledger on 6 March (journal J-77).",
           "reconciliation": "The bank feed for March arrives late; reconciled on paper."}  # fmt: skip
    record = close_period(ledger, 2025, 3, explanations=why, actor=users["finance_manager"])
    kept = {c["key"]: c["explanation"] for c in record.checks if not c["ok"]}
    assert kept == why


def test_only_a_finance_manager_closes_and_reopens_with_a_reason(
    channel: Any, ledger: Any, post_event: Any, users: Any
) -> None:
    sell(post_event, "S-1", 3)
    run_reconciliation(start=date(2025, 3, 1), end=date(2025, 4, 30))
    for role in ("finance_clerk", "auditor", "integration_admin"):
        with pytest.raises(PermissionDenied):
            close_period(ledger, 2025, 3, actor=users[role])
    manager = users["finance_manager"]
    march = close_period(ledger, 2025, 3, actor=manager)
    april = close_period(ledger, 2025, 4, actor=manager)
    with pytest.raises(CloseRefused, match="already closed"):
        close_period(ledger, 2025, 4, actor=manager)
    with pytest.raises(PermissionDenied):
        reopen_period(
            ledger, 2025, 3, reason="A late refund must be booked in March.", actor=users["finance_clerk"]
        )
    with pytest.raises(CloseRefused):
        reopen_period(ledger, 2025, 3, reason="", actor=manager)

    reopen_period(ledger, 2025, 3, reason="A late refund must be booked in March.", actor=manager)
    ledger.refresh_from_db()
    assert ledger.lock_date == date(2025, 2, 28)
    march.refresh_from_db()
    april.refresh_from_db()
    assert march.status == april.status == PeriodCloseStatus.REOPENED
    assert april.reopen_reason == "Reopened with March 2025: A late refund must be booked in March."
    row = AuditEvent.objects.get(action="period.reopened")
    assert row.before == {"lock_date": "2025-04-30"} and row.after["lock_date"] == "2025-02-28"
    assert row.actor_id == manager.pk


def test_a_month_that_has_not_ended_cannot_close(ledger: Any, users: Any) -> None:
    with pytest.raises(CloseRefused, match="has not ended"):
        close_period(ledger, 2999, 12, actor=users["finance_manager"])


def test_a_held_posting_moves_only_to_an_open_date_near_its_own_or_with_a_reason(
    channel: Any, ledger: Any, post_event: Any, users: Any
) -> None:
    run_reconciliation(start=date(2025, 3, 1), end=date(2025, 3, 31))
    close_period(ledger, 2025, 3, actor=users["finance_manager"])
    held = sell(post_event, "S-HELD", 28)
    assert held.state == PostingState.HELD
    clerk = users["finance_clerk"]
    with pytest.raises(ValueError, match="still in the period closed up to 2025-03-31"):
        move_held_posting(held, date(2025, 3, 30), actor=clerk)
    # 1 April is 4 days after the sale's date (28 March): no reason needed.
    # 15 May is 48 days after it: a reason is.
    with pytest.raises(ValueError, match=r"48 days from the document.s date .2025-03-28.*needs a reason"):
        move_held_posting(held, date(2025, 5, 15), actor=clerk)
    moved = move_held_posting(held, date(2025, 5, 15), actor=clerk, reason="Booked with the May adjustments.")
    assert moved.posting_date == date(2025, 5, 15) and moved.state == PostingState.UNCERTAIN
    assert moved.note.endswith("by finance_clerk: Booked with the May adjustments.")
    row = AuditEvent.objects.get(action="posting.moved")
    assert row.after["reason"] == "Booked with the May adjustments." and row.after["days_from_document"] == 48
    with pytest.raises(ValueError, match="only a held posting"):
        move_held_posting(moved, date(2025, 4, 1), actor=clerk)
    run_outbox(worker="test")
    assert Posting.objects.get(pk=held.pk).state == PostingState.POSTED


def test_the_ledgers_own_lock_date_is_read_and_holds_documents(
    channel: Any, post_event: Any, users: Any
) -> None:
    with QuickBooksSandbox(home_currency="GBP", book_close_date=date(2025, 3, 15)) as qbo:
        conn = LedgerConnection.objects.create(
            platform="quickbooks", name="QBO", functional_currency="GBP", base_url=qbo.url,
            credentials=qbo.credentials(), settings=qbo.ledger_settings(),
        )  # fmt: skip
        assert read_ledger_lock_date(conn, actor=users["finance_manager"]) == date(2025, 3, 15)
    conn.refresh_from_db()
    assert conn.remote_lock_date == date(2025, 3, 15) and conn.effective_lock_date() == date(2025, 3, 15)
    row = AuditEvent.objects.get(action="connection.ledger_lock_date_read")
    assert row.before == {"remote_lock_date": None} and row.after == {"remote_lock_date": "2025-03-15"}
