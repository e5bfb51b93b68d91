"""A Xero organisation (Accounting API 2.0) on 127.0.0.1, faithful to the parts of the contract we use.

* :mod:`.server` - :class:`XeroSandbox`: OAuth endpoints (rotating refresh tokens with Xero's
  grace window), ``/connections``, authentication and tenant, limits, ``Idempotency-Key``,
  ``summarizeErrors``, fault injection from the base server;
* :mod:`.organisation` - :class:`Organisation`: invoices, credit notes, payments, manual
  journals, bank transfers, lists, lock dates, tax, with Xero's validation messages.
"""

from connectors.sandbox.xero.organisation import Organisation, XeroInvalid
from connectors.sandbox.xero.server import XeroLimits, XeroSandbox

__all__ = ["Organisation", "XeroInvalid", "XeroLimits", "XeroSandbox"]
