"""QuickBooks Online (API v3) ledger target.

* :mod:`.documents` - which QuickBooks entity a PostingDocument becomes, tax rounding, DocNumber
  and requestid rules (pure functions);
* :mod:`.errors` - the ``Fault`` body classified into the connector taxonomy;
* :mod:`.target` - :class:`QuickBooksTarget`: OAuth, limits, post / lookup / batch, reading lists;
* :mod:`.wire` - exact JSON (Decimals in, Decimals out).

The registry finds :class:`QuickBooksTarget` here by its ``platform = "quickbooks"``.
"""

from connectors.ledgers.quickbooks.documents import (
    QboDocument,
    QboSettings,
    build_document,
    doc_number,
    request_id,
)
from connectors.ledgers.quickbooks.errors import DuplicateDocument, classify_fault, parse_fault
from connectors.ledgers.quickbooks.target import (
    PRODUCTION_URL,
    QUICKBOOKS_OAUTH,
    SANDBOX_URL,
    QuickBooksTarget,
)

__all__ = [
    "PRODUCTION_URL",
    "QUICKBOOKS_OAUTH",
    "SANDBOX_URL",
    "DuplicateDocument",
    "QboDocument",
    "QboSettings",
    "QuickBooksTarget",
    "build_document",
    "classify_fault",
    "doc_number",
    "parse_fault",
    "request_id",
]
