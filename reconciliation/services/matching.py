"""Payouts ↔ bank deposits.

A paid payout should arrive in a bank account of its channel's ledger connection, in its currency,
for exactly its amount, within ``WINDOW_DAYS`` of its expected date (the arrival date the gateway
announced, else its business day). The database joins the candidates (same books, currency and
amount); the pairing - each payout with the nearest unmatched line, each line used once - is a
1:1 assignment that plain SQL joins cannot express, so it runs over the candidate rows as they
stream, one (books, currency, amount) group at a time, with batched inserts. Unmatched payouts
(where the bank statements already reach their date) and unmatched deposits become exceptions,
streamed too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from itertools import chain, groupby
from operator import itemgetter
from typing import Any, TypedDict

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_stubs_ext import WithAnnotations

from integrator import money
from integrator.choices import TransactionKind
from integrator.models import Transaction
from reconciliation.choices import ExceptionKind, MatchMethod
from reconciliation.models import (
    BankAccount,
    BankLine,
    BankStatement,
    ClearingMatch,
    Match,
    ReconciliationRun,
)
from reconciliation.services.checks import CHUNK, found_first, json_date
from reconciliation.services.findings import CheckOutcome, Finding

__all__ = ["WINDOW_DAYS", "check_payouts", "match_payouts", "paid_payouts", "reconcile_payouts"]

WINDOW_DAYS = 3


class _Expected(TypedDict):
    expected_date: date


def paid_payouts() -> QuerySet[WithAnnotations[Transaction, _Expected]]:
    """Paid payouts annotated with ``expected_date`` (arrival date, else business day)."""
    return Transaction.objects.filter(kind=TransactionKind.PAYOUT, document__status="paid").annotate(
        expected_date=_expected_date()
    )


def _expected_date() -> Coalesce:
    """When a payout is expected in the bank: its arrival date, else its business day."""
    return Coalesce(json_date("arrival_date"), F("business_date"))


def _candidates_sql(start: date, end: date) -> tuple[str, list[Any]]:
    """Each unmatched payout expected around the period beside each unmatched bank line of its
    books, currency and amount dated around the period (the equality join happens in the
    database), unordered. Columns: the group key (books, currency, amount: 3 values), payout id
    ``pk``, ``expected_date``, bank line id ``line_id``, ``line_date``."""
    window = timedelta(days=WINDOW_DAYS)
    payouts = (
        paid_payouts()
        .filter(bank_match__isnull=True, expected_date__gte=start - window, expected_date__lte=end + window)
        .values("pk", "currency", "total", "expected_date", "channel__ledger_connection_id")
        .order_by()
    )
    p_sql, p_params = payouts.query.sql_with_params()
    # The lines side is the table itself, so the join can use the (currency, amount) index (SQLite
    # would otherwise scan a subquery's result once per payout).
    line, account = BankLine._meta.db_table, BankAccount._meta.db_table
    paired, cleared = Match._meta.db_table, ClearingMatch._meta.db_table
    sql = (
        f"\n"  # noqa: S608 - table names come from the models; every value is a bound parameter
        f"    SELECT p.channel__ledger_connection_id, p.currency, p.total, p.pk, p.expected_date,\n"
        f"           l.id AS line_id, l.date AS line_date\n"
        f"    FROM ({p_sql}) p\n"
        f"    JOIN {line} l ON l.currency = p.currency AND l.amount = p.total\n"
        f"    JOIN {account} ba ON ba.id = l.bank_account_id AND ba.connection_id = p.channel__ledger_connection_id\n"
        f"    WHERE l.date BETWEEN %s AND %s\n"
        f"      AND NOT EXISTS (SELECT 1 FROM {paired} m WHERE m.bank_line_id = l.id)\n"
        f"      -- a line that banked cash or wallet takings is no payout\n"
        f"      AND NOT EXISTS (SELECT 1 FROM {cleared} c WHERE c.bank_line_id = l.id)\n"
    )
    return sql, [*p_params, start - 2 * window, end + 2 * window]


def _candidate_pairs(start: date, end: date) -> Iterator[tuple[Any, ...]]:
    """The candidates of :func:`_candidates_sql`, grouped by (books, currency, amount) and, within
    a group, in the order the pairing takes them: payouts by expected date, lines by date. Rows:
    group key (3 values), payout id, expected date, line id, line date."""
    sql, params = _candidates_sql(start, end)
    order = "channel__ledger_connection_id, currency, total, expected_date, pk, line_date, line_id"
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM ({sql}) c ORDER BY {order}", params)  # noqa: S608 - our own statement; values are parameters
        while rows := cur.fetchmany(CHUNK):
            yield from rows


def _match_unambiguous(start: date, end: date, run: ReconciliationRun | None) -> int:
    """Store, in one ``INSERT ... SELECT`` (PostgreSQL), the pairs on which the pairing of
    :func:`_pair_group` has no choice: a payout whose only candidate within ``WINDOW_DAYS`` is a
    line that is no other payout's candidate within the window. Whatever the order, that payout
    takes that line, and no other payout could have; so these pairs are what the pairing would
    make, and what is left (payouts and lines competing for each other) pairs as before. Almost
    every payout of a month is such a pair: this spares streaming a hundred thousand candidates
    through Python. Returns how many were stored."""
    if connection.vendor != "postgresql":
        return 0
    sql, params = _candidates_sql(start, end)
    columns = "id, payout_id, bank_line_id, method, day_difference, run_id, created_at"
    insert = (
        f"INSERT INTO {Match._meta.db_table} ({columns})\n"  # noqa: S608 - table names come from the models; every value is a bound parameter
        f"SELECT gen_random_uuid(), pk, line_id, %s, line_date - expected_date, CAST(%s AS uuid), %s FROM (\n"
        f"    SELECT c.pk, c.line_id, c.line_date, c.expected_date,\n"
        f"           COUNT(*) OVER (PARTITION BY c.pk) AS lines, COUNT(*) OVER (PARTITION BY c.line_id) AS payouts\n"
        f"    FROM ({sql}) c WHERE ABS(c.line_date - c.expected_date) <= %s\n"
        f") w WHERE lines = 1 AND payouts = 1"
    )
    run_id = run.pk if run is not None else None
    with connection.cursor() as cur:
        cur.execute(insert, [MatchMethod.AUTO.value, run_id, timezone.now(), *params, WINDOW_DAYS])
        return int(cur.rowcount)


def _as_date(value: Any) -> date:
    """A date column of a raw row (SQLite returns ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _pair_group(rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, Any, int]]:
    """The pairing within one (books, currency, amount) group: each payout in turn, by expected
    date, takes the nearest line still free within ``WINDOW_DAYS`` (the earlier on a tie).
    Yields (payout id, bank line id, day difference)."""
    used: set[Any] = set()
    for payout_id, candidates in groupby(rows, key=itemgetter(3)):
        best: tuple[int, date, Any] | None = None
        expected_date = None
        for *_, expected, line_id, line_date in candidates:
            expected_date, line_day = _as_date(expected), _as_date(line_date)
            gap = abs((line_day - expected_date).days)
            if line_id in used or gap > WINDOW_DAYS:
                continue
            if best is None or (gap, line_day) < best[:2]:
                best = (gap, line_day, line_id)
        if best is None or expected_date is None:
            continue
        used.add(best[2])
        yield payout_id, best[2], (best[1] - expected_date).days


