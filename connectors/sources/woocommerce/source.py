"""The WooCommerce sales source: signed webhooks, the creation ping, REST back-fill and the
scheduled completeness pull that closes every gap a disabled hook leaves."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.base import (
    AuthExpired,
    ConnectionCheck,
    ConnectorError,
    MalformedPayload,
    ProgressCallback,
    PulledRecord,
    SalesSource,
    SetupField,
    SignatureInvalid,
    SourceConfig,
    WebhookEnvelope,
    WebhookReply,
    WebhookRequest,
)
from connectors.http import RateLimit
from integrator.canonical import CanonicalDocument, Refund

from . import values as v
from .api import MAX_PER_PAGE, WooAPI, WooNotFound
from .orders import SaleRules, build_sale, order_context
from .refunds import parse_refund, summary_refund

__all__ = ["ORDER_TOPICS", "WooCommerceSource", "order_revision_key", "sign"]

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})
DELETE_TOPICS = frozenset({"order.deleted"})
#: Statuses that undo a booked sale: cancelled after payment, or moved to the bin.
VOID_STATUSES = frozenset({"cancelled", "trash"})
_PING = re.compile(rb"webhook_id=(\d{1,20})")


def sign(body: bytes, secret: str) -> str:
    """The ``X-WC-Webhook-Signature`` WooCommerce sends: base64 HMAC-SHA256 of the body as sent."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def order_revision_key(order: Mapping[str, Any]) -> str:
    """The dedupe key of one revision of an order, the same for a webhook and a pulled copy.

    WooCommerce's delivery id changes on every delivery, so the key is the order's own identity:
    its id and ``date_modified_gmt`` (as PLATFORMS.md says), plus a short digest of its status,
    total and refund ids. The digest is there because ``date_modified_gmt`` has one-second
    resolution: an order created "pending" and paid within the same second must not be taken for
    a duplicate of itself and lose the sale.
    """
    order_id = v.external_id(order.get("id"), "order id")
    refunds = ",".join(str(r.get("id")) for r in v.objects(order, "refunds"))
    fingerprint = f"{order.get('status')}|{order.get('total')}|{refunds}"
    digest = hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:12]
    return f"order:{order_id}:{order.get('date_modified_gmt') or ''}:{digest}"


def _noop_progress(done: int, total: int | None, message: str) -> None:
    return None


def _as_set(value: Any, *, lower: bool = True) -> frozenset[str]:
    """A setting given as a list or a comma-separated string, as a set of trimmed strings."""
    if value is None or value == "":
        return frozenset()
    items: Iterable[Any] = value.split(",") if isinstance(value, str) else value
    cleaned = (str(x).strip() for x in items)
    return frozenset((x.lower() if lower else x) for x in cleaned if x)


