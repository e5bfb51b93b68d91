"""The tax report: tax per period and code, with its taxable base, reconciled to the ledger's tax
accounts.

From our journal (the entries that reach the ledger: a daily summary instead of the entries it
carries), tax lines are totalled per tax code (or title) and account, and the revenue, shipping,
discount and returns lines carrying that code give the taxable base. Per tax account the total
must equal the account's movement in the posted books of the built-in ledger over the period
(other ledgers are compared by the reconciliation's read-back). The tax checks of the period
(source against rules) are counted beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Q, Sum

from integrator.models import BookLine, JournalLine, LedgerConnection, TaxCheck

__all__ = ["TaxReport", "TaxReportRow", "tax_report"]

ZERO = Decimal(0)
BASE_ROLES = ("revenue", "shipping", "discount", "returns")


@dataclass
class TaxReportRow:
    """One tax code (or title) on one account: taxable base and tax, in the functional currency."""

    code: str
    account: str
    base: Decimal = ZERO
    tax: Decimal = ZERO


@dataclass
class TaxReport:
    """Tax of a period per code, with each tax account's ledger movement beside it."""

    start: date
    end: date
    currency: str
    rows: list[TaxReportRow] = field(default_factory=list)
    ledger: dict[str, Decimal] | None = None
    checks: int = 0
    differences: int = 0

    def by_account(self) -> dict[str, Decimal]:
        """Tax per account code."""
        out: dict[str, Decimal] = {}
        for r in self.rows:
            if r.account:
                out[r.account] = out.get(r.account, ZERO) + r.tax
        return out

    @property
    def reconciles(self) -> bool | None:
        """True when every tax account's ledger movement equals the report (None: not read)."""
        if self.ledger is None:
            return None
        mine = self.by_account()
        return all(self.ledger.get(code, ZERO) == amount for code, amount in mine.items())


def _lines(connection: LedgerConnection, start: date, end: date) -> object:
    return (
        JournalLine.objects.filter(entry__connection=connection, entry__date__gte=start, entry__date__lte=end)
        .filter(entry__summary__isnull=True)
        .exclude(Q(entry__superseded=True) & Q(entry__reversed_by__isnull=True))
    )


def tax_report(connection: LedgerConnection, start: date, end: date) -> TaxReport:
    """Tax per code for ``start`` to ``end`` (inclusive)."""
    report = TaxReport(start, end, connection.functional_currency)
    lines = _lines(connection, start, end)
    rows: dict[tuple[str, str], TaxReportRow] = {}
    taxes = (
        lines.filter(role="tax")  # type: ignore[attr-defined]
        .values("tax_code__code", "description", "account__code")
        .annotate(dr=Sum("functional_debit"), cr=Sum("functional_credit"))
        .order_by()
    )
    for t in taxes:
        code = t["tax_code__code"] or t["description"]
        row = rows.setdefault((code, t["account__code"]), TaxReportRow(code, t["account__code"]))
        row.tax += (t["cr"] or ZERO) - (t["dr"] or ZERO)
    bases = (
        lines.filter(role__in=BASE_ROLES, tax_code__isnull=False)  # type: ignore[attr-defined]
        .values("tax_code__code")
        .annotate(dr=Sum("functional_debit"), cr=Sum("functional_credit"))
        .order_by()
    )
    for b in bases:
        code = b["tax_code__code"]
        # A zero-rated code books no tax line: its row carries the base alone.
        row = next((r for (c, _), r in rows.items() if c == code), None) or rows.setdefault(
            (code, ""), TaxReportRow(code, "")
        )
        row.base += (b["cr"] or ZERO) - (b["dr"] or ZERO)
    report.rows = sorted(rows.values(), key=lambda r: (r.code, r.account))
    if connection.platform == "builtin":
        accounts = {r.account for r in report.rows if r.account}
        booked = (
            BookLine.objects.filter(
                entry__connection=connection,
                entry__date__gte=start,
                entry__date__lte=end,
                account_code__in=accounts,
            )
            .values("account_code")
            .annotate(dr=Sum("functional_debit"), cr=Sum("functional_credit"))
            .order_by()
        )
        report.ledger = {b["account_code"]: (b["cr"] or ZERO) - (b["dr"] or ZERO) for b in booked}
    checks = TaxCheck.objects.filter(
        transaction__channel__ledger_connection=connection,
        transaction__business_date__gte=start,
        transaction__business_date__lte=end,
    )
    report.checks = checks.count()
    report.differences = checks.filter(within_rounding=False).count()
    return report
