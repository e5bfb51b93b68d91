"""Profit analysis: revenue, discounts, refunds, cost of goods sold (with landed cost) and gateway
fees, by product, category, channel or month, in the ledger's functional currency.

Figures come from the transactions the spine journaled (their current revisions) and the stock
movements they made, converted at each transaction's own entry rate; they are reconciled to the
journal: net revenue against the revenue, discount and returns lines of the same entries, COGS
against the COGS lines (the COGS entries beside each sale and late costs expensed). Shipping
income is left out (it is not a product's), and so are fees, which the journal books from payouts.

Revenue follows the journal's own arithmetic: a line's price after discount and net of any
included tax; in ``contra`` discount mode the discount (net of tax) is shown separately.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Q, Sum

from integrator import money
from integrator.canonical import Invoice, Refund, Sale
from integrator.choices import EntryKind, TransactionKind, TransactionStatus
from integrator.models import JournalEntry, JournalLine, LedgerConnection, Product, StockMovement, Transaction
from integrator.services.transactions import VOID_STATUSES, document_of

__all__ = ["GROUPS", "ProfitReport", "ProfitRow", "export_csv", "export_xlsx", "profit_report"]

ZERO = Decimal(0)
GROUPS = ("product", "category", "channel", "month")
BOOKED = (TransactionStatus.JOURNALED, TransactionStatus.SUMMARISED, TransactionStatus.POSTED)
LATE = "(late costs)"


@dataclass
class ProfitRow:
    """One group's figures (functional currency)."""

    key: str
    label: str
    quantity: Decimal = ZERO
    revenue: Decimal = ZERO
    discounts: Decimal = ZERO
    refunds: Decimal = ZERO
    cogs: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def net_revenue(self) -> Decimal:
        """Revenue less discounts and refunds."""
        return self.revenue - self.discounts - self.refunds

    @property
    def gross_margin(self) -> Decimal:
        """Net revenue less COGS and gateway fees."""
        return self.net_revenue - self.cogs - self.fees

    @property
    def margin_percent(self) -> Decimal | None:
        """Gross margin as a percentage of net revenue."""
        if not self.net_revenue:
            return None
        return (self.gross_margin * 100 / self.net_revenue).quantize(Decimal("0.01"))


@dataclass
class ProfitReport:
    """Profit by ``group_by`` over a period, with the journal figures it reconciles to."""

    start: date
    end: date
    group_by: str
    currency: str
    rows: list[ProfitRow] = field(default_factory=list)
    journal_revenue: Decimal = ZERO
    journal_cogs: Decimal = ZERO

    def total(self) -> ProfitRow:
        """All groups together."""
        out = ProfitRow("total", "Total")
        for r in self.rows:
            out.quantity += r.quantity
            out.revenue += r.revenue
            out.discounts += r.discounts
            out.refunds += r.refunds
            out.cogs += r.cogs
            out.fees += r.fees
        return out

    @property
    def revenue_difference(self) -> Decimal:
        """Net revenue here less the journal's (rounding of foreign lines at most)."""
        return self.total().net_revenue - self.journal_revenue

    @property
    def cogs_difference(self) -> Decimal:
        """COGS here less the journal's (zero: both come from the same movements)."""
        return self.total().cogs - self.journal_cogs

    @property
    def reconciles(self) -> bool:
        """COGS to the penny; revenue within a minor unit per line converted from another currency."""
        return self.cogs_difference == 0 and abs(self.revenue_difference) <= money.quantum(
            self.currency
        ) * max(len(self.rows), 1)


def _key(group_by: str, *, sku: str, name: str, category: str, channel: str, day: date) -> tuple[str, str]:
    if group_by == "product":
        return (sku or name, f"{sku} {name}".strip())
    if group_by == "category":
        return (category or "(none)", category or "(no category)")
    if group_by == "channel":
        return (channel, channel)
    return (f"{day:%Y-%m}", f"{day:%B %Y}")


def _entry_rates(txn_ids: list[Any]) -> dict[Any, Decimal]:
    """Each transaction's current entry rate (functional units per document unit)."""
    rows = (
        JournalEntry.objects.filter(transaction_id__in=txn_ids, kind=EntryKind.TRANSACTION, superseded=False)
        .order_by("transaction_id", "-transaction_revision")
        .values_list("transaction_id", "exchange_rate")
    )
    rates: dict[Any, Decimal] = {}
    for txn_id, rate in rows:
        rates.setdefault(txn_id, rate or Decimal(1))
    return rates


