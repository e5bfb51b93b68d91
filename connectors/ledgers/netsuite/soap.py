"""The NetSuite SuiteTalk SOAP transport (WSDL 2023.2 in ``shared/specs/netsuite``), with zeep.

SOAP web services are retired by NetSuite in release 2028.2: this transport stays behind the same
LedgerTarget as REST (same records, same external ids, same books) so a connection can move to
REST by changing its platform, nothing else.

* Every call carries a fresh ``tokenPassport`` (account, consumer key, token, nonce, timestamp,
  HMAC-SHA256 signature, :mod:`.auth`).
* Records are written with ``upsertList`` keyed on ``externalId``, at most 50 a call; every
  ``writeResponse/status/@isSuccess`` is checked and a failed one classified by its
  ``statusDetail/code``; sublists go with ``replaceAll="true"``, so a re-send replaces lines.
* A sales order is billed with ``initialize`` (type ``invoice``, reference the ``salesOrder``):
  the invoice NetSuite makes from it (lines, customer, ``createdFrom``) is completed with our
  number, dates, A/R account and tax details with the override and written with ``upsertList``
  under its ``externalId``, so a re-send after a lost answer is the same invoice.
* Records are read with ``get`` (by internal or external id), lists with ``getAll`` (currencies)
  and ``search`` (accounts, subsidiaries, periods, tax codes, items, transactions by number).
* Faults: ``WS_CONCUR_SESSION_DISALLWD`` / ``WS_REQUEST_BLOCKED`` (too many requests at once) are
  rate-limited retries (the connection waits before its next call), invalid credentials are
  AuthExpired, everything else is classified by its code.

Messages are built and read by zeep from the WSDL but travel through
:class:`~connectors.http.VendorHTTP` (timeouts, the shared limit, the call log).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from lxml import etree

from connectors.base import AuthExpired, ConnectorError, LedgerConfig, Permanent, SetupField, Uncertain
from connectors.http import RateLimit, VendorHTTP
from connectors.ledgers.netsuite.auth import TbaCredentials, account_host, token_passport
from connectors.ledgers.netsuite.documents import NsRecord
from connectors.ledgers.netsuite.errors import CONCURRENCY_CODES, classify_codes
from connectors.ledgers.netsuite.soap_records import (
    from_soap,
    list_row,
    service,
    soap_type,
    to_soap,
    wsdl_client,
)
from connectors.ledgers.netsuite.target import COMMON_SETUP_FIELDS, NetSuiteBase

__all__ = ["SOAP_PATH", "NetSuiteSoapTarget", "soap_base_url"]

SOAP_PATH = "/services/NetSuitePort_2023_2"
CHUNK = 50
_SEARCHES = {
    "account": ("common", "AccountSearchBasic"),
    "subsidiary": ("common", "SubsidiarySearchBasic"),
    "accountingperiod": ("common", "AccountingPeriodSearchBasic"),
    "salestaxitem": ("common", "SalesTaxItemSearchBasic"),
    "item": ("common", "ItemSearchBasic"),
    "transaction": ("common", "TransactionSearchBasic"),
}
_SEARCH_FIELDS = {"tranid": "tranId", "externalid": "externalIdString"}


def soap_base_url(account_id: str) -> str:
    """The account's SuiteTalk host."""
    return f"https://{account_host(account_id)}.suitetalk.api.netsuite.com"


class _Reply:
    """The parts of a requests response zeep's ``process_reply`` reads."""

    def __init__(self, status: int, content: bytes, headers: Mapping[str, str]) -> None:
        self.status_code = status
        self.content = content
        self.headers = dict(headers)
        self.encoding = "utf-8"


def _status_codes(status: Any) -> list[tuple[str, str]]:
    details = getattr(status, "statusDetail", None) or []
    return [(str(d.code or ""), str(d.message or "")) for d in details]


