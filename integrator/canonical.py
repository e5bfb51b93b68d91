"""The canonical documents: the ONE shape between connectors and the core.

Source connectors turn vendor JSON into these dataclasses; the core never sees vendor JSON (the raw
payload stays on the InboundEvent row). Ledger connectors receive a :class:`PostingDocument`
(see ``connectors.base``) built from our own journal, never these directly.

Conventions, which every connector must follow:

* Amounts are :class:`~decimal.Decimal` in major units, quantised to the document currency's minor
  unit (use :mod:`integrator.money`); amounts are positive unless a field says otherwise.
* ``prices_include_tax`` tells whether ``unit_price``, ``discount`` and shipping ``amount`` include
  tax (Shopify ``taxes_included``, WooCommerce ``prices_include_tax``). Tax lines always carry the
  tax amount itself.
* Discounts are applied before tax, as Shopify does, and allocated to the lines and shipping lines
  they reduce (``LineItem.discount``, ``ShippingLine.discount``); ``Sale.discounts`` lists the codes
  for information.
* Datetimes are timezone-aware.
* A refund points to its sale by ``sale_external_id``; amounts on a refund are positive (what goes
  back to the customer).
* ``currency`` is the currency of the amounts the connector emits. Emit the channel's (shop's)
  currency when the vendor gives amounts in it (Shopify ``shop_money``, Magento ``base_*``);
  otherwise emit the order's own currency. When the vendor states a conversion (Stripe's balance
  transaction ``exchange_rate``, the ratio of Shopify's shop and presentment money, PayPal's
  ``exchange_rate`` in a capture's receivable breakdown), put it in ``exchange_rates``: the core
  uses a source's own rate before any other (docs/accounting-model.md, "Exchange rates").
* Till documents name their ``location`` and ``register`` (empty for web shops): the daily summary
  is made per location, register and currency.
* A sale whose ``status`` is ``voided`` books nothing (and undoes what an earlier revision booked).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar, Literal

from integrator import money

__all__ = [
    "CanonicalDocument",
    "CashCount",
    "Discount",
    "Dispute",
    "ExchangeRate",
    "Invoice",
    "LineItem",
    "Party",
    "Payment",
    "Payout",
    "PayoutItem",
    "Refund",
    "Sale",
    "ShippingLine",
    "TaxLine",
    "Tender",
    "document_from_dict",
    "document_to_dict",
]

ZERO = Decimal(0)


@dataclass(frozen=True)
class ExchangeRate:
    """A conversion the source itself stated: one unit of ``base`` is worth ``rate`` units of
    ``quote`` (e.g. base ``EUR``, quote ``GBP``, rate ``0.8541``: 1 EUR = 0.8541 GBP)."""

    base: str
    quote: str
    rate: Decimal


@dataclass(frozen=True)
class TaxLine:
    """One tax charged on a line or on shipping: a rate (as a fraction, 0.15 for 15 %) and an amount."""

    title: str
    rate: Decimal
    amount: Decimal
    code: str = ""


@dataclass(frozen=True)
class LineItem:
    """A product line. ``kind`` is ``product``, ``gift_card`` (a gift card sold: a liability, no tax)
    or ``fee`` (a charge line such as a WooCommerce fee line)."""

    line_id: str
    sku: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal = ZERO
    tax_lines: tuple[TaxLine, ...] = ()
    category: str = ""
    kind: Literal["product", "gift_card", "fee"] = "product"
    #: On a refund line: whether the goods went back to stock (None: the refund's ``restock``).
    restock: bool | None = None

    def gross(self, currency: str) -> Decimal:
        """Quantity times unit price, rounded to the currency (before discount)."""
        return money.quantize(self.quantity * self.unit_price, currency)

    def tax(self) -> Decimal:
        """Sum of this line's tax amounts."""
        return sum((t.amount for t in self.tax_lines), ZERO)


@dataclass(frozen=True)
class ShippingLine:
    """Shipping charged to the customer, with its own discount and taxes."""

    title: str
    amount: Decimal
    discount: Decimal = ZERO
    tax_lines: tuple[TaxLine, ...] = ()

    def tax(self) -> Decimal:
        """Sum of the shipping line's tax amounts."""
        return sum((t.amount for t in self.tax_lines), ZERO)


