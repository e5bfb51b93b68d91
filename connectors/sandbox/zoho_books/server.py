"""The HTTP face of the Zoho Books sandbox: OAuth, authentication, organisation, limits, routes.

Like Zoho it

* runs an accounts server: ``/oauth/v2/auth`` sends the user back with ``code``, ``location`` and
  ``accounts-server``; ``/oauth/v2/token`` takes the client's id and secret in the form body,
  answers the code grant with a refresh token and the ``api_domain``, and the refresh grant with a
  new access token only (Zoho's refresh tokens do not rotate); errors come as ``{"error": ...}``;
* refuses a missing or expired ``Zoho-oauthtoken`` (401, code 57) and a missing or unknown
  ``organization_id``;
* enforces 100 calls a minute per organisation and a daily allowance (429 without Retry-After);
* answers every call with the ``{"code": 0, "message": "success", ...}`` envelope, and errors
  with their own code (``code_200_errors`` makes it answer refusals with HTTP 200, which Zoho
  does for some, so a client must read ``code``).

:meth:`ZohoBooksSandbox.requests_inside_pause` lists any API request that came while a 429's
pause (``pause`` seconds, which the client must keep on its own) was still running.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

from connectors.jsonwire import dumps, loads
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.zoho_books.organisation import Organisation, ZohoInvalid

__all__ = ["ZohoBooksSandbox", "ZohoTokens"]

API_PREFIX = "/books/v3"
LIST_KEYS = {"invoices": "invoices", "salesorders": "salesorders", "creditnotes": "creditnotes", "customerpayments": "customer_payments",
             "journals": "journals", "banktransactions": "banktransactions", "expenses": "expenses"}  # fmt: skip
ONE_KEYS = {"invoices": "invoice", "salesorders": "salesorder", "creditnotes": "creditnote", "customerpayments": "payment",
            "journals": "journal", "banktransactions": "banktransaction", "expenses": "expense"}  # fmt: skip
FILTERS = (
    "invoice_number",
    "salesorder_number",
    "creditnote_number",
    "reference_number",
    "customer_id",
    "status",
)


def _as_zoho(body: dict[str, Any]) -> dict[str, Any]:
    """An answer with the types Zoho's documents give: an invoice's ``total`` and ``balance`` and a
    credit note's tax amounts are strings (the books keep Decimals)."""
    out = dict(body)
    for key in ("invoice", "invoices"):
        if key in out:
            rows = out[key] if isinstance(out[key], list) else [out[key]]
            shaped = [{**r, **{f: str(r[f]) for f in ("total", "balance") if f in r}} for r in rows]
            out[key] = shaped if isinstance(out[key], list) else shaped[0]
    for key in ("creditnote", "creditnotes"):
        if key in out:
            rows = out[key] if isinstance(out[key], list) else [out[key]]
            shaped = [{**r, "taxes": [{**t, "tax_amount": str(t["tax_amount"])} for t in r.get("taxes") or []]}
                      for r in rows]  # fmt: skip
            out[key] = shaped if isinstance(out[key], list) else shaped[0]
    if "customer_payments" in out:
        out["customer_payments"] = [
            {**r, "payment_number": str(r["payment_number"])} for r in out["customer_payments"]
        ]
    return out


