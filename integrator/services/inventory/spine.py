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
from integrator.services.inventory.sales import book_stock, keeps_stock
from integrator.services.journal import DraftLine
from integrator.services.mappings import RuleBook
from integrator.services.tax_engine.checks import check_transaction_tax

__all__ = ["on_journal", "on_journal_idle"]


def on_journal(
    txn: Transaction, doc: CanonicalDocument, book: RuleBook, lines: list[DraftLine], *, functional: str
) -> list[DraftLine]:
    """Stock, COGS and the tax check of one transaction revision (inside its transaction)."""
    book_stock(txn, doc, book)
    check_transaction_tax(txn, doc)
    return lines


def on_journal_idle(txn: Transaction, doc: CanonicalDocument) -> bool:
    """Whether :func:`on_journal` would do nothing for this transaction: its ledger keeps no stock
    and its channel names no tax jurisdiction. A batch journals such transactions together
    (``integrator.services.journal_batch``); the others go one by one, each in its savepoint."""
    channel = txn.channel
    return not keeps_stock(channel.ledger_connection) and not (channel.settings or {}).get("tax_jurisdiction")
