"""X-Series sales to canonical documents.

One X-Series sale object (API 2.0 ``Sale``, or the 0.9 ``register_sale`` a webhook may carry, see
:func:`normalise`) becomes:

* a :class:`Sale` when it is paid or on account (``CLOSED``, ``*_CLOSED``, ``ONACCOUNT``,
  ``AWAITING_DISPATCH``/``AWAITING_PICKUP``: the customer has paid);
* a :class:`Refund` when it is a return: X-Series makes a return a *new* sale whose lines have
  negative quantities, whose total is negative and whose ``return_for`` names the original sale;
* both, for an exchange (returned lines and new lines on one ticket): the new lines make a sale,
  the returned lines a refund ``<id>:return``, and the value swapped between them is a tender
  ``exchange`` on each side (it nets to zero on whatever clearing account the mapping gives it);
* a voided :class:`Sale` (``status="voided"``: books nothing, undoes an earlier revision) for
  ``VOIDED`` or deleted sales;
* nothing for parked, lay-by and service sales that are not finished (``SAVED``, ``LAYBY``, ...).

Amounts. X-Series keeps line prices ex tax with the decimals of its own arithmetic; ``price_total``
(after the line discount) and ``tax_total`` are the line's totals and ``discount_total`` its
discount, ex tax. A ticket-level discount is a line of the retailer's discount product with a
negative price; it is spread over the ticket's lines in proportion to their value (the canonical
rule: discounts sit on the lines they reduce). Whether prices include tax is the outlet's setting:
in a tax-inclusive outlet the line amounts are given tax-inclusive, as the customer saw them.
Rounding to the currency's minor unit is done once per ticket with the largest-remainder method, so
the lines add up exactly to what the customer paid; a 0-decimal currency (XOF) rounds to whole francs.

Tenders. Payments are netted per method. On a sale, a negative cash payment is change handed back:
the tender keeps the net and ``change`` says how much went back. Tips come from ``TIP``
adjustments, surcharges (``SURCHARGE``, ``NON_CASH_FEE``) become fee lines, eCom custom charges
become shipping lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.base import MalformedPayload
from connectors.sources.lightspeed_x.payment_types import LIABILITY_METHODS, ON_ACCOUNT, method_for
from connectors.sources.lightspeed_x.values import (
    as_dict,
    as_list,
    number,
    optional_number,
    parse_time,
    text,
)
from integrator import money
from integrator.canonical import (
    CanonicalDocument,
    Discount,
    LineItem,
    Party,
    Refund,
    Sale,
    ShippingLine,
    TaxLine,
    Tender,
)

__all__ = [
    "BOOKED_STATUSES",
    "EXCHANGE_METHOD",
    "OPEN_STATUSES",
    "SaleContext",
    "documents_from_sale",
    "normalise",
    "sale_identity",
]

ZERO = Decimal(0)
ONE = Decimal(1)
#: Statuses whose money has moved (or, on account, is owed): booked.
BOOKED_STATUSES = frozenset(
    {
        "CLOSED",
        "ONACCOUNT",
        "ONACCOUNT_CLOSED",
        "LAYBY_CLOSED",
        "AWAITING_DISPATCH",
        "AWAITING_PICKUP",
        "DISPATCHED_CLOSED",
        "PICKED_UP_CLOSED",
        "SERVICE_CLOSED",
    }
)
#: Statuses of sales still being made: nothing to book yet.
OPEN_STATUSES = frozenset({"SAVED", "LAYBY", "SERVICE"})
VOIDED = "VOIDED"
#: The tender that carries the value of returned goods over to the new goods of an exchange.
EXCHANGE_METHOD = "exchange"
_FEE_ADJUSTMENTS = frozenset({"SURCHARGE", "NON_CASH_FEE"})


@dataclass(frozen=True)
class SaleContext:
    """What a sale needs from its account: currency, the outlet's tax setting, names for the
    outlet and register, tax rate names, payment method overrides, the discount product."""

    currency: str
    prices_include_tax: bool
    location: str = ""
    register: str = ""
    tax_rates: Mapping[str, tuple[str, Decimal]] = field(default_factory=dict)
    tax_groups: Mapping[str, tuple[str, Decimal]] = field(default_factory=dict)
    payment_methods: Mapping[str, Any] = field(default_factory=dict)
    discount_product_id: str = ""
    #: product id -> (sku, name, category) for lines that only carry a product id (API 2.0).
    products: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    #: retailer payment type id -> name, for payments that carry no name (0.9 payloads).
    payment_type_names: Mapping[str, str] = field(default_factory=dict)


def normalise(sale: Mapping[str, Any]) -> dict[str, Any]:
    """The API 2.0 shape of a sale. A 0.9 ``register_sale`` (webhook payloads are documented as
    "the same objects as API 0.9") names its lines ``register_sale_products`` and its payments
    ``register_sale_payments``; everything we read has the same name in both."""
    out = dict(sale)
    if "line_items" not in out and "register_sale_products" in out:
        out["line_items"] = out.get("register_sale_products")
    if "payments" not in out and "register_sale_payments" in out:
        out["payments"] = out.get("register_sale_payments")
    return out


def sale_identity(sale: Mapping[str, Any]) -> tuple[str, str]:
    """(sale id, revision) for the dedupe key: the ``version`` X-Series bumps on every change, or
    the update time for an object that carries no version."""
    sale_id = text(sale.get("id")).strip()
    if not sale_id:
        raise MalformedPayload("lightspeed_x: the sale has no id")
    version = sale.get("version")
    revision = f"v{version}" if version not in (None, "") else text(sale.get("updated_at"))
    if not revision:
        raise MalformedPayload(f"lightspeed_x: sale {sale_id} has neither a version nor an update time")
    return sale_id, revision


# -- lines ----------------------------------------------------------------------------------------


@dataclass
class _Line:
    """One line read from the sale, in raw (unrounded) magnitudes."""

    item: Mapping[str, Any]
    qty: Decimal
    net: Decimal  # after the line's own discount, ex tax
    tax: Decimal
    discount: Decimal  # the line's own discount, ex tax
    components: list[tuple[str, Decimal, Decimal]]  # (title, rate, raw amount)
    negative: bool
    extra_net: Decimal = ZERO  # share of a ticket discount, ex tax
    extra_tax: Decimal = ZERO  # share of the ticket discount's tax

    @property
    def rate(self) -> Decimal:
        """The line's combined tax rate (from the rates when known, else tax over net)."""
        rates = sum((c[1] for c in self.components), ZERO)
        if rates:
            return rates
        return self.tax / self.net if self.net else ZERO


