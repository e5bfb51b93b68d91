"""Books at scale for the reconciliation benchmark and the scale tests, made in SQL.

One sale and one payout go through the real pipeline first (webhook, journal, posting, built-in
ledger); their rows are then cloned set-wise, ``INSERT ... SELECT`` over ``generate_series`` on
PostgreSQL and a recursive CTE on SQLite, so every generated row is a copy of a row the product
made (same accounts, roles, states, balanced entries) with its own ids, numbers, references,
idempotency keys and day. Sales are numbered ``1..sales`` and payouts ``1..payouts``; a small,
known share is deliberately wrong so the checks have something to find (:func:`expected`):

* every 500th sale (``n % 500 == 250``) is held as *needs mapping*: no journal, no posting;
* every 200th (``n % 200 == 7``) was edited in the ledger: clearing and revenue 1.00 higher;
* every 1000th (``n % 1000 == 13``) is missing from the ledger, whose copy carries another
  reference instead (a document the ledger holds that no sales system sent);
* every 1000th (``n % 1000 == 501``) says 145.00 in the sales system but was journaled at 144.00
  (its channel-day's totals differ);
* every 100th payout (``m % 100 == 50``) has no deposit, and every 100th (``m % 100 == 60``) has a
  stray deposit of another amount beside its own.

Sales and payouts fall on the ``DAYS`` days from ``START``; the template documents are dated a
month earlier, outside every window the checks look at.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import connection, models

from integrator.models import (
    BookEntry,
    BookLine,
    JournalEntry,
    JournalLine,
    Posting,
    Transaction,
    TransactionLine,
    TransactionPayment,
    TransactionTaxLine,
)
from reconciliation.choices import ExceptionKind
from reconciliation.models import BankAccount, BankLine, BankStatement

START = date(2026, 11, 1)
DAYS = 28
END = START + timedelta(days=DAYS - 1)

# Tags of the generated UUIDs (the first 8 hex digits; the sale or payout number is the rest).
_SALE, _SALE_ENTRY, _SALE_POSTING, _SALE_BOOK = 1, 2, 3, 4
_PAYOUT, _PAYOUT_ENTRY, _PAYOUT_POSTING, _PAYOUT_BOOK, _LINE, _STRAY = 11, 12, 13, 14, 15, 16


@dataclass(frozen=True)
class Template:
    """The rows the real pipeline made for one sale and one payout (what is cloned)."""

    sale: Transaction
    payout: Transaction
    bank_account: BankAccount


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _superuser() -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('is_superuser')")
        return bool(cur.fetchone()[0] == "on")


def _uuid(tag: int, n: str = "s.n") -> str:
    """A deterministic UUID for object ``n`` of a kind, as the database stores a UUIDField."""
    if _pg():
        return f"CAST(lpad(to_hex({tag}), 8, '0') || lpad(to_hex({n}), 24, '0') AS uuid)"
    return f"printf('%%08x%%024x', {tag}, {n})"


def _day(n: str = "s.n", offset: str = "0") -> str:
    """The day of object ``n``: ``START`` plus ``n % DAYS`` (plus ``offset``) days."""
    if _pg():
        return f"(DATE '{START}' + ({n} %% {DAYS}) + ({offset}))"
    return f"date('{START}', printf('%%+d days', ({n} %% {DAYS}) + ({offset})))"


def _without_arrival() -> str:
    """The payout's document without its announced arrival date (expected on its business day)."""
    return "(t.document - 'arrival_date')" if _pg() else "json_remove(t.document, '$.arrival_date')"


def _columns(model: type[models.Model]) -> list[str]:
    """Concrete columns of a table, less an integer primary key (the database numbers it)."""
    return [
        f.column
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField | models.BigAutoField))
    ]


