"""Sage Business Cloud Accounting (API v3.1) ledger target.

* :mod:`.documents` - which Sage resources the ledger-target layer's plan becomes, step by step,
  each with its ``idempotency_id`` (pure functions);
* :mod:`.errors` - Sage's ``$severity``/``$dataCode``/``$message``/``$source`` arrays classified into
  the taxonomy;
* :mod:`.target` - :class:`SageTarget`: OAuth (5-minute tokens), the per-business limit, post /
  lookup / read-back, reading lists and the lock date.

The registry finds :class:`SageTarget` here by its ``platform = "sage"``.
"""

from connectors.ledgers.sage.documents import SageAccounts, SageStep, idempotency_id, plan_steps, step_body
from connectors.ledgers.sage.errors import classify_error, error_items
from connectors.ledgers.sage.target import API_URL, SAGE_OAUTH, SageTarget

__all__ = [
    "API_URL",
    "SAGE_OAUTH",
    "SageAccounts",
    "SageStep",
    "SageTarget",
    "classify_error",
    "error_items",
    "idempotency_id",
    "plan_steps",
    "step_body",
]
