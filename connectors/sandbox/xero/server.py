"""The HTTP face of the Xero sandbox: OAuth endpoints, authentication, tenant, limits, idempotency.

Like Xero it

* refuses a missing or expired bearer token (401) and an unknown ``xero-tenant-id`` (403) with
  Xero's problem bodies;
* enforces 60 calls a minute, 5,000 a day and 5 at once per tenant (configurable): 429 with
  ``Retry-After`` and ``X-Rate-Limit-Problem`` (``minute``, ``day``, ``concurrent``), and sends
  ``X-DayLimit-Remaining`` / ``X-MinLimit-Remaining`` on every answer;
* answers a repeated ``Idempotency-Key`` with the stored first answer (optionally forgotten after
  ``idempotency_ttl`` seconds);
* answers ``summarizeErrors=true`` (Xero's default) with one 400 ``ValidationException`` and saves
  nothing when any document is invalid, ``summarizeErrors=false`` with 200 and per-item results.

:meth:`XeroSandbox.requests_inside_retry_after` lists any API request that came inside a
Retry-After window the sandbox gave.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from connectors.jsonwire import dumps, loads
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.quickbooks.oauth import OAuthTokenStore
from connectors.sandbox.xero.organisation import COLLECTIONS, Organisation, XeroInvalid

__all__ = ["XeroLimits", "XeroSandbox"]

API_PREFIX = "/api.xro/2.0/"


@dataclass(frozen=True)
class XeroLimits:
    """Xero's published limits per tenant (None switches one off)."""

    per_minute: int | None = 60
    per_day: int | None = 5000
    concurrent: int | None = 5


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    # Xero's identity layer answers problem details; its "Type" is null, left out here so the body
    # also fits the documented Error schema (which types "Type" as a string).
    return {"Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4())}


def _validation_error(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": elements}  # fmt: skip


class XeroSandbox(SandboxServer):
    """One Xero organisation (tenant) and its identity server; see the module docstring.

    ``credentials()`` and ``ledger_settings()`` give what a :class:`~connectors.base.LedgerConfig`
    needs to talk to it; ``organisation`` holds the documents.
    """

    vendor = "xero"
    TOKEN_PATH = "/connect/token"
    AUTHORIZE_PATH = "/identity/connect/authorize"

    def __init__(
        self,
        *,
        tenant_id: str = "",
        base_currency: str = "USD",
        client_id: str = "xero-client",
        client_secret: str = "xero-secret",  # noqa: S107 - a fake server's fake secret
        access_lifetime: int = 1800,
        refresh_grace: float = 1800.0,
        token_delay: float = 0.0,
        tax_rounding: str = "line",
        limits: XeroLimits | None = None,
        retry_after: float = 1.0,
        idempotency_ttl: float | None = None,
        currencies: tuple[str, ...] = (),
        accounts: list[dict[str, Any]] | None = None,
        tax_rates: list[dict[str, Any]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host, port, seed)
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.limits = limits or XeroLimits()
        self.retry_after = retry_after
        self.idempotency_ttl = idempotency_ttl
        self.tokens = OAuthTokenStore(
            client_id,
            client_secret,
            access_lifetime=access_lifetime,
            refresh_grace=refresh_grace,
            delay=token_delay,
            extra_fields={"scope": "offline_access accounting.transactions accounting.settings"},
        )
        self.organisation = Organisation(
            base_currency=base_currency,
            tax_rounding=tax_rounding,
            currencies=currencies,
            accounts=accounts,
            tax_rates=tax_rates,
        )
        self._answers: dict[str, tuple[float, Response]] = {}
        self._minute: deque[float] = deque()
        self._day: deque[float] = deque()
        self._in_flight = 0
        self.retry_windows: list[tuple[float, float]] = []

    # -- helpers for tests and the demo --------------------------------------------------------

    @property
    def token_url(self) -> str:
        """The token endpoint (``settings["token_url"]`` of the connection)."""
        return self.url + self.TOKEN_PATH

    def credentials(self) -> dict[str, Any]:
        """Fresh credentials of a connected organisation (tokens issued now)."""
        tokens = self.tokens.issue()
        expires = datetime.fromtimestamp(time.time() + int(tokens["expires_in"]), UTC)
        return {
            "client_id": self.tokens.client_id,
            "client_secret": self.tokens.client_secret,
            "tenant_id": self.tenant_id,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": expires.isoformat(),
        }

    def ledger_settings(self) -> dict[str, Any]:
        """Connection settings pointing the OAuth client at this sandbox."""
        return {"token_url": self.token_url, "authorize_url": self.url + self.AUTHORIZE_PATH}

    def documents(self, collection: str) -> list[dict[str, Any]]:
        """Stored documents of a collection (``Invoices`` ...), oldest first."""
        with self.lock:
            return [dict(row) for row in self.organisation.documents[collection]]

    def set_lock_dates(self, period: date | None = None, end_of_year: date | None = None) -> None:
        """Set the organisation's period and end-of-year lock dates."""
        with self.lock:
            self.organisation.period_lock_date = period
            self.organisation.end_of_year_lock_date = end_of_year

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]]) -> None:
        """Replace the organisation's chart with ours: accounts (code, name, type: asset, liability,
        equity, revenue, expense) and tax rates (code as TaxType, name, rate as a fraction). Bank,
        clearing, cash and mobile-money accounts are BANK accounts (so transfers and payments can use
        them); a receivable account is the DEBTORS system account."""
        rows = []
        for code, name, kind in accounts:
            lowered = name.lower()
            system = ""
            if kind == "asset" and "receivable" in lowered:
                type_, class_, system = "CURRENT", "ASSET", "DEBTORS"
            elif kind == "asset" and any(w in lowered for w in ("bank", "clearing", "cash", "money")):
                type_, class_ = "BANK", "ASSET"
            else:
                type_, class_ = {"asset": ("CURRENT", "ASSET"), "liability": ("CURRLIAB", "LIABILITY"),
                                 "equity": ("EQUITY", "EQUITY"), "revenue": ("REVENUE", "REVENUE"),
                                 "expense": ("EXPENSE", "EXPENSE")}[kind]  # fmt: skip
            rows.append({"AccountID": str(uuid.uuid4()), "Code": code, "Name": name, "Type": type_, "Class": class_,
                         "Status": "ACTIVE", "EnablePaymentsToAccount": False, **({"SystemAccount": system} if system else {}),
                         **({"BankAccountType": "BANK"} if type_ == "BANK" else {})})  # fmt: skip
        rates = [
            {
                "TaxType": code,
                "Name": name,
                "EffectiveRate": Decimal(rate) * 100,
                "DisplayTaxRate": Decimal(rate) * 100,
                "Status": "ACTIVE",
                "CanApplyToRevenue": True,
                "TaxComponents": [{"Name": name, "Rate": Decimal(rate) * 100, "IsCompound": False}],
            }
            for code, name, rate in tax_codes
        ]
        rates.append({"TaxType": "NONE", "Name": "No Tax", "EffectiveRate": Decimal(0), "DisplayTaxRate": Decimal(0),
                      "Status": "ACTIVE", "CanApplyToRevenue": True, "TaxComponents": []})  # fmt: skip
        with self.lock:
            self.organisation.accounts = rows
            self.organisation.tax_rates = rates

    def forget_idempotency_keys(self) -> None:
        """Forget every stored Idempotency-Key answer."""
        with self.lock:
            self._answers.clear()

    def requests_inside_retry_after(self) -> list[Request]:
        """API requests that arrived while a 429's Retry-After window was still open."""
        with self.lock:
            windows = list(self.retry_windows)
            api = [r for r in self.requests if r.path.startswith(API_PREFIX)]
        return [r for r in api if any(start < r.received_at < end for start, end in windows)]

    # -- vendor flavour ------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Xero's body for an injected or routing error."""
        if status == 429:
            return _problem(429, "Too Many Requests", "TooManyRequests")
        if status >= 500:
            return {"ErrorNumber": status, "Type": "UnknownErrorException", "Message": message}
        return {"ErrorNumber": status, "Type": "NotFoundException", "Message": message}

    def rate_limit_headers(self, retry_after: float, problem: str = "minute") -> dict[str, str]:
        """Headers of a 429; the window is recorded for :meth:`requests_inside_retry_after`."""
        now = time.time()
        with self.lock:
            self.retry_windows.append((now, now + retry_after))
        return {**super().rate_limit_headers(retry_after), "X-Rate-Limit-Problem": problem}

    def _respond(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(status, dumps(body), headers or {})

    # -- the gate ------------------------------------------------------------------------------

    def _call(self, req: Request) -> Response:
        """Authenticate, check the tenant and the limits, route, add the budget headers."""
        if not (req.path.startswith(API_PREFIX) or req.path == "/connections"):
            return super()._call(req)
        token = req.header("Authorization").removeprefix("Bearer ").strip()
        if not self.tokens.access_valid(token):
            return self._respond(401, _problem(401, "Unauthorized", "AuthenticationUnsuccessful"))
        if req.path.startswith(API_PREFIX) and req.header("xero-tenant-id") != self.tenant_id:
            return self._respond(403, _problem(403, "Forbidden", "AuthorizationUnsuccessful"))
        refused = self._admit()
        if refused is not None:
            return refused
        try:
            response = super()._call(req)
        finally:
            with self.lock:
                self._in_flight -= 1
        with self.lock:
            response.headers.update(self._budget_headers(time.time()))
        return response

    def _budget_headers(self, now: float) -> dict[str, str]:
        headers = {}
        if self.limits.per_day is not None:
            headers["X-DayLimit-Remaining"] = str(max(0, self.limits.per_day - len(self._day)))
        if self.limits.per_minute is not None:
            headers["X-MinLimit-Remaining"] = str(max(0, self.limits.per_minute - len(self._minute)))
        return headers

    def _admit(self) -> Response | None:
        """Take a slot under the limits, or answer 429 naming the limit and open a window."""
        now = time.time()
        lim = self.limits
        with self.lock:
            while self._minute and self._minute[0] <= now - 60:
                self._minute.popleft()
            while self._day and self._day[0] <= now - 86400:
                self._day.popleft()
            problem = ""
            if lim.per_day is not None and len(self._day) >= lim.per_day:
                problem = "day"
            elif lim.per_minute is not None and len(self._minute) >= lim.per_minute:
                problem = "minute"
            elif lim.concurrent is not None and self._in_flight >= lim.concurrent:
                problem = "concurrent"
            if not problem:
                self._minute.append(now)
                self._day.append(now)
                self._in_flight += 1
                return None
        wait = self.retry_after if problem != "day" else max(self.retry_after, 86400 - (now - self._day[0]))
        return self._respond(429, self.error_body(429, problem), self.rate_limit_headers(wait, problem))

    # -- OAuth ---------------------------------------------------------------------------------

    @route("POST", TOKEN_PATH)
    def token(self, req: Request) -> Response:
        """The token endpoint (authorization_code and refresh_token grants)."""
        return self.tokens.handle(req)

    @route("GET", AUTHORIZE_PATH)
    def authorize(self, req: Request) -> Response:
        """The consent screen, already consented: redirect back with a code."""
        redirect = req.arg("redirect_uri")
        code = self.tokens.issue_code(redirect, req.arg("code_challenge"), req.arg("code_challenge_method"))
        query = urlencode({"code": code, "state": req.arg("state"), "scope": req.arg("scope")})
        return Response(302, b"", {"Location": f"{redirect}?{query}"})

    @route("GET", "/connections")
    def connections(self, req: Request) -> Response:
        """The tenants this token may use."""
        now = datetime.now(UTC).isoformat()
        row = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.tenant_id)), "authEventId": str(uuid.uuid4()),
               "tenantId": self.tenant_id, "tenantType": "ORGANISATION", "tenantName": "Sandbox Imports Ltd",
               "createdDateUtc": now, "updatedDateUtc": now}  # fmt: skip
        return self._respond(200, [row])

    # -- API -----------------------------------------------------------------------------------

    def _envelope(self, name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "integrator sandbox",
                "DateTimeUTC": f"/Date({int(time.time() * 1000)})/", name: rows}  # fmt: skip

    @route("PUT", "/api.xro/2.0/{collection}")
    def put(self, req: Request) -> Response:
        """Create documents; a repeated Idempotency-Key gets the first answer."""
        collection = req.params["collection"]
        if collection not in COLLECTIONS:
            return self._respond(404, self.error_body(404, f"The resource {collection} cannot be found"))
        key = req.header("Idempotency-Key")
        with self.lock:  # one writer at a time: a repeated key must see the first answer
            stored = self._answers.get(key) if key else None
            if stored is not None and (
                self.idempotency_ttl is None or time.time() - stored[0] < self.idempotency_ttl
            ):
                return stored[1]
            response = self._create_all(req, collection)
            if key:
                self._answers[key] = (time.time(), response)
            return response

    def _create_all(self, req: Request, collection: str) -> Response:
        """Create every document of a PUT, summarising errors or answering per item."""
        try:
            body = loads(req.body or b"null")
        except ValueError:
            return self._respond(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                       "Message": "The JSON body could not be read"})  # fmt: skip
        items = body.get(collection) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return self._respond(
                400, _validation_error([{"ValidationErrors": [{"Message": f"{collection} missing"}]}])
            )
        summarize = req.arg("summarizeErrors", "true").lower() != "false"
        unitdp = 4 if req.arg("unitdp") == "4" else 2
        org = self.organisation
        saved = copy.deepcopy(org.documents)
        results: list[dict[str, Any]] = []
        failed = False
        for item in items:
            try:
                results.append(org.create(collection, item, unitdp))
            except XeroInvalid as exc:
                failed = True
                errors = [{"Message": m} for m in exc.messages]
                flagged = {
                    **item,
                    "HasErrors": True,
                    "StatusAttributeString": "ERROR",
                    "ValidationErrors": errors,
                }
                results.append(flagged)
        if failed and summarize:
            org.documents = saved  # Xero saves nothing when it summarises errors
            return self._respond(400, _validation_error([r for r in results if r.get("HasErrors")]))
        return self._respond(200, self._envelope(collection, results))

    @route("PUT", "/api.xro/2.0/CreditNotes/{id}/Allocations")
    def allocations(self, req: Request) -> Response:
        """Allocate a credit note to invoices; a repeated Idempotency-Key gets the first answer."""
        key = req.header("Idempotency-Key")
        with self.lock:
            stored = self._answers.get(key) if key else None
            if stored is not None:
                return stored[1]
            try:
                body = loads(req.body or b"null")
                made = self.organisation.allocate(req.params["id"], (body or {}).get("Allocations"))
                response = self._respond(200, self._envelope("Allocations", made))
            except (ValueError, AttributeError):
                response = self._respond(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException",
                                               "Message": "The JSON body could not be read"})  # fmt: skip
            except XeroInvalid as exc:
                response = self._respond(
                    400, _validation_error([{"ValidationErrors": [{"Message": m} for m in exc.messages]}])
                )
            if key:
                self._answers[key] = (time.time(), response)
            return response

    @route("GET", "/api.xro/2.0/{collection}")
    def get_collection(self, req: Request) -> Response:
        """Lists, documents (with ``where``) and ``Organisation``."""
        name = req.params["collection"]
        with self.lock:
            if name == "Organisation":
                return self._respond(200, self._envelope("Organisations", [self.organisation.organisation()]))
            rows = self.organisation.lists(name)
            try:
                rows = self.organisation.where(rows, req.arg("where"))
            except XeroInvalid as exc:
                return self._respond(400, _validation_error([{"ValidationErrors": [{"Message": str(exc)}]}]))
            return self._respond(200, self._envelope(name, rows))

    @route("GET", "/api.xro/2.0/{collection}/{id}")
    def get_one(self, req: Request) -> Response:
        """One document by its id."""
        name, wanted = req.params["collection"], req.params["id"]
        with self.lock:
            for row in self.organisation.lists(name):
                if wanted in (str(v) for k, v in row.items() if k.endswith("ID")):
                    return self._respond(200, self._envelope(name, [row]))
        return self._respond(404, self.error_body(404, "The resource you're looking for cannot be found"))
