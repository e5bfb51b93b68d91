"""The Squarespace Commerce sales source: signed order notifications, the order and its
transactions Document fetched from the APIs, back-fill and completeness pulls."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.base import (
    AuthExpired,
    ConnectionCheck,
    ConnectorError,
    MalformedPayload,
    Permanent,
    ProgressCallback,
    PulledRecord,
    SalesSource,
    SetupField,
    SignatureInvalid,
    SourceConfig,
    WebhookEnvelope,
    WebhookRequest,
)
from connectors.http import RateLimit
from integrator.canonical import CanonicalDocument

from . import values as v
from .api import RATE_LIMIT, SquarespaceAPI
from .documents import Choices, build_documents

__all__ = ["ORDER_TOPICS", "SIGNATURE_HEADER", "SquarespaceSource", "sign"]

SIGNATURE_HEADER = "Squarespace-Signature"
ORDER_TOPICS = frozenset({"order.create", "order.update"})
ORDERS = "/1.0/commerce/orders"
TRANSACTIONS = "/1.0/commerce/transactions"
#: How far before the order's last change a Document may have been modified (fees and refunds are
#: recorded a moment before or after the order changes).
DEFAULT_WINDOW = timedelta(minutes=60)
#: Most Document pages read to find one order's Document after a notification.
DEFAULT_LOOKUP_PAGES = 20


def sign(body: bytes, secret_hex: str) -> str:
    """``Squarespace-Signature``: hex HMAC-SHA256 of the raw body, the subscription's secret being
    a hex string that is decoded to bytes first."""
    return hmac.new(bytes.fromhex(secret_hex), body, hashlib.sha256).hexdigest()


def _noop_progress(done: int, total: int | None, message: str) -> None:
    return None


class SquarespaceSource(SalesSource):
    """Squarespace Commerce: order notifications, Orders + Transactions APIs, pulls.

    Credentials: ``api_key`` (a Commerce API key with Orders and Transactions read access, or an
    OAuth access token). Settings: ``refund_allocation`` (``amount_only`` or ``proportional``),
    ``include_test_orders``, ``user_agent``, ``cooldown_seconds`` (the 429 cool-down, 60).
    """

    platform: ClassVar[str] = "squarespace"
    display_name: ClassVar[str] = "Squarespace Commerce"
    capabilities: ClassVar[frozenset[str]] = frozenset({"webhook", "pull"})
    fees_at_sale: ClassVar[bool] = True  # Squarespace publishes no payouts
    #: Webhook subscriptions need an OAuth application; a site connected with an API key only is
    #: kept complete by this pull (and it closes any gap the 48 h of retries leave).
    scheduled_pull_minutes: ClassVar[int | None] = 30
    pull_overlap: ClassVar[timedelta] = timedelta(minutes=10)
    setup_fields: ClassVar[tuple[SetupField, ...]] = (
        SetupField(
            "api_key",
            "API key",
            kind="secret",
            store="credentials",
            required=True,
            help="Settings > Developer API keys > Generate key, with Orders and Transactions (read).",
        ),
        SetupField(
            "refund_allocation",
            "Partial refunds",
            kind="choice",
            default="amount_only",
            choices=(
                ("amount_only", "Book the amount to returns (Squarespace does not say what was refunded)"),
                ("proportional", "Share the amount over the order's goods, shipping and tax"),
            ),
            help="A refund of the whole order always reverses the sale exactly.",
        ),
        SetupField("include_test_orders", "Book test-mode orders", kind="bool", default=False),
    )

    def __init__(self, config: SourceConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config)
        self._sleep = sleep
        self._api: SquarespaceAPI | None = None

    # -- settings ------------------------------------------------------------------------------

    @property
    def choices(self) -> Choices:
        """The channel's choices for refunds and test orders."""
        allocation = str(self.config.settings.get("refund_allocation") or "amount_only")
        if allocation not in ("amount_only", "proportional"):
            # A settings mistake, not a bad event: the event waits (and is retried) until it is fixed.
            raise Permanent(
                f"squarespace: the channel's partial refund setting {allocation!r} is not "
                "amount_only or proportional"
            )
        return Choices(
            refund_allocation="proportional" if allocation == "proportional" else "amount_only",
            include_test_orders=bool(self.config.settings.get("include_test_orders")),
        )

    @property
    def api(self) -> SquarespaceAPI:
        """The site's Commerce API client (built on first use)."""
        if self._api is None:
            key = str(self.config.credentials.get("api_key") or "")
            if not key:
                raise AuthExpired("squarespace: the channel has no API key")
            settings = self.config.settings
            self._api = SquarespaceAPI(
                api_key=key,
                base_url=self.config.base_url,
                connection_key=self.config.channel_slug,
                user_agent=str(
                    settings.get("user_agent") or f"the-integrator/1.0 (channel {self.config.channel_slug})"
                ),
                rate_limit=RateLimit(per_minute=int(settings["requests_per_minute"]))
                if settings.get("requests_per_minute")
                else RATE_LIMIT,
                cooldown_seconds=float(settings.get("cooldown_seconds") or 60.0),
                sleep=self._sleep,
            )
        return self._api

    # -- receiving -----------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        """``Squarespace-Signature`` must be the hex HMAC-SHA256 of the raw body under one of the
        channel's secrets, each hex-decoded (constant-time, every secret tried)."""
        provided = request.header(SIGNATURE_HEADER).strip().lower()
        if not provided:
            raise SignatureInvalid(f"squarespace: missing {SIGNATURE_HEADER}")
        keys = []
        for secret in self.config.webhook_secrets:
            try:
                keys.append(bytes.fromhex(secret))
            except (ValueError, TypeError):
                continue  # not a Squarespace secret: it can never match
        if not keys:
            raise SignatureInvalid("squarespace: no hex webhook secret configured for this channel")
        given = provided.encode("ascii", errors="replace")
        matched = False
        for key in keys:
            expected = hmac.new(key, request.body, hashlib.sha256).hexdigest().encode("ascii")
            matched |= hmac.compare_digest(expected, given)
        if not matched:
            raise SignatureInvalid("squarespace: signature does not match the body")

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """Dedupe on the notification's ``id`` (the same on every retry)."""
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload("squarespace: notification body is not JSON") from exc
        if not isinstance(body, dict):
            raise MalformedPayload("squarespace: notification body is not a JSON object")
        notification_id, topic = body.get("id"), body.get("topic")
        if not isinstance(notification_id, str) or not notification_id:
            raise MalformedPayload("squarespace: notification has no id")
        if not isinstance(topic, str) or not topic:
            raise MalformedPayload("squarespace: notification has no topic")
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        assert isinstance(data, dict)
        extra = {
            "website_id": str(body.get("websiteId") or ""),
            "subscription_id": str(body.get("subscriptionId") or ""),
            "order_id": str(data.get("orderId") or ""),
            "update": str(data.get("update") or ""),
        }
        return WebhookEnvelope(
            dedupe_key=notification_id, event_type=topic, extra={k: x for k, x in extra.items() if x}
        )

    # -- parsing -------------------------------------------------------------------------------

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """A pulled record (order + Document) or an order notification (fetch both first) ->
        ``[Sale, *Refunds]``; other topics carry nothing for the books."""
        body = v.as_mapping(payload, "payload")
        if isinstance(body.get("order"), Mapping):
            document = body.get("document")
            return build_documents(
                body["order"], document if isinstance(document, Mapping) else None, self.choices
            )
        if event_type not in ORDER_TOPICS:
            return []
        data = v.as_mapping(body.get("data"), "notification data")
        order_id = str(data.get("orderId") or "")
        if not order_id:
            raise MalformedPayload("squarespace: order notification has no data.orderId")
        order = self.api.get(f"{ORDERS}/{quote(order_id, safe='')}")
        return build_documents(order, self.find_document(order), self.choices)

    def find_document(self, order: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The transactions Document of an order. The Transactions API cannot be filtered by order,
        so the Documents modified around the order's last change are read (then, if need be, those
        since its creation) until the one whose ``salesOrderId`` is the order's."""
        order_id = str(order.get("id") or "")
        window = timedelta(minutes=int(self.config.settings.get("transactions_window_minutes") or 60))
        max_pages = int(self.config.settings.get("transactions_lookup_pages") or DEFAULT_LOOKUP_PAGES)
        now = datetime.now(UTC)
        starts: list[datetime] = []
        for field in ("modifiedOn", "createdOn"):
            if order.get(field):
                start = v.parse_time(order[field], f"order {field}") - window
                if not starts or start < starts[-1]:
                    starts.append(start)
        for start in starts:
            filters = {
                "modifiedAfter": v.rfc3339(start),
                "modifiedBefore": v.rfc3339(now + timedelta(minutes=1)),
            }
            for number, page in enumerate(self.api.pages(TRANSACTIONS, "documents", filters), start=1):
                for doc in page:
                    if isinstance(doc, Mapping) and str(doc.get("salesOrderId") or "") == order_id:
                        return doc
                if number >= max_pages:
                    break
        return None

    # -- pulling -------------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Every order that was created, or whose money changed, since ``since``.

        Both APIs are read over the same window (``modifiedAfter=since``, ``modifiedBefore=now``):
        the Documents first (money: payments, fees, refunds), then the orders. An order is yielded
        with its Document when it was created in the window or its Document changed in it; an order
        that only changed in ways the books do not see (fulfilled, an email changed) and was
        created before the window is left alone. A Document whose order did not change in the
        window has its order fetched. Records are keyed on both modification times.
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        report = progress or _noop_progress
        # modifiedBefore is exclusive and to the millisecond: round up so nothing changed in this
        # very millisecond falls between two windows.
        until = datetime.now(UTC) + timedelta(milliseconds=1)
        window = {"modifiedAfter": v.rfc3339(since), "modifiedBefore": v.rfc3339(until)}
        documents: dict[str, Mapping[str, Any]] = {}
        for page in self.api.pages(TRANSACTIONS, "documents", window):
            for doc in page:
                doc = v.as_mapping(doc, "document")
                if doc.get("salesOrderId"):  # donations have no order
                    documents[str(doc["salesOrderId"])] = doc
            report(len(documents), None, f"squarespace: {len(documents)} transaction documents")
        done = 0
        seen: set[str] = set()
        for page in self.api.pages(ORDERS, "result", window):
            for raw in page:
                order = v.as_mapping(raw, "order")
                order_id = str(order.get("id") or "")
                seen.add(order_id)
                created = v.parse_time(order.get("createdOn"), "order createdOn")
                if created > since or order_id in documents:
                    yield _record(order, documents.get(order_id))
                    done += 1
            report(done, None, f"squarespace: {done} orders")
        for order_id, doc in documents.items():
            if order_id not in seen:
                yield _record(self.api.get(f"{ORDERS}/{quote(order_id, safe='')}"), doc)
                done += 1
        report(done, done, f"squarespace: {done} orders")

    # -- setting up ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Read a day of orders and of transactions: the key must open both APIs."""
        if not self.config.credentials.get("api_key"):
            return ConnectionCheck(False, "Enter the site's Commerce API key first.")
        now = datetime.now(UTC)
        window = {"modifiedAfter": v.rfc3339(now - timedelta(days=1)), "modifiedBefore": v.rfc3339(now)}
        try:
            orders = self.api.get(ORDERS, window)
            documents = self.api.get(TRANSACTIONS, window)
        except AuthExpired as exc:
            return ConnectionCheck(
                False,
                "Squarespace refused the API key: check it was copied whole and has the Orders and "
                f"Transactions permissions ({exc.vendor_message or exc.message}).",
            )
        except ConnectorError as exc:
            return ConnectionCheck(
                False, f"Could not read from Squarespace: {exc.vendor_message or exc.message}"
            )
        count = len(orders.get("result") or [])
        details = {"orders_last_day": count, "documents_last_day": len(documents.get("documents") or [])}
        more = "+" if (orders.get("pagination") or {}).get("hasNextPage") else ""
        return ConnectionCheck(
            True,
            f"Connected: the key reads orders and transactions ({count}{more} orders changed in the last day).",
            details,
        )


def _record(order: Mapping[str, Any], document: Mapping[str, Any] | None) -> PulledRecord:
    order_id = str(order.get("id") or "")
    if not order_id:
        raise MalformedPayload("squarespace: a pulled order has no id")
    key = f"order:{order_id}:{order.get('modifiedOn') or ''}:{(document or {}).get('modifiedOn') or ''}"
    return PulledRecord(
        dedupe_key=key, event_type="order.update", payload={"order": order, "document": document}
    )