class ZohoTokens:
    """Zoho's accounts server: codes, access tokens, non-rotating refresh tokens, client in the form."""

    def __init__(
        self, client_id: str, client_secret: str, api_domain: Callable[[], str], lifetime: int = 3600
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_domain = api_domain
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        self._codes: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []

    def issue(self) -> dict[str, Any]:
        """A fresh token set (for seeding a connection's credentials in tests)."""
        with self._lock:
            refresh = secrets.token_urlsafe(24)
            self._refresh.add(refresh)
            return {**self._access_token(), "refresh_token": refresh}

    def _access_token(self) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        self._access[token] = time.time() + self.lifetime
        return {"access_token": token, "api_domain": self.api_domain(), "token_type": "Bearer",
                "expires_in": self.lifetime}  # fmt: skip

    def issue_code(self, redirect_uri: str) -> str:
        """An authorisation code, as the consent screen gives it."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = redirect_uri
        return code

    def access_valid(self, token: str) -> bool:
        """A known access token that has not expired."""
        with self._lock:
            return self._access.get(token, 0.0) > time.time()

    def expire_access_tokens(self) -> None:
        """Every access token expired: the next API call answers 401."""
        with self._lock:
            self._access = dict.fromkeys(self._access, 0.0)

    def revoke_refresh_tokens(self) -> None:
        """The user removed the app: refreshes are refused."""
        with self._lock:
            self._refresh.clear()

    def count(self, grant_type: str, outcome: str = "") -> int:
        """Token requests of a grant type (and outcome)."""
        with self._lock:
            return sum(1 for g, o in self.calls if g == grant_type and (not outcome or o == outcome))

    def handle(self, req: Request) -> Response:
        """One token request (form body; Zoho also takes the fields in the query string)."""
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8")).items()}
        form.update({k: v[0] for k, v in req.query.items() if k not in form})
        grant = form.get("grant_type", "")
        with self._lock:
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                answer: dict[str, Any] = {"error": "invalid_client"}
            elif grant == "authorization_code":
                redirect = self._codes.pop(form.get("code", ""), None)
                if redirect is None or redirect != form.get("redirect_uri"):
                    answer = {"error": "invalid_code"}
                else:
                    refresh = secrets.token_urlsafe(24)
                    self._refresh.add(refresh)
                    answer = {**self._access_token(), "refresh_token": refresh}
            elif grant == "refresh_token":
                answer = (
                    self._access_token()
                    if form.get("refresh_token") in self._refresh
                    else {"error": "invalid_code"}
                )
            else:
                answer = {"error": "unsupported_grant_type"}
            self.calls.append((grant, str(answer.get("error", "ok"))))
        return Response(200, answer, {"Cache-Control": "no-store"})


class ZohoBooksSandbox(SandboxServer):
    """One Zoho Books organisation and its accounts server; see the module docstring."""

    vendor = "zoho_books"

    def __init__(
        self,
        *,
        base_currency: str = "USD",
        tax_rounding: str = "line",
        per_minute: int | None = 100,
        per_day: int | None = 1000,
        pause: float = 60.0,
        currencies: tuple[str, ...] = (),
        client_id: str = "1000.SANDBOXCLIENT",
        client_secret: str = "zoho-sandbox-secret",  # noqa: S107 - a fake server's fake secret
        code_200_errors: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host, port, seed)
        self.organization_id = str(700000000 + secrets.randbelow(99_999_999))  # one per sandbox
        self.organisation = Organisation(organization_id=self.organization_id, base_currency=base_currency,
                                         tax_rounding=tax_rounding)  # fmt: skip
        for code in currencies:
            self.organisation.add_currency(code)
        self.tokens = ZohoTokens(client_id, client_secret, lambda: self.url)
        self.per_minute, self.per_day, self.pause = per_minute, per_day, pause
        self.code_200_errors = code_200_errors
        self._minute: deque[float] = deque()
        self._day: deque[float] = deque()
        self.pauses: list[tuple[float, float]] = []
        self._seed_default_chart()

    def _seed_default_chart(self) -> None:
        org = self.organisation
        for code, name, kind in (("1000", "Bank", "bank"), ("1100", "Stripe clearing", "bank"),
                                 ("1200", "Accounts Receivable", "accounts_receivable"),
                                 ("2100", "Tax payable", "other_current_liability"), ("4000", "Sales", "income"),
                                 ("4100", "Shipping income", "income"), ("6100", "Bank fees", "expense"),
                                 ("6200", "Chargebacks", "expense")):  # fmt: skip
            org.add_account(code, name, kind)
        org.add_tax("VAT20", Decimal("20"))
        org.add_tax("ZERO", Decimal("0"))

    def __enter__(self) -> ZohoBooksSandbox:
        self.start()
        return self

    # -- helpers for tests and the demo --------------------------------------------------------

    def credentials(self) -> dict[str, Any]:
        """Fresh credentials of a connected organisation."""
        tokens = self.tokens.issue()
        expires = datetime.fromtimestamp(time.time() + int(tokens["expires_in"]), UTC)
        return {"client_id": self.tokens.client_id, "client_secret": self.tokens.client_secret,
                "tenant_id": self.organization_id, "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"], "expires_at": expires.isoformat(),
                "accounts_server": self.url, "api_domain": self.url}  # fmt: skip

    def ledger_settings(self) -> dict[str, Any]:
        """Connection settings pointing the OAuth client at this sandbox."""
        return {"token_url": self.url + "/oauth/v2/token", "authorize_url": self.url + "/oauth/v2/auth",
                "rate_limit_pause_seconds": self.pause}  # fmt: skip

    def documents(self, resource: str) -> list[dict[str, Any]]:
        """Stored documents of a resource (``invoices`` ...), oldest first."""
        with self.lock:
            return [dict(r) for r in self.organisation.docs[resource].values()]

    def set_lock(self, module: str, until: date | None) -> None:
        """Lock a module (``sales``, ``purchases``, ``banking``, ``accountant``, or ``all``) up to
        a date (None: unlock); ``GET /transactionlocks`` lists it from then on."""
        with self.lock:
            if until is None:
                self.organisation.locks.pop(module, None)
            else:
                self.organisation.locks[module] = until

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]]) -> None:
        """Replace the chart with ours: accounts (code, name, type: asset, liability, equity, revenue,
        expense) and taxes (our code as the tax name, name, rate as a fraction). Bank, clearing, cash
        and mobile-money accounts are ``bank`` accounts; a receivable is ``accounts_receivable``."""
        with self.lock:
            org = self.organisation
            org.accounts.clear()
            org.taxes.clear()
            for code, name, kind in accounts:
                lowered = name.lower()
                if kind == "asset" and "receivable" in lowered:
                    zoho_type = "accounts_receivable"
                elif kind == "asset" and any(w in lowered for w in ("bank", "clearing", "cash", "money")):
                    zoho_type = "bank"
                else:
                    zoho_type = {"asset": "other_current_asset", "liability": "other_current_liability",
                                 "equity": "equity", "revenue": "income", "expense": "expense"}[kind]  # fmt: skip
                org.add_account(code, name, zoho_type)
            for code, _name, rate in tax_codes:
                org.add_tax(code, Decimal(rate) * 100)

    def requests_inside_pause(self) -> list[Request]:
        """API requests that arrived while a 429's pause was still running."""
        with self.lock:
            windows = list(self.pauses)
            api = [r for r in self.requests if r.path.startswith(API_PREFIX)]
        return [r for r in api if any(start < r.received_at < end for start, end in windows)]

    # -- vendor flavour ------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Zoho's envelope for an injected or routing error."""
        if status == 429:
            return {
                "code": 44,
                "message": "You have made too many requests continuously. Please try again after some time.",
            }
        if status >= 500:
            return {"code": 500, "message": f"Internal server error ({message})"}
        return {"code": 5, "message": "Invalid URL Passed"}

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Zoho sends no Retry-After: the pause is the client's; it is recorded here."""
        now = time.time()
        with self.lock:
            self.pauses.append((now, now + self.pause))
        return {}

    def _json(self, body: dict[str, Any], status: int = 200) -> Response:
        return Response(status, dumps({"code": 0, "message": "success", **_as_zoho(body)}))

    def _refusal(self, exc: ZohoInvalid) -> Response:
        status = 200 if self.code_200_errors else exc.status
        return Response(status, dumps({"code": exc.code, "message": exc.message}))

    # -- the gate ------------------------------------------------------------------------------

    def _call(self, req: Request) -> Response:
        if not req.path.startswith(API_PREFIX):
            return super()._call(req)
        token = req.header("Authorization").removeprefix("Zoho-oauthtoken ").strip()
        if not self.tokens.access_valid(token):
            return Response(
                401, dumps({"code": 57, "message": "You are not authorized to perform this operation"})
            )
        if (
            req.path.rstrip("/") != API_PREFIX + "/organizations"
            and req.arg("organization_id") != self.organization_id
        ):
            return Response(
                400, dumps({"code": 6041, "message": "This user is not associated with the organization."})
            )
        refused = self._admit()
        if refused is not None:
            return refused
        req.path = req.path[len(API_PREFIX) :] or "/"
        try:
            return super()._call(req)
        finally:
            req.path = API_PREFIX + req.path

    def _admit(self) -> Response | None:
        now = time.time()
        with self.lock:
            while self._minute and self._minute[0] <= now - 60:
                self._minute.popleft()
            while self._day and self._day[0] <= now - 86400:
                self._day.popleft()
            if self.per_day is not None and len(self._day) >= self.per_day:
                body = {
                    "code": 45,
                    "message": "You have reached the maximum number of API calls allowed for the day.",
                }
                self.pauses.append((now, now + 86400))
                return Response(429, dumps(body))
            if self.per_minute is not None and len(self._minute) >= self.per_minute:
                return Response(429, dumps(self.error_body(429, "")), self.rate_limit_headers(self.pause))
            self._minute.append(now)
            self._day.append(now)
        return None

    def _answer_write(self, req: Request, make: Callable[[Any], dict[str, Any]]) -> Response:
        try:
            body = loads(req.body or b"{}")
        except ValueError:
            return Response(400, dumps({"code": 4, "message": "Invalid JSON"}))
        with self.lock:
            try:
                return self._json(make(body), 201)
            except ZohoInvalid as exc:
                return self._refusal(exc)

    # -- OAuth ---------------------------------------------------------------------------------

    @route("GET", "/oauth/v2/auth")
    def authorize(self, req: Request) -> Response:
        """The consent screen, already consented: back with code, location and accounts-server."""
        redirect = req.arg("redirect_uri")
        code = self.tokens.issue_code(redirect)
        query = urlencode(
            {"state": req.arg("state"), "code": code, "location": "us", "accounts-server": self.url}
        )
        return Response(302, b"", {"Location": f"{redirect}?{query}"})

    @route("POST", "/oauth/v2/token")
    def token(self, req: Request) -> Response:
        """The token endpoint."""
        return self.tokens.handle(req)

    # -- organisation and lists ----------------------------------------------------------------

    @route("GET", "/organizations")
    def organizations(self, req: Request) -> Response:
        """The organisations of the token."""
        with self.lock:
            return self._json({"organizations": [self.organisation.organisation()]})

    @route("GET", "/organizations/{id}")
    def organization(self, req: Request) -> Response:
        """One organisation."""
        with self.lock:
            return self._json({"organization": self.organisation.organisation()})

    @route("GET", "/chartofaccounts")
    def chart(self, req: Request) -> Response:
        """The chart of accounts."""
        with self.lock:
            return self._json({"chartofaccounts": list(self.organisation.accounts.values())})

    @route("GET", "/settings/taxes")
    def taxes(self, req: Request) -> Response:
        """Taxes."""
        with self.lock:
            return self._json({"taxes": list(self.organisation.taxes.values()),
                               "page_context": {"page": 1, "per_page": 200, "has_more_page": False}})  # fmt: skip

    @route("GET", "/settings/currencies")
    def currencies(self, req: Request) -> Response:
        """Currencies."""
        with self.lock:
            return self._json({"currencies": list(self.organisation.currencies.values())})

    @route("GET", "/transactionlocks")
    def transaction_locks(self, req: Request) -> Response:
        """Transaction locks, paginated (``page``, ``per_page``: 10 by default, as Zoho's)."""
        page = max(1, int(req.arg("page") or 1))
        per_page = max(1, min(200, int(req.arg("per_page") or 10)))
        with self.lock:
            rows = self.organisation.transaction_locks()
        shown = rows[(page - 1) * per_page : page * per_page]
        more = len(rows) > page * per_page
        return self._json({"transaction_locks": shown, "page_context": {
            "page": page, "per_page": per_page, "has_more_page": more, "applied_filter": "Status.All",
            "sort_column": "start_date", "sort_order": "D"}})  # fmt: skip

    @route("GET", "/contacts")
    def contacts(self, req: Request) -> Response:
        """Contacts, filtered by ``contact_name`` and ``contact_type``."""
        with self.lock:
            rows = [c for c in self.organisation.contacts.values()
                    if (not req.arg("contact_name") or c["contact_name"] == req.arg("contact_name"))
                    and (not req.arg("contact_type") or c["contact_type"] == req.arg("contact_type"))]  # fmt: skip
            return self._json(
                {"contacts": rows, "page_context": {"page": 1, "per_page": 200, "has_more_page": False}}
            )

    @route("POST", "/contacts")
    def create_contact(self, req: Request) -> Response:
        """Create a contact."""
        return self._answer_write(req, lambda b: {"contact": self.organisation.create_contact(b)})

    @route("GET", "/items")
    def items(self, req: Request) -> Response:
        """Items, filtered by ``name``."""
        with self.lock:
            rows = [
                i
                for i in self.organisation.items.values()
                if not req.arg("name") or i["name"] == req.arg("name")
            ]
            return self._json(
                {"items": rows, "page_context": {"page": 1, "per_page": 200, "has_more_page": False}}
            )

    @route("GET", "/items/{id}")
    def item(self, req: Request) -> Response:
        """One item."""
        with self.lock:
            row = self.organisation.items.get(req.params["id"])
        if row is None:
            return Response(404, dumps({"code": 1002, "message": "Item does not exist."}))
        return self._json({"item": row})

    @route("POST", "/items")
    def create_item(self, req: Request) -> Response:
        """Create an item."""
        return self._answer_write(req, lambda b: {"item": self.organisation.create_item(b)})

    # -- documents -----------------------------------------------------------------------------

    @route("POST", "/invoices")
    def create_invoice(self, req: Request) -> Response:
        """Create an invoice (``ignore_auto_number_generation=true`` keeps our number)."""
        keep = req.arg("ignore_auto_number_generation") == "true"
        return self._answer_write(
            req, lambda b: {"invoice": self.organisation.create_invoice(b, ignore_auto_number=keep)}
        )

    @route("PUT", "/invoices/{id}")
    def update_invoice(self, req: Request) -> Response:
        """Update an invoice."""
        return self._answer_write(
            req, lambda b: {"invoice": self.organisation.update_invoice(req.params["id"], b)}
        )

    @route("POST", "/invoices/{id}/status/sent")
    def mark_sent(self, req: Request) -> Response:
        """Mark an invoice sent."""

        def sent(_: Any) -> dict[str, Any]:
            self.organisation.mark_sent(req.params["id"])
            return {"message": "Invoice status has been changed to Sent."}

        return self._answer_write(req, sent)

    @route("GET", "/invoices/{id}/payments")
    def invoice_payments(self, req: Request) -> Response:
        """The payments of an invoice."""
        with self.lock:
            return self._json({"payments": self.organisation.invoice_payments(req.params["id"])})

    @route("POST", "/salesorders")
    def create_salesorder(self, req: Request) -> Response:
        """Create a sales order."""
        keep = req.arg("ignore_auto_number_generation") == "true"
        return self._answer_write(
            req, lambda b: {"salesorder": self.organisation.create_salesorder(b, ignore_auto_number=keep)}
        )

    @route("POST", "/salesorders/{id}/status/confirmed")
    def confirm_salesorder(self, req: Request) -> Response:
        """Confirm a sales order."""

        def confirmed(_: Any) -> dict[str, Any]:
            self.organisation.confirm_salesorder(req.params["id"])
            return {"message": "Sales Order status has been changed to 'Confirmed'."}

        return self._answer_write(req, confirmed)

    @route("POST", "/creditnotes")
    def create_creditnote(self, req: Request) -> Response:
        """Create a credit note."""
        keep = req.arg("ignore_auto_number_generation") == "true"
        return self._answer_write(
            req, lambda b: {"creditnote": self.organisation.create_creditnote(b, ignore_auto_number=keep)}
        )

    @route("POST", "/creditnotes/{id}/refunds")
    def refund(self, req: Request) -> Response:
        """Refund a credit note."""
        return self._answer_write(
            req, lambda b: {"creditnote_refund": self.organisation.refund(req.params["id"], b)}
        )

    @route("GET", "/creditnotes/{id}/refunds")
    def refunds(self, req: Request) -> Response:
        """The refunds of a credit note."""
        with self.lock:
            rows = [r for r in self.organisation.refunds.values() if r["creditnote_id"] == req.params["id"]]
        return self._json(
            {"creditnote_refunds": rows, "page_context": {"page": 1, "per_page": 200, "has_more_page": False}}
        )

    @route("GET", "/creditnotes/{id}/refunds/{refund}")
    def one_refund(self, req: Request) -> Response:
        """One refund."""
        with self.lock:
            row = self.organisation.refunds.get(req.params["refund"])
        if row is None:
            return Response(404, dumps({"code": 1002, "message": "Refund does not exist."}))
        return self._json({"creditnote_refund": row})

    @route("POST", "/creditnotes/{id}/invoices")
    def apply_credit(self, req: Request) -> Response:
        """Apply a credit note to invoices."""

        def applied(body: Any) -> dict[str, Any]:
            self.organisation.apply_credit(req.params["id"], body)
            return {"message": "Credits have been applied to the invoice(s)."}

        return self._answer_write(req, applied)

    @route("GET", "/creditnotes/{id}/invoices")
    def credited(self, req: Request) -> Response:
        """The invoices a credit note was applied to."""
        with self.lock:
            rows = [r for r in self.organisation.applied if r["creditnote_id"] == req.params["id"]]
        return self._json({"invoices_credited": rows})

    @route("POST", "/customerpayments")
    def create_payment(self, req: Request) -> Response:
        """Create a customer payment."""
        return self._answer_write(req, lambda b: {"payment": self.organisation.create_payment(b)})

    @route("POST", "/journals")
    def create_journal(self, req: Request) -> Response:
        """Create a journal."""
        return self._answer_write(req, lambda b: {"journal": self.organisation.create_journal(b)})

    @route("POST", "/banktransactions")
    def create_bank_transaction(self, req: Request) -> Response:
        """Create a bank transaction (a transfer)."""
        return self._answer_write(
            req, lambda b: {"banktransaction": self.organisation.create_bank_transaction(b)}
        )

    @route("POST", "/expenses")
    def create_expense(self, req: Request) -> Response:
        """Create an expense."""
        return self._answer_write(req, lambda b: {"expense": self.organisation.create_expense(b)})

    @route("GET", "/{resource}")
    def z_list_documents(self, req: Request) -> Response:
        """(Named to sort last: routes are tried in name order and this one is generic.) Invoices, credit notes, payments, journals, bank transactions, expenses, filtered."""
        resource = req.params["resource"]
        if resource not in LIST_KEYS:
            return Response(404, dumps(self.error_body(404, resource)))
        with self.lock:
            rows = [r for r in self.organisation.docs[resource].values()
                    if all(str(r.get(f, "")) == req.arg(f) for f in FILTERS if req.arg(f))]  # fmt: skip
            summary = [{k: v for k, v in r.items() if k not in ("line_items", "invoices")} for r in rows]
        return self._json({LIST_KEYS[resource]: summary,
                           "page_context": {"page": 1, "per_page": 200, "has_more_page": False}})  # fmt: skip

    @route("GET", "/{resource}/{id}")
    def z_one_document(self, req: Request) -> Response:
        """One document by its id (named to sort after the specific routes)."""
        resource = req.params["resource"]
        if resource not in LIST_KEYS:
            return Response(404, dumps(self.error_body(404, resource)))
        with self.lock:
            row = self.organisation.docs[resource].get(req.params["id"])
        if row is None:
            return Response(404, dumps({"code": 1002, "message": "The resource does not exist."}))
        return self._json({ONE_KEYS[resource]: row})
