"""Clover (point of sale) as a sales source.

What comes in, and what it becomes:

==============================================  ================================================
Clover                                          canonical documents
==============================================  ================================================
``{"verificationCode": ...}`` (once, when the   nothing: answered 200 by :meth:`handle_handshake`
webhook URL is set in Clover's dashboard)       and kept on the channel for the admin to paste
                                                back into Clover
webhook ``merchants: {mId: [{objectId, type,    per ``O:<order>`` (or ``P:<payment>``, through the
ts}]}`` with header ``X-Clover-Auth``           payment's order): the order is fetched by REST
                                                (expanded) and becomes a :class:`Sale` and one
                                                :class:`Refund` per refund; ``DELETE`` of an order
                                                is a voided sale (a 404: nothing)
pulled order (90-day windows on modifiedTime)   the same documents as the webhook for that order
pulled cash event (cash added / removed)        a :class:`CashCount` float change
==============================================  ================================================

Clover signs nothing: every delivery carries the app's static **Clover Auth Code** in
``X-Clover-Auth``, compared here in constant time against every configured code (rotation). A
delivery may list several objects (and other merchants of the same app: only this channel's
merchant is read). One delivery is one inbox event, deduplicated on its ``(objectId, type, ts)``
list; processing it is idempotent per object (the fetched order parses to the same document each
time), so a Clover retry that regroups objects differently books nothing twice.

Channel configuration read here:

* ``settings["merchant_id"]`` - the Clover merchant (``mId``); it is also the sale's ``location``;
* ``credentials["access_token"]`` - the merchant's OAuth access token or API token;
* ``webhook_secrets`` and/or ``credentials["webhook_auth_code"]`` - the Clover Auth Code(s);
* ``settings["environment"]`` - ``production`` (North America, default), ``europe``,
  ``latin_america`` or ``sandbox``; ``base_url`` overrides it.
"""

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
from connectors.sources.clover.api import DEFAULT_BASE_URL, CloverAPI, CloverNotFound
from connectors.sources.clover.orders import (
    cash_event_document,
    deleted_order_sale,
    documents_from_order,
    from_millis,
)
from integrator.canonical import CanonicalDocument

__all__ = ["AUTH_HEADER", "ORDER_EXPAND", "WINDOW", "CloverSource"]

AUTH_HEADER = "X-Clover-Auth"
#: What an order is fetched with: everything a sale, its tenders and its refunds need.
ORDER_EXPAND = (
    "lineItems,lineItems.discounts,lineItems.taxRates,lineItems.modifications,discounts,"
    "payments,payments.tender,refunds,refunds.payment,refunds.lineItems"
)
#: Clover refuses order and payment reads spanning more than 90 days.
WINDOW = timedelta(days=90)
_BASE_URLS = {
    "production": DEFAULT_BASE_URL,
    "europe": "https://api.eu.clover.com",
    "latin_america": "https://api.la.clover.com",
    "sandbox": "https://apisandbox.dev.clover.com",
}
_PAGE = 100


