"""The HTTP face of the Business Central sandbox: Entra ID tokens, API v2.0 routes, ``$batch``.

Like Business Central it

* issues tokens by the client-credentials grant at ``/{tenant}/oauth2/v2.0/token`` and refuses
  a missing or expired bearer token (401);
* serves ``/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/...`` with ``$filter`` (``eq``
  joined by ``and``) and ``$expand`` of document lines, ``@odata.etag`` on every row;
* answers errors as ``{"error": {"code", "message"}}``;
* takes a JSON ``$batch`` of at most 100 requests; requests sharing an ``atomicityGroup`` succeed
  or fail together (the group's changes are undone on the first failure);
* limits a user to 6,000 requests in 5 minutes and 100 at once: 429 with ``Retry-After``.

:meth:`BusinessCentralSandbox.requests_inside_retry_after` lists any API request that came inside
a Retry-After window the sandbox gave.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connectors.jsonwire import dumps, loads
from connectors.sandbox.base import Request, Response, SandboxServer
from connectors.sandbox.business_central.company import BCError, Company, public

__all__ = ["BusinessCentralSandbox"]

SEGMENT = re.compile(r"^(?P<name>[\w.$]+)(?:\((?P<key>[^)]*)\))?$")
LINES = {"salesInvoices": "salesInvoiceLines", "salesCreditMemos": "salesCreditMemoLines", "salesOrders": "salesOrderLines"}  # fmt: skip
LINE_OWNER = {v: k for k, v in LINES.items()}


def _filter(rows: list[dict[str, Any]], expression: str) -> list[dict[str, Any]]:
    """Rows matching ``field eq 'text'`` (or a bare number or date) clauses joined by ``and``."""
    if not expression:
        return rows
    clauses = []
    for part in re.split(r"\s+and\s+", expression.strip()):
        m = re.fullmatch(r"(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|([\w.:-]+))", part.strip())
        if not m:
            raise BCError(400, "BadRequest_InvalidFilter", f"The filter '{part}' is not supported")
        clauses.append((m[1], m[2].replace("''", "'") if m[2] is not None else m[3]))
    return [r for r in rows if all(str(r.get(f, "")) == v for f, v in clauses)]


class BusinessCentralSandbox(SandboxServer):
    """One tenant, environment and company; see the module docstring."""

    vendor = "business_central"

    def __init__(
        self,
        *,
        tenant: str = "",
        environment: str = "sandbox",
        currency: str = "GBP",
        client_id: str = "bc-client",
        client_secret: str = "bc-secret",  # noqa: S107 - a fake server's fake secret
        token_lifetime: int = 3599,
        per_five_minutes: int | None = 6000,
        concurrent: int | None = 100,
        retry_after: float = 1.0,
        unique_external_numbers: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        """A tenant with one company; limits per 5 minutes and at once (None: no limit)."""
        super().__init__(host, port, seed)
        self.tenant = tenant or str(uuid.uuid4())
        self.environment = environment
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}
        self.limit, self.concurrent_limit = per_five_minutes, concurrent
        self.retry_after = retry_after
        self.company = Company(currency=currency, unique_external_numbers=unique_external_numbers)
        self.retry_windows: list[tuple[float, float]] = []
        self._window: deque[float] = deque()
        self._in_flight = 0

    # -- helpers for tests and the demo ------------------------------------------------------------

    @property
    def api_root(self) -> str:
        """``/v2.0/{tenant}/{environment}/api/v2.0``."""
        return f"/v2.0/{self.tenant}/{self.environment}/api/v2.0"

    def credentials(self) -> dict[str, str]:
        """The app registration's id and secret."""
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def ledger_settings(self) -> dict[str, Any]:
        """Connection settings for this tenant, environment and company (VAT rates included:
        the API publishes VAT posting groups without their percentages)."""
        return {"tenant_id": self.tenant, "environment": self.environment, "company_id": self.company.id,
                "token_url": f"{self.url}/{self.tenant}/oauth2/v2.0/token", "receivable_account": self.company.receivable_account,
                "tax_rates": {k: str(v) for k, v in self.company.rates.items()}}  # fmt: skip

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]]) -> None:
        """Replace the company's chart (see :meth:`Company.seed`)."""
        with self.lock:
            self.company.seed(accounts, tax_codes)

    def expire_tokens(self) -> None:
        """Every issued token stops working."""
        with self.lock:
            self.tokens.clear()

    def requests_inside_retry_after(self) -> list[Request]:
        """API requests that arrived while a 429's Retry-After window was still open."""
        with self.lock:
            windows = list(self.retry_windows)
            api = [r for r in self.requests if r.path.startswith("/v2.0/")]
        return [r for r in api if any(start < r.received_at < end for start, end in windows)]

    # -- vendor flavour ----------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Business Central's error body."""
        code = {429: "Application_TooManyRequests", 404: "BadRequest_NotFound"}.get(
            status, "Internal_ServerError"
        )
        return {"error": {"code": code, "message": f"{message}  CorrelationId:  {uuid.uuid4()}."}}

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Headers of a 429; the window is recorded for :meth:`requests_inside_retry_after`."""
        now = time.time()
        with self.lock:
            self.retry_windows.append((now, now + retry_after))
        return super().rate_limit_headers(retry_after)

    # -- the gate ----------------------------------------------------------------------------------

    def _call(self, req: Request) -> Response:
        """Tokens, authentication, limits, then the API or ``$batch``."""
        if req.method == "POST" and req.path == f"/{self.tenant}/oauth2/v2.0/token":
            return self._token(req)
        if not req.path.startswith(self.api_root):
            return Response(404, self.error_body(404, f"no route for {req.path}"))
        token = req.header("Authorization").removeprefix("Bearer ").strip()
        with self.lock:
            valid = self.tokens.get(token, 0) > time.time()
        if not valid:
            return Response(401, {"error": {"code": "Authentication_InvalidCredentials", "message": "The credentials provided are incorrect"}})  # fmt: skip
        refused = self._admit()
        if refused is not None:
            return refused
        try:
            relative = req.path[len(self.api_root) :].lstrip("/")
            if relative == "$batch" and req.method == "POST":
                return self._batch(req)
            with self.lock:
                status, body, headers = self._api(req.method, relative, req.query, req.body, req.headers)
            return Response(status, dumps(body) if body is not None else None, headers)
        finally:
            with self.lock:
                self._in_flight -= 1

    def _admit(self) -> Response | None:
        """Take a slot under the limits, or answer 429 and open a Retry-After window."""
        now = time.time()
        with self.lock:
            while self._window and self._window[0] <= now - 300:
                self._window.popleft()
            over = (self.limit is not None and len(self._window) >= self.limit) or (
                self.concurrent_limit is not None and self._in_flight >= self.concurrent_limit
            )
            if not over:
                self._window.append(now)
                self._in_flight += 1
                return None
        return Response(
            429, self.error_body(429, "Rate limit exceeded"), self.rate_limit_headers(self.retry_after)
        )

    def _token(self, req: Request) -> Response:
        """The client-credentials grant."""
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"})
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return Response(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})  # fmt: skip
        token = uuid.uuid4().hex
        with self.lock:
            self.tokens[token] = time.time() + self.token_lifetime
        return Response(200, {"token_type": "Bearer", "expires_in": self.token_lifetime, "ext_expires_in": self.token_lifetime,
                              "access_token": token})  # fmt: skip

    # -- $batch --------------------------------------------------------------------------------------

    def _batch(self, req: Request) -> Response:
        """A JSON ``$batch``: each request answered in order; an atomicity group undone on its first failure."""
        body = loads(req.body or b"{}")
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or len(items) > 100:
            return Response(
                400, {"error": {"code": "BadRequest", "message": "A batch holds 1 to 100 requests"}}
            )
        answers: list[dict[str, Any]] = []
        with self.lock:
            groups: dict[str, tuple[Company, list[int]]] = {}
            for item in items:
                group = str(item.get("atomicityGroup") or "")
                if group and group not in groups:
                    groups[group] = (copy.deepcopy(self.company), [])
                parts = urlsplit(str(item.get("url", "")))
                payload = dumps(item["body"]) if item.get("body") is not None else b""
                status, answer, headers = self._api(str(item.get("method", "GET")).upper(), unquote(parts.path),
                                                    parse_qs(parts.query), payload, dict(item.get("headers") or {}))  # fmt: skip
                answers.append({"id": item.get("id"), "status": status, "headers": headers, "body": answer})
                if group:
                    groups[group][1].append(len(answers) - 1)
                    if status >= 400:
                        self.company = groups[group][0]  # the whole group is undone
                        for i in groups[group][1][:-1]:
                            answers[i] = {"id": answers[i]["id"], "status": 424, "headers": {},
                                          "body": {"error": {"code": "FailedDependency", "message": "Failed Dependency"}}}  # fmt: skip
        return Response(200, dumps({"responses": answers}))

    # -- resources -----------------------------------------------------------------------------------

    def _api(
        self, method: str, relative: str, query: dict[str, list[str]], raw: bytes, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]]:
        """One API request against the company (the caller holds the lock)."""
        segments = []
        for part in relative.strip("/").split("/"):
            m = SEGMENT.match(part)
            if not m:
                return (
                    404,
                    {"error": {"code": "BadRequest_NotFound", "message": f"Unknown segment {part}"}},
                    {},
                )
            segments.append((m["name"], (m["key"] or "").strip("'")))
        arg = {k: v[0] for k, v in query.items()}
        if_match = next((v for k, v in headers.items() if k.lower() == "if-match"), "")
        try:
            body = loads(raw) if raw else {}
            return self._resource(method, segments, arg, body, if_match)
        except BCError as exc:
            return exc.status, {"error": {"code": exc.code, "message": exc.message}}, {}
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": {"code": "BadRequest", "message": f"Invalid request: {exc}"}}, {}

    def _resource(
        self, method: str, segments: list[tuple[str, str]], arg: dict[str, str], body: Any, if_match: str
    ) -> tuple[int, Any, dict[str, str]]:
        """Route one request on the company to its rule."""
        c = self.company
        if segments[0][0] != "companies":
            raise BCError(404, "BadRequest_NotFound", "Unknown resource")
        if len(segments) == 1:
            return 200, {"value": [{"id": c.id, "systemVersion": "25.0", "name": c.name, "displayName": c.name, "businessProfileId": ""}]}, {}  # fmt: skip
        if segments[0][1] != c.id:
            raise BCError(404, "BadRequest_NotFound", f"The company {segments[0][1]} does not exist")
        rest = segments[1:]
        name, key = rest[0]
        created = 201
        if name in LINES and len(rest) == 1 and not key and method == "POST":
            return created, self._doc(c.add_document(name, body, LINES[name]), arg), {}
        if name in LINES and len(rest) == 1 and not key and method == "GET":
            rows = [self._doc(d, arg) for d in c.documents[name]]
            return 200, {"value": _filter(rows, arg.get("$filter", ""))}, {}
        if name in LINES and len(rest) == 2 and rest[1][0] == "Microsoft.NAV.post" and method == "POST":
            c.post_document(name, key)
            return 204, None, {}
        if (
            name in LINES
            and len(rest) == 2
            and rest[1][0] == "Microsoft.NAV.shipAndInvoice"
            and method == "POST"
        ):
            self._ship_and_invoice(key)
            return 204, None, {}
        if name in LINES and len(rest) == 1 and method == "GET":
            return 200, self._doc(c.find_document(name, key), arg), {}
        if name in LINES and len(rest) >= 2 and rest[1][0] == LINES[name]:
            if method == "POST":
                return created, public(c.add_line(name, key, body)), {}
            if method == "PATCH":
                return 200, public(c.patch_line(name, rest[1][1], body, if_match)), {}
            doc = c.find_document(name, key)
            return 200, {"value": [public(ln) for ln in doc["_lines"]]}, {}
        if name in LINE_OWNER and method == "PATCH":
            return 200, public(c.patch_line(LINE_OWNER[name], key, body, if_match)), {}
        simple = {"accounts": c.accounts, "taxGroups": c.tax_groups, "customers": c.customers, "journals": c.journals,
                  "customerPaymentJournals": c.payment_journals, "customerPayments": c.payments,
                  "journalLines": c.journal_lines, "generalLedgerEntries": c.ledger, "generalLedgerSetup": [c.setup()]}  # fmt: skip
        if name == "customers" and method == "POST":
            return created, public(c.add_customer(body)), {}
        if name in ("journals", "customerPaymentJournals") and len(rest) == 1 and method == "POST":
            return created, public(c.add_journal(body, payment=name != "journals")), {}
        if name == "journals" and len(rest) == 2 and rest[1][0] == "Microsoft.NAV.post" and method == "POST":
            c.post_journal(key)
            return 204, None, {}
        if name == "journals" and len(rest) == 2 and rest[1][0] == "journalLines" and method == "POST":
            return created, public(c.add_journal_line(key, body)), {}
        if (
            name == "customerPaymentJournals"
            and len(rest) == 2
            and rest[1][0] == "customerPayments"
            and method == "POST"
        ):
            return created, public(c.add_payment(key, body)), {}
        if name in simple and method == "GET":
            rows = simple[name]
            if key:
                found = [r for r in rows if r.get("id") == key]
                if not found:
                    raise BCError(404, "Internal_RecordNotFound", f"The {name} {key} does not exist")
                return 200, public(found[0]), {}
            return 200, {"value": [public(r) for r in _filter(rows, arg.get("$filter", ""))]}, {}
        raise BCError(
            405 if name in simple else 404,
            "BadRequest_MethodNotAllowed",
            f"{method} is not allowed on {name}",
        )

    def _doc(self, doc: dict[str, Any], arg: dict[str, str]) -> dict[str, Any]:
        """A sales document as the API shows it (its lines when expanded)."""
        out = public(doc)
        lines_key = next((v for k, v in LINES.items() if doc in self.company.documents[k]), "")
        if lines_key and lines_key in arg.get("$expand", ""):
            out[lines_key] = [public(ln) for ln in doc["_lines"]]
        return out

    def _ship_and_invoice(self, order_id: str) -> None:
        """Ship and invoice an order: a posted invoice with its lines, linked to the order."""
        c = self.company
        order = c.find_document("salesOrders", order_id)
        if order["status"] != "Draft":
            raise BCError(400, "Application_DialogException", "The order is already shipped and invoiced")
        invoice = c.add_document("salesInvoices", {"customerId": order["customerId"], "invoiceDate": order["orderDate"],
                                                   "postingDate": order["postingDate"],
                                                   "externalDocumentNumber": order["externalDocumentNumber"]}, "x")  # fmt: skip
        invoice["_lines"] = [
            dict(ln, id=str(uuid.uuid4()), documentId=invoice["id"]) for ln in order["_lines"]
        ]
        c._totals(invoice)
        invoice["orderId"], invoice["orderNumber"] = order["id"], order["number"]
        c.post_document("salesInvoices", invoice["id"])
        order["status"] = "Open"
        order["fullyShipped"] = True
