"""A Sage Business Cloud Accounting business (API v3.1) on 127.0.0.1, faithful to the parts of the
contract we use.

* :mod:`.server` - :class:`SageSandbox`: OAuth endpoints (5-minute tokens, client credentials in
  the form body), ``X-Business``, the per-business limit, ``idempotency_id``, fault injection;
* :mod:`.business` - :class:`Business`: the chart, bank accounts, tax rates, contacts, invoices,
  credit notes, payments, allocations, transfers, other payments and journals, with Sage's
  validation and lock dates.
"""

from connectors.sandbox.sage.business import Business, SageInvalid
from connectors.sandbox.sage.server import SageSandbox

__all__ = ["Business", "SageInvalid", "SageSandbox"]
