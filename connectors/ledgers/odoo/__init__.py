"""Odoo (17, 18, 19) ledger target over XML-RPC, JSON-RPC or JSON-2.

* :mod:`.xmlrpc` - the XML-RPC wire format with exact amounts, parsed with defusedxml;
* :mod:`.rpc` - :class:`OdooRPC`: one call over the protocol the server speaks best;
* :mod:`.errors` - faults classified by exception name and message;
* :mod:`.facts` - company currency, chart, taxes, journals, lock dates (cached ten minutes);
* :mod:`.documents` - the ledger-target layer's plan as Odoo records;
* :mod:`.poster` - resumable, looked-up-first steps (exactly once without a key);
* :mod:`.target` - :class:`OdooTarget`.

The registry finds :class:`OdooTarget` here by its ``platform = "odoo"``.
"""

from connectors.ledgers.odoo.errors import DuplicateSequence, classify_fault
from connectors.ledgers.odoo.rpc import OdooRPC
from connectors.ledgers.odoo.target import OdooTarget

__all__ = ["DuplicateSequence", "OdooRPC", "OdooTarget", "classify_fault"]
