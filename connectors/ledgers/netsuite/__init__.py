"""Oracle NetSuite ledger target: REST web services (:class:`NetSuiteTarget`) and SuiteTalk SOAP
(:class:`~connectors.ledgers.netsuite.soap.NetSuiteSoapTarget`, registered as ``netsuite_soap``).

* :mod:`.documents` - the layer's plan as NetSuite records (cash sales, invoices with applied
  customer payments, credit memos with refunds, deposits, journal entries; SuiteTax details);
* :mod:`.target` - what both transports share: facts, customers, items, periods, look-up, read-back;
* :mod:`.rest` - ``record/v1`` upserts by external id, asynchronous batches, SuiteQL;
* :mod:`.soap` - zeep on the WSDL: ``upsertList``, ``get``, ``search``, token passport;
* :mod:`.auth` - OAuth 1.0a (HMAC-SHA256) header, token passport, OAuth 2.0 endpoints;
* :mod:`.errors` - ``o:errorDetails`` and SOAP status codes classified.

The registry finds :class:`NetSuiteTarget` here by its ``platform = "netsuite"``.
"""

from connectors.ledgers.netsuite.documents import NsPlan, NsRecord, NsRefs, NsSettings, Ref, render, rest_body
from connectors.ledgers.netsuite.errors import DuplicateRecord, classify_codes, classify_rest
from connectors.ledgers.netsuite.rest import NetSuiteTarget, rest_base_url
from connectors.ledgers.netsuite.target import NetSuiteBase

__all__ = [
    "DuplicateRecord",
    "NetSuiteBase",
    "NetSuiteTarget",
    "NsPlan",
    "NsRecord",
    "NsRefs",
    "NsSettings",
    "Ref",
    "classify_codes",
    "classify_rest",
    "render",
    "rest_base_url",
    "rest_body",
]
