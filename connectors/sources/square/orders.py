"""Square ``Order`` -> canonical :class:`~integrator.canonical.Sale`, and a return order's lines.

How Square's order maps onto the canonical conventions:

* A line's price is ``base_price_money`` per unit plus its modifiers; its gross is the variation
  total plus the modifiers' totals, which Square states per line. We do not use
  ``gross_sales_money``: Square computes it differently by region when a tax is inclusive (tax
  taken out in the US, Canada and Japan, left in elsewhere).
* ``total_discount_money`` on a line already holds that line's share of order-level discounts
  (Square apportions ORDER-scoped discounts to lines), so it is the line's ``discount`` as is.
* Each ``applied_taxes`` entry becomes a :class:`TaxLine` with the order-level tax's name and
  percentage. ``ADDITIVE`` taxes mean ``prices_include_tax=False``, ``INCLUSIVE`` ones ``True``.
  Square allows both in one order; the canonical sale has one flag, and converting one kind into
  the other cannot be done to the cent, so such an order is refused for a person to handle.
* Service charges become ``fee`` lines; a positive cash-rounding adjustment becomes a fee line.
* Tips come from the tenders (``tip_money``), and every tender is a :class:`Tender` with its
  processing fee and the payment id as reference.

Before a sale is returned it is checked against Square's own totals (``total_money``,
``total_tax_money``, ``total_discount_money``, ``total_tip_money``): if our reading does not give
Square's numbers to the cent, the order is refused (``MalformedPayload``) instead of booked wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from connectors.base import MalformedPayload
from connectors.sources.square.amounts import (
    as_dict,
    as_list,
    money_amount,
    money_currency,
    parse_quantity,
    parse_time,
)
from integrator import money
from integrator.canonical import Discount, LineItem, Party, Sale, TaxLine, Tender

__all__ = ["ReturnLines", "return_lines", "sale_from_order", "tender_method"]

ZERO = Decimal(0)
_DISCOUNT_TARGETS: dict[str, Literal["line", "order"]] = {"LINE_ITEM": "line", "ORDER": "order"}


def sale_from_order(order: Mapping[str, Any]) -> Sale | None:
    """The sale a COMPLETED order records, or ``None`` for an order that is not a sale.

    ``None`` for an order that is not COMPLETED (still open, or canceled) and for a pure return
    order (no line items, only ``returns``): its money comes to us as a refund event.
    """
    order_id = _required_str(order, "id", "order")
    if order.get("state") != "COMPLETED":
        return None
    line_items = as_list(order.get("line_items"), f"order {order_id} line_items")
    returns = as_list(order.get("returns"), f"order {order_id} returns")
    if not line_items and returns:
        return None
    if line_items and returns:
        raise MalformedPayload(
            f"square: order {order_id} is an exchange (sale and return in one order); "
            "book it by hand, the connector does not split exchanges"
        )
    currency = money_currency(order.get("total_money"), f"order {order_id} total_money")
    taxes = _by_uid(order.get("taxes"), f"order {order_id} taxes")
    charges = as_list(order.get("service_charges"), f"order {order_id} service_charges")
    lines = [_line(li, currency, taxes, f"order {order_id} line {i}") for i, li in enumerate(line_items)]
    lines += [
        _service_charge(sc, currency, taxes, f"order {order_id} service charge {i}")
        for i, sc in enumerate(charges)
    ]
    rounding = _rounding(order.get("rounding_adjustment"), currency, f"order {order_id}")
    if rounding:
        lines.append(rounding)
    inclusive = _prices_include_tax(taxes, [*line_items, *charges], f"order {order_id}")
    raw_tenders = as_list(order.get("tenders"), f"order {order_id} tenders")
    tenders = tuple(_tender(t, currency, f"order {order_id} tender {i}") for i, t in enumerate(raw_tenders))
    tips = _tips(raw_tenders, order, currency)
    total = money_amount(order.get("total_money"), currency, f"order {order_id} total_money")
    sale = Sale(
        external_id=order_id,
        occurred_at=parse_time(
            order.get("closed_at") or order.get("updated_at") or order.get("created_at"),
            f"order {order_id} closed_at",
        ),
        currency=currency,
        total=total,
        lines=tuple(lines),
        prices_include_tax=inclusive,
        number=str(order.get("reference_id") or order.get("ticket_name") or ""),
        discounts=tuple(_discounts(order.get("discounts"), currency, f"order {order_id}")),
        tenders=tenders,
        tips=tips,
        customer=Party(external_id=str(order["customer_id"])) if order.get("customer_id") else None,
        status="completed",
        source_updated_at=parse_time(order["updated_at"], "updated_at") if order.get("updated_at") else None,
        metadata=_metadata(order),
    )
    _check_against_square(sale, order)
    return sale


@dataclass(frozen=True)
class ReturnLines:
    """The itemised part of a return order: lines (with their taxes), the tax treatment, and the
    sale order the items came from."""

    lines: tuple[LineItem, ...]
    prices_include_tax: bool
    source_order_id: str

    def total(self, currency: str) -> Decimal:
        """What the returned lines give back, tax included."""
        value = sum((ln.gross(currency) - ln.discount for ln in self.lines), ZERO)
        if not self.prices_include_tax:
            value += sum((ln.tax() for ln in self.lines), ZERO)
        return money.quantize(value, currency)


def return_lines(order: Mapping[str, Any], currency: str) -> ReturnLines | None:
    """The returned lines of a return order (the order Square creates for a refund), if itemised.

    ``None`` when the order carries no ``returns`` or mixes tax treatments: the refund is then
    booked as an amount without lines.
    """
    order_id = str(order.get("id") or "")
    lines: list[LineItem] = []
    raw_items: list[Any] = []
    taxes: dict[str, Mapping[str, Any]] = {}
    source = ""
    for ret in as_list(order.get("returns"), f"return order {order_id} returns"):
        ret = as_dict(ret, f"return order {order_id} return")
        source = source or str(ret.get("source_order_id") or "")
        taxes.update(_by_uid(ret.get("return_taxes"), "return_taxes"))
        items = as_list(ret.get("return_line_items"), "return_line_items")
        charges = as_list(ret.get("return_service_charges"), "return_service_charges")
        raw_items += [*items, *charges]
        for i, item in enumerate(items):
            lines.append(
                _line(
                    item, currency, taxes, f"return order {order_id} line {i}", gross_key="gross_return_money"
                )
            )
        for i, charge in enumerate(charges):
            lines.append(
                _service_charge(charge, currency, taxes, f"return order {order_id} service charge {i}")
            )
    if not lines:
        return None
    try:
        inclusive = _prices_include_tax(taxes, raw_items, f"return order {order_id}")
    except MalformedPayload:
        return None
    return ReturnLines(tuple(lines), inclusive, source)


def tender_method(source_type: str, card: Mapping[str, Any] | None, wallet_brand: str = "") -> str:
    """Our payment-method name: the card brand for cards (``visa``), else Square's type (``cash``)."""
    kind = (source_type or "").upper()
    if kind == "CARD" and card and card.get("card_brand"):
        return str(card["card_brand"]).lower()
    if kind == "WALLET" and wallet_brand:
        return wallet_brand.lower()
    if kind == "SQUARE_GIFT_CARD":
        return "gift_card"
    return kind.lower() or "other"


