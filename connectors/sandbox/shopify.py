"""A contract-faithful fake of Shopify's Admin REST API (orders, transactions, Shopify Payments).

What it enforces, as Shopify documents it:

* ``X-Shopify-Access-Token`` on every call (401 otherwise);
* the leaky bucket: ``bucket_size`` requests (40) that leak at ``leak_per_second`` (2/s) per token;
  an overflowing call is answered 429 with ``Retry-After: 2.0``; every answer carries
  ``X-Shopify-Shop-Api-Call-Limit: used/size``;
* cursor pagination: ``limit`` (1..250, default 50) and an opaque ``page_info`` cursor in
  ``Link: <...>; rel="next"`` / ``rel="previous"`` headers; filters (``status``, ``updated_at_min``,
  ...) are accepted on the first page only and refused beside ``page_info``, because the cursor
  carries them;
* ``status`` defaults to ``open`` (a client that forgets ``status=any`` misses closed and cancelled
  orders, as on the real API).

It can also send signed webhooks (:meth:`ShopifySandbox.send_webhook`), and it injects faults through
the base :class:`~connectors.sandbox.base.FaultPlan`. :func:`generate_orders` makes consistent
orders in bulk for back-fill tests and benchmarks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

import requests

from .base import Request, Response, SandboxServer, route

__all__ = ["CALL_LIMIT_HEADER", "ShopifySandbox", "generate_orders", "sign_webhook"]

CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
ORDER_FILTERS = (
    "status",
    "updated_at_min",
    "updated_at_max",
    "created_at_min",
    "created_at_max",
    "financial_status",
)
PAYOUT_FILTERS = ("status", "date_min", "date_max")
THROTTLED_MESSAGE = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
)

Item = dict[str, Any]


def sign_webhook(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _level_matches(level: Item, filters: Mapping[str, str]) -> bool:
    """An inventory level matches the comma-separated location and item id filters."""
    for name, field_name in (("location_ids", "location_id"), ("inventory_item_ids", "inventory_item_id")):
        wanted = {x for x in filters.get(name, "").split(",") if x}
        if wanted and str(level[field_name]) not in wanted:
            return False
    return True


def _order_matches(order: Item, filters: Mapping[str, str]) -> bool:
    status = filters.get("status", "open")
    if status == "open" and (order.get("closed_at") or order.get("cancelled_at")):
        return False
    if status == "closed" and not order.get("closed_at"):
        return False
    if status == "cancelled" and not order.get("cancelled_at"):
        return False
    if filters.get("financial_status") not in (None, "any", order.get("financial_status")):
        return False
    for field, bound in (("updated_at", "updated_at"), ("created_at", "created_at")):
        low, high = filters.get(f"{bound}_min"), filters.get(f"{bound}_max")
        if low and _when(order[field]) < _when(low):
            return False
        if high and _when(order[field]) > _when(high):
            return False
    return True


def _payout_matches(payout: Item, filters: Mapping[str, str]) -> bool:
    if filters.get("status") and payout.get("status") != filters["status"]:
        return False
    if filters.get("date_min") and payout["date"] < filters["date_min"]:
        return False
    return not (filters.get("date_max") and payout["date"] > filters["date_max"])


class ShopifySandbox(SandboxServer):
    """Fake Shopify shop. Give it orders, payouts and balance transactions (from fixtures or
    :func:`generate_orders`) and point a ShopifySource's ``base_url`` at :attr:`url`."""

    vendor = "shopify"

    def __init__(
        self,
        *,
        orders: Iterable[Item] = (),
        payouts: Iterable[Item] = (),
        balance_transactions: Iterable[Item] = (),
        access_token: str = "shpat_sandbox",  # noqa: S107 - the fake shop's well-known token
        bucket_size: int = 40,
        leak_per_second: float = 2.0,
        shop_domain: str = "sankofa-imports.myshopify.com",
        api_version: str = "2024-10",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, seed=seed)
        self.access_token = access_token
        self.bucket_size = bucket_size
        self.leak_per_second = leak_per_second
        self.shop_domain = shop_domain
        self.api_version = api_version
        #: ``GET shop.json``: the shop's own record (the fields the connection test reads).
        self.shop: Item = {
            "id": 54_010_000_001, "name": "Sankofa Imports", "myshopify_domain": shop_domain,
            "domain": shop_domain, "currency": "GBP", "iana_timezone": "Europe/London",
            "country_code": "GB", "plan_name": "basic", "taxes_included": True,
            "enabled_presentment_currencies": ["GBP"], "created_at": "2024-01-02T09:00:00+00:00",
        }  # fmt: skip
        self.orders: dict[int, Item] = {}
        self.payouts: dict[int, Item] = {}
        self.balance_transactions: dict[int, Item] = {}
        self.order_transactions: dict[int, list[Item]] = {}
        #: Inventory (``inventory_items.json``, ``inventory_levels.json``): items by id with their
        #: SKU, and one level per item and location with its ``available`` quantity.
        self.inventory_items: dict[int, Item] = {}
        self.inventory_levels: list[Item] = []
        self.throttled = 0  # 429s the bucket produced (injected faults are not counted)
        self.sent_webhooks: list[dict[str, Any]] = []
        self._level = 0.0
        self._leaked_at = time.monotonic()
        for order in orders:
            self.add_order(order)
        for payout in payouts:
            self.payouts[int(payout["id"])] = dict(payout)
        for bt in balance_transactions:
            self.balance_transactions[int(bt["id"])] = dict(bt)

    # -- data --------------------------------------------------------------------------------

    def add_order(self, order: Item) -> None:
        """Add or replace an order (keyed by id)."""
        with self.lock:
            self.orders[int(order["id"])] = dict(order)

    def set_transactions(self, order_id: int, transactions: list[Item]) -> None:
        """The transactions ``orders/<id>/transactions.json`` answers for an order."""
        with self.lock:
            self.order_transactions[int(order_id)] = list(transactions)

    def add_payout(self, payout: Item, transactions: Iterable[Item] = ()) -> None:
        """Add a payout and its balance transactions."""
        with self.lock:
            self.payouts[int(payout["id"])] = dict(payout)
            for bt in transactions:
                self.balance_transactions[int(bt["id"])] = dict(bt)

    # -- leaky bucket ------------------------------------------------------------------------

    def _leak(self) -> None:
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._leaked_at) * self.leak_per_second)
        self._leaked_at = now

    def consume(self, calls: int) -> None:
        """Fill the bucket as another app on the same shop would."""
        with self.lock:
            self._leak()
            self._level = min(float(self.bucket_size), self._level + calls)

    def call_limit(self) -> str:
        """The current ``X-Shopify-Shop-Api-Call-Limit`` value."""
        with self.lock:
            self._leak()
            return f"{math.ceil(self._level - 1e-9)}/{self.bucket_size}"

    def _admit(self, req: Request) -> Response | None:
        """Authenticate and charge one call to the bucket; an error answer if refused."""
        if not hmac.compare_digest(req.header("X-Shopify-Access-Token"), self.access_token):
            return self._refused(
                401, "[API] Invalid API key or access token (unrecognized login or wrong password)"
            )
        with self.lock:
            self._leak()
            if self._level + 1 > self.bucket_size:
                self.throttled += 1
                return Response(
                    429,
                    {"errors": THROTTLED_MESSAGE},
                    {"Retry-After": "2.0", CALL_LIMIT_HEADER: f"{self.bucket_size}/{self.bucket_size}"},
                )
            self._level += 1
        return None

    def _ok(self, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        return Response(200, body, {**(headers or {}), CALL_LIMIT_HEADER: self.call_limit()})

    def _refused(self, status: int, errors: Any) -> Response:
        """A Shopify-shaped error answer (with the call-limit header, like every answer)."""
        return Response(status, {"errors": errors}, {CALL_LIMIT_HEADER: self.call_limit()})

    def error_body(self, status: int, message: str) -> Any:
        """Shopify's error shape: ``{"errors": ...}``."""
        return {"errors": THROTTLED_MESSAGE if status == 429 else message}

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """An injected 429 looks like a real one: Retry-After and a full bucket."""
        return {
            "Retry-After": str(int(retry_after) if retry_after >= 1 else retry_after),
            CALL_LIMIT_HEADER: f"{self.bucket_size}/{self.bucket_size}",
        }

    # -- pagination --------------------------------------------------------------------------

    def _page(
        self,
        req: Request,
        key: str,
        items: list[Item],
        allowed_filters: tuple[str, ...],
        matches: Callable[[Item, Mapping[str, str]], bool],
        id_field: str = "id",
    ) -> Response:
        """One page of ``items`` (already in the endpoint's order) with Shopify's cursor rules."""
        try:
            limit = int(req.arg("limit") or 50)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 250:
            return self._refused(400, {"limit": ["must be between 1 and 250"]})
        page_info = req.arg("page_info")
        if page_info:
            extra = sorted(set(req.query) - {"page_info", "limit", "fields"})
            if extra:
                return self._refused(400, {"page_info": [f"cannot be combined with {', '.join(extra)}"]})
            try:
                cursor = json.loads(base64.urlsafe_b64decode(page_info.encode()))
                filters, direction, ref = cursor["f"], cursor["d"], cursor["id"]
            except (ValueError, KeyError, TypeError, binascii.Error):
                return self._refused(400, {"page_info": ["Invalid value."]})
        else:
            filters = {k: req.arg(k) for k in allowed_filters if req.arg(k)}
            direction, ref = "next", None
        matching = [it for it in items if matches(it, filters)]
        ids = [it[id_field] for it in matching]
        if ref is not None and ref not in ids:
            return self._refused(400, {"page_info": ["Invalid value."]})
        if ref is None:
            start = 0
        elif direction == "next":
            start = ids.index(ref) + 1
        else:
            start = max(0, ids.index(ref) - limit)
        page = matching[start : start + limit]
        links = []
        base = f"{self.url}{req.path}"
        if start > 0 and page:
            links.append(
                f'<{base}?{self._cursor_query(limit, filters, "prev", page[0][id_field])}>; rel="previous"'
            )
        if start + limit < len(matching) and page:
            links.append(
                f'<{base}?{self._cursor_query(limit, filters, "next", page[-1][id_field])}>; rel="next"'
            )
        return self._ok({key: page}, {"Link": ", ".join(links)} if links else None)

    @staticmethod
    def _cursor_query(limit: int, filters: Mapping[str, str], direction: str, ref: Any) -> str:
        token = base64.urlsafe_b64encode(
            json.dumps({"f": filters, "d": direction, "id": ref}).encode()
        ).decode()
        return urlencode({"limit": limit, "page_info": token})

    # -- routes ------------------------------------------------------------------------------

    def add_inventory(self, *, item_id: int, sku: str, location_id: int, available: int) -> None:
        """An inventory item (with its SKU) and its level at a location."""
        with self.lock:
            self.inventory_items[item_id] = {"id": item_id, "sku": sku, "tracked": True}
            self.inventory_levels = [
                lv for lv in self.inventory_levels
                if not (lv["inventory_item_id"] == item_id and lv["location_id"] == location_id)
            ] + [{"inventory_item_id": item_id, "location_id": location_id, "available": available,
                  "updated_at": "2026-11-20T09:00:00+00:00"}]  # fmt: skip

    @route("GET", "/admin/api/{version}/inventory_levels.json")
    def list_inventory_levels(self, req: Request) -> Response:
        """``GET inventory_levels.json``: levels filtered by ``location_ids`` or
        ``inventory_item_ids`` (comma-separated; one of them is required)."""
        denied = self._admit(req)
        if denied:
            return denied
        if not req.arg("page_info") and not (req.arg("location_ids") or req.arg("inventory_item_ids")):
            return self._refused(422, "location_ids or inventory_item_ids must be present")
        with self.lock:
            levels = sorted(
                self.inventory_levels, key=lambda lv: (lv["location_id"], lv["inventory_item_id"])
            )
        return self._page(req, "inventory_levels", levels, ("location_ids", "inventory_item_ids"),
                          _level_matches, id_field="inventory_item_id")  # fmt: skip

    @route("GET", "/admin/api/{version}/inventory_items.json")
    def list_inventory_items(self, req: Request) -> Response:
        """``GET inventory_items.json?ids=``: the items asked for (at most 100 ids)."""
        denied = self._admit(req)
        if denied:
            return denied
        ids = [i for i in (req.arg("ids") or "").split(",") if i]
        if not ids or len(ids) > 100:
            return self._refused(422, "ids must name 1 to 100 inventory items")
        with self.lock:
            items = [
                self.inventory_items[int(i)] for i in ids if i.isdigit() and int(i) in self.inventory_items
            ]
        return self._ok({"inventory_items": items})

    @route("GET", "/admin/api/{version}/shop.json")
    def shop_record(self, req: Request) -> Response:
        """``GET shop.json``: the shop's name, domain, currency and time zone."""
        return self._admit(req) or self._ok({"shop": dict(self.shop)})

    @route("GET", "/admin/api/{version}/orders.json")
    def list_orders(self, req: Request) -> Response:
        """``GET orders.json``: orders by id, filtered on the first page only."""
        denied = self._admit(req)
        if denied:
            return denied
        with self.lock:
            orders = [self.orders[k] for k in sorted(self.orders)]
        return self._page(req, "orders", orders, ORDER_FILTERS, _order_matches)

    @route("GET", "/admin/api/{version}/orders/{ref}")
    def order_or_count(self, req: Request) -> Response:
        """``GET orders/count.json`` and ``GET orders/<id>.json``."""
        denied = self._admit(req)
        if denied:
            return denied
        ref = req.params["ref"]
        order_id = ref.removesuffix(".json")
        with self.lock:
            orders = list(self.orders.values())
            found = self.orders.get(int(order_id)) if order_id.isdigit() else None
        if ref == "count.json":
            filters = {k: req.arg(k) for k in ORDER_FILTERS if req.arg(k)}
            return self._ok({"count": sum(1 for o in orders if _order_matches(o, filters))})
        if found is None:
            return self._refused(404, "Not Found")
        return self._ok({"order": found})

    @route("GET", "/admin/api/{version}/orders/{order_id}/transactions.json")
    def order_transactions_list(self, req: Request) -> Response:
        """``GET orders/<id>/transactions.json``: the set transactions, else one sale per order."""
        denied = self._admit(req)
        if denied:
            return denied
        order_id = int(req.params["order_id"]) if req.params["order_id"].isdigit() else -1
        with self.lock:
            order = self.orders.get(order_id)
            transactions = self.order_transactions.get(order_id)
        if order is None:
            return self._refused(404, "Not Found")
        if transactions is None:
            gateway = (order.get("payment_gateway_names") or ["manual"])[0]
            transactions = [
                {
                    "id": order_id + 1,
                    "order_id": order_id,
                    "kind": "sale",
                    "gateway": gateway,
                    "status": "success",
                    "amount": order["total_price"],
                    "currency": order.get("presentment_currency") or order["currency"],
                    "created_at": order["created_at"],
                    "processed_at": order["created_at"],
                    "parent_id": None,
                    "test": True,
                }
            ]
        return self._ok({"transactions": transactions})

    @route("GET", "/admin/api/{version}/shopify_payments/payouts.json")
    def list_payouts(self, req: Request) -> Response:
        """``GET shopify_payments/payouts.json``: newest first."""
        denied = self._admit(req)
        if denied:
            return denied
        with self.lock:
            payouts = sorted(self.payouts.values(), key=lambda p: (p["date"], p["id"]), reverse=True)
        return self._page(req, "payouts", payouts, PAYOUT_FILTERS, _payout_matches)

    @route("GET", "/admin/api/{version}/shopify_payments/balance/transactions.json")
    def list_balance_transactions(self, req: Request) -> Response:
        """``GET shopify_payments/balance/transactions.json?payout_id=``."""
        denied = self._admit(req)
        if denied:
            return denied
        with self.lock:
            items = [self.balance_transactions[k] for k in sorted(self.balance_transactions)]
        return self._page(
            req,
            "transactions",
            items,
            ("payout_id",),
            lambda bt, f: not f.get("payout_id") or str(bt.get("payout_id")) == f["payout_id"],
        )

    # -- webhooks out ------------------------------------------------------------------------

    def send_webhook(
        self,
        url: str,
        topic: str,
        payload: Mapping[str, Any],
        secret: str,
        *,
        event_id: str | None = None,
        webhook_id: str | None = None,
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST a webhook signed as Shopify signs it. A fresh ``X-Shopify-Event-Id`` unless one is
        given (pass the same id to simulate a re-delivery)."""
        body = json.dumps(payload).encode()
        event_id = event_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign_webhook(body, secret),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        }
        response = requests.post(url, data=body, headers=headers, timeout=timeout)
        with self.lock:
            self.sent_webhooks.append({"topic": topic, "event_id": event_id, "status": response.status_code})
        return response


# -- generated data ------------------------------------------------------------------------------

_CENT = Decimal("0.01")
_PRODUCTS = (
    ("Kente scarf", "KENTE"),
    ("Shea butter 250 ml", "SHEA"),
    ("Ankara tote bag", "TOTE"),
    ("Beaded necklace", "BEAD"),
    ("Mudcloth cushion", "MUD"),
    ("Black soap", "SOAP"),
)


def _money(value: Decimal) -> str:
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _bag(amount: Decimal, currency: str) -> Item:
    money = {"amount": _money(amount), "currency_code": currency}
    return {"shop_money": money, "presentment_money": dict(money)}


def generate_orders(
    n: int,
    seed: int = 0,
    *,
    currency: str = "GBP",
    start: datetime | None = None,
    first_id: int = 6_100_000_000_000,
) -> list[Item]:
    """``n`` internally consistent Shopify orders (tax-exclusive 20 % VAT, some 10 % codes, some
    shipping), ids ascending, created ten minutes apart from ``start``. About 90 % are paid; the rest
    are pending, closed or cancelled-and-voided, so ``status=any`` matters."""
    rng = random.Random(seed)  # test data, not security
    start = start or datetime(2024, 1, 1, tzinfo=UTC)
    orders = []
    for i in range(n):
        oid = first_id + i * 10
        created = start + timedelta(minutes=10 * i)
        coded = rng.random() < 0.25
        lines, subtotal, discounts, tax = [], Decimal(0), Decimal(0), Decimal(0)
        for j in range(rng.randint(1, 3)):
            title, sku = _PRODUCTS[rng.randrange(len(_PRODUCTS))]
            price = Decimal(rng.randint(500, 12000)) / 100
            qty = rng.randint(1, 4)
            gross = price * qty
            disc = (gross * Decimal("0.1")).quantize(_CENT, rounding=ROUND_HALF_UP) if coded else Decimal(0)
            line_tax = ((gross - disc) * Decimal("0.2")).quantize(_CENT, rounding=ROUND_HALF_UP)
            subtotal, discounts, tax = subtotal + gross, discounts + disc, tax + line_tax
            allocations = [
                {"amount": _money(disc), "amount_set": _bag(disc, currency), "discount_application_index": 0}
            ]
            vat = {
                "title": "VAT",
                "rate": 0.2,
                "price": _money(line_tax),
                "price_set": _bag(line_tax, currency),
            }
            lines.append(
                {
                    "id": oid + j + 1,
                    "product_id": 8_000_000 + _PRODUCTS.index((title, sku)),
                    "variant_id": 9_000_000 + _PRODUCTS.index((title, sku)),
                    "title": title,
                    "name": title,
                    "sku": f"{sku}-{j}",
                    "quantity": qty,
                    "price": _money(price),
                    "price_set": _bag(price, currency),
                    "taxable": True,
                    "gift_card": False,
                    "requires_shipping": True,
                    "tax_lines": [vat],
                    "discount_allocations": allocations if coded else [],
                }
            )
        ship_price = Decimal("4.95") if subtotal < 100 else Decimal(0)
        ship_tax = (ship_price * Decimal("0.2")).quantize(_CENT, rounding=ROUND_HALF_UP)
        tax += ship_tax
        total = subtotal - discounts + ship_price + tax
        roll = rng.random()
        status = "pending" if roll < 0.05 else "voided" if roll < 0.07 else "paid"
        order = {
            "id": oid,
            "name": f"#{10000 + i}",
            "order_number": 10000 + i,
            "email": f"customer{i}@example.com",
            "created_at": created.isoformat(),
            "processed_at": created.isoformat(),
            "updated_at": (created + timedelta(minutes=rng.randint(0, 600))).isoformat(),
            "closed_at": (created + timedelta(days=3)).isoformat() if 0.07 <= roll < 0.15 else None,
            "cancelled_at": (created + timedelta(hours=1)).isoformat() if status == "voided" else None,
            "currency": currency,
            "presentment_currency": currency,
            "financial_status": status,
            "taxes_included": False,
            "payment_gateway_names": ["shopify_payments"],
            "total_line_items_price": _money(subtotal),
            "subtotal_price": _money(subtotal - discounts),
            "total_discounts": _money(discounts),
            "total_tax": _money(tax),
            "total_price": _money(total),
            "total_tip_received": "0.00",
            "total_price_set": _bag(total, currency),
            "total_tax_set": _bag(tax, currency),
            "total_discounts_set": _bag(discounts, currency),
            "discount_codes": [{"code": "WELCOME10", "amount": _money(discounts), "type": "percentage"}]
            if coded
            else [],
            "line_items": lines,
            "shipping_lines": [
                {
                    "id": oid + 9,
                    "title": "Standard",
                    "price": _money(ship_price),
                    "price_set": _bag(ship_price, currency),
                    "tax_lines": [
                        {
                            "title": "VAT",
                            "rate": 0.2,
                            "price": _money(ship_tax),
                            "price_set": _bag(ship_tax, currency),
                        }
                    ],
                    "discount_allocations": [],
                }
            ],
            "customer": {
                "id": 7_000_000 + i % 400,
                "email": f"customer{i}@example.com",
                "first_name": "Test",
            },
            "refunds": [],
        }
        orders.append(order)
    return orders
