"""Payouts ↔ bank deposits.

A paid payout should arrive in a bank account of its channel's ledger connection, in its currency,
for exactly its amount, within ``WINDOW_DAYS`` of its expected date (the arrival date the gateway
announced, else its business day). Candidates on both sides come from two queries; the pairing -
each payout with the nearest unmatched line, each line used once - is a 1:1 assignment that plain
SQL joins cannot express, so it runs in memory over those candidate rows and ends in one bulk
insert. Unmatched payouts (where the bank statements already reach their date) and unmatched
deposits become exceptions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypedDict

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django_stubs_ext import WithAnnotations

from integrator import money
from integrator.choices import TransactionKind
from integrator.models import Transaction
from reconciliation.choices import ExceptionKind, MatchMethod
from reconciliation.models import BankLine, BankStatement, Match, ReconciliationRun
from reconciliation.services.checks import json_date
from reconciliation.services.findings import CheckOutcome, Finding

__all__ = ["WINDOW_DAYS", "check_payouts", "match_payouts", "paid_payouts", "reconcile_payouts"]

WINDOW_DAYS = 3


class _Expected(TypedDict):
    expected_date: date


def paid_payouts() -> QuerySet[WithAnnotations[Transaction, _Expected]]:
    """Paid payouts annotated with ``expected_date`` (arrival date, else business day)."""
    return Transaction.objects.filter(kind=TransactionKind.PAYOUT, document__status="paid").annotate(
        expected_date=Coalesce(json_date("arrival_date"), F("business_date"))
    )


def match_payouts(start: date, end: date, run: ReconciliationRun | None) -> list[Match]:
    """Pair unmatched payouts expected around the period with unmatched bank lines (idempotent)."""
    window = timedelta(days=WINDOW_DAYS)
    payouts = list(
        paid_payouts()
        .filter(bank_match__isnull=True, expected_date__gte=start - window, expected_date__lte=end + window)
        .values("pk", "currency", "total", "expected_date", "channel__ledger_connection_id")
        .order_by("expected_date", "pk")
    )
    if not payouts:
        return []
    lines = BankLine.objects.filter(
        match__isnull=True,
        clearing_match__isnull=True,  # a line that banked cash or wallet takings is no payout
        date__range=(start - 2 * window, end + 2 * window),
        bank_account__connection_id__in={p["channel__ledger_connection_id"] for p in payouts},
        currency__in={p["currency"] for p in payouts},
        amount__in={p["total"] for p in payouts},
    ).values("pk", "date", "amount", "currency", "bank_account__connection_id")
    pool: dict[tuple[Any, str, Decimal], list[Any]] = defaultdict(list)
    for ln in lines.order_by("date", "pk"):
        pool[
            (ln["bank_account__connection_id"], ln["currency"], money.quantize(ln["amount"], ln["currency"]))
        ].append(ln)
    made: list[Match] = []
    for p in payouts:
        candidates = pool.get(
            (p["channel__ledger_connection_id"], p["currency"], money.quantize(p["total"], p["currency"])), []
        )
        best = min(
            (c for c in candidates if abs((c["date"] - p["expected_date"]).days) <= WINDOW_DAYS),
            key=lambda c: (abs((c["date"] - p["expected_date"]).days), c["date"]),
            default=None,
        )
        if best is None:
            continue
        candidates.remove(best)
        made.append(
            Match(
                payout_id=p["pk"],
                bank_line_id=best["pk"],
                method=MatchMethod.AUTO,
                day_difference=(best["date"] - p["expected_date"]).days,
                run=run,
            )
        )
    Match.objects.bulk_create(made)
    return made


def check_payouts(start: date, end: date) -> CheckOutcome:
    """Unmatched payouts (once bank data reaches their date) and unmatched deposits of the period."""
    covered = BankStatement.objects.filter(
        bank_account__connection=OuterRef("channel__ledger_connection"),
        bank_account__currency=OuterRef("currency"),
        period_end__gte=OuterRef("expected_date"),
    )
    in_period = paid_payouts().filter(expected_date__gte=start, expected_date__lte=end)
    missing = (
        in_period.filter(bank_match__isnull=True)
        .filter(Exists(covered))
        .values(
            "pk",
            "number",
            "external_id",
            "currency",
            "total",
            "expected_date",
            "channel_id",
            "channel__name",
            "channel__ledger_connection_id",
        )
    )
    findings = []
    for p in missing:
        cur = p["currency"]
        amount = money.quantize(p["total"], cur)
        findings.append(
            Finding(
                key=f"{ExceptionKind.PAYOUT_NOT_DEPOSITED}:{p['pk']}",
                kind=ExceptionKind.PAYOUT_NOT_DEPOSITED,
                day=p["expected_date"],
                currency=cur,
                amount=amount,
                expected=amount,
                actual=Decimal(0),
                channel_id=p["channel_id"],
                connection_id=p["channel__ledger_connection_id"],
                transaction_id=p["pk"],
                explanation=(
                    f"Payout {p['number'] or p['external_id']} of {p['channel__name']} for {amount:,} {cur}, "
                    f"expected in the bank on {p['expected_date']}, has no deposit of that amount within "
                    f"{WINDOW_DAYS} days in the imported bank statements."
                ),
            )
        )
    deposits = BankLine.objects.filter(
        match__isnull=True, clearing_match__isnull=True, amount__gt=0, date__range=(start, end)
    ).values(
        "pk",
        "date",
        "amount",
        "currency",
        "description",
        "reference",
        "counterparty",
        "bank_account__name",
        "bank_account__connection_id",
    )
    for d in deposits:
        cur = d["currency"]
        amount = money.quantize(d["amount"], cur)
        said = (
            ", ".join(x for x in (d["counterparty"], d["description"], d["reference"]) if x)
            or "no description"
        )
        findings.append(
            Finding(
                key=f"{ExceptionKind.DEPOSIT_WITHOUT_PAYOUT}:{d['pk']}",
                kind=ExceptionKind.DEPOSIT_WITHOUT_PAYOUT,
                day=d["date"],
                currency=cur,
                amount=amount,
                expected=Decimal(0),
                actual=amount,
                connection_id=d["bank_account__connection_id"],
                bank_line_id=d["pk"],
                explanation=(
                    f"Deposit of {amount:,} {cur} on {d['date']} into {d['bank_account__name']} ({said}) "
                    f"matches no payout of that amount within {WINDOW_DAYS} days."
                ),
            )
        )
    return CheckOutcome(
        name="payouts vs deposits",
        scope=Q(
            kind__in=[ExceptionKind.PAYOUT_NOT_DEPOSITED, ExceptionKind.DEPOSIT_WITHOUT_PAYOUT],
            day__range=(start, end),
        ),
        findings=findings,
        checked=in_period.count(),
    )


def reconcile_payouts(start: date, end: date, run: ReconciliationRun | None = None) -> CheckOutcome:
    """Match what can be matched, then report what is left (the run's payouts step)."""
    made = match_payouts(start, end, run)
    outcome = check_payouts(start, end)
    outcome.matches = len(made)
    return outcome
