"""The spine's hook for issue 12: what a journaled transaction does besides its own entry.

:func:`on_journal` is called by :func:`integrator.services.pipeline.advance_transaction` after the
document's lines are drafted and converted: it moves stock and books COGS
(:func:`integrator.services.inventory.sales.book_stock`) and checks the source's tax against the
tax rules (:func:`integrator.services.tax_engine.checks.check_transaction_tax`). The document's own
lines are returned unchanged.
"""

from __future__ import annotations

from integrator.canonical import CanonicalDocument
from integrator.models import Transaction
from integrator.services.inventory.sales import book_stock
from integrator.services.journal import DraftLine
from integrator.services.mappings import RuleBook
from integrator.services.tax_engine.checks import check_transaction_tax

__all__ = ["on_journal"]


def on_journal(
    txn: Transaction, doc: CanonicalDocument, book: RuleBook, lines: list[DraftLine], *, functional: str
) -> list[DraftLine]:
    """Stock, COGS and the tax check of one transaction revision (inside its transaction)."""
    book_stock(txn, doc, book)
    check_transaction_tax(txn, doc)
    return lines
