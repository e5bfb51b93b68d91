"""Stock valuation at any date, reconciled to the inventory account.

The value of stock on a day is the sum of the value changes of the movements dated up to it. It
must equal the balance of the inventory book's inventory account in our journal (what reaches the
ledger: an entry a daily summary carries counts through the summary), and, for the built-in
ledger, in the posted books. A difference is listed, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, Sum

from integrator.models import BookLine, InventoryBook, JournalLine, Product, StockLevel, StockMovement

__all__ = ["Valuation", "ValuationRow", "check_stock", "inventory_balance", "stock_valuation"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class ValuationRow:
    """One product's stock on the day."""

    sku: str
    name: str
    category: str
    unit: str
    method: str
    quantity: Decimal
    value: Decimal

    @property
    def unit_cost(self) -> Decimal | None:
        """Value per unit (None with no stock)."""
        return (self.value / self.quantity).quantize(Decimal("0.0001")) if self.quantity else None


@dataclass
class Valuation:
    """Stock value per product at ``as_of`` with the inventory account's balances beside it."""

    as_of: date
    currency: str
    rows: list[ValuationRow] = field(default_factory=list)
    journal_balance: Decimal = ZERO
    ledger_balance: Decimal | None = None

    @property
    def total(self) -> Decimal:
        """The value of all stock."""
        return sum((r.value for r in self.rows), ZERO)

    @property
    def difference(self) -> Decimal:
        """Stock value less the journal's inventory balance (zero when they reconcile)."""
        return self.total - self.journal_balance

    @property
    def reconciles(self) -> bool:
        """True when stock, journal and (where read) ledger agree to the penny."""
        return self.difference == 0 and (self.ledger_balance is None or self.ledger_balance == self.total)


def inventory_balance(book: InventoryBook, as_of: date) -> Decimal:
    """The inventory account's functional balance in our journal up to ``as_of``: entries that
    reach the ledger (summaries instead of what they carry; an entry superseded before any
    summary carried it never reaches it)."""
    lines = (
        JournalLine.objects.filter(
            account_id=book.inventory_account_id,
            entry__connection_id=book.connection_id,
            entry__date__lte=as_of,
        )
        .filter(entry__summary__isnull=True)
        .exclude(Q(entry__superseded=True) & Q(entry__reversed_by__isnull=True))
        .aggregate(dr=Sum("functional_debit"), cr=Sum("functional_credit"))
    )
    return (lines["dr"] or ZERO) - (lines["cr"] or ZERO)


def _ledger_balance(book: InventoryBook, as_of: date) -> Decimal | None:
    """The posted balance in the built-in ledger (other ledgers are read by reconciliation)."""
    if book.connection.platform != "builtin":
        return None
    sums = BookLine.objects.filter(
        entry__connection_id=book.connection_id,
        entry__date__lte=as_of,
        account_code=book.inventory_account.code,
    ).aggregate(dr=Sum("functional_debit"), cr=Sum("functional_credit"))
    return (sums["dr"] or ZERO) - (sums["cr"] or ZERO)


def stock_valuation(book: InventoryBook, as_of: date) -> Valuation:
    """Quantity and value of every product's stock at the end of ``as_of``."""
    moved = (
        StockMovement.objects.filter(date__lte=as_of)
        .filter(Q(book=book) | Q(book__isnull=True))
        .values("product_id")
        .annotate(quantity=Sum("quantity"), value=Sum("value"))
        .order_by()
    )
    totals = {row["product_id"]: row for row in moved}
    products = Product.objects.filter(pk__in=totals.keys()).order_by("sku")
    result = Valuation(as_of=as_of, currency=book.connection.functional_currency)
    for p in products:
        row = totals[p.pk]
        if not row["quantity"] and not row["value"]:
            continue
        result.rows.append(
            ValuationRow(p.sku, p.name, p.category, p.unit, p.costing_method, row["quantity"], row["value"])
        )
    result.journal_balance = inventory_balance(book, as_of)
    result.ledger_balance = _ledger_balance(book, as_of)
    return result


def check_stock(start: date, end: date) -> Any:
    """Reconciliation step: stock value against the inventory account of every inventory book at
    the end of the period, and our stock levels against what the sales sources last reported
    (Shopify inventory levels, Square inventory counts, read into ``StockLevel.source_quantity``)."""
    from reconciliation.choices import ExceptionKind
    from reconciliation.services.findings import CheckOutcome, Finding

    findings = []
    books = list(InventoryBook.objects.select_related("connection", "inventory_account"))
    for book in books:
        valuation = stock_valuation(book, end)
        if valuation.reconciles:
            continue
        other = valuation.ledger_balance if valuation.difference == 0 else valuation.journal_balance
        findings.append(
            Finding(
                key=f"stock:{book.pk}",
                kind=ExceptionKind.AMOUNT_MISMATCH,
                day=end,
                currency=valuation.currency,
                amount=abs(valuation.total - (other or ZERO)),
                expected=valuation.total,
                actual=other,
                connection_id=book.connection_id,
                explanation=(
                    f"Stock is worth {valuation.total} {valuation.currency} on {end}, but the inventory account "
                    f"{book.inventory_account.code} holds {other} {valuation.currency}."
                ),
            )
        )
    levels = StockLevel.objects.filter(source_quantity__isnull=False).exclude(source_quantity=F("quantity"))
    for level in levels.select_related("product"):
        findings.append(
            Finding(
                key=f"stocklevel:{level.pk}",
                kind=ExceptionKind.AMOUNT_MISMATCH,
                day=end,
                amount=abs(level.quantity - (level.source_quantity or ZERO)),
                expected=level.quantity,
                actual=level.source_quantity,
                explanation=(
                    f"{level.product.sku} at {level.location}: our stock is {level.quantity.normalize():f} "
                    f"{level.product.unit}, the sales system says {(level.source_quantity or ZERO).normalize():f}."
                ),
            )
        )
    return CheckOutcome(
        name="stock vs inventory account",
        scope=Q(kind=ExceptionKind.AMOUNT_MISMATCH, key__startswith="stock", day__gte=start, day__lte=end),
        findings=findings,
        checked=len(books) + StockLevel.objects.filter(source_quantity__isnull=False).count(),
    )
