"""A FreshBooks account on 127.0.0.1, faithful to the parts of the contract we use.

Like FreshBooks it

* issues access and rotating refresh tokens, authenticating the app by ``client_id`` and
  ``client_secret`` in the token request's body; ``/auth/api/v1/users/me`` names the user's
  business and its ``account_id``;
* keeps clients, taxes (``amount`` is the percentage), the journal-entry chart
  (``journal_entry_accounts``: accounts with numbered sub-accounts), invoices, payments and
  journal entries under ``/accounting/account/<account_id>/``;
* computes each invoice line's tax itself: ``taxAmount1`` is a percentage, the tax is the line
  amount times it, rounded to the cent;
* refuses a repeated ``invoice_number`` and an unbalanced journal entry (422, new error shape), an
  unknown client or tax (422), and a payment larger than what the invoice owes with the **old**
  error shape and **HTTP 200**, as FreshBooks may;
* takes no idempotency key (so a repeat makes a second document: the client must look first);
* answers ``search[invoice_number]``, ``search[invoiceid]``, ``search[name]`` and
  ``search[organization_like]`` on lists, paged (``page``, ``pages``, ``per_page``, ``total``).

:meth:`FreshBooksSandbox.requests_inside_retry_after` lists any request that came inside a
Retry-After window the sandbox gave (429s are injected: FreshBooks does not publish its limit).
"""

from __future__ import annotations

import functools
import itertools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from connectors.jsonwire import dumps, loads
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.quickbooks.oauth import OAuthTokenStore

__all__ = ["FreshBooksSandbox"]

ACC = "/accounting/account/{account}/"
CENT = Decimal("0.01")
COLLECTIONS = {
    "invoices": "invoice",
    "payments": "payment",
    "journal_entries": "journal_entry",
    "clients": "client",
}


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("refused")
        self.response = response


def _new_error(status: int, message: str, field: str = "", reason: str = "") -> Response:
    detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason or str(status),
              "domain": "accounting.api.freshbooks.com", "metadata": {"message": message, "field": field}}  # fmt: skip
    return Response(status, dumps({"code": 3, "message": f"Request failed with status_code: {status}",
                                   "details": [detail]}))  # fmt: skip


def _old_error(errno: int, message: str, field: str, obj: str, value: Any) -> Response:
    return Response(200, dumps({"response": {"errors": [{"errno": errno, "field": field, "message": message,
                                                         "object": obj, "value": str(value)}]}}))  # fmt: skip


def _dec(value: Any, field: str) -> Decimal:
    if isinstance(value, dict):
        value = value.get("amount")
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise _Refused(_new_error(422, "must be a number", field)) from exc


def _refusals(fn: Callable[[Any, Request], Response]) -> Callable[[Any, Request], Response]:
    """A handler whose :class:`_Refused` becomes its answer (the base server answers 500 otherwise)."""

    @functools.wraps(fn)
    def handler(self: Any, req: Request) -> Response:
        try:
            return fn(self, req)
        except _Refused as refused:
            return refused.response

    return handler


def _money(amount: Decimal, code: str) -> dict[str, Any]:
    return {"amount": amount.quantize(CENT), "code": code}


