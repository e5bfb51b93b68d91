"""The Shopify sales source: webhooks in, REST pull for back-fills and payouts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import requests

from connectors.base import (
    AuthExpired,
    ConnectionCheck,
    ConnectorError,
    MalformedPayload,
    Permanent,
    ProgressCallback,
    PulledRecord,
    RateLimited,
    SalesSource,
    SetupField,
    SignatureInvalid,
    SourceConfig,
    WebhookEnvelope,
    WebhookRequest,
    connection_failed,
)
from connectors.http import RateLimit, VendorHTTP
from integrator import money
from integrator.canonical import CanonicalDocument

from . import values as v
from .orders import order_context, parse_order
from .payouts import parse_payout
from .refunds import OrderContext, parse_refund

__all__ = ["API_VERSION", "ORDER_TOPICS", "ShopifySource"]

API_VERSION = "2024-10"
#: Topics whose body is an order object.
ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/paid",
        "orders/updated",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
REFUND_TOPICS = frozenset({"refunds/create"})
#: Our pulled payout records (Shopify's REST API has no payout webhook).
PAYOUT_EVENTS = frozenset({"payout", "payouts/paid"})
#: Payout statuses worth pulling: a scheduled payout can still change, a cancelled one moves nothing.
PULLED_PAYOUT_STATUSES = frozenset({"paid", "in_transit", "failed"})


class _PaymentsUnavailable(Exception):
    """The shop does not use Shopify Payments (or the app lacks the payouts scope)."""


def _noop_progress(done: int, total: int | None, message: str) -> None:
    return None


class ShopifySource(SalesSource):
    """Shopify web shop: signed webhooks (orders, refunds), REST back-fill of orders, and Shopify
    Payments payouts with their balance transactions.

    Settings (``SourceConfig.settings``): ``api_version`` (default ``2024-10``),
    ``requests_per_second`` (the bucket's leak rate: 2 on standard plans, 4 on Plus),
    ``pull_payouts`` (default true), ``page_size`` (default 250), ``taxes_included`` (fallback for a refund whose order cannot be
    fetched). Credentials: ``access_token`` (an Admin API token, sent as ``X-Shopify-Access-Token``).
    """

    platform: ClassVar[str] = "shopify"
    display_name: ClassVar[str] = "Shopify"
    capabilities: ClassVar[frozenset[str]] = frozenset({"webhook", "pull", "payouts"})

    #: Shopify's largest page for REST lists (``settings["page_size"]`` may ask for less).
    max_page_size: ClassVar[int] = 250
    #: How many times one GET is re-tried after a 429 (each time after its Retry-After).
    rate_limit_retries: ClassVar[int] = 3
    #: Fraction of the leaky bucket above which we pause until it has drained to half.
    bucket_high_water: ClassVar[float] = 0.8

    setup_fields: ClassVar[tuple[SetupField, ...]] = (
        SetupField("base_url", "Shop address", kind="url", required=True,
                   help="Your shop's admin address, e.g. https://your-shop.myshopify.com"),
        SetupField("access_token", "Admin API access token", kind="secret", store="credentials", required=True,
                   help="From your custom app in Shopify (Settings > Apps > Develop apps): starts with shpat_. "
                   "It needs read access to orders and, for payouts, Shopify Payments."),
        SetupField("webhook_secret", "Webhook signing secret", kind="secret", required=True,
                   help="Shopify signs webhooks with your app's API secret key (or the key shown under "
                   "Settings > Notifications > Webhooks)."),
        SetupField("api_version", "Admin API version", default=API_VERSION,
                   help="Leave as it is unless your app is pinned to another version."),
        SetupField("pull_payouts", "Book Shopify Payments payouts", kind="bool", default=True,
                   help="Pull payouts with their fees when back-filling."),
    )  # fmt: skip

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self._http: VendorHTTP | None = None

    # -- setting up ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """``GET shop.json``: the shop's name, domain, currency and time zone."""
        try:
            shop = v.as_mapping(self._get(self._path("shop.json")).json().get("shop"), "shop")
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        except (ValueError, MalformedPayload) as exc:
            return ConnectionCheck(False, f"Shopify answered something we cannot read ({exc}).")
        name, currency = str(shop.get("name") or ""), str(shop.get("currency") or "")
        details = {"name": name, "domain": str(shop.get("myshopify_domain") or shop.get("domain") or ""),
                   "currency": currency, "timezone": str(shop.get("iana_timezone") or "")}  # fmt: skip
        if currency and currency != self.config.currency:
            return ConnectionCheck(
                False,
                f"Connected to {name}, but the shop sells in {currency} and this channel is set to "
                f"{self.config.currency}: change the channel's currency.",
                details,
            )
        return ConnectionCheck(
            True, f"Connected to {name} ({details['domain']}), selling in {currency}.", details
        )

    # -- webhooks ------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        """``X-Shopify-Hmac-Sha256`` must be the base64 HMAC-SHA256 of the raw body under one of
        the channel's secrets (current first, then the previous one during a rotation)."""
        provided = request.header("X-Shopify-Hmac-Sha256").strip()
        if not provided:
            raise SignatureInvalid("shopify: missing X-Shopify-Hmac-Sha256")
        try:
            given = base64.b64decode(provided, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureInvalid("shopify: X-Shopify-Hmac-Sha256 is not base64") from exc
        secrets = [s for s in self.config.webhook_secrets if s]
        if not secrets:
            raise SignatureInvalid("shopify: no webhook secret configured")
        matched = False
        for secret in secrets:  # every secret is tried so timing does not reveal which one matched
            expected = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
            matched |= hmac.compare_digest(expected, given)
        if not matched:
            raise SignatureInvalid("shopify: webhook signature does not match")

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """Dedupe on ``X-Shopify-Event-Id`` (the same event re-sent keeps it), falling back to
        ``X-Shopify-Webhook-Id``; the topic is the event type."""
        topic = request.header("X-Shopify-Topic").strip()
        if not topic:
            raise MalformedPayload("shopify: missing X-Shopify-Topic")
        webhook_id = request.header("X-Shopify-Webhook-Id").strip()
        dedupe_key = request.header("X-Shopify-Event-Id").strip() or webhook_id
        if not dedupe_key:
            raise MalformedPayload("shopify: missing X-Shopify-Event-Id and X-Shopify-Webhook-Id")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload("shopify: webhook body is not JSON") from exc
        if not isinstance(body, dict):
            raise MalformedPayload("shopify: webhook body is not a JSON object")
        extra = {
            "webhook_id": webhook_id,
            "shop_domain": request.header("X-Shopify-Shop-Domain"),
            "api_version": request.header("X-Shopify-API-Version"),
            "triggered_at": request.header("X-Shopify-Triggered-At"),
        }
        kept = {k: x for k, x in extra.items() if x}
        return WebhookEnvelope(dedupe_key=dedupe_key, event_type=topic, extra=kept)

    # -- parsing -------------------------------------------------------------------------------

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Orders -> ``[Sale, *Refunds]`` (or ``[]`` while unpaid); ``refunds/create`` -> ``[Refund]``;
        ``payout`` -> ``[Payout]``; any other topic carries nothing for the books."""
        payload = v.as_mapping(payload, "payload")
        if event_type in ORDER_TOPICS:
            order = payload["order"] if isinstance(payload.get("order"), Mapping) else payload
            return parse_order(order, fetch_transactions=self._fetcher())
        if event_type in REFUND_TOPICS:
            refund = payload["refund"] if isinstance(payload.get("refund"), Mapping) else payload
            ctx = self._refund_context(refund)
            parsed = parse_refund(refund, ctx)
            return [parsed] if parsed is not None else []
        if event_type in PAYOUT_EVENTS:
            return [parse_payout(payload, self.config.timezone)]
        return []

    def _can_call(self) -> bool:
        return bool(self.config.base_url and self.config.credentials.get("access_token"))

    def _fetcher(self) -> Callable[[str], list[Mapping[str, Any]]] | None:
        return self.fetch_transactions if self._can_call() else None

    def _refund_context(self, refund: Mapping[str, Any]) -> OrderContext:
        """A ``refunds/create`` body does not say whether the order's prices include tax, nor the
        shipping tax rates: fetch the order when we can, else fall back on the channel settings."""
        order_id = v.external_id(refund.get("order_id"), "refund order_id")
        if self._can_call():
            return order_context(self.fetch_order(order_id))
        currency = self.config.currency
        for rli in v.objects(refund, "refund_line_items"):
            bag = v.money_bag(rli, "subtotal")
            if bag and isinstance(bag.get("shop_money"), Mapping):
                currency = bag["shop_money"].get("currency_code") or currency
        try:
            currency = money.normalize_currency(currency)
        except money.UnknownCurrency as exc:
            raise MalformedPayload(f"shopify: refund currency: {exc}") from exc
        return OrderContext(
            order_id=order_id,
            currency=currency,
            taxes_included=bool(self.config.settings.get("taxes_included", False)),
        )

    # -- REST ----------------------------------------------------------------------------------

    @property
    def api_version(self) -> str:
        """The Admin API version in use."""
        return str(self.config.settings.get("api_version") or API_VERSION)

    @property
    def http(self) -> VendorHTTP:
        """The connection's HTTP client (shared rate limiter per channel)."""
        if self._http is None:
            token = self.config.credentials.get("access_token")
            if not token:
                raise AuthExpired("shopify: no access token configured")
            self._http = VendorHTTP(
                vendor="shopify",
                base_url=self.config.base_url,
                connection_key=self.config.channel_slug,
                rate_limit=RateLimit(per_second=self._leak_rate()),
                default_headers={"X-Shopify-Access-Token": str(token), "Accept": "application/json"},
            )
        return self._http

    @property
    def page_size(self) -> int:
        """Records per page: Shopify's maximum unless the settings ask for fewer."""
        return max(
            1, min(self.max_page_size, int(self.config.settings.get("page_size") or self.max_page_size))
        )

    def _leak_rate(self) -> int:
        return int(self.config.settings.get("requests_per_second") or 2)

    def _path(self, resource: str) -> str:
        return f"/admin/api/{self.api_version}/{resource}"

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """One GET: re-tried after a 429 once its Retry-After has passed (VendorHTTP blocks the
        connection's limiter for that long), classified, and throttled near the bucket's top."""
        for attempt in range(self.rate_limit_retries + 1):
            try:
                response = self.http.request("GET", path, params=params)
            except RateLimited:
                if attempt == self.rate_limit_retries:
                    raise
                continue
            self._respect_call_limit(response)
            return self._checked(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _respect_call_limit(self, response: requests.Response) -> None:
        """``X-Shopify-Shop-Api-Call-Limit: used/size`` counts every app's calls on this shop: when the
        bucket is nearly full, pause this connection until it has leaked down to half."""
        used, _, size = response.headers.get("X-Shopify-Shop-Api-Call-Limit", "").partition("/")
        try:
            used_n, size_n = int(used), int(size)
        except ValueError:
            return
        if size_n > 0 and used_n >= size_n * self.bucket_high_water:
            self.http.limiter.block_for((used_n - size_n / 2) / self._leak_rate())

    @staticmethod
    def _checked(response: requests.Response) -> requests.Response:
        if response.status_code < 300:
            return response
        try:
            errors = response.json().get("errors", response.text)
        except ValueError:
            errors = response.text
        message = errors if isinstance(errors, str) else json.dumps(errors)
        code = str(response.status_code)
        if response.status_code == 401:
            raise AuthExpired("shopify: access token refused", vendor_code=code, vendor_message=message[:500])
        raise Permanent(f"shopify: HTTP {code}", vendor_code=code, vendor_message=message[:500])

    def _pages(self, resource: str, params: Mapping[str, Any], key: str) -> Iterator[list[Mapping[str, Any]]]:
        """Follow ``Link: <...page_info=...>; rel="next"``. The filters go on the first request only:
        Shopify refuses them beside ``page_info``, whose cursor already carries them."""
        url: str | None = self._path(resource)
        query: Mapping[str, Any] | None = params
        while url:
            response = self._get(url, query)
            try:
                items = response.json()[key]
            except (ValueError, KeyError, TypeError) as exc:
                raise MalformedPayload(f"shopify: {resource} answer has no {key!r} list") from exc
            yield v.as_list(items, key)
            url = response.links.get("next", {}).get("url")
            query = None

    def fetch_inventory_levels(self, location_id: str) -> dict[str, Decimal]:
        """What the shop holds at a location, per SKU (``available`` of ``inventory_levels.json``,
        the SKUs from ``inventory_items.json``, 100 ids a call). Items without a SKU are left out."""
        available: dict[str, Decimal] = {}
        for page in self._pages(
            "inventory_levels.json",
            {"location_ids": location_id, "limit": self.page_size},
            "inventory_levels",
        ):
            for level in page:
                item = str(v.as_mapping(level, "inventory level").get("inventory_item_id") or "")
                if item and level.get("available") is not None:
                    available[item] = Decimal(str(level["available"]))
        ids = sorted(available)
        levels: dict[str, Decimal] = {}
        for start in range(0, len(ids), 100):
            response = self._get(
                self._path("inventory_items.json"), {"ids": ",".join(ids[start : start + 100])}
            )
            for item in v.as_list(response.json().get("inventory_items"), "inventory_items"):
                sku = str(item.get("sku") or "")
                if sku:
                    levels[sku] = levels.get(sku, Decimal(0)) + available.get(str(item.get("id")), Decimal(0))
        return levels

    def fetch_order(self, order_id: str) -> Mapping[str, Any]:
        """One order (for a refund's context)."""
        response = self._get(self._path(f"orders/{order_id}.json"))
        return v.as_mapping(response.json().get("order"), f"order {order_id}")

    def fetch_transactions(self, order_id: str) -> list[Mapping[str, Any]]:
        """An order's transactions (to split a multi-gateway payment into tenders)."""
        response = self._get(self._path(f"orders/{order_id}/transactions.json"))
        return v.as_list(response.json().get("transactions"), "transactions")

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Every order updated since ``since`` (``status=any``), then Shopify Payments payouts dated
        on or after that day with their balance transactions. ``progress`` is called after every
        page. Pulled orders parse exactly like an ``orders/updated`` webhook for the same order."""
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        report = progress or _noop_progress
        since_text = since.isoformat()
        total = self._count_orders(since_text)
        done = 0
        params = {"status": "any", "updated_at_min": since_text, "limit": self.page_size}
        for orders in self._pages("orders.json", params, "orders"):
            for order in orders:
                order = v.as_mapping(order, "order")
                order_id = v.external_id(order.get("id"), "order id")
                yield PulledRecord(
                    dedupe_key=f"order:{order_id}:{order.get('updated_at') or ''}",
                    event_type="orders/updated",
                    payload=order,
                )
            done += len(orders)
            report(done, total, f"{done} orders")
        if self.config.settings.get("pull_payouts", True):
            yield from self._pull_payouts(since, report)

    def _count_orders(self, since_text: str) -> int | None:
        response = self._get(self._path("orders/count.json"), {"status": "any", "updated_at_min": since_text})
        count = response.json().get("count")
        return count if isinstance(count, int) else None

    def _pull_payouts(self, since: datetime, report: ProgressCallback) -> Iterator[PulledRecord]:
        done = 0
        try:
            params = {"date_min": since.date().isoformat(), "limit": self.page_size}
            for payouts in self._payout_pages(params):
                for payout in (v.as_mapping(p, "payout") for p in payouts):
                    if payout.get("status") not in PULLED_PAYOUT_STATUSES:
                        continue
                    payout_id = v.external_id(payout.get("id"), "payout id")
                    transactions = [
                        t
                        for page in self._pages(
                            "shopify_payments/balance/transactions.json",
                            {"payout_id": payout_id, "limit": self.page_size},
                            "transactions",
                        )
                        for t in page
                    ]
                    yield PulledRecord(
                        dedupe_key=f"payout:{payout_id}:{payout.get('status')}",
                        event_type="payout",
                        payload={"payout": payout, "transactions": transactions},
                    )
                    done += 1
                report(done, None, f"{done} payouts")
        except _PaymentsUnavailable:
            report(done, None, "Shopify Payments is not available on this shop: no payouts pulled")

    def _payout_pages(self, params: Mapping[str, Any]) -> Iterator[list[Mapping[str, Any]]]:
        try:
            yield from self._pages("shopify_payments/payouts.json", params, "payouts")
        except Permanent as exc:
            if exc.vendor_code in ("403", "404"):
                raise _PaymentsUnavailable from exc
            raise