@dataclass(frozen=True)
class Discount:
    """A discount code or automatic discount, for information (amounts are on the lines)."""

    code: str
    amount: Decimal
    target: Literal["line", "shipping", "order"] = "order"


@dataclass(frozen=True)
class Tender:
    """How (part of) a sale was paid. ``kind`` ``gift_card`` is a redemption of a gift card
    (debits the gift card liability, not a clearing account). On a refund, ``fee`` may be negative
    (a processing fee given back)."""

    method: str
    amount: Decimal
    gateway: str = ""
    reference: str = ""
    fee: Decimal = ZERO
    kind: Literal["payment", "gift_card"] = "payment"
    change: Decimal = ZERO  # cash handed back (for information: ``amount`` is what was kept)


@dataclass(frozen=True)
class Party:
    """A customer: only what the books need (no addresses, no phone numbers)."""

    external_id: str = ""
    name: str = ""
    email: str = ""
    company: str = ""
    tax_number: str = ""


@dataclass(frozen=True)
class Sale:
    """A completed sale (web order, till sale). ``total`` is what the customer paid, tips included."""

    kind: ClassVar[str] = "sale"
    external_id: str
    occurred_at: datetime
    currency: str
    total: Decimal
    lines: tuple[LineItem, ...]
    prices_include_tax: bool = False
    number: str = ""
    shipping: tuple[ShippingLine, ...] = ()
    discounts: tuple[Discount, ...] = ()
    tenders: tuple[Tender, ...] = ()
    tips: Decimal = ZERO
    customer: Party | None = None
    presentment_currency: str = ""
    presentment_total: Decimal | None = None
    status: str = "completed"
    location: str = ""
    register: str = ""
    exchange_rates: tuple[ExchangeRate, ...] = ()
    source_updated_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refund:
    """Money given back for a sale: returned lines, refunded shipping, and any adjustment
    (``adjustment`` is positive when more is refunded than the lines and shipping account for)."""

    kind: ClassVar[str] = "refund"
    external_id: str
    sale_external_id: str
    occurred_at: datetime
    currency: str
    total: Decimal
    lines: tuple[LineItem, ...] = ()
    prices_include_tax: bool = False
    shipping: tuple[ShippingLine, ...] = ()
    tenders: tuple[Tender, ...] = ()
    adjustment: Decimal = ZERO
    reason: str = ""
    restock: bool = False
    number: str = ""
    location: str = ""
    register: str = ""
    exchange_rates: tuple[ExchangeRate, ...] = ()
    source_updated_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Payment:
    """A payment received (gateway charge, invoice payment). ``fee`` is the processor's fee.

    A payment with ``sale_external_id`` is the tender of that sale and books nothing on its own
    (the sale carries it); a payment of an invoice, or a gateway charge with no order, is booked."""

    kind: ClassVar[str] = "payment"
    external_id: str
    occurred_at: datetime
    currency: str
    amount: Decimal
    method: str = ""
    gateway: str = ""
    fee: Decimal = ZERO
    sale_external_id: str = ""
    invoice_external_id: str = ""
    status: str = "succeeded"
    customer: Party | None = None
    exchange_rates: tuple[ExchangeRate, ...] = ()
    source_updated_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PayoutItem:
    """One balance movement inside a payout: ``amount`` gross (negative for refunds and
    withdrawals), ``fee`` positive when charged, ``net = amount - fee``."""

    type: str
    amount: Decimal
    fee: Decimal
    net: Decimal
    source_id: str = ""
    description: str = ""
    #: The kind of the document that already booked this movement and its fee (``dispute``: the
    #: source sends Dispute documents); the payout then only settles clearing at the item's net.
    booked_by: str = ""


@dataclass(frozen=True)
class Payout:
    """Money moved from a gateway or shop balance to the bank. ``amount`` is the bank deposit
    (the net); items explain it. ``status`` is ``paid``, ``in_transit`` or ``failed``."""

    kind: ClassVar[str] = "payout"
    external_id: str
    occurred_at: datetime
    currency: str
    amount: Decimal
    status: str = "paid"
    arrival_date: date | None = None
    items: tuple[PayoutItem, ...] = ()
    exchange_rates: tuple[ExchangeRate, ...] = ()
    source_updated_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def gross(self) -> Decimal:
        """Sum of the items' gross amounts."""
        return sum((i.amount for i in self.items), ZERO)

    def fees(self) -> Decimal:
        """Sum of the items' fees."""
        return sum((i.fee for i in self.items), ZERO)