def _components(item: Mapping[str, Any], ctx: SaleContext, tax: Decimal, what: str) -> list[Any]:
    comps = []
    for i, comp in enumerate(as_list(item.get("tax_components"), f"{what} tax_components")):
        comp = as_dict(comp, f"{what} tax component {i}")
        rate_id = text(comp.get("rate_id"))
        amount = abs(number(comp.get("total_tax"), f"{what} tax component total_tax"))
        title, rate = ctx.tax_rates.get(rate_id, (f"Tax {rate_id}", ZERO))
        comps.append((title, rate, amount))
    if comps:
        return comps
    tax_id = text(item.get("tax_id"))
    if tax_id in ctx.tax_groups:
        title, rate = ctx.tax_groups[tax_id]
        return [(title, rate, tax)]
    if item.get("tax_name"):  # a 0.9 line names its tax itself
        rate = optional_number(item, "tax_rate", f"{what} tax_rate") or ZERO
        return [(text(item["tax_name"]), rate, tax)]
    if tax:
        return [(f"Tax {tax_id}" if tax_id else "Tax", ZERO, tax)]
    return []


def _read_line(item: Any, ctx: SaleContext, index: int) -> _Line | None:
    what = f"line {index + 1}"
    item = as_dict(item, what)
    if text(item.get("status")).upper() == VOIDED:
        return None  # a line voided on the ticket is not part of the sale
    qty = number(item.get("quantity", 1), f"{what} quantity")
    price = optional_number(item, "price", f"{what} price") or ZERO
    net = optional_number(item, "price_total", f"{what} price_total")
    if net is None:
        net = price * qty
    tax = optional_number(item, "tax_total", f"{what} tax_total")
    if tax is None:
        tax = (optional_number(item, "tax", f"{what} tax") or ZERO) * qty
    discount = optional_number(item, "discount_total", f"{what} discount_total")
    if discount is None:
        discount = (optional_number(item, "discount", f"{what} discount") or ZERO) * qty
    if qty == 0 and net == 0 and tax == 0:
        return None
    negative = net < 0 or (net == 0 and qty < 0)
    return _Line(
        item=item,
        qty=abs(qty) or ONE,
        net=abs(net),
        tax=abs(tax),
        discount=abs(discount),
        components=_components(item, ctx, abs(tax), what),
        negative=negative,
    )


