"""The Stripe sales source: signed webhooks, event parsing, and back-fill through the Events API."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors.base import (
    ConnectionCheck,
    ConnectorError,
    MalformedPayload,
    Permanent,
    ProgressCallback,
    PulledRecord,
    SalesSource,
    SetupField,
    SourceConfig,
    WebhookEnvelope,
    WebhookRequest,
    connection_failed,
)
from integrator.canonical import CanonicalDocument

from . import signature
from .api import API_VERSION, StripeAPI
from .documents import (
    EventContext,
    dispute_from_object,
    payment_from_charge,
    payment_from_intent,
    payout_from_object,
    refund_from_object,
    refunds_from_charge,
    timestamp,
)

__all__ = ["EVENTS_RETENTION", "HANDLED_EVENT_TYPES", "StripeSource"]

Parser = Callable[[object, EventContext], list[CanonicalDocument]]


def _one(fn: Callable[[object, EventContext], CanonicalDocument | None]) -> Parser:
    """Adapt a parser of one object that may book nothing (None) to the list-returning shape."""

    def parse(obj: object, ctx: EventContext) -> list[CanonicalDocument]:
        doc = fn(obj, ctx)
        return [doc] if doc is not None else []

    return parse


_PARSERS: dict[str, Parser] = {
    "payment_intent.succeeded": _one(payment_from_intent),
    "charge.succeeded": _one(payment_from_charge),
    "charge.captured": _one(payment_from_charge),  # a manual capture: the money moves now
    "charge.refunded": lambda obj, ctx: list(refunds_from_charge(obj, ctx)),
    "charge.refund.updated": _one(refund_from_object),
    "refund.created": _one(refund_from_object),
    "refund.updated": _one(refund_from_object),
    "charge.dispute.created": _one(dispute_from_object),
    "charge.dispute.updated": _one(dispute_from_object),
    "charge.dispute.closed": _one(dispute_from_object),
    "charge.dispute.funds_withdrawn": _one(dispute_from_object),
    "charge.dispute.funds_reinstated": _one(dispute_from_object),
    "payout.paid": _one(payout_from_object),
    "payout.failed": _one(payout_from_object),
    "payout.canceled": _one(payout_from_object),
}

#: The event types that carry something for the books (the webhook endpoint should enable these).
HANDLED_EVENT_TYPES: tuple[str, ...] = tuple(_PARSERS)

#: Stripe keeps events retrievable for 30 days; older history is read from the object lists.
EVENTS_RETENTION = timedelta(days=30)

# Lists read for history older than the Events API keeps: (path, date field filtered on, extra params).
_BACKFILL: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("/v1/charges", "created", (("expand[]", "data.balance_transaction"),)),
    ("/v1/refunds", "created", ()),
    ("/v1/disputes", "created", ()),
    ("/v1/payouts", "arrival_date", ()),  # a payout matters when it lands, not when it was created
)


class StripeSource(SalesSource):
    """Stripe as a sales source: charges are payments, plus refunds, disputes and payouts.

    Credentials: ``secret_key`` (``sk_live_...`` or a restricted key with read access to events,
    charges, refunds, disputes, payouts and balance transactions). Without it webhooks still work,
    but fees are 0 (noted in metadata), payouts are not itemised and ``pull`` is unavailable.
    Settings: ``sale_metadata_key`` (metadata key holding the shop's order id, optional),
    ``signature_tolerance`` (seconds, default 300).
    """

    platform: ClassVar[str] = "stripe"
    display_name: ClassVar[str] = "Stripe"
    capabilities: ClassVar[frozenset[str]] = frozenset({"webhook", "pull", "payouts"})
    setup_fields: ClassVar[tuple[SetupField, ...]] = (
        SetupField("secret_key", "Secret API key", kind="secret", store="credentials",
                   help="A restricted key (rk_...) with read access to events, charges, refunds, disputes, "
                   "payouts and balance transactions, or the secret key (sk_...). Without it webhooks "
                   "still work, but fees are not itemised and back-fills are not possible."),
        SetupField("webhook_secret", "Webhook signing secret", kind="secret", required=True,
                   help="Developers > Webhooks > your endpoint > Signing secret (starts with whsec_)."),
        SetupField("base_url", "API address", kind="url", default="https://api.stripe.com",
                   help="Leave as it is: Stripe's test and live modes share this address."),
        SetupField("sale_metadata_key", "Order id metadata key",
                   help="The metadata key holding your shop's order id on Stripe charges, if any."),
    )  # fmt: skip

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self._api: StripeAPI | None = None

    def test_connection(self) -> ConnectionCheck:
        """``GET /v1/account``: the account's name, country and default currency."""
        api = self.api
        if api is None:
            return ConnectionCheck(
                False, "Enter a secret API key to test the connection (webhooks work without one)."
            )
        try:
            account = api.get("/v1/account")
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        profile = account.get("business_profile") or {}
        dashboard = (account.get("settings") or {}).get("dashboard") or {}
        name = str(profile.get("name") or dashboard.get("display_name") or account.get("id") or "")
        currency = str(account.get("default_currency") or "").upper()
        details = {"account": str(account.get("id") or ""), "name": name, "currency": currency,
                   "country": str(account.get("country") or "")}  # fmt: skip
        note = ""
        if currency and currency != self.config.currency:
            note = f" Its default currency is {currency}; this channel books in {self.config.currency}."
        return ConnectionCheck(
            True, f"Connected to the Stripe account {name} ({details['account']}).{note}", details
        )

    @property
    def api(self) -> StripeAPI | None:
        """The API client, or None when the channel has no secret key."""
        key = self.config.credentials.get("secret_key")
        if not key:
            return None
        if self._api is None:
            self._api = StripeAPI(
                secret_key=str(key), base_url=self.config.base_url, connection_key=self.config.channel_slug
            )
        return self._api

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Check ``Stripe-Signature`` against the raw body, every configured secret and the clock."""
        tolerance = int(self.config.settings.get("signature_tolerance", signature.DEFAULT_TOLERANCE))
        signature.verify(
            request.header("Stripe-Signature"),
            request.body,
            self.config.webhook_secrets,
            request.received_at,
            tolerance=tolerance,
        )

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """The event id (``evt_...``) is the dedupe key: Stripe re-delivers the same event id."""
        try:
            event = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload(f"Stripe webhook body is not JSON: {exc}") from exc
        if not isinstance(event, dict):
            raise MalformedPayload("Stripe webhook body is not a JSON object")
        event_id, event_type = event.get("id"), event.get("type")
        if not isinstance(event_id, str) or not event_id:
            raise MalformedPayload("Stripe event has no id")
        if not isinstance(event_type, str) or not event_type:
            raise MalformedPayload(f"Stripe event {event_id} has no type")
        if event.get("object", "event") != "event":
            raise MalformedPayload(f"Stripe webhook body is a {event.get('object')!r}, not an event")
        extra = {"livemode": str(bool(event.get("livemode"))).lower()}
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            extra["object_id"] = obj["id"]
        if isinstance(event.get("account"), str):  # Connect: the connected account's event
            extra["account"] = event["account"]
        return WebhookEnvelope(dedupe_key=event_id, event_type=event_type, extra=extra)

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Dispatch on the event type; types that carry nothing for the books give ``[]``."""
        parser = _PARSERS.get(event_type)
        if parser is None:
            return []
        if payload.get("type", event_type) != event_type:
            raise MalformedPayload(
                f"event type {event_type!r} does not match the payload's {payload.get('type')!r}"
            )
        data = payload.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("object"), Mapping):
            raise MalformedPayload(f"Stripe event {payload.get('id')!r} has no data.object")
        created = payload.get("created")
        ctx = EventContext(
            api=self.api,
            event_created=timestamp(created, "event.created") if created is not None else None,
            settings=self.config.settings,
        )
        return parser(data["object"], ctx)

    # -- pull --------------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Yield the handled events created since ``since`` (``GET /v1/events``, 100 a page).

        The Events API keeps 30 days. For an older ``since`` the charges, refunds, disputes and
        payouts of the older part are read from their lists and wrapped as events of the matching
        type, with a dedupe key built from the object id and state (``ch_...:charge.succeeded``):
        re-running the same back-fill stores nothing twice, and a webhook about the same object
        still lands on the same transaction through the shared (kind, external_id).
        """
        api = self.api
        if api is None:
            raise Permanent("Stripe pull needs the channel's secret key (credentials['secret_key'])")
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        horizon = datetime.now(UTC) - EVENTS_RETENTION
        done = 0
        if since < horizon:
            for record in self._backfill(api, since, horizon):
                yield record
                done += 1
                if progress is not None and done % 100 == 0:
                    progress(done, None, f"{done} Stripe records read (history older than 30 days)")
        params: list[tuple[str, object]] = [("created[gte]", int(max(since, horizon).timestamp()))]
        params += [("types[]", t) for t in HANDLED_EVENT_TYPES]
        for page in api.list_all("/v1/events", params):
            for event in page:
                if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
                    raise MalformedPayload("Stripe events list returned an event without id or type")
                yield PulledRecord(dedupe_key=event["id"], event_type=event["type"], payload=event)
            done += len(page)
            if progress is not None:
                progress(done, None, f"{done} Stripe records read")

    def _backfill(self, api: StripeAPI, since: datetime, until: datetime) -> Iterator[PulledRecord]:
        """Objects older than the events API keeps, wrapped as the events that would have told us."""
        window = (int(since.timestamp()), int(until.timestamp()))
        for path, field, extra in _BACKFILL:
            params = [(f"{field}[gte]", window[0]), (f"{field}[lt]", window[1]), *extra]
            for page in api.list_all(path, params):
                for obj in page:
                    event_type = _backfill_event_type(obj)
                    if event_type is None:
                        continue
                    key = f"{obj['id']}:{event_type}:{obj.get('status', '')}"
                    event = {
                        "id": key,
                        "object": "event",
                        "api_version": API_VERSION,
                        "created": obj.get("created"),
                        "data": {"object": obj},
                        "livemode": bool(obj.get("livemode")),
                        "pending_webhooks": 0,
                        "request": None,
                        "type": event_type,
                    }
                    yield PulledRecord(dedupe_key=key, event_type=event_type, payload=event)


_PAYOUT_EVENTS = {"paid": "payout.paid", "failed": "payout.failed", "canceled": "payout.canceled"}


def _backfill_event_type(obj: Mapping[str, Any]) -> str | None:
    """The event a listed object stands for, or None when its state books nothing."""
    kind, status = obj.get("object"), obj.get("status")
    if kind == "charge":
        return "charge.succeeded" if status == "succeeded" and obj.get("captured") else None
    if kind == "refund":
        return "refund.updated" if status == "succeeded" else None
    if kind == "dispute":
        return "charge.dispute.updated"
    if kind == "payout":
        return _PAYOUT_EVENTS.get(str(status))
    return None
