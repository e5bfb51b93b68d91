"""Shopify Payments payout -> canonical :class:`~integrator.canonical.Payout`.

Shopify's REST API has no payout webhook, so payouts come from the pull: one record per payout,
``{"payout": <shopify_payments/payouts.json entry>, "transactions": [<balance transactions with
that payout_id>]}``. Each balance transaction (``charge``, ``refund``, ``adjustment``, ``dispute``,
``reserve``, ...) becomes a :class:`~integrator.canonical.PayoutItem`; the ``payout`` transaction
itself (the withdrawal of the payout from the balance) is the payout, not an item.

``net`` is what moved the balance, so it is taken as Shopify sends it and the fee is
``amount - net``: that keeps ``net = amount - fee`` exact even where Shopify's example data signs a
fee oddly. The items' nets must add up to the payout amount (the bank deposit); if they do not, the
record is refused rather than booked with a hole in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import MalformedPayload
from integrator import money
from integrator.canonical import Payout, PayoutItem

from . import values as v

__all__ = ["PAYOUT_STATUSES", "parse_payout"]

# Shopify payout status -> ours (paid / in_transit / failed). A scheduled payout has not left yet but
# its balance transactions are settled; a cancelled one never reaches the bank.
PAYOUT_STATUSES = {
    "paid": "paid",
    "in_transit": "in_transit",
    "scheduled": "in_transit",
    "failed": "failed",
    "canceled": "failed",
    "cancelled": "failed",
}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MalformedPayload(f"shopify: unknown timezone {name!r}") from exc


def parse_payout(record: Mapping[str, Any], timezone: str = "UTC") -> Payout:
    """A pulled payout record as a canonical Payout; ``timezone`` is the channel's (the payout
    ``date`` is a calendar day in the shop's zone)."""
    payout = v.as_mapping(record.get("payout"), "payout")
    payout_id = v.external_id(payout.get("id"), "payout id")
    try:
        cur = money.normalize_currency(payout.get("currency", ""))
    except money.UnknownCurrency as exc:
        raise MalformedPayload(f"shopify: payout currency: {exc}") from exc
    status = PAYOUT_STATUSES.get(str(payout.get("status")))
    if status is None:
        raise MalformedPayload(f"shopify: unknown payout status {payout.get('status')!r}")
    try:
        day = date.fromisoformat(str(payout.get("date")))
    except ValueError as exc:
        raise MalformedPayload(f"shopify: bad payout date {payout.get('date')!r}") from exc
    total = v.amount(payout.get("amount"), cur, "payout amount")

    items = []
    for bt in v.objects(record, "transactions"):
        if str(bt.get("payout_id")) != payout_id:
            raise MalformedPayload(
                f"shopify: balance transaction {bt.get('id')} is not in payout {payout_id}"
            )
        if bt.get("type") == "payout":
            continue
        if str(bt.get("currency", cur)).upper() != cur:
            raise MalformedPayload(f"shopify: balance transaction {bt.get('id')} is not in {cur}")
        gross = v.amount(bt.get("amount"), cur, "balance transaction amount")
        net = v.amount(bt.get("net"), cur, "balance transaction net")
        order_id = bt.get("source_order_id")
        items.append(
            PayoutItem(
                type=str(bt.get("type") or ""),
                amount=gross,
                fee=gross - net,
                net=net,
                source_id=str(order_id) if order_id is not None else "",
                description=f"{bt.get('source_type') or ''} {bt.get('source_id') or ''}".strip(),
            )
        )
    item_net = sum((i.net for i in items), money.zero(cur))
    if item_net != total:
        raise MalformedPayload(
            f"shopify: payout {payout_id} is {total} {cur} but its balance transactions net {item_net}"
        )
    return Payout(
        external_id=payout_id,
        occurred_at=datetime.combine(day, time(0), tzinfo=_zone(timezone)),
        currency=cur,
        amount=total,
        status=status,
        arrival_date=day,
        items=tuple(items),
        metadata={"shopify_status": str(payout.get("status"))},
    )
