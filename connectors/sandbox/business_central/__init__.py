"""A Dynamics 365 Business Central (API v2.0) sandbox: Entra ID client-credentials tokens, one
company with its chart, VAT, sales documents, journals and general ledger, JSON ``$batch``.

* :mod:`.company` - the company's data and Business Central's rules (VAT computed per document,
  etags, allowed posting dates, posting);
* :mod:`.server` - the HTTP face (:class:`BusinessCentralSandbox`).
"""

from connectors.sandbox.business_central.company import BCError, Company
from connectors.sandbox.business_central.server import BusinessCentralSandbox

__all__ = ["BCError", "BusinessCentralSandbox", "Company"]
