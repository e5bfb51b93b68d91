"""Clover orders (expanded with their line items, discounts, payments and refunds) as documents.

What Clover gives and what we rely on (Clover's REST reference for ``Order``, ``LineItem``,
``Payment``, ``Refund`` and its "Calculate order totals" guide; shapes recorded as JSON schemas in
``tests/fixtures/clover/``):

* Money is an integer in the currency's minor unit (``from_minor``), currency on the order.
* ``lineItems[].price`` is the unit price (before tax unless the order ``isVat``); ``unitQty`` is a
  quantity in thousandths for items sold by weight or measure (absent: one unit, Clover puts one
  line per unit sold). ``modifications[].amount`` add to the unit price.
* Line discounts, then order discounts: percentage discounts first, then fixed ones
  (``amount`` is negative); order discounts are spread over the lines in proportion to their
  subtotal after line discounts (largest remainder, so no cent is lost).
* ``taxRates[].rate`` is in hundred-thousandths of a percent (``797500`` is 7.975 %). Tax is
  computed per line and rounded half up, as Clover's guide says. ``isVat`` means the prices
  include the tax (VAT regions); ``taxRemoved`` means the order was made tax-exempt (no tax at
  all). The order's ``total`` (tax included, tip excluded) is the truth: a per-line rounding
  difference of a cent or so against it is put on the largest tax line; anything larger is refused
  as an order we cannot read.
* ``payments[]`` with ``result`` ``SUCCESS`` are the tenders: ``amount`` (tax included, tip
  excluded) plus ``tipAmount``; ``cashTendered`` on a cash payment gives the change handed back.
  The tender's ``labelKey`` names Clover's own tenders (``com.clover.tender.cash``, ``.credit_card``,
  ``.debit_card``, ``.check``, ``.gift_card`` ...); any other tender (a merchant's custom tender such
  as M-Pesa or Orange Money) is named by its ``label``.
* ``refunds[]`` (on the order, or on each payment) are refunds of this order's payments:
  ``amount`` (tax included), ``taxAmount``, ``tipAmount``, ``payment.id`` and, when the merchant
  refunded chosen items, ``lineItems``.
* A ticket whose payments were all voided, or an order Clover no longer has (deleted), is a
  ``voided`` sale: it books nothing and undoes what an earlier revision booked. An open ticket
  (nothing paid yet) is nothing for the books.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import CanonicalDocument, CashCount, LineItem, Refund, Sale, TaxLine, Tender

__all__ = [
    "cash_event_document",
    "deleted_order_sale",
    "documents_from_order",
    "from_millis",
    "tender_method",
]

ZERO = Decimal(0)
#: ``taxRates[].rate`` is in 1/100 000 of a percent: 10 % is 1 000 000.
RATE_SCALE = Decimal(10_000_000)
PAID_RESULTS = frozenset({"SUCCESS"})
VOIDED_RESULTS = frozenset({"VOIDED"})
_CLOVER_TENDERS = {
    "com.clover.tender.cash": "cash",
    "com.clover.tender.credit_card": "card",
    "com.clover.tender.credit": "card",
    "com.clover.tender.debit_card": "card",
    "com.clover.tender.check": "check",
    "com.clover.tender.gift_card": "gift_card",
    "com.clover.tender.external_gift_card": "gift_card",
    "com.clover.tender.external_pin_debit": "card",
}
# Custom tender labels written several ways by merchants, folded to one method name.
_ALIASES = {"m_pesa": "mpesa", "mpesa": "mpesa", "orange_money": "orange_money", "om": "orange_money"}


def from_millis(value: Any, what: str) -> datetime:
    """Clover's epoch milliseconds as an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or value <= 0:
        raise MalformedPayload(f"clover: {what} is not a time in epoch milliseconds: {value!r}")
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:  # the C library refuses it (errno 75 and the like)
        raise MalformedPayload(f"clover: {what} is not a time a calendar holds: {value!r}") from exc


def tender_method(tender: Mapping[str, Any] | None) -> str:
    """Our payment-method name for a Clover tender (see the module docstring)."""
    tender = tender or {}
    key = str(tender.get("labelKey") or "")
    if key in _CLOVER_TENDERS:
        return _CLOVER_TENDERS[key]
    label = re.sub(r"[^a-z0-9]+", "_", str(tender.get("label") or "").lower()).strip("_")
    if not label:
        return "other"
    return _ALIASES.get(label, label)


