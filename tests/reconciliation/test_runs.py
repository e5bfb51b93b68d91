"""Daily reconciliation through the real pipeline: unposted transactions, channel-day totals,
ledger read-back, payouts vs bank deposits, unpaid invoices; re-runs never duplicate."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any

import pytest

from integrator.choices import PostingState, TransactionStatus
from integrator.models import AuditEvent, BookEntry, BookLine, JournalLine, Posting, Transaction
from reconciliation.choices import ExceptionKind, ExceptionStatus, RunStatus
from reconciliation.models import BankAccount, Match, ReconciliationException
from reconciliation.services.checks import (
    booked_filter,
    booked_q,
    check_unposted,
    unposted_parts,
    unsettled_snapshot,
    unsettled_source,
)
from reconciliation.services.runs import STEPS, run_reconciliation
from reconciliation.services.statements import import_statement
from tests.conftest import make_channel, sale_event
from tests.reconciliation.conftest import bank_file, payout_event

NOV = {d: date(2026, 11, d) for d in range(18, 31)}


def open_exceptions(kind: str | None = None) -> list[ReconciliationException]:
    qs = ReconciliationException.objects.filter(status=ExceptionStatus.OPEN)
    return list(qs.filter(kind=kind) if kind else qs)


def test_payout_deposited_in_the_bank_is_matched(
    channel: Any, post_event: Any, bank_account: BankAccount
) -> None:
    post_event("till", payout_event())
    payout = Transaction.objects.get(kind="payout")
    assert payout.status == TransactionStatus.POSTED
    import_statement(bank_account, bank_file("camt053-deposit.xml"), filename="camt.xml")
    run = run_reconciliation(NOV[23])
    match = Match.objects.get()
    assert (
        match.payout == payout and match.bank_line.amount == Decimal("139.44") and match.day_difference == 0
    )
    assert match.run == run and run.matches_made == 1
    assert open_exceptions() == []
    assert run.status == RunStatus.DONE and (run.done, run.total) == (len(STEPS), len(STEPS))
    assert run_reconciliation(NOV[23]).matches_made == 0 and Match.objects.count() == 1  # idempotent


def test_payout_without_deposit_is_an_exception_until_the_deposit_arrives(
    channel: Any, post_event: Any, bank_account: BankAccount
) -> None:
    post_event("till", payout_event())
    import_statement(bank_account, bank_file("camt053-no-deposit.xml"), filename="b.xml")
    run = run_reconciliation(NOV[23])
    (missing,) = open_exceptions(ExceptionKind.PAYOUT_NOT_DEPOSITED)
    assert missing.transaction == Transaction.objects.get(kind="payout")
    assert (missing.amount, missing.currency, missing.day) == (Decimal("139.44"), "GBP", NOV[23])
    assert (
        "Payout po-1 of Channel till for 139.44 GBP, expected in the bank on 2026-11-23"
        in missing.explanation
    )
    (stray,) = open_exceptions(ExceptionKind.DEPOSIT_WITHOUT_PAYOUT)
    assert stray.bank_line is not None and stray.amount == Decimal("50.00")
    assert "Kumasi Crafts Ltd" in stray.explanation
    assert run.exceptions_new == 2 and run.exceptions_open == 2

    import_statement(bank_account, bank_file("camt053-deposit.xml"), filename="a.xml")
    rerun = run_reconciliation(NOV[23])
    assert Match.objects.count() == 1 and rerun.exceptions_cleared == 1
    missing.refresh_from_db()
    assert missing.status == ExceptionStatus.RESOLVED and missing.auto_resolved
    assert "No longer found" in missing.resolution_note
    assert [e.kind for e in open_exceptions()] == [ExceptionKind.DEPOSIT_WITHOUT_PAYOUT]


def test_payouts_are_not_flagged_before_the_bank_statements_reach_them(
    channel: Any, post_event: Any, bank_account: BankAccount
) -> None:
    post_event("till", payout_event("po-9", occurred_at="2026-11-27T06:00:00+00:00", arrival_date=None))
    import_statement(bank_account, bank_file("camt053-no-deposit.xml"), filename="b.xml")  # ends 24 Nov
    run_reconciliation(NOV[27])
    assert open_exceptions(ExceptionKind.PAYOUT_NOT_DEPOSITED) == []


def test_a_deposit_within_three_days_matches_and_one_further_does_not(
    channel: Any, post_event: Any, bank_account: BankAccount
) -> None:
    post_event("till", payout_event("po-early", amount="139.44", arrival_date="2026-11-20"))
    post_event("till", payout_event("po-late", amount="-45.90", arrival_date="2026-11-18"))
    import_statement(bank_account, bank_file("camt053-deposit.xml"), filename="a.xml")
    run_reconciliation(start=NOV[18], end=NOV[24])
    early = Match.objects.get(payout__external_id="po-early")
    assert early.day_difference == 3
    assert not Match.objects.filter(payout__external_id="po-late").exists()  # 4 days apart
    assert {e.transaction.external_id for e in open_exceptions(ExceptionKind.PAYOUT_NOT_DEPOSITED)} == {
        "po-late"
    }


def test_unposted_transactions_become_exceptions_with_the_reason(ledger: Any, post_event: Any) -> None:
    make_channel(ledger, with_default_revenue=False)
    homeware = [
        {
            "sku": "POT-1",
            "name": "Clay pot",
            "category": "homeware",
            "quantity": 1,
            "unit_price": "120.00",
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "24.00"}],
        }
    ]
    post_event("till", sale_event("S-UNMAPPED", lines=homeware))
    post_event("till", sale_event("S-OK"))
    run = run_reconciliation(NOV[20])
    (exc,) = open_exceptions()
    txn = Transaction.objects.get(external_id="S-UNMAPPED")
    assert txn.status == TransactionStatus.NEEDS_MAPPING
    assert exc.kind == ExceptionKind.UNPOSTED_TRANSACTION and exc.transaction == txn
    assert exc.amount == Decimal("144.00") and exc.channel == txn.channel
    assert (
        "Sale S-UNMAPPED of Channel till on 2026-11-20 (144.00 GBP) is not in the ledger: it waits for a mapping"
        in exc.explanation
    )
    assert run.transactions_checked == 2
    channel_day = run.summary["channel_days"][0]
    assert (channel_day["sales_system"], channel_day["posted"], channel_day["transactions"]) == (
        "144.00",
        "144.00",
        1,
    )


def test_a_held_posting_is_an_unposted_transaction(channel: Any, ledger: Any, post_event: Any) -> None:
    ledger.lock_date = NOV[20]
    ledger.save()
    post_event("till", sale_event("S-HELD"))
    assert Posting.objects.get().state == PostingState.HELD
    run_reconciliation(NOV[20])
    (exc,) = open_exceptions(ExceptionKind.UNPOSTED_TRANSACTION)
    assert "its posting is held: Dated 2026-11-20, in a period closed up to 2026-11-20" in exc.explanation
    assert exc.posting == Posting.objects.get()


def test_a_posted_sale_whose_document_nothing_posted_is_unposted_in_every_check(
    channel: Any, post_event: Any
) -> None:
    """A sale the sales system calls posted, whose journal entry's posting is not posted (here
    set back to uncertain, as a lost answer would leave it): unposted with the posting's state,
    and left out of the channel-day totals - the same set whether a run's snapshot answers
    (:func:`unsettled_snapshot`) or the query itself, and the same as :func:`booked_filter`."""
    post_event("till", sale_event("S-OK"))
    post_event("till", sale_event("S-LOST"))
    post_event("till", sale_event("S-NEXT-DAY", occurred_at="2026-11-21T10:00:00+00:00"))
    lost = Transaction.objects.get(external_id="S-LOST")
    Posting.objects.filter(entry__transaction=lost).update(state=PostingState.UNCERTAIN)
    assert lost.status == TransactionStatus.POSTED

    run = run_reconciliation(NOV[20])
    (exc,) = open_exceptions()
    assert exc.transaction == lost and "is not in the ledger: its posting is uncertain" in exc.explanation
    (day,) = run.summary["channel_days"]
    assert (day["transactions"], day["sales_system"], day["posted"]) == (1, "144.00", "144.00")

    everything = Transaction.objects.all()
    booked = set(everything.filter(booked_filter()).values_list("external_id", flat=True))
    assert booked == {"S-OK", "S-NEXT-DAY"}
    assert set(everything.filter(booked_q(NOV[18], NOV[30])).values_list("external_id", flat=True)) == booked
    with unsettled_snapshot(NOV[18], NOV[30]):
        assert unsettled_source(NOV[20], NOV[21])[0].startswith("SELECT id FROM _recon_unsettled_")
        assert (
            set(everything.filter(booked_q(NOV[20], NOV[21])).values_list("external_id", flat=True)) == booked
        )
        unposted = everything.filter(reduce(or_, unposted_parts(NOV[20], NOV[21])))
        assert list(unposted.values_list("external_id", flat=True)) == ["S-LOST"]
        # Revised while the run goes on (no longer posted): found once, not by both parts.
        Transaction.objects.filter(pk=lost.pk).update(status=TransactionStatus.NEEDS_MAPPING)
        keys = [f.key for f in check_unposted(NOV[20], NOV[20]).findings]
        assert keys == [f"{ExceptionKind.UNPOSTED_TRANSACTION}:{lost.pk}"]
        Transaction.objects.filter(pk=lost.pk).update(status=TransactionStatus.POSTED)
    assert unsettled_source(NOV[20], NOV[21])[1], "outside the run, the query itself answers"

    Posting.objects.filter(entry__transaction=lost).update(state=PostingState.POSTED)  # the answer is found
    assert run_reconciliation(NOV[20]).exceptions_cleared == 1 and not open_exceptions()


def test_a_rerun_does_not_duplicate_exceptions(
    ledger: Any, post_event: Any, bank_account: BankAccount
) -> None:
    make_channel(ledger, with_default_revenue=False)
    post_event(
        "till",
        sale_event(
            "S-X",
            lines=[{"sku": "X", "name": "X", "category": "none", "quantity": 1, "unit_price": "144.00"}],
        ),
    )
    import_statement(bank_account, bank_file("camt053-no-deposit.xml"), filename="b.xml")
    first = run_reconciliation(start=NOV[20], end=NOV[24])
    ids = set(ReconciliationException.objects.values_list("pk", flat=True))
    assert len(ids) == 2 and first.exceptions_new == 2
    second = run_reconciliation(start=NOV[20], end=NOV[24])
    daily = run_reconciliation(NOV[23])
    assert set(ReconciliationException.objects.values_list("pk", flat=True)) == ids
    assert second.exceptions_new == 0 and second.exceptions_open == 2 and second.exceptions_cleared == 0
    assert daily.exceptions_new == 0 and daily.exceptions_open == 1
    assert all(e.last_run == second or e.last_run == daily for e in ReconciliationException.objects.all())


def test_channel_day_totals_catch_a_journal_that_differs_from_the_sales_system(
    channel: Any, post_event: Any
) -> None:
    post_event("till", sale_event("S-1"))
    post_event(
        "till",
        sale_event(
            "S-2",
            total="72.00",
            lines=[
                {
                    "sku": "K",
                    "name": "Kente",
                    "category": "textiles",
                    "quantity": 1,
                    "unit_price": "60.00",
                    "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "12.00"}],
                }
            ],
        ),
    )
    assert run_reconciliation(NOV[20]).exceptions_open == 0
    # A bug (simulated) books S-2's clearing and revenue 6.00 too high: balanced, but not what was sold.
    entry_lines = JournalLine.objects.filter(entry__transaction__external_id="S-2")
    entry_lines.filter(role="clearing").update(debit=Decimal("78.00"))
    entry_lines.filter(role="revenue").update(credit=Decimal("66.00"))
    run = run_reconciliation(NOV[20])
    mismatches = open_exceptions(ExceptionKind.AMOUNT_MISMATCH)
    day = next(e for e in mismatches if ":channel-day:" in e.key)
    assert (day.expected, day.actual, day.amount) == (Decimal("216.00"), Decimal("222.00"), Decimal("6.00"))
    assert (
        "come to 216.00 GBP, but the documents posted to the ledger for them carry 222.00 GBP"
        in day.explanation
    )
    readback = next(e for e in mismatches if ":posting:" in e.key)  # the books hold what was really sent
    assert "account 1100: sent 78.00 GBP, ledger holds 72.00 GBP" in readback.explanation
    assert run.summary["channel_days"][0]["difference"] == "6.00"


def manual_book_entry(ledger: Any, number: int, reference: str, memo: str) -> BookEntry:
    """A document someone keyed into the built-in ledger by hand on 20 November (no lines yet)."""
    return BookEntry.objects.create(
        connection=ledger,
        number=number,
        reference=reference,
        idempotency_key=f"m-{number}",
        kind="manual",
        date=NOV[20],
        currency="GBP",
        memo=memo,
    )


def test_ledger_readback_finds_changed_missing_and_foreign_documents(
    channel: Any, ledger: Any, post_event: Any
) -> None:
    post_event("till", sale_event("S-1"))
    post_event("till", sale_event("S-2"))
    book = BookEntry.objects.get(reference="till/sale/S-1")
    BookLine.objects.filter(entry=book, account_code="1100").update(debit=Decimal("150.00"))
    BookLine.objects.filter(entry__reference="till/sale/S-2").delete()
    BookEntry.objects.filter(reference="till/sale/S-2").delete()
    manual = manual_book_entry(ledger, 99, "manual/accrual", "Hand-made accrual")
    BookLine.objects.create(entry=manual, account_code="6200", debit=Decimal("10.00"))
    BookLine.objects.create(entry=manual, account_code="1000", credit=Decimal("10.00"))
    run_reconciliation(NOV[20])
    by_kind = {e.kind: e for e in open_exceptions() if ":channel-day:" not in e.key}
    changed = by_kind[ExceptionKind.AMOUNT_MISMATCH]
    assert changed.posting == Posting.objects.get(entry__reference="till/sale/S-1")
    assert "account 1100: sent 144.00 GBP, ledger holds 150.00 GBP" in changed.explanation
    missing = by_kind[ExceptionKind.MISSING_IN_LEDGER]
    assert missing.posting == Posting.objects.get(
        entry__reference="till/sale/S-2"
    ) and missing.amount == Decimal("144.00")
    foreign = by_kind[ExceptionKind.MISSING_IN_SOURCE]
    assert "BK-000099 'manual/accrual'" in foreign.explanation and foreign.amount == Decimal("10.00")


def test_ledger_readback_finds_a_document_whatever_its_date_in_the_books(
    channel: Any, ledger: Any, post_event: Any
) -> None:
    """The books' copy of a posted document is found by its reference even when it carries another
    day (the set-based pass reads the books of the period; the detail decides); on that other day
    it is claimed by our journal, not a stranger; and an entry without lines moves nothing."""
    post_event("till", sale_event("S-1"))
    BookEntry.objects.filter(reference="till/sale/S-1").update(date=NOV[21])
    manual_book_entry(ledger, 98, "manual/empty", "Nothing on it")
    assert run_reconciliation(NOV[20]).exceptions_open == 0
    assert run_reconciliation(NOV[21]).exceptions_open == 0
    BookLine.objects.filter(entry__reference="till/sale/S-1", account_code="1100").update(
        debit=Decimal("150.00")
    )
    run_reconciliation(NOV[20])
    (changed,) = open_exceptions()
    assert (
        changed.kind == ExceptionKind.AMOUNT_MISMATCH
        and "account 1100: sent 144.00 GBP, ledger holds 150.00 GBP" in changed.explanation
    )


def test_invoices_unpaid_after_their_due_date(channel: Any, post_event: Any) -> None:
    invoice = sale_event("INV-9", due_date="2026-11-30", customer={"id": "C-1", "name": "Kumasi Crafts Ltd"})
    invoice["type"] = "invoice.issued"
    post_event("till", invoice)
    run_reconciliation(NOV[30])
    assert open_exceptions(ExceptionKind.INVOICE_UNPAID) == []  # due today: not late yet
    run_reconciliation(date(2026, 12, 2))
    (late,) = open_exceptions(ExceptionKind.INVOICE_UNPAID)
    assert late.transaction == Transaction.objects.get(kind="invoice") and late.day == NOV[30]
    assert (
        "Invoice INV-9 to Kumasi Crafts Ltd" in late.explanation
        and "144.00 GBP outstanding" in late.explanation
    )
    part = {
        "id": "evt-pay-1",
        "type": "payment.completed",
        "created_at": "2026-12-03T09:00:00+00:00",
        "data": {
            "id": "pay-1",
            "occurred_at": "2026-12-03T09:00:00+00:00",
            "currency": "GBP",
            "amount": "100.00",
            "method": "bank_transfer",
            "invoice_id": "INV-9",
        },
    }
    post_event("till", part)
    run_reconciliation(date(2026, 12, 4))
    late.refresh_from_db()
    assert late.status == ExceptionStatus.OPEN and late.amount == Decimal("44.00")
    rest = {**part, "id": "evt-pay-2", "data": {**part["data"], "id": "pay-2", "amount": "44.00"}}
    post_event("till", rest)
    run_reconciliation(date(2026, 12, 5))
    late.refresh_from_db()
    assert late.status == ExceptionStatus.RESOLVED and late.auto_resolved


def test_runs_are_audited(channel: Any, post_event: Any) -> None:
    post_event("till", sale_event("S-1"))
    run = run_reconciliation(NOV[20])
    actions = list(AuditEvent.objects.filter(object_id=str(run.pk)).values_list("action", flat=True))
    assert "reconciliation.run_queued" in actions and "reconciliation.run_finished" in actions


def test_a_period_must_be_in_order() -> None:
    with pytest.raises(ValueError, match="ends"):
        run_reconciliation(start=NOV[24], end=NOV[20])
    with pytest.raises(ValueError, match="not both"):
        run_reconciliation(NOV[20], start=NOV[20], end=NOV[21])
