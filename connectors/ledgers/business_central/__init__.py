"""Dynamics 365 Business Central (API v2.0) ledger target.

* :mod:`.documents` - the ledger-target layer's plan as Business Central bodies (pure functions);
* :mod:`.errors` - ``{"error": {"code", "message"}}`` classified into the taxonomy;
* :mod:`.reading` - a posting read back as a LedgerView, the chart and VAT codes;
* :mod:`.target` - :class:`BusinessCentralTarget`: Entra ID token, look-up-first flows run alone
  or in ``$batch``, VAT fitting, allowed posting dates, read-back and lists.

The registry finds :class:`BusinessCentralTarget` here by its ``platform = "business_central"``.
"""

from connectors.ledgers.business_central.documents import BCSettings, render
from connectors.ledgers.business_central.errors import DuplicateDocument, EntityChanged, classify_error
from connectors.ledgers.business_central.target import API_URL, BusinessCentralTarget

__all__ = [
    "API_URL",
    "BCSettings",
    "BusinessCentralTarget",
    "DuplicateDocument",
    "EntityChanged",
    "classify_error",
    "render",
]