def _elements(obj: Mapping[str, Any], key: str, what: str) -> list[Mapping[str, Any]]:
    """``obj[key].elements`` (Clover's expanded collections), [] when absent."""
    raw = obj.get(key)
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        raw = raw.get("elements", [])
    if not isinstance(raw, list) or not all(isinstance(x, Mapping) for x in raw):
        raise MalformedPayload(f"clover: {what} {key} is not a list of objects")
    return raw


def _cents(value: Any, currency: str, what: str, *, default: int | None = 0) -> Decimal:
    if value is None:
        if default is None:
            raise MalformedPayload(f"clover: {what} is missing")
        value = default
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or int(value) != value:
        raise MalformedPayload(f"clover: {what} is not an integer amount: {value!r}")
    return money.from_minor(int(value), currency)


def _round(value: Decimal, currency: str) -> Decimal:
    return money.quantize(value, currency, rounding=ROUND_HALF_UP)


def _ref_id(obj: Any) -> str:
    return str(obj.get("id") or "") if isinstance(obj, Mapping) else ""


@dataclass
class _Line:
    """A sale line as we compute it before it becomes a LineItem."""

    raw: Mapping[str, Any]
    line_id: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    gross: Decimal
    discount: Decimal
    rates: list[tuple[str, Decimal, str]]  # (name, fraction, id)
    taxes: list[Decimal]

    @property
    def taxable(self) -> Decimal:
        return self.gross - self.discount


def _apply_discounts(base: Decimal, discounts: list[Mapping[str, Any]], currency: str, what: str) -> Decimal:
    """Clover's order: percentage discounts first (each on the running subtotal), then amounts."""
    running = base
    for d in discounts:
        if d.get("percentage") is not None and d.get("amount") is None:
            pct = Decimal(str(d["percentage"]))
            running -= _round(running * pct / 100, currency)
    for d in discounts:
        if d.get("amount") is not None:
            running -= abs(_cents(d["amount"], currency, f"{what} discount amount"))
    return base - max(running, ZERO)


def _lines(order: Mapping[str, Any], currency: str) -> list[_Line]:
    order_id = _ref_id(order)
    lines: list[_Line] = []
    for i, raw in enumerate(_elements(order, "lineItems", f"order {order_id}")):
        what = f"order {order_id} line {i}"
        unit = _cents(raw.get("price"), currency, f"{what} price", default=None)
        for mod in _elements(raw, "modifications", what):
            unit += _cents(mod.get("amount"), currency, f"{what} modifier")
        name = str(raw.get("name") or "Item")
        if raw.get("unitQty") not in (None, 1000):
            quantity = Decimal(int(raw["unitQty"])) / 1000
            gross = _round(unit * quantity, currency)
        else:
            quantity, gross = Decimal(1), unit
        if money.quantize(quantity * unit, currency) != gross:
            # A measured quantity whose price Clover rounded: keep the money exact, say the quantity.
            name, quantity, unit = f"{name} x {quantity.normalize()}", Decimal(1), gross
        discount = _apply_discounts(gross, _elements(raw, "discounts", what), currency, what)
        rates = [
            (str(r.get("name") or "Tax"), Decimal(int(r.get("rate") or 0)) / RATE_SCALE, _ref_id(r))
            for r in _elements(raw, "taxRates", what)
        ]
        lines.append(_Line(raw, str(raw.get("id") or i), name, quantity, unit, gross, discount, rates, []))
    return lines


def _spread_order_discount(order: Mapping[str, Any], lines: list[_Line], currency: str) -> None:
    subtotal = sum((ln.taxable for ln in lines), ZERO)
    discounts = _elements(order, "discounts", f"order {_ref_id(order)}")
    if not discounts or subtotal <= 0:
        return
    total = _apply_discounts(subtotal, discounts, currency, f"order {_ref_id(order)}")
    for ln, share in zip(lines, money.allocate(total, [ln.taxable for ln in lines], currency), strict=True):
        ln.discount += share


