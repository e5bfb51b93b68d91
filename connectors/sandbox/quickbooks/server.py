"""A QuickBooks Online v3 company on 127.0.0.1, faithful to the parts of the contract we use.

It serves the OAuth 2.0 token endpoint (refresh tokens rotate; the old one dies at once unless a
grace window is configured) and ``/v3/company/{realm}/...``: create ``salesreceipt``,
``refundreceipt``, ``invoice``, ``creditmemo``, ``journalentry``, ``deposit``, ``payment``,
``customer``, ``item``; read by id; ``query``; ``batch``; ``preferences``; ``exchangerate``. Like
QuickBooks it

* refuses a missing or expired bearer token (401, fault 3200) and an unknown realm (403, 3100);
* validates references (610), ``Amount = Qty x UnitPrice`` (6070), balanced journals (6000),
  ``DocNumber`` length (2050) and uniqueness per entity (6140; with ``duplicate_numbers="record"``
  a repeated number is stored instead, so duplicates can be counted), the closing date (6200);
* computes sales tax from each line's tax code with the company's rounding (``document``: per
  code on the document total, or ``line``), honouring tax stated per rate (``TxnTaxDetail.TaxLine``)
  or a ``TotalTax`` override; books each sales line to its item's income account (the read-back
  sees revenue where QuickBooks puts it, not where the line says); a company outside the US has no
  ``NON`` tax code;
* refuses a payment linked to another customer's invoice or above its balance, a duplicate customer
  or item name (6240);
* answers a repeated ``requestid`` with the stored first answer (optionally forgotten after
  ``idempotency_ttl`` seconds, to exercise look-ups);
* enforces 10 requests a second, 500 a minute, 10 at once and 40 batch calls a minute (all
  configurable) with 429 fault 3001, sending ``Retry-After`` only when ``retry_after`` is set
  (QuickBooks itself sends none); :meth:`requests_inside_retry_after` lists any request that came
  inside such a window.

Documents are kept in memory with their ``TotalAmt`` (:meth:`documents`).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from connectors.jsonwire import dumps, loads
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.quickbooks.company import (
    ALL_ENTITIES,
    CREATABLE_LISTS,
    TXN_ENTITIES,
    QboChart,
    QboCompany,
    QboFault,
    fault_body,
    now_text,
)
from connectors.sandbox.quickbooks.oauth import OAuthTokenStore

__all__ = ["QboLimits", "QuickBooksSandbox"]


@dataclass(frozen=True)
class QboLimits:
    """QuickBooks' published limits per realm (None switches one off)."""

    per_second: int | None = 10
    per_minute: int | None = 500
    concurrent: int | None = 10
    batch_per_minute: int | None = 40
    batch_size: int = 30