class FreshBooksSandbox(SandboxServer):
    """One FreshBooks account and its OAuth server; see the module docstring."""

    vendor = "freshbooks"
    TOKEN_PATH = "/auth/oauth/token"
    AUTHORIZE_PATH = "/oauth/authorize"

    def __init__(
        self,
        *,
        currency: str = "GBP",
        client_id: str = "fb-client",
        client_secret: str = "fb-secret",  # noqa: S107 - a fake server's fake secret
        access_lifetime: int = 43200,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host, port, seed)
        self.account_id = "A" + uuid.uuid4().hex[:6].upper()  # one per sandbox, like FreshBooks' ids
        self.business_id = 77001
        self.currency = currency
        self.tokens = OAuthTokenStore(
            client_id, client_secret, access_lifetime=access_lifetime, client_auth="post"
        )
        self._ids = itertools.count(100001)
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in COLLECTIONS}
        self.taxes: list[dict[str, Any]] = []
        self.accounts: list[dict[str, Any]] = []
        self.retry_windows: list[tuple[float, float]] = []
        self.seed_chart(
            [("1000", "Cash", "asset"), ("1200", "Accounts Receivable", "asset"), ("4000", "Sales", "revenue"),
             ("2200", "Sales Taxes Payable", "liability"), ("6100", "Bank fees", "expense")],
            [("VAT", "VAT", "0.20")],
        )  # fmt: skip

    # -- helpers for tests and the demo --------------------------------------------------------

    def credentials(self) -> dict[str, Any]:
        """Fresh credentials of a connected account (tokens issued now)."""
        tokens = self.tokens.issue()
        expires = datetime.fromtimestamp(time.time() + int(tokens["expires_in"]), UTC)
        return {"client_id": self.tokens.client_id, "client_secret": self.tokens.client_secret,
                "account_id": self.account_id, "business_id": str(self.business_id),
                "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                "expires_at": expires.isoformat()}  # fmt: skip

    def ledger_settings(
        self, sales: str = "4000", receivable: str = "1200", payments: str = "1000"
    ) -> dict[str, Any]:
        """Connection settings: the sandbox's token endpoints and the three booking accounts."""
        return {"token_url": self.url + self.TOKEN_PATH, "authorize_url": self.url + self.AUTHORIZE_PATH,
                "sales_account": sales, "receivable_account": receivable, "payments_account": payments}  # fmt: skip

    def seed_chart(self, accounts: list[tuple[str, str, str]], taxes: list[tuple[str, str, str]]) -> None:
        """Replace the chart (number, name, type) and taxes (name, name, rate as a fraction)."""
        types = {
            "revenue": "income",
            "asset": "asset",
            "liability": "liability",
            "equity": "equity",
            "expense": "expense",
        }
        with self.lock:
            self.accounts = [
                {"accountid": next(self._ids), "account_name": name, "account_number": code,
                 "account_type": types.get(kind, kind),
                 "sub_accounts": [{"subaccountid": next(self._ids), "account_sub_name": name, "account_sub_number": code}]}
                for code, name, kind in accounts
            ]  # fmt: skip
            self.taxes = [
                {"id": next(self._ids), "taxid": 0, "name": name, "amount": str(Decimal(rate) * 100), "compound": False,
                 "number": None, "accounting_systemid": self.account_id}
                for name, _, rate in taxes
            ]  # fmt: skip
            for tax in self.taxes:
                tax["taxid"] = tax["id"]

    def documents(self, collection: str) -> list[dict[str, Any]]:
        """Stored rows of a collection (``invoices``, ``payments``, ``journal_entries``, ``clients``)."""
        with self.lock:
            return [dict(r) for r in self.rows[collection]]

    def writes(self) -> list[Request]:
        """Every POST/PUT to the accounting API."""
        with self.lock:
            return [r for r in self.requests if r.path.startswith("/accounting/") and r.method != "GET"]

    def requests_inside_retry_after(self) -> list[Request]:
        """Requests that arrived while a 429's Retry-After window was still open."""
        with self.lock:
            windows = list(self.retry_windows)
            api = [r for r in self.requests if r.path.startswith(("/accounting/", "/auth/api/"))]
        return [r for r in api if any(start < r.received_at < end for start, end in windows)]

    # -- vendor flavour ------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """FreshBooks' new error shape for an injected or routing error."""
        return {"code": 14 if status >= 500 else 8, "message": message, "details": []}

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Headers of a 429; the window is recorded for :meth:`requests_inside_retry_after`."""
        now = time.time()
        with self.lock:
            self.retry_windows.append((now, now + retry_after))
        return super().rate_limit_headers(retry_after)

    def _call(self, req: Request) -> Response:
        """Authenticate API calls, check the account, then route; a refusal is answered as is."""
        if req.path.startswith(("/accounting/", "/auth/api/")):
            token = req.header("Authorization").removeprefix("Bearer ").strip()
            if not self.tokens.access_valid(token):
                return Response(
                    401,
                    dumps({"error": "unauthenticated", "error_description": "The access token is invalid"}),
                )
            if req.path.startswith("/accounting/") and f"/account/{self.account_id}/" not in req.path:
                return _new_error(403, "This account is not available to this user", "account_id", "1003")
        return super()._call(req)

    @staticmethod
    def _result(key: str, row: dict[str, Any]) -> Response:
        return Response(200, dumps({"response": {"result": {key: row}}}))

    def _page(self, key: str, rows: list[dict[str, Any]], req: Request) -> Response:
        per_page = min(int(req.arg("per_page", "15") or 15), 100)
        page = int(req.arg("page", "1") or 1)
        pages = max(1, -(-len(rows) // per_page))
        chunk = rows[(page - 1) * per_page : page * per_page]
        return Response(200, dumps({"response": {"result": {key: chunk, "page": page, "pages": pages,
                                                             "per_page": per_page, "total": len(rows)}}}))  # fmt: skip

    # -- OAuth and identity --------------------------------------------------------------------

    @route("POST", TOKEN_PATH)
    def token(self, req: Request) -> Response:
        """The token endpoint (authorization_code and refresh_token grants, JSON or form body)."""
        if req.header("Content-Type").startswith("application/json"):
            req.body = urlencode(loads(req.body or b"{}")).encode()
        return self.tokens.handle(req)

    @route("GET", AUTHORIZE_PATH)
    def authorize(self, req: Request) -> Response:
        """The consent screen, already consented: redirect back with a code."""
        redirect = req.arg("redirect_uri")
        code = self.tokens.issue_code(redirect)
        return Response(
            302, b"", {"Location": f"{redirect}?{urlencode({'code': code, 'state': req.arg('state')})}"}
        )

    @route("GET", "/auth/api/v1/users/me")
    def me(self, req: Request) -> Response:
        """The user and the business they belong to."""
        business = {"id": self.business_id, "name": "Kente & Clay Ltd", "account_id": self.account_id,
                    "business_uuid": "b-uuid", "timezone": "Europe/London"}  # fmt: skip
        return Response(200, dumps({"response": {"id": 12345, "first_name": "Ama", "last_name": "Mensah",
                                                 "email": "ama@example.com", "business_memberships": [
                                                     {"id": 1, "role": "owner", "business": business}]}}))  # fmt: skip

    # -- lists ---------------------------------------------------------------------------------

    @route("GET", ACC + "taxes/taxes")
    def list_taxes(self, req: Request) -> Response:
        """Taxes."""
        with self.lock:
            return self._page("taxes", list(self.taxes), req)

    @route("GET", ACC + "journal_entry_accounts/accounts")
    def list_accounts(self, req: Request) -> Response:
        """The journal-entry chart."""
        with self.lock:
            return self._page("accounts", list(self.accounts), req)

    @route("GET", ACC + "users/clients")
    def list_clients(self, req: Request) -> Response:
        """Clients, by ``search[organization_like]``."""
        wanted = req.arg("search[organization_like]").lower()
        with self.lock:
            rows = [r for r in self.rows["clients"] if wanted in str(r.get("organization", "")).lower()]
        return self._page("clients", rows, req)

    @route("GET", ACC + "invoices/invoices")
    def list_invoices(self, req: Request) -> Response:
        """Invoices, by ``search[invoice_number]``."""
        wanted = req.arg("search[invoice_number]")
        with self.lock:
            rows = [r for r in self.rows["invoices"] if not wanted or r["invoice_number"] == wanted]
        return self._page("invoices", rows, req)

    @route("GET", ACC + "payments/payments")
    def list_payments(self, req: Request) -> Response:
        """Payments, by ``search[invoiceid]``."""
        wanted = req.arg("search[invoiceid]")
        with self.lock:
            rows = [r for r in self.rows["payments"] if not wanted or str(r["invoiceid"]) == wanted]
        return self._page("payments", rows, req)

    @route("GET", ACC + "journal_entries/journal_entries")
    def list_journal_entries(self, req: Request) -> Response:
        """Journal entries, by ``search[name]``."""
        wanted = req.arg("search[name]")
        with self.lock:
            rows = [r for r in self.rows["journal_entries"] if not wanted or r["name"] == wanted]
        return self._page("journal_entries", rows, req)

    @route("GET", ACC + "{kind}/{collection}/{id}")
    def get_one(self, req: Request) -> Response:
        """One invoice, payment or journal entry by id."""
        collection = req.params["collection"]
        if collection not in COLLECTIONS:
            return _new_error(404, "not found", "id", "1012")
        with self.lock:
            row = next((r for r in self.rows[collection] if str(r["id"]) == req.params["id"]), None)
        if row is None:
            return _new_error(404, f"{COLLECTIONS[collection]} not found.", "id", "1012")
        return self._result(COLLECTIONS[collection], row)

    # -- creating ------------------------------------------------------------------------------

    def _body(self, req: Request, key: str) -> dict[str, Any]:
        try:
            body = loads(req.body or b"null")
        except ValueError as exc:
            raise _Refused(_new_error(400, "The request body is not valid JSON")) from exc
        data = body.get(key) if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise _Refused(_new_error(422, "This field is required.", key))
        return data

    @route("POST", ACC + "users/clients")
    @_refusals
    def create_client(self, req: Request) -> Response:
        """Create a client."""
        data = self._body(req, "client")
        with self.lock:
            row = {"id": next(self._ids), "organization": data.get("organization", ""), "email": data.get("email", ""),
                   "currency_code": self.currency, "vis_state": 0}  # fmt: skip
            row["userid"] = row["id"]
            self.rows["clients"].append(row)
        return self._result("client", row)

    @route("POST", ACC + "invoices/invoices")
    @_refusals
    def create_invoice(self, req: Request) -> Response:
        """Create an invoice; FreshBooks computes each line's tax from its percentage."""
        data = self._body(req, "invoice")
        with self.lock:
            if not any(str(c["id"]) == str(data.get("customerid")) for c in self.rows["clients"]):
                return _old_error(1012, "Client not found.", "customerid", "client", data.get("customerid"))
            number = str(data.get("invoice_number") or f"{len(self.rows['invoices']) + 1:07d}")
            if any(r["invoice_number"] == number for r in self.rows["invoices"]):
                return _new_error(422, "Invoice number already exists.", "invoice_number", "2031")
            currency = str(data.get("currency_code") or self.currency)
            lines, total, tax_total = [], Decimal(0), Decimal(0)
            names = {t["name"] for t in self.taxes}
            for n, line in enumerate(data.get("lines") or [], start=1):
                qty = _dec(line.get("qty", 1), f"lines[{n}].qty")
                unit = _dec(line.get("unit_cost"), f"lines[{n}].unit_cost")
                amount = (qty * unit).quantize(CENT, ROUND_HALF_UP)
                name = line.get("taxName1")
                if name and name not in names:
                    return _new_error(422, "Tax not found.", f"lines[{n}].taxName1", "1012")
                percentage = _dec(line.get("taxAmount1", 0), f"lines[{n}].taxAmount1") if name else Decimal(0)
                tax = (amount * percentage / 100).quantize(CENT, ROUND_HALF_UP)
                lines.append({"lineid": n, "name": line.get("name", ""), "qty": qty, "unit_cost": _money(unit, currency),
                              "amount": _money(amount, currency), "taxName1": name, "taxAmount1": percentage if name else None,
                              "type": 0})  # fmt: skip
                total += amount
                tax_total += tax
            amount = total + tax_total
            row = {"id": next(self._ids), "invoice_number": number, "customerid": int(data["customerid"]),
                   "create_date": data.get("create_date"), "currency_code": currency, "amount": _money(amount, currency),
                   "outstanding": _money(amount, currency), "paid": _money(Decimal(0), currency), "lines": lines,
                   "v3_status": "draft", "status": 1, "notes": data.get("notes", "")}  # fmt: skip
            row["invoiceid"] = row["id"]
            self.rows["invoices"].append(row)
        return self._result("invoice", row)

    @route("POST", ACC + "payments/payments")
    @_refusals
    def create_payment(self, req: Request) -> Response:
        """Record a payment on an invoice (never more than it owes: refused with HTTP 200)."""
        data = self._body(req, "payment")
        with self.lock:
            invoice = next(
                (r for r in self.rows["invoices"] if str(r["id"]) == str(data.get("invoiceid"))), None
            )
            if invoice is None:
                return _old_error(1012, "Invoice not found.", "invoiceid", "invoice", data.get("invoiceid"))
            amount = _dec(data.get("amount"), "amount")
            outstanding = invoice["outstanding"]["amount"]
            if amount <= 0 or amount > outstanding:
                return _old_error(
                    2001, "Payment amount exceeds the amount owing.", "amount", "payment", amount
                )
            invoice["outstanding"] = _money(outstanding - amount, invoice["currency_code"])
            invoice["paid"] = _money(invoice["paid"]["amount"] + amount, invoice["currency_code"])
            invoice["v3_status"] = "paid" if not invoice["outstanding"]["amount"] else "partial"
            row = {"id": next(self._ids), "invoiceid": invoice["id"], "amount": _money(amount, invoice["currency_code"]),
                   "date": data.get("date"), "type": data.get("type", "Other"), "note": data.get("note", ""),
                   "clientid": invoice["customerid"], "vis_state": 0}  # fmt: skip
            row["logid"] = row["id"]
            self.rows["payments"].append(row)
        return self._result("payment", row)

    @route("POST", ACC + "journal_entries/journal_entries")
    @_refusals
    def create_journal_entry(self, req: Request) -> Response:
        """Create a journal entry (named, dated, balanced, on known sub-accounts)."""
        data = self._body(req, "journal_entry")
        with self.lock:
            subs = {str(s["subaccountid"]) for a in self.accounts for s in a["sub_accounts"]}
            details, debit, credit = [], Decimal(0), Decimal(0)
            entry_id = next(self._ids)
            for n, detail in enumerate(data.get("details") or []):
                if str(detail.get("sub_accountid")) not in subs:
                    return _new_error(422, "Account not found.", f"details[{n}].sub_accountid", "1012")
                d = _dec(detail.get("debit") or 0, "debit")
                c = _dec(detail.get("credit") or 0, "credit")
                details.append({"detailid": next(self._ids), "sub_accountid": int(detail["sub_accountid"]),
                                "debit": d if d else None, "credit": c if c else None,
                                "description": detail.get("description"), "name": data.get("name")})  # fmt: skip
                debit, credit = debit + d, credit + c
            if not data.get("name") or not details or debit != credit:
                return _new_error(422, "Debits and credits must balance.", "details", "2002")
            row = {"id": entry_id, "entryid": entry_id, "name": data["name"], "description": data.get("description"),
                   "user_entered_date": data.get("user_entered_date"),
                   "currency_code": data.get("currency_code", self.currency), "details": details}  # fmt: skip
            self.rows["journal_entries"].append(row)
        return self._result("journal_entry", row)
