"""A contract-faithful fake of the Square API endpoints the Square source reads, and its webhooks.

Served (all JSON, Square's shapes, ``Authorization: Bearer <token>`` required):

* ``GET /v2/orders/{id}`` -> ``{"order": ...}``
* ``POST /v2/orders/search`` -> ``{"orders": [...], "cursor": ...}``: ``location_ids`` (1-10),
  ``limit`` (1-1000, default 500), ``query.filter.state_filter`` and one ``date_time_filter`` whose
  field must equal ``query.sort.sort_field`` (Square answers 400 otherwise). A cursor is only valid
  with the exact query that produced it: a follow-up whose body differs in anything but ``cursor``
  is answered 400, as Square does. The result set is fixed at the first page (an open end time
  means "the time of the first request for the cursor"), so orders added mid-way do not shift pages.
* ``GET /v2/payments/{id}``, ``GET /v2/payments``, ``GET /v2/refunds/{id}``, ``GET /v2/refunds``,
  ``GET /v2/payouts``, ``GET /v2/payouts/{id}/payout-entries``: cursor paging, at most 100 a page,
  the documented time filters, unknown query parameters refused.
* ``POST /v2/inventory/counts/batch-retrieve`` -> ``{"counts": [...], "cursor": ...}``: filters
  ``catalog_object_ids``, ``location_ids``, ``states`` (InventoryState values), ``updated_after``;
  ``limit`` 1-1000 (default 1000); the cursor only with the query that produced it; unknown fields
  refused.
* ``POST /v2/catalog/batch-retrieve`` -> ``{"objects": [...]}``: ``object_ids`` required (1-1000);
  ids it does not know are left out of the answer; deleted objects only when asked for.

Errors look like Square's: ``{"errors": [{"category", "code", "detail"}]}``. Faults (429 with
``Retry-After``, 5xx, timeouts, dropped answers) come from the shared :class:`FaultPlan`.
:meth:`SquareSandbox.send_webhook` signs a delivery exactly as Square does: base64 HMAC-SHA256 of
the notification URL followed by the body.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sources.square.signature import SIGNATURE_HEADER, sign

__all__ = ["SquareSandbox", "make_event"]

_ERRORS = {
    400: ("INVALID_REQUEST_ERROR", "BAD_REQUEST"),
    401: ("AUTHENTICATION_ERROR", "UNAUTHORIZED"),
    403: ("AUTHENTICATION_ERROR", "FORBIDDEN"),
    404: ("INVALID_REQUEST_ERROR", "NOT_FOUND"),
    429: ("RATE_LIMIT_ERROR", "RATE_LIMITED"),
    500: ("API_ERROR", "INTERNAL_SERVER_ERROR"),
    502: ("API_ERROR", "BAD_GATEWAY"),
    503: ("API_ERROR", "SERVICE_UNAVAILABLE"),
    504: ("API_ERROR", "GATEWAY_TIMEOUT"),
}
#: The token a sandbox accepts unless told otherwise (not a secret: it only opens this fake server).
DEFAULT_TOKEN = "sq-sandbox-token"
_TIME_FIELDS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "CLOSED_AT": "closed_at"}
_SEARCH_KEYS = {"location_ids", "cursor", "query", "limit", "return_entries"}
_LIST_PARAMS = {
    "payments": {"begin_time", "end_time", "sort_order", "cursor", "location_id", "total", "last_4",
                 "card_brand", "limit", "is_offline_payment", "offline_begin_time", "offline_end_time",
                 "updated_at_begin_time", "updated_at_end_time", "sort_field"},
    "refunds": {"begin_time", "end_time", "sort_order", "cursor", "location_id", "status", "source_type",
                "limit", "updated_at_begin_time", "updated_at_end_time", "sort_field"},
    "payouts": {"location_id", "status", "begin_time", "end_time", "sort_order", "cursor", "limit"},
    "payout_entries": {"sort_order", "cursor", "limit"},
}  # fmt: skip
_COUNT_KEYS = {"catalog_object_ids", "location_ids", "updated_after", "cursor", "states", "limit"}
_CATALOG_KEYS = {"object_ids", "include_related_objects", "catalog_version", "include_deleted_objects",
                 "include_category_path_to_root"}  # fmt: skip
#: InventoryState values of square/api.json.
_INVENTORY_STATES = {"CUSTOM", "IN_STOCK", "SOLD", "RETURNED_BY_CUSTOMER", "RESERVED_FOR_SALE", "SOLD_ONLINE",
                     "ORDERED_FROM_VENDOR", "RECEIVED_FROM_VENDOR", "IN_TRANSIT_TO", "NONE", "WASTE",
                     "UNLINKED_RETURN", "COMPOSED", "DECOMPOSED", "SUPPORTED_BY_NEWER_VERSION",
                     "IN_TRANSIT"}  # fmt: skip


class SquareError(Exception):
    """Raised inside a handler to answer with a Square error body."""

    def __init__(self, status: int, code: str, detail: str, field: str = "") -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field


@dataclass
class _SearchCursor:
    """What a SearchOrders cursor stands for: the query it belongs to and where the next page starts."""

    query: str
    order_ids: list[str]
    offset: int


def _ts(value: str, field: str = "") -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as exc:
        raise SquareError(400, "INVALID_TIME", f"Invalid timestamp {value!r}.", field) from exc
    if parsed.tzinfo is None:
        raise SquareError(400, "INVALID_TIME", f"Timestamp {value!r} has no offset.", field)
    return parsed


def _json_body(req: Request, known: set[str]) -> dict[str, Any]:
    """A POST body as a JSON object whose fields are all ``known`` (Square refuses others)."""
    try:
        body = json.loads(req.body or b"{}")
    except ValueError as exc:
        raise SquareError(400, "EXPECTED_JSON_BODY", "The request body is not JSON.") from exc
    if not isinstance(body, dict):
        raise SquareError(400, "EXPECTED_OBJECT", "The request body must be an object.")
    unknown = sorted(set(body) - known)
    if unknown:
        raise SquareError(400, "UNKNOWN_BODY_PARAMETER", f"Unknown field {unknown[0]!r}.", unknown[0])
    return body


def make_event(
    event_type: str,
    obj_type: str,
    obj_id: str,
    obj: Mapping[str, Any],
    *,
    merchant_id: str = "MLSANDBOX00001",
) -> dict[str, Any]:
    """A webhook event in Square's envelope: ``{merchant_id, type, event_id, created_at, data}``."""
    return {
        "merchant_id": merchant_id,
        "type": event_type,
        "event_id": str(uuid.uuid4()),
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": {"type": obj_type, "id": obj_id, "object": dict(obj)},
    }