def _compute_taxes(order: Mapping[str, Any], lines: list[_Line], currency: str) -> None:
    inclusive = bool(order.get("isVat"))
    for ln in lines:
        if order.get("taxRemoved") or not ln.rates:
            ln.rates, ln.taxes = ([] if order.get("taxRemoved") else ln.rates), []
            continue
        combined = sum((r for _, r, _ in ln.rates), ZERO)
        if inclusive:
            tax_total = ln.taxable - _round(ln.taxable / (1 + combined), currency)
            weights = [r for _, r, _ in ln.rates]
            ln.taxes = money.allocate(tax_total, weights, currency) if combined else [ZERO] * len(ln.rates)
        else:
            ln.taxes = [_round(ln.taxable * r, currency) for _, r, _ in ln.rates]


def _reconcile_with_total(order: Mapping[str, Any], lines: list[_Line], currency: str) -> None:
    """Make the lines add up to Clover's ``total``: a per-line rounding cent goes on the largest tax."""
    stated = _cents(order.get("total"), currency, f"order {_ref_id(order)} total", default=None)
    computed = sum((ln.taxable for ln in lines), ZERO)
    if not order.get("isVat"):
        computed += sum((sum(ln.taxes, ZERO) for ln in lines), ZERO)
    diff = stated - computed
    if not diff:
        return
    taxed = [(ln, j) for ln in lines for j in range(len(ln.taxes))]
    if not order.get("isVat") and taxed and abs(diff) <= money.quantum(currency) * len(taxed):
        ln, j = max(taxed, key=lambda p: p[0].taxes[p[1]])
        ln.taxes[j] += diff
        return
    raise MalformedPayload(
        f"clover: order {_ref_id(order)}: the lines come to {computed} {currency}, Clover says {stated}"
    )


def _line_item(ln: _Line) -> LineItem:
    return LineItem(
        line_id=ln.line_id,
        sku=str(ln.raw.get("itemCode") or _ref_id(ln.raw.get("item")) or ""),
        name=ln.name,
        quantity=ln.quantity,
        unit_price=ln.unit_price,
        discount=ln.discount,
        tax_lines=tuple(
            TaxLine(title=name, rate=rate, amount=amount, code=rate_id)
            for (name, rate, rate_id), amount in zip(ln.rates, ln.taxes, strict=True)
        ),
        category=str(ln.raw.get("category") or ""),
    )


