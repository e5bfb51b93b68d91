"""A sale's, refund's or invoice's items as a table that adds up to its total.

The transaction page used to list the product lines only, so a sale with shipping did not add up.
:func:`document_breakdown` reads the canonical document and returns every item and shipping line
with its discount, tax and amount after discount, then the way from those amounts to the total:
the subtotal, tax (added when prices exclude it; shown as included otherwise), tips, a refund's
adjustment and any rounding difference. The rows that are added up always come to the total
(``Breakdown.adds_up``), like an invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from integrator import money
from integrator.canonical import Invoice, Refund, Sale
from integrator.models import Transaction
from integrator.services.transactions import document_of, tax_total

__all__ = ["Breakdown", "BreakdownLine", "SummaryRow", "document_breakdown"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class BreakdownLine:
    """An item or shipping line: its price before discount (``gross``), discount, tax, and
    ``amount`` after discount (before tax when prices exclude it, with tax when they include it)."""

    name: str
    detail: str
    quantity: Decimal | None
    unit_price: Decimal | None
    gross: Decimal
    discount: Decimal
    tax: Decimal
    shipping: bool = False

    @property
    def amount(self) -> Decimal:
        """The line's amount after its discount."""
        return self.gross - self.discount


@dataclass(frozen=True)
class SummaryRow:
    """A step from the items to the total; ``counted`` False for information (tax included)."""

    label: str
    amount: Decimal
    counted: bool = True


@dataclass
class Breakdown:
    """The lines and the summary rows of a document, in its currency."""

    currency: str
    prices_include_tax: bool
    lines: list[BreakdownLine] = field(default_factory=list)
    summary: list[SummaryRow] = field(default_factory=list)
    total: Decimal = ZERO

    @property
    def has_information_rows(self) -> bool:
        """Whether some summary rows are for information only (shown in brackets)."""
        return any(not r.counted for r in self.summary)

    @property
    def adds_up(self) -> bool:
        """True when the counted summary rows come to the total (always, by construction)."""
        return sum((r.amount for r in self.summary if r.counted), ZERO) == self.total


def document_breakdown(txn: Transaction) -> Breakdown | None:
    """The breakdown of a sale, refund or invoice (None for other kinds of documents)."""
    doc = document_of(txn)
    if not isinstance(doc, Sale | Refund | Invoice):
        return None
    cur = doc.currency
    out = Breakdown(
        currency=cur, prices_include_tax=doc.prices_include_tax, total=money.quantize(doc.total, cur)
    )
    for ln in doc.lines:
        detail = " · ".join(
            part for part in (ln.sku, ln.category, "" if ln.kind == "product" else ln.kind) if part
        )
        out.lines.append(
            BreakdownLine(ln.name, detail, ln.quantity, ln.unit_price, ln.gross(cur), ln.discount, ln.tax())
        )
    for s in doc.shipping:
        out.lines.append(
            BreakdownLine(s.title or "Shipping", "shipping", None, None, s.amount, s.discount, s.tax(), True)
        )
    discounts = sum((ln.discount for ln in out.lines), ZERO)
    tax = tax_total(doc)
    rows = [SummaryRow("Subtotal after discounts", sum((ln.amount for ln in out.lines), ZERO))]
    if discounts:
        rows.append(SummaryRow("Discounts taken off above", -discounts, counted=False))
    if tax:
        rows.append(
            SummaryRow("Tax included in the prices", tax, counted=False)
            if doc.prices_include_tax
            else SummaryRow("Tax", tax)
        )
    if isinstance(doc, Sale) and doc.tips:
        rows.append(SummaryRow("Tips", doc.tips))
    if isinstance(doc, Refund) and doc.adjustment:
        rows.append(SummaryRow("Refund adjustment", doc.adjustment))
    counted = sum((r.amount for r in rows if r.counted), ZERO)
    if counted != out.total:
        # Per-line tax rounding against the document's own total (the journal's rounding line).
        rows.append(SummaryRow("Rounding difference", out.total - counted))
    out.summary = rows
    return out
