"""Reports and exports of the built-in ledger: trial balance, general ledger, CSV, XLSX, Beancount."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import F, Sum, Value
from django.db.models.functions import Coalesce, NullIf

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
    "trial_balance_currencies",
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
    """One trial-balance row: an account's total debits and credits in the functional currency
    (``currency``), and its balance in each currency its lines were in (``balances``)."""

    code: str
    name: str
    type: str
    currency: str
    debit: Decimal
    credit: Decimal
    balances: dict[str, Decimal] = field(default_factory=dict)

    @property
    def balance(self) -> Decimal:
        """Debit minus credit, in the functional currency."""
        return self.debit - self.credit

    @property
    def foreign_balances(self) -> dict[str, Decimal]:
        """The balances in currencies other than the functional one (for the per-currency columns)."""
        return {c: b for c, b in sorted(self.balances.items()) if c != self.currency}


@dataclass(frozen=True)
class GLRow:
    """One general-ledger line: its amount in its own currency, in the functional currency, and
    the account's running balance in the functional currency."""

    date: date
    number: str
    reference: str
    account_code: str
    description: str
    currency: str
    debit: Decimal
    credit: Decimal
    running_balance: Decimal
    functional_currency: str = ""
    functional_debit: Decimal = ZERO
    functional_credit: Decimal = ZERO


def _line_currency() -> Coalesce:
    """A book line's currency (its own, else its entry's)."""
    return Coalesce(NullIf(F("currency"), Value("")), F("entry__currency"))


def trial_balance(connection: LedgerConnection, as_of: date | None = None) -> list[TBRow]:
    """Per account: debits and credits in the functional currency and the balance in each
    currency (one grouped query). The functional columns of a balanced ledger sum to zero."""
    lines = BookLine.objects.filter(entry__connection=connection)
    if as_of is not None:
        lines = lines.filter(entry__date__lte=as_of)
    sums = (
        lines.annotate(line_currency=_line_currency())
        .values("account_code", "line_currency")
        .annotate(
            dr=Sum("debit"), cr=Sum("credit"), fdr=Sum("functional_debit"), fcr=Sum("functional_credit")
        )
        .order_by()
    )
    functional = connection.functional_currency
    accounts = {a.code: a for a in LedgerAccount.objects.filter(connection=connection)}
    grouped: dict[str, dict[str, Any]] = {}
    for row in sums:
        entry = grouped.setdefault(row["account_code"], {"dr": ZERO, "cr": ZERO, "balances": {}})
        entry["dr"] += row["fdr"] or ZERO
        entry["cr"] += row["fcr"] or ZERO
        cur = row["line_currency"]
        native = (row["dr"] or ZERO) - (row["cr"] or ZERO)
        entry["balances"][cur] = entry["balances"].get(cur, ZERO) + money.quantize(native, cur)
    rows = []
    for code, entry in grouped.items():
        acct = accounts.get(code)
        rows.append(
            TBRow(
                code=code,
                name=acct.name if acct else "(unknown account)",
                type=acct.type if acct else "",
                currency=functional,
                debit=money.quantize(entry["dr"], functional),
                credit=money.quantize(entry["cr"], functional),
                balances=entry["balances"],
            )
        )
    return sorted(rows, key=lambda r: r.code)


def trial_balance_currencies(rows: list[TBRow]) -> list[str]:
    """The foreign currencies that appear in a trial balance (its per-currency columns)."""
    return sorted({c for r in rows for c in r.foreign_balances})


