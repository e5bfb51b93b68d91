"""WooCommerce taxes: rate titles, and the rounded order-level amounts shared out over the lines.

WooCommerce keeps two views of tax. ``tax_lines[]`` has one entry per tax rate with the rounded
amounts the customer's invoice shows (``tax_total`` for goods and fees, ``shipping_tax_total`` for
shipping). Each line's ``taxes[]`` has the same rates with the *stored* per-line amounts, which are
unrounded when the store rounds tax at subtotal. We book the invoice's per-rate amounts exactly and
use the per-line amounts only to share each rate out over its lines
(:func:`connectors.sources.woocommerce.values.spread`), so every rate adds up to the cent and the
lines add up to the order's ``total_tax``.

A rate's title is its ``label`` with the percentage added when the label does not already say it
(``VAT`` at 20 % -> ``VAT 20%``): stores often label every rate "VAT" or "Tax", and the mapping of
tax rates to tax codes is made by title.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from integrator.canonical import TaxLine

from . import values as v

__all__ = ["Rate", "rates_of", "share_taxes"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class Rate:
    """One tax rate of an order (or refund): its title, rate as a fraction, code and the rounded
    amounts charged on goods and fees (``goods``) and on shipping (``shipping``)."""

    rate_id: str
    title: str
    rate: Decimal
    code: str
    goods: Decimal
    shipping: Decimal


def _title(label: str, percent: Decimal | None) -> str:
    label = label.strip() or "Tax"
    if percent is None or any(ch.isdigit() for ch in label):
        return label
    return f"{label} {percent.normalize():f}%"


def rates_of(obj: Mapping[str, Any], currency: str, *, sign: int = 1) -> dict[str, Rate]:
    """The tax rates in ``obj["tax_lines"]`` by rate id; ``sign=-1`` for a refund's negative ones."""
    rates: dict[str, Rate] = {}
    for line in v.objects(obj, "tax_lines"):
        rate_id = str(line.get("rate_id") or line.get("id") or "")
        raw_percent = line.get("rate_percent")
        percent = v.weight(raw_percent, "tax rate_percent") if raw_percent not in (None, "") else None
        goods = sign * v.amount(line.get("tax_total"), currency, "tax_lines tax_total")
        shipping = sign * v.amount(line.get("shipping_tax_total"), currency, "tax_lines shipping_tax_total")
        if rate_id in rates:  # the same rate listed twice (seen with some tax plugins): add up
            known = rates[rate_id]
            rates[rate_id] = Rate(
                rate_id, known.title, known.rate, known.code, known.goods + goods, known.shipping + shipping
            )
            continue
        rates[rate_id] = Rate(
            rate_id=rate_id,
            title=_title(str(line.get("label") or ""), percent),
            rate=(percent / 100) if percent is not None else ZERO,
            code=str(line.get("rate_code") or ""),
            goods=goods,
            shipping=shipping,
        )
    return rates


def _line_weights(item: Mapping[str, Any], sign: int) -> dict[str, Decimal]:
    """A line's own per-rate tax amounts (raw), keyed by rate id."""
    return {
        str(t.get("id")): sign * v.weight(t.get("total"), "line tax total")
        for t in v.objects(item, "taxes")
        if t.get("id") is not None
    }


def share_taxes(
    items: Sequence[Mapping[str, Any]],
    rates: Mapping[str, Rate],
    currency: str,
    *,
    shipping: bool,
    sign: int = 1,
) -> list[tuple[TaxLine, ...]]:
    """The tax lines of each item: every rate's rounded amount (goods or shipping) shared out over
    the items that carry that rate, in proportion to their own stored amounts.

    An item listing a rate keeps a tax line for it even when its share is zero (a zero-rated line
    still tells the ledger which tax code applies). A rate charged on no item (a plugin that only
    writes order-level tax) goes to the first item, so nothing is lost.
    """
    weights = [_line_weights(item, sign) for item in items]
    per_item: list[list[TaxLine]] = [[] for _ in items]
    for rate_id, rate in rates.items():
        total = rate.shipping if shipping else rate.goods
        holders = [i for i, w in enumerate(weights) if rate_id in w]
        if not holders:
            if total and items:
                per_item[0].append(TaxLine(rate.title, rate.rate, total, rate.code))
            continue
        parts = v.spread(total, [weights[i][rate_id] for i in holders], currency)
        for i, part in zip(holders, parts, strict=True):
            per_item[i].append(TaxLine(rate.title, rate.rate, part, rate.code))
    return [tuple(lines) for lines in per_item]