def _is_ticket_discount(line: _Line, ctx: SaleContext) -> bool:
    item = line.item
    if ctx.discount_product_id and text(item.get("product_id")) == ctx.discount_product_id:
        return True
    return line.negative and not item.get("is_return") and number(item.get("quantity", 1), "quantity") > 0


def _spread_ticket_discount(lines: list[_Line], discounts: list[_Line]) -> None:
    """Share the ticket discount lines' value and tax over ``lines`` in proportion to their value."""
    net_d = sum((d.net for d in discounts), ZERO)
    tax_d = sum((d.tax for d in discounts), ZERO)
    if not net_d and not tax_d:
        return
    if not lines:
        raise MalformedPayload("lightspeed_x: a sale-level discount on a ticket with nothing sold")
    total_net = sum((ln.net for ln in lines), ZERO)
    total_tax = sum((ln.tax for ln in lines), ZERO)
    for ln in lines:
        ln.extra_net = net_d * ln.net / total_net if total_net else net_d / len(lines)
        ln.extra_tax = tax_d * ln.tax / total_tax if total_tax else ZERO


def _round_all(values: list[Decimal], currency: str) -> list[Decimal]:
    """Round magnitudes so that they add up to the rounded total (largest remainder)."""
    if not values:
        return []
    total = money.quantize(sum(values, ZERO), currency)
    return money.allocate(total, values, currency)


def _line_items(lines: list[_Line], ctx: SaleContext, prefix: str) -> tuple[LineItem, ...]:
    """Canonical lines with exact rounding: after-discount amounts add up to the rounded total."""
    cur = ctx.currency
    inclusive = ctx.prices_include_tax
    taxes = _round_all([ln.tax - ln.extra_tax for ln in lines], cur)
    nets = _round_all([ln.net - ln.extra_net for ln in lines], cur)
    if inclusive:
        # What the customer saw: each line's amount after discounts, tax included.
        afters = _round_all([ln.net - ln.extra_net + ln.tax - ln.extra_tax for ln in lines], cur)
    else:
        afters = nets
    out = []
    for i, (ln, tax, after) in enumerate(zip(lines, taxes, afters, strict=True)):
        if inclusive:
            own = ln.discount * (ONE + ln.rate)
            discount = money.quantize(own + ln.extra_net + ln.extra_tax, cur)
        else:
            discount = money.quantize(ln.discount + ln.extra_net, cur)
        parts = (
            money.allocate(tax, [c[2] for c in ln.components], cur) if ln.components else []
        )  # fmt: skip
        item = ln.item
        product_id = text(item.get("product_id"))
        sku, name, category = ctx.products.get(product_id, ("", "", ""))
        out.append(
            LineItem(
                line_id=text(item.get("id")) or f"{prefix}{i + 1}",
                sku=text(item.get("sku")) or sku or product_id,
                name=text(item.get("name")) or name or product_id or "Item",
                category=text(item.get("category")) or category,
                quantity=ln.qty,
                unit_price=(after + discount) / ln.qty,
                discount=discount,
                tax_lines=tuple(
                    TaxLine(title=c[0], rate=c[1], amount=part)
                    for c, part in zip(ln.components, parts, strict=True)
                ),
            )
        )
    return tuple(out)


# -- charges, tips and tenders --------------------------------------------------------------------


