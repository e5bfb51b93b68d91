"""FreshBooks ledger target.

* :mod:`.documents` - invoices (tax as FreshBooks computes it, lines split where it would differ
  from ours), payments, journal entries and the adjustment entry that moves FreshBooks' own
  booking to the journal's accounts (pure functions);
* :mod:`.errors` - both FreshBooks error shapes, including errors sent with HTTP 200;
* :mod:`.target` - :class:`FreshBooksTarget`: OAuth, look-up first, read-back, lists.

The registry finds :class:`FreshBooksTarget` here by its ``platform = "freshbooks"``.
"""

from connectors.ledgers.freshbooks.documents import (
    FreshBooksAccounts,
    adjustment_lines,
    booked_by_freshbooks,
    freshbooks_tax,
    split_for_tax,
)
from connectors.ledgers.freshbooks.errors import classify_answer, error_messages
from connectors.ledgers.freshbooks.target import API_URL, FRESHBOOKS_OAUTH, FreshBooksTarget

__all__ = [
    "API_URL",
    "FRESHBOOKS_OAUTH",
    "FreshBooksAccounts",
    "FreshBooksTarget",
    "adjustment_lines",
    "booked_by_freshbooks",
    "classify_answer",
    "error_messages",
    "freshbooks_tax",
    "split_for_tax",
]
