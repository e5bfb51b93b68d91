"""Lightspeed Retail (R-Series) sales, register counts and withdrawals as canonical documents.

What we rely on (Lightspeed's Retail API V3 reference for ``Sale``, ``SaleLine``, ``SalePayment``,
``PaymentType``, ``TaxCategory``, ``RegisterCount`` and ``RegisterWithdraw``; the shapes are
recorded as JSON schemas in ``tests/fixtures/lightspeed_r/``):

* Numbers are decimal strings (``"12.5"``, ``"1.3217"``) and booleans the strings ``"true"`` /
  ``"false"``; a relation holding one record is an object rather than a list.
* A sale is booked once ``completed`` is true; ``voided`` true makes it a voided sale (books
  nothing, undoes an earlier revision). Open sales, quotes and layaways are nothing yet.
* ``SaleLine``: ``unitQuantity`` (negative on a returned line), ``unitPrice``, ``calcLineDiscount``
  and ``calcTransactionDiscount`` (the sale-level discount Lightspeed spread onto the line),
  ``calcTax1`` / ``calcTax2`` (the line's taxes, which may carry more decimals than the currency:
  rounded half up), ``tax1Rate`` / ``tax2Rate`` (fractions), ``parentSaleLineID`` (on a returned
  line: the line of the original sale). The sale's ``TaxCategory`` names the taxes
  (``tax1Name``, ``tax2Name``) and says whether prices include them (``isTaxInclusive``).
* ``calcTotal`` is the sale's total; lines whose rounded taxes miss it by a cent or so have the
  difference put on their largest tax; more is refused.
* ``SalePayment.amount`` is signed (negative: money given back); ``PaymentType.type`` is ``cash``,
  ``credit card``, ``debit card``, ``check``, ``gift card``, ``credit account``, ``ecom`` or
  ``user defined`` (then its ``name`` is the method: "M-Pesa" -> ``mpesa``). ``Sale.change`` is the
  change handed back: when the payments exceed the total by it, it comes off the cash tender.
* A sale made only of returned lines is a :class:`Refund` of the original sale (found through the
  first returned line's ``parentSaleLineID``); a sale mixing sold and returned lines (an exchange)
  is a sale and a refund, the part of one paid by the other carried by an ``exchange`` tender on
  both, which nets to nothing in its clearing account.
* ``shopID`` is the location, ``registerID`` the register.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connectors.base import MalformedPayload
from connectors.sources.lightspeed_r.api import as_list
from integrator import money
from integrator.canonical import CanonicalDocument, CashCount, LineItem, Refund, Sale, TaxLine, Tender

__all__ = [
    "documents_from_sale",
    "payment_method",
    "register_count_document",
    "register_withdraw_document",
    "truthy",
]

ZERO = Decimal(0)
_TYPES = {
    "cash": "cash",
    "credit card": "card",
    "debit card": "card",
    "check": "check",
    "gift card": "gift_card",
    "credit account": "credit_account",
    "ecom": "ecom",
}
_ALIASES = {"m_pesa": "mpesa", "om": "orange_money"}

ParentLookup = Callable[[str], str]
"""Given a ``saleLineID``, the ``saleID`` it belongs to ('' when unknown)."""


def _obj(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested record, or an empty mapping when absent (or not a record)."""
    value = parent.get(key)
    return value if isinstance(value, Mapping) else {}


def truthy(value: Any) -> bool:
    """Lightspeed's ``"true"`` / ``"false"`` strings (and real booleans)."""
    return value is True or str(value).lower() == "true"


