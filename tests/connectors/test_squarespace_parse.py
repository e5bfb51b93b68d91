"""Squarespace orders + transactions Documents to canonical documents, to the minor unit.

Expected figures are worked out by hand in each test from what the merchant sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from connectors.base import MalformedPayload
from connectors.sandbox.squarespace import SquarespaceSandbox
from integrator.canonical import CanonicalDocument, ExchangeRate, Refund, Sale
from integrator.services.transactions import expected_total, validate_document
from tests.fixtures.squarespace import load, make_source, pair

D = Decimal
CENT = D("0.01")


def _docs(order: dict[str, Any], document: dict[str, Any] | None, **settings: Any) -> list[CanonicalDocument]:
    return make_source(**settings).parse_event("order.update", {"order": order, "document": document})


def _sale(name: str, **settings: Any) -> Sale:
    sale = _docs(*pair(name), **settings)[0]
    assert isinstance(sale, Sale)
    return sale


def _tax(amount: Decimal, rate: str) -> Decimal:
    return (amount * D(rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def test_sale_with_a_promo_two_tax_rates_and_shipping_to_the_cent() -> None:
    # 2 table runners at 45.00 and a shea butter at 12.50; HARVEST10 takes 10 % off each line;
    # New York State 4 % and New York City 4.875 % on each line and on the 8.00 shipping.
    runners, shea, shipping = D("90.00"), D("12.50"), D("8.00")
    runners_net, shea_net = runners - D("9.00"), shea - D("1.25")
    state = [_tax(x, "0.04") for x in (runners_net, shea_net, shipping)]
    city = [_tax(x, "0.04875") for x in (runners_net, shea_net, shipping)]
    assert (state, city) == ([D("3.24"), D("0.45"), D("0.32")], [D("3.95"), D("0.55"), D("0.39")])
    total = runners_net + shea_net + shipping + sum(state) + sum(city)
    assert total == D("109.15")

    sale = _sale("two_taxes")
    assert (sale.external_id, sale.number, sale.currency, sale.total) == (
        "6571f2a9c3e84d1b2a7f9e01",
        "1042",
        "USD",
        total,
    )
    assert sale.prices_include_tax is False
    runner, butter = sale.lines
    assert (runner.name, runner.quantity, runner.unit_price, runner.discount) == (
        "Kente table runner (180 cm)", D(2), D("45.00"), D("9.00"),
    )  # fmt: skip
    assert [(t.title, t.rate, t.amount) for t in runner.tax_lines] == [
        ("New York State Tax", D("0.04"), state[0]),
        ("New York City Tax", D("0.04875"), city[0]),
    ]
    assert butter.gross("USD") - butter.discount == shea_net and butter.tax() == state[1] + city[1]
    (ship,) = sale.shipping
    assert (ship.title, ship.amount, ship.tax()) == ("Flat Rate", shipping, state[2] + city[2])
    assert [(d.code, d.amount) for d in sale.discounts] == [("HARVEST10", D("10.25"))]
    (card,) = sale.tenders
    # Processing fee 2.9 % + 0.30 on 109.15 = 3.465... -> 3.47, recorded on the tender.
    assert (card.method, card.gateway, card.amount, card.fee) == ("stripe", "STRIPE VISA", total, D("3.47"))
    assert card.reference == "ch_3QhN8qLkdIwHu7ix3Su7Zc5f"
    assert sale.metadata["processing_fees"] == "3.47"
    assert sale.customer is not None and sale.customer.email == "ama.owusu@example.com"
    assert expected_total(sale) == total and validate_document(sale) == []


def test_a_partial_refund_is_an_amount_unless_the_channel_shares_it_out() -> None:
    order = load("order_two_taxes_usd")
    _, refund = _docs(order, load("document_partial_refund_usd"))
    assert isinstance(refund, Refund)
    # Squarespace says 30.00 went back, not what for: the whole amount is an adjustment.
    assert (refund.total, refund.adjustment, refund.lines, refund.shipping) == (
        D("30.00"),
        D("30.00"),
        (),
        (),
    )
    assert (refund.external_id, refund.sale_external_id) == (
        "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
        order["id"],
    )
    assert [(t.method, t.amount, t.fee) for t in refund.tenders] == [("stripe", D("30.00"), D(0))]
    assert refund.occurred_at.isoformat() == "2026-11-24T10:30:01.774000+00:00"

    _, shared = _docs(order, load("document_partial_refund_usd"), refund_allocation="proportional")
    assert isinstance(shared, Refund)
    # 30.00 over the sale's parts in proportion (3000 cents x part / 109.15, rounded down, the 4
    # cents left going to the largest remainders: shipping 2.20, its state tax, its city tax, the
    # runners' city tax):
    #   runners 81.00 -> 22.26, state 3.24 -> 0.89, city 3.95 -> 1.09
    #   shea    11.25 ->  3.09, state 0.45 -> 0.12, city 0.55 -> 0.15
    #   ship     8.00 ->  2.20, state 0.32 -> 0.09, city 0.39 -> 0.11
    assert [(ln.unit_price, [t.amount for t in ln.tax_lines]) for ln in shared.lines] == [
        (D("22.26"), [D("0.89"), D("1.09")]),
        (D("3.09"), [D("0.12"), D("0.15")]),
    ]
    assert [(s.amount, [t.amount for t in s.tax_lines]) for s in shared.shipping] == [
        (D("2.20"), [D("0.09"), D("0.11")])
    ]
    assert (shared.total, shared.adjustment, shared.prices_include_tax) == (D("30.00"), D(0), False)
    assert validate_document(refund) == [] and validate_document(shared) == []


def test_a_shipping_only_refund_cannot_be_told_apart_and_is_an_amount() -> None:
    _, refund = _docs(load("order_two_taxes_usd"), load("document_shipping_refund_usd"))
    assert isinstance(refund, Refund)
    # 8.00 shipping + 0.32 + 0.39 of its taxes = 8.71, which the Transactions API reports as such.
    assert (refund.total, refund.adjustment) == (D("8.00") + D("0.32") + D("0.39"), D("8.71"))
    assert refund.metadata["allocation"] == "amount_only"


@pytest.fixture(scope="module")
def site() -> Iterator[SquarespaceSandbox]:
    with SquarespaceSandbox() as sandbox:
        yield sandbox


def test_a_refund_of_the_whole_order_mirrors_the_sale(site: SquarespaceSandbox) -> None:
    order = site.place_order(*pair("two_taxes"))
    site.refund(order["id"], "109.15")
    sale, refund = _docs(site.orders[order["id"]], site.document_of(order["id"]))
    assert isinstance(sale, Sale) and isinstance(refund, Refund)
    assert (refund.lines, refund.shipping, refund.adjustment) == (sale.lines, sale.shipping, D(0))
    assert refund.metadata["allocation"] == "whole order" and validate_document(refund) == []


def test_a_processing_fee_given_back_is_a_negative_fee_on_the_refund(site: SquarespaceSandbox) -> None:
    order = site.place_order(*pair("two_taxes"))
    site.refund(order["id"], "30.00", external_id="re_fee_back_1")
    doc = site.document_of(order["id"])
    assert doc is not None
    doc["payments"][0]["processingFees"][0]["feeRefunds"] = [
        {"id": "fr1", "amount": {"value": "0.87", "currency": "USD"}, "amountGatewayCurrency": {"value": "0.87", "currency": "USD"},
         "exchangeRate": "1", "refundedOn": doc["modifiedOn"], "externalTransactionId": "re_fee_back_1"}
    ]  # fmt: skip
    _, refund = _docs(site.orders[order["id"]], doc)
    assert isinstance(refund, Refund)
    assert [(t.amount, t.fee) for t in refund.tenders] == [(D("30.00"), D("-0.87"))]


def test_a_100_percent_discount_is_a_zero_sale_with_no_payment() -> None:
    sale = _sale("full_discount")
    (pack,) = sale.lines
    assert (pack.gross("USD"), pack.discount, pack.tax(), sale.total, sale.tenders) == (
        D("25.00"),
        D("25.00"),
        D("0.00"),
        D("0.00"),
        (),
    )
    assert validate_document(sale) == []


def test_yen_prices_including_two_consumption_tax_rates() -> None:
    sale = _sale("jpy", currency="JPY")
    # 6 600 (10 % inside: 6 600 / 11 = 600), 2 x 1 080 (8 % inside: 2 160 / 13.5 = 160), shipping 880 (80).
    assert (sale.currency, sale.total, sale.prices_include_tax) == ("JPY", D(6600) + D(2160) + D(880), True)
    assert [ln.tax() for ln in sale.lines] + [sale.shipping[0].tax()] == [D(600), D(160), D(80)]
    assert [t.rate for ln in sale.lines for t in ln.tax_lines] == [D("0.10"), D("0.08")]
    assert [(t.amount, t.fee) for t in sale.tenders] == [(D(9640), D(347))]  # 3.6 % of 9 640 = 347.04
    assert all(x == x.quantize(D(1)) for x in (sale.total, *(ln.unit_price for ln in sale.lines)))
    assert validate_document(sale) == []


def test_a_fee_charged_in_the_gateway_currency_states_the_rate() -> None:
    sale = _sale("eur", currency="EUR")
    assert (sale.currency, sale.total) == ("EUR", D("74.00"))
    # The fee is 2.40 EUR = 2.06 GBP at 0.8601 (2.40 x 0.8601 = 2.064...): 1 EUR = 0.8601 GBP.
    assert sale.exchange_rates == (ExchangeRate(base="EUR", quote="GBP", rate=D("0.8601")),)
    assert sale.tenders[0].fee == D("2.40")


def test_a_gift_card_sold_and_one_redeemed() -> None:
    sale = _sale("gift_card")
    assert [ln.kind for ln in sale.lines] == ["gift_card", "product"]
    assert [(t.kind, t.method, t.amount) for t in sale.tenders] == [
        ("gift_card", "gift_card", D("25.00")),
        ("payment", "stripe", D("38.07")),
    ]
    assert sale.total == D("50.00") + D("12.00") + D("0.48") + D("0.59")
    assert validate_document(sale) == []


def test_voided_documents_test_orders_and_other_orders_documents() -> None:
    order, document = pair("two_taxes")
    (voided, *_) = _docs(order, document | {"voided": True})
    assert isinstance(voided, Sale) and voided.status == "voided"
    assert _docs(order | {"testmode": True}, document) == []
    assert [d.kind for d in _docs(order | {"testmode": True}, document, include_test_orders=True)] == ["sale"]
    with pytest.raises(MalformedPayload, match="belongs to order"):
        _docs(order, document | {"salesOrderId": "someone-else"})


def test_without_a_document_the_order_totals_are_shared_and_refunds_summed() -> None:
    order = load("order_two_taxes_usd") | {"refundedTotal": {"value": "30.00", "currency": "USD"}}
    sale, refund = _docs(order, None)
    assert isinstance(sale, Sale) and isinstance(refund, Refund)
    # 10.25 discount over 90.00 and 12.50 (by value): 9.00 and 1.25; 8.90 tax over 81.00 and 11.25.
    assert [ln.discount for ln in sale.lines] == [D("9.00"), D("1.25")]
    assert [ln.tax() for ln in sale.lines] == [D("7.81"), D("1.09")]
    assert sale.tenders == () and sale.metadata["transactions_document"] == "none"
    assert validate_document(sale) == []
    assert (refund.external_id, refund.total, refund.adjustment) == (
        f"{order['id']}:refunded",
        D("30.00"),
        D("30.00"),
    )