def _adjustments(sale: Mapping[str, Any], ctx: SaleContext) -> tuple[list[LineItem], Decimal, list[Discount]]:
    """Fee lines (surcharges), tips and informational discounts from the sale's adjustments."""
    cur = ctx.currency
    fees: list[LineItem] = []
    tips = ZERO
    discounts: list[Discount] = []
    for i, adj in enumerate(as_list(sale.get("adjustments"), "adjustments")):
        adj = as_dict(adj, f"adjustment {i + 1}")
        kind = text(adj.get("adjustment_type") or adj.get("type")).upper()
        value = number(adj.get("value", 0), f"adjustment {i + 1} value")
        name = text(adj.get("name")) or kind.title()
        if kind == "TIP":
            tips += value
        elif kind in _FEE_ADJUSTMENTS and value:
            tax_lines = _charge_taxes(adj, ctx, ZERO, f"adjustment {i + 1}")
            tax = sum((t.amount for t in tax_lines), ZERO)
            net = money.quantize(abs(value), cur)
            fees.append(
                LineItem(
                    line_id=f"adjustment-{i + 1}",
                    sku="",
                    name=name,
                    category="surcharges",
                    quantity=ONE,
                    unit_price=net + tax if ctx.prices_include_tax else net,
                    tax_lines=tax_lines,
                    kind="fee",
                )
            )
        elif kind == "DISCOUNT" and value:
            discounts.append(Discount(code=name, amount=money.quantize(abs(value), cur), target="order"))
    return fees, money.quantize(tips, cur), discounts


def _charge_taxes(
    obj: Mapping[str, Any], ctx: SaleContext, fallback: Decimal, what: str
) -> tuple[TaxLine, ...]:
    """The tax lines of a charge (a surcharge or an eCom custom charge) from its tax components,
    named through the account's tax rates; one line for ``fallback`` when it has no components."""
    cur = ctx.currency
    lines = []
    for c in as_list(obj.get("tax_components"), f"{what} tax_components"):
        c = as_dict(c, f"{what} tax component")
        title, rate = ctx.tax_rates.get(text(c.get("rate_id")), (f"Tax {c.get('rate_id')}", ZERO))
        lines.append(
            TaxLine(
                title=title,
                rate=rate,
                amount=money.quantize(abs(number(c.get("total_tax"), f"{what} tax")), cur),
            )
        )
    if not lines and fallback:
        lines.append(TaxLine(title="Tax", rate=ZERO, amount=money.quantize(abs(fallback), cur)))
    return tuple(lines)


def _shipping(sale: Mapping[str, Any], ctx: SaleContext) -> tuple[ShippingLine, ...]:
    """eCom custom charges (shipping and the like) as shipping lines."""
    charges = sale.get("ecom_custom_charges")
    if not isinstance(charges, Mapping):
        return ()
    cur = ctx.currency
    out = []
    for i, charge in enumerate(as_list(charges.get("charges"), "ecom_custom_charges")):
        what = f"custom charge {i + 1}"
        charge = as_dict(charge, what)
        net = money.quantize(number(charge.get("total", 0), f"{what} total"), cur)
        tax_lines = _charge_taxes(charge, ctx, number(charge.get("total_tax", 0), f"{what} total_tax"), what)
        tax = sum((t.amount for t in tax_lines), ZERO)
        out.append(
            ShippingLine(
                title=text(charge.get("name")) or "Shipping",
                amount=net + tax if ctx.prices_include_tax else net,
                tax_lines=tax_lines,
            )
        )
    return tuple(out)


@dataclass
class _Method:
    """Payments of one method on a ticket: money in, money out, references."""

    name: str
    paid_in: Decimal = ZERO
    paid_out: Decimal = ZERO
    references: list[str] = field(default_factory=list)

    @property
    def net(self) -> Decimal:
        return self.paid_in - self.paid_out


def _methods(sale: Mapping[str, Any], ctx: SaleContext) -> list[_Method]:
    by_name: dict[str, _Method] = {}
    for i, payment in enumerate(as_list(sale.get("payments"), "payments")):
        payment = as_dict(payment, f"payment {i + 1}")
        if payment.get("deleted_at"):
            continue
        if not payment.get("name"):
            named = ctx.payment_type_names.get(text(payment.get("retailer_payment_type_id")))
            payment = {**payment, "name": named} if named else payment
        method = method_for(payment, ctx.payment_methods)
        if method == ON_ACCOUNT:
            continue  # the customer owes it: the journal books the unpaid rest to receivables
        amount = money.quantize(number(payment.get("amount", 0), f"payment {i + 1} amount"), ctx.currency)
        slot = by_name.setdefault(method, _Method(method))
        if amount >= 0:
            slot.paid_in += amount
        else:
            slot.paid_out += -amount
        if payment.get("id"):
            slot.references.append(text(payment["id"]))
    return list(by_name.values())


