"""Financial statements of the built-in ledger: profit and loss, and balance sheet, for a period
with the previous period beside it.

Everything is computed from the book lines (``BookLine`` / ``BookEntry``) and the account types of
the chart (``LedgerAccount.type``), in one grouped query per period: :func:`net_by_account`. That
function is the only place that reads amounts: today it sums each line's ``debit - credit`` in the
document's own currency, and statements are given per currency (amounts in different currencies
are never added up). When book lines carry a functional-currency amount, switching
:func:`net_by_account` to it (and to the connection's functional currency) turns every statement
into one statement in the functional currency, with nothing else to change.

Signs: revenue, liabilities and equity are shown credit-positive, assets and expenses
debit-positive. Because every document balances, for each currency

    assets = liabilities + equity + retained earnings (before the period) + earnings of the period

which :attr:`BalanceSheet.balances` checks. Lines on an account code the chart does not know are
shown (never dropped) on the asset side as "not in the chart", where their debit balance keeps the
equation true.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, F, Sum

from integrator import money
from integrator.choices import AccountType
from integrator.models import BookLine, LedgerAccount, LedgerConnection

__all__ = [
    "BalanceSheet",
    "Period",
    "ProfitAndLoss",
    "ReportLine",
    "ReportSection",
    "as_json",
    "balance_sheet",
    "month_of",
    "net_by_account",
    "profit_and_loss",
    "statement_rows",
]

ZERO = Decimal(0)
AMOUNT = DecimalField(max_digits=18, decimal_places=4)
UNKNOWN = "unknown"
#: +1 where a debit balance is positive on the statement, -1 where a credit balance is.
_SIGN = {
    AccountType.ASSET: 1,
    AccountType.EXPENSE: 1,
    UNKNOWN: 1,
    AccountType.LIABILITY: -1,
    AccountType.EQUITY: -1,
    AccountType.REVENUE: -1,
}


@dataclass(frozen=True)
class Period:
    """A run of days, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")

    @property
    def label(self) -> str:
        """E.g. ``Nov 2026``, ``Q4 2026``-like spans as ``1 Oct 2026 - 31 Dec 2026``."""
        if self.start.day == 1 and self.end == _month_end(self.start):
            return self.start.strftime("%b %Y")
        return f"{self.start:%d %b %Y} - {self.end:%d %b %Y}"

    def previous(self) -> Period:
        """The period of the same length just before: the same number of whole calendar months
        when the period is whole months (October for November, Q3 for Q4), else the same number
        of days."""
        if self.start.day == 1 and self.end == _month_end(self.end):
            months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
            first = _add_months(self.start, -months)
            return Period(first, self.start - timedelta(days=1))
        days = (self.end - self.start).days + 1
        return Period(self.start - timedelta(days=days), self.start - timedelta(days=1))


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def net_by_account(
    connection: LedgerConnection, *, end: date, start: date | None = None
) -> dict[tuple[str, str], Decimal]:
    """Debit minus credit per (account code, functional currency) of the book lines dated from
    ``start`` (the beginning of the books when None) to ``end``, in the books' functional currency
    whatever currency each line was in: the one aggregation every statement uses."""
    lines = BookLine.objects.filter(entry__connection=connection, entry__date__lte=end)
    if start is not None:
        lines = lines.filter(entry__date__gte=start)
    sums = (
        lines.values("account_code")
        .annotate(net=Sum(F("functional_debit") - F("functional_credit"), output_field=AMOUNT))
        .order_by()
    )
    currency = connection.functional_currency
    return {(row["account_code"], currency): money.quantize(row["net"] or ZERO, currency) for row in sums}


@dataclass(frozen=True)
class ReportLine:
    """One account on a statement: this period's amount and the comparison period's."""

    code: str
    name: str
    type: str
    current: Decimal
    previous: Decimal

    @property
    def change(self) -> Decimal:
        """This period minus the previous one."""
        return self.current - self.previous


@dataclass
class ReportSection:
    """A heading (Revenue, Assets ...) with its lines and total."""

    key: str
    title: str
    currency: str
    lines: list[ReportLine] = field(default_factory=list)

    @property
    def current(self) -> Decimal:
        """Total of this period."""
        return money.quantize(sum((ln.current for ln in self.lines), ZERO), self.currency)

    @property
    def previous(self) -> Decimal:
        """Total of the comparison period."""
        return money.quantize(sum((ln.previous for ln in self.lines), ZERO), self.currency)

    @property
    def change(self) -> Decimal:
        """Total change."""
        return self.current - self.previous


