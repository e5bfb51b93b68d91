"""Xero (Accounting API 2.0) ledger target.

* :mod:`.documents` - which Xero documents the ledger-target layer's plan becomes: invoices and
  credit notes with our tax on every line, payments, transfers, journals (pure functions);
* :mod:`.errors` - Xero's ``Error`` / per-item ``ValidationErrors`` classified into the taxonomy;
* :mod:`.target` - :class:`XeroTarget`: OAuth, limits and daily budget, post / lookup / batch,
  reading lists and the lock date;
* :mod:`.wire` - exact JSON (Decimals in, Decimals out).

The registry finds :class:`XeroTarget` here by its ``platform = "xero"``.
"""

from connectors.ledgers.xero.documents import XeroDocument, XeroPayment, XeroPlan, XeroSettings, render
from connectors.ledgers.xero.errors import DuplicateDocument, classify_error, classify_messages
from connectors.ledgers.xero.target import API_URL, XERO_OAUTH, XeroTarget

__all__ = [
    "API_URL",
    "XERO_OAUTH",
    "DuplicateDocument",
    "XeroDocument",
    "XeroPayment",
    "XeroPlan",
    "XeroSettings",
    "XeroTarget",
    "classify_error",
    "classify_messages",
    "render",
]