# -- pieces -------------------------------------------------------------------------------------


def _line(
    item: Any,
    currency: str,
    taxes: Mapping[str, Mapping[str, Any]],
    what: str,
    *,
    gross_key: str = "",
) -> LineItem:
    """One product line (sale or return) with its discount and taxes."""
    item = as_dict(item, what)
    quantity = parse_quantity(item.get("quantity"), what)
    base = money_amount(item.get("base_price_money"), currency, f"{what} base_price_money", required=False)
    modifiers = as_list(item.get("modifiers") or item.get("return_modifiers"), f"{what} modifiers")
    unit_price = base
    modifiers_total = ZERO
    for j, mod in enumerate(modifiers):
        mod = as_dict(mod, f"{what} modifier {j}")
        mod_base = money_amount(mod.get("base_price_money"), currency, f"{what} modifier {j}", required=False)
        unit_price += mod_base * Decimal(str(mod.get("quantity") or "1"))
        modifiers_total += money_amount(
            mod.get("total_price_money"), currency, f"{what} modifier {j} total", required=False
        )
    if item.get("variation_total_price_money") is not None:
        gross = (
            money_amount(item["variation_total_price_money"], currency, f"{what} variation total")
            + modifiers_total
        )
    elif gross_key and item.get(gross_key) is not None:
        gross = money_amount(item[gross_key], currency, f"{what} {gross_key}")
    else:
        gross = money.quantize(quantity * base, currency) + modifiers_total
    name = str(item.get("name") or "Item")
    variation = str(item.get("variation_name") or "")
    if variation and variation.lower() != "regular":
        name = f"{name} ({variation})"
    if money.quantize(quantity * unit_price, currency) != gross:
        # A measured quantity whose price Square rounded differently from quantity x unit price:
        # keep the money exact and record the real quantity in the name.
        name = f"{name} x {quantity.normalize()}"
        quantity, unit_price = Decimal(1), gross
    kind: Literal["product", "gift_card"] = "gift_card" if item.get("item_type") == "GIFT_CARD" else "product"
    return LineItem(
        line_id=str(item.get("uid") or ""),
        sku=str(item.get("catalog_object_id") or ""),
        name=name,
        quantity=quantity,
        unit_price=unit_price,
        discount=money_amount(item.get("total_discount_money"), currency, f"{what} discount", required=False),
        tax_lines=_tax_lines(item.get("applied_taxes"), currency, taxes, what),
        kind=kind,
    )


