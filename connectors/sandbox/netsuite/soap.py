"""SuiteTalk SOAP on the sandbox's books: ``upsertList``, ``upsert``, ``get``, ``getAll``,
``search`` and ``initialize`` (an invoice from a sales order), with the token passport checked on every call.

Every request body is validated against the NetSuite XSDs before it is read and every answer
before it is sent (both with lxml); a request that does not validate gets a fault, and any invalid
message is kept in ``sandbox.invalid_messages`` for the contract test to see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from lxml import etree

from connectors.ledgers.netsuite.soap_records import (
    NS,
    RECORD_TYPES,
    from_soap,
    service,
    soap_list_record,
    soap_type,
    to_soap,
    wsdl_client,
    xsd_schema,
)
from connectors.sandbox.base import Request, Response
from connectors.sandbox.netsuite.books import ORDER_TYPES, TRANSACTION_TYPES, NsError

if TYPE_CHECKING:
    from connectors.sandbox.netsuite.server import NetSuiteSandbox

__all__ = ["handle_soap", "soap_fault"]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_FAULT_ELEMENT = {
    "WS_CONCUR_SESSION_DISALLWD": "exceededConcurrentRequestLimitFault",
    "WS_REQUEST_BLOCKED": "exceededRequestLimitFault",
    "INVALID_LOGIN_ATTEMPT": "invalidCredentialsFault",
}
_SEARCH_TABLES = {
    "AccountSearchBasic": "account",
    "SubsidiarySearchBasic": "subsidiary",
    "AccountingPeriodSearchBasic": "accountingperiod",
    "SalesTaxItemSearchBasic": "salestaxitem",
    "ItemSearchBasic": "item",
    "TransactionSearchBasic": "transaction",
}


def soap_fault(code: str, message: str) -> bytes:
    """A SOAP fault with NetSuite's fault detail (``code``, ``message``)."""
    element = _FAULT_ELEMENT.get(code, "unexpectedErrorFault")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
        f"<soapenv:Fault><faultcode>soapenv:Server.userException</faultcode><faultstring>{escape(message)}</faultstring>"
        f'<detail><platformFaults:{element} xmlns:platformFaults="urn:faults_2023_2.platform.webservices.netsuite.com">'
        f"<platformFaults:code>{code}</platformFaults:code><platformFaults:message>{escape(message)}"
        f"</platformFaults:message></platformFaults:{element}></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()


def _fault(code: str, message: str) -> Response:
    return Response(500, soap_fault(code, message), content_type="text/xml; charset=utf-8")


def _status(ok: bool, code: str = "", message: str = "") -> dict[str, Any]:
    if ok:
        return {"isSuccess": True}
    return {"isSuccess": False, "statusDetail": [{"code": code, "message": message, "type": "ERROR"}]}


def _validate(sandbox: NetSuiteSandbox, element: Any, direction: str) -> str:
    """'' when the element validates against the XSDs, else the first error (also recorded)."""
    schema = xsd_schema()
    if schema.validate(element):
        return ""
    error = str(schema.error_log.last_error)
    with sandbox.lock:
        sandbox.invalid_messages.append((direction, error))
    return error


def _passport(sandbox: NetSuiteSandbox, envelope: Any) -> bool:
    found = envelope.xpath("//*[local-name()='tokenPassport']")
    if not found:
        return False
    fields = {child.tag.split("}")[-1]: (child.text or "") for child in found[0]}
    algorithm = found[0].xpath("*[local-name()='signature']/@algorithm")
    if algorithm and algorithm[0] != "HMAC-SHA256":
        return False
    return sandbox.check_tba(
        {"realm": fields.get("account", ""), "oauth_consumer_key": fields.get("consumerKey", ""),
         "oauth_token": fields.get("token", ""), "oauth_nonce": fields.get("nonce", ""),
         "oauth_timestamp": fields.get("timestamp", ""), "oauth_signature": fields.get("signature", "")},
        "POST", "", passport=True,
    )  # fmt: skip


