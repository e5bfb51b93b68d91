"""A fake of the Clover REST endpoints the Clover source reads, and Clover's webhook sender.

Served (JSON, Clover's shapes, ``Authorization: Bearer <token>`` required, one merchant):

* ``GET /v3/merchants/{mId}`` (``expand=properties`` adds ``defaultCurrency``);
* ``GET /v3/merchants/{mId}/orders/{id}`` and ``GET .../orders``: relations (``lineItems``,
  ``discounts``, ``payments``, ``refunds`` and the nested ``lineItems.taxRates``,
  ``lineItems.discounts``, ``lineItems.modifications``, ``payments.tender``) are only included when
  named in ``expand``, as Clover does; a deleted order answers 404;
* ``GET .../payments/{id}``, ``GET .../payments``, ``GET .../refunds`` and ``GET .../cash_events``;
* lists take ``limit`` (1..1000, default 100) and ``offset``; ``orders`` and ``payments`` must be
  filtered to a window of at most 90 days (``filter=modifiedTime>=..`` and ``<=..``, or on
  ``createdTime``), otherwise they answer 400 as Clover enforces.

Errors look like Clover's (``{"message": "..."}``); a 429 carries ``X-RateLimit-tokenLimit`` and
no ``Retry-After`` (Clover sends one only for its concurrency limits). :meth:`CloverSandbox.send_webhook`
posts ``{"appId", "merchants": {mId: [{objectId, type, ts}]}}`` with the ``X-Clover-Auth`` header,
and :meth:`CloverSandbox.send_verification` the one-time ``{"verificationCode": ...}`` that has no
auth header.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from connectors.sandbox.base import Request, Response, SandboxServer, route

__all__ = ["DEFAULT_TOKEN", "MAX_WINDOW_MS", "CloverSandbox"]

DEFAULT_TOKEN = "clover-sandbox-token"
MAX_WINDOW_MS = 90 * 24 * 3600 * 1000
_FILTER = re.compile(r"^(\w+)\s*(>=|<=|>|<|=)\s*(-?\d+)$")
_NESTED = {"lineItems": ("taxRates", "discounts", "modifications")}


class CloverError(Exception):
    """Raised inside a handler to answer with Clover's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class CloverSandbox(SandboxServer):
    """The fake Clover merchant: seed orders and cash events, point a ``CloverSource`` at :attr:`url`."""

    vendor = "clover"

    def __init__(
        self,
        *,
        merchant_id: str = "MSANDBOX00001",
        access_token: str = DEFAULT_TOKEN,
        currency: str = "USD",
        name: str = "Sandbox Cafe",
        app_id: str = "APPSANDBOX001",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.merchant_id = merchant_id
        self.access_token = access_token
        self.currency = currency
        self.name = name
        self.app_id = app_id
        self.orders: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.cash_events: list[dict[str, Any]] = []

    # -- seeding -----------------------------------------------------------------------------

    def add_order(self, order: Mapping[str, Any]) -> None:
        """Store (or replace) a fully expanded order (with its payments and refunds)."""
        with self.lock:
            self.orders[str(order["id"])] = copy.deepcopy(dict(order))
            self.deleted.discard(str(order["id"]))

    def delete_order(self, order_id: str) -> None:
        """Delete an order (reads answer 404 from now on)."""
        with self.lock:
            self.deleted.add(order_id)

    def add_cash_event(self, event: Mapping[str, Any]) -> None:
        """Store a cash event."""
        with self.lock:
            self.cash_events.append(copy.deepcopy(dict(event)))

    # -- webhooks ----------------------------------------------------------------------------

    def send_verification(
        self, url: str, code: str | None = None, *, timeout: float = 10.0
    ) -> requests.Response:
        """POST the one-time verification code (no auth header: the code comes before the auth code)."""
        body = json.dumps({"verificationCode": code or str(uuid.uuid4())}).encode()
        return requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout)

    def send_webhook(
        self,
        url: str,
        auth_code: str | None,
        updates: Iterable[tuple[str, str, int]] | Mapping[str, Iterable[tuple[str, str, int]]],
        *,
        body: bytes | None = None,
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST a notification: ``updates`` are ``(objectId, type, ts)`` for this merchant, or a map
        of merchant id to such lists. ``auth_code`` None sends no ``X-Clover-Auth`` header."""
        if body is None:
            if isinstance(updates, Mapping):
                by_merchant = {m: list(u) for m, u in updates.items()}
            else:
                by_merchant = {self.merchant_id: list(updates)}
            payload = {
                "appId": self.app_id,
                "merchants": {
                    m: [{"objectId": o, "type": t, "ts": ts} for o, t, ts in items]
                    for m, items in by_merchant.items()
                },
            }
            body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "Clover-Webhooks"}
        if auth_code is not None:
            headers["X-Clover-Auth"] = auth_code
        return requests.post(url, data=body, headers=headers, timeout=timeout)

    # -- vendor flavour ----------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Clover's error body."""
        return {"message": f"{status} {message}"}

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Clover's per-token 429: which limit was hit, and no Retry-After."""
        return {"X-RateLimit-tokenLimit": "16"}

    def _handle(self, req: Request, merchant_id: str, handler: Any) -> Response:
        try:
            if req.header("Authorization") != f"Bearer {self.access_token}":
                raise CloverError(401, "401 Unauthorized")
            if merchant_id != self.merchant_id:
                raise CloverError(401, "Merchant not authorized for this token")
            return Response(200, handler())
        except CloverError as exc:
            return Response(exc.status, {"message": exc.message})

    # -- reading -----------------------------------------------------------------------------

    @route("GET", "/v3/merchants/{mid}")
    def get_merchant(self, req: Request) -> Response:
        """The merchant, with ``properties`` when expanded."""

        def answer() -> Any:
            merchant: dict[str, Any] = {"id": self.merchant_id, "name": self.name}
            if "properties" in req.arg("expand").split(","):
                merchant["properties"] = {"defaultCurrency": self.currency}
            return merchant

        return self._handle(req, req.params["mid"], answer)

    @route("GET", "/v3/merchants/{mid}/orders/{order_id}")
    def get_order(self, req: Request) -> Response:
        """One order, expanded as asked."""

        def answer() -> Any:
            order_id = req.params["order_id"]
            with self.lock:
                order = self.orders.get(order_id)
                if order is None or order_id in self.deleted:
                    raise CloverError(404, "Not Found")
                return _expanded(order, _expands(req))

        return self._handle(req, req.params["mid"], answer)

    @route("GET", "/v3/merchants/{mid}/orders")
    def list_orders(self, req: Request) -> Response:
        """Orders in a window of at most 90 days, paged."""

        def answer() -> Any:
            conditions = _filters(req, required=True)
            expands = _expands(req)
            with self.lock:
                found = [
                    _expanded(o, expands)
                    for oid, o in sorted(
                        self.orders.items(), key=lambda kv: (kv[1].get("modifiedTime", 0), kv[0])
                    )
                    if oid not in self.deleted and _matches(o, conditions)
                ]
            return _page(req, found)

        return self._handle(req, req.params["mid"], answer)

    def _payments(self) -> list[dict[str, Any]]:
        with self.lock:
            payments = []
            for oid, order in self.orders.items():
                if oid in self.deleted:
                    continue
                for p in (order.get("payments") or {}).get("elements", []):
                    payments.append({**copy.deepcopy(p), "order": {"id": oid}})
            return payments

    @route("GET", "/v3/merchants/{mid}/payments/{payment_id}")
    def get_payment(self, req: Request) -> Response:
        """One payment (with ``order.id``)."""

        def answer() -> Any:
            for p in self._payments():
                if p.get("id") == req.params["payment_id"]:
                    return p
            raise CloverError(404, "Not Found")

        return self._handle(req, req.params["mid"], answer)

    @route("GET", "/v3/merchants/{mid}/payments")
    def list_payments(self, req: Request) -> Response:
        """Payments in a window of at most 90 days, paged (the day's payments by tender)."""

        def answer() -> Any:
            conditions = _filters(req, required=True)
            found = sorted(
                (p for p in self._payments() if _matches(p, conditions)),
                key=lambda p: (p.get("createdTime", 0), p.get("id", "")),
            )
            return _page(req, found)

        return self._handle(req, req.params["mid"], answer)

    @route("GET", "/v3/merchants/{mid}/refunds")
    def list_refunds(self, req: Request) -> Response:
        """Refunds (of every order's payments), filtered and paged."""

        def answer() -> Any:
            conditions = _filters(req, required=False)
            refunds = []
            with self.lock:
                for oid, order in self.orders.items():
                    if oid in self.deleted:
                        continue
                    for r in (order.get("refunds") or {}).get("elements", []):
                        refunds.append({**copy.deepcopy(r), "orderRef": {"id": oid}})
            found = [r for r in refunds if _matches(r, conditions)]
            return _page(req, sorted(found, key=lambda r: (r.get("createdTime", 0), r.get("id", ""))))

        return self._handle(req, req.params["mid"], answer)

    @route("GET", "/v3/merchants/{mid}/cash_events")
    def list_cash_events(self, req: Request) -> Response:
        """Cash events, filtered on ``timestamp`` and paged."""

        def answer() -> Any:
            conditions = _filters(req, required=False)
            with self.lock:
                found = [copy.deepcopy(e) for e in self.cash_events if _matches(e, conditions)]
            return _page(req, sorted(found, key=lambda e: e.get("timestamp", 0)))

        return self._handle(req, req.params["mid"], answer)


def _expands(req: Request) -> set[str]:
    return {
        part.strip() for value in req.query.get("expand", []) for part in value.split(",") if part.strip()
    }


def _expanded(order: Mapping[str, Any], expands: set[str]) -> dict[str, Any]:
    """The order as Clover answers it: a relation appears only when expanded."""
    out = copy.deepcopy(dict(order))
    for relation in ("lineItems", "discounts", "payments", "refunds"):
        if relation not in expands:
            out.pop(relation, None)
    for item in _elements(out.get("lineItems")):
        for nested in _NESTED["lineItems"]:
            if f"lineItems.{nested}" not in expands:
                item.pop(nested, None)
    if "payments.tender" not in expands:
        for p in _elements(out.get("payments")):
            if isinstance(p.get("tender"), Mapping):
                p["tender"] = {"id": p["tender"].get("id")}
    return out


def _elements(relation: Any) -> list[dict[str, Any]]:
    """The objects of an expanded relation; whatever else a seeded order holds there (a test's
    malformed order) is served as it is, as a vendor serving bad data would."""
    elements = relation.get("elements") if isinstance(relation, Mapping) else None
    return [e for e in elements if isinstance(e, dict)] if isinstance(elements, list) else []


def _filters(req: Request, *, required: bool) -> list[tuple[str, str, int]]:
    """Parsed ``filter=field>=value`` conditions; a time window is enforced for orders/payments."""
    conditions = []
    for raw in req.query.get("filter", []):
        match = _FILTER.match(raw.strip())
        if match is None:
            raise CloverError(400, f"Invalid filter: {raw}")
        conditions.append((match.group(1), match.group(2), int(match.group(3))))
    if required:
        times = [c for c in conditions if c[0] in ("modifiedTime", "createdTime", "clientCreatedTime")]
        lows = [v for _, op, v in times if op in (">=", ">")]
        highs = [v for _, op, v in times if op in ("<=", "<")]
        if not lows or not highs:
            raise CloverError(400, "A createdTime or modifiedTime filter with a start and an end is required")
        if min(highs) - max(lows) > MAX_WINDOW_MS:
            raise CloverError(400, "The time filter may not span more than 90 days")
    limit = req.arg("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise CloverError(400, f"Invalid limit: {limit}")
    if not req.arg("offset", "0").isdigit():
        raise CloverError(400, "Invalid offset")
    return conditions


def _matches(obj: Mapping[str, Any], conditions: list[tuple[str, str, int]]) -> bool:
    for field, op, value in conditions:
        have = obj.get(field)
        if not isinstance(have, int):
            return False
        ok = {
            ">=": have >= value,
            "<=": have <= value,
            ">": have > value,
            "<": have < value,
            "=": have == value,
        }[op]
        if not ok:
            return False
    return True


def _page(req: Request, found: list[Any]) -> dict[str, Any]:
    limit, offset = int(req.arg("limit", "100")), int(req.arg("offset", "0"))
    return {"elements": found[offset : offset + limit], "href": req.path}


def now_millis() -> int:
    """Now, in Clover's epoch milliseconds."""
    return int(time.time() * 1000)