def _service_charge(
    charge: Any, currency: str, taxes: Mapping[str, Mapping[str, Any]], what: str
) -> LineItem:
    """A service charge as a ``fee`` line: ``applied_money`` is its price (inclusive tax in it)."""
    charge = as_dict(charge, what)
    amount = money_amount(
        charge.get("applied_money") or charge.get("amount_money"), currency, f"{what} applied_money"
    )
    return LineItem(
        line_id=str(charge.get("uid") or ""),
        sku=str(charge.get("catalog_object_id") or ""),
        name=str(charge.get("name") or "Service charge"),
        quantity=Decimal(1),
        unit_price=amount,
        tax_lines=_tax_lines(charge.get("applied_taxes"), currency, taxes, what),
        kind="fee",
    )


def _tax_lines(
    applied: Any, currency: str, taxes: Mapping[str, Mapping[str, Any]], what: str
) -> tuple[TaxLine, ...]:
    result = []
    for j, ref in enumerate(as_list(applied, f"{what} applied_taxes")):
        ref = as_dict(ref, f"{what} applied tax {j}")
        uid = str(ref.get("tax_uid") or "")
        tax = taxes.get(uid)
        if tax is None:
            raise MalformedPayload(f"square: {what} applies tax {uid!r} that the order does not list")
        amount = money_amount(ref.get("applied_money"), currency, f"{what} tax {uid}", required=False)
        result.append(
            TaxLine(
                title=str(tax.get("name") or "Tax"),
                rate=_rate(tax, what),
                amount=amount,
                code=str(tax.get("catalog_object_id") or uid),
            )
        )
    return tuple(result)


def _rate(tax: Mapping[str, Any], what: str) -> Decimal:
    """Square's ``percentage`` string (``"8.875"``) as a fraction (``0.08875``)."""
    raw = tax.get("percentage")
    if raw in (None, ""):
        return ZERO
    try:
        return Decimal(str(raw)) / 100
    except ArithmeticError as exc:
        raise MalformedPayload(f"square: {what} tax percentage {raw!r} is not a number") from exc


def _prices_include_tax(taxes: Mapping[str, Mapping[str, Any]], items: list[Any], what: str) -> bool:
    """True when every tax applied is INCLUSIVE, False when every one is ADDITIVE (or none).

    ``items`` are the raw line items / service charges (or their return counterparts); only the
    taxes they actually apply count, so an unused catalogue tax on the order changes nothing.
    """
    used = {
        str(ref.get("tax_uid"))
        for item in items
        if isinstance(item, Mapping)
        for ref in as_list(item.get("applied_taxes"), f"{what} applied_taxes")
        if isinstance(ref, Mapping)
    }
    kinds = {str(taxes[uid].get("type") or "ADDITIVE") for uid in used if uid in taxes}
    if kinds - {"ADDITIVE", "INCLUSIVE"}:
        raise MalformedPayload(f"square: {what} has a tax of unknown type {sorted(kinds)}")
    if len(kinds) > 1:
        raise MalformedPayload(
            f"square: {what} mixes inclusive and additive taxes; one sale cannot carry both to the cent"
        )
    return kinds == {"INCLUSIVE"}