def _tender(
    method: str, amount: Decimal, *, change: Decimal = ZERO, references: list[str] | None = None
) -> Tender:
    return Tender(
        method=method,
        amount=amount,
        reference=",".join(references or [])[:120],
        kind="gift_card" if method in LIABILITY_METHODS else "payment",
        change=change,
    )


# -- documents ------------------------------------------------------------------------------------


def _common(sale: Mapping[str, Any], ctx: SaleContext) -> dict[str, Any]:
    metadata = {
        k: text(sale.get(k))
        for k in ("status", "invoice_number", "register_id", "outlet_id", "version", "return_for", "source")
        if sale.get(k) not in (None, "")
    }
    invoice = text(sale.get("invoice_number") or sale.get("receipt_number"))
    return {
        "occurred_at": parse_time(sale.get("sale_date") or sale.get("created_at"), "sale_date"),
        "currency": ctx.currency,
        "prices_include_tax": ctx.prices_include_tax,
        # Receipt numbers run per register: filed under the register so two registers' "1" differ.
        "number": f"{ctx.register}/{invoice}" if ctx.register and invoice else invoice,
        "location": ctx.location,
        "register": ctx.register,
        "source_updated_at": parse_time(sale["updated_at"], "updated_at") if sale.get("updated_at") else None,
        "metadata": metadata,
    }


def _lines_total(
    lines: tuple[LineItem, ...], shipping: tuple[ShippingLine, ...], tips: Decimal, ctx: SaleContext
) -> Decimal:
    total = sum((ln.gross(ctx.currency) - ln.discount for ln in lines), ZERO)
    total += sum((s.amount - s.discount for s in shipping), ZERO)
    if not ctx.prices_include_tax:
        total += sum((ln.tax() for ln in lines), ZERO) + sum((s.tax() for s in shipping), ZERO)
    return money.quantize(total + tips, ctx.currency)