def _charts(connection: LedgerConnection) -> dict[str, LedgerAccount]:
    return {a.code: a for a in LedgerAccount.objects.filter(connection=connection)}


def _signed(
    nets: dict[tuple[str, str], Decimal], accounts: dict[str, LedgerAccount], currency: str
) -> dict[str, tuple[str, Decimal]]:
    """Account code -> (type, amount in the statement's sign) for one currency."""
    out = {}
    for (code, cur), net in nets.items():
        if cur != currency:
            continue
        kind = accounts[code].type if code in accounts else UNKNOWN
        out[code] = (kind, _SIGN[kind] * net)
    return out


def _lines(
    current: dict[str, tuple[str, Decimal]],
    previous: dict[str, tuple[str, Decimal]],
    accounts: dict[str, LedgerAccount],
    types: tuple[str, ...],
    currency: str,
) -> list[ReportLine]:
    codes = sorted(
        {c for c, (t, _) in current.items() if t in types}
        | {c for c, (t, _) in previous.items() if t in types}
    )
    lines = []
    for code in codes:
        zero = money.zero(currency)
        now, before = current.get(code, ("", zero))[1], previous.get(code, ("", zero))[1]
        if now == 0 and before == 0:
            continue
        account = accounts.get(code)
        kind = account.type if account else UNKNOWN
        name = account.name if account else "(not in the chart of accounts)"
        lines.append(ReportLine(code, name, kind, now, before))
    return lines


def _currencies(*nets: dict[tuple[str, str], Decimal]) -> list[str]:
    return sorted({cur for n in nets for (_, cur) in n})


@dataclass
class ProfitAndLoss:
    """Revenue less expenses for a period and its comparison period, in one currency."""

    currency: str
    period: Period
    compared: Period
    revenue: ReportSection
    expenses: ReportSection

    @property
    def net_profit(self) -> Decimal:
        """Revenue less expenses (negative: a loss)."""
        return self.revenue.current - self.expenses.current

    @property
    def previous_net_profit(self) -> Decimal:
        """The comparison period's result."""
        return self.revenue.previous - self.expenses.previous

    @property
    def sections(self) -> list[ReportSection]:
        """Revenue, then expenses."""
        return [self.revenue, self.expenses]

    def totals(self) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        """The statement's bottom line: (label, this period, comparison, change)."""
        label = "Net profit" if self.net_profit >= 0 else "Net loss"
        return [
            (label, self.net_profit, self.previous_net_profit, self.net_profit - self.previous_net_profit)
        ]


def profit_and_loss(
    connection: LedgerConnection, period: Period, compared: Period | None = None
) -> list[ProfitAndLoss]:
    """The profit and loss of ``period`` beside ``compared`` (the previous period unless told),
    in the books' functional currency (a list, with one statement)."""
    compared = compared or period.previous()
    accounts = _charts(connection)
    now = net_by_account(connection, start=period.start, end=period.end)
    before = net_by_account(connection, start=compared.start, end=compared.end)
    out = []
    for cur in _currencies(now, before):
        c, p = _signed(now, accounts, cur), _signed(before, accounts, cur)
        revenue = ReportSection(
            "revenue", "Revenue", cur, _lines(c, p, accounts, (AccountType.REVENUE,), cur)
        )
        expenses = ReportSection(
            "expenses", "Expenses", cur, _lines(c, p, accounts, (AccountType.EXPENSE,), cur)
        )
        out.append(ProfitAndLoss(cur, period, compared, revenue, expenses))
    return out


@dataclass
class BalanceSheet:
    """Assets, liabilities and equity at the end of a period and of its comparison period, in one
    currency; equity includes the earnings of the period and those retained from before it."""

    currency: str
    period: Period
    compared: Period
    assets: ReportSection
    liabilities: ReportSection
    equity: ReportSection

    @property
    def sections(self) -> list[ReportSection]:
        """Assets, liabilities, equity."""
        return [self.assets, self.liabilities, self.equity]

    @property
    def balances(self) -> bool:
        """Assets = liabilities + equity (earnings included), now and at the comparison date."""
        return (
            self.assets.current == self.liabilities.current + self.equity.current
            and self.assets.previous == self.liabilities.previous + self.equity.previous
        )

    def totals(self) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        """The check a reader does: liabilities plus equity against assets."""
        now = self.liabilities.current + self.equity.current
        before = self.liabilities.previous + self.equity.previous
        return [("Liabilities and equity", now, before, now - before)]


