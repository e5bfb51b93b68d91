"""SAP Business One (Service Layer v1 and v2) ledger target.

* :mod:`.documents` - the ledger-target layer's plan as Service Layer bodies (pure functions);
* :mod:`.errors` - both error shapes classified into the taxonomy (-4013, -2035, 301);
* :mod:`.multipart` - the multipart ``$batch`` with change sets;
* :mod:`.target` - :class:`SapB1Target`: session login, look-up-first flows run alone or in
  ``$batch``, posting periods, read-back and lists.

The registry finds :class:`SapB1Target` here by its ``platform = "sap_b1"``.
"""

from connectors.ledgers.sap_b1.documents import B1Settings, render
from connectors.ledgers.sap_b1.errors import DuplicateDocument, SessionExpired, classify_error
from connectors.ledgers.sap_b1.target import SapB1Target

__all__ = ["B1Settings", "DuplicateDocument", "SapB1Target", "SessionExpired", "classify_error", "render"]