def _clone(
    model: type[models.Model],
    where: str,
    params: list[Any],
    first: int,
    last: int,
    overrides: dict[str, str],
    *,
    keep: str = "",
) -> None:
    """``INSERT INTO table SELECT`` the template rows matching ``where`` once per ``n`` in
    ``first..last``, with the columns in ``overrides`` computed from ``s.n`` and ``t`` (the
    template row); ``keep`` filters the numbers cloned."""
    table = model._meta.db_table
    cols = _columns(model)
    exprs = [overrides.get(c, f't."{c}"') for c in cols]
    names = ", ".join(f'"{c}"' for c in cols)
    cond = f"({where})" + (f" AND ({keep})" if keep else "")
    if _pg():
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs)} "
            f"FROM {table} t CROSS JOIN generate_series(%s, %s) AS s(n) WHERE {cond}"
        )
        args = [first, last, *params]
    else:
        sql = (
            f"WITH RECURSIVE s(n) AS (SELECT %s UNION ALL SELECT n + 1 FROM s WHERE n < %s) "
            f"INSERT INTO {table} ({names}) SELECT {', '.join(exprs)} FROM {table} t, s WHERE {cond}"
        )
        args = [first, last, *params]
    with connection.cursor() as cur:
        cur.execute(sql, args)


def _pk(value: Any) -> Any:
    """A UUID primary key as the database compares it (SQLite keeps 32 hex digits)."""
    return value if _pg() else value.hex


UNPOSTED = "s.n %% 500 = 250"
EDITED = "s.n %% 200 = 7"
MISSING = "s.n %% 1000 = 13"
TOTAL_DIFF = "s.n %% 1000 = 501"
NOT_DEPOSITED = "s.n %% 100 = 50"
STRAY = "s.n %% 100 = 60"


def add_sales(tpl: Template, first: int, last: int) -> None:
    """Clone the template sale as sales ``first..last`` with their journal, posting and ledger copy."""
    sale = tpl.sale
    entry = JournalEntry.objects.get(transaction=sale)
    posting = Posting.objects.get(entry=entry)
    book = BookEntry.objects.get(connection_id=entry.connection_id, reference=entry.reference)
    posted = f"NOT ({UNPOSTED})"
    _clone(Transaction, "t.id = %s", [_pk(sale.pk)], first, last, {
        "id": _uuid(_SALE), "external_id": "'G-' || s.n", "number": "'G-' || s.n", "business_date": _day(),
        "status": f"CASE WHEN {UNPOSTED} THEN 'needs_mapping' ELSE t.status END",
        "total": f"CASE WHEN {TOTAL_DIFF} THEN t.total + 1 ELSE t.total END",
    })  # fmt: skip
    for child in (TransactionLine, TransactionTaxLine, TransactionPayment):
        _clone(child, "t.transaction_id = %s", [_pk(sale.pk)], first, last, {"transaction_id": _uuid(_SALE)})
    _clone(JournalEntry, "t.id = %s", [_pk(entry.pk)], first, last, {
        "id": _uuid(_SALE_ENTRY), "transaction_id": _uuid(_SALE), "reference": "'till/sale/G-' || s.n",
        "number": "'G-' || s.n", "date": _day(),
    }, keep=posted)  # fmt: skip
    _clone(JournalLine, "t.entry_id = %s", [_pk(entry.pk)], first, last, {"entry_id": _uuid(_SALE_ENTRY)},
           keep=posted)  # fmt: skip
    _clone(Posting, "t.id = %s", [_pk(posting.pk)], first, last, {
        "id": _uuid(_SALE_POSTING), "entry_id": _uuid(_SALE_ENTRY), "idempotency_key": "'gen-s-' || s.n",
        "posting_date": _day(), "remote_number": "'BK-' || (100 + 2 * s.n)",
    }, keep=posted)  # fmt: skip
    _clone(BookEntry, "t.id = %s", [_pk(book.pk)], first, last, {
        "id": _uuid(_SALE_BOOK), "number": "100 + 2 * s.n", "idempotency_key": "'gen-s-' || s.n",
        "reference": f"CASE WHEN {MISSING} THEN 'manual/G-' || s.n ELSE 'till/sale/G-' || s.n END",
        "date": _day(),
    }, keep=posted)  # fmt: skip
    edited = f"{EDITED} AND t.account_code IN ('1100', '4000')"
    _clone(BookLine, "t.entry_id = %s", [_pk(book.pk)], first, last, {
        "entry_id": _uuid(_SALE_BOOK),
        "debit": f"CASE WHEN {edited} AND t.debit > 0 THEN t.debit + 1 ELSE t.debit END",
        "credit": f"CASE WHEN {edited} AND t.credit > 0 THEN t.credit + 1 ELSE t.credit END",
    }, keep=posted)  # fmt: skip