def balance_sheet(
    connection: LedgerConnection, period: Period, compared: Period | None = None
) -> list[BalanceSheet]:
    """The balance sheet at the end of ``period`` beside the end of ``compared`` (the previous
    period unless told), one per currency of the books."""
    compared = compared or period.previous()
    accounts = _charts(connection)
    closing_now = net_by_account(connection, end=period.end)
    closing_before = net_by_account(connection, end=compared.end)
    earned_now = net_by_account(connection, start=period.start, end=period.end)
    earned_before = net_by_account(connection, start=compared.start, end=compared.end)
    out = []
    for cur in _currencies(closing_now, closing_before):
        c, p = _signed(closing_now, accounts, cur), _signed(closing_before, accounts, cur)
        assets = ReportSection(
            "assets", "Assets", cur, _lines(c, p, accounts, (AccountType.ASSET, UNKNOWN), cur)
        )
        liabilities = ReportSection(
            "liabilities", "Liabilities", cur, _lines(c, p, accounts, (AccountType.LIABILITY,), cur)
        )
        equity = ReportSection("equity", "Equity", cur, _lines(c, p, accounts, (AccountType.EQUITY,), cur))
        result_now = _result(earned_now, accounts, cur)
        result_before = _result(earned_before, accounts, cur)
        all_time_now, all_time_before = (
            _result(closing_now, accounts, cur),
            _result(closing_before, accounts, cur),
        )
        equity.lines.append(
            ReportLine(
                "",
                "Retained earnings of earlier periods",
                "earnings",
                all_time_now - result_now,
                all_time_before - result_before,
            )
        )
        equity.lines.append(ReportLine("", "Earnings of the period", "earnings", result_now, result_before))
        out.append(BalanceSheet(cur, period, compared, assets, liabilities, equity))
    return out


def _result(
    nets: dict[tuple[str, str], Decimal], accounts: dict[str, LedgerAccount], currency: str
) -> Decimal:
    """Revenue less expenses in ``nets`` for one currency."""
    signed = _signed(nets, accounts, currency)
    revenue = sum((v for t, v in signed.values() if t == AccountType.REVENUE), ZERO)
    expenses = sum((v for t, v in signed.values() if t == AccountType.EXPENSE), ZERO)
    return money.quantize(revenue - expenses, currency)


def statement_rows(statements: list[Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of statements for a CSV or XLSX download (the export machinery's input):
    one row per account, a total per section, and the bottom lines."""
    if not statements:
        return ["Currency", "Section", "Account", "Name", "This period", "Previous period", "Change"], []
    first = statements[0]
    header = ["Currency", "Section", "Account", "Name", first.period.label, first.compared.label, "Change"]
    rows: list[list[Any]] = []
    for st in statements:
        for section in st.sections:
            for ln in section.lines:
                rows.append(
                    [st.currency, section.title, ln.code, ln.name, ln.current, ln.previous, ln.change]
                )
            rows.append(
                [
                    st.currency,
                    section.title,
                    "",
                    f"Total {section.title.lower()}",
                    section.current,
                    section.previous,
                    section.change,
                ]
            )
        for label, now, before, change in st.totals():
            rows.append([st.currency, "", "", label, now, before, change])
    return header, rows


def as_json(statement: ProfitAndLoss | BalanceSheet) -> dict[str, Any]:
    """A statement as JSON-safe data for the API (amounts as exact strings)."""

    def amount(value: Decimal) -> str:
        return str(money.quantize(value, statement.currency))

    return {
        "currency": statement.currency,
        "period": {
            "start": statement.period.start,
            "end": statement.period.end,
            "label": statement.period.label,
        },
        "compared": {
            "start": statement.compared.start,
            "end": statement.compared.end,
            "label": statement.compared.label,
        },
        "sections": [
            {
                "key": s.key,
                "title": s.title,
                "lines": [
                    {
                        "code": ln.code,
                        "name": ln.name,
                        "type": ln.type,
                        "current": amount(ln.current),
                        "previous": amount(ln.previous),
                        "change": amount(ln.change),
                    }
                    for ln in s.lines
                ],
                "total": {
                    "current": amount(s.current),
                    "previous": amount(s.previous),
                    "change": amount(s.change),
                },
            }
            for s in statement.sections
        ],
        "totals": [
            {
                "label": label,
                "current": amount(now),
                "previous": amount(before),
                "change": amount(change),
            }
            for label, now, before, change in statement.totals()
        ],
        **({"balances": statement.balances} if isinstance(statement, BalanceSheet) else {}),
    }


def month_of(day: date) -> Period:
    """The calendar month containing ``day``."""
    return Period(day.replace(day=1), _month_end(day))
