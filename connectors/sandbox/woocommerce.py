"""A contract-faithful fake WooCommerce store: REST API v3 reads and signed webhook deliveries.

Served (JSON, WooCommerce's shapes; API key pair as HTTP Basic auth or ``consumer_key`` /
``consumer_secret`` query parameters, 401 otherwise):

* ``GET /wp-json/wc/v3/orders``: ``page``, ``per_page`` (1-100, default 10), ``modified_after`` /
  ``modified_before`` (site time, or GMT with ``dates_are_gmt=true``), ``status`` (``any`` leaves out
  the bin, as WooCommerce does), ``orderby`` (``date``, ``id``, ``modified``...), ``order``;
  answers carry ``X-WP-Total``, ``X-WP-TotalPages`` and a ``Link`` header;
* ``GET /wp-json/wc/v3/orders/{id}`` and ``GET /wp-json/wc/v3/orders/{id}/refunds`` (paged alike);
* ``GET /wp-json/wc/v3/settings/general`` (the store's currency).

Errors look like WooCommerce's: ``{"code", "message", "data": {"status"}}``. Faults (429 with
``Retry-After`` as a host in front of WooCommerce sends it, 5xx, timeouts) come from the shared
:class:`FaultPlan`.

Webhooks behave as WooCommerce's ``WC_Webhook``: :meth:`WooCommerceSandbox.add_webhook` posts the
unsigned ping (form body ``webhook_id=<n>``) and refuses to activate the hook unless it is answered
200; every store change (:meth:`create_order`, :meth:`update_order`, :meth:`refund_order`,
:meth:`delete_order`) is delivered to the active hooks of its topic with the order as it is *at
delivery time*, encoded as ``wp_json_encode`` does (``\\/`` for slashes) and signed over exactly those
bytes. There are no retries; a 2xx (or 301/302) resets the hook's failure count, anything else adds
one, and a hook that fails again after five failures in a row is disabled.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests

from .base import Request, Response, SandboxServer, route

__all__ = ["Delivery", "Hook", "WebhookPingFailed", "WooCommerceSandbox", "sign_body", "wp_json_encode"]

PREFIX = "/wp-json/wc/v3"
USER_AGENT = "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash",
                  "checkout-draft")  # fmt: skip
ORDERBY = ("date", "id", "include", "title", "slug", "modified")
#: WooCommerce disables a hook when a delivery fails while the count already exceeds this.
MAX_FAILURES = 5

Item = dict[str, Any]


class WebhookPingFailed(Exception):
    """The delivery URL did not answer the creation ping with 200 (WooCommerce shows this error)."""


@dataclass
class Hook:
    """One webhook of the store (``status``: active, paused or disabled)."""

    hook_id: int
    topic: str
    delivery_url: str
    secret: str
    status: str = "active"
    failure_count: int = 0


@dataclass
class Delivery:
    """One delivery attempt, as WooCommerce's delivery log keeps it."""

    hook_id: int
    topic: str
    resource_id: int
    delivery_id: str
    status: int | None
    body: bytes = field(repr=False, default=b"")


