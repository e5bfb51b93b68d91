"""Square (point of sale and online payments) as a sales source.

What comes in, and what it becomes:

===========================================  ===================================================
Square event                                 canonical document
===========================================  ===================================================
``payment.created`` / ``payment.updated``    :class:`Payment` once ``COMPLETED`` (fee = the sum
                                             of ``processing_fee``; fees often arrive in a later
                                             ``payment.updated``, which revises the same payment)
``order.created`` / ``order.updated``        :class:`Sale` once the order is ``COMPLETED``. The
                                             webhook only carries the order id and version, so the
                                             order is fetched with ``GET /v2/orders/{id}``.
``refund.created`` / ``refund.updated``      :class:`Refund` once ``COMPLETED``, linked to the sale
                                             through the refunded payment's ``order_id`` and
                                             itemised from the return order when it can be.
``payout.sent`` / ``.paid`` / ``.failed``    :class:`Payout` with its entries from
                                             ``GET /v2/payouts/{id}/payout-entries``.
===========================================  ===================================================

Channel configuration read here:

* ``credentials["access_token"]`` - OAuth or personal access token (Bearer);
* ``webhook_secrets`` - the subscription's signature key(s), current first;
* ``settings["notification_url"]`` - the URL registered with Square, byte for byte (Square signs
  it; behind a proxy it differs from the URL our server sees);
* ``settings["location_ids"]`` - the locations a back-fill searches (Square requires them);
* ``settings["stock_locations"]`` - ``{Square location id: our location name}`` whose inventory
  counts the daily stock-level pull reads (:meth:`SquareSource.fetch_inventory_levels`);
* ``settings["square_version"]``, ``settings["environment"]`` (``"sandbox"``),
  ``settings["pull_lookback_days"]``, ``settings["requests_per_second"]`` (our own pace; Square
  publishes no quota and answers 429 when it wants us slower) - optional.

A pulled record is shaped like the webhook for the same object and parses to the same
``(kind, external_id)``, so a back-filled order and its webhook end in one transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

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
    SourceConfig,
    WebhookEnvelope,
    WebhookRequest,
    connection_failed,
)
from connectors.http import RateLimit
from connectors.sources.square.amounts import as_dict
from connectors.sources.square.api import (
    DEFAULT_BASE_URL,
    RATE_LIMIT,
    SANDBOX_BASE_URL,
    SQUARE_VERSION,
    SquareAPI,
    SquareNotFound,
)
from connectors.sources.square.documents import payment_document, payout_document, refund_document
from connectors.sources.square.orders import sale_from_order
from connectors.sources.square.signature import SIGNATURE_HEADER, verify
from integrator.canonical import CanonicalDocument

__all__ = ["SquareSource"]

ORDER_EVENTS = frozenset({"order.created", "order.updated"})
PAYMENT_EVENTS = frozenset({"payment.created", "payment.updated"})
REFUND_EVENTS = frozenset({"refund.created", "refund.updated"})
PAYOUT_EVENTS = frozenset({"payout.sent", "payout.paid", "payout.failed"})

#: Square's limits: SearchOrders takes at most 10 locations and 1000 orders a page; the list
#: endpoints (payments, refunds, payouts, payout entries) at most 100 a page.
SEARCH_LOCATIONS_MAX = 10
SEARCH_PAGE_LIMIT = 1000
LIST_PAGE_LIMIT = 100
#: Refunds, payments and payouts are filtered by creation time (payouts only by that); one created
#: shortly before ``since`` may have completed after it, so their window starts this much earlier.
DEFAULT_LOOKBACK_DAYS = 30
#: BatchRetrieveInventoryCounts takes at most 1000 counts a page; catalogue ids are asked for in
#: batches of this many (BatchRetrieveCatalogObjects).
INVENTORY_PAGE_LIMIT = 1000
CATALOG_BATCH = 100

log = logging.getLogger(__name__)


class SquareSource(SalesSource):
    """Square: signed webhooks, order fetch, back-fill by SearchOrders, refunds, payouts."""

    platform = "square"
    display_name = "Square"
    capabilities = frozenset({"webhook", "pull", "payouts"})
    setup_fields = (
        SetupField("access_token", "Access token", kind="secret", store="credentials", required=True,
                   help="Developer Dashboard > your application > Credentials (or the OAuth token of the "
                   "seller's account). It needs ORDERS_READ, PAYMENTS_READ and PAYOUTS_READ; "
                   "INVENTORY_READ and ITEMS_READ to read stock levels."),
        SetupField("webhook_secret", "Webhook signature key", kind="secret", required=True,
                   help="Developer Dashboard > Webhooks > your subscription > Signature key."),
        SetupField("environment", "Square environment", kind="choice", default="production",
                   choices=(("production", "Production"), ("sandbox", "Square sandbox"))),
        SetupField("base_url", "API address", kind="url",
                   help="Leave empty to use Square's own address for the environment chosen."),
        SetupField("location_ids", "Location ids",
                   help="Comma-separated ids of the locations to back-fill; Test connection lists them."),
        SetupField("notification_url", "Notification URL registered in Square", kind="url",
                   help="Only if it differs from the webhook URL shown here (behind a proxy): Square "
                   "signs the URL byte for byte."),
    )  # fmt: skip

    def __init__(self, config: SourceConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config)
        self._sleep = sleep
        self._api: SquareAPI | None = None
        #: Catalogue object ids the last :meth:`fetch_inventory_levels` left out, with the reason.
        self.skipped_levels: dict[str, str] = {}

    @property
    def api(self) -> SquareAPI:
        """The channel's authenticated client (built on first use)."""
        if self._api is None:
            token = str(self.config.credentials.get("access_token") or "")
            if not token:
                raise AuthExpired("square: the channel has no access token; connect it to Square again")
            settings = self.config.settings
            default = SANDBOX_BASE_URL if settings.get("environment") == "sandbox" else DEFAULT_BASE_URL
            self._api = SquareAPI(
                access_token=token,
                base_url=self.config.base_url or default,
                connection_key=self.config.channel_slug,
                square_version=str(settings.get("square_version") or SQUARE_VERSION),
                rate_limit=RateLimit(per_second=int(settings["requests_per_second"]))
                if settings.get("requests_per_second")
                else RATE_LIMIT,
                sleep=self._sleep,
            )
        return self._api

    # -- setting up --------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """``GET /v2/locations``: the seller's locations, with their ids, currencies and time zones."""
        try:
            answer = self.api.get("/v2/locations")
        except ConnectorError as exc:
            return connection_failed(self.display_name, exc)
        locations = [loc for loc in answer.get("locations") or [] if isinstance(loc, Mapping)]
        active = [loc for loc in locations if loc.get("status", "ACTIVE") == "ACTIVE"]
        if not active:
            return ConnectionCheck(False, "Square answered, but the account has no active location.")
        found = [{"id": str(loc.get("id") or ""), "name": str(loc.get("name") or ""),
                  "currency": str(loc.get("currency") or ""), "timezone": str(loc.get("timezone") or "")}
                 for loc in active]  # fmt: skip
        names = ", ".join(f"{loc['name']} ({loc['id']})" for loc in found)
        message = f"Connected: {len(found)} active location{'s' if len(found) != 1 else ''}: {names}."
        other = sorted({loc["currency"] for loc in found if loc["currency"] != self.config.currency})
        if other:
            message += f" Some sell in {', '.join(other)}; this channel books in {self.config.currency}."
        if not self.config.settings.get("location_ids"):
            message += " Enter the location ids to back-fill."
        return ConnectionCheck(True, message, {"locations": found})

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Check ``x-square-hmacsha256-signature`` over the registered URL and the raw body."""
        url = str(self.config.settings.get("notification_url") or request.url)
        verify(request.header(SIGNATURE_HEADER), url, request.body, self.config.webhook_secrets)

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """Dedupe on Square's ``event_id`` (the same on every retry of one event)."""
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload("square: webhook body is not JSON") from exc
        if not isinstance(body, dict):
            raise MalformedPayload("square: webhook body is not a JSON object")
        event_id, event_type = body.get("event_id"), body.get("type")
        if not isinstance(event_id, str) or not event_id:
            raise MalformedPayload("square: webhook has no event_id")
        if not isinstance(event_type, str) or not event_type:
            raise MalformedPayload("square: webhook has no type")
        data = body.get("data")
        if not isinstance(data, dict):
            data = {}
        extra = {
            "merchant_id": str(body.get("merchant_id") or ""),
            "object_type": str(data.get("type") or ""),
            "object_id": str(data.get("id") or ""),
        }
        return WebhookEnvelope(dedupe_key=event_id, event_type=event_type, extra=extra)

    # -- parsing -----------------------------------------------------------------------------

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Turn one Square event (webhook or pulled record) into canonical documents."""
        data = as_dict(as_dict(payload, "event").get("data"), f"{event_type} data")
        obj = as_dict(data.get("object"), f"{event_type} data.object")
        docs: list[CanonicalDocument | None]
        if event_type in PAYMENT_EVENTS:
            docs = [payment_document(as_dict(obj.get("payment"), "payment"))]
        elif event_type in ORDER_EVENTS:
            docs = [self._sale(obj, data)]
        elif event_type in REFUND_EVENTS:
            docs = [self._refund(as_dict(obj.get("refund"), "refund"))]
        elif event_type in PAYOUT_EVENTS:
            payout = as_dict(obj.get("payout"), "payout")
            docs = [payout_document(payout, self._payout_entries(str(payout.get("id") or "")))]
        else:
            docs = []  # inventory, customers, catalogue ...: nothing for the books
        return [d for d in docs if d is not None]

    def _sale(self, obj: Mapping[str, Any], data: Mapping[str, Any]) -> CanonicalDocument | None:
        if isinstance(obj.get("order"), Mapping):
            order = obj["order"]  # a pulled record already holds the whole order
        else:
            note = as_dict(obj.get("order_updated") or obj.get("order_created"), "order notification")
            if note.get("state") not in (None, "COMPLETED"):
                return None  # an open or canceled order: nothing to fetch, nothing to book
            order_id = str(note.get("order_id") or data.get("id") or "")
            if not order_id:
                raise MalformedPayload("square: order notification has no order_id")
            order = as_dict(self.api.get(f"/v2/orders/{quote(order_id, safe='')}").get("order"), "order")
        return sale_from_order(order)

    def _refund(self, refund: Mapping[str, Any]) -> CanonicalDocument | None:
        if refund.get("status") != "COMPLETED":
            return None
        payment = self._optional("/v2/payments/{}", refund.get("payment_id"), "payment")
        sale_order = str((payment or {}).get("order_id") or "")
        refund_order_id = str(refund.get("order_id") or "")
        return_order = None
        if refund_order_id and refund_order_id != sale_order:
            return_order = self._optional("/v2/orders/{}", refund_order_id, "order")
        return refund_document(refund, payment, return_order)

    def _optional(self, template: str, object_id: Any, key: str) -> Mapping[str, Any] | None:
        """Fetch one object, or ``None`` if there is no id or Square no longer has it."""
        if not object_id:
            return None
        try:
            found = self.api.get(template.format(quote(str(object_id), safe="")))
        except SquareNotFound:
            return None
        value = found.get(key)
        return value if isinstance(value, Mapping) else None

    def _payout_entries(self, payout_id: str) -> list[Any]:
        if not payout_id:
            raise MalformedPayload("square: payout has no id")
        path = f"/v2/payouts/{quote(payout_id, safe='')}/payout-entries"
        entries: list[Any] = []
        for page in self.api.list_pages(path, "payout_entries", {"limit": LIST_PAGE_LIMIT}):
            entries.extend(page)
        return entries

    # -- stock levels --------------------------------------------------------------------------

    def fetch_inventory_levels(self, location_id: str) -> dict[str, Decimal]:
        """What Square holds at a location, per SKU: the ``IN_STOCK`` counts of
        ``POST /v2/inventory/counts/batch-retrieve`` (cursor pages, one query), their item
        variations' ``item_variation_data.sku`` from ``POST /v2/catalog/batch-retrieve``. A count
        whose object is gone, is not a variation or has no SKU is left out, its reason kept in
        :attr:`skipped_levels`."""
        limit = int(self.config.settings.get("inventory_page_size") or INVENTORY_PAGE_LIMIT)
        query = {"location_ids": [location_id], "states": ["IN_STOCK"], "limit": limit}
        in_stock: dict[str, Decimal] = {}
        for page in self.api.search_pages("/v2/inventory/counts/batch-retrieve", "counts", query):
            for count in page:
                count = as_dict(count, "inventory count")
                object_id = str(count.get("catalog_object_id") or "")
                if (
                    not object_id
                    or count.get("location_id") != location_id
                    or count.get("state") != "IN_STOCK"
                ):
                    continue
                try:
                    quantity = Decimal(str(count.get("quantity") or "0"))
                except InvalidOperation as exc:
                    raise MalformedPayload(
                        f"square: count of {object_id} has quantity {count.get('quantity')!r}"
                    ) from exc
                in_stock[object_id] = in_stock.get(object_id, Decimal(0)) + quantity
        skus, self.skipped_levels = self._variation_skus(sorted(in_stock))
        levels: dict[str, Decimal] = {}
        for object_id, quantity in in_stock.items():
            sku = skus.get(object_id)
            if sku:
                levels[sku] = levels.get(sku, Decimal(0)) + quantity
        for object_id, reason in self.skipped_levels.items():
            log.info("square: stock of %s at %s left out: %s", object_id, location_id, reason)
        return levels

    def _variation_skus(self, object_ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """``({variation id: SKU}, {object id: why it has none})`` from the catalogue."""
        skus: dict[str, str] = {}
        skipped: dict[str, str] = {}
        for start in range(0, len(object_ids), CATALOG_BATCH):
            batch = object_ids[start : start + CATALOG_BATCH]
            answer = self.api.search("/v2/catalog/batch-retrieve", {"object_ids": batch})
            found = {}
            for obj in answer.get("objects") or []:
                obj = as_dict(obj, "catalog object")
                found[str(obj.get("id") or "")] = obj
            for object_id in batch:
                obj = found.get(object_id)
                if obj is None:
                    skipped[object_id] = "not in the Square catalogue (deleted?)"
                elif obj.get("type") != "ITEM_VARIATION":
                    skipped[object_id] = (
                        f"a catalogue object of type {obj.get('type')}, not an item variation"
                    )
                else:
                    sku = str(
                        as_dict(obj.get("item_variation_data") or {}, "item_variation_data").get("sku") or ""
                    )
                    if sku.strip():
                        skus[object_id] = sku.strip()
                    else:
                        skipped[object_id] = "the item variation has no SKU in Square"
        return skus, skipped

    # -- back-fill ---------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Orders completed and changed since ``since``, then each location's refunds, payments
        and payouts. A naive ``since`` is read in the channel's timezone."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=ZoneInfo(self.config.timezone or "UTC"))
        locations = self._locations()
        days = int(self.config.settings.get("pull_lookback_days", DEFAULT_LOOKBACK_DAYS))
        window = _Window(since, _rfc3339(since), _rfc3339(since - timedelta(days=days)))
        counter = _Progress(progress)
        for i in range(0, len(locations), SEARCH_LOCATIONS_MAX):
            yield from self._pull_orders(locations[i : i + SEARCH_LOCATIONS_MAX], window, counter)
        for location in locations:
            yield from self._pull_refunds(location, window, counter)
            yield from self._pull_payments(location, window, counter)
            yield from self._pull_payouts(location, window, counter)

    def _pull_orders(
        self, locations: list[str], window: _Window, counter: _Progress
    ) -> Iterator[PulledRecord]:
        query = {
            "location_ids": locations,
            "limit": SEARCH_PAGE_LIMIT,
            "query": {
                "filter": {
                    "state_filter": {"states": ["COMPLETED"]},
                    "date_time_filter": {"updated_at": {"start_at": window.start}},
                },
                # Square requires the sort field to be the one the time filter uses.
                "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
            },
        }
        for page in self.api.search_pages("/v2/orders/search", "orders", query):
            for order in page:
                yield _record("order", order, "order.updated", _order_version(order))
            counter.add(len(page), "orders")

    def _pull_refunds(self, location: str, window: _Window, counter: _Progress) -> Iterator[PulledRecord]:
        params = {
            "location_id": location,
            "status": "COMPLETED",
            "begin_time": window.lookback,
            "updated_at_begin_time": window.start,
            "sort_field": "UPDATED_AT",
            "sort_order": "ASC",
            "limit": LIST_PAGE_LIMIT,
        }
        for page in self.api.list_pages("/v2/refunds", "refunds", params):
            for refund in page:
                revision = f"{refund.get('status')}:{refund.get('updated_at')}"
                yield _record("refund", refund, "refund.updated", revision)
            counter.add(len(page), "refunds")

    def _pull_payments(self, location: str, window: _Window, counter: _Progress) -> Iterator[PulledRecord]:
        params = {
            "location_id": location,
            "begin_time": window.lookback,
            "updated_at_begin_time": window.start,
            "sort_field": "UPDATED_AT",
            "sort_order": "ASC",
            "limit": LIST_PAGE_LIMIT,
        }
        for page in self.api.list_pages("/v2/payments", "payments", params):
            # ListPayments has no status filter; only completed payments make a document.
            completed = [p for p in page if isinstance(p, Mapping) and p.get("status") == "COMPLETED"]
            for payment in completed:
                yield _record("payment", payment, "payment.updated", str(payment.get("updated_at")))
            counter.add(len(completed), "payments")

    def _pull_payouts(self, location: str, window: _Window, counter: _Progress) -> Iterator[PulledRecord]:
        params = {
            "location_id": location,
            "begin_time": window.lookback,
            "sort_order": "ASC",
            "limit": LIST_PAGE_LIMIT,
        }
        for page in self.api.list_pages("/v2/payouts", "payouts", params):
            # Payouts can only be filtered by creation; keep those that changed since ``since``.
            changed = [p for p in page if isinstance(p, Mapping) and _changed_since(p, window.since)]
            for payout in changed:
                status = str(payout.get("status") or "SENT")
                event = f"payout.{status.lower()}" if status in ("SENT", "PAID", "FAILED") else "payout.sent"
                revision = f"{status}:{payout.get('version') or payout.get('updated_at')}"
                yield _record("payout", payout, event, revision)
            counter.add(len(changed), "payouts")

    def _locations(self) -> list[str]:
        raw = self.config.settings.get("location_ids") or []
        if isinstance(raw, str):  # as typed in the setup form: comma-separated
            raw = raw.split(",")
        locations = [str(x).strip() for x in raw if str(x).strip()]
        if not locations:
            raise Permanent("square: settings.location_ids is empty; Square searches orders per location")
        return locations


@dataclass(frozen=True)
class _Window:
    """The back-fill window: changed since ``start``; created since ``lookback`` (see the constant)."""

    since: datetime
    start: str
    lookback: str


class _Progress:
    """Counts pulled records and reports them (the total is unknown until the last page)."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.done = 0

    def add(self, count: int, what: str) -> None:
        self.done += count
        if self.callback is not None:
            self.callback(self.done, None, f"square: {self.done} records pulled ({what})")


def _record(kind: str, obj: Any, event_type: str, revision: str) -> PulledRecord:
    """A pulled object wrapped like Square's webhook for it (``data.object.<kind>``)."""
    obj = as_dict(obj, kind)
    object_id = str(obj.get("id") or "")
    if not object_id:
        raise MalformedPayload(f"square: a pulled {kind} has no id")
    key = f"pull:{kind}:{object_id}:{revision}"
    payload = {
        "type": event_type,
        "event_id": key,
        "created_at": obj.get("updated_at") or obj.get("created_at"),
        "data": {"type": kind, "id": object_id, "object": {kind: obj}},
    }
    return PulledRecord(dedupe_key=key, event_type=event_type, payload=payload)


def _order_version(order: Mapping[str, Any]) -> str:
    # Orders made on the Point of Sale have no version; their update time identifies the revision.
    version = order.get("version")
    return f"v{version}" if version is not None else str(order.get("updated_at") or "")


def _changed_since(obj: Mapping[str, Any], since: datetime) -> bool:
    stamp = obj.get("updated_at") or obj.get("created_at")
    if not isinstance(stamp, str):
        return True
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= since
    except ValueError:
        return True


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
