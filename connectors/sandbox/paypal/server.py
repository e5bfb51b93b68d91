"""A PayPal sandbox: OAuth, the read APIs the PayPal source uses, signed webhooks, PayPal errors.

Serves, on 127.0.0.1, what ``api-m.paypal.com`` serves:

* ``POST /v1/oauth2/token`` (HTTP Basic client id and secret, ``grant_type=client_credentials``);
* ``GET /v2/checkout/orders/{id}``, ``/v2/payments/captures/{id}``, ``/v2/payments/refunds/{id}``,
  ``/v2/invoicing/invoices/{id}``, ``/v1/customer/disputes`` (``update_time_after``/``_before``,
  ``page_size``, ``next_page_token``) and ``/v1/customer/disputes/{id}``;
* ``GET /v1/reporting/transactions``: ``start_date``/``end_date`` required and at most 31 days
  apart, ``page`` from 1, ``page_size`` up to 500, ``total_pages``; a transaction becomes visible
  ``reporting_lag`` seconds after it happened (PayPal: up to three hours);
* ``GET /v1/notifications/certs/{id}``: the signing certificate chain of the sandbox's authority;
* ``POST /v1/notifications/verify-webhook-signature``: PayPal's own check of a delivery.

Every API call needs a bearer token the sandbox issued and that has not expired. Errors look like
PayPal's: ``{"name", "message", "debug_id", "details": [...], "links": [...]}``; a request over the
per-second limit is answered ``429 RATE_LIMIT_REACHED``.

:meth:`PayPalSandbox.send_webhook` signs as PayPal does: ``transmission_id|transmission_time|
webhook_id|crc32(body)`` with the signing key, the cert URL pointing at this server.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from connectors.sandbox.base import Request, Response, SandboxServer, route

from .factories import FactoryMixin
from .ledger import BalanceBook
from .pki import TestPKI, default_pki

__all__ = ["PayPalSandbox"]

MAX_RANGE = timedelta(days=31)
_MESSAGES = {
    400: ("INVALID_REQUEST", "Request is not well-formed, syntactically incorrect, or violates schema."),
    401: (
        "AUTHENTICATION_FAILURE",
        "Authentication failed due to missing authorization header, or invalid authentication credentials.",
    ),
    403: ("NOT_AUTHORIZED", "Authorization failed due to insufficient permissions."),
    404: ("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
    429: ("RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred."),
    503: ("SERVICE_UNAVAILABLE", "Service Unavailable."),
}


def _time(value: str) -> datetime:
    """An RFC 3339 query value as an aware datetime (``+0000`` accepted)."""
    raw = value.strip().replace("Z", "+00:00")
    if len(raw) > 5 and raw[-5] in "+-" and raw[-4:].isdigit():
        raw = f"{raw[:-2]}:{raw[-2:]}"
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed


class _Refusal(Exception):
    """A PayPal error answer raised from inside a handler."""

    def __init__(self, status: int, issue: str = "", field: str = "", description: str = "") -> None:
        super().__init__(description or issue)
        self.status, self.issue, self.field, self.description = status, issue, field, description


class PayPalSandbox(FactoryMixin, SandboxServer):
    """Fake ``api-m.paypal.com``. ``client_id``/``client_secret`` are the only credentials
    accepted; ``webhook_ids`` are the webhooks whose signatures the post-back confirms."""

    vendor = "paypal"

    def __init__(
        self,
        *,
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",  # noqa: S107 - the sandbox's own test secret
        webhook_ids: Iterable[str] = ("8PT597110X687430LKGECATA",),
        pki: TestPKI | None = None,
        primary_currency: str = "GBP",
        rate_limit_per_second: int | None = None,
        reporting_lag: float = 0.0,
        token_lifetime: int = 32400,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_ids = list(webhook_ids)
        self.pki = pki or default_pki()
        self.book = BalanceBook(primary_currency, seed=seed)
        self.rate_limit_per_second = rate_limit_per_second
        self.reporting_lag = reporting_lag
        self.token_lifetime = token_lifetime
        self.clock: Callable[[], float] = time.time
        #: The clock of the per-second limit (tests give one that advances per request).
        self.rate_clock: Callable[[], float] = time.monotonic
        self.tokens: dict[str, float] = {}
        self.store: dict[str, dict[str, dict[str, Any]]] = {
            k: {} for k in ("order", "capture", "refund", "dispute", "invoice")
        }
        self._calls: deque[float] = deque()
        self._rate_lock = threading.Lock()

    # -- vendor flavour ----------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """PayPal's error shape (name, message, debug_id, details, links)."""
        name, text = _MESSAGES.get(status, ("INTERNAL_SERVER_ERROR", message))
        body: dict[str, Any] = {"name": name, "message": text, "debug_id": secrets.token_hex(7)}
        if 400 <= status < 500 and status not in (401, 429):
            body["details"] = [{"issue": "INVALID_PARAMETER_VALUE", "description": message}]
        body["links"] = [
            {"href": f"https://developer.paypal.com/api/rest/reference/orders/v2/errors/#{name}",
             "rel": "information_link", "method": "GET"}
        ]  # fmt: skip
        return body

    def _refuse(self, refusal: _Refusal) -> Response:
        """The PayPal error body for a refusal, with the offending field in ``details``."""
        body = self.error_body(refusal.status, refusal.description or refusal.issue)
        if refusal.issue and refusal.status not in (401, 429):
            body["details"] = [
                {k: v for k, v in {"field": refusal.field, "issue": refusal.issue, "location": "query",
                                   "description": refusal.description}.items() if v}
            ]  # fmt: skip
        return Response(refusal.status, body)

    # -- data --------------------------------------------------------------------------------

    def load(self, kind: str, *objects: Mapping[str, Any]) -> None:
        """Store vendor objects to serve (``order``, ``capture``, ``refund``, ``dispute``,
        ``invoice``); an order's captures are stored as captures too, linked to the order."""
        with self.lock:
            for obj in objects:
                key = str(obj.get("dispute_id") if kind == "dispute" else obj["id"])
                self.store[kind][key] = copy.deepcopy(dict(obj))
                if kind == "order":
                    for unit in obj.get("purchase_units") or []:
                        for capture in (unit.get("payments") or {}).get("captures") or []:
                            standalone = copy.deepcopy(dict(capture))
                            standalone.setdefault(
                                "supplementary_data", {"related_ids": {"order_id": obj["id"]}}
                            )
                            self.store["capture"].setdefault(str(capture["id"]), standalone)

    def get(self, kind: str, key: str) -> dict[str, Any]:
        """A stored object (for tests that change one)."""
        with self.lock:
            return self.store[kind][key]

    # -- authentication and limits -----------------------------------------------------------

    def expire_tokens(self) -> None:
        """Make every issued token invalid (PayPal answers 401 until a new one is taken)."""
        with self.lock:
            self.tokens.clear()

    def _authorised(self, req: Request) -> None:
        """Refuse a missing, unknown or expired token (401) and requests over the limit (429)."""
        header = req.header("Authorization")
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None or expires < self.clock():
            raise _Refusal(401)
        if self.rate_limit_per_second is not None:
            now = self.rate_clock()
            with self._rate_lock:
                while self._calls and self._calls[0] <= now - 1:
                    self._calls.popleft()
                if len(self._calls) >= self.rate_limit_per_second:
                    raise _Refusal(429)
                self._calls.append(now)

    def _guarded(self, req: Request, handler: Callable[[], Response]) -> Response:
        """Run a handler behind authentication and the limit, turning refusals into answers."""
        try:
            self._authorised(req)
            return handler()
        except _Refusal as refusal:
            response = self._refuse(refusal)
            if refusal.status == 429:
                response.headers.update(self.rate_limit_headers(1.0))
            return response

    @route("POST", "/v1/oauth2/token")
    def token(self, req: Request) -> Response:
        """Client credentials: HTTP Basic id:secret, form ``grant_type=client_credentials``."""
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if req.header("Authorization") != f"Basic {expected}":
            return Response(
                401, {"error": "invalid_client", "error_description": "Client Authentication failed"}
            )
        form = parse_qs(req.body.decode())
        if form.get("grant_type") != ["client_credentials"]:
            return Response(
                400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
            )
        token = "A21AA" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = self.clock() + self.token_lifetime
        return Response(
            200,
            {
                "scope": "https://uri.paypal.com/services/reporting/search/read "
                "https://uri.paypal.com/services/disputes/read-seller https://uri.paypal.com/services/invoicing",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_lifetime,
                "nonce": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}{secrets.token_hex(8)}",
            },
        )

    # -- objects -----------------------------------------------------------------------------

    def _object(self, req: Request, kind: str) -> Response:
        """Serve one stored object by id, or 404 RESOURCE_NOT_FOUND."""

        def fetch() -> Response:
            with self.lock:
                obj = self.store[kind].get(req.params["id"])
            if obj is None:
                raise _Refusal(
                    404, "INVALID_RESOURCE_ID", description="Specified resource ID does not exist."
                )
            return Response(200, copy.deepcopy(obj))

        return self._guarded(req, fetch)

    @route("GET", "/v2/checkout/orders/{id}")
    def order(self, req: Request) -> Response:
        """Show order details."""
        return self._object(req, "order")

    @route("GET", "/v2/payments/captures/{id}")
    def capture(self, req: Request) -> Response:
        """Show captured payment details."""
        return self._object(req, "capture")

    @route("GET", "/v2/payments/refunds/{id}")
    def refund(self, req: Request) -> Response:
        """Show refund details."""
        return self._object(req, "refund")

    @route("GET", "/v2/invoicing/invoices/{id}")
    def invoice(self, req: Request) -> Response:
        """Show invoice details."""
        return self._object(req, "invoice")

    @route("POST", "/v2/invoicing/search-invoices")
    def search_invoices(self, req: Request) -> Response:
        """Invoices whose invoice date or payment date falls in a range, 100 a page at most."""

        def search() -> Response:
            criteria = json.loads(req.body or b"{}")
            size = int(req.arg("page_size") or "20")
            page = int(req.arg("page") or "1")
            if not 1 <= size <= 100:
                raise _Refusal(400, "INVALID_PARAMETER_VALUE", "page_size", "page_size must be 1 to 100")
            with self.lock:
                invoices = sorted(self.store["invoice"].values(), key=lambda i: i["id"])

            def wanted(invoice: Mapping[str, Any]) -> bool:
                dates = criteria.get("invoice_date_range")
                if dates and not dates["start"] <= invoice["detail"]["invoice_date"] <= dates["end"]:
                    return False
                paid = criteria.get("payment_date_range")
                if paid:
                    start, end = _time(paid["start"]), _time(paid["end"])
                    days = [
                        t.get("payment_date", "")
                        for t in (invoice.get("payments") or {}).get("transactions") or []
                    ]
                    if not any(
                        start.date() <= datetime.fromisoformat(d).date() <= end.date() for d in days if d
                    ):
                        return False
                return True

            rows = [i for i in invoices if wanted(i)]
            chunk = rows[(page - 1) * size : page * size]
            # Search results leave the items out unless asked for (``fields``): the source fetches them.
            items = [{k: v for k, v in i.items() if k != "items"} for i in chunk]
            return Response(200, {"items": items, "total_items": len(rows), "total_pages": max(1, -(-len(rows) // size)),
                                  "links": [{"href": f"{self.url}{req.path}", "rel": "self", "method": "POST"}]})  # fmt: skip

        return self._guarded(req, search)

    @route("GET", "/v1/customer/disputes/{id}")
    def dispute(self, req: Request) -> Response:
        """Show dispute details."""
        return self._object(req, "dispute")

    @route("GET", "/v1/customer/disputes")
    def disputes(self, req: Request) -> Response:
        """List disputes updated in a range, ``page_size`` at a time, ``next_page_token`` onward."""

        def page() -> Response:
            after = _time(req.arg("update_time_after")) if req.arg("update_time_after") else None
            before = _time(req.arg("update_time_before")) if req.arg("update_time_before") else None
            size = int(req.arg("page_size") or "10")
            if not 1 <= size <= 50:
                raise _Refusal(400, "INVALID_PAGE_SIZE", "page_size", "page_size must be between 1 and 50")
            offset = int(req.arg("next_page_token") or "0")
            with self.lock:
                rows = sorted(self.store["dispute"].values(), key=lambda d: d["update_time"])
            rows = [
                d for d in rows
                if (after is None or _time(d["update_time"]) > after)
                and (before is None or _time(d["update_time"]) <= before)
            ]  # fmt: skip
            chunk = rows[offset : offset + size]
            summary_keys = ("dispute_id", "create_time", "update_time", "reason", "status", "dispute_state",
                            "dispute_amount", "dispute_life_cycle_stage", "dispute_channel")  # fmt: skip
            items = [{k: d[k] for k in summary_keys if k in d} for d in chunk]
            for item in items:
                item["links"] = [{"href": f"{self.url}/v1/customer/disputes/{item['dispute_id']}",
                                  "rel": "self", "method": "GET"}]  # fmt: skip
            links = [{"href": f"{self.url}{req.path}", "rel": "self", "method": "GET"}]
            if offset + size < len(rows):
                query = {k: v[0] for k, v in req.query.items()}
                query["next_page_token"] = str(offset + size)
                links.append(
                    {"href": f"{self.url}{req.path}?{urlencode(query)}", "rel": "next", "method": "GET"}
                )
            return Response(200, {"items": items, "links": links})

        return self._guarded(req, page)

    # -- reporting ---------------------------------------------------------------------------

    @route("GET", "/v1/reporting/transactions")
    def transactions(self, req: Request) -> Response:
        """Transaction Search: one date range of at most 31 days, in pages."""

        def search() -> Response:
            for name in ("start_date", "end_date"):
                if not req.arg(name):
                    raise _Refusal(400, "MISSING_REQUIRED_PARAMETER", name, f"{name} is required")
            try:
                start, end = _time(req.arg("start_date")), _time(req.arg("end_date"))
            except ValueError as exc:
                raise _Refusal(
                    400, "INVALID_PARAMETER_SYNTAX", "start_date", "dates must be RFC 3339"
                ) from exc
            if end < start:
                raise _Refusal(400, "INVALID_PARAMETER_VALUE", "end_date", "end_date is before start_date")
            if end - start > MAX_RANGE:
                raise _Refusal(400, "INVALID_PARAMETER_VALUE", "end_date",
                               "Date range is greater than 31 days")  # fmt: skip
            size = int(req.arg("page_size") or "100")
            page = int(req.arg("page") or "1")
            if not 1 <= size <= 500:
                raise _Refusal(400, "INVALID_PARAMETER_VALUE", "page_size", "page_size must be 1 to 500")
            if page < 1:
                raise _Refusal(400, "INVALID_PARAMETER_VALUE", "page", "page must be at least 1")
            visible_until = datetime.fromtimestamp(self.clock() - self.reporting_lag, tz=UTC)
            with self.lock:
                rows = [
                    r for r in self.book.records
                    if start <= r.at <= end and r.at <= visible_until
                    and (not req.arg("transaction_id") or r.transaction_id == req.arg("transaction_id"))
                ]  # fmt: skip
            rows.sort(key=lambda r: r.at)  # Transaction Search lists oldest first
            total_pages = max(1, -(-len(rows) // size))
            chunk = rows[(page - 1) * size : page * size]
            details = [r.detail() for r in chunk]
            if req.arg("fields", "transaction_info") == "transaction_info":
                details = [{"transaction_info": d["transaction_info"]} for d in details]
            base = f"{self.url}{req.path}"
            query = {k: v[0] for k, v in req.query.items()}
            return Response(
                200,
                {
                    "transaction_details": details,
                    "account_number": "SANDBOXMERCH01",
                    "start_date": req.arg("start_date"),
                    "end_date": req.arg("end_date"),
                    "last_refreshed_datetime": visible_until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "page": page,
                    "total_items": len(rows),
                    "total_pages": total_pages,
                    "links": [{"href": f"{base}?{urlencode(query)}", "rel": "self", "method": "GET"}],
                },
            )

        return self._guarded(req, search)

    # -- webhooks ----------------------------------------------------------------------------

    @property
    def cert_url(self) -> str:
        """Where this sandbox serves its signing certificate chain."""
        return f"{self.url}/v1/notifications/certs/{self.pki.cert_id}"

    @route("GET", "/v1/notifications/certs/{cert_id}")
    def certificate(self, req: Request) -> Response:
        """The signing certificate chain (PEM), as PayPal serves it at PAYPAL-CERT-URL."""
        if req.params["cert_id"] != self.pki.cert_id:
            return Response(404, self.error_body(404, "unknown certificate"))
        return Response(200, self.pki.chain_pem, content_type="application/x-pem-file")

    @route("POST", "/v1/notifications/verify-webhook-signature")
    def verify_signature(self, req: Request) -> Response:
        """PayPal's own check: the same signed string, against this sandbox's certificate."""

        def check() -> Response:
            try:
                body = json.loads(req.body)
            except ValueError as exc:
                raise _Refusal(400, "MALFORMED_REQUEST_JSON", description="body is not JSON") from exc
            required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time",
                        "webhook_id", "webhook_event")  # fmt: skip
            for name in required:
                if name not in body:
                    raise _Refusal(400, "MISSING_REQUIRED_PARAMETER", name, f"{name} is required")
            marker = b'"webhook_event":'
            at = req.body.find(marker)
            raw = req.body[at + len(marker) :].strip()[:-1].strip() if at >= 0 else b""
            ok = (
                body["webhook_id"] in self.webhook_ids
                and body["cert_url"] == self.cert_url
                and body["auth_algo"] == "SHA256withRSA"
                and self._signature_ok(body, raw)
            )
            return Response(200, {"verification_status": "SUCCESS" if ok else "FAILURE"})

        return self._guarded(req, check)

    def _signature_ok(self, body: Mapping[str, Any], raw_event: bytes) -> bool:
        """Verify the post-back's signature over the event bytes it carries."""
        crc = zlib.crc32(raw_event) & 0xFFFFFFFF
        message = f"{body['transmission_id']}|{body['transmission_time']}|{body['webhook_id']}|{crc}".encode()
        try:
            signature = base64.b64decode(str(body["transmission_sig"]))
            self.pki.leaf.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg,arg-type]
        except (InvalidSignature, ValueError):
            return False
        return True

    def event(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        *,
        resource_type: str,
        summary: str = "",
        create_time: datetime | None = None,
        resource_version: str = "2.0",
    ) -> dict[str, Any]:
        """A webhook event envelope as PayPal sends it (``WH-`` id, links to itself)."""
        event_id = f"WH-{uuid.uuid4().hex[:17].upper()}-{uuid.uuid4().hex[:17].upper()}"
        when = create_time or datetime.now(UTC)
        return {
            "id": event_id,
            "event_version": "1.0",
            "create_time": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "resource_type": resource_type,
            "resource_version": resource_version,
            "event_type": event_type,
            "summary": summary or f"{event_type} event",
            "resource": copy.deepcopy(dict(resource)),
            "links": [
                {"href": f"{self.url}/v1/notifications/webhooks-events/{event_id}", "rel": "self", "method": "GET"},
                {"href": f"{self.url}/v1/notifications/webhooks-events/{event_id}/resend", "rel": "resend",
                 "method": "POST"},
            ],
        }  # fmt: skip

    def signed_headers(
        self,
        body: bytes,
        webhook_id: str,
        *,
        transmission_time: datetime | None = None,
        pki: TestPKI | None = None,
        cert_url: str | None = None,
    ) -> dict[str, str]:
        """The five PayPal signature headers for ``body`` (``pki`` signs as someone else would)."""
        signer = pki or self.pki
        transmission_id = str(uuid.uuid1())
        when = (transmission_time or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        crc = zlib.crc32(body) & 0xFFFFFFFF
        signature = signer.sign(f"{transmission_id}|{when}|{webhook_id}|{crc}".encode())
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": when,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": cert_url or f"{self.url}/v1/notifications/certs/{signer.cert_id}",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    def send_webhook(
        self,
        url: str,
        event: Mapping[str, Any] | bytes,
        webhook_id: str,
        *,
        transmission_time: datetime | None = None,
        pki: TestPKI | None = None,
        cert_url: str | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
        drop: Iterable[str] = (),
    ) -> requests.Response:
        """POST an event signed as PayPal signs it. ``tamper`` changes the body after signing;
        ``drop`` leaves signature headers out."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = self.signed_headers(body, webhook_id, transmission_time=transmission_time, pki=pki,
                                      cert_url=cert_url)  # fmt: skip
        for name in drop:
            headers.pop(name, None)
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = "PayPal/AUHD-214.0-58802718"
        sent = tamper(body) if tamper is not None else body
        return requests.post(url, data=sent, headers=headers, timeout=30)
