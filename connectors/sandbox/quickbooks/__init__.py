"""A QuickBooks Online v3 company on 127.0.0.1, faithful to the parts of the contract we use.

* :mod:`.server` - :class:`QuickBooksSandbox`: the HTTP face (OAuth endpoints, authentication,
  realm, rate limits, ``requestid`` idempotency, fault injection from the base server);
* :mod:`.company` - :class:`QboCompany`: entities, validation, tax and QuickBooks' fault codes;
* :mod:`.oauth` - :class:`OAuthTokenStore`: the rotating-token authorization server (also used by
  the Xero sandbox).
"""

from connectors.sandbox.quickbooks.company import QboCompany, QboFault
from connectors.sandbox.quickbooks.oauth import OAuthTokenStore
from connectors.sandbox.quickbooks.server import QboLimits, QuickBooksSandbox

__all__ = ["OAuthTokenStore", "QboCompany", "QboFault", "QboLimits", "QuickBooksSandbox"]