def add_payouts(tpl: Template, first: int, last: int) -> None:
    """Clone the template payout as payouts ``first..last`` (1000.00 + m/100 GBP each), posted,
    with the bank lines of their deposits (and the stray deposits)."""
    payout = tpl.payout
    entry = JournalEntry.objects.get(transaction=payout)
    posting = Posting.objects.get(entry=entry)
    book = BookEntry.objects.get(connection_id=entry.connection_id, reference=entry.reference)
    amount = "(1000 + s.n * 0.01)"
    debit = f"CASE WHEN t.debit > 0 THEN {amount} ELSE 0 END"
    credit = f"CASE WHEN t.credit > 0 THEN {amount} ELSE 0 END"
    _clone(Transaction, "t.id = %s", [_pk(payout.pk)], first, last, {
        "id": _uuid(_PAYOUT), "external_id": "'GP-' || s.n", "number": "'GP-' || s.n",
        "business_date": _day(), "total": amount, "document": _without_arrival(),
    })  # fmt: skip
    _clone(JournalEntry, "t.id = %s", [_pk(entry.pk)], first, last, {
        "id": _uuid(_PAYOUT_ENTRY), "transaction_id": _uuid(_PAYOUT), "reference": "'till/payout/GP-' || s.n",
        "number": "'GP-' || s.n", "date": _day(),
    })  # fmt: skip
    lines = {"debit": debit, "credit": credit, "functional_debit": debit, "functional_credit": credit}
    _clone(JournalLine, "t.entry_id = %s", [_pk(entry.pk)], first, last,
           {"entry_id": _uuid(_PAYOUT_ENTRY), **lines})  # fmt: skip
    _clone(Posting, "t.id = %s", [_pk(posting.pk)], first, last, {
        "id": _uuid(_PAYOUT_POSTING), "entry_id": _uuid(_PAYOUT_ENTRY), "idempotency_key": "'gen-p-' || s.n",
        "posting_date": _day(), "remote_number": "'BK-' || (101 + 2 * s.n)",
    })  # fmt: skip
    _clone(BookEntry, "t.id = %s", [_pk(book.pk)], first, last, {
        "id": _uuid(_PAYOUT_BOOK), "number": "101 + 2 * s.n", "idempotency_key": "'gen-p-' || s.n",
        "reference": "'till/payout/GP-' || s.n", "date": _day(),
    })  # fmt: skip
    _clone(BookLine, "t.entry_id = %s", [_pk(book.pk)], first, last,
           {"entry_id": _uuid(_PAYOUT_BOOK), **lines})  # fmt: skip
    template_line = BankLine.objects.get(bank_account=tpl.bank_account, line_hash="template")
    line = {"statement_id": "t.statement_id", "description": "'Stripe payout GP-' || s.n"}
    # Deposits arrive a day early, on the day or a day late (within the ±3-day window).
    _clone(BankLine, "t.id = %s", [_pk(template_line.pk)], first, last, {
        **line, "id": _uuid(_LINE), "row": "2 * s.n", "date": _day(offset="(s.n %% 3) - 1"), "amount": amount,
        "line_hash": "'gen-' || s.n",
    }, keep=f"NOT ({NOT_DEPOSITED})")  # fmt: skip
    _clone(BankLine, "t.id = %s", [_pk(template_line.pk)], first, last, {
        **line, "id": _uuid(_STRAY), "row": "2 * s.n + 1", "date": _day(), "amount": "(5 + s.n * 0.01)",
        "line_hash": "'stray-' || s.n", "description": "'Unknown transfer ' || s.n",
    }, keep=STRAY)  # fmt: skip