def _insert_matches(pairs: list[tuple[Any, Any, int]], run: ReconciliationRun | None) -> None:
    """Store automatic matches (payout id, bank line id, day difference) in one statement.

    On PostgreSQL the rows go through ``COPY``: a first run over a month of a busy shop makes
    about a hundred thousand matches, and building a model instance per row and quoting every
    value into an ``INSERT`` cost seconds of Python for what ``COPY`` streams in a fraction of
    that. The ids and ``created_at`` are what the model's defaults would give. Elsewhere (SQLite)
    ``bulk_create`` does the same.
    """
    if not pairs:
        return
    run_id = run.pk if run is not None else None
    if connection.vendor != "postgresql":
        Match.objects.bulk_create(
            Match(payout_id=p, bank_line_id=line, method=MatchMethod.AUTO, day_difference=d, run_id=run_id)
            for p, line, d in pairs
        )
        return
    now = timezone.now()
    columns = "id, payout_id, bank_line_id, method, day_difference, run_id, created_at"
    with (
        connection.cursor() as cur,
        cur.cursor.copy(f"COPY {Match._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for payout_id, line_id, days in pairs:
            copy.write_row((uuid.uuid4(), payout_id, line_id, MatchMethod.AUTO.value, days, run_id, now))


def match_payouts(start: date, end: date, run: ReconciliationRun | None) -> int:
    """Pair unmatched payouts expected around the period with unmatched bank lines (idempotent);
    returns how many pairs were made.

    The pairing is a 1:1 assignment (each payout the nearest free line, each line once) that a
    join alone cannot express, but it only ever chooses among lines of the same books, currency
    and amount: the database joins the candidates, and the assignment runs one such group at a
    time as the rows stream by, the matches inserted in batches. Memory holds one group.
    """
    made = _match_unambiguous(start, end, run)
    batch: list[tuple[Any, Any, int]] = []
    for _, rows in groupby(_candidate_pairs(start, end), key=itemgetter(0, 1, 2)):
        batch.extend(_pair_group(list(rows)))
        if len(batch) >= CHUNK:
            _insert_matches(batch, run)
            made += len(batch)
            batch = []
    _insert_matches(batch, run)
    return made + len(batch)


def check_payouts(start: date, end: date) -> CheckOutcome:
    """Unmatched payouts (once bank data reaches their date) and unmatched deposits of the period."""
    covered = BankStatement.objects.filter(
        bank_account__connection=OuterRef("channel__ledger_connection"),
        bank_account__currency=OuterRef("currency"),
        period_end__gte=OuterRef("expected_date"),
    )
    in_period = paid_payouts().filter(expected_date__gte=start, expected_date__lte=end)
    missing = (
        found_first(in_period.filter(bank_match__isnull=True).filter(Exists(covered)))
        .annotate(expected_date=_expected_date())
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
    return CheckOutcome(
        name="payouts vs deposits",
        scope=Q(
            kind__in=[ExceptionKind.PAYOUT_NOT_DEPOSITED, ExceptionKind.DEPOSIT_WITHOUT_PAYOUT],
            day__range=(start, end),
        ),
        findings=chain(_missing_deposits(missing), _stray_deposits(start, end)),
        checked=in_period.count(),
    )


def _missing_deposits(missing: QuerySet[Any]) -> Iterator[Finding]:
    """Findings of paid payouts without a deposit (streamed)."""
    for p in missing.iterator(chunk_size=CHUNK):
        cur = p["currency"]
        amount = money.quantize(p["total"], cur)
        yield (
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


def _stray_deposits(start: date, end: date) -> Iterator[Finding]:
    """Findings of deposits of the period that no payout or takings claimed (streamed)."""
    deposits = found_first(
        BankLine.objects.filter(
            match__isnull=True, clearing_match__isnull=True, amount__gt=0, date__range=(start, end)
        )
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
    for d in deposits.iterator(chunk_size=CHUNK):
        cur = d["currency"]
        amount = money.quantize(d["amount"], cur)
        said = (
            ", ".join(x for x in (d["counterparty"], d["description"], d["reference"]) if x)
            or "no description"
        )
        yield (
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


def reconcile_payouts(start: date, end: date, run: ReconciliationRun | None = None) -> CheckOutcome:
    """Match what can be matched, then report what is left (the run's payouts step)."""
    made = match_payouts(start, end, run)
    outcome = check_payouts(start, end)
    outcome.matches = made
    return outcome
