"""The connector contract: sources and ledger targets, the error taxonomy, the registry.

A connector is one module per platform (``connectors/sources/<slug>.py`` or
``connectors/ledgers/<slug>.py``) that defines a subclass of :class:`SalesSource` or
:class:`LedgerTarget` with ``platform = "<slug>"``. The registry imports the module by slug on first
use, so adding a connector touches no shared file (see docs/adding-a-connector.md).

Connectors are plain Python: they get their configuration as frozen dataclasses
(:class:`SourceConfig`, :class:`LedgerConfig`), never ORM objects, and return canonical documents
(:mod:`integrator.canonical`) or :class:`PostResult`. Vendor JSON never leaks into the core.

Errors are classified once, here, by the connector that understands the vendor:

* :class:`Retryable` - try again later (5xx, connection refused before the request left).
* :class:`RateLimited` - a Retryable with the vendor's ``retry_after`` in seconds.
* :class:`Permanent` - the vendor refused the document (validation, unknown account); a person must
  act. :class:`ClosedPeriod` is a Permanent for a date before the ledger's lock date.
* :class:`AuthExpired` - refresh the token once, then ask for re-authorisation.
* :class:`Uncertain` - the request may have reached the vendor (timeout after sending, connection
  dropped while reading the answer): never re-send blindly, look the document up first.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol

from integrator.canonical import CanonicalDocument, Party

__all__ = [
    "AuthExpired",
    "ClosedPeriod",
    "ConnectionCheck",
    "ConnectorError",
    "Deferred",
    "LedgerConfig",
    "LedgerTarget",
    "LedgerView",
    "MalformedPayload",
    "MemoryRefStore",
    "Permanent",
    "PostResult",
    "PostingDocument",
    "PostingLine",
    "PulledRecord",
    "RateLimited",
    "RefStore",
    "RemoteAccount",
    "RemoteItem",
    "RemoteTaxCode",
    "Retryable",
    "SalesSource",
    "SetupField",
    "SignatureInvalid",
    "SourceConfig",
    "Uncertain",
    "UnknownPlatform",
    "WebhookEnvelope",
    "WebhookReply",
    "WebhookRequest",
    "connection_failed",
    "ledger_target_class",
    "sales_source_class",
    "storable_reason",
]


# --------------------------------------------------------------------------------------------
# Error taxonomy
# --------------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Base of the taxonomy. ``vendor_code`` and ``vendor_message`` are shown to the user as-is."""

    def __init__(self, message: str, *, vendor_code: str = "", vendor_message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.vendor_code = vendor_code
        self.vendor_message = vendor_message or message


class Retryable(ConnectorError):
    """A transient failure: retry with exponential backoff and full jitter."""


class RateLimited(Retryable):
    """The vendor said slow down. ``retry_after`` (seconds) is honoured before any new request."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Permanent(ConnectorError):
    """The vendor refused the document; retrying cannot help. Becomes an exception for a person."""


class ClosedPeriod(Permanent):
    """The document's date is inside a closed (locked) period of the ledger."""


class AuthExpired(ConnectorError):
    """Credentials were refused: refresh once, then mark the connection as needing re-authorisation."""


class Uncertain(ConnectorError):
    """The request may have taken effect: resolve by looking the document up, never by re-sending."""


class Deferred(Retryable):
    """The document cannot be sent yet because one it depends on is not in the ledger (a payment
    whose invoice is still waiting): try again shortly, without counting an attempt against the
    posting or a failure against the vendor's circuit."""


class SignatureInvalid(Exception):
    """A webhook whose signature, secret or timestamp does not verify: answered 401 and logged."""


class MalformedPayload(Exception):
    """A webhook or pulled record that cannot be parsed: answered 400 (webhook) or quarantined.

    The reason often quotes the record's own ids (``"square: return order <id> line 0 ..."``); a
    lone surrogate or a NUL there is escaped, so the reason can always be stored with the event
    (issue 14: an unstorable reason left the event unjudged and retried as a crash).
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(storable_reason(a) if isinstance(a, str) else a for a in args))


def storable_reason(text: str) -> str:
    """``text`` with lone surrogates and NULs escaped (``\\ud800``, ``\\x00``): no database
    column stores them, and a reason is stored."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class UnknownPlatform(LookupError):
    """No connector module exists for the platform slug."""


# --------------------------------------------------------------------------------------------
# Setting up a connection (the wizard and the API read these)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupField:
    """One thing a person enters when connecting a channel or a ledger.

    ``store`` says where the value lives: ``credentials`` (encrypted, write-only: never shown again
    after it is saved) or ``settings`` (plain, shown and editable). ``kind`` drives the form widget:
    ``text``, ``secret`` (a password box; implies write-only), ``url``, ``int``, ``bool``, ``choice``
    (``choices`` lists ``(value, label)``) or ``date``.

    Two names are understood by the setup services (integrator/services/setup_fields.py):
    ``base_url`` is the connection's API address (its own column, shown and editable), and, for a
    source, ``webhook_secret`` is the signing secret the *vendor* issues (Shopify, Stripe, Square):
    it joins the channel's webhook secrets, current first. A source that declares no
    ``webhook_secret`` field but receives webhooks gets a secret generated by us, shown once for
    the person to paste into the platform (the generic signed JSON format, WooCommerce).
    """

    name: str
    label: str
    kind: Literal["text", "secret", "url", "int", "bool", "choice", "date"] = "text"
    store: Literal["credentials", "settings"] = "settings"
    required: bool = False
    help: str = ""
    default: Any = None
    choices: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ConnectionCheck:
    """The result of "Test connection": whether the vendor answered as expected, and what it said
    (the shop or company name, the currency, the first error) in words for a person."""

    ok: bool
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


def connection_failed(vendor: str, exc: ConnectorError) -> ConnectionCheck:
    """A failed "Test connection" in words for a person, from the error taxonomy: what the vendor
    said and what to do about it (the class name of the error never reaches the screen)."""
    said = exc.vendor_message or exc.message
    if isinstance(exc, AuthExpired):
        text = f"{vendor} refused the credentials ({said}). Check them, or connect again."
    elif isinstance(exc, RateLimited):
        wait = f" in {exc.retry_after:.0f} seconds" if exc.retry_after else " in a minute"
        text = f"{vendor} asks us to slow down; try again{wait}."
    elif isinstance(exc, Retryable | Uncertain):
        text = f"{vendor} could not be reached ({said}). Check the address and try again."
    else:
        text = f"{vendor} refused the request: {said}"
    return ConnectionCheck(False, text, {"error": type(exc).__name__, "vendor_code": exc.vendor_code})


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceConfig:
    """What a source connector knows of its channel. ``webhook_secrets`` lists the current secret
    first and, during a rotation window, the previous one(s). ``save_credentials`` persists rotated
    OAuth tokens atomically (sources whose vendor rotates refresh tokens, e.g. Lightspeed)."""

    channel_slug: str
    currency: str
    timezone: str = "UTC"
    base_url: str = ""
    credentials: Mapping[str, Any] = field(default_factory=dict)
    webhook_secrets: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    save_credentials: Callable[[Mapping[str, Any]], None] | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """A webhook as received: raw body bytes, headers (case-insensitive lookup via :meth:`header`),
    the absolute URL the vendor called (Square signs it byte-exact) and the receipt time."""

    body: bytes
    headers: Mapping[str, str]
    url: str
    received_at: datetime

    def header(self, name: str, default: str = "") -> str:
        """Case-insensitive header lookup."""
        lower = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lower:
                return value
        return default


@dataclass(frozen=True)
class WebhookEnvelope:
    """The identity of a webhook delivery: the vendor's event identity (the dedupe key) and type."""

    dedupe_key: str
    event_type: str
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookReply:
    """An answer a source gives to a vendor's handshake request (Clover's one-time verification
    code, WooCommerce's ping on hook creation) instead of storing it as an event. ``record`` holds
    what the channel should keep and show to the admin (e.g. ``{"verification_code": ...}``)."""

    status: int = 200
    body: Mapping[str, Any] = field(default_factory=dict)
    record: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PulledRecord:
    """One record fetched by a pull (back-fill). It becomes an InboundEvent like a webhook would,
    so a pulled order and a webhook for the same order end in one Transaction."""

    dedupe_key: str
    event_type: str
    payload: Mapping[str, Any]


ProgressCallback = Callable[[int, int | None, str], None]
"""``progress(done, total_or_None, message)``: called by long pulls so screens and commands can
show a progress bar."""


class SalesSource:
    """Base class of every sales source (web shop, till, gateway).

    Subclasses set ``platform`` (the registry slug), ``display_name`` and ``capabilities`` and
    implement the methods their capabilities promise.
    """

    platform: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset({"webhook"})
    #: Largest webhook body accepted, in bytes (larger is answered 413 before parsing).
    max_body_bytes: ClassVar[int] = 1_048_576
    #: Media types (without parameters) the vendor's webhooks carry; anything else is answered 415.
    accepted_content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    #: What the setup wizard asks for (credentials are encrypted and write-only).
    setup_fields: ClassVar[tuple[SetupField, ...]] = ()
    #: Minutes between scheduled completeness pulls (None: no scheduled pull). Vendors that never
    #: retry a webhook (WooCommerce) rely on it to close every gap.
    scheduled_pull_minutes: ClassVar[int | None] = None
    #: How far back a scheduled pull starts before the last one (vendor reporting lag, clock skew).
    pull_overlap: ClassVar[timedelta] = timedelta(minutes=10)
    #: True for a platform that publishes no payouts (Squarespace Commerce): its tenders' processing
    #: fees are booked with the sale (Dr fees, Cr clearing), since no payout will ever book them.
    #: Platforms with payouts leave it False: the payout books the fees the bank saw.
    fees_at_sale: ClassVar[bool] = False

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def handle_handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """Answer a vendor's handshake (a verification request that is not an event), or return
        None for an ordinary delivery. Called before :meth:`verify_webhook`, so it must accept
        only the vendor's exact handshake shape and must never store an event."""
        return None

    def acknowledge_webhook(self, created: bool) -> WebhookReply | None:
        """The answer to a stored delivery when the vendor expects a particular one (Adobe Commerce
        webhooks want ``200 {"op": "success"}``, anything else counts as a failed hook); ``None``
        keeps the receiver's usual 202 accepted / 200 duplicate. ``created`` is False for a
        duplicate. Called only after the inbox row is committed."""
        return None

    def decode_payload(self, body: str, headers: Mapping[str, str]) -> Any:
        """The stored body of an inbox row as data for :meth:`parse_event` (JSON, decimals kept
        exact). Sources whose vendor posts another encoding (form fields) override this; pulled
        records are always stored as JSON."""
        return json.loads(body, parse_float=Decimal)

    def test_connection(self) -> ConnectionCheck:
        """Call the vendor with the stored credentials and say what it answered (the wizard's
        "Test connection"). Sources without an API of their own say so."""
        return ConnectionCheck(False, f"{self.display_name or self.platform} has no API to test")

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Raise :class:`SignatureInvalid` unless the request is signed as the vendor signs."""
        raise NotImplementedError

    def identify_webhook(self, request: WebhookRequest) -> WebhookEnvelope:
        """Return the delivery's dedupe key and event type; raise :class:`MalformedPayload`."""
        raise NotImplementedError

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Turn one event's JSON into zero or more canonical documents.

        Called by the worker (outside any database transaction), so it may fetch related objects
        from the vendor (a Stripe payout's balance transactions). An event type that carries nothing
        for the books returns ``[]``. Raise :class:`MalformedPayload` for data that cannot be read.
        """
        raise NotImplementedError

    def pull(self, since: datetime, progress: ProgressCallback | None = None) -> Iterator[PulledRecord]:
        """Yield records changed since ``since`` using the vendor's pagination and rate limits."""
        raise NotImplementedError(f"{self.platform} cannot pull")


# --------------------------------------------------------------------------------------------
# Ledger targets
# --------------------------------------------------------------------------------------------


class RefStore(Protocol):
    """Where a ledger connector keeps what it learnt of the ledger's own ids, per connection:
    the customer made for a source's customer, the item made for an income account. ``kind`` names
    the namespace (``customer``, ``item``), ``key`` our identity for the object."""

    def get(self, kind: str, key: str) -> str | None:
        """The remote id stored for (kind, key), or None."""
        ...

    def put(self, kind: str, key: str, remote_id: str, label: str = "") -> None:
        """Remember a remote id (the first one stored wins: a second put keeps it)."""
        ...


class MemoryRefStore:
    """A RefStore in memory (tests, previews). The integrator uses a database table."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], str] = {}

    def get(self, kind: str, key: str) -> str | None:
        """The remote id stored for (kind, key), or None."""
        return self.rows.get((kind, key))

    def put(self, kind: str, key: str, remote_id: str, label: str = "") -> None:
        """Remember a remote id unless one is stored already."""
        self.rows.setdefault((kind, key), remote_id)


@dataclass(frozen=True)
class LedgerConfig:
    """What a ledger connector knows of its connection. ``save_credentials`` persists rotated
    tokens atomically (the newest refresh token must never be lost); ``refs`` keeps the ledger ids
    the connector found or created (customers, items)."""

    connection_id: str
    platform: str
    functional_currency: str
    base_url: str = ""
    credentials: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    save_credentials: Callable[[Mapping[str, Any]], None] | None = None
    refs: RefStore = field(default_factory=MemoryRefStore)


@dataclass(frozen=True)
class PostingLine:
    """One line of a document to post, in the ledger's own codes. Exactly one of ``debit`` and
    ``credit`` is positive. ``role`` says what the line is (``revenue``, ``tax``, ``shipping``,
    ``discount``, ``clearing``, ``fee``, ``bank``, ``rounding``, ...), so a connector can build an
    invoice from the revenue lines and a payment from the clearing lines."""

    account_code: str
    debit: Decimal
    credit: Decimal
    role: str
    description: str = ""
    tax_code: str = ""
    tax_rate: Decimal | None = None
    item_ref: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    account_ref: str = ""  # the ledger's own id for the account, when it has one (QBO, Xero)
    tax_code_ref: str = ""  # the ledger's own id for the tax code
    #: The same amount in the books' functional currency (None: the document is in it).
    functional_debit: Decimal | None = None
    functional_credit: Decimal | None = None
    #: The line's own currency when it differs from the document's (a payout settling a foreign
    #: clearing balance); empty for the document currency.
    currency: str = ""

    def functional(self) -> tuple[Decimal, Decimal]:
        """(debit, credit) in the functional currency."""
        if self.functional_debit is None or self.functional_credit is None:
            return self.debit, self.credit
        return self.functional_debit, self.functional_credit


@dataclass(frozen=True)
class PostingDocument:
    """A document to post, built from our balanced journal entry.

    ``reference`` is our document number (unique per connection, used for look-ups);
    ``idempotency_key`` is the posting's key for its whole life. ``kind`` is the canonical kind
    (``sale``, ``refund``, ``payment``, ``payout``, ``invoice``, ``dispute``, ``cash_count``),
    ``summary`` for a daily summary or ``reversal`` for a correction.

    ``number`` is the source's own document number (an order or invoice number) that the ledger
    should show where its field allows; ``customer`` the source's customer (None: an anonymous
    sale, booked to the connection's walk-in customer); ``due_date`` the invoice's due date;
    ``related_remote_id`` / ``related_number`` the ledger document this one settles or reverses
    (the invoice a payment pays, the entry a reversal undoes). ``exchange_rate`` is functional
    units per document unit and ``functional_currency`` the books' currency.
    """

    reference: str
    idempotency_key: str
    kind: str
    date: date
    currency: str
    lines: tuple[PostingLine, ...]
    memo: str = ""
    prices_include_tax: bool = False
    exchange_rate: Decimal | None = None
    customer_name: str = ""
    customer_ref: str = ""
    related_reference: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    number: str = ""
    customer: Party | None = None
    due_date: dt.date | None = None
    related_remote_id: str = ""
    related_number: str = ""
    related_kind: str = ""
    functional_currency: str = ""
    rate_source: str = ""

    def total_debit(self) -> Decimal:
        """Sum of the debit side."""
        return sum((ln.debit for ln in self.lines), Decimal(0))

    def total_credit(self) -> Decimal:
        """Sum of the credit side."""
        return sum((ln.credit for ln in self.lines), Decimal(0))


@dataclass(frozen=True)
class PostResult:
    """What the ledger answered: its id for the document and, if it has one, its number."""

    remote_id: str
    remote_number: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LedgerView:
    """What the ledger recorded for a document, read back: amounts per account code (signed:
    debit positive), tax per tax code, and the document total, in ``currency``. The read-back
    check compares it with the journal (``connectors.ledgers.common.readback``)."""

    currency: str
    per_account: Mapping[str, Decimal]
    per_tax_code: Mapping[str, Decimal]
    total: Decimal
    documents: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemoteAccount:
    """An account of the ledger's chart. ``type`` is one of asset, liability, equity, revenue, expense."""

    code: str
    name: str
    type: str
    remote_id: str = ""
    active: bool = True


@dataclass(frozen=True)
class RemoteTaxCode:
    """A tax code or rate of the ledger."""

    code: str
    name: str
    rate: Decimal
    remote_id: str = ""
    active: bool = True


@dataclass(frozen=True)
class RemoteItem:
    """An item (product or service) of the ledger."""

    code: str
    name: str
    remote_id: str = ""
    active: bool = True


class LedgerTarget:
    """Base class of every accounting target.

    ``post`` sends one document carrying ``doc.idempotency_key`` and returns the ledger's id; it
    raises a :class:`ConnectorError` subclass on failure. ``lookup`` finds a document by
    ``doc.reference`` (used to resolve :class:`Uncertain` outcomes before any re-send).
    """

    platform: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: Largest number of documents one ``post_batch`` call may carry.
    max_batch: ClassVar[int] = 1
    #: What the setup wizard asks for (credentials are encrypted and write-only).
    setup_fields: ClassVar[tuple[SetupField, ...]] = ()

    def __init__(self, config: LedgerConfig) -> None:
        self.config = config

    def test_connection(self) -> ConnectionCheck:
        """Read something harmless from the ledger (the chart of accounts) and say what came back."""
        try:
            accounts = self.fetch_accounts()
        except ConnectorError as exc:
            return connection_failed(self.display_name or self.platform, exc)
        return ConnectionCheck(
            True, f"Connected: {len(accounts)} accounts in the chart", {"accounts": len(accounts)}
        )

    def post(self, doc: PostingDocument) -> PostResult:
        """Create the document in the ledger."""
        raise NotImplementedError

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """Find a previously posted document by its reference, or ``None``."""
        raise NotImplementedError

    def post_batch(self, docs: list[PostingDocument]) -> list[PostResult | ConnectorError]:
        """Post several documents; one result (or error) per document, in order."""
        results: list[PostResult | ConnectorError] = []
        for doc in docs:
            try:
                results.append(self.post(doc))
            except ConnectorError as exc:
                results.append(exc)
        return results

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The ledger's chart of accounts."""
        raise NotImplementedError

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """The ledger's tax codes or rates."""
        raise NotImplementedError

    def fetch_items(self) -> list[RemoteItem]:
        """The ledger's items."""
        return []

    def fetch_lock_date(self) -> date | None:
        """The last closed day of the ledger (documents on or before it are refused), or None."""
        return None

    def read_back(self, doc: PostingDocument, result: PostResult) -> LedgerView:
        """Read the posted document (and the documents it made: payments, transfers) back from the
        ledger, as the ledger recorded it (capability ``read_back``)."""
        raise NotImplementedError(f"{self.platform} cannot read documents back")

    def expected_view(self, doc: PostingDocument) -> LedgerView:
        """What the ledger should hold for ``doc``, in the terms of :meth:`read_back`. Targets built
        on the ledger-target layer answer with the view of the document they plan."""
        from connectors.ledgers.common.readback import make_view

        return make_view(doc.currency, ((ln.account_code, ln.debit - ln.credit) for ln in doc.lines), ())

    def fetch_exchange_rate(self, currency: str, on: date) -> Decimal | None:
        """The ledger's own rate for ``currency`` on ``on`` (functional units per unit), where it
        publishes one (capability ``exchange_rates``); None when it has none."""
        return None


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

SOURCE_PLATFORMS: dict[str, str] = {
    "generic": "Generic signed JSON (Prysm POS and custom tills)",
    "prysm": "Prysm POS",
    "shopify": "Shopify",
    "woocommerce": "WooCommerce",
    "magento": "Magento 2 / Adobe Commerce",
    "squarespace": "Squarespace Commerce",
    "square": "Square",
    "clover": "Clover",
    "lightspeed_r": "Lightspeed Retail (R-Series)",
    "lightspeed_x": "Lightspeed X-Series (Vend)",
    "stripe": "Stripe",
    "paypal": "PayPal",
}

LEDGER_PLATFORMS: dict[str, str] = {
    "builtin": "Built-in ledger",
    "quickbooks": "QuickBooks Online",
    "xero": "Xero",
    "sage": "Sage Business Cloud Accounting",
    "zoho_books": "Zoho Books",
    "netsuite": "Oracle NetSuite (REST)",
    "netsuite_soap": "Oracle NetSuite (SuiteTalk SOAP)",
    "business_central": "Dynamics 365 Business Central",
    "freshbooks": "FreshBooks",
    "sap_b1": "SAP Business One",
    "odoo": "Odoo",
}

# Platforms served by another platform's module (none at present: Prysm has its own module, which
# builds on the generic signed JSON source).
_MODULE_ALIASES: dict[str, str] = {}


def _load(package: str, platform: str, base: type) -> type:
    module_name = _MODULE_ALIASES.get(platform, platform)
    try:
        module = importlib.import_module(f"{package}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{package}.{module_name}":
            raise UnknownPlatform(f"no connector for platform {platform!r}") from exc
        raise
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, base)
            and value is not base
            and getattr(value, "platform", None) == module_name
        ):
            return value
    raise UnknownPlatform(f"module {module.__name__} defines no {base.__name__} for {platform!r}")


def sales_source_class(platform: str) -> type[SalesSource]:
    """The SalesSource subclass for a platform slug (imports ``connectors.sources.<slug>``)."""
    return _load("connectors.sources", platform, SalesSource)


def ledger_target_class(platform: str) -> type[LedgerTarget]:
    """The LedgerTarget subclass for a platform slug (imports ``connectors.ledgers.<slug>``)."""
    return _load("connectors.ledgers", platform, LedgerTarget)
