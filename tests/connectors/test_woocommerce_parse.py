"""WooCommerce orders and refunds to canonical documents, to the minor unit.

Every expected figure is worked out by hand in the test from the order as the shop owner sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors.sandbox.woocommerce import WooCommerceSandbox
from connectors.sources.woocommerce.api import WooNotFound
from integrator.canonical import ExchangeRate, Refund, Sale
from integrator.services.transactions import expected_total, validate_document
from tests.fixtures.woocommerce import load, make_source

D = Decimal


@pytest.fixture(scope="module")
def store() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox() as sandbox:
        yield sandbox


def _taxes(doc: Sale | Refund) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for holder in [*doc.lines, *doc.shipping]:
        for t in holder.tax_lines:
            found[t.title] = found.get(t.title, D(0)) + t.amount
    return found


def _sale(name: str, **settings: Any) -> Sale:
    (sale,) = make_source(**settings).parse_event("order.updated", load(name))
    assert isinstance(sale, Sale)
    return sale


def test_sale_with_a_coupon_two_vat_rates_and_shipping_to_the_penny() -> None:
    # The shop owner's view (prices include VAT): 2 scarves at 48.00 (VAT 20 %), a sling at 31.50
    # (VAT 5 %), coupon welcome10 = 10 % off goods, delivery 6.00 (VAT 20 %).
    scarves_gross, sling_gross, delivery_gross = D("96.00"), D("31.50"), D("6.00")
    scarves_paid, sling_paid = scarves_gross * D("0.9"), sling_gross * D("0.9")  # 86.40, 28.35
    # WooCommerce keeps net amounts: net = gross / (1 + rate).
    scarves_net, scarves_vat = D("72.00"), D("14.40")  # 86.40 / 1.20, 86.40 - 72.00
    sling_net, sling_vat = D("27.00"), D("1.35")  # 28.35 / 1.05
    delivery_net, delivery_vat = D("5.00"), D("1.00")  # 6.00 / 1.20
    assert scarves_net + scarves_vat == scarves_paid and sling_net + sling_vat == sling_paid
    total = scarves_paid + sling_paid + delivery_gross
    assert total == D("120.75")

    sale = _sale("order_two_vat_rates_gbp")
    assert (sale.external_id, sale.number, sale.currency, sale.total) == ("5101", "5101", "GBP", total)
    assert sale.prices_include_tax is False  # WooCommerce's line totals are net whatever the store setting
    assert sale.metadata["woo_prices_include_tax"] == "yes"
    scarf, sling = sale.lines
    assert (scarf.name, scarf.sku, scarf.quantity, scarf.unit_price, scarf.discount) == (
        "Kente scarf \u2013 Gold", "KENTE-SCARF-GLD", D(2), D("40.00"), D("8.00"),
    )  # fmt: skip
    assert scarf.gross("GBP") - scarf.discount == scarves_net
    assert sling.gross("GBP") - sling.discount == sling_net
    assert [(t.title, t.rate, t.amount) for t in scarf.tax_lines] == [("VAT 20%", D("0.2"), scarves_vat)]
    assert [(t.title, t.rate, t.amount) for t in sling.tax_lines] == [("VAT 5%", D("0.05"), sling_vat)]
    (ship,) = sale.shipping
    assert (ship.title, ship.amount, ship.tax()) == ("Royal Mail Tracked 48", delivery_net, delivery_vat)
    assert _taxes(sale) == {"VAT 20%": scarves_vat + delivery_vat, "VAT 5%": sling_vat}
    assert [(d.code, d.amount) for d in sale.discounts] == [("welcome10", D("11.00"))]
    (card,) = sale.tenders
    assert (card.method, card.amount, card.reference) == ("stripe", total, "ch_3QhK8mLkdIwHu7ix0Tq4Zf2a")
    assert sale.customer is not None and (sale.customer.external_id, sale.customer.name) == (
        "214",
        "Ama Mensah",
    )
    assert sale.occurred_at.isoformat() == "2026-11-20T10:15:09+00:00"  # date_paid_gmt
    assert expected_total(sale) == total and validate_document(sale) == []


def test_partial_line_refund_returns_one_scarf_with_its_vat_and_restock(store: WooCommerceSandbox) -> None:
    order = store.create_order(load("order_two_vat_rates_gbp"), status="processing", deliver=False)
    line_ids = {li["sku"]: li["id"] for li in order["line_items"]}
    refund = load("refund_partial_line_gbp")
    refund["line_items"][0]["meta_data"][0]["value"] = str(line_ids["KENTE-SCARF-GLD"])
    store.refund_order(order["id"], refund, restock=True, deliver=False)

    sale, back = make_source(store).parse_event("order.updated", store.orders[order["id"]])
    assert isinstance(sale, Sale) and isinstance(back, Refund)
    # One of the two scarves: half the line's net 72.00 and half its VAT 14.40.
    assert (back.total, back.adjustment, back.restock) == (D("36.00") + D("7.20"), D(0), True)
    (scarf,) = back.lines
    assert (scarf.quantity, scarf.unit_price, scarf.discount) == (D(1), D("40.00"), D("4.00"))  # coupon share
    assert _taxes(back) == {"VAT 20%": D("7.20")}
    assert back.sale_external_id == str(order["id"]) and back.reason == "Colour not as pictured"
    assert [(t.method, t.amount) for t in back.tenders] == [("stripe", D("43.20"))]
    assert expected_total(back) == back.total and validate_document(back) == []


def test_shipping_only_and_amount_only_refunds(store: WooCommerceSandbox) -> None:
    order = store.create_order(load("order_two_vat_rates_gbp"), deliver=False)
    store.refund_order(order["id"], load("refund_shipping_only_gbp"), deliver=False)
    store.refund_order(order["id"], load("refund_amount_only_gbp"), deliver=False)
    docs = make_source(store).parse_event("order.updated", store.orders[order["id"]])
    goodwill, late = docs[1], docs[2]  # WooCommerce lists refunds newest first
    assert isinstance(goodwill, Refund) and isinstance(late, Refund)
    # Delivery back: 5.00 net + 1.00 VAT, no goods.
    assert (late.total, late.lines, late.adjustment) == (D("6.00"), (), D(0))
    assert [(s.amount, s.tax()) for s in late.shipping] == [(D("5.00"), D("1.00"))]
    # 10.00 typed by hand, no items: all of it is an adjustment; WooCommerce paid nothing back itself.
    assert (goodwill.total, goodwill.adjustment, goodwill.lines, goodwill.shipping) == (
        D("10.00"),
        D("10.00"),
        (),
        (),
    )
    assert goodwill.metadata["refunded_payment"] == "no"
    assert all(validate_document(d) == [] for d in docs)


def test_a_100_percent_coupon_is_a_zero_sale_that_still_names_the_goods() -> None:
    sale = _sale("order_full_coupon_gbp")
    (pack,) = sale.lines
    # 25.00 net, all of it discounted; VAT on nothing is nothing.
    assert (pack.gross("GBP"), pack.discount, pack.tax()) == (D("25.00"), D("25.00"), D("0.00"))
    assert (sale.total, sale.tenders) == (D("0.00"), ())
    assert [(d.code, d.amount) for d in sale.discounts] == [("sample100", D("25.00"))]
    assert validate_document(sale) == []


def test_a_currency_without_minor_units_and_a_fee_line() -> None:
    sale = _sale("order_xof_fee", currency="XOF")
    # 2 x 12 500 + 3 x 1 500 = 29 500 of goods, TVA 18 % = 5 310; delivery 2 000 + 360; fee 500.
    goods, delivery, fee = D(25000) + D(4500), D(2000), D(500)
    tva = goods * D("0.18") + delivery * D("0.18")
    assert tva == D(5670)
    assert sale.total == goods + delivery + fee + tva == D(37670)
    assert all(ln.unit_price == ln.unit_price.quantize(D(1)) for ln in sale.lines)
    fee_line = sale.lines[-1]
    assert (fee_line.kind, fee_line.category, fee_line.name, fee_line.unit_price) == (
        "fee",
        "fee",
        "Frais Orange Money",
        fee,
    )
    assert _taxes(sale) == {"TVA 18%": tva}
    assert [(t.method, t.amount) for t in sale.tenders] == [("orange_money", D(37670))]
    assert validate_document(sale) == []


def test_an_order_in_another_currency_keeps_it_with_the_stated_rate() -> None:
    sale = _sale("order_multicurrency_eur")
    assert (sale.currency, sale.total) == ("EUR", D("81.60"))  # 58.00 + 11.60 + 10.00 + 2.00
    assert sale.exchange_rates == (ExchangeRate(base="GBP", quote="EUR", rate=D("1.16")),)
    assert validate_document(sale) == []


def test_a_redeemed_gift_card_is_a_tender_and_the_sale_is_worth_the_goods() -> None:
    sale = _sale("order_gift_card_redeemed_gbp")
    # Goods 40.00 + 8.00 VAT, delivery 4.00 + 0.80 = 52.80; WooCommerce's total is what was left.
    assert sale.total == D("52.80")
    assert [(t.kind, t.method, t.amount, t.reference) for t in sale.tenders] == [
        ("gift_card", "gift_card", D("20.00"), "gift_card:31"),  # never the code itself
        ("payment", "stripe", D("32.80"), "ch_3QhM5pLkdIwHu7ix2Rt6Yb4e"),
    ]
    assert validate_document(sale) == []


def test_gift_cards_sold_are_the_products_the_channel_names() -> None:
    sale = _sale("order_xof_fee", currency="XOF", gift_card_skus="SAVON-NOIR")
    assert [ln.kind for ln in sale.lines] == ["product", "gift_card", "fee"]
    sale = _sale("order_xof_fee", currency="XOF", gift_card_product_ids=[210])
    assert [ln.kind for ln in sale.lines] == ["gift_card", "product", "fee"]


@pytest.mark.parametrize(
    ("status", "channel_settings", "expected"),
    [
        ("processing", {}, "completed"),
        ("completed", {}, "completed"),
        ("on-hold", {}, None),
        ("on-hold", {"sale_statuses": "processing, completed, on-hold"}, "completed"),
        ("pending", {}, None),
        ("failed", {}, None),
        ("checkout-draft", {}, None),
    ],
)
def test_the_status_workflow_decides_what_is_a_sale(
    status: str, channel_settings: dict[str, Any], expected: str | None
) -> None:
    docs = make_source(**channel_settings).parse_event(
        "order.updated", load("order_two_vat_rates_gbp") | {"status": status}
    )
    assert [d.status for d in docs if isinstance(d, Sale)] == ([expected] if expected else [])


def test_cancelled_after_payment_voids_the_sale_and_unpaid_cancellations_are_nothing() -> None:
    (voided,) = make_source().parse_event("order.updated", load("order_cancelled_after_payment_gbp"))
    assert isinstance(voided, Sale) and voided.status == "voided" and voided.external_id == "5601"
    unpaid = load("order_cancelled_after_payment_gbp") | {"date_paid": None, "date_paid_gmt": None}
    assert make_source().parse_event("order.updated", unpaid) == []


def test_a_refunded_or_cancelled_order_with_refunds_stays_a_sale_with_its_refunds(
    store: WooCommerceSandbox,
) -> None:
    order = store.create_order(load("order_two_vat_rates_gbp"), deliver=False)
    store.refund_order(order["id"], {**load("refund_amount_only_gbp"), "amount": "120.75"}, deliver=False)
    assert store.orders[order["id"]]["status"] == "refunded"
    sale, refund = make_source(store).parse_event("order.updated", store.orders[order["id"]])
    assert (sale.status, refund.total) == ("completed", D("120.75"))
    cancelled = store.orders[order["id"]] | {"status": "cancelled"}
    assert [d.kind for d in make_source(store).parse_event("order.updated", cancelled)] == ["sale", "refund"]


def test_without_api_keys_refunds_come_from_the_order_summary_as_amounts(store: WooCommerceSandbox) -> None:
    order = store.create_order(load("order_two_vat_rates_gbp"), deliver=False)
    store.refund_order(order["id"], load("refund_partial_line_gbp"), deliver=False)
    _, refund = make_source().parse_event("order.updated", store.orders[order["id"]])
    assert isinstance(refund, Refund)
    assert (refund.total, refund.adjustment, refund.lines, refund.metadata["itemised"]) == (
        D("43.20"),
        D("43.20"),
        (),
        "no",
    )
    assert refund.external_id == str(store.orders[order["id"]]["refunds"][0]["id"])


def test_order_deleted_reads_the_bin_and_a_permanent_delete_asks_a_person(store: WooCommerceSandbox) -> None:
    order = store.create_order(load("order_two_vat_rates_gbp"), deliver=False)
    store.delete_order(order["id"], deliver=False)
    (voided,) = make_source(store).parse_event("order.deleted", {"id": order["id"]})
    assert isinstance(voided, Sale) and voided.status == "voided"
    store.delete_order(order["id"], force=True, deliver=False)
    with pytest.raises(WooNotFound, match="deleted permanently"):
        make_source(store).parse_event("order.deleted", {"id": order["id"]})


def test_unexact_amounts_and_odd_quantities() -> None:
    order = load("order_two_vat_rates_gbp")
    # 3 units for 10.00 cannot be priced per unit in pence: one line of 10.00 named "x 3".
    order["line_items"][1] |= {"quantity": 3, "subtotal": "10.00", "total": "10.00"}
    order["coupon_lines"], order["line_items"][0]["total"] = [], "80.00"
    sale = make_source().parse_event("order.updated", order)[0]
    sling = sale.lines[1]
    assert (sling.name, sling.quantity, sling.unit_price) == ("Ankara baby sling x 3", D(1), D("10.00"))
    broken = load("order_two_vat_rates_gbp")
    broken["total"] = "120.755"
    from connectors.base import MalformedPayload

    with pytest.raises(MalformedPayload, match="more decimals"):
        make_source().parse_event("order.updated", broken)


def test_an_itemised_refund_is_never_older_than_its_summary(store: WooCommerceSandbox) -> None:
    order = store.create_order(load("order_two_vat_rates_gbp"), deliver=False)
    store.refund_order(order["id"], load("refund_partial_line_gbp"), deliver=False)
    current = store.orders[order["id"]]
    _, summary = make_source().parse_event("order.updated", current)  # no API keys: the summary
    _, itemised = make_source(store).parse_event("order.updated", current)
    assert isinstance(summary, Refund) and isinstance(itemised, Refund)
    assert summary.external_id == itemised.external_id
    # The upsert keeps the newest version: the itemised one must not look older than the summary.
    assert itemised.source_updated_at is not None and summary.source_updated_at is not None
    assert itemised.source_updated_at >= summary.source_updated_at


def test_a_returned_gift_card_stays_a_gift_card(store: WooCommerceSandbox) -> None:
    order = store.create_order(load("order_two_vat_rates_gbp"), deliver=False)
    sling = next(li for li in order["line_items"] if li["sku"] == "SLING-ANK")
    refund = load("refund_partial_line_gbp")
    refund["line_items"][0] |= {"sku": "SLING-ANK", "subtotal": "-27.00", "total": "-27.00", "total_tax": "-1.35",
                                "taxes": [{"id": 2, "total": "-1.35", "subtotal": "-1.35"}]}  # fmt: skip
    refund["line_items"][0]["meta_data"][0]["value"] = str(sling["id"])
    refund |= {
        "amount": "28.35",
        "tax_lines": [refund["tax_lines"][0] | {"rate_id": 2, "tax_total": "-1.35", "rate_percent": 5}],
    }
    store.refund_order(order["id"], refund, deliver=False)
    _, back = make_source(store, gift_card_skus="SLING-ANK").parse_event(
        "order.updated", store.orders[order["id"]]
    )
    assert isinstance(back, Refund) and [ln.kind for ln in back.lines] == ["gift_card"]
    assert (back.total, back.adjustment) == (D("28.35"), D(0))