def profit_report(
    connection: LedgerConnection, start: date, end: date, *, group_by: str = "product"
) -> ProfitReport:
    """Profit of the connection's channels from ``start`` to ``end`` (business days, inclusive)."""
    if group_by not in GROUPS:
        raise ValueError(f"group by one of {', '.join(GROUPS)}")
    functional = connection.functional_currency
    report = ProfitReport(start, end, group_by, functional)
    txns = list(
        Transaction.objects.filter(
            channel__ledger_connection=connection, business_date__gte=start, business_date__lte=end,
            kind__in=[TransactionKind.SALE, TransactionKind.INVOICE, TransactionKind.REFUND], status__in=BOOKED,
        ).select_related("channel").prefetch_related("payments")
    )  # fmt: skip
    rates = _entry_rates([t.pk for t in txns])
    products = {p.sku: p for p in Product.objects.all()}
    rows: dict[str, ProfitRow] = {}
    discount_modes = dict(connection.mapping_sets.values_list("channel_id", "discount_mode"))

    def row(key: tuple[str, str]) -> ProfitRow:
        return rows.setdefault(key[0], ProfitRow(key[0], key[1]))

    for txn in txns:
        doc = document_of(txn)
        if not isinstance(doc, Sale | Invoice | Refund) or txn.pk not in rates:
            continue
        if isinstance(doc, Sale | Invoice) and str(doc.status).lower() in VOID_STATUSES:
            continue
        rate = rates[txn.pk]
        contra = discount_modes.get(txn.channel_id, "contra") == "contra"
        shares: list[tuple[ProfitRow, Decimal]] = []
        for ln in doc.lines:
            if ln.kind == "gift_card":
                continue
            product = products.get(ln.sku)
            category = (product.category if product else "") or ln.category
            key = _key(group_by, sku=ln.sku, name=product.name if product else ln.name, category=category,
                       channel=txn.channel.name, day=txn.business_date)  # fmt: skip
            r = row(key)
            net_after = ln.gross(doc.currency) - ln.discount - (ln.tax() if doc.prices_include_tax else ZERO)
            rates_sum = sum((t.rate for t in ln.tax_lines), ZERO)
            discount = ZERO
            if contra and ln.discount:
                discount = (
                    money.quantize(ln.discount / (1 + rates_sum), doc.currency)
                    if doc.prices_include_tax and rates_sum
                    else ln.discount
                )
            if isinstance(doc, Refund):
                r.refunds += money.quantize(net_after * rate, functional)
                r.quantity -= ln.quantity
            else:
                r.revenue += money.quantize((net_after + discount) * rate, functional)
                r.discounts += money.quantize(discount * rate, functional)
                r.quantity += ln.quantity
                shares.append((r, net_after))
        fee = sum((p.fee for p in txn.payments.all()), ZERO)
        if fee and shares:
            parts = money.allocate(money.quantize(fee * rate, functional), [s for _, s in shares], functional)
            for (r, _), part in zip(shares, parts, strict=True):
                r.fees += part
    by_txn = {t.pk: t for t in txns}
    moved = StockMovement.objects.filter(book__connection=connection, date__gte=start, date__lte=end).exclude(
        cogs=0
    )
    for m in moved.select_related("product"):
        p = m.product
        sold = by_txn.get(m.transaction_id) if m.transaction_id else None
        if m.transaction_id and sold is None:
            continue  # a document outside the report's channels or not booked
        key = _key(group_by, sku=p.sku, name=p.name, category=p.category,
                   channel=sold.channel.name if sold else LATE, day=m.date)  # fmt: skip
        row(key).cogs += m.cogs
    report.rows = sorted(rows.values(), key=lambda r: r.key)
    report.journal_revenue, report.journal_cogs = _journal_figures(connection, start, end)
    return report


def _journal_figures(connection: LedgerConnection, start: date, end: date) -> tuple[Decimal, Decimal]:
    """Net revenue (revenue, discount and returns lines) and COGS in our journal for the period."""
    lines = (
        JournalLine.objects.filter(entry__connection=connection, entry__date__gte=start, entry__date__lte=end)
        .exclude(entry__kind=EntryKind.SUMMARY)
        .exclude(Q(entry__superseded=True) & Q(entry__reversed_by__isnull=True))
    )

    def net(q: Any, sign: int) -> Decimal:
        sums = q.aggregate(dr=Sum("functional_debit"), cr=Sum("functional_credit"))
        return sign * ((sums["dr"] or ZERO) - (sums["cr"] or ZERO))

    revenue = net(
        lines.filter(role__in=["revenue", "discount", "returns"], entry__transaction__isnull=False), -1
    )
    cogs = net(lines.filter(role="cogs"), 1)
    return revenue, cogs


HEADERS = ["Group", "Quantity", "Revenue", "Discounts", "Refunds", "Net revenue", "COGS", "Fees", "Gross margin",
           "Margin %"]  # fmt: skip


def _values(r: ProfitRow) -> list[object]:
    return [r.label, r.quantity.normalize(), r.revenue, r.discounts, r.refunds, r.net_revenue, r.cogs, r.fees,
            r.gross_margin, r.margin_percent if r.margin_percent is not None else ""]  # fmt: skip


def export_csv(report: ProfitReport) -> str:
    """The report as CSV (a total row last)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for r in [*report.rows, report.total()]:
        writer.writerow(_values(r))
    return out.getvalue()


def export_xlsx(report: ProfitReport) -> bytes:
    """The report as an Excel workbook (numbers as numbers)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"Profit by {report.group_by}"
    ws.append(HEADERS)
    for r in [*report.rows, report.total()]:
        ws.append([float(v) if isinstance(v, Decimal) else v for v in _values(r)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def chart_series(report: ProfitReport) -> dict[str, Any]:
    """Labels and series for the margin chart (net revenue, COGS, margin per group)."""
    return {
        "labels": [r.label for r in report.rows],
        "net_revenue": [str(r.net_revenue) for r in report.rows],
        "cogs": [str(r.cogs) for r in report.rows],
        "margin": [str(r.gross_margin) for r in report.rows],
    }
