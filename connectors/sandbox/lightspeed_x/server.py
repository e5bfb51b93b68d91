"""A contract-faithful fake of the Lightspeed X-Series API 2.0 endpoints the source reads, and its
webhooks.

Served under ``/api/2.0`` (JSON, money as bare numbers, ``Authorization: Bearer <token>``
required, 401 ``{"error": "Access token is not valid"}`` otherwise):

* ``GET /sales?after=&before=&page_size=`` -> ``{"data": [...], "version": {"min", "max"}}`` in
  version order (the cursor); ``GET /sales/{id}``;
* ``GET /retailer``, ``/outlets``, ``/outlets/{id}``, ``/registers``, ``/registers/{id}``,
  ``/taxes``, ``/payment_types``, ``/products/{id}``;
* ``GET /registers/{id}/payments_summary``; ``PUT /registers/{id}/actions/open`` and
  ``/actions/close`` (``{"payments": [{"payment_type_id", "total"}]}``: what was counted);
* ``POST /webhooks`` / ``GET /webhooks`` to subscribe (``{"url", "active", "type"}``).

Errors are X-Series' ``{"error": "...", "details": ...}``. Limits: with :attr:`LightspeedXSandbox.budget`
set, requests beyond it in the current window get 429 with ``Retry-After`` (seconds, or an HTTP
date with ``retry_after_format="http-date"``) until :meth:`refill` opens the next window, so tests
drive the limit by request count, not by the clock. Scripted faults come from the shared
:class:`FaultPlan`.

:meth:`LightspeedXSandbox.send_webhook` posts a delivery as X-Series does: form-encoded, the object
as JSON in ``payload``, signed in ``X-Signature``; :meth:`notify` delivers to every subscription
of a type.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import requests

from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.lightspeed_x.store import XSeriesStore
from connectors.sandbox.lightspeed_x.wire import dumps, loads
from connectors.sources.lightspeed_x.signature import SIGNATURE_HEADER, signature_header

__all__ = ["DEFAULT_TOKEN", "LightspeedXSandbox"]

#: The token a sandbox accepts unless told otherwise (opens only this fake server).
DEFAULT_TOKEN = "lsx-sandbox-token"
MAX_PAGE_SIZE = 10_000
DEFAULT_PAGE_SIZE = 1_000


class XSeriesError(Exception):
    """Raised inside a handler to answer with an X-Series error body."""

    def __init__(self, status: int, error: str, details: Any = None) -> None:
        super().__init__(error)
        self.status, self.error, self.details = status, error, details


class LightspeedXSandbox(SandboxServer):
    """The fake X-Series store: set it up through :attr:`store`, point a source at :attr:`url`."""

    vendor = "lightspeed_x"

    def __init__(
        self,
        *,
        store: XSeriesStore | None = None,
        access_token: str = DEFAULT_TOKEN,
        client_secret: str = "lsx-client-secret",  # noqa: S107 - opens only this fake server
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.store = store or XSeriesStore()
        self.access_token = access_token
        self.client_secret = client_secret
        #: Requests allowed in the current window (None: no limit); see :meth:`refill`.
        self.budget: int | None = None
        self.retry_after: float = 2
        self.retry_after_format = "seconds"
        self.rate_limited = 0
        self._spent = 0
        self._spent_lock = threading.Lock()
        self.webhooks: dict[str, dict[str, Any]] = {}
        #: The store's clock for actions taken over the API (closing a register): tests set it to
        #: the business day they act out.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- limits ------------------------------------------------------------------------------

    def refill(self) -> None:
        """Open the next rate-limit window (what the vendor's clock would do after Retry-After)."""
        with self._spent_lock:
            self._spent = 0

    def _over_budget(self) -> bool:
        with self._spent_lock:
            self._spent += 1
            return self.budget is not None and self._spent > self.budget

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """``Retry-After`` in seconds, or as an HTTP date."""
        if self.retry_after_format == "http-date":
            return {
                "Retry-After": format_datetime(
                    datetime.now(UTC) + timedelta(seconds=retry_after), usegmt=True
                )
            }
        return {"Retry-After": str(int(retry_after) if retry_after >= 1 else retry_after)}

    def error_body(self, status: int, message: str) -> Any:
        """X-Series' error body."""
        return {"error": message}

    # -- dispatch helpers --------------------------------------------------------------------

    def _ok(self, data: Any, status: int = 200) -> Response:
        return Response(status, dumps(data).encode("utf-8"))

    def _serve(self, req: Request, handler: Any) -> Response:
        """Auth, the rate-limit window, then the handler; errors in X-Series' shape."""
        if req.header("Authorization") != f"Bearer {self.access_token}":
            return Response(401, {"error": "Access token is not valid"})
        if self._over_budget():
            self.rate_limited += 1
            return Response(429, {"error": "Too Many Requests", "details": "rate limit exceeded"},
                            self.rate_limit_headers(self.retry_after))  # fmt: skip
        try:
            return handler()
        except XSeriesError as exc:
            body: dict[str, Any] = {"error": exc.error}
            if exc.details is not None:
                body["details"] = exc.details
            return Response(exc.status, body)

    @staticmethod
    def _int(req: Request, name: str, default: int | None) -> int | None:
        raw = req.arg(name, "")
        if raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise XSeriesError(400, "Bad Request", f"{name} must be an integer, got {raw!r}") from None

    def _collection(self, req: Request, objects: list[dict[str, Any]]) -> dict[str, Any]:
        after = self._int(req, "after", 0) or 0
        before = self._int(req, "before", None)
        size = self._int(req, "page_size", DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE
        if size < 1 or size > MAX_PAGE_SIZE:
            raise XSeriesError(400, "Bad Request", f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        chosen = sorted(
            (o for o in objects if o["version"] > after and (before is None or o["version"] < before)),
            key=lambda o: o["version"],
        )[:size]
        body: dict[str, Any] = {"data": [self.store.public(o) for o in chosen]}
        if chosen:
            body["version"] = {"min": chosen[0]["version"], "max": chosen[-1]["version"]}
        return body

    def _find(self, objects: Mapping[str, dict[str, Any]], object_id: str, what: str) -> dict[str, Any]:
        if object_id not in objects:
            raise XSeriesError(404, "Not Found", f"{what} {object_id} not found")
        return self.store.public(objects[object_id])

    # -- routes ------------------------------------------------------------------------------

    @route("GET", "/api/2.0/sales")
    def list_sales(self, req: Request) -> Response:
        """The version cursor over sales."""
        return self._serve(req, lambda: self._ok(self._collection(req, list(self.store.sales.values()))))

    @route("GET", "/api/2.0/sales/{sale_id}")
    def get_sale(self, req: Request) -> Response:
        """One sale."""
        return self._serve(
            req, lambda: self._ok({"data": self._find(self.store.sales, req.params["sale_id"], "sale")})
        )

    @route("GET", "/api/2.0/retailer")
    def get_retailer(self, req: Request) -> Response:
        """The retailer's settings (currency, tax_exclusive, discount product)."""
        return self._serve(req, lambda: self._ok({"data": self.store.retailer}))

    @route("GET", "/api/2.0/outlets")
    def list_outlets(self, req: Request) -> Response:
        """Outlets."""
        return self._serve(req, lambda: self._ok(self._collection(req, list(self.store.outlets.values()))))

    @route("GET", "/api/2.0/outlets/{outlet_id}")
    def get_outlet(self, req: Request) -> Response:
        """One outlet."""
        return self._serve(
            req, lambda: self._ok({"data": self._find(self.store.outlets, req.params["outlet_id"], "outlet")})
        )

    @route("GET", "/api/2.0/registers")
    def list_registers(self, req: Request) -> Response:
        """Registers."""
        return self._serve(req, lambda: self._ok(self._collection(req, list(self.store.registers.values()))))

    @route("GET", "/api/2.0/registers/{register_id}")
    def get_register(self, req: Request) -> Response:
        """One register."""
        return self._serve(
            req,
            lambda: self._ok(
                {"data": self._find(self.store.registers, req.params["register_id"], "register")}
            ),
        )

    @route("GET", "/api/2.0/registers/{register_id}/payments_summary")
    def payments_summary(self, req: Request) -> Response:
        """What the register took per payment type this session."""

        def run() -> Response:
            self._find(self.store.registers, req.params["register_id"], "register")
            return self._ok({"data": self.store.payments_summary(req.params["register_id"])})

        return self._serve(req, run)

    @route("PUT", "/api/2.0/registers/{register_id}/actions/open")
    def open_register(self, req: Request) -> Response:
        """Open a register session."""

        def run() -> Response:
            register_id = req.params["register_id"]
            self._find(self.store.registers, register_id, "register")
            body = loads(req.body or b"{}")
            when = body.get("register_open_time") if isinstance(body, dict) else None
            moment = datetime.fromisoformat(when.replace("Z", "+00:00")) if when else self.clock()
            self.store.open_register(register_id, at=moment)
            return self._ok({"data": self._find(self.store.registers, register_id, "register")})

        return self._serve(req, run)

    @route("PUT", "/api/2.0/registers/{register_id}/actions/close")
    def close_register(self, req: Request) -> Response:
        """Close a register session with the counted totals per payment type."""

        def run() -> Response:
            register_id = req.params["register_id"]
            self._find(self.store.registers, register_id, "register")
            body = loads(req.body or b"{}")
            payments = body.get("payments") if isinstance(body, dict) else None
            if not isinstance(payments, list):
                raise XSeriesError(422, "Unprocessable Entity", "payments must be a list")
            counted = {str(p.get("payment_type_id")): Decimal(str(p.get("total"))) for p in payments}
            closure = self.store.close_register(register_id, counted, at=self.clock())
            self.notify("register_closure.create", closure)
            return self._ok({"data": self._find(self.store.registers, register_id, "register")})

        return self._serve(req, run)

    @route("GET", "/api/2.0/taxes")
    def list_taxes(self, req: Request) -> Response:
        """Taxes with their rates."""
        return self._serve(req, lambda: self._ok(self._collection(req, list(self.store.taxes.values()))))

    @route("GET", "/api/2.0/payment_types")
    def list_payment_types(self, req: Request) -> Response:
        """The retailer's payment types."""
        return self._serve(
            req, lambda: self._ok(self._collection(req, list(self.store.payment_types.values())))
        )

    @route("GET", "/api/2.0/products/{product_id}")
    def get_product(self, req: Request) -> Response:
        """One product."""
        return self._serve(
            req,
            lambda: self._ok({"data": self._find(self.store.products, req.params["product_id"], "product")}),
        )

    @route("POST", "/api/2.0/webhooks")
    def create_webhook(self, req: Request) -> Response:
        """Subscribe a URL to a webhook type."""

        def run() -> Response:
            body = loads(req.body or b"{}")
            if not isinstance(body, dict) or not body.get("url") or not body.get("type"):
                raise XSeriesError(422, "Unprocessable Entity", "url and type are required")
            hook = {"id": str(uuid.uuid4()), "url": body["url"], "type": body["type"],
                    "active": bool(body.get("active", True)), "retailer_id": self.store.retailer["id"]}  # fmt: skip
            self.webhooks[hook["id"]] = hook
            return self._ok({"data": hook}, 201)

        return self._serve(req, run)

    @route("GET", "/api/2.0/webhooks")
    def list_webhooks(self, req: Request) -> Response:
        """Subscriptions."""
        return self._serve(req, lambda: self._ok({"data": list(self.webhooks.values())}))

    # -- webhooks out ------------------------------------------------------------------------

    def webhook_body(self, obj: Mapping[str, Any], event_type: str | None = "sale.update") -> bytes:
        """The form-encoded body of a delivery (``type`` left out when ``event_type`` is None)."""
        fields = {"payload": dumps(self.store.public(obj)), "domain_prefix": self.store.retailer["domain_prefix"],
                  "environment": "prod", "retailer_id": self.store.retailer["id"]}  # fmt: skip
        if event_type:
            fields["type"] = event_type
        return urlencode(fields).encode("utf-8")

    def send_webhook(
        self,
        url: str,
        obj: Mapping[str, Any] | bytes,
        secret: str | None = None,
        *,
        event_type: str | None = "sale.update",
        signature: str | None = None,
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST one delivery to ``url`` signed with ``secret`` (the sandbox's client secret by
        default); ``signature`` overrides the header (forgeries)."""
        body = obj if isinstance(obj, bytes) else self.webhook_body(obj, event_type)
        header = signature if signature is not None else signature_header(secret or self.client_secret, body)
        headers = {"Content-Type": "application/x-www-form-urlencoded", SIGNATURE_HEADER: header,
                   "User-Agent": "Lightspeed Retail (X-Series) Webhooks"}  # fmt: skip
        return requests.post(url, data=body, headers=headers, timeout=timeout)

    def notify(self, event_type: str, obj: Mapping[str, Any]) -> list[int]:
        """Deliver ``obj`` to every active subscription of ``event_type``; their status codes."""
        codes = []
        for hook in list(self.webhooks.values()):
            if hook["active"] and hook["type"] == event_type:
                codes.append(self.send_webhook(hook["url"], obj, event_type=event_type).status_code)
        return codes
