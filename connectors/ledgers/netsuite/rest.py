"""The NetSuite REST web services transport (``record/v1``, SuiteQL, asynchronous requests).

* A record is written with ``PUT /services/rest/record/v1/<type>/eid:<external id>`` (upsert: the
  same external id is the same record) and ``?replace=<sublists>``, so a re-send after a lost
  answer replaces the lines instead of adding any; the answer is ``204`` with the record's address
  in ``Location``.
* A batch sends its records as asynchronous requests (``Prefer: respond-async``), each with an
  ``X-NetSuite-idempotency-key`` derived from the record's external id, then reads every job's
  result: a repeated key is answered with the first job, never run twice.
* A sales order is billed with ``POST .../salesOrder/<id>/!transform/invoice``: the body (our
  number, dates, A/R account, tax details with the override, ``externalId``) completes the invoice
  NetSuite makes from the order, linked by ``createdFrom``; the answer is ``204`` with its
  ``Location``.
* Lists are read with SuiteQL (``POST /services/rest/query/v1/suiteql``, paged).
* Authentication: token-based (OAuth 1.0a, HMAC-SHA256, :mod:`.auth`) or OAuth 2.0 (bearer, one
  refresh on a 401).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import requests

from connectors.auth import LockFactory, OAuth2Client
from connectors.base import AuthExpired, ConnectorError, LedgerConfig, SetupField, Uncertain
from connectors.http import RateLimit, VendorHTTP, parse_retry_after
from connectors.jsonwire import dumps, loads
from connectors.ledgers.netsuite.auth import (
    TbaCredentials,
    account_host,
    netsuite_oauth2_provider,
    oauth1_header,
)
from connectors.ledgers.netsuite.documents import NsRecord, rest_body
from connectors.ledgers.netsuite.errors import classify_rest
from connectors.ledgers.netsuite.target import COMMON_SETUP_FIELDS, NetSuiteBase

__all__ = ["NetSuiteTarget", "rest_base_url"]

RECORD = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
PAGE = 1000
_TABLE_COLUMNS = {
    "account": "id, acctnumber, fullname, accttype, isinactive",
    "currency": "id, symbol, name",
    "subsidiary": "id, name, currency",
    "salestaxitem": "id, itemid, description, rate, isinactive",
    "accountingperiod": "id, periodname, startdate, enddate, closed, arlocked, alllocked",
    "item": "id, itemid, externalid, incomeaccount",
    "customer": "id, companyname, externalid, currency, subsidiary",
    "transaction": "id, tranid, externalid, type, trandate",
}


def rest_base_url(account_id: str) -> str:
    """The account's REST host (``https://<account>.suitetalk.api.netsuite.com``)."""
    return f"https://{account_host(account_id)}.suitetalk.api.netsuite.com"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _normal(record: Any) -> dict[str, Any]:
    """A REST record in normal form: sublists ``{"items": [...]}`` as lists of rows."""
    out: dict[str, Any] = {}
    for key, value in (record or {}).items():
        if isinstance(value, Mapping) and "items" in value:
            out[key] = list(value["items"])
        elif isinstance(value, Mapping) and "links" in value and "id" not in value:
            continue
        else:
            out[key] = value
    return out