class CloverSource(SalesSource):
    """Clover: auth-code webhooks listing object ids, orders fetched by REST, 90-day pulls."""

    platform = "clover"
    display_name = "Clover"
    capabilities = frozenset({"webhook", "pull"})
    accepted_content_types = frozenset({"application/json"})
    #: Clover "does not guarantee when, or if, notifications will be received": pull hourly.
    scheduled_pull_minutes: ClassVar[int | None] = 60
    pull_overlap: ClassVar[timedelta] = timedelta(minutes=15)
    setup_fields = (
        SetupField("merchant_id", "Clover merchant ID", required=True,
                   help="The 13-character merchant ID (mId) shown in the Clover dashboard's URL."),
        SetupField("environment", "Clover region", kind="choice", default="production",
                   choices=(("production", "North America"), ("europe", "Europe"),
                            ("latin_america", "Latin America"), ("sandbox", "Clover sandbox"))),
        SetupField("access_token", "API access token", kind="secret", store="credentials", required=True,
                   help="The merchant's OAuth access token (or an API token with read orders, "
                        "payments and merchant permissions)."),
        SetupField("webhook_auth_code", "Clover Auth Code", kind="secret", store="credentials",
                   help="Shown on the app's Webhooks page once the URL is verified; Clover sends it "
                        "in the X-Clover-Auth header of every notification."),
    )  # fmt: skip

    def __init__(self, config: SourceConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config)
        self._sleep = sleep
        self._api: CloverAPI | None = None

    @property
    def merchant_id(self) -> str:
        """The channel's Clover merchant."""
        return str(self.config.settings.get("merchant_id") or "")

    @property
    def api(self) -> CloverAPI:
        """The channel's authenticated client (built on first use)."""
        if self._api is None:
            token = str(self.config.credentials.get("access_token") or "")
            if not token:
                raise AuthExpired("clover: the channel has no access token; connect it to Clover again")
            if not self.merchant_id:
                raise AuthExpired("clover: the channel has no merchant ID; set it in the channel's settings")
            env = str(self.config.settings.get("environment") or "production")
            self._api = CloverAPI(
                access_token=token,
                merchant_id=self.merchant_id,
                base_url=self.config.base_url or _BASE_URLS.get(env, DEFAULT_BASE_URL),
                connection_key=self.config.channel_slug,
                sleep=self._sleep,
            )
        return self._api

    # -- webhooks ----------------------------------------------------------------------------

    def handle_handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """Clover's one-time ``{"verificationCode": "..."}``: answer 200 and keep the code."""
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return None
        if not (isinstance(body, dict) and set(body) == {"verificationCode"}):
            return None
        code = body["verificationCode"]
        if not isinstance(code, str) or not code or len(code) > 200:
            raise MalformedPayload("clover: verification code is not a short string")
        return WebhookReply(
            status=200,
            body={"status": "received"},
            record={"verification_code": code, "received_at": request.received_at.isoformat()},
        )

    def _auth_codes(self) -> list[str]:
        codes = [s for s in self.config.webhook_secrets if s]
        extra = str(self.config.credentials.get("webhook_auth_code") or "")
        if extra and extra not in codes:
            codes.append(extra)
        return codes

    def verify_webhook(self, request: WebhookRequest) -> None:
        """``X-Clover-Auth`` must equal one of the channel's auth codes (constant-time compare)."""
        given = request.header(AUTH_HEADER).strip()
        if not given:
            raise SignatureInvalid(f"clover: missing {AUTH_HEADER} header")
        codes = self._auth_codes()
        if not codes:
            raise SignatureInvalid("clover: no Clover Auth Code configured for this channel")
        matched = False
        for code in codes:
            # No early exit: every configured code costs the same time whatever matches.
            matched |= hmac.compare_digest(code.encode("utf-8"), given.encode("utf-8", errors="replace"))
        if not matched:
            raise SignatureInvalid(f"clover: {AUTH_HEADER} does not match the channel's auth code")

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """One event per delivery, keyed on its ``(objectId, type, ts)`` list."""
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload("clover: webhook body is not JSON") from exc
        objects = _notifications(body, None)
        if not objects:
            raise MalformedPayload("clover: webhook lists no objects")
        keys = sorted({f"{o['objectId']}:{o['type']}:{o['ts']}" for _, o in objects})
        key = keys[0] if len(keys) == 1 else "batch:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()
        merchants = sorted({m for m, _ in objects})
        return WebhookEnvelope(
            dedupe_key=key, event_type="notification", extra={"merchants": ",".join(merchants)}
        )

    # -- parsing -----------------------------------------------------------------------------

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """A webhook (fan out over its objects) or a pulled order / cash event."""
        if event_type == "order":
            return documents_from_order(
                _as_dict(payload.get("order"), "pulled order"),
                merchant_id=str(payload.get("merchant_id") or self.merchant_id),
                default_currency=self.config.currency,
            )
        if event_type == "cash_event":
            doc = cash_event_document(
                _as_dict(payload.get("cash_event"), "pulled cash event"),
                merchant_id=str(payload.get("merchant_id") or self.merchant_id),
                currency=self.config.currency,
            )
            return [doc] if doc is not None else []
        if event_type != "notification":
            return []
        docs: dict[tuple[str, str], CanonicalDocument] = {}
        orders: dict[str, tuple[str, int]] = {}  # order id -> (latest type, ts)
        for _merchant, obj in _notifications(payload, self.merchant_id or None):
            prefix, _, object_id = str(obj["objectId"]).partition(":")
            if prefix == "P" and obj["type"] != "DELETE":
                order_id = self._order_of_payment(object_id)
                if order_id:
                    orders.setdefault(order_id, ("UPDATE", int(obj["ts"])))
            elif prefix == "O":
                previous = orders.get(object_id)
                if previous is None or int(obj["ts"]) >= previous[1]:
                    orders[object_id] = (str(obj["type"]), int(obj["ts"]))
            # CA (cash adjustments), inventory, customers ...: cash events come by the pull.
        for order_id, (kind, ts) in orders.items():
            for made in self._order_documents(order_id, kind, ts):
                docs[(made.kind, made.external_id)] = made
        return list(docs.values())

    def _order_of_payment(self, payment_id: str) -> str:
        try:
            payment = self.api.get(f"payments/{quote(payment_id, safe='')}")
        except CloverNotFound:
            return ""
        order = payment.get("order") if isinstance(payment, Mapping) else None
        return str(order.get("id") or "") if isinstance(order, Mapping) else ""

    def _order_documents(self, order_id: str, kind: str, ts: int) -> list[CanonicalDocument]:
        when = from_millis(ts, "notification ts")
        if kind == "DELETE":
            return [
                deleted_order_sale(
                    order_id, when, merchant_id=self.merchant_id, currency=self.config.currency
                )
            ]
        try:
            order = self.api.get(f"orders/{quote(order_id, safe='')}", [("expand", ORDER_EXPAND)])
        except CloverNotFound:
            # Unknown to Clover (deleted since, or an id Clover never had): nothing to book. Only
            # Clover's own DELETE notification voids a ticket, so a delivery naming a made-up id
            # cannot create a document.
            return []
        return documents_from_order(
            _as_dict(order, "order"), merchant_id=self.merchant_id, default_currency=self.config.currency
        )

    # -- pulling -----------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Orders modified since ``since`` (then cash events), in windows of at most 90 days."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        done = 0
        start = since
        while start < now:
            end = min(start + WINDOW, now)
            window = [
                ("filter", f"modifiedTime>={_millis(start)}"),
                ("filter", f"modifiedTime<={_millis(end)}"),
            ]
            for page in self.api.pages("orders", [*window, ("expand", ORDER_EXPAND)], limit=_PAGE):
                for order in page:
                    yield _order_record(self.merchant_id, order)
                done += len(page)
                _report(progress, done, f"clover: {done} records pulled (orders to {end:%Y-%m-%d})")
            events = [("filter", f"timestamp>={_millis(start)}"), ("filter", f"timestamp<={_millis(end)}")]
            for page in self.api.pages("cash_events", events, limit=_PAGE):
                for event in page:
                    record = _cash_record(self.merchant_id, event)
                    if record is not None:
                        yield record
                done += len(page)
                _report(progress, done, f"clover: {done} records pulled (cash events to {end:%Y-%m-%d})")
            start = end

    # -- setting up --------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Read the merchant: its name says the token and the merchant ID belong together."""
        try:
            merchant = self.api.get("", [("expand", "properties")])
        except ConnectorError as exc:
            return ConnectionCheck(False, f"Clover refused: {exc.vendor_message or exc.message}")
        name = str(merchant.get("name") or self.merchant_id) if isinstance(merchant, Mapping) else ""
        props = merchant.get("properties") if isinstance(merchant, Mapping) else None
        currency = str(props.get("defaultCurrency") or "") if isinstance(props, Mapping) else ""
        message = f"Connected to {name}" + (f" ({currency})" if currency else "")
        if currency and currency != self.config.currency:
            return ConnectionCheck(
                False,
                f"{message}, but the channel's currency is {self.config.currency}",
                {"currency": currency},
            )
        return ConnectionCheck(True, message, {"merchant": name, "currency": currency})