@dataclass(frozen=True)
class Dispute:
    """A chargeback: ``amount`` withdrawn from the balance, ``fee`` the dispute fee; status
    ``needs_response``, ``won`` or ``lost``."""

    kind: ClassVar[str] = "dispute"
    external_id: str
    occurred_at: datetime
    currency: str
    amount: Decimal
    fee: Decimal = ZERO
    status: str = "needs_response"
    sale_external_id: str = ""
    payment_external_id: str = ""
    reason: str = ""
    exchange_rates: tuple[ExchangeRate, ...] = ()
    source_updated_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Invoice:
    """A B2B invoice: like a sale, but on credit to a named customer with a due date."""

    kind: ClassVar[str] = "invoice"
    external_id: str
    occurred_at: datetime
    currency: str
    total: Decimal
    lines: tuple[LineItem, ...]
    customer: Party
    due_date: date | None = None
    prices_include_tax: bool = False
    number: str = ""
    shipping: tuple[ShippingLine, ...] = ()
    discounts: tuple[Discount, ...] = ()
    status: str = "open"
    exchange_rates: tuple[ExchangeRate, ...] = ()
    source_updated_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CashCount:
    """A till's cash drawer at the end of a shift or day: the cash the till ``expected`` (float,
    plus cash sales, less cash refunds and paid-outs) against what was ``counted``. The difference
    is cash over (positive) or short (negative), booked to the mapped over/short account.
    ``float_change`` is cash put into the drawer from the safe or bank (positive) or taken out to
    it (negative) at the same count; ``method`` is the tender whose clearing account is the drawer."""

    kind: ClassVar[str] = "cash_count"
    external_id: str
    occurred_at: datetime
    currency: str
    expected: Decimal
    counted: Decimal
    float_change: Decimal = ZERO
    method: str = "cash"
    location: str = ""
    register: str = ""
    number: str = ""
    exchange_rates: tuple[ExchangeRate, ...] = ()
    source_updated_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def over_short(self) -> Decimal:
        """Counted less expected: positive when the drawer holds more cash than the till says."""
        return self.counted - self.expected


CanonicalDocument = Sale | Refund | Payment | Payout | Dispute | Invoice | CashCount

DOCUMENT_TYPES: dict[str, type] = {
    cls.kind: cls for cls in (Sale, Refund, Payment, Payout, Dispute, Invoice, CashCount)
}

_NESTED: dict[str, type] = {
    "lines": LineItem,
    "tax_lines": TaxLine,
    "shipping": ShippingLine,
    "discounts": Discount,
    "tenders": Tender,
    "items": PayoutItem,
    "exchange_rates": ExchangeRate,
}


@cache
def _hints(cls: type) -> dict[str, str]:
    """Each field of a canonical dataclass and its type annotation as text (computed once per
    class: a document is rebuilt for every event a worker processes)."""
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _encode(getattr(value, name)) for name in _hints(type(value))}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def document_to_dict(doc: CanonicalDocument) -> dict[str, Any]:
    """Serialise a canonical document to JSON-safe data (Decimals as strings), tagged with its kind."""
    data = _encode(doc)
    data["kind"] = doc.kind
    return data


def _decode_field(cls: type, name: str, value: Any) -> Any:
    hint = _hints(cls)[name]
    if value is None:
        return None
    if name in _NESTED and isinstance(value, list):
        sub = _NESTED[name]
        return tuple(_build(sub, v) for v in value)
    if name == "customer" and isinstance(value, dict):
        return Party(**value)
    if "Decimal" in hint:
        return Decimal(value)
    if "datetime" in hint:
        return datetime.fromisoformat(value)
    if hint.startswith("date"):
        return date.fromisoformat(value)
    return value


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = _hints(cls)
    return cls(**{k: _decode_field(cls, k, v) for k, v in data.items() if k in names})


def document_from_dict(data: dict[str, Any]) -> CanonicalDocument:
    """Rebuild a canonical document from :func:`document_to_dict` output."""
    cls = DOCUMENT_TYPES[data["kind"]]
    return _build(cls, data)  # type: ignore[no-any-return,unused-ignore]
