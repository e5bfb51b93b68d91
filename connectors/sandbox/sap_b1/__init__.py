"""An SAP Business One Service Layer sandbox (v1 and v2): session login, one company database with
its chart, VAT groups, posting periods, documents, payments and journal entries, multipart
``$batch`` with change sets, both error shapes.

* :mod:`.company` - the company's data and SAP Business One's rules;
* :mod:`.server` - the HTTP face (:class:`SapB1Sandbox`).
"""

from connectors.sandbox.sap_b1.company import B1Error, Company
from connectors.sandbox.sap_b1.server import SapB1Sandbox

__all__ = ["B1Error", "Company", "SapB1Sandbox"]