def _to_record(sandbox: NetSuiteSandbox, record_type: str, rec: Mapping[str, Any]) -> Any:
    """A stored record as its typed SOAP record (with ``total`` where the type has one)."""
    fields = {k: v for k, v in rec.items() if k not in ("id", "externalId") and not isinstance(v, list)}
    lists = RECORD_TYPES[record_type][2]
    sublists = {k: v for k, v in rec.items() if isinstance(v, list) and k in lists}
    namespace, name, _ = RECORD_TYPES[record_type]
    names = {e[0] for e in soap_type(namespace, name).elements}
    if record_type in (*TRANSACTION_TYPES, *ORDER_TYPES) and "total" in names:
        fields["total"] = sandbox.books.total(record_type, rec)
    fields = {k: v for k, v in fields.items() if k in names}
    record = to_soap(
        record_type, str(rec.get("externalId") or ""), fields, sublists, internal_id=str(rec["id"])
    )
    return record


def handle_soap(sandbox: NetSuiteSandbox, req: Request) -> Response:
    """Answer one SOAP request (see the module docstring)."""
    try:
        envelope = etree.fromstring(
            req.body, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        )
    except etree.XMLSyntaxError as exc:
        return _fault("INVALID_REQUEST", f"Malformed XML: {exc}")
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if body is None or not len(body):
        return _fault("INVALID_REQUEST", "No SOAP body.")
    request = body[0]
    error = _validate(sandbox, request, "request")
    if error:
        return _fault("INVALID_REQUEST", f"The request does not match the schema: {error}")
    if not _passport(sandbox, envelope):
        with sandbox.lock:
            sandbox.refused_auth += 1
        return _fault("INVALID_LOGIN_ATTEMPT", "Invalid login attempt.")
    operation_name = request.tag.split("}")[-1]
    svc = service(sandbox.url + req.path)
    binding = svc._binding
    try:
        operation = binding.get(operation_name)
    except ValueError:
        return _fault("INVALID_REQUEST", f"Unknown operation {operation_name}.")
    parsed = operation.input.deserialize(envelope).body
    with sandbox.lock:
        result = _perform(sandbox, operation_name, parsed)
        _maybe_drop(sandbox, operation_name, parsed, result)
    answer = operation.output.serialize(**result)
    out_body = answer.content.find(f"{{{SOAP_ENV}}}Body")
    error = _validate(sandbox, out_body[0], "response")
    if error:
        return _fault("UNEXPECTED_ERROR", f"sandbox answer does not match the schema: {error}")
    return Response(200, etree.tostring(answer.content, xml_declaration=True, encoding="utf-8"),
                    content_type="text/xml; charset=utf-8")  # fmt: skip


def _write(sandbox: NetSuiteSandbox, record: Any) -> dict[str, Any]:
    record_type, normal = from_soap(record)
    external = str(normal.pop("externalId", "") or "")
    normal.pop("id", None)
    ref_type = soap_type("core", "RecordRef")
    try:
        if record_type not in RECORD_TYPES:
            raise NsError("INVALID_RCRD_TYPE", f"Record type {record_type} is not supported here.")
        if record_type == "deposit" and "currency" not in normal:
            bank = sandbox.books.accounts.get(str((normal.get("account") or {}).get("id")), {})
            subsidiary = sandbox.books.subsidiaries.get(str((normal.get("subsidiary") or {}).get("id")), {})
            normal["currency"] = {"id": bank.get("currency") or subsidiary.get("currency", "1")}
        rid = sandbox.books.upsert(record_type, external, normal)
    except NsError as exc:
        return {"status": _status(False, exc.code, exc.message)}
    return {
        "status": _status(True),
        "baseRef": ref_type(internalId=rid, externalId=external, type=record_type),
    }