class SquareSandbox(SandboxServer):
    """The fake Square: seed it with ``add_*``, point a ``SquareSource`` at :attr:`url`."""

    vendor = "square"

    def __init__(
        self, *, access_token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0, seed: int = 0
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.access_token = access_token
        #: The seller's locations (``GET /v2/locations``); tests add or replace them.
        self.locations: list[dict[str, Any]] = [
            {"id": "LSANDBOXMAIN1", "name": "Sankofa High Street", "business_name": "Sankofa Imports",
             "status": "ACTIVE", "country": "GB", "currency": "GBP", "timezone": "Europe/London",
             "merchant_id": "MLSANDBOX00001", "language_code": "en-GB", "type": "PHYSICAL",
             "capabilities": ["CREDIT_CARD_PROCESSING"], "created_at": "2024-01-02T09:00:00Z"},
        ]  # fmt: skip
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, dict[str, Any]] = {}
        self.payout_entries: dict[str, list[dict[str, Any]]] = {}
        #: Catalogue objects by id (``POST /v2/catalog/batch-retrieve``) and inventory counts.
        self.catalog: dict[str, dict[str, Any]] = {}
        self.inventory_counts: list[dict[str, Any]] = []
        #: Every SearchOrders body received, in order (for tests: was the query repeated unchanged?).
        self.search_bodies: list[dict[str, Any]] = []
        self._search_cursors: dict[str, _SearchCursor] = {}
        self._list_cursors: dict[str, tuple[str, int]] = {}

    # -- seeding -----------------------------------------------------------------------------

    def reset(self, *, access_token: str = DEFAULT_TOKEN) -> None:
        """Forget every object, request, cursor and fault (reuse one server across tests)."""
        with self.lock:
            self.access_token = access_token
            for store in (self.orders, self.payments, self.refunds, self.payouts, self.payout_entries,
                          self.catalog):  # fmt: skip
                store.clear()
            self.inventory_counts.clear()
            self.requests.clear()
            self.search_bodies.clear()
            self._search_cursors.clear()
            self._list_cursors.clear()
        self.faults.clear()

    def add_order(self, order: Mapping[str, Any]) -> None:
        """Store (or replace) an order."""
        with self.lock:
            self.orders[str(order["id"])] = copy.deepcopy(dict(order))

    def add_payment(self, payment: Mapping[str, Any]) -> None:
        """Store (or replace) a payment."""
        with self.lock:
            self.payments[str(payment["id"])] = copy.deepcopy(dict(payment))

    def add_refund(self, refund: Mapping[str, Any]) -> None:
        """Store (or replace) a payment refund."""
        with self.lock:
            self.refunds[str(refund["id"])] = copy.deepcopy(dict(refund))

    def add_payout(self, payout: Mapping[str, Any], entries: Iterable[Mapping[str, Any]] = ()) -> None:
        """Store (or replace) a payout and its entries."""
        with self.lock:
            self.payouts[str(payout["id"])] = copy.deepcopy(dict(payout))
            self.payout_entries[str(payout["id"])] = [copy.deepcopy(dict(e)) for e in entries]

    def add_variation(
        self, variation_id: str, sku: str = "", *, item_id: str = "", name: str = "Regular"
    ) -> dict[str, Any]:
        """Store an ITEM_VARIATION catalogue object (no ``sku`` key when ``sku`` is empty, as Square
        leaves unset fields out) and return it."""
        data: dict[str, Any] = {"item_id": item_id or f"ITEM-{variation_id}", "name": name,
                                "pricing_type": "VARIABLE_PRICING", "track_inventory": True}  # fmt: skip
        if sku:
            data["sku"] = sku
        obj = {"type": "ITEM_VARIATION", "id": variation_id, "updated_at": "2026-11-01T09:00:00.000Z",
               "version": 1, "is_deleted": False, "present_at_all_locations": True,
               "item_variation_data": data}  # fmt: skip
        with self.lock:
            self.catalog[variation_id] = obj
        return copy.deepcopy(obj)

    def add_count(
        self,
        catalog_object_id: str,
        location_id: str,
        quantity: str,
        *,
        state: str = "IN_STOCK",
        calculated_at: str = "2026-11-30T18:00:00.000Z",
    ) -> None:
        """Store an inventory count (``quantity`` is a decimal string, as Square sends it)."""
        with self.lock:
            self.inventory_counts.append({
                "catalog_object_id": catalog_object_id, "catalog_object_type": "ITEM_VARIATION",
                "state": state, "location_id": location_id, "quantity": quantity,
                "calculated_at": calculated_at,
            })  # fmt: skip

    def clone_orders(
        self, template: Mapping[str, Any], count: int, *, start: datetime, step: timedelta
    ) -> list[str]:
        """Add ``count`` copies of an order with new ids and ``updated_at`` spaced by ``step``."""
        ids = []
        for n in range(count):
            order = copy.deepcopy(dict(template))
            order["id"] = f"{str(template['id'])[:12]}CLONE{n:06d}"
            stamp = (
                (start + n * step).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
            order["updated_at"] = order["closed_at"] = stamp
            self.add_order(order)
            ids.append(order["id"])
        return ids

    # -- webhooks ----------------------------------------------------------------------------

    @staticmethod
    def signature(signature_key: str, notification_url: str, body: bytes) -> str:
        """The ``x-square-hmacsha256-signature`` value for a delivery."""
        return sign(signature_key, notification_url, body)

    def send_webhook(
        self,
        url: str,
        event: Mapping[str, Any] | bytes,
        signature_key: str,
        notification_url: str | None = None,
        *,
        retry_number: int = 0,
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST ``event`` to ``url`` signed as Square signs it.

        ``notification_url`` is the URL registered with Square (what gets signed); it defaults to
        ``url``. Pass a different one to act out a proxy: Square signs the public URL while our
        server receives the request on another. Square gives a receiver 10 s to answer.
        """
        body = event if isinstance(event, bytes) else json.dumps(event).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Square Connect v2",
            SIGNATURE_HEADER: sign(signature_key, notification_url or url, body),
            "square-environment": "Sandbox",
            "square-initial-delivery-timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "square-retry-number": str(retry_number),
        }
        return requests.post(url, data=body, headers=headers, timeout=timeout)

    # -- vendor flavour ----------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Square's error envelope for a status."""
        category, code = _ERRORS.get(status, ("API_ERROR", "INTERNAL_SERVER_ERROR"))
        return {"errors": [{"category": category, "code": code, "detail": message}]}

    def _fail(self, exc: SquareError) -> Response:
        category = _ERRORS.get(exc.status, ("INVALID_REQUEST_ERROR", ""))[0]
        error: dict[str, str] = {"category": category, "code": exc.code, "detail": exc.detail}
        if exc.field:
            error["field"] = exc.field
        return Response(exc.status, {"errors": [error]})

    def _handle(self, req: Request, handler: Callable[[], Any]) -> Response:
        """Authenticate, check Square-Version, run the handler, map SquareError to its answer."""
        try:
            if req.header("Authorization") != f"Bearer {self.access_token}":
                raise SquareError(401, "UNAUTHORIZED", "This request could not be authorized.")
            version = req.header("Square-Version")
            if version and not (len(version) == 10 and version[4] == "-" and version[7] == "-"):
                raise SquareError(
                    400, "INVALID_SQUARE_VERSION_FORMAT", f"Invalid Square-Version {version!r}."
                )
            return Response(200, handler())
        except SquareError as exc:
            return self._fail(exc)

    # -- single objects ----------------------------------------------------------------------

    def _one(self, store: dict[str, dict[str, Any]], key: str, object_id: str, what: str) -> dict[str, Any]:
        with self.lock:
            found = store.get(object_id)
        if found is None:
            raise SquareError(404, "NOT_FOUND", f"Could not find {what} with id `{object_id}`.")
        return {key: copy.deepcopy(found)}

    @route("GET", "/v2/locations")
    def list_locations(self, req: Request) -> Response:
        """ListLocations: every location of the seller (no paging, as Square documents)."""
        return self._handle(req, lambda: {"locations": copy.deepcopy(self.locations)})

    @route("GET", "/v2/orders/{order_id}")
    def retrieve_order(self, req: Request) -> Response:
        """RetrieveOrder."""
        return self._handle(req, lambda: self._one(self.orders, "order", req.params["order_id"], "Order"))

    @route("GET", "/v2/payments/{payment_id}")
    def get_payment(self, req: Request) -> Response:
        """GetPayment."""
        return self._handle(
            req, lambda: self._one(self.payments, "payment", req.params["payment_id"], "Payment")
        )

    @route("GET", "/v2/refunds/{refund_id}")
    def get_refund(self, req: Request) -> Response:
        """GetPaymentRefund."""
        return self._handle(req, lambda: self._one(self.refunds, "refund", req.params["refund_id"], "Refund"))

    # -- SearchOrders --------------------------------------------------------------------------

    @route("POST", "/v2/orders/search")
    def search_orders(self, req: Request) -> Response:
        """SearchOrders with Square's cursor rule: the same query on every page."""
        return self._handle(req, lambda: self._search(req))

    def _search(self, req: Request) -> dict[str, Any]:
        try:
            body = json.loads(req.body or b"{}")
        except ValueError as exc:
            raise SquareError(400, "EXPECTED_JSON_BODY", "The request body is not JSON.") from exc
        if not isinstance(body, dict):
            raise SquareError(400, "EXPECTED_OBJECT", "The request body must be an object.")
        with self.lock:
            self.search_bodies.append(copy.deepcopy(body))
        unknown = set(body) - _SEARCH_KEYS
        if unknown:
            raise SquareError(
                400, "UNKNOWN_BODY_PARAMETER", f"Unknown field {sorted(unknown)[0]!r}.", sorted(unknown)[0]
            )
        locations = body.get("location_ids")
        if not isinstance(locations, list) or not locations:
            raise SquareError(
                400, "MISSING_REQUIRED_PARAMETER", "Missing required parameter.", "location_ids"
            )
        if len(locations) > 10:
            raise SquareError(400, "ARRAY_LENGTH_TOO_LONG", "At most 10 location_ids.", "location_ids")
        limit = body.get("limit", 500)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise SquareError(400, "VALUE_TOO_LOW", "limit must be at least 1.", "limit")
        if limit > 1000:
            raise SquareError(400, "VALUE_TOO_HIGH", "limit must be at most 1000.", "limit")
        query_key = json.dumps({k: v for k, v in body.items() if k != "cursor"}, sort_keys=True)
        cursor = body.get("cursor")
        if cursor:
            with self.lock:
                state = self._search_cursors.get(str(cursor))
            if state is None:
                raise SquareError(400, "INVALID_CURSOR", "The cursor is invalid or has expired.", "cursor")
            if state.query != query_key:
                raise SquareError(
                    400, "INVALID_VALUE", "The query differs from the one that produced the cursor.", "cursor"
                )
        else:
            state = _SearchCursor(query_key, self._matching_orders(body), 0)
        page_ids = state.order_ids[state.offset : state.offset + limit]
        with self.lock:
            orders = [copy.deepcopy(self.orders[i]) for i in page_ids if i in self.orders]
        result: dict[str, Any] = {}
        if body.get("return_entries"):
            result["order_entries"] = [
                {
                    "order_id": o["id"],
                    "location_id": o.get("location_id"),
                    **({"version": o["version"]} if "version" in o else {}),
                }
                for o in orders
            ]
        elif orders:
            result["orders"] = orders
        next_offset = state.offset + limit
        if next_offset < len(state.order_ids):
            token = uuid.uuid4().hex
            with self.lock:
                self._search_cursors[token] = _SearchCursor(query_key, state.order_ids, next_offset)
            result["cursor"] = token
        return result

    def _matching_orders(self, body: Mapping[str, Any]) -> list[str]:
        """Ids of the orders a query selects, sorted as asked (fixed for the whole cursor chain)."""
        query = body.get("query") or {}
        filt = query.get("filter") or {}
        sort = query.get("sort") or {}
        sort_field = str(sort.get("sort_field") or "CREATED_AT")
        if sort_field not in _TIME_FIELDS:
            raise SquareError(
                400, "INVALID_ENUM_VALUE", f"Unknown sort_field {sort_field!r}.", "query.sort.sort_field"
            )
        time_filter = filt.get("date_time_filter") or {}
        set_ranges = [k for k in ("created_at", "updated_at", "closed_at") if time_filter.get(k)]
        if len(set_ranges) > 1:
            raise SquareError(
                400,
                "BAD_REQUEST",
                "Only one time range may be filtered at a time.",
                "query.filter.date_time_filter",
            )
        if set_ranges and _TIME_FIELDS[sort_field] != set_ranges[0]:
            detail = f"sort_field must be {set_ranges[0].upper()} when filtering on {set_ranges[0]}."
            raise SquareError(400, "BAD_REQUEST", detail, "query.sort.sort_field")
        field = _TIME_FIELDS[sort_field]
        start = end = None
        if set_ranges:
            rng = time_filter[set_ranges[0]]
            start = _ts(rng["start_at"], "start_at") if rng.get("start_at") else None
            end = _ts(rng["end_at"], "end_at") if rng.get("end_at") else None
        end = end or datetime.now(UTC)  # an open end is "the time of the first request"
        states = set((filt.get("state_filter") or {}).get("states") or [])
        locations = set(body.get("location_ids") or [])
        with self.lock:
            candidates = list(self.orders.values())
        selected = []
        for order in candidates:
            if order.get("location_id") not in locations or (states and order.get("state") not in states):
                continue
            stamp = order.get(field)
            when = _ts(stamp) if stamp else None
            if set_ranges and (when is None or (start and when < start) or when > end):
                continue
            selected.append((when or datetime.min.replace(tzinfo=UTC), str(order["id"])))
        selected.sort(reverse=str(sort.get("sort_order") or "DESC") == "DESC")
        return [order_id for _, order_id in selected]

    # -- inventory and catalogue ---------------------------------------------------------------

    @route("POST", "/v2/inventory/counts/batch-retrieve")
    def batch_retrieve_inventory_counts(self, req: Request) -> Response:
        """BatchRetrieveInventoryCounts: cursor pages, the cursor bound to its query."""
        return self._handle(req, lambda: self._counts(req))

    def _counts(self, req: Request) -> dict[str, Any]:
        body = _json_body(req, _COUNT_KEYS)
        for field in ("catalog_object_ids", "location_ids", "states"):
            value = body.get(field)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(x, str) for x in value)
            ):
                raise SquareError(400, "EXPECTED_ARRAY", f"{field} must be an array of strings.", field)
        states = set(body.get("states") or [])
        if states - _INVENTORY_STATES:
            bad = sorted(states - _INVENTORY_STATES)[0]
            raise SquareError(400, "INVALID_ENUM_VALUE", f"Unknown InventoryState {bad!r}.", "states")
        limit = body.get("limit", 1000)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise SquareError(400, "VALUE_TOO_LOW", "limit must be at least 1.", "limit")
        if limit > 1000:
            raise SquareError(400, "VALUE_TOO_HIGH", "limit must be at most 1000.", "limit")
        after = _ts(body["updated_after"], "updated_after") if body.get("updated_after") else None
        query_key = json.dumps({k: v for k, v in body.items() if k != "cursor"}, sort_keys=True)
        offset = 0
        if body.get("cursor"):
            with self.lock:
                state = self._search_cursors.get(str(body["cursor"]))
            if state is None:
                raise SquareError(400, "INVALID_CURSOR", "The cursor is invalid or has expired.", "cursor")
            if state.query != query_key:
                raise SquareError(
                    400, "INVALID_VALUE", "The query differs from the one that produced the cursor.", "cursor"
                )
            offset = state.offset
        objects, locations = set(body.get("catalog_object_ids") or []), set(body.get("location_ids") or [])
        with self.lock:
            rows = [copy.deepcopy(c) for c in self.inventory_counts]
        rows = [
            c for c in rows
            if (not objects or c["catalog_object_id"] in objects)
            and (not locations or c["location_id"] in locations)
            and (not states or c["state"] in states)
            and (after is None or _ts(c["calculated_at"]) > after)
        ]  # fmt: skip
        result: dict[str, Any] = {}
        page = rows[offset : offset + limit]
        if page:
            result["counts"] = page
        if offset + limit < len(rows):
            token = uuid.uuid4().hex
            with self.lock:
                self._search_cursors[token] = _SearchCursor(query_key, [], offset + limit)
            result["cursor"] = token
        return result

    @route("POST", "/v2/catalog/batch-retrieve")
    def batch_retrieve_catalog_objects(self, req: Request) -> Response:
        """BatchRetrieveCatalogObjects: the objects of the ids it knows (others are left out)."""

        def retrieve() -> dict[str, Any]:
            body = _json_body(req, _CATALOG_KEYS)
            ids = body.get("object_ids")
            if not isinstance(ids, list) or not ids:
                raise SquareError(
                    400, "MISSING_REQUIRED_PARAMETER", "Missing required parameter.", "object_ids"
                )
            if len(ids) > 1000:
                raise SquareError(400, "ARRAY_LENGTH_TOO_LONG", "At most 1000 object_ids.", "object_ids")
            with self.lock:
                found = [
                    copy.deepcopy(self.catalog[i]) for i in ids if isinstance(i, str) and i in self.catalog
                ]
            if not body.get("include_deleted_objects"):
                found = [o for o in found if not o.get("is_deleted")]
            return {"objects": found} if found else {}

        return self._handle(req, retrieve)

    # -- list endpoints ------------------------------------------------------------------------

    @route("GET", "/v2/payments")
    def list_payments(self, req: Request) -> Response:
        """ListPayments."""
        return self._handle(
            req, lambda: self._list(req, "payments", self.payments.values(), updated_filter=True)
        )

    @route("GET", "/v2/refunds")
    def list_refunds(self, req: Request) -> Response:
        """ListPaymentRefunds."""
        return self._handle(
            req, lambda: self._list(req, "refunds", self.refunds.values(), updated_filter=True)
        )

    @route("GET", "/v2/payouts")
    def list_payouts(self, req: Request) -> Response:
        """ListPayouts."""
        return self._handle(
            req, lambda: self._list(req, "payouts", self.payouts.values(), updated_filter=False)
        )

    @route("GET", "/v2/payouts/{payout_id}/payout-entries")
    def list_payout_entries(self, req: Request) -> Response:
        """ListPayoutEntries."""

        def entries() -> dict[str, Any]:
            with self.lock:
                found = self.payout_entries.get(req.params["payout_id"])
            if found is None:
                raise SquareError(
                    404, "NOT_FOUND", f"Could not find Payout with id `{req.params['payout_id']}`."
                )
            if not isinstance(found, list) or not all(isinstance(e, dict) for e in found):
                return {"payout_entries": copy.deepcopy(found)}  # seeded malformed: served as it is
            return self._list(req, "payout_entries", found, updated_filter=False, time_filter=False)

        return self._handle(req, entries)

    def _list(
        self,
        req: Request,
        key: str,
        items: Iterable[dict[str, Any]],
        *,
        updated_filter: bool,
        time_filter: bool = True,
    ) -> dict[str, Any]:
        """A cursor-paged list with the filters Square documents for it."""
        unknown = set(req.query) - _LIST_PARAMS[key]
        if unknown:
            raise SquareError(
                400, "UNKNOWN_QUERY_PARAMETER", f"Unknown query parameter {sorted(unknown)[0]!r}."
            )
        with self.lock:
            rows = [copy.deepcopy(i) for i in items]
        if req.arg("location_id"):
            rows = [r for r in rows if r.get("location_id") == req.arg("location_id")]
        if req.arg("status"):
            rows = [r for r in rows if r.get("status") == req.arg("status")]
        if time_filter:
            now = datetime.now(UTC)
            begin = (
                _ts(req.arg("begin_time"), "begin_time")
                if req.arg("begin_time")
                else now - timedelta(days=365)
            )
            end = _ts(req.arg("end_time"), "end_time") if req.arg("end_time") else now
            rows = [r for r in rows if begin <= _ts(r["created_at"]) <= end]
            if updated_filter and req.arg("updated_at_begin_time"):
                ubegin = _ts(req.arg("updated_at_begin_time"), "updated_at_begin_time")
                uend = (
                    _ts(req.arg("updated_at_end_time"), "updated_at_end_time")
                    if req.arg("updated_at_end_time")
                    else now
                )
                rows = [r for r in rows if ubegin <= _ts(r.get("updated_at") or r["created_at"]) <= uend]
        sort_field = "updated_at" if req.arg("sort_field") == "UPDATED_AT" else "created_at"
        if key == "payout_entries":
            sort_field = "effective_at"
        rows.sort(
            key=lambda r: (str(r.get(sort_field) or ""), str(r.get("id"))),
            reverse=req.arg("sort_order", "DESC") != "ASC",
        )
        try:
            limit = min(int(req.arg("limit") or 100), 100)
        except ValueError as exc:
            raise SquareError(400, "EXPECTED_INTEGER", "limit must be an integer.", "limit") from exc
        offset = 0
        if req.arg("cursor"):
            with self.lock:
                saved = self._list_cursors.get(req.arg("cursor"))
            if saved is None or saved[0] != key:
                raise SquareError(400, "INVALID_CURSOR", "The cursor is invalid or has expired.", "cursor")
            offset = saved[1]
        result: dict[str, Any] = {}
        page = rows[offset : offset + limit]
        if page:
            result[key] = page
        if offset + limit < len(rows):
            token = uuid.uuid4().hex
            with self.lock:
                self._list_cursors[token] = (key, offset + limit)
            result["cursor"] = token
        return result
