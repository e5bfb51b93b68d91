"""Lightspeed Retail X-Series (formerly Vend) as a sales source.

What comes in, and what it becomes:

=================================================  =============================================
X-Series                                           canonical document
=================================================  =============================================
``sale.update`` webhook (Vend's                    :class:`Sale`, :class:`Refund` (a return is a
``register_sale.update``), or a sale pulled from   new sale with negative lines and
``GET /api/2.0/sales?after=<version>``             ``return_for``), both for an exchange, a voided
                                                   :class:`Sale` for ``VOIDED``; nothing for open
                                                   sales (:mod:`.sales`)
``register_closure.create`` webhook                :class:`CashCount` of the cash drawer
                                                   (:mod:`.closures`)
=================================================  =============================================

Webhooks are posted form-encoded (``application/x-www-form-urlencoded``) with the object as JSON in
the ``payload`` field, signed in ``X-Signature`` (:mod:`.signature`). The dedupe key is the sale id
and its ``version``; a pulled sale gets the very same key, so a webhook and a back-fill of the same
sale version are one inbox row, and every version of a sale is one transaction.

X-Series says its webhooks "can't be guaranteed" and that polling is the way to stay in sync, so
the source asks for a scheduled completeness pull (:attr:`LightspeedXSource.scheduled_pull_minutes`):
the API 2.0 version cursor from the first sale changed since the last pull.

Channel configuration read here:

* ``credentials["access_token"]`` - personal token or add-on access token (Bearer);
* ``webhook_secrets`` - the add-on's client secret(s), current first;
* ``base_url`` or ``settings["domain_prefix"]`` - the store (``https://<prefix>.retail.lightspeed.app``);
* ``settings["register_count"]`` - registers on the account (sets our pace: 300 per register + 50
  requests per 5 minutes);
* ``settings["prices_include_tax"]`` - ``"auto"`` (the outlet's setting, the default), ``true`` or
  ``false``;
* ``settings["outlets"]``, ``settings["registers"]`` - ``{id: name}`` (or ``{id: {"name": ...,
  "prices_include_tax": ...}}`` for outlets) to name tills in summaries without asking the API;
* ``settings["taxes"]`` - ``{rate id: {"name", "rate"}}``, ``settings["discount_product_id"]``,
  ``settings["payment_methods"]`` - ``{payment type id or name: method}`` overrides.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs
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
)
from connectors.sources.lightspeed_x.api import XSeriesAPI, XSeriesNotFound, base_url_for
from connectors.sources.lightspeed_x.closures import (
    cash_count_from_closure,
    closure_identity,
    payments_summary_totals,
)
from connectors.sources.lightspeed_x.sales import SaleContext, documents_from_sale, normalise, sale_identity
from connectors.sources.lightspeed_x.signature import SIGNATURE_HEADER, verify
from connectors.sources.lightspeed_x.values import as_dict, as_list, number, parse_time, text
from integrator import money
from integrator.canonical import CanonicalDocument

__all__ = ["CLOSURE_EVENTS", "SALE_EVENTS", "LightspeedXSource"]

#: The sale webhook under its API 2.0 name and its older Vend name.
SALE_EVENTS = frozenset({"sale.update", "register_sale.update"})
CLOSURE_EVENTS = frozenset({"register_closure.create"})
#: How long what we read about outlets, registers, taxes and the retailer is reused.
_CATALOGUE_TTL = 600.0
_MAX_FORM_FIELDS = 50


class _Catalogue:
    """Outlets, registers, taxes and retailer settings, read once and shared by every source of
    the same store in this process (a day of webhooks must not re-read the outlet per ticket)."""

    _entries: dict[tuple[str, str], tuple[float, Any]] = {}
    _lock = threading.Lock()

    @classmethod
    def get(cls, store: str, key: str, load: Callable[[], Any]) -> Any:
        """The cached value for (store, key), loaded when missing or stale."""
        now = time.monotonic()
        with cls._lock:
            hit = cls._entries.get((store, key))
            if hit is not None and now - hit[0] < _CATALOGUE_TTL:
                return hit[1]
        value = load()  # network outside the lock
        with cls._lock:
            cls._entries[(store, key)] = (now, value)
        return value

    @classmethod
    def clear(cls) -> None:
        """Forget everything (tests, or after the retailer changed its settings)."""
        with cls._lock:
            cls._entries.clear()


def _form(body: bytes) -> dict[str, str]:
    """The form fields of a webhook body (first value of each)."""
    try:
        text_body = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload("lightspeed_x: webhook body is not UTF-8") from exc
    try:
        fields = parse_qs(
            text_body, keep_blank_values=True, strict_parsing=True, max_num_fields=_MAX_FORM_FIELDS
        )
    except ValueError as exc:
        raise MalformedPayload(f"lightspeed_x: webhook body is not a form: {exc}") from exc
    return {k: v[0] for k, v in fields.items() if v}


def _payload_of(fields: Mapping[str, str]) -> dict[str, Any]:
    raw = fields.get("payload")
    if not raw:
        raise MalformedPayload("lightspeed_x: webhook has no payload field")
    try:
        payload = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise MalformedPayload("lightspeed_x: webhook payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise MalformedPayload("lightspeed_x: webhook payload is not a JSON object")
    return payload


def _event_type(fields: Mapping[str, str], payload: Mapping[str, Any]) -> str:
    """The webhook's type: the form's ``type`` field when sent, else what the payload is."""
    declared = fields.get("type", "").strip()
    if declared:
        return declared
    if any(k in payload for k in ("register_sale_products", "line_items", "invoice_number", "sale_date")):
        return "sale.update"
    if any(k in payload for k in ("register_close_time", "register_closure_sequence_number")):
        return "register_closure.create"
    raise MalformedPayload("lightspeed_x: cannot tell what the webhook is about (no type, unknown payload)")


class LightspeedXSource(SalesSource):
    """X-Series: signed form-encoded webhooks, sales and register closures, version-cursor pull."""

    platform = "lightspeed_x"
    display_name = "Lightspeed X-Series (Vend)"
    capabilities = frozenset({"webhook", "pull"})
    accepted_content_types = frozenset({"application/x-www-form-urlencoded"})
    #: X-Series: "polling APIs is the right way to keep systems in sync".
    scheduled_pull_minutes = 15
    setup_fields = (
        SetupField("domain_prefix", "Store domain prefix", required=True,
                   help="The part before .retail.lightspeed.app in your store's address."),
        SetupField("access_token", "Personal token or add-on access token", kind="secret",
                   store="credentials", required=True,
                   help="Setup > Personal tokens in X-Series, or the token of the add-on's OAuth connection."),
        SetupField("register_count", "Registers on the account", kind="int", default=1,
                   help="Sets our request pace within X-Series' limit of 300 per register + 50 per 5 minutes."),
        SetupField("prices_include_tax", "Prices include tax", kind="choice", default="auto",
                   choices=(("auto", "As each outlet is set up"), ("true", "Yes"), ("false", "No"))),
    )  # fmt: skip

    def __init__(self, config: SourceConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(config)
        self._sleep = sleep
        self._api: XSeriesAPI | None = None

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The store's API base URL."""
        prefix = str(self.config.settings.get("domain_prefix") or "").strip()
        if self.config.base_url:
            return self.config.base_url.rstrip("/")
        if not prefix:
            raise Permanent("lightspeed_x: the channel has neither a base URL nor a domain prefix")
        return base_url_for(prefix)

    @property
    def api(self) -> XSeriesAPI:
        """The channel's authenticated client (built on first use)."""
        if self._api is None:
            token = str(self.config.credentials.get("access_token") or "")
            if not token:
                raise AuthExpired("lightspeed_x: the channel has no access token; connect it again")
            self._api = XSeriesAPI(
                access_token=token,
                base_url=self.base_url,
                connection_key=self.config.channel_slug,
                registers=int(self.config.settings.get("register_count") or 1),
                sleep=self._sleep,
            )
        return self._api

    @property
    def currency(self) -> str:
        """The channel's currency (an X-Series account has one)."""
        try:
            return money.normalize_currency(self.config.currency)
        except money.UnknownCurrency as exc:
            raise MalformedPayload(str(exc)) from exc

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Check ``X-Signature`` over the raw body with every configured client secret."""
        verify(request.header(SIGNATURE_HEADER), request.body, self.config.webhook_secrets)

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """Dedupe on the object's id and version (a retry of one version is a duplicate)."""
        fields = _form(request.body)
        payload = _payload_of(fields)
        event_type = _event_type(fields, payload)
        extra: dict[str, str] = {
            k: fields[k][:100] for k in ("domain_prefix", "environment", "retailer_id") if k in fields
        }
        if event_type in SALE_EVENTS:
            sale_id, revision = sale_identity(payload)
            return WebhookEnvelope(f"sale:{sale_id}:{revision}", event_type, extra)
        if event_type in CLOSURE_EVENTS:
            return WebhookEnvelope(f"register_closure:{closure_identity(payload)}", event_type, extra)
        object_id = text(payload.get("id")) or "unknown"
        return WebhookEnvelope(f"{event_type}:{object_id}:{text(payload.get('version'))}", event_type, extra)

    def decode_payload(self, body: str, headers: Mapping[str, str]) -> Any:
        """A webhook's form body gives its ``payload`` JSON; a pulled record is stored as JSON."""
        if body.lstrip().startswith("{"):
            return json.loads(body, parse_float=Decimal)
        return _payload_of(_form(body.encode("utf-8")))

    # -- parsing -----------------------------------------------------------------------------

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Turn one sale or register closure (webhook or pulled) into canonical documents."""
        if event_type in SALE_EVENTS:
            sale = normalise(as_dict(payload, "sale"))
            return documents_from_sale(sale, self.sale_context(sale))
        if event_type in CLOSURE_EVENTS:
            closure = as_dict(payload, "register closure")
            register = self._register(text(closure.get("register_id")))
            outlet = self._outlet(text(closure.get("outlet_id")) or register.get("outlet_id", ""))
            return list(
                cash_count_from_closure(
                    closure,
                    currency=self.currency,
                    location=outlet.get("name", ""),
                    register=register.get("name", ""),
                    payment_methods=self._payment_methods(),
                )
            )
        return []  # products, customers, inventory, consignments: nothing for the books

    def sale_context(self, sale: Mapping[str, Any]) -> SaleContext:
        """Currency, tax setting, till names and tax names for one sale."""
        forced = self._forced_tax_mode()
        register = self._register(text(sale.get("register_id")))
        outlet_id = text(sale.get("outlet_id")) or register.get("outlet_id", "")
        outlet = self._outlet(outlet_id, need_tax_mode=forced is None)
        rates, groups = self._tax_names(sale)
        discount_product = self._discount_product_id()
        return SaleContext(
            currency=self.currency,
            prices_include_tax=forced if forced is not None else self._outlet_tax_mode(outlet),
            location=outlet.get("name", ""),
            register=register.get("name", ""),
            tax_rates=rates,
            tax_groups=groups,
            payment_methods=self._payment_methods(),
            discount_product_id=discount_product,
            products=self._products(sale, skip=discount_product),
            payment_type_names=self._payment_type_names(sale),
        )

    def _payment_type_names(self, sale: Mapping[str, Any]) -> dict[str, str]:
        """Payment type names by id, read only when a payment arrives without its name."""
        payments = [p for p in as_list(sale.get("payments"), "payments") if isinstance(p, Mapping)]
        if all(p.get("name") for p in payments):
            return {}

        def load() -> dict[str, str]:
            return {
                text(pt.get("id")): text(pt.get("name"))
                for items, _ in self.api.version_pages("payment_types")
                for pt in items
                if isinstance(pt, Mapping)
            }

        return dict(_Catalogue.get(self.base_url, "payment_types", load))

    def _payment_methods(self) -> Mapping[str, Any]:
        value = self.config.settings.get("payment_methods") or {}
        return value if isinstance(value, Mapping) else {}

    def _forced_tax_mode(self) -> bool | None:
        """The channel's own answer to "do prices include tax?", or None to ask the outlet."""
        forced = self.config.settings.get("prices_include_tax", "auto")
        if isinstance(forced, bool):
            return forced
        if str(forced).lower() in ("true", "false"):
            return str(forced).lower() == "true"
        return None

    def _outlet_tax_mode(self, outlet: Mapping[str, Any]) -> bool:
        """The outlet's display setting, else the retailer's (``tax_exclusive``)."""
        if isinstance(outlet.get("prices_include_tax"), bool):
            return bool(outlet["prices_include_tax"])
        return not bool(self._retailer().get("tax_exclusive", False))

    def _outlet(self, outlet_id: str, *, need_tax_mode: bool = False) -> dict[str, Any]:
        """{"name", "prices_include_tax"?} of an outlet: settings first, then the API."""
        if not outlet_id:
            return {}
        known = (self.config.settings.get("outlets") or {}).get(outlet_id)
        if isinstance(known, str):
            known = {"name": known}
        if (
            isinstance(known, Mapping)
            and "name" in known
            and (not need_tax_mode or "prices_include_tax" in known)
        ):
            return dict(known)

        def load() -> dict[str, Any]:
            try:
                data = as_dict(self.api.get(f"outlets/{outlet_id}").get("data"), "outlet")
            except XSeriesNotFound:
                return {"name": outlet_id}
            out: dict[str, Any] = {"name": text(data.get("name")) or outlet_id}
            display = text(data.get("display_prices")).lower()
            if display in ("inclusive", "exclusive", "tax_inclusive", "tax_exclusive"):
                out["prices_include_tax"] = "inclusive" in display
            return out

        fetched = dict(_Catalogue.get(self.base_url, f"outlet:{outlet_id}", load))
        if isinstance(known, Mapping):
            fetched.update(known)
        return fetched

    def _register(self, register_id: str) -> dict[str, str]:
        """{"name", "outlet_id"} of a register: its name from settings, else from the API (which
        also says its outlet: a 0.9 sale names only its register)."""
        if not register_id:
            return {}
        known = (self.config.settings.get("registers") or {}).get(register_id)
        if isinstance(known, str):
            known = {"name": known}
        if isinstance(known, Mapping) and known.get("name") and known.get("outlet_id"):
            return {"name": str(known["name"]), "outlet_id": str(known["outlet_id"])}

        def load() -> dict[str, str]:
            try:
                data = as_dict(self.api.get(f"registers/{register_id}").get("data"), "register")
            except XSeriesNotFound:
                return {"name": register_id, "outlet_id": ""}
            return {"name": text(data.get("name")) or register_id, "outlet_id": text(data.get("outlet_id"))}

        if isinstance(known, Mapping) and known.get("name"):
            # Named in the settings: the API is asked only for its outlet, and only when needed.
            return {"name": str(known["name"]), "outlet_id": str(known.get("outlet_id") or "")}
        return dict(_Catalogue.get(self.base_url, f"register:{register_id}", load))

    def _products(self, sale: Mapping[str, Any], *, skip: str) -> dict[str, tuple[str, str, str]]:
        """product id -> (sku, name, category) for the lines that name no product themselves
        (API 2.0 lines carry only ``product_id``; revenue is mapped by SKU or category)."""
        out: dict[str, tuple[str, str, str]] = {}
        for item in as_list(sale.get("line_items"), "line_items"):
            if not isinstance(item, Mapping) or item.get("sku") or item.get("name"):
                continue
            product_id = text(item.get("product_id"))
            if not product_id or product_id == skip or product_id in out:
                continue

            def load(product_id: str = product_id) -> tuple[str, str, str]:
                try:
                    data = as_dict(self.api.get(f"products/{product_id}").get("data"), "product")
                except XSeriesNotFound:
                    return ("", "", "")
                kind = data.get("type")
                kind = kind if isinstance(kind, Mapping) else {}
                return (
                    text(data.get("sku")),
                    text(data.get("variant_name") or data.get("name")),
                    text(kind.get("name")),
                )

            sku, name, category = _Catalogue.get(self.base_url, f"product:{product_id}", load)
            out[product_id] = (str(sku), str(name), str(category))
        return out

    def _retailer(self) -> Mapping[str, Any]:
        return _Catalogue.get(
            self.base_url, "retailer", lambda: dict(as_dict(self.api.get("retailer").get("data"), "retailer"))
        )

    def _discount_product_id(self) -> str:
        configured = self.config.settings.get("discount_product_id")
        if configured is not None:
            return str(configured)
        return text(self._retailer().get("discount_product_id"))

    def _tax_names(self, sale: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Rate id -> (title, rate) and tax (group) id -> (title, combined rate)."""
        rates: dict[str, Any] = {}
        for rate_id, entry in (self.config.settings.get("taxes") or {}).items():
            rates[str(rate_id)] = (str(entry["name"]), Decimal(str(entry["rate"])))
        for t in as_list(sale.get("taxes"), "taxes"):
            t = as_dict(t, "sale tax")
            if t.get("id") and t.get("name") and t.get("rate") is not None:
                rates.setdefault(text(t["id"]), (text(t["name"]), number(t["rate"], "tax rate")))
        needed = {
            text(c.get("rate_id"))
            for item in as_list(sale.get("line_items"), "line_items")
            if isinstance(item, Mapping)
            for c in as_list(item.get("tax_components"), "tax_components")
            if isinstance(c, Mapping)
        }
        groups: dict[str, Any] = {}
        if needed - set(rates) or any(
            isinstance(i, Mapping) and i.get("tax_id") and not i.get("tax_components")
            for i in as_list(sale.get("line_items"), "line_items")
        ):
            fetched_rates, groups = _Catalogue.get(self.base_url, "taxes", self._load_taxes)
            for k, v in fetched_rates.items():
                rates.setdefault(k, v)
        return rates, groups

    def _load_taxes(self) -> tuple[dict[str, Any], dict[str, Any]]:
        rates: dict[str, Any] = {}
        groups: dict[str, Any] = {}
        for items, _ in self.api.version_pages("taxes"):
            for tax in items:
                tax = as_dict(tax, "tax")
                parts = []
                for r in as_list(tax.get("rates"), "tax rates"):
                    r = as_dict(r, "tax rate")
                    title = text(r.get("display_name") or r.get("name"))
                    rate = number(r.get("rate", 0), "tax rate")
                    rates[text(r.get("id"))] = (title, rate)
                    parts.append(rate)
                groups[text(tax.get("id"))] = (
                    text(tax.get("display_name") or tax.get("name")),
                    sum(parts, Decimal(0)),
                )
        return rates, groups

    # -- back-fill ---------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Every sale changed since ``since``: the version cursor from the first such sale on.

        X-Series cannot filter sales by date, only by version, so we first find the version to
        start after (a few one-sale probes, see :meth:`_start_after`); from there every page is
        read in version order until an empty page. A naive ``since`` is read in the channel's
        time zone.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=ZoneInfo(self.config.timezone or "UTC"))
        after = self._start_after(since)
        done = 0
        for items, top in self.api.version_pages("sales", after=after):
            for sale in items:
                sale = as_dict(sale, "sale")
                sale_id, revision = sale_identity(sale)
                yield PulledRecord(
                    dedupe_key=f"sale:{sale_id}:{revision}", event_type="sale.update", payload=sale
                )
            done += len(items)
            if progress is not None:
                progress(done, None, f"lightspeed_x: {done} sales read (up to version {top})")

    def _probe(self, after: int) -> tuple[int, datetime] | None:
        """The first sale after a version: (its version, its update time), or None."""
        page = self.api.get("sales", {"after": after, "page_size": 1})
        items = page.get("data") or []
        if not items:
            return None
        sale = as_dict(items[0], "sale")
        stamp = sale.get("updated_at") or sale.get("created_at") or sale.get("sale_date")
        return int(sale["version"]), parse_time(stamp, "updated_at")

    def _start_after(self, since: datetime) -> int:
        """The version to start after: that of the last sale changed before ``since``.

        Versions grow with every change, so "changed before ``since``" is true for a prefix of the
        versions. We gallop from the first sale (1, 2, 4, ... versions ahead) until a probe lands on
        a sale changed at or after ``since`` (or on nothing), then bisect: about two probes per
        doubling of the distance, instead of reading every sale ever made.
        """
        first = self._probe(0)
        if first is None or first[1] >= since:
            return 0
        low = first[0]  # the first sale after ``low - 1`` is old: ``low`` is a safe start
        step = 1
        while True:
            found = self._probe(low + step - 1)
            if found is None or found[1] >= since:
                high = low + step - 1  # the first sale after ``high`` is new (or absent)
                break
            low = found[0]
            step *= 2
        # Invariant: probing after ``low - 1`` finds an old sale, after ``high`` a new one or none.
        while high - low > 0:
            middle = (low + high) // 2
            found = self._probe(middle)
            if found is None or found[1] >= since:
                high = middle
            else:
                low = max(found[0], middle + 1)
        return high

    # -- setting up and checking -------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Read the retailer and its registers with the stored token; say what came back."""
        try:
            retailer = as_dict(self.api.get("retailer").get("data"), "retailer")
            registers = [r for items, _ in self.api.version_pages("registers") for r in items]
        except ConnectorError as exc:
            return ConnectionCheck(False, f"X-Series refused: {exc.vendor_message or exc.message}")
        except MalformedPayload as exc:
            return ConnectionCheck(False, f"X-Series answered something unexpected: {exc}")
        currency = text((retailer.get("currency") or {}).get("code")).upper()
        details = {
            "retailer": text(retailer.get("name")),
            "currency": currency,
            "registers": len(registers),
            "prices_include_tax": not bool(retailer.get("tax_exclusive", False)),
            "register_names": {
                text(r.get("id")): text(r.get("name")) for r in registers if isinstance(r, Mapping)
            },
        }
        if currency and currency != self.config.currency.upper():
            return ConnectionCheck(
                False,
                f"Connected to {details['retailer']}, but the store works in {currency} and this "
                f"channel in {self.config.currency}: change the channel's currency.",
                details,
            )
        return ConnectionCheck(
            True,
            f"Connected to {details['retailer']} ({currency or self.config.currency}), "
            f"{len(registers)} register(s); prices {'include' if details['prices_include_tax'] else 'exclude'} tax.",
            details,
        )

    def payments_summary(self, register_id: str) -> dict[str, Decimal]:
        """The register's own totals per method for its current or last session (its Z report)."""
        summary = self.api.get(f"registers/{register_id}/payments_summary")
        return payments_summary_totals(summary, self.currency, self._payment_methods())