def _maybe_drop(sandbox: NetSuiteSandbox, operation: str, parsed: Any, result: Mapping[str, Any]) -> None:
    """Mark this answer to be dropped when a queued (operation, record type) matches a committed
    write (:meth:`NetSuiteSandbox.drop_soap_answer`)."""
    from connectors.sandbox.netsuite import server

    if operation == "upsertList":
        kinds = {from_soap(r)[0] for r in parsed.record}
        ok = all(w["status"]["isSuccess"] for w in result["writeResponseList"]["writeResponse"])
    elif operation == "upsert":
        kinds = {from_soap(parsed.record)[0]}
        ok = result["writeResponse"]["status"]["isSuccess"]
    else:
        kinds = {str(parsed.initializeRecord.type)} if operation == "initialize" else set()
        ok = True
    for index, (wanted_op, wanted_type) in enumerate(sandbox.soap_drops):
        if ok and wanted_op == operation and wanted_type in kinds:
            del sandbox.soap_drops[index]
            server._local.drop = True
            return


def _perform(sandbox: NetSuiteSandbox, operation: str, parsed: Any) -> dict[str, Any]:
    books = sandbox.books
    if operation in ("upsertList", "upsert"):
        records = list(parsed.record) if operation == "upsertList" else [parsed.record]
        responses = [_write(sandbox, r) for r in records]
        if operation == "upsert":
            return {"writeResponse": responses[0]}
        return {"writeResponseList": {"status": _status(True), "writeResponse": responses}}
    if operation == "get":
        ref = parsed.baseRef
        key = f"eid:{ref.externalId}" if ref.externalId else str(ref.internalId or "")
        try:
            rec = books.get(str(ref.type), key)
        except NsError as exc:
            code = "RCRD_DSNT_EXIST" if exc.status == 404 else exc.code
            return {"readResponse": {"status": _status(False, code, exc.message)}}
        return {"readResponse": {"status": _status(True), "record": _to_record(sandbox, str(ref.type), rec)}}
    if operation == "initialize":
        init = parsed.initializeRecord
        try:
            if init.reference is None or str(init.reference.type) != "salesOrder":
                raise NsError(
                    "INVALID_INITIALIZE_REF", "Only a sales order is initialised into an invoice here."
                )
            made = books.transform(str(init.reference.internalId or ""), str(init.type))
        except NsError as exc:
            code = "RCRD_DSNT_EXIST" if exc.status == 404 else exc.code
            return {"readResponse": {"status": _status(False, code, exc.message)}}
        record = _to_record(sandbox, str(init.type), {**made, "id": ""})
        return {"readResponse": {"status": _status(True), "record": record}}
    if operation == "getAll":
        table = str(parsed.record.recordType)
        rows = books.table(table)
        records = [soap_list_record(table, r) for r in rows]
        return {
            "getAllResult": {
                "status": _status(True),
                "totalRecords": len(records),
                "recordList": {"record": records},
            }
        }
    if operation == "search":
        search = parsed.searchRecord
        table = _SEARCH_TABLES.get(search._xsd_type.name, "")
        if not table:
            return {"searchResult": {"status": _status(False, "INVALID_SEARCH", "Unsupported search.")}}
        if table == "transaction":
            wanted = search.tranId.searchValue if search.tranId is not None else None
            records = [
                _to_record(sandbox, t, {**r, "id": i})
                for t in TRANSACTION_TYPES for i, r in books.records[t].items()
                if wanted is None or r.get("tranId") == wanted
            ]  # fmt: skip
        elif table == "item":
            records = [_to_record(sandbox, "nonInventorySaleItem", {**r, "id": i})
                       for i, r in books.records["nonInventorySaleItem"].items()]  # fmt: skip
        else:
            records = [soap_list_record(table, r) for r in books.table(table)]
        return {"searchResult": {"status": _status(True), "totalRecords": len(records), "pageSize": 1000,
                                 "totalPages": 1, "pageIndex": 1, "recordList": {"record": records}}}  # fmt: skip
    return {}


__all__ += ["NS", "wsdl_client"]
