"""The PayPal sales source: verified webhooks, event parsing, Transaction Search back-fill."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    SignatureInvalid,
    SourceConfig,
    WebhookEnvelope,
    WebhookRequest,
)
from integrator.canonical import CanonicalDocument, Payment

from . import signature
from .api import DEFAULT_BASE_URL, SANDBOX_BASE_URL, PayPalAPI
from .context import GATEWAY, METHOD, Context
from .disputes import dispute_from_object, needs_details
from .invoices import documents_from_invoice
from .orders import documents_from_order
from .payments import (
    CaptureLink,
    capture_link,
    order_id_of,
    payment_from_capture,
    payment_from_v1_sale,
    refund_from_object,
    refund_from_v1,
    reversal_dispute,
    reversal_dispute_v1,
)
from .reporting import REPORTING_LAG, ReportedTransaction, list_transactions, payout_from_transfer, windows
from .values import as_list, as_mapping, link, parse_time, sub, text

__all__ = ["HANDLED_EVENT_TYPES", "REPORTED_EVENT", "PayPalSource"]

#: The event type of records the back-fill reads from Transaction Search (never sent by PayPal).
REPORTED_EVENT = "REPORTING.TRANSACTION"
#: How far back Transaction Search goes.
REPORTING_HISTORY = timedelta(days=3 * 365)

Parser = Callable[[Mapping[str, Any], Context], list[CanonicalDocument]]


def _one(fn: Callable[[Any, Context], CanonicalDocument | None]) -> Parser:
    """Adapt a parser of one object that may book nothing (None) to the list-returning shape."""

    def parse(resource: Mapping[str, Any], ctx: Context) -> list[CanonicalDocument]:
        doc = fn(resource, ctx)
        return [doc] if doc is not None else []

    return parse


def _capture_documents(capture_obj: Mapping[str, Any], ctx: Context) -> list[CanonicalDocument]:
    """``PAYMENT.CAPTURE.COMPLETED``: with credentials, the order is read and booked as the sale
    (the capture its tender); otherwise the capture alone, linked as :func:`capture_link` decides."""
    capture = as_mapping(capture_obj, "capture")
    order_id = order_id_of(capture)
    invoice_capture = text(capture.get("invoice_id")).startswith("INV2-")
    if ctx.books_sales and order_id and ctx.api is not None and not invoice_capture:
        order = ctx.api.get(f"/v2/checkout/orders/{order_id}")
        docs = documents_from_order(order, ctx)
        if any(d.kind == "payment" and d.external_id == capture.get("id") for d in docs):
            return docs
        # The order does not list this capture yet: book what the capture itself says.
        link_to: CaptureLink = capture_link(capture, ctx)
        payment = payment_from_capture(capture, ctx, link_to)
        return [*docs, payment] if payment is not None else docs
    payment = payment_from_capture(capture, ctx, capture_link(capture, ctx))
    return [payment] if payment is not None else []


def _dispute_documents(resource: Mapping[str, Any], ctx: Context) -> list[CanonicalDocument]:
    """A dispute event; a summary (list entry, slim webhook) is completed from the API."""
    dispute = as_mapping(resource, "dispute")
    if needs_details(dispute) and ctx.api is not None and dispute.get("dispute_id"):
        dispute = ctx.api.get(f"/v1/customer/disputes/{dispute['dispute_id']}")
    doc = dispute_from_object(dispute, ctx)
    return [doc] if doc is not None else []


def _reported_documents(resource: Mapping[str, Any], ctx: Context) -> list[CanonicalDocument]:
    """A Transaction Search record (back-fill): fetch the object it stands for and parse it as its
    webhook would be parsed."""
    txn = ReportedTransaction.read(resource)
    if ctx.api is None:
        raise Permanent("paypal: reading a reported transaction needs the channel's client credentials")
    if txn.code.startswith("T04"):
        return [payout_from_transfer(resource, ctx.api, ctx.settings)]
    if txn.code == "T1107":
        return _one(refund_from_object)(ctx.api.get(f"/v2/payments/refunds/{txn.transaction_id}"), ctx)
    if txn.code == "T1106":
        return _one(reversal_dispute)(
            {
                "id": txn.transaction_id,
                "status": "COMPLETED",
                "amount": {"currency_code": txn.currency, "value": str(abs(txn.amount))},
                "create_time": resource["transaction_info"]["transaction_initiation_date"],
                "links": [{"rel": "up", "href": f"/v2/payments/captures/{txn.reference_id}"}],
            },
            ctx,
        )
    if txn.code.startswith("T00") and txn.amount > 0:
        try:
            capture = ctx.api.get(f"/v2/payments/captures/{txn.transaction_id}")
        except Permanent as exc:
            if exc.vendor_code != "RESOURCE_NOT_FOUND":
                raise
            # Not a capture (a payment sent to the account, an old-style button): what Transaction
            # Search says is all there is.
            return [_reported_payment(resource, txn)]
        return _capture_documents(capture, ctx)
    return []


def _reported_payment(resource: Mapping[str, Any], txn: ReportedTransaction) -> Payment:
    """A payment Transaction Search reports but the v2 API does not serve, from the report alone."""
    info = resource["transaction_info"]
    meta = {"paypal_fee": str(txn.fee), "net": str(txn.net), "event_code": txn.code}
    for key, field in (("invoice_id", "invoice_id"), ("custom_id", "custom_field")):
        if text(info.get(field)):
            meta[key] = text(info[field])
    return Payment(
        external_id=txn.transaction_id,
        occurred_at=txn.at,
        currency=txn.currency,
        amount=txn.amount,
        method=METHOD,
        gateway=GATEWAY,
        fee=txn.fee,
        metadata=meta,
    )


_PARSERS: dict[str, Parser] = {
    "PAYMENT.CAPTURE.COMPLETED": _capture_documents,
    "PAYMENT.CAPTURE.REFUNDED": _one(refund_from_object),
    "PAYMENT.CAPTURE.REVERSED": _one(reversal_dispute),
    "PAYMENT.SALE.COMPLETED": _one(payment_from_v1_sale),
    "PAYMENT.SALE.REFUNDED": _one(refund_from_v1),
    "PAYMENT.SALE.REVERSED": _one(reversal_dispute_v1),
    "CHECKOUT.ORDER.COMPLETED": documents_from_order,
    "CUSTOMER.DISPUTE.CREATED": _dispute_documents,
    "CUSTOMER.DISPUTE.UPDATED": _dispute_documents,
    "CUSTOMER.DISPUTE.RESOLVED": _dispute_documents,
    "INVOICING.INVOICE.PAID": lambda r, ctx: _invoice_documents(r, ctx),
    "INVOICING.INVOICE.UPDATED": lambda r, ctx: _invoice_documents(r, ctx),
    "INVOICING.INVOICE.REFUNDED": lambda r, ctx: _invoice_documents(r, ctx),
    REPORTED_EVENT: _reported_documents,
}

#: The webhook event types to subscribe to (everything the books need; others are ignored).
HANDLED_EVENT_TYPES: tuple[str, ...] = tuple(t for t in _PARSERS if t != REPORTED_EVENT)

_VERIFICATION_MODES = ("certificate_or_postback", "certificate", "postback")


class PayPalSource(SalesSource):
    """PayPal as a sales source: Checkout orders, captures (v2) and sales (v1), refunds,
    reversals, disputes, invoices and transfers to the bank.

    Credentials: ``client_id`` and ``client_secret`` of a PayPal REST app (live or sandbox) with
    Transaction Search, Disputes and Invoicing enabled. Settings: ``webhook_id`` (the id PayPal
    gave the webhook), ``environment`` (``live``/``sandbox``), ``verification``, ``sales_booked_by``,
    ``sale_reference``, ``tax_rates``, ``signature_tolerance``, ``payout_lookback_days``, and for
    tests only ``cert_url_origins`` and ``cert_trust_roots_pem``. ``webhook_secrets`` may list
    further webhook ids (a re-created webhook during the switch).
    """

    platform: ClassVar[str] = "paypal"
    display_name: ClassVar[str] = "PayPal"
    capabilities: ClassVar[frozenset[str]] = frozenset({"webhook", "pull", "payouts"})
    #: PayPal retries a webhook for three days, but transfers to the bank have no webhook at all:
    #: a pull every six hours books them, and fills any gap in the webhooks.
    scheduled_pull_minutes: ClassVar[int | None] = 360
    #: Transaction Search shows a transaction up to three hours late: start well before the last pull.
    pull_overlap: ClassVar[timedelta] = REPORTING_LAG + timedelta(hours=1)
    setup_fields: ClassVar[tuple[SetupField, ...]] = (
        SetupField("client_id", "Client ID", store="credentials", required=True,
                   help="From developer.paypal.com > Apps & Credentials (REST API app)."),
        SetupField("client_secret", "Secret", kind="secret", store="credentials", required=True,
                   help="The app's secret; stored encrypted and never shown again."),
        SetupField("environment", "Environment", kind="choice", default="live",
                   choices=(("live", "Live"), ("sandbox", "Sandbox"))),
        SetupField("webhook_id", "Webhook ID", required=True,
                   help="Shown beside the webhook you created for this channel's URL; PayPal signs "
                        "every delivery for this id."),
        SetupField("verification", "Signature check", kind="choice", default="certificate_or_postback",
                   choices=(("certificate_or_postback", "Certificate, else ask PayPal"),
                            ("certificate", "Certificate only"),
                            ("postback", "Always ask PayPal (verify-webhook-signature)"))),
        SetupField("sales_booked_by", "Who books the sales", kind="choice", default="paypal",
                   choices=(("paypal", "PayPal Checkout orders are the sales"),
                            ("other_channel", "Another channel (the web shop) books the sales"))),
        SetupField("sale_reference", "Shop order number is in", kind="choice", default="invoice_id",
                   choices=(("invoice_id", "invoice_id"), ("custom_id", "custom_id")),
                   help="Only when another channel books the sales."),
        SetupField("tax_rates", "Tax names and rates",
                   help="e.g. 'VAT 20%=0.20; VAT 5%=0.05': names the taxes of PayPal orders, which "
                        "carry tax amounts without names."),
    )  # fmt: skip

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self._api: PayPalAPI | None = None
        self.certificates = signature.CertificateVerifier(
            extra_origins=tuple(_strings(config.settings.get("cert_url_origins"))),
            roots_pem=str(config.settings.get("cert_trust_roots_pem") or "").encode(),
            tolerance=_int(config.settings.get("signature_tolerance"), signature.DEFAULT_TOLERANCE),
        )

    @property
    def base_url(self) -> str:
        """The REST API host: the channel's base URL, else live or sandbox by the environment."""
        if self.config.base_url:
            return self.config.base_url
        return SANDBOX_BASE_URL if self.config.settings.get("environment") == "sandbox" else DEFAULT_BASE_URL

    @property
    def api(self) -> PayPalAPI | None:
        """The API client, or None when the channel has no client credentials."""
        creds = self.config.credentials
        if not creds.get("client_id") or not creds.get("client_secret"):
            return None
        if self._api is None:
            self._api = PayPalAPI(
                client_id=str(creds["client_id"]),
                client_secret=str(creds["client_secret"]),
                base_url=self.base_url,
                connection_key=self.config.channel_slug,
            )
        return self._api

    def webhook_ids(self) -> list[str]:
        """The webhook ids a delivery may be signed for: the configured one first."""
        ids: list[str] = []
        for value in [self.config.settings.get("webhook_id"), *self.config.webhook_secrets]:
            if isinstance(value, str) and value.strip() and value.strip() not in ids:
                ids.append(value.strip())
        return ids

    # -- webhooks ----------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Verify as PayPal documents (see :mod:`.signature`), falling back to PayPal's own check
        when the certificate cannot be had and the channel allows it."""
        mode = str(self.config.settings.get("verification") or "certificate_or_postback")
        if mode not in _VERIFICATION_MODES:
            raise SignatureInvalid(f"unknown verification setting {mode!r}")
        ids = self.webhook_ids()
        if mode == "postback":
            self._postback(request, ids)
            return
        try:
            self.certificates.verify(request, ids)
        except signature.CertificateUnavailable as exc:
            if mode == "certificate" or self.api is None:
                raise SignatureInvalid(f"cannot check the signature locally: {exc}") from exc
            self._postback(request, ids)

    def _postback(self, request: WebhookRequest, ids: Sequence[str]) -> None:
        """Ask PayPal to verify the delivery, after the same cheap refusals as locally."""
        api = self.api
        if api is None:
            raise SignatureInvalid("PayPal's verify-webhook-signature needs the channel's client credentials")
        transmission = signature.Transmission.from_request(request)
        if not ids:
            raise SignatureInvalid("no PayPal webhook id is configured for this channel")
        # The same cheap refusals as locally: a foreign cert URL or an old transmission never
        # costs a call to PayPal.
        signature.check_cert_url(transmission.cert_url, self.certificates.extra_origins)
        now = request.received_at if request.received_at.tzinfo else request.received_at.replace(tzinfo=UTC)
        signature.check_transmission_time(transmission, now, self.certificates.tolerance)
        signature.verify_by_postback(api, request, ids, transmission)

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """The event id (``WH-...``) is the dedupe key: PayPal re-sends the same id on retries."""
        try:
            event = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedPayload(f"PayPal webhook body is not JSON: {exc}") from exc
        if not isinstance(event, dict):
            raise MalformedPayload("PayPal webhook body is not a JSON object")
        event_id, event_type = event.get("id"), event.get("event_type")
        if not isinstance(event_id, str) or not event_id:
            raise MalformedPayload("PayPal event has no id")
        if not isinstance(event_type, str) or not event_type:
            raise MalformedPayload(f"PayPal event {event_id} has no event_type")
        if event_type == REPORTED_EVENT:
            raise MalformedPayload(f"{REPORTED_EVENT} is not a PayPal webhook event")
        extra = {"transmission_id": request.header("PAYPAL-TRANSMISSION-ID")}
        resource = event.get("resource")
        if isinstance(resource, dict):
            rid = resource.get("id") or resource.get("dispute_id")
            if isinstance(rid, str):
                extra["resource_id"] = rid
        if isinstance(event.get("resource_version"), str):
            extra["resource_version"] = event["resource_version"]
        return WebhookEnvelope(dedupe_key=event_id, event_type=event_type, extra=extra)

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Dispatch on the event type; types that carry nothing for the books give ``[]``."""
        parser = _PARSERS.get(event_type)
        if parser is None:
            return []
        if not isinstance(payload, Mapping):
            raise MalformedPayload(f"PayPal event {event_type!r} is not a JSON object")
        if payload.get("event_type", event_type) != event_type:
            raise MalformedPayload(
                f"event type {event_type!r} does not match the payload's {payload.get('event_type')!r}"
            )
        resource = payload.get("resource")
        if not isinstance(resource, Mapping):
            raise MalformedPayload(f"PayPal event {payload.get('id')!r} has no resource")
        created = payload.get("create_time")
        ctx = Context(
            api=self.api,
            settings=self.config.settings,
            event_time=parse_time(created, "event create_time") if isinstance(created, str) else None,
        )
        return parser(resource, ctx)

    # -- pull --------------------------------------------------------------------------------

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Yield the payments, refunds, reversals and transfers reported since ``since``
        (Transaction Search, 31-day windows, every page), then the disputes updated since then.

        Each record is keyed by transaction id, event code and status, so re-running a back-fill
        stores nothing twice and a status change (pending -> completed) is a new record.
        """
        api = self.api
        if api is None:
            raise Permanent("PayPal pull needs the channel's client credentials (client_id, client_secret)")
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        since = max(since, now - REPORTING_HISTORY + timedelta(days=1))
        done = 0
        for start, end in windows(since, now):
            for page in list_transactions(api, start, end, progress, done):
                done += len(page)
                for detail in page:
                    record = _reported_record(detail)
                    if record is not None:
                        yield record
        yield from self._pull_disputes(api, since, now, progress, done)
        yield from self._pull_invoices(api, since, now, progress)

    def _pull_invoices(
        self, api: PayPalAPI, since: datetime, now: datetime, progress: ProgressCallback | None
    ) -> Iterator[PulledRecord]:
        """Invoices dated, or paid, since ``since`` (``POST /v2/invoicing/search-invoices``, two
        searches because an invoice issued long ago may be paid today), each at its current state."""
        searches = [
            {"invoice_date_range": {"start": f"{since:%Y-%m-%d}", "end": f"{now:%Y-%m-%d}"}},
            {"payment_date_range": {"start": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "end": now.strftime("%Y-%m-%dT%H:%M:%SZ")}},
        ]  # fmt: skip
        seen: set[str] = set()
        done = 0
        for criteria in searches:
            page = 1
            while True:
                answer = api.post(
                    f"/v2/invoicing/search-invoices?page={page}&page_size=100&total_required=true",
                    json.dumps(criteria).encode(),
                )
                for item in as_list(answer.get("items"), "invoices items"):
                    invoice = as_mapping(item, "invoice")
                    key = _invoice_key(invoice)
                    if key in seen:
                        continue
                    seen.add(key)
                    event = {
                        "id": key,
                        "event_type": "INVOICING.INVOICE.UPDATED",
                        "resource_type": "invoices",
                        "resource": invoice,
                    }
                    yield PulledRecord(dedupe_key=key, event_type="INVOICING.INVOICE.UPDATED", payload=event)
                    done += 1
                if progress is not None:
                    progress(done, None, f"{done} PayPal invoices read")
                total_pages = answer.get("total_pages")
                if not isinstance(total_pages, int) or page >= total_pages:
                    break
                page += 1

    def _pull_disputes(
        self, api: PayPalAPI, since: datetime, now: datetime, progress: ProgressCallback | None, done: int
    ) -> Iterator[PulledRecord]:
        """Disputes updated in ``since .. now``, page by page (``links[rel=next]``), as events."""
        params: list[tuple[str, object]] = [
            ("update_time_after", since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")),
            ("update_time_before", now.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
            ("page_size", 50),
        ]
        path = "/v1/customer/disputes"
        while True:
            page = api.get(path, params)
            for item in as_list(page.get("items"), "disputes items"):
                dispute = as_mapping(item, "dispute")
                dispute_id = text(dispute.get("dispute_id"))
                if not dispute_id:
                    raise MalformedPayload("paypal: the disputes list returned a dispute without dispute_id")
                key = f"dispute:{dispute_id}:{text(dispute.get('update_time'))}"
                event = {
                    "id": key,
                    "event_type": "CUSTOMER.DISPUTE.UPDATED",
                    "resource_type": "dispute",
                    "create_time": dispute.get("update_time") or dispute.get("create_time"),
                    "resource": dispute,
                }
                yield PulledRecord(dedupe_key=key, event_type="CUSTOMER.DISPUTE.UPDATED", payload=event)
                done += 1
            if progress is not None:
                progress(done, None, f"{done} PayPal records read (disputes)")
            nxt = link(page, "next")
            if not nxt:
                return
            path, params = nxt, []

    # -- setting up --------------------------------------------------------------------------

    def test_connection(self) -> ConnectionCheck:
        """Get a token, then read one day of Transaction Search: says whether the app works and
        whether Transaction Search is enabled for it."""
        api = self.api
        if api is None:
            return ConnectionCheck(False, "Enter the PayPal app's client ID and secret first.")
        where = "sandbox" if "sandbox" in api.base_url else "live"
        try:
            api.access_token()
        except ConnectorError as exc:
            return ConnectionCheck(
                False, f"PayPal ({where}) refused the app: {exc.vendor_message or exc.message}"
            )
        now = datetime.now(UTC)
        try:
            next(list_transactions(api, now - timedelta(days=1), now))
        except ConnectorError as exc:
            return ConnectionCheck(
                False,
                f"Connected to PayPal ({where}), but Transaction Search answered: "
                f"{exc.vendor_message or exc.message}. Enable Transaction Search for the app.",
                {"environment": where},
            )
        if not self.webhook_ids():
            return ConnectionCheck(
                True,
                f"Connected to PayPal ({where}); enter the webhook ID so deliveries can be verified.",
                {"environment": where},
            )
        return ConnectionCheck(True, f"Connected to PayPal ({where}); Transaction Search is enabled.",
                               {"environment": where})  # fmt: skip


def _invoice_key(invoice: Mapping[str, Any]) -> str:
    """An invoice at one state: its id, status and last update (a paid invoice is a new record)."""
    invoice_id = text(invoice.get("id"))
    if not invoice_id:
        raise MalformedPayload("paypal: the invoice search returned an invoice without id")
    meta = sub(sub(invoice, "detail"), "metadata")
    return f"invoice:{invoice_id}:{text(invoice.get('status'))}:{text(meta.get('last_update_time'))}"


def _invoice_documents(resource: Mapping[str, Any], ctx: Context) -> list[CanonicalDocument]:
    """An invoice event; a search result without its items is completed from the API first."""
    invoice = as_mapping(resource.get("invoice"), "invoice") if "invoice" in resource else resource
    if "items" not in invoice and ctx.api is not None and text(invoice.get("id")):
        invoice = ctx.api.get(f"/v2/invoicing/invoices/{text(invoice.get('id'))}")
    return documents_from_invoice(invoice, ctx)


def _int(value: Any, default: int) -> int:
    """A whole-number setting, or the default when it is absent or not a number."""
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _strings(value: Any) -> list[str]:
    """A list setting given as a list or as comma-separated text."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return []


def _reported_record(detail: Mapping[str, Any]) -> PulledRecord | None:
    """A Transaction Search record worth a document, wrapped as an event of ours."""
    txn = ReportedTransaction.read(detail)
    if txn.status == "D":
        return None
    wanted = (
        (txn.code.startswith("T00") and txn.amount > 0)
        or txn.code in ("T1106", "T1107")
        or (txn.code.startswith("T04") and txn.amount < 0)
    )
    if not wanted:
        return None
    key = f"{txn.transaction_id}:{txn.code}:{txn.status}"
    event = {
        "id": key,
        "event_type": REPORTED_EVENT,
        "resource_type": "transaction_detail",
        "create_time": detail["transaction_info"].get("transaction_updated_date")
        or detail["transaction_info"].get("transaction_initiation_date"),
        "resource": dict(detail),
    }
    return PulledRecord(dedupe_key=key, event_type=REPORTED_EVENT, payload=event)
