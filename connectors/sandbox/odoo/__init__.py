"""An Odoo-like server for tests, the demo and benchmarks (17, 18 and 19; XML-RPC, JSON-RPC, JSON-2).

* :mod:`.orm` - records, domains, ``read`` formatting, x2many commands;
* :mod:`.books` - moves, invoices with Odoo's tax computation, payments, reconciliation, lock dates;
* :mod:`.server` - :class:`OdooSandbox`: the three protocols, per-model fault injection.
"""

from connectors.sandbox.odoo.books import OdooBooks
from connectors.sandbox.odoo.orm import OdooError
from connectors.sandbox.odoo.server import OdooSandbox

__all__ = ["OdooBooks", "OdooError", "OdooSandbox"]