class WooCommerceSource(SalesSource):
    """WooCommerce (REST API v3): webhooks for orders, back-fill and completeness pulls.

    Credentials: ``consumer_key`` and ``consumer_secret`` (a REST API key with Read access).
    Settings: ``sale_statuses`` (default ``processing, completed``), ``gift_card_product_ids``,
    ``gift_card_skus``, ``query_string_auth`` (for hosts that strip the Authorization header),
    ``requests_per_second`` (our own pace, default 5), ``page_size`` (at most 100).
    """

    platform: ClassVar[str] = "woocommerce"
    display_name: ClassVar[str] = "WooCommerce"
    capabilities: ClassVar[frozenset[str]] = frozenset({"webhook", "pull"})
    #: Deliveries are JSON; the ping WooCommerce sends when a hook is created is a form body.
    accepted_content_types: ClassVar[frozenset[str]] = frozenset(
        {"application/json", "application/x-www-form-urlencoded"}
    )
    #: WooCommerce never retries a delivery and disables a hook after more than five failures in a
    #: row: a pull every quarter of an hour books whatever the hooks missed.
    scheduled_pull_minutes: ClassVar[int | None] = 15
    pull_overlap: ClassVar[timedelta] = timedelta(minutes=10)
    setup_fields: ClassVar[tuple[SetupField, ...]] = (
        SetupField(
            "consumer_key",
            "Consumer key",
            kind="secret",
            store="credentials",
            required=True,
            help="WooCommerce > Settings > Advanced > REST API > Add key, permissions Read (starts ck_).",
        ),
        SetupField(
            "consumer_secret",
            "Consumer secret",
            kind="secret",
            store="credentials",
            required=True,
            help="Shown once next to the consumer key (starts cs_).",
        ),
        SetupField(
            "sale_statuses",
            "Order statuses that are sales",
            default="processing,completed",
            help="Comma-separated WooCommerce statuses booked as sales (add on-hold for bank transfers "
            "you trust before they clear). Refunded orders are always sales with their refunds.",
        ),
        SetupField(
            "gift_card_product_ids",
            "Gift card product ids",
            help="Comma-separated product ids sold as gift cards (booked as a liability, not revenue).",
        ),
        SetupField("gift_card_skus", "Gift card SKUs", help="Comma-separated SKUs sold as gift cards."),
        SetupField(
            "query_string_auth",
            "Send the API keys in the query string",
            kind="bool",
            default=False,
            help="Only if your host strips the Authorization header (WooCommerce answers 401 otherwise).",
        ),
    )

    def __init__(self, config: SourceConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config)
        self._sleep = sleep
        self._api: WooAPI | None = None

    # -- settings ------------------------------------------------------------------------------

    @property
    def rules(self) -> SaleRules:
        """Which statuses are sales and which products are gift cards, from the channel settings."""
        settings = self.config.settings
        statuses = _as_set(settings.get("sale_statuses")) or SaleRules().sale_statuses
        return SaleRules(
            sale_statuses=statuses,
            gift_card_product_ids=_as_set(settings.get("gift_card_product_ids")),
            gift_card_skus=_as_set(settings.get("gift_card_skus"), lower=False),
        )

    @property
    def page_size(self) -> int:
        """Orders per page: WooCommerce's maximum (100) unless the settings ask for fewer."""
        return max(1, min(MAX_PER_PAGE, int(self.config.settings.get("page_size") or MAX_PER_PAGE)))

    def _can_call(self) -> bool:
        creds = self.config.credentials
        return bool(self.config.base_url and creds.get("consumer_key") and creds.get("consumer_secret"))

    @property
    def api(self) -> WooAPI:
        """The store's REST client (built on first use)."""
        if self._api is None:
            creds = self.config.credentials
            if not self._can_call():
                raise AuthExpired("woocommerce: the channel has no store URL or no REST API keys")
            self._api = WooAPI(
                base_url=self.config.base_url,
                consumer_key=str(creds["consumer_key"]),
                consumer_secret=str(creds["consumer_secret"]),
                connection_key=self.config.channel_slug,
                rate_limit=RateLimit(per_second=int(self.config.settings.get("requests_per_second") or 5)),
                query_string_auth=bool(self.config.settings.get("query_string_auth")),
                sleep=self._sleep,
            )
        return self._api

    # -- receiving -----------------------------------------------------------------------------

    def handle_handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """WooCommerce pings a hook's URL when it is created or saved: a form body
        ``webhook_id=<n>``, unsigned, no topic. It must be answered 200 (WooCommerce refuses to
        activate the hook otherwise) and is not an event: the hook id is kept for the admin."""
        if request.header(SIGNATURE_HEADER) or request.header("X-WC-Webhook-Topic"):
            return None
        match = _PING.fullmatch(request.body.strip())
        if match is None:
            return None
        return WebhookReply(
            status=200,
            body={"status": "ok"},
            record={
                "webhook_id": match.group(1).decode("ascii"),
                "user_agent": request.header("User-Agent")[:200],
                "received_at": request.received_at.isoformat(),
            },
        )

    def verify_webhook(self, request: WebhookRequest) -> None:
        """``X-WC-Webhook-Signature`` must be the base64 HMAC-SHA256 of the raw body under one of
        the channel's secrets (every one is tried, in constant time, so a rotation never drops a
        delivery)."""
        provided = request.header(SIGNATURE_HEADER).strip()
        if not provided:
            raise SignatureInvalid(f"woocommerce: missing {SIGNATURE_HEADER}")
        try:
            given = base64.b64decode(provided, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureInvalid(f"woocommerce: {SIGNATURE_HEADER} is not base64") from exc
        secrets = [s for s in self.config.webhook_secrets if s]
        if not secrets:
            raise SignatureInvalid("woocommerce: no webhook secret configured for this channel")
        matched = False
        for secret in secrets:  # no early exit: timing reveals neither which secret nor how much matched
            expected = hmac.new(secret.encode("utf-8"), request.body, hashlib.sha256).digest()
            matched |= hmac.compare_digest(expected, given)
        if not matched:
            raise SignatureInvalid("woocommerce: webhook signature does not match the body")

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """Dedupe an order on its revision (:func:`order_revision_key`), never on the delivery id."""
        topic = request.header("X-WC-Webhook-Topic").strip()
        if not topic:
            raise MalformedPayload("woocommerce: missing X-WC-Webhook-Topic")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload("woocommerce: webhook body is not JSON") from exc
        if not isinstance(body, dict):
            raise MalformedPayload("woocommerce: webhook body is not a JSON object")
        delivery = request.header("X-WC-Webhook-Delivery-ID")
        extra = {
            "webhook_id": request.header("X-WC-Webhook-ID"),
            "delivery_id": delivery,
            "source": request.header("X-WC-Webhook-Source"),
        }
        kept = {k: x for k, x in extra.items() if x}
        resource = topic.split(".", 1)[0]
        if topic in DELETE_TOPICS:
            key = f"order:{v.external_id(body.get('id'), 'order id')}:deleted"
        elif resource == "order":
            key = order_revision_key(body)
        else:  # products, customers, coupons...: stored for the record, nothing to book
            key = f"{topic}:{body.get('id', '')}:{body.get('date_modified_gmt') or delivery}"
        return WebhookEnvelope(dedupe_key=key, event_type=topic, extra=kept)

    # -- parsing -------------------------------------------------------------------------------

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Orders (webhook or pulled) -> ``[Sale, *Refunds]``, a voided Sale, or ``[]``."""
        body = v.as_mapping(payload, "payload")
        if event_type in ORDER_TOPICS:
            return self.parse_order(body)
        if event_type in DELETE_TOPICS:
            return self._deleted(v.external_id(body.get("id"), "order id"))
        return []

    def parse_order(self, order: Mapping[str, Any]) -> list[CanonicalDocument]:
        """The documents an order stands for, following the store's status workflow:

        * a status in ``sale_statuses`` (default processing, completed), or ``refunded``: the sale
          and every refund (fetched from ``/orders/<id>/refunds``);
        * ``cancelled`` or ``trash`` after payment: a voided sale (undoes what was booked), unless
          refunds were recorded, in which case the sale stands and the refunds reverse it;
        * anything else (pending, on-hold, failed, draft): nothing yet.
        """
        status = str(order.get("status") or "")
        rules = self.rules
        has_refunds = bool(v.objects(order, "refunds"))
        if status in rules.sale_statuses or status == "refunded" or (status in VOID_STATUSES and has_refunds):
            sale = build_sale(order, rules)
            return [sale, *self._refunds(order)] if has_refunds else [sale]
        if status in VOID_STATUSES and (order.get("date_paid_gmt") or order.get("date_paid")):
            return [build_sale(order, rules, status="voided")]
        return []

    def _refunds(self, order: Mapping[str, Any]) -> list[Refund]:
        ctx = order_context(order, self.rules)
        if not self._can_call():
            when = order.get("date_modified_gmt") or order.get("date_created_gmt")
            found = [summary_refund(s, ctx, when) for s in v.objects(order, "refunds")]
            return [r for r in found if r is not None]
        path = f"/orders/{quote(ctx.order_id, safe='')}/refunds"
        refunds = []
        for page in self.api.pages(path, {"per_page": MAX_PER_PAGE}):
            for raw in page.items:
                refund = parse_refund(v.as_mapping(raw, "refund"), ctx)
                if refund is not None:
                    refunds.append(refund)
        return refunds

    def _deleted(self, order_id: str) -> list[CanonicalDocument]:
        """``order.deleted`` carries only the id: read the order from the bin (a trashed order
        voids its sale). An order deleted for good can no longer be read: say so to a person."""
        try:
            order, _ = self.api.get(f"/orders/{quote(order_id, safe='')}")
        except WooNotFound as exc:
            raise WooNotFound(
                f"woocommerce: order {order_id} was deleted permanently and can no longer be read; "
                "if it had been booked, reverse its sale by hand",
                vendor_code=exc.vendor_code,
                vendor_message=exc.vendor_message,
            ) from exc
        return self.parse_order(v.as_mapping(order, f"order {order_id}"))

    # -- pulling -------------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Every order modified since ``since``, oldest id first, as ``order.updated`` records keyed
        exactly like the webhook for the same revision: first ``status=any`` (which WooCommerce
        takes as every status but the bin, custom ones included), then the bin, so a paid order
        binned while the hooks were down still voids its sale. ``progress`` is called per page
        with WooCommerce's ``X-WP-Total``."""
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        report = progress or _noop_progress
        params = {
            "modified_after": since.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
            "dates_are_gmt": "true",
            "orderby": "id",
            "order": "asc",
            "per_page": self.page_size,
        }
        done = 0
        totals: dict[str, int] = {}
        for status in ("any", "trash"):
            for page in self.api.pages("/orders", {**params, "status": status}):
                for raw in page.items:
                    order = v.as_mapping(raw, "order")
                    yield PulledRecord(
                        dedupe_key=order_revision_key(order), event_type="order.updated", payload=order
                    )
                done += len(page.items)
                if page.total is not None:
                    totals[status] = page.total
                where = " in the bin" if status == "trash" else ""
                pages = f" (page {page.number} of {page.total_pages}{where})" if page.total_pages else where
                report(done, sum(totals.values()) if totals else None, f"woocommerce: {done} orders{pages}")

    # -- setting up ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Read the store's general settings with the keys and compare its currency with the
        channel's."""
        if not self._can_call():
            return ConnectionCheck(
                False, "Enter the store's address and its REST API consumer key and secret first."
            )
        try:
            settings, _ = self.api.get("/settings/general")
        except AuthExpired as exc:
            return ConnectionCheck(
                False,
                "WooCommerce refused the API keys: check that the consumer key and secret are copied "
                f"whole and have Read access ({exc.vendor_message or exc.message}).",
            )
        except ConnectorError as exc:
            return ConnectionCheck(
                False, f"Could not reach the WooCommerce store: {exc.vendor_message or exc.message}"
            )
        values = {
            str(s.get("id")): s.get("value")
            for s in v.as_list(settings, "settings")
            if isinstance(s, Mapping)
        }
        currency = str(values.get("woocommerce_currency") or "")
        details = {"currency": currency, "store": self.config.base_url}
        if currency and currency != self.config.currency:
            return ConnectionCheck(
                False,
                f"Connected, but the store's currency is {currency} and this channel books in "
                f"{self.config.currency}: change the channel's currency before booking.",
                details,
            )
        return ConnectionCheck(
            True, f"Connected to the WooCommerce store; its currency is {currency}.", details
        )