class QuickBooksSandbox(SandboxServer):
    """One QuickBooks Online company (realm) and its authorization server; see the module docstring.

    ``credentials()`` and ``ledger_settings()`` give what a :class:`~connectors.base.LedgerConfig`
    needs to talk to it.
    """

    vendor = "quickbooks"
    TOKEN_PATH = "/oauth2/v1/tokens/bearer"
    AUTHORIZE_PATH = "/connect/oauth2"

    def __init__(
        self,
        *,
        realm_id: str = "",
        home_currency: str = "USD",
        client_id: str = "qbo-client",
        client_secret: str = "qbo-secret",  # noqa: S107 - a fake server's fake secret
        access_lifetime: int = 3600,
        refresh_grace: float = 0.0,
        token_delay: float = 0.0,
        tax_rounding: str = "document",
        limits: QboLimits | None = None,
        retry_after: float | None = 1.0,
        idempotency_ttl: float | None = None,
        book_close_date: date | None = None,
        country: str = "US",
        chart: QboChart | None = None,
        currencies: tuple[str, ...] = (),
        duplicate_numbers: str = "refuse",
        company_name: str = "Sandbox Company_GB_1",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host, port, seed)
        self.realm_id = realm_id or str(9130000000000000 + secrets.randbelow(10**12))
        self.limits = limits or QboLimits()
        self.retry_after = retry_after
        self.idempotency_ttl = idempotency_ttl
        self.tokens = OAuthTokenStore(
            client_id,
            client_secret,
            access_lifetime=access_lifetime,
            refresh_grace=refresh_grace,
            delay=token_delay,
            extra_fields={"x_refresh_token_expires_in": 8726400},
        )
        self.company = QboCompany(
            home_currency=home_currency,
            tax_rounding=tax_rounding,
            book_close_date=book_close_date,
            country=country,
            chart=chart,
            currencies=currencies,
            duplicate_numbers=duplicate_numbers,
        )
        self.company_name = company_name
        self._answers: dict[str, tuple[float, Response]] = {}
        self._calls: deque[float] = deque()
        self._batch_calls: deque[float] = deque()
        self._in_flight = 0
        self.retry_windows: list[tuple[float, float]] = []

    # -- helpers for tests and the demo --------------------------------------------------------

    @property
    def token_url(self) -> str:
        """The token endpoint (``settings["token_url"]`` of the connection)."""
        return self.url + self.TOKEN_PATH

    def credentials(self) -> dict[str, Any]:
        """Fresh credentials of a connected company (tokens issued now)."""
        tokens = self.tokens.issue()
        expires = datetime.fromtimestamp(time.time() + int(tokens["expires_in"]), UTC)
        return {
            "client_id": self.tokens.client_id,
            "client_secret": self.tokens.client_secret,
            "realm_id": self.realm_id,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": expires.isoformat(),
        }

    def ledger_settings(self) -> dict[str, Any]:
        """Connection settings pointing the OAuth client at this sandbox."""
        return {"token_url": self.token_url, "authorize_url": self.url + self.AUTHORIZE_PATH}

    def documents(self, entity: str) -> list[dict[str, Any]]:
        """Stored documents of an entity (``SalesReceipt`` ...), oldest first."""
        with self.lock:
            return [dict(row) for row in self.company.entities[entity].values()]

    def edit(self, entity: str, remote_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Someone edits a stored document in QuickBooks (``change`` alters it in place), as a user
        of the real company file may; the read-back check must notice."""
        with self.lock:
            change(self.company.entities[entity][remote_id])

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]]) -> None:
        """Replace the company's chart with ours: accounts (code, name, type: asset, liability,
        equity, revenue, expense) and tax codes (code, name, rate as a fraction); one tax rate per
        code. Receivable, bank and clearing accounts get QuickBooks' account types from their names."""
        rows: list[dict[str, Any]] = []
        for n, (code, name, kind) in enumerate(accounts, start=1):
            lowered = name.lower()
            account_type = {
                "asset": "Accounts Receivable" if "receivable" in lowered
                else "Bank" if any(w in lowered for w in ("bank", "clearing", "cash", "money")) else "Other Current Asset",
                "liability": "Other Current Liability",
                "equity": "Equity",
                "revenue": "Income",
                "expense": "Expense",
            }[kind]  # fmt: skip
            classification = {"revenue": "Revenue"}.get(kind, kind.capitalize())
            rows.append({"Id": str(n), "AcctNum": code, "Name": name, "FullyQualifiedName": name,
                         "Classification": classification, "AccountType": account_type, "Active": True})  # fmt: skip
        with self.lock:
            entities = self.company.entities
            entities["Account"] = {str(row["Id"]): row for row in rows}
            entities["Item"] = {}
            entities["TaxRate"] = {}
            entities["TaxCode"] = {}
            for n, (code, name, rate) in enumerate(tax_codes, start=1):
                entities["TaxRate"][f"r{n}"] = {
                    "Id": f"r{n}",
                    "Name": name,
                    "RateValue": Decimal(rate) * 100,
                    "Active": True,
                }
                entities["TaxCode"][f"t{n}"] = {"Id": f"t{n}", "Name": code, "Description": name, "Active": True, "Taxable": True,
                                                "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": f"r{n}"}}]}}  # fmt: skip

    def forget_request_ids(self) -> None:
        """Forget every stored ``requestid`` answer (as if the retention window had passed)."""
        with self.lock:
            self._answers.clear()

    def requests_inside_retry_after(self) -> list[Request]:
        """API requests that arrived while a 429's Retry-After window was still open."""
        with self.lock:
            windows = list(self.retry_windows)
            api = [r for r in self.requests if r.path.startswith("/v3/")]
        return [r for r in api if any(start < r.received_at < end for start, end in windows)]

    # -- vendor flavour ------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """QuickBooks' Fault body for an injected or routing error."""
        if status == 429:
            fault = QboFault(
                "3001",
                "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "The request limit was reached.",
                429,
                "SERVICE",
            )
        elif status >= 500:
            fault = QboFault(
                "10000",
                "An application error has occurred while processing your request",
                message,
                status,
                "SystemFault",
            )
        else:
            fault = QboFault("2030", "Invalid ID", message, status)
        return fault_body([fault])

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Headers of a 429; the window is recorded for :meth:`requests_inside_retry_after`."""
        now = time.time()
        with self.lock:
            self.retry_windows.append((now, now + retry_after))
        return super().rate_limit_headers(retry_after)

    def _respond(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(status, dumps(body), headers or {})

    def _fault(self, *faults: QboFault) -> Response:
        return self._respond(faults[0].status, fault_body(list(faults)))

    # -- the gate: authentication, realm, limits -------------------------------------------------

    def _call(self, req: Request) -> Response:
        """Authenticate, check the realm and the limits, then route."""
        if not req.path.startswith("/v3/"):
            return super()._call(req)
        token = req.header("Authorization").removeprefix("Bearer ").strip()
        if not self.tokens.access_valid(token):
            return self._fault(
                QboFault(
                    "3200",
                    "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "Token expired or invalid",
                    401,
                    "AUTHENTICATION",
                )
            )
        if not req.path.startswith(f"/v3/company/{self.realm_id}/"):
            return self._fault(
                QboFault(
                    "3100",
                    "message=ApplicationAuthorizationFailed; errorCode=003100",
                    "The app is not authorised for this company",
                    403,
                    "AUTHORIZATION",
                )
            )
        refused = self._admit(req)
        if refused is not None:
            return refused
        try:
            return super()._call(req)
        finally:
            with self.lock:
                self._in_flight -= 1

    def _admit(self, req: Request) -> Response | None:
        """Take a slot under the limits, or answer 429 and open a Retry-After window."""
        now = time.time()
        is_batch = req.path.endswith("/batch")
        lim = self.limits
        with self.lock:
            for calls in (self._calls, self._batch_calls):
                while calls and calls[0] <= now - 60:
                    calls.popleft()
            over = (
                (lim.per_second is not None and sum(1 for t in self._calls if t > now - 1) >= lim.per_second)
                or (lim.per_minute is not None and len(self._calls) >= lim.per_minute)
                or (lim.concurrent is not None and self._in_flight >= lim.concurrent)
                or (
                    is_batch
                    and lim.batch_per_minute is not None
                    and len(self._batch_calls) >= lim.batch_per_minute
                )
            )
            if over:
                wait = self.retry_after if self.retry_after is not None else 60.0
                self.retry_windows.append((now, now + wait))
            else:
                self._calls.append(now)
                if is_batch:
                    self._batch_calls.append(now)
                self._in_flight += 1
        if not over:
            return None
        headers = {} if self.retry_after is None else super().rate_limit_headers(self.retry_after)
        return self._respond(429, self.error_body(429, "rate limited"), headers)

    # -- OAuth ---------------------------------------------------------------------------------

    @route("POST", TOKEN_PATH)
    def token(self, req: Request) -> Response:
        """The token endpoint (authorization_code and refresh_token grants)."""
        return self.tokens.handle(req)

    @route("GET", AUTHORIZE_PATH)
    def authorize(self, req: Request) -> Response:
        """The consent screen, already consented: redirect back with a code and the realm id."""
        redirect = req.arg("redirect_uri")
        code = self.tokens.issue_code(redirect, req.arg("code_challenge"), req.arg("code_challenge_method"))
        query = urlencode({"code": code, "state": req.arg("state"), "realmId": self.realm_id})
        return Response(302, b"", {"Location": f"{redirect}?{query}"})

    # -- API -----------------------------------------------------------------------------------

    def _company_info(self, company_id: str) -> Response:
        """``GET companyinfo/{realm}``: the ``CompanyInfo`` entity (XSD element names)."""
        if company_id != self.realm_id:
            return self._fault(
                QboFault("610", "Object Not Found", f"Object Not Found : CompanyInfo {company_id}")
            )
        info = {"Id": self.realm_id, "SyncToken": "0", "CompanyName": self.company_name,
                "LegalName": self.company_name, "CompanyStartDate": "2020-01-01", "FiscalYearStartMonth": "April",
                "Country": "GB" if self.company.home_currency == "GBP" else "US", "SupportedLanguages": "en",
                "DefaultTimeZone": "Europe/London" if self.company.home_currency == "GBP" else "America/New_York",
                "MetaData": {"CreateTime": "2020-01-01T09:00:00-08:00", "LastUpdatedTime": now_text()}}  # fmt: skip
        return self._respond(200, {"CompanyInfo": info, "time": now_text()})

    @route("POST", "/v3/company/{realm}/{resource}")
    def create(self, req: Request) -> Response:
        """Create an entity, or run a batch; a repeated requestid gets the first answer."""
        resource = req.params["resource"].lower()
        key = req.arg("requestid")
        with self.lock:  # one writer at a time: a repeated requestid must see the first answer
            stored = self._answers.get(key) if key else None
            if stored is not None and (
                self.idempotency_ttl is None or time.time() - stored[0] < self.idempotency_ttl
            ):
                return stored[1]
            try:
                body = loads(req.body or b"null")
                answer: dict[str, Any]
                if resource == "batch":
                    answer = {"BatchItemResponse": self.company.batch(body, self.limits.batch_size)}
                elif resource in TXN_ENTITIES:
                    entity = TXN_ENTITIES[resource]
                    answer = {entity: self.company.create(entity, body)}
                elif resource in CREATABLE_LISTS:
                    entity = CREATABLE_LISTS[resource]
                    answer = {entity: self.company.create_list(entity, body)}
                else:
                    raise QboFault(
                        "2010", "Request has invalid or unsupported property", f"Unsupported {resource}"
                    )
                response = self._respond(200, {**answer, "time": now_text()})
            except ValueError:
                response = self._fault(QboFault("2500", "Invalid Request", "Request body is not valid JSON"))
            except QboFault as fault:
                response = self._fault(fault)
            if key:
                self._answers[key] = (time.time(), response)
            return response

    @route("GET", "/v3/company/{realm}/{resource}")
    def read_collection(self, req: Request) -> Response:
        """``query`` and ``preferences``."""
        resource = req.params["resource"].lower()
        try:
            with self.lock:
                if resource == "preferences":
                    return self._respond(200, {"Preferences": self.company.preferences(), "time": now_text()})
                if resource == "query":
                    return self._respond(
                        200, {"QueryResponse": self.company.query(req.arg("query")), "time": now_text()}
                    )
                if resource == "exchangerate":
                    try:
                        on = date.fromisoformat(req.arg("asofdate") or date.today().isoformat())
                    except ValueError:
                        raise QboFault(
                            "2010", "Request has invalid or unsupported property", "asofdate"
                        ) from None
                    rate = self.company.exchange_rate(req.arg("sourcecurrencycode").upper(), on)
                    return self._respond(200, {"ExchangeRate": rate, "time": now_text()})
            raise QboFault("2010", "Request has invalid or unsupported property", f"Unsupported {resource}")
        except QboFault as fault:
            return self._fault(fault)

    @route("GET", "/v3/company/{realm}/{resource}/{id}")
    def read_one(self, req: Request) -> Response:
        """Read one entity by id; ``companyinfo/{realm}`` is the company's own record."""
        if req.params["resource"].lower() == "companyinfo":
            return self._company_info(req.params["id"])
        entity = ALL_ENTITIES.get(req.params["resource"].lower(), "")
        with self.lock:
            row = self.company.entities[entity].get(req.params["id"]) if entity else None
        if row is None:
            return self._fault(
                QboFault("610", "Object Not Found", f"Object Not Found : {entity} {req.params['id']}")
            )
        return self._respond(200, {entity: row, "time": now_text()})