def general_ledger(
    connection: LedgerConnection,
    *,
    account_code: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[GLRow]:
    """Every line in date order with the running balance per account in the functional currency."""
    lines = BookLine.objects.filter(entry__connection=connection).select_related("entry")
    if account_code:
        lines = lines.filter(account_code=account_code)
    if start:
        lines = lines.filter(entry__date__gte=start)
    if end:
        lines = lines.filter(entry__date__lte=end)
    functional = connection.functional_currency
    running: dict[str, Decimal] = {}
    rows = []
    for ln in lines.order_by("account_code", "entry__date", "entry__number", "id"):
        running[ln.account_code] = (
            running.get(ln.account_code, ZERO) + ln.functional_debit - ln.functional_credit
        )
        cur = ln.currency or ln.entry.currency
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
                running_balance=money.quantize(running[ln.account_code], functional),
                functional_currency=functional,
                functional_debit=money.quantize(ln.functional_debit, functional),
                functional_credit=money.quantize(ln.functional_credit, functional),
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
    "functional currency",
    "functional debit",
    "functional credit",
    "balance",
]


def _gl_values(rows: Iterable[GLRow]) -> Iterable[list[object]]:
    from integrator.views.exports import csv_value  # text made inert, amounts kept as exact numbers

    for r in rows:
        yield [
            csv_value(v)
            for v in (
                r.date, r.number, r.reference, r.account_code, r.description, r.currency, r.debit,
                r.credit, r.functional_currency, r.functional_debit, r.functional_credit,
                r.running_balance,
            )
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
    rows = trial_balance(connection)
    foreign = trial_balance_currencies(rows)
    tb.append(
        [
            "account",
            "name",
            "type",
            "currency",
            "debit",
            "credit",
            "balance",
            *(f"balance {c}" for c in foreign),
        ]
    )
    for r in rows:
        cells = xlsx_row(tb, [r.code, r.name, r.type, r.currency, r.debit, r.credit, r.balance], r.currency)
        for cur in foreign:
            value = r.foreign_balances.get(cur)
            cells.extend(xlsx_row(tb, [value], cur) if value is not None else [None])
        tb.append(cells)
    gl = wb.create_sheet("General ledger")
    gl.append(_GL_HEADER)
    for row in general_ledger(connection):
        native = xlsx_row(gl, [row.date, row.number, row.reference, row.account_code, row.description,
                               row.currency, row.debit, row.credit], row.currency)  # fmt: skip
        functional = xlsx_row(gl, [row.functional_currency, row.functional_debit, row.functional_credit,
                                   row.running_balance], row.functional_currency)  # fmt: skip
        gl.append([*native, *functional])
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
        # Foreign amounts carry their functional value as a total price (@@): the per-unit price
        # Beancount derives from it is inexact, so a residue far below a cent is tolerated.
        'option "inferred_tolerance_default" "*:0.005"',
        "",
    ]
    for code in sorted(accounts):
        out.append(f"{opened.isoformat()} open {beancount_account(accounts[code])}")
    out.append("")
    functional = connection.functional_currency
    prices: dict[tuple[date, str], Decimal] = {}
    body: list[str] = []
    for entry in entries:
        body.append(f'{entry.date.isoformat()} * "{_quote(entry.reference)}" "{_quote(entry.memo)}"')
        body.append(f'  number: "BK-{entry.number:06d}"')
        for ln in entry.lines.all():
            acct = accounts.get(ln.account_code)
            name = beancount_account(acct) if acct else f"Equity:Unknown-C{ln.account_code}"
            cur = ln.currency or entry.currency
            amount = money.quantize(ln.debit - ln.credit, cur)
            if cur == functional:
                body.append(f"  {name}  {amount} {cur}")
                continue
            # A foreign amount carries its functional value as a total price, so every transaction
            # balances in the functional currency and reports convert.
            value = money.quantize(abs(ln.functional_debit - ln.functional_credit), functional)
            body.append(f"  {name}  {amount} {cur} @@ {value} {functional}")
            if entry.exchange_rate and (entry.date, cur) not in prices and cur == entry.currency:
                prices[(entry.date, cur)] = entry.exchange_rate
        body.append("")
    for (day, cur), rate in sorted(prices.items()):
        out.append(f"{day.isoformat()} price {cur}  {rate.normalize():f} {functional}")
    if prices:
        out.append("")
    out.extend(body)
    return "\n".join(out)
