"""The Magento 2 / Adobe Commerce sales source: polling on ``updated_at``, Adobe Commerce
webhooks where the store has them, and the setup wizard's fields and connection test."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from connectors.base import (
    ConnectionCheck,
    ConnectorError,
    MalformedPayload,
    ProgressCallback,
    PulledRecord,
    SalesSource,
    SetupField,
    SourceConfig,
    WebhookEnvelope,
    WebhookReply,
    WebhookRequest,
)
from integrator.canonical import CanonicalDocument

from . import values as v
from .api import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, REQUESTS_PER_SECOND, Filter, MagentoAPI, NotFound
from .auth import ADMIN_TOKEN_LIFETIME_MINUTES, auth_mode
from .creditmemos import parse_creditmemo
from .invoices import parse_invoice
from .lines import OrderContext, order_context
from .orders import amounts_for, parse_order
from .settings import StoreSettings
from .signature import SIGNATURE_HEADER, load_public_keys, verify

__all__ = ["KINDS", "MagentoSource", "record_key"]

#: Our event types, the REST collection each is polled from and the path of one entity.
KINDS: dict[str, tuple[str, str]] = {
    "order": ("orders", "orders"),
    "creditmemo": ("creditmemos", "creditmemo"),
    "invoice": ("invoices", "invoices"),
}
#: Webhook payload keys that hold each kind (observer payloads put them under ``data``).
_PAYLOAD_KEYS = {"order": ("order",), "creditmemo": ("creditmemo", "credit_memo"), "invoice": ("invoice",)}


def _noop_progress(done: int, total: int | None, message: str) -> None:
    return None


def record_key(kind: str, obj: Mapping[str, Any]) -> str:
    """The dedupe key of one version of an object: ``<kind>:<entity_id>:<updated_at>``; every
    poll of the same version shares it, a later version gets a new one."""
    entity = v.entity_id(obj.get("entity_id"), f"{kind} entity_id")
    stamp = v.text(obj.get("updated_at"))
    if not stamp:  # a configured webhook payload without updated_at: the content is the version
        digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
        stamp = f"sha256-{digest}"
    return f"{kind}:{entity}:{stamp}"


def _magento_time(moment: datetime) -> str:
    """A filter value as Magento compares ``updated_at``: UTC, ``YYYY-MM-DD HH:MM:SS``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _find_object(body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The kind and object an Adobe Commerce webhook carries: ``data.<key>`` (default observer
    and plugin payloads) or ``<key>`` at the top (a payload configured with hook fields)."""
    holders = [body.get("data"), body]
    for holder in holders:
        if not isinstance(holder, Mapping):
            continue
        for kind, keys in _PAYLOAD_KEYS.items():
            for key in keys:
                if isinstance(holder.get(key), Mapping):
                    return kind, holder[key]
    return None


class MagentoSource(SalesSource):
    """Magento 2 / Adobe Commerce: orders become sales as the store's workflow says, credit memos
    refunds, invoices of orders sold on credit B2B invoices (see the package docstring)."""

    platform: ClassVar[str] = "magento"
    display_name: ClassVar[str] = "Magento 2 / Adobe Commerce"
    capabilities: ClassVar[frozenset[str]] = frozenset({"webhook", "pull"})
    accepted_content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    #: Core Magento sends no webhooks: the scheduler polls every quarter of an hour.
    scheduled_pull_minutes: ClassVar[int | None] = 15
    #: ``updated_at`` has one-second resolution and the store's clock may differ from ours.
    pull_overlap: ClassVar[timedelta] = timedelta(minutes=10)
    setup_fields: ClassVar[tuple[SetupField, ...]] = (
        SetupField(
            "consumer_key",
            "Integration consumer key",
            "secret",
            "credentials",
            help="System > Integrations > your integration > Integration Details (recommended)",
        ),
        SetupField("consumer_secret", "Integration consumer secret", "secret", "credentials"),
        SetupField(
            "access_token",
            "Integration access token",
            "secret",
            "credentials",
            help="Alone, it works only if the store allows integration tokens as bearer tokens",
        ),
        SetupField("access_token_secret", "Integration access token secret", "secret", "credentials"),
        SetupField(
            "admin_username",
            "Admin user name (instead of an integration)",
            "text",
            "credentials",
            help="An admin user with read access to sales; not possible with two-factor sign-in",
        ),
        SetupField("admin_password", "Admin password", "secret", "credentials"),
        SetupField(
            "webhook_public_key",
            "Adobe Commerce webhook public key (PEM)",
            "text",
            "credentials",
            help="Stores > Configuration > Adobe Services > Webhooks > Digital Signature; "
            "only if the store sends Adobe Commerce webhooks",
        ),
        SetupField(
            "store_code",
            "Store view code for the API",
            "text",
            "settings",
            default="",
            help="Leave empty for the default store view",
        ),
        SetupField(
            "store_ids",
            "Store ids to book (comma separated)",
            "text",
            "settings",
            default="",
            help="Empty books every store; give the ids of one website when its base currency differs",
        ),
        SetupField(
            "prices_include_tax",
            "Catalog prices include tax",
            "bool",
            "settings",
            default=False,
            help="Stores > Configuration > Sales > Tax > Calculation Settings > Catalog Prices",
        ),
        SetupField(
            "sale_statuses",
            "Order statuses that are sales",
            "text",
            "settings",
            default="processing,complete,closed",
        ),
        SetupField(
            "require_invoice",
            "A sale only once the order is fully invoiced",
            "bool",
            "settings",
            default=True,
        ),
        SetupField(
            "void_statuses", "Order statuses that cancel a sale", "text", "settings", default="canceled"
        ),
        SetupField(
            "b2b_payment_methods",
            "Payment methods sold on credit (B2B invoices)",
            "text",
            "settings",
            default="",
            help="e.g. companycredit,purchaseorder; their Magento invoices become invoices",
        ),
        SetupField(
            "payment_terms_days", "Payment terms of B2B invoices (days)", "int", "settings", default=30
        ),
        SetupField(
            "invoice_paid_is_payment",
            "A B2B invoice marked Paid is the payment received",
            "bool",
            "settings",
            default=False,
        ),
        SetupField(
            "payment_method_names",
            "Payment method names (code=name, ...)",
            "text",
            "settings",
            default="",
            help="Overrides the names mapping rules match on, e.g. checkmo=cheque",
        ),
    )

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.store = StoreSettings.from_settings(config.settings)
        self._api: MagentoAPI | None = None

    # -- API -----------------------------------------------------------------------------------

    @property
    def api(self) -> MagentoAPI:
        """The channel's REST client (built on first use)."""
        if self._api is None:
            s = self.config.settings
            self._api = MagentoAPI(
                base_url=self.config.base_url,
                credentials=self.config.credentials,
                connection_key=self.config.channel_slug,
                store_code=str(s.get("store_code") or ""),
                requests_per_second=int(s.get("requests_per_second") or REQUESTS_PER_SECOND),
                admin_token_lifetime_minutes=int(
                    s.get("admin_token_lifetime_minutes") or ADMIN_TOKEN_LIFETIME_MINUTES
                ),
            )
        return self._api

    def _can_call(self) -> bool:
        return bool(self.config.base_url) and auth_mode(self.config.credentials) != "none"

    @property
    def page_size(self) -> int:
        """Records per page (``settings["page_size"]``, at most 500)."""
        size = int(self.config.settings.get("page_size") or DEFAULT_PAGE_SIZE)
        return max(1, min(MAX_PAGE_SIZE, size))

    def _store_filter(self) -> list[Filter]:
        raw = self.config.settings.get("store_ids") or ""
        ids = raw.split(",") if isinstance(raw, str) else [str(x) for x in raw]
        ids = [i.strip() for i in ids if i.strip()]
        return [("store_id", ",".join(ids), "in")] if ids else []

    # -- webhooks ------------------------------------------------------------------------------

    def _public_keys(self) -> list[str]:
        keys = list(self.config.webhook_secrets)
        extra = self.config.credentials.get("webhook_public_key")
        if isinstance(extra, str) and extra.strip():
            keys.append(extra)
        return keys

    def verify_webhook(self, request: WebhookRequest) -> None:
        """The RSA signature Adobe Commerce puts in ``x-adobe-commerce-webhook-signature``."""
        verify(request.header(SIGNATURE_HEADER), request.body, self._public_keys())

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """Adobe Commerce sends no delivery id: the identity is the object's id and ``updated_at``
        plus a digest of the body as sent. A retry of the same save repeats all three, so it is a
        duplicate; the digest keeps a ``save_after`` webhook whose ``updated_at`` Magento has not
        yet refreshed from being taken for the version a poll already stored (it is parsed, and
        the object read again from the API). A webhook and a poll of one version are then two
        inbox rows but still one transaction: both parse to the same ``(kind, external_id)``."""
        try:
            body = json.loads(request.body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload("magento: webhook body is not JSON") from exc
        if not isinstance(body, Mapping):
            raise MalformedPayload("magento: webhook body is not a JSON object")
        found = _find_object(body)
        if found is None:
            raise MalformedPayload("magento: webhook carries no order, credit memo or invoice")
        kind, obj = found
        extra = {"event_name": v.text(body.get("eventName"))[:200]}
        digest = hashlib.sha256(request.body).hexdigest()[:16]
        return WebhookEnvelope(dedupe_key=f"{record_key(kind, obj)}:{digest}", event_type=kind, extra=extra)

    def acknowledge_webhook(self, created: bool) -> WebhookReply:
        """Commerce counts anything but ``200 {"op": "success"}`` as a failed hook (and aborts the
        save when the hook is marked required), so stored and duplicate deliveries both get it."""
        return WebhookReply(status=200, body={"op": "success"})

    # -- parsing -------------------------------------------------------------------------------

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """``order`` -> Sale, ``creditmemo`` -> Refund, ``invoice`` -> B2B Invoice (and Payment).
        A webhook's object is read again from the API when the channel can call it (the REST
        object is the complete, documented one); a pulled record already is that object."""
        payload = v.as_mapping(payload, "payload")
        if event_type not in KINDS:
            return []
        obj, order = self._object(event_type, payload)
        currency = self.config.currency
        if event_type == "order":
            return list(parse_order(obj, self.store, currency))
        ctx = self._order_context(obj, order)
        if event_type == "creditmemo":
            return list(parse_creditmemo(obj, ctx, self.store, currency))
        return parse_invoice(obj, ctx, self.store, currency)

    def _object(
        self, kind: str, payload: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None]:
        """The object to parse and, for memos and invoices, the order if the record embeds it."""
        if "eventName" in payload or isinstance(payload.get("data"), Mapping):
            found = _find_object(payload)
            if found is None or found[0] != kind:
                raise MalformedPayload(f"magento: webhook has no {kind}")
            obj = found[1]
            if self._can_call():
                # Deleted since (404): the webhook's copy is all there is.
                with contextlib.suppress(NotFound):
                    obj = self.api.entity(KINDS[kind][1], v.entity_id(obj.get("entity_id"), f"{kind} id"))
            return obj, None
        if kind != "order" and isinstance(payload.get(kind), Mapping):
            order = payload.get("order")
            return payload[kind], order if isinstance(order, Mapping) else None
        return payload, None

    def _order_context(self, obj: Mapping[str, Any], order: Mapping[str, Any] | None) -> OrderContext | None:
        """The order of a memo or invoice: embedded in a pulled record, else read from the API
        when the channel can call it, else None (the rows then speak for themselves)."""
        order_id = v.entity_id(obj.get("order_id"), "order_id")
        if order is None and self._can_call():
            try:
                order = self.api.entity("orders", order_id)
            except NotFound:
                order = None
        if order is None:
            return None
        return order_context(order, amounts_for(obj, self.config.currency))

    # -- pulling -------------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Orders, credit memos and (for stores selling on credit) invoices updated since
        ``since``, page by page in ``entity_id`` order. Sorting on the id rather than on
        ``updated_at`` keeps the pages stable while the store works: a record saved during the
        pull keeps its place (and its new version is caught by the next pull), where an
        ``updated_at`` sort would move it and shift a neighbour onto a page already read."""
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        report = progress or _noop_progress
        filters: list[Filter] = [("updated_at", _magento_time(since), "gteq"), *self._store_filter()]
        kinds = ["order", "creditmemo"] + (["invoice"] if self.store.b2b_payment_methods else [])
        done = 0
        for kind in kinds:
            collection = KINDS[kind][0]
            base = done
            for items, total in self.api.search(collection, filters, page_size=self.page_size):
                orders = self._orders_of(items) if kind != "order" else {}
                for obj in items:
                    payload: Mapping[str, Any] = obj
                    if kind != "order":
                        payload = {kind: obj, "order": orders.get(v.text(obj.get("order_id")))}
                    yield PulledRecord(dedupe_key=record_key(kind, obj), event_type=kind, payload=payload)
                done += len(items)
                report(done, base + total, f"{collection}: {done - base} of {total}")

    def _orders_of(self, items: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        """The orders of a page of memos or invoices, in one request (``entity_id in (...)``)."""
        ids = sorted({v.text(i.get("order_id")) for i in items if i.get("order_id")})
        if not ids:
            return {}
        found: dict[str, Mapping[str, Any]] = {}
        for page, _total in self.api.search(
            "orders", [("entity_id", ",".join(ids), "in")], page_size=len(ids)
        ):
            found.update({v.text(o.get("entity_id")): o for o in page})
        return found

    # -- setting up ----------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Read the store views (base currency) and count the orders we can see."""
        if not self._can_call():
            return ConnectionCheck(False, "Enter the store URL and an integration's keys (or an admin user).")
        problems = []
        for pem in self._public_keys():
            if not load_public_keys([pem]):
                problems.append("the webhook public key is not a 2048-bit RSA public key in PEM form")
        try:
            stores = self.api.get("store/storeConfigs")
            count = self.api.get("orders", MagentoAPI.criteria([], page_size=1, page=1)).get("total_count")
        except ConnectorError as exc:
            return ConnectionCheck(False, f"Magento answered: {exc.vendor_message or exc.message}")
        stores = [s for s in stores if isinstance(s, Mapping)] if isinstance(stores, list) else []
        wanted = {f[1] for f in self._store_filter()}
        ids = set(",".join(wanted).split(",")) if wanted else None
        booked = [s for s in stores if ids is None or str(s.get("id")) in ids]
        currencies = sorted({str(s.get("base_currency_code")) for s in booked if s.get("base_currency_code")})
        if currencies and currencies != [self.config.currency]:
            problems.append(
                f"the store's base currency is {', '.join(currencies)} but the channel is in {self.config.currency}"
            )
        details = {"store_views": len(stores), "base_currencies": currencies, "orders": count}
        if problems:
            return ConnectionCheck(False, "Connected, but " + "; ".join(problems) + ".", details)
        return ConnectionCheck(
            True,
            f"Connected: {len(stores)} store view(s), base currency {', '.join(currencies) or 'unknown'}, "
            f"{count} order(s) visible.",
            details,
        )