def wp_json_encode(payload: Any) -> bytes:
    """JSON as WordPress's ``wp_json_encode`` prints it: no spaces, ASCII only, slashes escaped."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True, default=str)
    return text.replace("/", "\\/").encode("ascii")


def sign_body(body: bytes, secret: str) -> str:
    """``X-WC-Webhook-Signature``: base64 HMAC-SHA256 of the body as sent."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode()


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _when(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class WooCommerceSandbox(SandboxServer):
    """The fake store: seed orders with :meth:`add_order` or run the store with :meth:`create_order`
    and friends; point a ``WooCommerceSource`` at :attr:`url`."""

    vendor = "woocommerce"

    def __init__(
        self,
        *,
        consumer_key: str = "ck_sandbox_0123456789abcdef",
        consumer_secret: str = "cs_sandbox_fedcba9876543210",  # noqa: S107 - opens only this fake store
        currency: str = "GBP",
        site_utc_offset: timedelta = timedelta(0),
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.currency = currency
        self.site_utc_offset = site_utc_offset
        self.clock = clock or (lambda: datetime.now(UTC))
        self.orders: dict[int, Item] = {}
        self.refunds: dict[int, list[Item]] = {}
        self.hooks: dict[int, Hook] = {}
        self.deliveries: list[Delivery] = []
        self._next_id = 1000
        self._next_hook = 1

    # -- data --------------------------------------------------------------------------------

    def add_order(self, order: Mapping[str, Any], refunds: Iterable[Mapping[str, Any]] = ()) -> None:
        """Put an order (and its refunds) in the store as is, delivering nothing."""
        with self.lock:
            self.orders[int(order["id"])] = copy.deepcopy(dict(order))
            self.refunds[int(order["id"])] = [copy.deepcopy(dict(r)) for r in refunds]
            self._next_id = max(self._next_id, int(order["id"]) + 100)

    def _new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def _stamp(self, obj: Item, *fields: str) -> None:
        now = self.clock()
        for name in fields:
            obj[f"{name}_gmt"] = _gmt(now)
            obj[name] = _gmt(now + self.site_utc_offset)

    def create_order(self, template: Mapping[str, Any], *, deliver: bool = True, **changes: Any) -> Item:
        """A new order made from ``template`` (fresh order and line ids, created and modified now),
        delivered as ``order.created``."""
        order = copy.deepcopy(dict(template)) | changes
        order["id"] = self._new_id()
        order["number"] = str(order["id"])
        order["order_key"] = f"wc_order_{uuid.uuid4().hex[:13]}"
        for key in ("line_items", "shipping_lines", "fee_lines", "tax_lines", "coupon_lines"):
            for item in order.get(key) or []:
                item["id"] = self._new_id()
        order["refunds"] = []
        self._stamp(order, "date_created", "date_modified")
        if order.get("status") in ("processing", "completed"):
            self._stamp(order, "date_paid")
        with self.lock:
            self.orders[order["id"]] = order
            self.refunds[order["id"]] = []
        if deliver:
            self.deliver("order.created", order["id"])
        return copy.deepcopy(order)

    def update_order(self, order_id: int, *, deliver: bool = True, **changes: Any) -> Item:
        """Change an order (e.g. ``status="completed"``), bump ``date_modified``, deliver
        ``order.updated``."""
        with self.lock:
            order = self.orders[order_id]
            order.update(copy.deepcopy(changes))
            self._stamp(order, "date_modified")
            if changes.get("status") in ("processing", "completed") and not order.get("date_paid_gmt"):
                self._stamp(order, "date_paid")
            if changes.get("status") == "completed":
                self._stamp(order, "date_completed")
        if deliver:
            self.deliver("order.updated", order_id)
        return copy.deepcopy(self.orders[order_id])

    def refund_order(
        self, order_id: int, refund: Mapping[str, Any], *, restock: bool = False, deliver: bool = True
    ) -> Item:
        """Record a refund as ``wc_create_refund`` does: the refund gets an id and a date, the
        order lists it (newest first, negative total), turns ``refunded`` when nothing is left and
        its ``date_modified`` moves; with ``restock`` the returned lines' order lines count the
        restocked quantity in ``_restock_refunded_items``. Then ``order.updated`` is delivered."""
        made = copy.deepcopy(dict(refund))
        made["id"] = self._new_id()
        self._stamp(made, "date_created")
        with self.lock:
            order = self.orders[order_id]
            if restock:
                self._restock(order, made)
            self.refunds.setdefault(order_id, []).insert(0, made)
            total = Decimal(str(made["amount"]))
            order["refunds"] = [
                {"id": made["id"], "reason": made.get("reason", ""), "total": f"-{made['amount']}"},
                *order.get("refunds", []),
            ]
            refunded = sum((Decimal(str(r["amount"])) for r in self.refunds[order_id]), Decimal(0))
            if refunded >= Decimal(str(order["total"])) and total:
                order["status"] = "refunded"
            self._stamp(order, "date_modified")
        if deliver:
            self.deliver("order.updated", order_id)
        return copy.deepcopy(made)

    @staticmethod
    def _restock(order: Item, refund: Item) -> None:
        """``wc_restock_refunded_items``: add each returned quantity to its order line's meta."""
        by_id = {str(li["id"]): li for li in order.get("line_items", [])}
        for item in refund.get("line_items", []):
            ref = next(
                (m["value"] for m in item.get("meta_data", []) if m["key"] == "_refunded_item_id"), None
            )
            original = by_id.get(str(ref))
            if original is None or not item.get("quantity"):
                continue
            meta = original.setdefault("meta_data", [])
            entry = next((m for m in meta if m["key"] == "_restock_refunded_items"), None)
            if entry is None:
                entry = {"id": len(meta) + 90000, "key": "_restock_refunded_items", "value": "0"}
                meta.append(entry)
            entry["value"] = str(int(entry["value"]) - int(item["quantity"]))

    def delete_order(self, order_id: int, *, force: bool = False, deliver: bool = True) -> None:
        """Move an order to the bin (``trash``) or delete it for good, delivering ``order.deleted``."""
        with self.lock:
            if force:
                self.orders.pop(order_id, None)
                self.refunds.pop(order_id, None)
            else:
                self.orders[order_id]["status"] = "trash"
                self._stamp(self.orders[order_id], "date_modified")
        if deliver:
            self.deliver("order.deleted", order_id)

    # -- webhooks ----------------------------------------------------------------------------

    def add_webhook(self, delivery_url: str, topic: str, secret: str, *, timeout: float = 10.0) -> Hook:
        """Create a hook: WooCommerce pings the URL first and keeps the hook only on a 200."""
        hook = Hook(self._next_hook, topic, delivery_url, secret)
        self._next_hook += 1
        answer = requests.post(
            delivery_url,
            data=f"webhook_id={hook.hook_id}",
            # WordPress's HTTP API posts a string body as a form (libcurl's and fsockopen's default).
            headers={
                "User-Agent": USER_AGENT,
                "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
            },
            timeout=timeout,
        )
        if answer.status_code != 200:
            raise WebhookPingFailed(f"Error: Delivery URL returned response code: {answer.status_code}")
        with self.lock:
            self.hooks[hook.hook_id] = hook
        return hook

    def deliver(self, topic: str, resource_id: int, *, timeout: float = 10.0) -> list[Delivery]:
        """Deliver ``topic`` for an order to every active hook subscribed to it."""
        made = []
        for hook in [h for h in self.hooks.values() if h.topic == topic and h.status == "active"]:
            made.append(self._deliver_to(hook, topic, resource_id, timeout))
        return made

    def _payload(self, topic: str, resource_id: int) -> Item:
        if topic.endswith(".deleted"):
            return {"id": resource_id}
        with self.lock:
            return copy.deepcopy(self.orders[resource_id])

    def _deliver_to(self, hook: Hook, topic: str, resource_id: int, timeout: float) -> Delivery:
        body = wp_json_encode(self._payload(topic, resource_id))
        delivery_id = hashlib.md5(f"{hook.hook_id}{uuid.uuid4()}".encode(), usedforsecurity=False).hexdigest()
        resource, event = topic.split(".", 1)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-WC-Webhook-Source": "https://kente-and-clay.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": sign_body(body, hook.secret),
            "X-WC-Webhook-ID": str(hook.hook_id),
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        status: int | None
        try:
            status = requests.post(hook.delivery_url, data=body, headers=headers, timeout=timeout).status_code
        except requests.RequestException:
            status = None
        with self.lock:
            if status is not None and (200 <= status < 300 or status in (301, 302)):
                hook.failure_count = 0
            elif hook.failure_count > MAX_FAILURES:
                hook.status = "disabled"
            else:
                hook.failure_count += 1
            delivery = Delivery(hook.hook_id, topic, resource_id, delivery_id, status, body)
            self.deliveries.append(delivery)
        return delivery

    # -- REST --------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """WooCommerce's (WordPress REST) error shape."""
        codes = {401: "woocommerce_rest_cannot_view", 404: "rest_no_route", 429: "too_many_requests"}
        return {
            "code": codes.get(status, "internal_server_error"),
            "message": message,
            "data": {"status": status},
        }

    @staticmethod
    def _error(status: int, code: str, message: str, **data: Any) -> Response:
        return Response(status, {"code": code, "message": message, "data": {"status": status, **data}})

    def _authorised(self, req: Request) -> Response | None:
        key, secret = req.arg("consumer_key"), req.arg("consumer_secret")
        auth = req.header("Authorization")
        if auth.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                key = secret = ""
        if not key:
            return self._error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if not hmac.compare_digest(key, self.consumer_key):
            return self._error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if not hmac.compare_digest(secret, self.consumer_secret):
            return self._error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid signature - provided signature does not match.",
            )
        return None

    def _paged(self, req: Request, items: list[Item]) -> Response:
        try:
            per_page, page = int(req.arg("per_page") or 10), int(req.arg("page") or 1)
        except ValueError:
            per_page = page = 0
        if not 1 <= per_page <= 100:
            return self._error(400, "rest_invalid_param", "Invalid parameter(s): per_page",
                               params={"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"})  # fmt: skip
        if page < 1:
            return self._error(400, "rest_invalid_param", "Invalid parameter(s): page",
                               params={"page": "page must be greater than or equal to 1"})  # fmt: skip
        total = len(items)
        pages = math.ceil(total / per_page) if total else 0
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        base = {
            k: vals[0]
            for k, vals in req.query.items()
            if k not in ("page", "consumer_key", "consumer_secret")
        }
        if page > 1:
            links.append(f'<{self.url}{req.path}?{urlencode({**base, "page": page - 1})}>; rel="prev"')
        if page < pages:
            links.append(f'<{self.url}{req.path}?{urlencode({**base, "page": page + 1})}>; rel="next"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if links:
            headers["Link"] = ", ".join(links)
        return Response(200, chunk, headers, content_type="application/json; charset=UTF-8")

    def _matches(self, order: Item, req: Request) -> bool:
        statuses = [s for s in (req.arg("status") or "any").split(",") if s]
        status = order.get("status")
        if "any" in statuses:
            if status == "trash":
                return False
        elif status not in statuses:
            return False
        gmt = req.arg("dates_are_gmt") in ("true", "1")
        for param, keep in (("modified_after", lambda a, b: a > b), ("modified_before", lambda a, b: a < b)):
            bound = req.arg(param)
            if not bound:
                continue
            stamp = _when(order["date_modified_gmt"] if gmt else order["date_modified"])
            if not keep(stamp, _when(bound)):
                return False
        return True

    @route("GET", PREFIX + "/orders")
    def list_orders(self, req: Request) -> Response:
        """``GET /orders``: filtered, sorted, paged."""
        denied = self._authorised(req)
        if denied:
            return denied
        orderby, direction = req.arg("orderby") or "date", req.arg("order") or "desc"
        if orderby not in ORDERBY or direction not in ("asc", "desc"):
            return self._error(400, "rest_invalid_param", "Invalid parameter(s): orderby, order")
        for status in (req.arg("status") or "any").split(","):
            if status and status != "any" and status not in ORDER_STATUSES:
                return self._error(400, "rest_invalid_param", "Invalid parameter(s): status")
        with self.lock:
            orders = [copy.deepcopy(o) for o in self.orders.values() if self._matches(o, req)]
        key: Callable[[Item], Any] = {
            "id": lambda o: o["id"],
            "modified": lambda o: (o["date_modified_gmt"], o["id"]),
        }.get(orderby, lambda o: (o["date_created_gmt"], o["id"]))
        orders.sort(key=key, reverse=direction == "desc")
        return self._paged(req, orders)

    @route("GET", PREFIX + "/orders/{order_id}")
    def get_order(self, req: Request) -> Response:
        """``GET /orders/<id>`` (a binned order is still readable)."""
        denied = self._authorised(req)
        if denied:
            return denied
        with self.lock:
            order = self.orders.get(int(req.params["order_id"])) if req.params["order_id"].isdigit() else None
        if order is None:
            return self._error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return Response(200, copy.deepcopy(order), content_type="application/json; charset=UTF-8")

    @route("GET", PREFIX + "/orders/{order_id}/refunds")
    def list_refunds(self, req: Request) -> Response:
        """``GET /orders/<id>/refunds``: newest first, paged."""
        denied = self._authorised(req)
        if denied:
            return denied
        order_id = int(req.params["order_id"]) if req.params["order_id"].isdigit() else -1
        with self.lock:
            if order_id not in self.orders:
                return self._error(404, "woocommerce_rest_invalid_order_id", "Invalid order ID.")
            refunds = copy.deepcopy(self.refunds.get(order_id, []))
        return self._paged(req, refunds)

    @route("GET", PREFIX + "/settings/general")
    def general_settings(self, req: Request) -> Response:
        """``GET /settings/general``: the settings the connection test reads."""
        denied = self._authorised(req)
        if denied:
            return denied
        return Response(
            200,
            [
                {
                    "id": "woocommerce_default_country",
                    "label": "Country and State",
                    "type": "select",
                    "value": "GB",
                },
                {"id": "woocommerce_currency", "label": "Currency", "type": "select", "value": self.currency},
                {
                    "id": "woocommerce_price_num_decimals",
                    "label": "Number of decimals",
                    "type": "number",
                    "value": "0" if self.currency in ("XOF", "XAF", "JPY") else "2",
                },
            ],
        )