def _rounding(raw: Any, currency: str, what: str) -> LineItem | None:
    """Square's cash-rounding adjustment (documented as positive) as a fee line, if any."""
    if raw is None:
        return None
    amount = money_amount(
        as_dict(raw, f"{what} rounding_adjustment").get("amount_money"),
        currency,
        f"{what} rounding",
        required=False,
    )
    if amount < 0:
        raise MalformedPayload(f"square: {what} has a negative rounding adjustment")
    if amount == 0:
        return None
    return LineItem(
        line_id=str(raw.get("uid") or "rounding"),
        sku="",
        name=str(raw.get("name") or "Cash rounding"),
        quantity=Decimal(1),
        unit_price=amount,
        kind="fee",
    )


def _tender(tender: Any, currency: str, what: str) -> Tender:
    tender = as_dict(tender, what)
    kind = str(tender.get("type") or "")
    card = (
        (tender.get("card_details") or {}).get("card")
        if isinstance(tender.get("card_details"), Mapping)
        else None
    )
    return Tender(
        method=tender_method(kind, card),
        amount=money_amount(tender.get("amount_money"), currency, f"{what} amount_money"),
        gateway="square",
        reference=str(tender.get("payment_id") or tender.get("id") or ""),
        fee=money_amount(tender.get("processing_fee_money"), currency, f"{what} fee", required=False),
        kind="gift_card" if kind == "SQUARE_GIFT_CARD" else "payment",
    )


def _tips(raw_tenders: list[Any], order: Mapping[str, Any], currency: str) -> Decimal:
    """The tip: a tender's amount includes its tip, so the order's tips are the tenders' tips."""
    if not raw_tenders:
        return money_amount(order.get("total_tip_money"), currency, "total_tip_money", required=False)
    return sum(
        (
            money_amount(as_dict(t, "tender").get("tip_money"), currency, "tender tip", required=False)
            for t in raw_tenders
        ),
        ZERO,
    )


def _discounts(raw: Any, currency: str, what: str) -> list[Discount]:
    result = []
    for j, d in enumerate(as_list(raw, f"{what} discounts")):
        d = as_dict(d, f"{what} discount {j}")
        scope = _DISCOUNT_TARGETS.get(str(d.get("scope") or ""), "order")
        amount = money_amount(d.get("applied_money"), currency, f"{what} discount {j}", required=False)
        result.append(Discount(code=str(d.get("name") or d.get("uid") or ""), amount=amount, target=scope))
    return result


def _by_uid(raw: Any, what: str) -> dict[str, Mapping[str, Any]]:
    result: dict[str, Mapping[str, Any]] = {}
    for j, obj in enumerate(as_list(raw, what)):
        obj = as_dict(obj, f"{what} {j}")
        uid = obj.get("uid")
        if not isinstance(uid, str) or not uid:
            raise MalformedPayload(f"square: {what} {j} has no uid")
        result[uid] = obj
    return result


def _metadata(order: Mapping[str, Any]) -> dict[str, str]:
    # Only what stays put: Square bumps an order's version for fulfilment or refund bookkeeping,
    # and a changed metadata value would make the core see a new revision of an unchanged sale.
    meta = {"location_id": str(order.get("location_id") or "")}
    source = order.get("source")
    if isinstance(source, Mapping) and source.get("name"):
        meta["source"] = str(source["name"])
    return meta


def _required_str(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"square: {what} has no {key}")
    return value


def _check_against_square(sale: Sale, order: Mapping[str, Any]) -> None:
    """Refuse a sale whose amounts differ from the totals Square states on the order."""
    cur = sale.currency
    tax = sum((ln.tax() for ln in sale.lines), ZERO)
    discount = sum((ln.discount for ln in sale.lines), ZERO)
    computed = sum((ln.gross(cur) - ln.discount for ln in sale.lines), ZERO) + sale.tips
    if not sale.prices_include_tax:
        computed += tax
    checks = [
        ("total_money", computed, sale.total),
        ("total_tax_money", tax, order.get("total_tax_money")),
        ("total_discount_money", discount, order.get("total_discount_money")),
        ("total_tip_money", sale.tips, order.get("total_tip_money")),
    ]
    for label, ours, theirs in checks:
        if theirs is None:
            continue
        stated = theirs if isinstance(theirs, Decimal) else money_amount(theirs, cur, label, required=False)
        if money.quantize(ours, cur) != stated:
            raise MalformedPayload(
                f"square: order {sale.external_id}: the lines give {label} {ours} {cur}, "
                f"Square says {stated} {cur}"
            )
