"""The set-based checks at a few thousand transactions: they find exactly what was planted, a
re-run changes nothing, rounding and pairing behave as the row-by-row checks did, and findings
are applied in batches with the same counts.

The books are cloned in SQL from one sale and one payout the pipeline booked
(``bench/reconciliation_data.py``, shared with the benchmark).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q

from bench import reconciliation_data as data
from integrator.models import BookLine
from reconciliation.choices import ExceptionKind, ExceptionStatus
from reconciliation.models import BankLine, BankStatement, Match, ReconciliationException
from reconciliation.services import findings as findings_module
from reconciliation.services.findings import CheckOutcome, Finding, apply_findings
from reconciliation.services.runs import create_run, run_reconciliation

SALES, PAYOUTS = 2_700, 300


def found() -> Counter[str]:
    """Open exceptions by kind (amount mismatches by what they compare)."""
    counts: Counter[str] = Counter()
    for kind, key in ReconciliationException.objects.filter(status=ExceptionStatus.OPEN).values_list(
        "kind", "key"
    ):
        counts[f"{kind}:{key.split(':')[1]}" if kind == ExceptionKind.AMOUNT_MISMATCH else str(kind)] += 1
    return counts


@pytest.fixture
def books(channel: Any, post_event: Any) -> data.Template:
    """Three thousand transactions over four weeks, about 1 % of them wrong."""
    tpl = data.make_template(channel, post_event)
    data.build(tpl, (1, SALES), (1, PAYOUTS))
    return tpl


def test_the_checks_find_exactly_the_planted_differences_and_a_rerun_changes_nothing(
    books: data.Template,
) -> None:
    first = run_reconciliation(start=data.START, end=data.END)
    expected = data.expected(SALES, PAYOUTS)
    assert found() == expected
    assert first.transactions_checked == SALES + PAYOUTS
    assert first.matches_made == PAYOUTS - expected[ExceptionKind.PAYOUT_NOT_DEPOSITED]
    assert first.exceptions_new == first.exceptions_open == sum(expected.values())
    edited = ReconciliationException.objects.get(
        key__contains=":posting:", posting__entry__reference="till/sale/G-7"
    )
    assert "account 1100: sent 144.00 GBP, ledger holds 145.00 GBP" in edited.explanation
    assert "account 4000: sent -120.00 GBP, ledger holds -121.00 GBP" in edited.explanation
    assert (edited.expected, edited.actual, edited.amount) == (
        Decimal("144.00"),
        Decimal("145.00"),
        Decimal("1.00"),
    )

    ids = set(ReconciliationException.objects.values_list("pk", flat=True))
    again = run_reconciliation(start=data.START, end=data.END)
    assert (again.exceptions_new, again.exceptions_cleared, again.matches_made) == (0, 0, 0)
    assert set(ReconciliationException.objects.values_list("pk", flat=True)) == ids and found() == expected

    # The ledger's copy of G-7 is put right: the next run clears exactly that exception.
    BookLine.objects.filter(entry__reference="till/sale/G-7", account_code="1100").update(
        debit=Decimal("144")
    )
    BookLine.objects.filter(entry__reference="till/sale/G-7", account_code="4000").update(
        credit=Decimal("120")
    )
    third = run_reconciliation(start=data.START, end=data.END)
    edited.refresh_from_db()
    assert (
        third.exceptions_cleared == 1 and edited.status == ExceptionStatus.RESOLVED and edited.auto_resolved
    )


def test_a_sub_cent_difference_in_the_ledger_is_not_an_exception(books: data.Template) -> None:
    """The database compares exactly; the currency's rounding decides, as before."""
    BookLine.objects.filter(entry__reference="till/sale/G-8", account_code="1100").update(
        debit=Decimal("144.004")
    )
    BookLine.objects.filter(entry__reference="till/sale/G-8", account_code="4000").update(
        credit=Decimal("120.004")
    )
    run_reconciliation(start=data.START, end=data.END)
    assert found() == data.expected(SALES, PAYOUTS)
    assert not ReconciliationException.objects.filter(posting__entry__reference="till/sale/G-8").exists()