def _dec(value: Any, what: str, *, default: str | None = "0") -> Decimal:
    if value is None or value == "":
        if default is None:
            raise MalformedPayload(f"lightspeed_r: {what} is missing")
        value = default
    if isinstance(value, float | bool):
        raise MalformedPayload(f"lightspeed_r: {what} is not a decimal string: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedPayload(f"lightspeed_r: {what} is not a number: {value!r}") from exc
    if not number.is_finite():  # "Infinity", "NaN": no quantity or price computes with them
        raise MalformedPayload(f"lightspeed_r: {what} is not a finite number: {value!r}")
    return number


def _shown(value: str) -> str:
    """An id as a reason may quote it: a lone surrogate or a NUL (which no database column can
    store, so the reason itself could not be saved and the event would stay unjudged) escaped."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _money(value: Any, currency: str, what: str, *, default: str | None = "0") -> Decimal:
    try:
        return money.quantize(_dec(value, what, default=default), currency, rounding=ROUND_HALF_UP)
    except money.InvalidAmount as exc:  # "Infinity", "NaN", past every column
        raise MalformedPayload(f"lightspeed_r: {what} is not an amount: {value!r} ({exc})") from exc


def _time(value: Any, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"lightspeed_r: {what} is not a date and time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise MalformedPayload(f"lightspeed_r: {what} has no UTC offset: {value!r}")
    return parsed


def payment_method(payment_type: Mapping[str, Any] | None) -> str:
    """Our payment-method name for a Lightspeed payment type."""
    payment_type = payment_type or {}
    kind = str(payment_type.get("type") or "").lower()
    if kind in _TYPES:
        return _TYPES[kind]
    name = re.sub(r"[^a-z0-9]+", "_", str(payment_type.get("name") or "").lower()).strip("_")
    return _ALIASES.get(name, name or "other")


class _Line:
    """One sale line, signed by its quantity."""

    def __init__(
        self, raw: Mapping[str, Any], currency: str, category: Mapping[str, Any], sale_id: str
    ) -> None:
        line_id = str(raw.get("saleLineID") or "")
        what = f"sale {_shown(sale_id)} line {_shown(line_id)}"
        self.raw = raw
        self.line_id = line_id
        qty = _dec(raw.get("unitQuantity"), f"{what} unitQuantity", default=None)
        self.returned = qty < 0
        self.quantity = abs(qty)
        self.unit_price = _money(raw.get("unitPrice"), currency, f"{what} unitPrice", default=None)
        self.discount = abs(
            _money(raw.get("calcLineDiscount"), currency, f"{what} calcLineDiscount")
            + _money(raw.get("calcTransactionDiscount"), currency, f"{what} calcTransactionDiscount")
        )
        self.taxes: list[TaxLine] = []
        for n in (1, 2):
            amount = abs(_money(raw.get(f"calcTax{n}"), currency, f"{what} calcTax{n}"))
            rate = _dec(raw.get(f"tax{n}Rate"), f"{what} tax{n}Rate")
            if amount or (rate and truthy(raw.get("tax", "true"))):
                title = str(category.get(f"tax{n}Name") or f"Tax {n}")
                self.taxes.append(
                    TaxLine(
                        title=title, rate=rate, amount=amount, code=str(category.get("taxCategoryID") or "")
                    )
                )
        item = _obj(raw, "Item")
        self.sku = str(item.get("customSku") or item.get("systemSku") or raw.get("itemID") or "")
        self.name = str(
            item.get("description") or (f"Item {raw.get('itemID')}" if raw.get("itemID") else "Item")
        )
        self.category = str(item.get("categoryID") or "")
        self.gross = money.quantize(self.quantity * self.unit_price, currency)

    def item(self) -> LineItem:
        return LineItem(
            line_id=self.line_id,
            sku=self.sku,
            name=self.name,
            quantity=self.quantity,
            unit_price=self.unit_price,
            discount=self.discount,
            tax_lines=tuple(self.taxes),
            category=self.category,
        )

    def value(self, inclusive: bool) -> Decimal:
        """What the customer pays for the line (tax included)."""
        return self.gross - self.discount + (ZERO if inclusive else sum((t.amount for t in self.taxes), ZERO))


def _settle_rounding(lines: list[_Line], stated: Decimal, inclusive: bool, currency: str, what: str) -> None:
    """Put a per-line tax rounding difference against the stated total on the largest tax."""
    # Returned lines count negatively in Lightspeed's total (a pure return's total is negative).
    computed = sum((-ln.value(inclusive) if ln.returned else ln.value(inclusive) for ln in lines), ZERO)
    diff = stated - computed
    if not diff:
        return
    taxed = [(ln, j) for ln in lines for j in range(len(ln.taxes))]
    if not inclusive and taxed and abs(diff) <= money.quantum(currency) * len(taxed):
        ln, j = max(taxed, key=lambda p: p[0].taxes[p[1]].amount)
        old = ln.taxes[j]
        ln.taxes[j] = TaxLine(old.title, old.rate, old.amount + (-diff if ln.returned else diff), old.code)
        return
    raise MalformedPayload(
        f"lightspeed_r: {what}: the lines come to {computed} {currency}, Lightspeed says {stated}"
    )


def documents_from_sale(
    sale: Mapping[str, Any], *, currency: str, parent_sale: ParentLookup
) -> list[CanonicalDocument]:
    """A completed sale as a Sale and/or a Refund; voided as a voided Sale; open as nothing."""
    sale_id = str(sale.get("saleID") or "")
    if not sale_id:
        raise MalformedPayload("lightspeed_r: sale has no saleID")
    what = f"sale {_shown(sale_id)}"
    location, register = str(sale.get("shopID") or ""), str(sale.get("registerID") or "")
    stamp = _time(sale.get("timeStamp"), f"{what} timeStamp")
    when = _time(
        sale.get("completeTime") or sale.get("createTime") or sale.get("timeStamp"), f"{what} completeTime"
    )
    common: dict[str, Any] = {
        "location": location,
        "register": register,
        "source_updated_at": stamp,
        "metadata": {"shop_id": location, "ticket": str(sale.get("ticketNumber") or "")},
    }
    if truthy(sale.get("voided")):
        void_line = LineItem(line_id="void", sku="", name="Voided sale", quantity=Decimal(1), unit_price=ZERO)
        return [
            Sale(external_id=sale_id, occurred_at=when, currency=currency, total=ZERO, lines=(void_line,),
                 status="voided", number=str(sale.get("ticketNumber") or sale_id), **common)
        ]  # fmt: skip
    if not truthy(sale.get("completed")):
        return []
    category = _obj(sale, "TaxCategory")
    inclusive = truthy(category.get("isTaxInclusive"))
    lines_rel = sale.get("SaleLines")
    raw_lines = as_list(lines_rel.get("SaleLine")) if isinstance(lines_rel, Mapping) else []
    lines = [_Line(raw, currency, category, sale_id) for raw in raw_lines if isinstance(raw, Mapping)]
    if not lines:
        raise MalformedPayload(f"lightspeed_r: completed {what} has no SaleLines (load_relations missing?)")
    stated = _money(sale.get("calcTotal", sale.get("total")), currency, f"{what} calcTotal", default=None)
    _settle_rounding(lines, stated, inclusive, currency, what)
    sold = [ln for ln in lines if not ln.returned]
    returned = [ln for ln in lines if ln.returned]
    sold_total = sum((ln.value(inclusive) for ln in sold), ZERO)
    returned_total = sum((ln.value(inclusive) for ln in returned), ZERO)
    received, given = _tenders(sale, currency, stated, what)
    paid_in = sum((t.amount for t in received), ZERO)
    paid_out = sum((t.amount for t in given), ZERO)
    exchange = sold_total - paid_in if sold and returned else ZERO
    if exchange < 0 or (returned and sold and exchange != returned_total - paid_out):
        raise MalformedPayload(f"lightspeed_r: {what}: payments do not match the sold and returned lines")
    if exchange:
        # An exchange: the returned goods pay for part of the new ones.
        received.append(Tender("exchange", exchange, gateway="lightspeed_r", reference=sale_id))
        given.append(Tender("exchange", exchange, gateway="lightspeed_r", reference=sale_id))
    number = str(sale.get("ticketNumber") or sale_id)
    docs: list[CanonicalDocument] = []
    if sold:
        docs.append(
            Sale(external_id=sale_id, occurred_at=when, currency=currency, total=sold_total,
                 lines=tuple(ln.item() for ln in sold), prices_include_tax=inclusive, number=number,
                 tenders=tuple(received), **common)
        )  # fmt: skip
    if returned:
        parent_line = str(returned[0].raw.get("parentSaleLineID") or "")
        original = parent_sale(parent_line) if parent_line and parent_line != "0" else ""
        docs.append(
            Refund(external_id=sale_id, sale_external_id=original, occurred_at=when, currency=currency,
                   total=returned_total, lines=tuple(ln.item() for ln in returned),
                   prices_include_tax=inclusive, tenders=tuple(given), number=number,
                   reason="return", restock=True, **common)
        )  # fmt: skip
    return docs


def _tenders(
    sale: Mapping[str, Any], currency: str, stated: Decimal, what: str
) -> tuple[list[Tender], list[Tender]]:
    """(money received, money given back) as tenders; the change comes off the cash received."""
    rel = sale.get("SalePayments")
    payments = [
        p
        for p in (as_list(rel.get("SalePayment")) if isinstance(rel, Mapping) else [])
        if isinstance(p, Mapping)
    ]
    received: list[Tender] = []
    given: list[Tender] = []
    for p in payments:
        if truthy(p.get("archived")):
            continue
        amount = _money(
            p.get("amount"), currency, f"{what} payment {_shown(str(p.get('salePaymentID')))}", default=None
        )
        ptype = p.get("PaymentType") if isinstance(p.get("PaymentType"), Mapping) else None
        method = payment_method(ptype)
        tender = Tender(
            method=method,
            amount=abs(amount),
            gateway="lightspeed_r",
            reference=str(p.get("salePaymentID") or ""),
            kind="gift_card" if method == "gift_card" else "payment",
        )
        if amount > 0:
            received.append(tender)
        elif amount < 0:
            given.append(tender)
    change = abs(_money(sale.get("change"), currency, f"{what} change"))
    net = sum((t.amount for t in received), ZERO) - sum((t.amount for t in given), ZERO)
    if change and net - change == stated:
        # The cash payment was recorded as tendered: what the till kept is less the change.
        for i, t in enumerate(received):
            if t.method == "cash" and t.amount >= change:
                received[i] = Tender(t.method, t.amount - change, t.gateway, t.reference, change=change)
                break
        else:
            raise MalformedPayload(
                f"lightspeed_r: {what} gives change {change} without a cash payment to take it from"
            )
    return received, given


def register_count_document(count: Mapping[str, Any], *, currency: str, location: str) -> CashCount | None:
    """A closed register count: the cash payment type's counted (``actual``) against expected
    (``calculated``). Other payment types' amounts are the register's totals, not drawer cash."""
    count_id = str(count.get("registerCountID") or "")
    if not count.get("closeTime"):
        return None  # still open: nothing counted yet
    rel = count.get("RegisterCountAmounts")
    amounts = as_list(rel.get("RegisterCountAmount")) if isinstance(rel, Mapping) else []
    cash = [
        a for a in amounts
        if isinstance(a, Mapping) and payment_method(a.get("PaymentType") if isinstance(a.get("PaymentType"), Mapping) else None) == "cash"
    ]  # fmt: skip
    if not cash:
        return None
    what = f"register count {_shown(count_id)}"
    expected = sum((_money(a.get("calculated"), currency, f"{what} calculated") for a in cash), ZERO)
    counted = sum((_money(a.get("actual"), currency, f"{what} actual") for a in cash), ZERO)
    closed = _time(count.get("closeTime"), f"{what} closeTime")
    return CashCount(
        external_id=f"register_count:{count_id}",
        occurred_at=closed,
        currency=currency,
        expected=expected,
        counted=counted,
        location=location,
        register=str(count.get("registerID") or ""),
        number=count_id,
        source_updated_at=closed,
        metadata={"shop_id": location, "notes": str(count.get("notes") or "")[:200]},
    )


def register_withdraw_document(
    withdraw: Mapping[str, Any], *, currency: str, location: str
) -> CashCount | None:
    """Cash taken out of (positive ``amount``) or put into (negative) a register: a float change."""
    wid = str(withdraw.get("registerWithdrawID") or "")
    amount = _money(withdraw.get("amount"), currency, f"register withdraw {_shown(wid)} amount", default=None)
    if not amount:
        return None
    when = _time(withdraw.get("createTime"), f"register withdraw {_shown(wid)} createTime")
    return CashCount(
        external_id=f"register_withdraw:{wid}",
        occurred_at=when,
        currency=currency,
        expected=ZERO,
        counted=ZERO,
        float_change=-amount,
        location=location,
        register=str(withdraw.get("registerID") or ""),
        number=wid,
        source_updated_at=when,
        metadata={"shop_id": location, "notes": str(withdraw.get("notes") or "")[:200]},
    )
