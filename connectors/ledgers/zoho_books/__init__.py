"""Zoho Books (API v3) ledger target.

* :mod:`.datacentres` - Zoho's accounts servers and API domains, checked before any token or call;
* :mod:`.documents` - which Zoho documents the ledger-target layer's plan becomes, and the tax
  rounding lines that make Zoho's computed tax ours (pure functions);
* :mod:`.errors` - Zoho's ``{code, message}`` envelope (code 0 = success) classified into the taxonomy;
* :mod:`.readback` - a posted document read back per account and tax id;
* :mod:`.target` - :class:`ZohoBooksTarget`: OAuth, limits and daily allowance, post / lookup,
  reading lists and lock dates.

The registry finds :class:`ZohoBooksTarget` here by its ``platform = "zoho_books"``.
"""

from connectors.ledgers.zoho_books.datacentres import (
    ACCOUNTS_SERVERS,
    API_DOMAINS,
    api_base_url,
    token_url_for,
)
from connectors.ledgers.zoho_books.documents import (
    ZohoDocument,
    ZohoPlan,
    ZohoSettings,
    render,
    rounding_lines,
)
from connectors.ledgers.zoho_books.errors import DuplicateDocument, classify_error
from connectors.ledgers.zoho_books.target import ZOHO_OAUTH, ZohoBooksTarget

__all__ = [
    "ACCOUNTS_SERVERS",
    "API_DOMAINS",
    "ZOHO_OAUTH",
    "DuplicateDocument",
    "ZohoBooksTarget",
    "ZohoDocument",
    "ZohoPlan",
    "ZohoSettings",
    "api_base_url",
    "classify_error",
    "render",
    "rounding_lines",
    "token_url_for",
]