def documents_from_sale(raw: Mapping[str, Any], ctx: SaleContext) -> list[CanonicalDocument]:
    """The canonical documents of one X-Series sale (see the module docstring)."""
    sale = normalise(as_dict(raw, "sale"))
    sale_id, _ = sale_identity(sale)
    status = text(sale.get("status")).upper()
    voided = status == VOIDED or bool(sale.get("deleted_at"))
    if not voided and status not in BOOKED_STATUSES:
        return []  # parked, lay-by or service sale still open (or a status we do not book)
    read = [
        ln
        for i, item in enumerate(as_list(sale.get("line_items"), "line_items"))
        if (ln := _read_line(item, ctx, i)) is not None
    ]
    ticket_discounts = [ln for ln in read if _is_ticket_discount(ln, ctx)]
    sold = [ln for ln in read if not ln.negative and ln not in ticket_discounts]
    returned = [ln for ln in read if ln.negative and ln not in ticket_discounts]
    _spread_ticket_discount(sold, ticket_discounts)
    fees, tips, discounts = _adjustments(sale, ctx)
    shipping = _shipping(sale, ctx)
    common = _common(sale, ctx)
    customer = Party(external_id=text(sale["customer_id"])) if sale.get("customer_id") else None
    methods = _methods(sale, ctx)
    if ticket_discounts:
        value = money.quantize(sum((d.net + (d.tax if ctx.prices_include_tax else ZERO) for d in ticket_discounts), ZERO), ctx.currency)  # fmt: skip
        discounts.append(Discount(code=text(ticket_discounts[0].item.get("name")) or "Sale discount",
                                  amount=value, target="order"))  # fmt: skip
    sale_lines = (*_line_items(sold, ctx, "L"), *fees)
    return_lines = _line_items(returned, ctx, "R")

    if voided:
        if returned and not sold:
            if any(m.net for m in methods):
                raise MalformedPayload(
                    f"lightspeed_x: return {sale_id} was voided after money was paid back; a refund "
                    "cannot be undone automatically: reverse it in the ledger by hand"
                )
            return []
        if not sale_lines:
            return []
        # A voided ticket books nothing; it keeps its lines so the document stays readable.
        total = _lines_total(sale_lines, shipping, tips, ctx)
        return [
            Sale(external_id=sale_id, total=total, lines=sale_lines, shipping=shipping, tips=tips,
                 discounts=tuple(discounts), customer=customer, status="voided", **common)
        ]  # fmt: skip

    docs: list[CanonicalDocument] = []
    if not returned:
        sale_doc = _sale_document(
            sale_id, sale_lines, shipping, tips, discounts, methods, customer, common, ctx
        )
        return [sale_doc]
    sold_total = _lines_total(sale_lines, shipping, tips, ctx) if sale_lines or shipping else ZERO
    returned_total = _lines_total(return_lines, (), ZERO, ctx)
    paid_in = sum((m.net for m in methods if m.net > 0), ZERO)
    paid_out = sum((-m.net for m in methods if m.net < 0), ZERO)
    # The value the returned goods carry over to the new goods (0 for a plain return).
    swapped = max(ZERO, sold_total - paid_in) if sale_lines else ZERO
    original = text(sale.get("return_for"))
    if sale_lines:
        tenders = [_tender(m.name, m.net, references=m.references) for m in methods if m.net > 0]
        if swapped:
            tenders.append(_tender(EXCHANGE_METHOD, swapped))
        docs.append(
            Sale(external_id=sale_id, total=sold_total, lines=sale_lines, shipping=shipping, tips=tips,
                 discounts=tuple(discounts), tenders=tuple(tenders), customer=customer, **common)
        )  # fmt: skip
    refund_tenders = [_tender(m.name, -m.net, references=m.references) for m in methods if m.net < 0]
    if swapped:
        refund_tenders.append(_tender(EXCHANGE_METHOD, swapped))
    refunded = paid_out + swapped
    if abs(refunded - returned_total) > money.quantum(ctx.currency) * max(1, len(return_lines)):
        raise MalformedPayload(
            f"lightspeed_x: return {sale_id} pays back {refunded} {ctx.currency} for goods worth "
            f"{returned_total} {ctx.currency}"
        )
    refund_common = {k: v for k, v in common.items() if k != "number"}
    docs.append(
        Refund(
            external_id=f"{sale_id}:return" if sale_lines else sale_id,
            sale_external_id=original or (sale_id if sale_lines else ""),
            total=refunded,
            lines=return_lines,
            tenders=tuple(refund_tenders),
            reason=text(sale.get("note")),
            restock=True,
            number=common["number"],
            **refund_common,
        )
    )
    return docs


def _sale_document(
    sale_id: str,
    lines: tuple[LineItem, ...],
    shipping: tuple[ShippingLine, ...],
    tips: Decimal,
    discounts: list[Discount],
    methods: list[_Method],
    customer: Party | None,
    common: dict[str, Any],
    ctx: SaleContext,
) -> Sale:
    """A plain sale: tenders per method (cash change on ``Tender.change``); the total is what the
    customer paid, or the value of the goods when part of it is on account."""
    tenders = []
    for m in methods:
        if m.net < 0:
            raise MalformedPayload(
                f"lightspeed_x: sale {sale_id} pays out {-m.net} {ctx.currency} by {m.name} with "
                "nothing returned"
            )
        if m.net == 0 and not m.paid_in:
            continue
        tenders.append(
            _tender(m.name, m.net, change=m.paid_out if m.paid_in else ZERO, references=m.references)
        )
    paid = sum((t.amount for t in tenders), ZERO)
    goods = _lines_total(lines, shipping, tips, ctx)
    # Paid in full: the payments are the truth (the lines' rounding goes to the rounding account).
    # Part on account: the goods' value, the rest is receivable.
    total = (
        paid if abs(goods - paid) <= money.quantum(ctx.currency) * max(1, len(lines)) else max(paid, goods)
    )
    if common["metadata"].get("status") in ("ONACCOUNT", "ONACCOUNT_CLOSED") and goods > paid:
        total = goods
    return Sale(external_id=sale_id, total=total, lines=lines, shipping=shipping, tips=tips,
                discounts=tuple(discounts), tenders=tuple(tenders), customer=customer, **common)  # fmt: skip