def _as_dict(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"clover: {what} is not an object")
    return value


def _notifications(body: Any, merchant: str | None) -> list[tuple[str, Mapping[str, Any]]]:
    """``(merchant, {objectId, type, ts})`` of a webhook body, checked; one merchant if given."""
    if not isinstance(body, Mapping) or not isinstance(body.get("merchants"), Mapping):
        raise MalformedPayload("clover: webhook body has no merchants map")
    found = []
    for mid, updates in body["merchants"].items():
        if merchant is not None and mid != merchant:
            continue  # another merchant of the same Clover app: not this channel's
        if not isinstance(updates, list):
            raise MalformedPayload(f"clover: updates of merchant {mid} are not a list")
        for u in updates:
            if not (
                isinstance(u, Mapping)
                and isinstance(u.get("objectId"), str)
                and ":" in u["objectId"]
                and u.get("type") in ("CREATE", "UPDATE", "DELETE")
                and isinstance(u.get("ts"), int)
                and not isinstance(u.get("ts"), bool)
            ):
                raise MalformedPayload(f"clover: malformed update for merchant {mid}: {u!r}"[:200])
            found.append((str(mid), u))
    return found


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _report(progress: ProgressCallback | None, done: int, message: str) -> None:
    if progress is not None:
        progress(done, None, message)


def _order_record(merchant_id: str, order: Any) -> PulledRecord:
    order = _as_dict(order, "pulled order")
    order_id = str(order.get("id") or "")
    if not order_id:
        raise MalformedPayload("clover: a pulled order has no id")
    return PulledRecord(
        dedupe_key=f"pull:order:{order_id}:{order.get('modifiedTime')}",
        event_type="order",
        payload={"merchant_id": merchant_id, "order": order},
    )


def _cash_record(merchant_id: str, event: Any) -> PulledRecord | None:
    event = _as_dict(event, "pulled cash event")
    kind = str(event.get("type") or "")
    device = event.get("device")
    device_id = str(device.get("id") or "") if isinstance(device, Mapping) else ""
    return PulledRecord(
        dedupe_key=f"pull:cash:{device_id}:{event.get('timestamp')}:{kind}",
        event_type="cash_event",
        payload={"merchant_id": merchant_id, "cash_event": event},
    )
