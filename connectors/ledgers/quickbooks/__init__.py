"""QuickBooks Online (API v3) ledger target.

* :mod:`.documents` - which QuickBooks entities the ledger-target layer's plan becomes, tax on
  every line, items per income account, DocNumber and requestid rules (pure functions);
* :mod:`.errors` - the ``Fault`` body classified into the connector taxonomy;
* :mod:`.target` - :class:`QuickBooksTarget`: OAuth, limits, post / lookup / batch, reading lists;
* :mod:`.wire` - exact JSON (Decimals in, Decimals out).

The registry finds :class:`QuickBooksTarget` here by its ``platform = "quickbooks"``.
"""

from connectors.ledgers.quickbooks.documents import (
    QboEntity,
    QboPlan,
    QboRefs,
    QboSettings,
    render,
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
    "QboEntity",
    "QboPlan",
    "QboRefs",
    "QboSettings",
    "QuickBooksTarget",
    "classify_fault",
    "parse_fault",
    "render",
    "request_id",
]