def _payments(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _elements(order, "payments", f"order {_ref_id(order)}")


def _tender(payment: Mapping[str, Any], currency: str) -> Tender:
    pid = _ref_id(payment)
    amount = _cents(payment.get("amount"), currency, f"payment {pid} amount", default=None)
    tip = _cents(payment.get("tipAmount"), currency, f"payment {pid} tipAmount")
    method = tender_method(payment.get("tender") if isinstance(payment.get("tender"), Mapping) else None)
    change = ZERO
    if method == "cash" and payment.get("cashTendered") is not None:
        change = max(
            _cents(payment["cashTendered"], currency, f"payment {pid} cashTendered") - amount - tip, ZERO
        )
    return Tender(
        method=method,
        amount=amount + tip,
        gateway="clover",
        reference=pid,
        kind="gift_card" if method == "gift_card" else "payment",
        change=change,
    )


def _register(obj: Mapping[str, Any], fallback: str = "") -> str:
    """The till: the Clover device, else the employee who rang it up."""
    return _ref_id(obj.get("device")) or _ref_id(obj.get("employee")) or fallback


def documents_from_order(
    order: Mapping[str, Any], *, merchant_id: str, default_currency: str
) -> list[CanonicalDocument]:
    """A paid order's sale and its refunds; a voided one as a voided sale; an open one as nothing."""
    order_id = _ref_id(order)
    if not order_id:
        raise MalformedPayload("clover: order has no id")
    currency = money.normalize_currency(str(order.get("currency") or default_currency))
    payments = _payments(order)
    paid = [p for p in payments if str(p.get("result") or "") in PAID_RESULTS]
    voided = [p for p in payments if str(p.get("result") or "") in VOIDED_RESULTS]
    lines = _lines(order, currency)
    occurred = from_millis(
        order.get("clientCreatedTime") or order.get("createdTime"), f"order {order_id} createdTime"
    )
    updated = from_millis(
        order.get("modifiedTime") or order.get("createdTime"), f"order {order_id} modifiedTime"
    )
    register = _register(order)
    if not paid:
        if voided or str(order.get("state") or "").lower() == "voided":
            return [
                deleted_order_sale(
                    order_id, updated, merchant_id=merchant_id, currency=currency, register=register
                )
            ]
        return []  # an open ticket: nothing has been paid, nothing to book yet
    if not lines:
        raise MalformedPayload(f"clover: paid order {order_id} has no line items (expand=lineItems missing?)")
    _spread_order_discount(order, lines, currency)
    _compute_taxes(order, lines, currency)
    _reconcile_with_total(order, lines, currency)
    tenders = [_tender(p, currency) for p in paid]
    tips = sum((_cents(p.get("tipAmount"), currency, "tipAmount") for p in paid), ZERO)
    total = _cents(order.get("total"), currency, f"order {order_id} total", default=None) + tips
    sale = Sale(
        external_id=order_id,
        occurred_at=occurred,
        currency=currency,
        total=total,
        lines=tuple(_line_item(ln) for ln in lines),
        prices_include_tax=bool(order.get("isVat")),
        # Not the ticket's title: tills restart their ticket numbers, and the journal's reference
        # is built from the number, so it must be Clover's unique order id.
        number=order_id,
        tenders=tuple(tenders),
        tips=tips,
        location=merchant_id,
        register=register,
        source_updated_at=updated,
        metadata={"merchant_id": merchant_id, "title": str(order.get("title") or "")},
    )
    docs: list[CanonicalDocument] = [sale]
    by_payment = {_ref_id(p): p for p in payments}
    for refund in _refunds(order):
        doc = _refund(refund, order, lines, by_payment, sale)
        if doc is not None:
            docs.append(doc)
    return docs


def _refunds(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The order's refunds, from ``refunds`` and from each payment's ``refunds``, once each."""
    seen: dict[str, Mapping[str, Any]] = {}
    for refund in _elements(order, "refunds", f"order {_ref_id(order)}"):
        seen.setdefault(_ref_id(refund), refund)
    for payment in _payments(order):
        for refund in _elements(payment, "refunds", f"payment {_ref_id(payment)}"):
            seen.setdefault(
                _ref_id(refund), {**refund, "payment": refund.get("payment") or {"id": _ref_id(payment)}}
            )
    return [r for key, r in seen.items() if key]


def _refund(
    refund: Mapping[str, Any],
    order: Mapping[str, Any],
    lines: list[_Line],
    payments: Mapping[str, Mapping[str, Any]],
    sale: Sale,
) -> Refund | None:
    rid = _ref_id(refund)
    cur = sale.currency
    if refund.get("voided") or str(refund.get("status") or "SUCCESS").upper() not in ("SUCCESS", ""):
        return None
    amount = _cents(refund.get("amount"), cur, f"refund {rid} amount", default=None)
    tip = _cents(refund.get("tipAmount"), cur, f"refund {rid} tipAmount")
    payment = payments.get(_ref_id(refund.get("payment")))
    method = tender_method(
        payment.get("tender") if payment and isinstance(payment.get("tender"), Mapping) else None
    )
    items = _itemised(refund, lines, cur, bool(order.get("isVat")), amount) or _proportional(
        refund, lines, sale, amount
    )
    return Refund(
        external_id=rid,
        sale_external_id=sale.external_id,
        occurred_at=from_millis(
            refund.get("createdTime") or refund.get("clientCreatedTime"), f"refund {rid} createdTime"
        ),
        currency=cur,
        total=amount + tip,
        lines=tuple(items),
        prices_include_tax=sale.prices_include_tax,
        tenders=(Tender(method=method, amount=amount + tip, gateway="clover", reference=rid),),
        # A refunded tip has no line of its own: it goes back to the customer as an adjustment.
        adjustment=tip,
        location=sale.location,
        register=_register(refund, sale.register),
        source_updated_at=from_millis(
            refund.get("modifiedTime") or refund.get("createdTime"), f"refund {rid} modifiedTime"
        ),
        metadata={"merchant_id": sale.location, "payment_id": _ref_id(refund.get("payment"))},
    )


def _itemised(
    refund: Mapping[str, Any], lines: list[_Line], currency: str, inclusive: bool, amount: Decimal
) -> list[LineItem]:
    """The refunded sale lines, when the refund names them and they add up to its amount."""
    ids = [_ref_id(x) for x in _elements(refund, "lineItems", f"refund {_ref_id(refund)}")]
    chosen = [ln for ln in lines if ln.line_id in ids]
    if not ids or len(chosen) != len(ids):
        return []
    value = sum((ln.taxable + (ZERO if inclusive else sum(ln.taxes, ZERO)) for ln in chosen), ZERO)
    if value != amount:
        return []
    return [_line_item(ln) for ln in chosen]


def _proportional(
    refund: Mapping[str, Any], lines: list[_Line], sale: Sale, amount: Decimal
) -> list[LineItem]:
    """An amount refund spread over the sale's lines in proportion to their value, tax by tax."""
    cur = sale.currency
    sale_tax = sum((sum(ln.taxes, ZERO) for ln in lines), ZERO)
    sale_value = sale.total - sale.tips
    if refund.get("taxAmount") is not None:
        tax = _cents(refund["taxAmount"], cur, f"refund {_ref_id(refund)} taxAmount")
    else:
        tax = _round(sale_tax * amount / sale_value, cur) if sale_value else ZERO
    if tax > amount:
        raise MalformedPayload(f"clover: refund {_ref_id(refund)} refunds more tax than money")
    nets = money.allocate(
        amount - tax,
        [ln.taxable - (sum(ln.taxes, ZERO) if sale.prices_include_tax else ZERO) for ln in lines],
        cur,
    )
    flat = [(i, j) for i, ln in enumerate(lines) for j in range(len(ln.taxes))]
    tax_parts = money.allocate(tax, [lines[i].taxes[j] for i, j in flat], cur) if flat else []
    if not flat and tax:
        raise MalformedPayload(f"clover: refund {_ref_id(refund)} refunds tax on a sale that had none")
    result = []
    for i, ln in enumerate(lines):
        taxes = tuple(
            TaxLine(title=ln.rates[j][0], rate=ln.rates[j][1], amount=part, code=ln.rates[j][2])
            for (li, j), part in zip(flat, tax_parts, strict=True)
            if li == i
        )
        unit = nets[i] + (sum((t.amount for t in taxes), ZERO) if sale.prices_include_tax else ZERO)
        if not unit and not any(t.amount for t in taxes):
            continue
        result.append(
            LineItem(
                line_id=f"{_ref_id(refund)}-{ln.line_id}",
                sku=str(ln.raw.get("itemCode") or _ref_id(ln.raw.get("item")) or ""),
                name=f"Refund: {ln.name}",
                quantity=Decimal(1),
                unit_price=unit,
                tax_lines=taxes,
                category=str(ln.raw.get("category") or ""),
            )
        )
    return result


def deleted_order_sale(
    order_id: str, when: datetime, *, merchant_id: str, currency: str, register: str = ""
) -> Sale:
    """A voided (or deleted) ticket: books nothing and undoes an earlier booked revision."""
    return Sale(
        external_id=order_id,
        occurred_at=when,
        currency=currency,
        total=ZERO,
        lines=(LineItem(line_id="void", sku="", name="Voided ticket", quantity=Decimal(1), unit_price=ZERO),),
        status="voided",
        number=order_id,
        location=merchant_id,
        register=register,
        source_updated_at=when,
        metadata={"merchant_id": merchant_id},
    )


#: Cash event types that move cash in or out of the drawer by hand (not a sale or refund).
CASH_MOVES = frozenset({"ADD", "REMOVE", "ADJUSTMENT", "CASH_ADJUSTMENT"})


def cash_event_document(event: Mapping[str, Any], *, merchant_id: str, currency: str) -> CashCount | None:
    """A hand-made cash adjustment (cash added or removed) as a float change; others as nothing.

    Clover's cash events state how much the drawer changed (``amountChange``, signed, in cents),
    never a counted total against an expected one, so no over/short can come from them."""
    kind = str(event.get("type") or "").upper()
    if kind not in CASH_MOVES:
        return None
    when = from_millis(event.get("timestamp"), "cash event timestamp")
    change = _cents(event.get("amountChange"), currency, "cash event amountChange", default=None)
    if not change:
        return None
    device = _register(event)
    return CashCount(
        external_id=f"cash:{device}:{int(event['timestamp'])}:{kind}",
        occurred_at=when,
        currency=currency,
        expected=ZERO,
        counted=ZERO,
        float_change=change,
        location=merchant_id,
        register=device,
        number=str(event.get("note") or kind.title())[:60],
        metadata={"merchant_id": merchant_id, "type": kind},
    )
