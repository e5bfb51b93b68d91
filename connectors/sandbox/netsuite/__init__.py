"""A NetSuite account on 127.0.0.1 for tests, the demo and benchmarks.

* :mod:`.server` - :class:`NetSuiteSandbox`: REST (``record/v1`` upserts by external id,
  SuiteQL, asynchronous requests with idempotency keys), authentication, the shared concurrency
  limit, fault injection;
* :mod:`.soap` - SuiteTalk SOAP on the same books, every message validated against the XSDs;
* :mod:`.books` - :class:`Books`: the records, validation, periods, SuiteTax and the ledger.
"""

from connectors.sandbox.netsuite.books import Books, NsError
from connectors.sandbox.netsuite.server import NetSuiteSandbox

__all__ = ["Books", "NetSuiteSandbox", "NsError"]