class NetSuiteSoapTarget(NetSuiteBase):
    """Posts PostingDocuments to one NetSuite account through SuiteTalk SOAP (token passport).

    Config as :class:`~connectors.ledgers.netsuite.rest.NetSuiteTarget` (token-based credentials
    only: SOAP has no OAuth 2.0), ``base_url`` the SuiteTalk host.
    """

    platform = "netsuite_soap"
    display_name = "Oracle NetSuite (SuiteTalk SOAP, retired in 2028.2)"
    max_batch = CHUNK
    setup_fields = (
        SetupField("base_url", "SuiteTalk address", kind="url",
                   help="Leave empty for the account's own (https://<account>.suitetalk.api.netsuite.com)."),
        *COMMON_SETUP_FIELDS,
    )  # fmt: skip

    def __init__(self, config: LedgerConfig) -> None:
        super().__init__(config)
        creds = config.credentials
        self.tba = TbaCredentials(self.account_id, str(creds.get("consumer_key") or ""),
                                  str(creds.get("consumer_secret") or ""), str(creds.get("token_id") or ""),
                                  str(creds.get("token_secret") or ""))  # fmt: skip
        concurrency = int(config.settings.get("concurrency") or 5)
        self.http = VendorHTTP(
            vendor="netsuite",
            base_url=config.base_url or soap_base_url(self.account_id),
            connection_key=self.account_id or config.connection_id,
            rate_limit=RateLimit(concurrent=concurrency),
            max_wait=float(config.settings.get("max_wait_seconds", 30)),
            default_retry_after=float(config.settings.get("default_retry_after", 5)),
        )
        self.blocked_wait = float(config.settings.get("default_retry_after", 5))
        self.service = service(self.http.url(SOAP_PATH))

    # -- calls -----------------------------------------------------------------------------------

    def _passport(self) -> Any:
        if not (self.tba.consumer_key and self.tba.token_id):
            raise AuthExpired("netsuite: no token-based credentials are stored; connect NetSuite again")
        p = token_passport(self.tba, nonce=secrets.token_hex(16), timestamp=int(time.time()))
        return soap_type("core", "TokenPassport")(
            account=p.account,
            consumerKey=p.consumer_key,
            token=p.token,
            nonce=p.nonce,
            timestamp=p.timestamp,
            signature={"_value_1": p.signature, "algorithm": p.algorithm},
        )

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """One SOAP call with a fresh token passport; faults classified."""
        from zeep.exceptions import Fault

        client = wsdl_client()
        message = client.create_message(self.service, operation, **kwargs,
                                        _soapheaders={"tokenPassport": self._passport()})  # fmt: skip
        body = etree.tostring(message, xml_declaration=True, encoding="utf-8")
        write = operation in ("upsertList", "upsert", "addList", "add", "updateList")
        response = self.http.request(
            "POST", SOAP_PATH, data=body, raise_for_status=False,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": operation},
            idempotency_key=operation if write else "",
        )  # fmt: skip
        binding = self.service._binding
        try:
            reply = binding.process_reply(client, binding.get(operation), _Reply(response.status_code, response.content,
                                                                                  response.headers))  # fmt: skip
            # The answer has a header (documentInfo) and a body of one part: the result itself.
            body = getattr(reply, "body", reply)
            return next(iter(body.__values__.values())) if hasattr(body, "__values__") else body
        except Fault as fault:
            code = ""
            if fault.detail is not None:
                found = fault.detail.xpath("//*[local-name()='code']")
                code = found[0].text if found else ""
            error = classify_codes([(code, str(fault.message))], status=response.status_code)
            if code in CONCURRENCY_CODES:
                self.http.limiter.block_for(self.blocked_wait)
            raise error from None
        except ConnectorError:
            raise
        except Exception as exc:  # not a SOAP answer at all (a proxy's error page, a cut body)
            if response.status_code >= 500:
                raise classify_codes(
                    [("", f"HTTP {response.status_code}")], status=response.status_code
                ) from exc
            if write:
                raise Uncertain(f"netsuite: unreadable answer to {operation}; look the records up") from exc
            raise Permanent(f"netsuite: unreadable answer to {operation}: {exc}") from exc

    # -- primitives --------------------------------------------------------------------------------

    @staticmethod
    def _soap_record(record: NsRecord) -> Any:
        fields = dict(record.fields)
        if record.type == "deposit":
            fields.pop("currency", None)  # a deposit takes its bank account's currency
        return to_soap(record.type, record.external_id, fields, record.sublists)

    def _upsert(self, record: NsRecord) -> str:
        outcome = self._upsert_list([record])[0]
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def _upsert_list(self, records: list[NsRecord]) -> list[str | ConnectorError]:
        """``upsertList``: one outcome per record, each ``status/@isSuccess`` checked."""
        answer = self._call("upsertList", record=[self._soap_record(r) for r in records])
        responses = list(getattr(answer, "writeResponse", None) or [])
        if len(responses) != len(records):
            raise Uncertain("netsuite: the upsertList answer does not match the request; look the records up")
        out: list[str | ConnectorError] = []
        for response in responses:
            if response.status.isSuccess and response.baseRef is not None and response.baseRef.internalId:
                out.append(str(response.baseRef.internalId))
            elif response.status.isSuccess:
                out.append(Uncertain("netsuite: a successful write named no record; look it up"))
            else:
                out.append(classify_codes(_status_codes(response.status)))
        return out

    def _send_many(self, records: list[NsRecord]) -> list[str | ConnectorError]:
        """``upsertList`` in chunks of 50; a duplicate number is resolved by look-up."""
        out: list[str | ConnectorError] = []
        for start in range(0, len(records), CHUNK):
            chunk = records[start : start + CHUNK]
            try:
                outcomes = self._upsert_list(chunk)
            except ConnectorError as exc:
                outcomes = [exc] * len(chunk)
            for record, outcome in zip(chunk, outcomes, strict=True):
                if type(outcome).__name__ == "DuplicateRecord":
                    try:
                        outcome = self._upsert_resolving(record)
                    except ConnectorError as exc:
                        outcome = exc
                out.append(outcome)
        return out

    def _bill(self, order_id: str, invoice: NsRecord) -> str:
        """``initialize`` an invoice from the order, complete it with ours, then upsert it."""
        reference = soap_type("core", "InitializeRef")(type="salesOrder", internalId=order_id)
        answer = self._call("initialize", initializeRecord=soap_type("core", "InitializeRecord")(
            type=invoice.type, reference=reference))  # fmt: skip
        if not answer.status.isSuccess:
            raise classify_codes(_status_codes(answer.status))
        _, made = from_soap(answer.record)
        kept = (
            "entity",
            "currency",
            "subsidiary",
            "exchangeRate",
            "createdFrom",
            "department",
            "class",
            "location",
        )
        fields = {k: made[k] for k in kept if k in made}
        fields.update(invoice.fields)
        lines = tuple({k: v for k, v in row.items() if k not in ("line",)} for row in made.get("item") or [])
        return self._upsert(
            NsRecord(invoice.type, invoice.external_id, fields, {**invoice.sublists, "item": lines})
        )

    def _read(self, record_type: str, key: str) -> dict[str, Any] | None:
        """``get`` by internal id or external id; None when the record does not exist."""
        ref = {"type": record_type}
        ref["externalId" if key.startswith("eid:") else "internalId"] = (
            key[4:] if key.startswith("eid:") else key
        )
        answer = self._call("get", baseRef=soap_type("core", "RecordRef")(**ref))
        if not answer.status.isSuccess:
            codes = _status_codes(answer.status)
            if {c for c, _ in codes} & {"RCRD_DSNT_EXIST", "NONEXISTENT_ID"}:
                return None
            raise classify_codes(codes)
        _, record = from_soap(answer.record)
        return record

    def _rows(self, table: str, where: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """``getAll`` (currencies) or ``search`` with the table's basic search (one page)."""
        if table == "currency":
            answer = self._call("getAll", record={"recordType": "currency"})
        else:
            namespace, name = _SEARCHES[table]
            criteria = {
                _SEARCH_FIELDS[k]: {"operator": "is", "searchValue": v} for k, v in (where or {}).items()
            }
            answer = self._call("search", searchRecord=soap_type(namespace, name)(**criteria))
        if not answer.status.isSuccess:
            raise classify_codes(_status_codes(answer.status))
        records = list(getattr(answer.recordList, "record", None) or []) if answer.recordList else []
        return [list_row(table, r) for r in records]