def test_payouts_of_the_same_amount_take_the_nearest_free_deposit(books: data.Template) -> None:
    """Three payouts of one amount, expected on consecutive days, and three deposits of it: each
    payout in turn (by expected date) takes the nearest deposit not yet taken."""
    from integrator.models import Transaction

    statement = BankStatement.objects.get(bank_account=books.bank_account)
    payouts = list(
        Transaction.objects.filter(external_id__in=["GP-1", "GP-2", "GP-3"]).order_by("business_date")
    )
    Transaction.objects.filter(pk__in=[p.pk for p in payouts]).update(total=Decimal("777.00"))
    BankLine.objects.filter(
        description__in=["Stripe payout GP-1", "Stripe payout GP-2", "Stripe payout GP-3"]
    ).delete()
    days = [p.business_date for p in payouts]
    lines = [
        BankLine.objects.create(
            bank_account=books.bank_account,
            statement=statement,
            row=900 + i,
            date=day,
            amount=Decimal("777.00"),
            currency="GBP",
            line_hash=f"same-{i}",
        )
        for i, day in enumerate([days[0] + timedelta(days=2), days[0], days[2] + timedelta(days=3)])
    ]
    run_reconciliation(start=data.START, end=data.END)
    paired = {
        m.payout.external_id: (m.bank_line_id, m.day_difference)
        for m in Match.objects.filter(payout__in=payouts)
    }
    # GP-1 (2 Nov) takes the deposit of its own day, GP-2 (3 Nov) the one of 4 Nov, a day later,
    # and GP-3 (4 Nov) the one left, of 7 Nov: three days later, still within the window.
    assert paired == {"GP-1": (lines[1].pk, 0), "GP-2": (lines[0].pk, 1), "GP-3": (lines[2].pk, 3)}


def test_pairs_stored_first_in_sql_are_those_the_pairing_makes(
    books: data.Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the pairs nothing competes for are stored by one INSERT ... SELECT before the
    rest stream through the Python pairing: the matches are exactly the Python pairing's alone.
    GP-2 and GP-3 (3 and 4 Nov) share one deposit of their amount, on 3 Nov: it is GP-3's only
    candidate, but GP-2 comes first and takes it, so it is no pair to store up front."""
    from integrator.models import Transaction
    from reconciliation.services import matching

    payouts = {p.external_id: p for p in Transaction.objects.filter(external_id__in=["GP-2", "GP-3"])}
    Transaction.objects.filter(pk__in=[p.pk for p in payouts.values()]).update(total=Decimal("777.00"))
    statement = BankStatement.objects.get(bank_account=books.bank_account)
    shared = BankLine.objects.create(bank_account=books.bank_account, statement=statement, row=950,
                                     date=payouts["GP-2"].business_date, amount=Decimal("777.00"),
                                     currency="GBP", line_hash="shared")  # fmt: skip

    def pairs() -> set[tuple[Any, Any, int]]:
        return set(Match.objects.values_list("payout_id", "bank_line_id", "day_difference"))

    stored_first: list[int] = []
    sql_pairs = matching._match_unambiguous

    def spied(start: Any, end: Any, run: Any) -> int:
        stored_first.append(sql_pairs(start, end, run))
        return stored_first[-1]

    monkeypatch.setattr(matching, "_match_unambiguous", spied)
    with_sql = matching.match_payouts(data.START, data.END, None)
    made = pairs()
    if connection.vendor == "postgresql":  # elsewhere the Python pairing makes them all
        assert stored_first[0] > 250 and with_sql - stored_first[0] >= 1
    Match.objects.all().delete()
    monkeypatch.setattr(matching, "_match_unambiguous", lambda start, end, run: 0)
    assert matching.match_payouts(data.START, data.END, None) == with_sql == len(made) > 250
    assert pairs() == made
    assert (payouts["GP-2"].pk, shared.pk, 0) in made
    assert not any(payout == payouts["GP-3"].pk for payout, _, _ in made)


def test_findings_are_applied_in_batches_with_the_same_counts(
    books: data.Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(findings_module, "_CHUNK", 3)
    run = create_run(start=data.START, end=data.END)
    day = data.START

    def stream(keys: list[str]) -> Any:
        for key in keys:
            yield Finding(key=key, kind=ExceptionKind.MISSING_IN_SOURCE, day=day, explanation=key)

    scope = Q(kind=ExceptionKind.MISSING_IN_SOURCE, key__startswith="t:")
    keys = [f"t:{i}" for i in range(8)]
    counts = apply_findings(run, CheckOutcome(name="t", scope=scope, findings=stream([*keys, "t:1"])))
    assert counts == {"found": 8, "new": 8, "reopened": 0, "still_open": 0, "cleared": 0}
    counts = apply_findings(run, CheckOutcome(name="t", scope=scope, findings=stream([*keys[2:], "t:2"])))
    assert counts == {"found": 6, "new": 0, "reopened": 0, "still_open": 6, "cleared": 2}
    counts = apply_findings(run, CheckOutcome(name="t", scope=scope, findings=stream(keys)))
    assert counts == {"found": 8, "new": 0, "reopened": 2, "still_open": 6, "cleared": 0}
    assert ReconciliationException.objects.filter(scope, status=ExceptionStatus.OPEN).count() == 8
