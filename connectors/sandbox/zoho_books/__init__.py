"""A Zoho Books organisation (API v3) on 127.0.0.1, faithful to the parts of the contract we use.

* :mod:`.server` - :class:`ZohoBooksSandbox`: the accounts server (OAuth, data-centre callback,
  non-rotating refresh tokens), authentication, organisation id, limits, the ``{code, message}``
  envelope, fault injection from the base server;
* :mod:`.organisation` - :class:`Organisation`: invoices, credit notes, payments, refunds,
  journals, transfers, expenses, lists, with Zoho's number uniqueness, tax computation per line
  or per document, and transaction locking per module.
"""

from connectors.sandbox.zoho_books.organisation import Organisation, ZohoInvalid
from connectors.sandbox.zoho_books.server import ZohoBooksSandbox, ZohoTokens

__all__ = ["Organisation", "ZohoBooksSandbox", "ZohoInvalid", "ZohoTokens"]
