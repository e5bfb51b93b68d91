"""Reports and exports of the built-in ledger: trial balance, general ledger, CSV, XLSX, Beancount."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from integrator import money
from integrator.choices import AccountType
from integrator.models import BookEntry, BookLine, LedgerAccount, LedgerConnection

__all__ = [
    "GLRow",
    "TBRow",
    "beancount_account",
    "export_beancount",
    "export_csv",
    "export_xlsx",
    "general_ledger",
    "trial_balance",
]

ZERO = Decimal(0)
_BEANCOUNT_ROOT = {
    AccountType.ASSET: "Assets",
    AccountType.LIABILITY: "Liabilities",
    AccountType.EQUITY: "Equity",
    AccountType.REVENUE: "Income",
    AccountType.EXPENSE: "Expenses",
}


@dataclass(frozen=True)
class TBRow:
    """One trial-balance row: an account's total debits and credits in one currency."""

    code: str
    name: str
    type: str
    currency: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        """Debit minus credit."""
        return self.debit - self.credit


@dataclass(frozen=True)
class GLRow:
    """One general-ledger line with its running balance for the account and currency."""

    date: date
    number: str
    reference: str
    account_code: str
    description: str
    currency: str
    debit: Decimal
    credit: Decimal
    running_balance: Decimal


def trial_balance(connection: LedgerConnection, as_of: date | None = None) -> list[TBRow]:
    """Debits and credits per account and currency (one grouped query)."""
    lines = BookLine.objects.filter(entry__connection=connection)
    if as_of is not None:
        lines = lines.filter(entry__date__lte=as_of)
    sums = lines.values("account_code", "entry__currency").annotate(dr=Sum("debit"), cr=Sum("credit"))
    accounts = {a.code: a for a in LedgerAccount.objects.filter(connection=connection)}
    rows = []
    for s in sums:
        acct = accounts.get(s["account_code"])
        cur = s["entry__currency"]
        rows.append(
            TBRow(
                code=s["account_code"],
                name=acct.name if acct else "(unknown account)",
                type=acct.type if acct else "",
                currency=cur,
                debit=money.quantize(s["dr"] or ZERO, cur),
                credit=money.quantize(s["cr"] or ZERO, cur),
            )
        )
    return sorted(rows, key=lambda r: (r.currency, r.code))


def general_ledger(
    connection: LedgerConnection,
    *,
    account_code: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[GLRow]:
    """Every line in date order with running balances per (account, currency)."""
    lines = BookLine.objects.filter(entry__connection=connection).select_related("entry")
    if account_code:
        lines = lines.filter(account_code=account_code)
    if start:
        lines = lines.filter(entry__date__gte=start)
    if end:
        lines = lines.filter(entry__date__lte=end)
    running: dict[tuple[str, str], Decimal] = {}
    rows = []
    for ln in lines.order_by("account_code", "entry__currency", "entry__date", "entry__number", "id"):
        key = (ln.account_code, ln.entry.currency)
        running[key] = running.get(key, ZERO) + ln.debit - ln.credit
        cur = ln.entry.currency
        rows.append(
            GLRow(
                date=ln.entry.date,
                number=f"BK-{ln.entry.number:06d}",
                reference=ln.entry.reference,
                account_code=ln.account_code,
                description=ln.description,
                currency=cur,
                debit=money.quantize(ln.debit, cur),
                credit=money.quantize(ln.credit, cur),
                running_balance=money.quantize(running[key], cur),
            )
        )
    return rows


_GL_HEADER = [
    "date",
    "number",
    "reference",
    "account",
    "description",
    "currency",
    "debit",
    "credit",
    "balance",
]


def _gl_values(rows: Iterable[GLRow]) -> Iterable[list[object]]:
    for r in rows:
        yield [
            r.date.isoformat(), r.number, r.reference, r.account_code, r.description, r.currency,
            str(r.debit), str(r.credit), str(r.running_balance),
        ]  # fmt: skip


def export_csv(connection: LedgerConnection) -> str:
    """The general ledger as CSV text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_GL_HEADER)
    writer.writerows(_gl_values(general_ledger(connection)))
    return out.getvalue()


def export_xlsx(connection: LedgerConnection) -> bytes:
    """The trial balance and the general ledger as an XLSX workbook (two sheets)."""
    from openpyxl import Workbook

    from integrator.views.exports import xlsx_row

    wb = Workbook()
    tb = wb.active
    tb.title = "Trial balance"
    tb.append(["account", "name", "type", "currency", "debit", "credit", "balance"])
    for r in trial_balance(connection):
        tb.append(
            xlsx_row(tb, [r.code, r.name, r.type, r.currency, r.debit, r.credit, r.balance], r.currency)
        )
    gl = wb.create_sheet("General ledger")
    gl.append(_GL_HEADER)
    for row in general_ledger(connection):
        gl.append(xlsx_row(gl, [row.date, row.number, row.reference, row.account_code, row.description,
                                row.currency, row.debit, row.credit, row.running_balance], row.currency))  # fmt: skip
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def beancount_account(account: LedgerAccount) -> str:
    """A valid Beancount account name, e.g. ``Income:C4000-Sales-Textiles``."""
    root = _BEANCOUNT_ROOT.get(AccountType(account.type), "Assets")
    words = re.sub(r"[^A-Za-z0-9]+", "-", account.name).strip("-") or "Account"
    code = re.sub(r"[^A-Za-z0-9]+", "-", account.code).strip("-")
    return f"{root}:C{code}-{words}"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def export_beancount(connection: LedgerConnection) -> str:
    """The built-in ledger as Beancount text (checked with bean-check in the tests)."""
    accounts = {a.code: a for a in LedgerAccount.objects.filter(connection=connection)}
    entries = (
        BookEntry.objects.filter(connection=connection).prefetch_related("lines").order_by("date", "number")
    )
    first = entries.first()
    opened = first.date if first else date.today()
    out = [
        f'option "title" "{_quote(connection.name)}"',
        f'option "operating_currency" "{connection.functional_currency}"',
        "",
    ]
    for code in sorted(accounts):
        out.append(f"{opened.isoformat()} open {beancount_account(accounts[code])}")
    out.append("")
    for entry in entries:
        out.append(f'{entry.date.isoformat()} * "{_quote(entry.reference)}" "{_quote(entry.memo)}"')
        out.append(f'  number: "BK-{entry.number:06d}"')
        for ln in entry.lines.all():
            acct = accounts.get(ln.account_code)
            name = beancount_account(acct) if acct else f"Equity:Unknown-C{ln.account_code}"
            amount = money.quantize(ln.debit - ln.credit, entry.currency)
            out.append(f"  {name}  {amount} {entry.currency}")
        out.append("")
    return "\n".join(out)