def make_template(channel: Any, post_event: Any) -> Template:
    """Book one sale and one payout through the real pipeline (dated before ``START``) and import
    the bank statement that covers the generated period (one template line, outside it)."""
    from integrator.models import LedgerAccount
    from reconciliation.services.statements import create_bank_account
    from tests.conftest import sale_event

    day = START - timedelta(days=31)
    post_event("till", sale_event("S-T", occurred_at=f"{day}T10:00:00+00:00"))
    post_event("till", {
        "id": "evt-po-t", "type": "payout.paid", "created_at": f"{day}T06:00:00+00:00",
        "data": {"id": "po-t", "occurred_at": f"{day}T06:00:00+00:00", "currency": "GBP", "amount": "139.44",
                 "status": "paid", "arrival_date": str(day)},
    })  # fmt: skip
    account = create_bank_account(
        name="NatWest current",
        connection=channel.ledger_connection,
        ledger_account=LedgerAccount.objects.get(connection=channel.ledger_connection, code="1000"),
        currency="GBP",
    )
    statement = BankStatement.objects.create(
        bank_account=account, format="csv", filename="bench.csv", content=b"", checksum="bench",
        period_start=day, period_end=END + timedelta(days=7),
    )  # fmt: skip
    BankLine.objects.create(
        bank_account=account, statement=statement, row=1, date=day, amount="139.44", currency="GBP",
        description="Stripe payout po-t", line_hash="template",
    )  # fmt: skip
    return Template(
        sale=Transaction.objects.get(external_id="S-T"),
        payout=Transaction.objects.get(external_id="po-t"),
        bank_account=account,
    )


def build(tpl: Template, sales: tuple[int, int], payouts: tuple[int, int]) -> None:
    """Add sales ``sales[0]..sales[1]`` and payouts ``payouts[0]..payouts[1]`` (ranges may be
    empty), then refresh the planner's statistics. On PostgreSQL the per-row balance trigger does not fire
    while the clones load (``session_replication_role``, for a superuser; other roles load with the
    triggers on, slower): they are copies of a balanced entry. A superuser then checkpoints: the
    loads leave gigabytes of dirty pages that the server otherwise writes out during whatever
    is timed next (at a million transactions every pass over the books was slower while that
    went on: the read-back's 16.9 s, then 13.5 s in the run after)."""
    replica = _pg() and _superuser()
    if replica:
        with connection.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
    try:
        if sales[0] <= sales[1]:
            add_sales(tpl, *sales)
        if payouts[0] <= payouts[1]:
            add_payouts(tpl, *payouts)
    finally:
        if replica:
            with connection.cursor() as cur:
                cur.execute("SET session_replication_role = origin")
    tables = [m._meta.db_table for m in (Transaction, TransactionLine, TransactionTaxLine, TransactionPayment,
                                         JournalEntry, JournalLine, Posting, BookEntry, BookLine, BankLine)]  # fmt: skip
    with connection.cursor() as cur:
        for table in tables:  # these tables only: ANALYZE of a whole database locks shared catalogs
            cur.execute(f"ANALYZE {table}")
        if replica:  # write the clones' pages out now, not while the next statements are timed
            cur.execute("CHECKPOINT")


def expected(sales: int, payouts: int) -> Counter[str]:
    """The exceptions a first run over ``START..END`` finds in books of that size, by kind."""
    found: Counter[str] = Counter()
    diff_days = set()
    for n in range(1, sales + 1):
        if n % 500 == 250:
            found[ExceptionKind.UNPOSTED_TRANSACTION] += 1
            continue
        if n % 200 == 7:
            found[ExceptionKind.AMOUNT_MISMATCH + ":posting"] += 1
        if n % 1000 == 13:
            found[ExceptionKind.MISSING_IN_LEDGER] += 1
            found[ExceptionKind.MISSING_IN_SOURCE] += 1
        if n % 1000 == 501:
            diff_days.add(n % DAYS)
    found[ExceptionKind.AMOUNT_MISMATCH + ":channel-day"] = len(diff_days)
    found[ExceptionKind.PAYOUT_NOT_DEPOSITED] = sum(1 for m in range(1, payouts + 1) if m % 100 == 50)
    found[ExceptionKind.DEPOSIT_WITHOUT_PAYOUT] = sum(1 for m in range(1, payouts + 1) if m % 100 == 60)
    return +found
