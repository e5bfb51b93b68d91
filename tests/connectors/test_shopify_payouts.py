"""Shopify Payments payouts: items from balance transactions, fees separable, totals exact.

A payout record is what ``ShopifySource.pull`` yields (Shopify's REST API has no payout webhook):
``{"payout": <payouts.json entry>, "transactions": [<balance transactions of that payout>]}``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.base import MalformedPayload
from integrator.canonical import Payout
from tests.fixtures.shopify import make_source, payout_record


def dec(value: str) -> Decimal:
    return Decimal(value)


def only_payout(docs: list[object]) -> Payout:
    (payout,) = docs
    assert isinstance(payout, Payout)
    return payout


def test_payout_items_sum_to_the_deposit_and_fees_are_separable() -> None:
    payout = only_payout(make_source("GBP").parse_event("payout", payout_record()))
    assert (payout.external_id, payout.currency, payout.amount, payout.status) == (
        "98765432101",
        "GBP",
        dec("123.42"),
        "paid",
    )
    assert sum(i.net for i in payout.items) == payout.amount
    assert payout.fees() == dec("3.06")
    assert payout.gross() - payout.fees() == payout.amount
    assert all(i.net == i.amount - i.fee for i in payout.items)
    assert [i.type for i in payout.items] == ["charge", "charge", "charge", "refund", "adjustment"]
    assert payout.items[0].source_id == "5860841300002" and payout.items[-1].source_id == ""
    assert payout.arrival_date is not None and payout.arrival_date.isoformat() == "2024-11-08"
    assert payout.occurred_at.tzinfo is not None


def test_payout_summary_matches_the_items_per_type() -> None:
    record = payout_record()
    payout = only_payout(make_source("GBP").parse_event("payouts/paid", record))
    summary = record["payout"]["summary"]
    for shopify_type, prefix in (("charge", "charges"), ("refund", "refunds"), ("adjustment", "adjustments")):
        items = [i for i in payout.items if i.type == shopify_type]
        assert sum(i.amount for i in items) == dec(summary[f"{prefix}_gross_amount"])
        assert sum(i.fee for i in items) == dec(summary[f"{prefix}_fee_amount"])


def test_payout_with_missing_balance_transactions_is_refused() -> None:
    record = payout_record()
    record["transactions"] = record["transactions"][1:]
    with pytest.raises(MalformedPayload, match="net"):
        make_source("GBP").parse_event("payout", record)


def test_payout_status_mapping() -> None:
    payout = only_payout(make_source("GBP").parse_event("payout", payout_record(status="in_transit")))
    assert payout.status == "in_transit"
    with pytest.raises(MalformedPayload):
        make_source("GBP").parse_event("payout", payout_record(status="lost_in_space"))
