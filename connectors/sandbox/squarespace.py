"""A contract-faithful fake of the Squarespace Commerce APIs the Squarespace source reads, and its
order notifications.

Served (JSON, Squarespace's shapes; ``Authorization: Bearer <key>`` and a ``User-Agent`` required):

* ``GET /1.0/commerce/orders``: ``modifiedAfter`` and ``modifiedBefore`` (together, or neither),
  ``fulfillmentStatus``, or ``cursor`` alone; ``{"result": [...], "pagination": {"hasNextPage",
  "nextPageCursor", "nextPageUrl"}}``, 50 a page;
* ``GET /1.0/commerce/orders/{id}``: the order object;
* ``GET /1.0/commerce/transactions``: the same filters and cursor, ``{"documents": [...],
  "pagination"}``, ordered by ``modifiedOn``, 50 a page;
* ``GET /1.0/commerce/transactions/{ids}``: up to 50 comma-separated Document ids.

Cursors are dynamic, as Squarespace's are: they remember the filters and the last
``(modifiedOn, id)`` served, so a record changed mid-way moves to the end instead of shifting a page.
Errors are ``{"type", "subtype", "message", "details", "contextId"}``. More than
``requests_per_minute`` requests in a minute are answered 429 without ``Retry-After`` (Squarespace's
cool-down is a minute); injected faults come from the shared :class:`FaultPlan`.

:meth:`SquarespaceSandbox.send_webhook` posts an order notification signed as Squarespace signs:
hex HMAC-SHA256 of the body with the subscription's hex secret decoded to bytes.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests

from .base import Request, Response, SandboxServer, route

__all__ = ["SquarespaceSandbox", "sign_notification"]

Item = dict[str, Any]
PAGE_SIZE = 50


def sign_notification(body: bytes, secret_hex: str) -> str:
    """``Squarespace-Signature``: hex HMAC-SHA256 with the hex-decoded secret."""
    return hmac.new(bytes.fromhex(secret_hex), body, hashlib.sha256).hexdigest()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _when(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _modified(item: Any) -> datetime | None:
    """An item's ``modifiedOn``, or None for what a test seeded malformed (no such time, not an
    object): the sandbox serves such an item as it is instead of failing the whole list."""
    try:
        return _when(item["modifiedOn"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None


def _order_key(item: Any) -> tuple[datetime, str]:
    """Listing order: by modification time, then id (malformed items first)."""
    stamp = _modified(item)
    ident = item.get("id") if isinstance(item, dict) else None
    return (stamp or datetime.min.replace(tzinfo=UTC), str(ident))


class _Refused(Exception):
    """Raised inside a handler to answer with a Squarespace error object."""

    def __init__(self, status: int, kind: str, message: str, subtype: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.subtype = status, kind, message, subtype


class SquarespaceSandbox(SandboxServer):
    """The fake site: seed it with :meth:`add_order`, or run it with :meth:`place_order`,
    :meth:`refund` and :meth:`fulfil`; point a ``SquarespaceSource`` at :attr:`url`."""

    vendor = "squarespace"

    def __init__(
        self,
        *,
        api_key: str = "sqsp-sandbox-key-7f3a",
        website_id: str = "5f3c3d55ac435e1a051f77b3",
        requests_per_minute: int = 300,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.api_key = api_key
        self.website_id = website_id
        self.requests_per_minute = requests_per_minute
        self.clock = clock or (lambda: datetime.now(UTC))
        self.orders: dict[str, Item] = {}
        self.documents: dict[str, Item] = {}
        self.throttled = 0
        self._recent: deque[float] = deque()

    # -- data --------------------------------------------------------------------------------

    def add_order(self, order: Mapping[str, Any], document: Mapping[str, Any] | None = None) -> None:
        """Put an order (and its transactions Document) on the site as they are."""
        with self.lock:
            self.orders[str(order["id"])] = copy.deepcopy(dict(order))
            if document is not None:
                self.documents[str(document["id"])] = copy.deepcopy(dict(document))

    def document_of(self, order_id: str) -> Item | None:
        """The Document whose ``salesOrderId`` is ``order_id``."""
        with self.lock:
            return next((d for d in self.documents.values() if d.get("salesOrderId") == order_id), None)

    def place_order(self, order: Mapping[str, Any], document: Mapping[str, Any] | None = None) -> Item:
        """A new order from templates: fresh ids, number and times (created and modified now)."""
        made = copy.deepcopy(dict(order))
        now = _stamp(self.clock())
        made["id"] = uuid.uuid4().hex[:24]
        with self.lock:
            made["orderNumber"] = str(1000 + len(self.orders) + 1)
        made["createdOn"] = made["modifiedOn"] = now
        doc = None
        if document is not None:
            doc = copy.deepcopy(dict(document))
            doc["id"] = str(uuid.uuid4())
            doc["salesOrderId"] = made["id"]
            doc["createdOn"] = doc["modifiedOn"] = now
            for payment in doc.get("payments") or []:
                payment["id"] = str(uuid.uuid4())
                payment["paidOn"] = now
        self.add_order(made, doc)
        return copy.deepcopy(made)

    def refund(self, order_id: str, amount: str, *, external_id: str | None = None, payment: int = 0) -> Item:
        """Refund ``amount`` on a payment: the Document records it (refunds, refunded and net
        amounts) and both the Document and the order are modified now."""
        now = _stamp(self.clock())
        with self.lock:
            order = self.orders[order_id]
            doc = self.document_of(order_id)
            if doc is None:
                raise KeyError(f"order {order_id} has no transactions document")
            paid = doc["payments"][payment]
            cur = paid["amount"]["currency"]
            refund = {
                "id": str(uuid.uuid4()),
                "amount": {"currency": cur, "value": amount},
                "refundedOn": now,
                "externalTransactionId": external_id or f"re_{uuid.uuid4().hex[:20]}",
            }
            paid.setdefault("refunds", []).append(refund)
            refunded = sum((Decimal(r["amount"]["value"]) for r in paid["refunds"]), Decimal(0))
            paid["refundedAmount"] = {"currency": cur, "value": str(refunded)}
            fees = sum((Decimal(f["amount"]["value"]) for f in paid.get("processingFees") or []), Decimal(0))
            paid["netAmount"] = {
                "currency": cur,
                "value": str(Decimal(paid["amount"]["value"]) - refunded - fees),
            }
            doc["modifiedOn"] = now
            total_refunded = Decimal(order["refundedTotal"]["value"]) + Decimal(amount)
            order["refundedTotal"] = {"currency": cur, "value": str(total_refunded)}
            order["modifiedOn"] = now
            return copy.deepcopy(refund)

    def fulfil(self, order_id: str) -> None:
        """Mark an order fulfilled (the order changes; its Document does not)."""
        with self.lock:
            order = self.orders[order_id]
            order["fulfillmentStatus"] = "FULFILLED"
            order["fulfilledOn"] = order["modifiedOn"] = _stamp(self.clock())

    # -- notifications -----------------------------------------------------------------------

    def notification(self, topic: str, order_id: str, *, update: str | None = None) -> Item:
        """An order notification as Squarespace sends it (a fresh ``id``)."""
        data: Item = {"orderId": order_id}
        if update:
            data["update"] = update
        return {
            "id": uuid.uuid4().hex[:24],
            "websiteId": self.website_id,
            "subscriptionId": "5f3c2155d947844beedda991",
            "topic": topic,
            "createdOn": _stamp(self.clock()),
            "data": data,
        }

    def send_webhook(
        self, url: str, notification: Mapping[str, Any], secret_hex: str, *, timeout: float = 10.0
    ) -> requests.Response:
        """POST a notification signed as Squarespace signs it (re-send the same dict for a retry)."""
        body = json.dumps(notification, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "User-Agent": "Squarespace-Webhooks/1.0",
            "Squarespace-Signature": sign_notification(body, secret_hex),
        }
        return requests.post(url, data=body, headers=headers, timeout=timeout)

    # -- API ---------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Squarespace's error object."""
        kind = {401: "AUTHORIZATION_ERROR", 404: "NOT_FOUND", 429: "RATE_LIMITED"}.get(
            status, "INVALID_REQUEST_ERROR" if status < 500 else "INTERNAL_ERROR"
        )
        return {
            "type": kind,
            "subtype": None,
            "message": message,
            "details": None,
            "contextId": uuid.uuid4().hex[:9].upper(),
        }

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Squarespace's 429 says nothing about when to come back (the cool-down is a minute)."""
        return {}

    def _answer(self, req: Request, handler: Callable[[], Any]) -> Response:
        try:
            self._admit(req)
            return Response(200, handler(), content_type="application/json; charset=UTF-8")
        except _Refused as exc:
            body = self.error_body(exc.status, exc.message)
            body["type"] = exc.kind
            body["subtype"] = exc.subtype
            return Response(exc.status, body)

    def _admit(self, req: Request) -> None:
        if not req.header("User-Agent"):
            raise _Refused(400, "INVALID_REQUEST_ERROR", "A User-Agent header is required.", "MISSING_HEADER")
        token = req.header("Authorization").removeprefix("Bearer ")
        if not hmac.compare_digest(token, self.api_key):
            raise _Refused(401, "AUTHORIZATION_ERROR", "The API key is invalid or has been revoked.")
        with self.lock:
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - 60:
                self._recent.popleft()
            if len(self._recent) >= self.requests_per_minute:
                self.throttled += 1
                raise _Refused(429, "RATE_LIMITED", "Too many requests; try again in a minute.")
            self._recent.append(now)

    def _filters(self, req: Request) -> dict[str, str]:
        cursor = req.arg("cursor")
        if cursor:
            if set(req.query) - {"cursor"}:
                raise _Refused(
                    400, "INVALID_REQUEST_ERROR", "cursor cannot be combined with other parameters."
                )
            try:
                state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
                return {str(k): str(x) for k, x in state.items()}
            except (ValueError, binascii.Error) as exc:
                raise _Refused(400, "INVALID_REQUEST_ERROR", "Invalid cursor.") from exc
        after, before = req.arg("modifiedAfter"), req.arg("modifiedBefore")
        if bool(after) != bool(before):
            raise _Refused(
                400, "INVALID_REQUEST_ERROR", "modifiedAfter and modifiedBefore must be used together."
            )
        filters = {
            k: req.arg(k) for k in ("modifiedAfter", "modifiedBefore", "fulfillmentStatus") if req.arg(k)
        }
        for key in ("modifiedAfter", "modifiedBefore"):
            if key in filters:
                try:
                    _when(filters[key])
                except ValueError as exc:
                    raise _Refused(400, "INVALID_REQUEST_ERROR", f"{key} is not an ISO 8601 date.") from exc
        return filters

    def _page(self, req: Request, items: list[Item], key: str) -> Item:
        filters = self._filters(req)
        chosen = []
        for item in items:
            stamp = _modified(item)
            if stamp is None:
                chosen.append(item)  # a seeded malformed item: listed as it is, whatever the filters
                continue
            if "modifiedAfter" in filters and not stamp > _when(filters["modifiedAfter"]):
                continue
            if "modifiedBefore" in filters and not stamp < _when(filters["modifiedBefore"]):
                continue
            if filters.get("fulfillmentStatus") not in (None, item.get("fulfillmentStatus")):
                continue
            chosen.append(item)
        chosen.sort(key=_order_key)
        if "after" in filters:
            last = (_when(filters["after"]), filters["after_id"])
            chosen = [i for i in chosen if _order_key(i) > last]
        page, more = chosen[:PAGE_SIZE], len(chosen) > PAGE_SIZE
        cursor = None
        if more:
            state = {k: x for k, x in filters.items() if k not in ("after", "after_id")}
            state |= {"after": page[-1]["modifiedOn"], "after_id": str(page[-1]["id"])}
            cursor = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        return {
            key: copy.deepcopy(page),
            "pagination": {
                "hasNextPage": more,
                "nextPageCursor": cursor,
                "nextPageUrl": f"{self.url}{req.path}?cursor={cursor}" if cursor else None,
            },
        }

    @route("GET", "/1.0/commerce/orders")
    def list_orders(self, req: Request) -> Response:
        """Retrieve all orders."""
        with self.lock:
            orders = list(self.orders.values())
        return self._answer(req, lambda: self._page(req, orders, "result"))

    @route("GET", "/1.0/commerce/orders/{order_id}")
    def get_order(self, req: Request) -> Response:
        """Retrieve a specific order."""

        def found() -> Item:
            with self.lock:
                order = self.orders.get(req.params["order_id"])
            if order is None:
                raise _Refused(404, "NOT_FOUND", f"Order {req.params['order_id']} not found.")
            return copy.deepcopy(order)

        return self._answer(req, found)

    @route("GET", "/1.0/commerce/transactions")
    def list_documents(self, req: Request) -> Response:
        """Retrieve all transactions (Documents, by modification time)."""
        with self.lock:
            docs = list(self.documents.values())
        return self._answer(req, lambda: self._page(req, docs, "documents"))

    @route("GET", "/1.0/commerce/transactions/{ids}")
    def get_documents(self, req: Request) -> Response:
        """Retrieve specific transactions (up to 50 ids)."""

        def found() -> Item:
            ids = [i for i in req.params["ids"].split(",") if i]
            if len(ids) > PAGE_SIZE:
                raise _Refused(400, "INVALID_REQUEST_ERROR", "At most 50 ids may be requested.")
            with self.lock:
                docs = [copy.deepcopy(self.documents[i]) for i in ids if i in self.documents]
            return {"documents": docs}

        return self._answer(req, found)