class NetSuiteTarget(NetSuiteBase):
    """Posts PostingDocuments to one NetSuite account through REST web services.

    Config: ``base_url`` (default the account's REST host; a sandbox in tests), ``credentials``
    (``account_id`` and ``consumer_key``, ``consumer_secret``, ``token_id``, ``token_secret`` for
    token-based authentication, or ``client_id``, ``client_secret``, ``access_token``,
    ``refresh_token`` for OAuth 2.0), ``settings`` (``subsidiary_id``, ``department_id``,
    ``class_id``, ``location_id``, ``concurrency``, ``async_batches``).
    """

    platform = "netsuite"
    display_name = "Oracle NetSuite (REST)"
    max_batch = 50
    setup_fields = (
        SetupField("base_url", "REST address", kind="url",
                   help="Leave empty for the account's own (https://<account>.suitetalk.api.netsuite.com)."),
        *COMMON_SETUP_FIELDS,
        SetupField("client_id", "OAuth 2.0 client id", store="credentials",
                   help="Only when the integration uses OAuth 2.0 instead of tokens."),
        SetupField("client_secret", "OAuth 2.0 client secret", kind="secret", store="credentials"),
    )  # fmt: skip

    def __init__(
        self,
        config: LedgerConfig,
        *,
        oauth: OAuth2Client | None = None,
        lock_factory: LockFactory | None = None,
        load_credentials: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(config)
        creds = config.credentials
        self.tba: TbaCredentials | None = None
        self.oauth: OAuth2Client | None = oauth
        if creds.get("token_id"):
            self.tba = TbaCredentials(self.account_id, str(creds.get("consumer_key") or ""),
                                      str(creds.get("consumer_secret") or ""), str(creds.get("token_id") or ""),
                                      str(creds.get("token_secret") or ""))  # fmt: skip
        elif self.oauth is None and creds.get("refresh_token"):
            provider = netsuite_oauth2_provider(self.account_id)
            self.oauth = OAuth2Client.from_config(provider, config, load_credentials=load_credentials,
                                                  lock_factory=lock_factory)  # fmt: skip
        concurrency = int(config.settings.get("concurrency") or 5)
        self.http = VendorHTTP(
            vendor="netsuite",
            base_url=config.base_url or rest_base_url(self.account_id),
            connection_key=self.account_id or config.connection_id,
            rate_limit=RateLimit(concurrent=concurrency),
            max_wait=float(config.settings.get("max_wait_seconds", 30)),
            default_retry_after=float(config.settings.get("default_retry_after", 5)),
        )
        self.async_batches = bool(config.settings.get("async_batches", True))

    # -- HTTP ------------------------------------------------------------------------------------

    def _authorization(self, method: str, url: str, token: str) -> str:
        if self.tba is not None:
            return oauth1_header(self.tba, method, url)
        if self.oauth is not None:
            return f"Bearer {token}"
        raise AuthExpired(
            "netsuite: no token-based or OAuth 2.0 credentials are stored; connect NetSuite again"
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        key: str = "",
    ) -> requests.Response:
        """One signed call; a 401 with OAuth 2.0 refreshes once and retries once."""
        url = self.http.url(path) + (f"?{urlencode(dict(params))}" if params else "")
        data = dumps(body) if body is not None else None
        token = self.oauth.access_token() if self.oauth is not None and self.tba is None else ""
        for attempt in (1, 2):
            sent = {"Authorization": self._authorization(method, url, token), "Accept": "application/json",
                    **(headers or {})}  # fmt: skip
            if data is not None:
                sent["Content-Type"] = "application/json"
            response = self.http.request(method, url, data=data, headers=sent, idempotency_key=key)
            if response.status_code < 300 or response.status_code == 404:
                return response
            try:
                parsed = loads(response.content) if response.content else {}
            except ValueError:
                parsed = {}
            if response.status_code == 401 and self.oauth is not None and self.tba is None and attempt == 1:
                token = self.oauth.refresh(rejected_access_token=token)
                continue
            raise classify_rest(
                response.status_code, parsed, parse_retry_after(response.headers.get("Retry-After"))
            )
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _id_of(response: requests.Response) -> str:
        location = response.headers.get("Location", "")
        if not location:
            raise Uncertain("netsuite: the answer names no record; look it up")
        return location.rstrip("/").rsplit("/", 1)[-1]

    @staticmethod
    def _path(record: NsRecord) -> str:
        return f"{RECORD}/{record.type}/eid:{quote(record.external_id, safe='')}"

    @staticmethod
    def _replace(record: NsRecord) -> dict[str, str]:
        return {"replace": ",".join(record.sublists)} if record.sublists else {}

    # -- primitives --------------------------------------------------------------------------------

    def _upsert(self, record: NsRecord) -> str:
        """``PUT .../eid:<external id>?replace=<sublists>``; the id from ``Location``."""
        response = self._request("PUT", self._path(record), params=self._replace(record), body=rest_body(record),
                                 key=record.external_id)  # fmt: skip
        if response.status_code == 404:
            raise classify_rest(404, loads(response.content or b"{}"))
        return self._id_of(response)

    def _bill(self, order_id: str, invoice: NsRecord) -> str:
        """``POST .../salesOrder/<id>/!transform/invoice`` with the invoice's body; the id from
        ``Location``. A lost answer is resolved by the look-up of the invoice's external id."""
        path = f"{RECORD}/salesOrder/{quote(order_id, safe='')}/!transform/{invoice.type}"
        response = self._request("POST", path, body=rest_body(invoice), key=f"bill:{invoice.external_id}")
        if response.status_code == 404:
            raise classify_rest(404, loads(response.content or b"{}"))
        return self._id_of(response)

    def _read(self, record_type: str, key: str) -> dict[str, Any] | None:
        """``GET .../<id or eid:..>?expandSubResources=true``; None on 404."""
        if key.startswith("eid:"):
            key = "eid:" + quote(key[4:], safe="")
        response = self._request(
            "GET", f"{RECORD}/{record_type}/{key}", params={"expandSubResources": "true"}
        )
        if response.status_code == 404:
            return None
        return _normal(loads(response.content))

    def _rows(self, table: str, where: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """A SuiteQL ``SELECT`` of the table's columns, every page."""
        # SuiteQL, not SQL: the table and columns are ours, every value is quoted by _literal.
        statement = f"SELECT {_TABLE_COLUMNS[table]} FROM {table}"  # noqa: S608  # nosec B608
        if where:
            statement += " WHERE " + " AND ".join(f"{k} = {_literal(v)}" for k, v in where.items())
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            response = self._request("POST", SUITEQL, params={"limit": str(PAGE), "offset": str(offset)},
                                     body={"q": statement}, headers={"Prefer": "transient"})  # fmt: skip
            page = loads(response.content) if response.content else {}
            rows += [dict(r) for r in page.get("items") or []]
            if not page.get("hasMore"):
                return rows
            offset += PAGE

    def _send_many(self, records: list[NsRecord]) -> list[str | ConnectorError]:
        """Asynchronous upserts with ``X-NetSuite-idempotency-key``, then each job's result."""
        if not self.async_batches or len(records) < 2:
            return super()._send_many(records)
        jobs: list[str | ConnectorError] = []
        for record in records:
            key = str(uuid.UUID(hashlib.sha256(f"{self.account_id}:{record.type}:{record.external_id}:"
                                               f"{record.total}".encode()).hexdigest()[:32]))  # fmt: skip
            try:
                response = self._request("PUT", self._path(record), params=self._replace(record),
                                         body=rest_body(record), key=key,
                                         headers={"Prefer": "respond-async", "X-NetSuite-idempotency-key": key})  # fmt: skip
                jobs.append(response.headers.get("Location", ""))
            except ConnectorError as exc:
                jobs.append(exc)
        out: list[str | ConnectorError] = []
        for record, job in zip(records, jobs, strict=True):
            if isinstance(job, ConnectorError):
                out.append(job)
                continue
            try:
                out.append(self._job_result(record, job))
            except ConnectorError as exc:
                out.append(exc)
        return out

    def _job_result(self, record: NsRecord, job: str) -> str:
        """Wait for an asynchronous job and return the record it wrote (or its classified error);
        a duplicate number is resolved like a synchronous one."""
        if not job:
            raise Uncertain("netsuite: the asynchronous request named no job; look the record up")
        for _ in range(60):
            state = loads(self._request("GET", job).content or b"{}")
            if state.get("completed"):
                break
            time.sleep(0.5)
        else:
            raise Uncertain("netsuite: the asynchronous job did not finish; look the record up")
        try:
            response = self._request("GET", f"{job}/task/{job.rstrip('/').rsplit('/', 1)[-1]}/result")
        except ConnectorError as exc:
            if type(exc).__name__ == "DuplicateRecord":
                return self._upsert_resolving(record)
            raise
        if response.status_code == 404:
            raise classify_rest(404, loads(response.content or b"{}"))
        return self._id_of(response)
