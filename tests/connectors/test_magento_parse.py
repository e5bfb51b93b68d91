"""Magento orders and credit memos -> canonical documents, to the minor unit.

Every expected figure is worked out by hand in the test from the fixture's story
(tests/fixtures/magento/README.md), never read back from the parser.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.base import MalformedPayload
from integrator.canonical import ExchangeRate, Refund, Sale
from integrator.services.transactions import expected_total, validate_document
from tests.fixtures.magento import load, make_source

D = Decimal


def _sale(source, name: str) -> Sale:
    docs = source.parse_event("order", load(name))
    assert len(docs) == 1 and isinstance(docs[0], Sale)
    return docs[0]


def _refund(source, memo: str, order: str | None) -> Refund:
    payload = {"creditmemo": load(memo), "order": load(order) if order else None}
    docs = source.parse_event("creditmemo", payload)
    assert len(docs) == 1 and isinstance(docs[0], Refund)
    return docs[0]


def test_worked_example_sale_with_coupon_two_vat_rates_and_shipping() -> None:
    sale = _sale(make_source(), "order_discount_two_rates")
    # Hand calculation, prices without tax, coupon WELCOME10 = 10 % off the goods only:
    #   scarf   2 x 45.00 = 90.00, less 9.00 = 81.00, VAT 20 % = 16.20
    #   lantern 1 x 32.50 = 32.50, less 3.25 = 29.25, VAT 5 %  =  1.4625 -> 1.46
    #   shipping 4.95, VAT 20 % = 0.99
    #   81.00 + 16.20 + 29.25 + 1.46 + 4.95 + 0.99 = 133.85
    scarf, lantern = sale.lines  # the configurable's child row carries no money and is not a line
    assert (scarf.sku, scarf.quantity, scarf.unit_price, scarf.discount) == (
        "KENTE-SCARF-RED",
        2,
        D("45.00"),
        D("9.00"),
    )
    assert [(t.title, t.rate, t.amount) for t in scarf.tax_lines] == [("VAT 20%", D("0.20"), D("16.20"))]
    assert (lantern.sku, lantern.quantity, lantern.unit_price, lantern.discount) == (
        "SOLAR-LANTERN",
        1,
        D("32.50"),
        D("3.25"),
    )
    assert [(t.title, t.rate, t.amount) for t in lantern.tax_lines] == [("VAT 5%", D("0.05"), D("1.46"))]
    (shipping,) = sale.shipping
    assert (shipping.amount, shipping.discount, shipping.tax()) == (D("4.95"), D(0), D("0.99"))
    assert (
        sale.total == D("81.00") + D("16.20") + D("29.25") + D("1.46") + D("4.95") + D("0.99") == D("133.85")
    )
    assert expected_total(sale) == sale.total and validate_document(sale) == []
    assert not sale.prices_include_tax and sale.currency == "GBP" and sale.number == "000000101"
    assert [(t.method, t.amount, t.gateway, t.reference) for t in sale.tenders] == [
        ("card", D("133.85"), "braintree", "bt_8fk2qz")
    ]
    assert [(d.code, d.amount) for d in sale.discounts] == [("WELCOME10", D("12.25"))]  # 9.00 + 3.25
    assert sale.customer is not None and (sale.customer.external_id, sale.customer.email) == (
        "4101",
        "ama.mensah@example.com",
    )
    assert sale.occurred_at.isoformat() == "2026-11-20T09:12:44+00:00"  # Magento's UTC created_at
    assert sale.status == "completed" and sale.exchange_rates == ()


def test_partial_refund_credit_memo_links_to_its_sale_with_the_order_rates() -> None:
    refund = _refund(make_source(), "creditmemo_partial_line", "order_discount_two_rates")
    # One scarf back: 45.00 less its half of the coupon 4.50 = 40.50, VAT 20 % = 8.10 -> 48.60.
    (line,) = refund.lines  # the child row (qty 1, no money) is not a second line
    assert (line.line_id, line.quantity, line.unit_price, line.discount) == ("201", 1, D("45.00"), D("4.50"))
    assert [(t.title, t.rate, t.amount) for t in line.tax_lines] == [("VAT 20%", D("0.20"), D("8.10"))]
    assert refund.total == D("40.50") + D("8.10") == D("48.60") == expected_total(refund)
    assert (refund.external_id, refund.sale_external_id, refund.number) == ("21", "101", "000000021")
    assert refund.shipping == () and refund.adjustment == 0
    assert [(t.method, t.amount, t.reference) for t in refund.tenders] == [
        ("card", D("48.60"), "bt_8fk2qz-r1")
    ]
    assert refund.reason == "Customer returned one scarf (wrong colour)."
    assert validate_document(refund, sale_known=True) == []


def test_shipping_only_credit_memo() -> None:
    refund = _refund(make_source(), "creditmemo_shipping_only", "order_discount_two_rates")
    # Rows with qty 0 are no lines; shipping 4.95 + VAT 20 % 0.99 = 5.94.
    assert refund.lines == ()
    (shipping,) = refund.shipping
    assert (shipping.amount, shipping.discount) == (D("4.95"), D(0))
    assert [(t.title, t.amount) for t in shipping.tax_lines] == [("VAT 20%", D("0.99"))]
    assert refund.total == D("5.94") == expected_total(refund)
    assert validate_document(refund) == []


def test_adjustment_refund_is_amount_only() -> None:
    refund = _refund(make_source(), "creditmemo_adjustment_refund", "order_discount_two_rates")
    assert (refund.lines, refund.shipping) == ((), ())
    assert refund.adjustment == D("5.00") == refund.total == expected_total(refund)
    assert validate_document(refund) == []


def test_restocking_fee_is_a_negative_adjustment() -> None:
    refund = _refund(make_source(), "creditmemo_restocking_fee", "order_discount_two_rates")
    # Lantern back: 32.50 - 3.25 = 29.25 + VAT 5 % 1.46 = 30.71, less the 2.00 fee kept = 28.71.
    (line,) = refund.lines
    assert (line.sku, line.unit_price, line.discount, line.tax()) == (
        "SOLAR-LANTERN",
        D("32.50"),
        D("3.25"),
        D("1.46"),
    )
    assert refund.adjustment == D("-2.00")
    assert refund.total == D("30.71") - D("2.00") == D("28.71") == expected_total(refund)
    assert refund.metadata["adjustment_fee"] == "2.00"


def test_credit_memo_without_its_order_still_adds_up() -> None:
    refund = _refund(make_source(), "creditmemo_partial_line", None)
    # Without the order the row itself decides; its tax keeps its amount at the rate it represents
    # (8.10 on 40.50 = 20 %) under a generic title.
    (line,) = refund.lines
    assert [(t.title, t.rate, t.amount) for t in line.tax_lines] == [("Tax", D("0.2000"), D("8.10"))]
    assert refund.total == D("48.60") == expected_total(refund)


def test_open_or_cancelled_credit_memo_is_no_refund_yet() -> None:
    memo = load("creditmemo_partial_line")
    for state in (1, 3):
        memo["state"] = state
        assert make_source().parse_event("creditmemo", {"creditmemo": memo, "order": None}) == []


def test_hundred_percent_coupon_with_free_delivery_is_a_zero_sale() -> None:
    sale = _sale(make_source(), "order_full_discount")
    (line,) = sale.lines
    assert (line.gross("GBP"), line.discount, line.tax()) == (D("12.00"), D("12.00"), D("0.00"))
    (shipping,) = sale.shipping
    assert (shipping.amount, shipping.discount, shipping.tax()) == (D("4.95"), D("4.95"), D("0.00"))
    assert sale.total == D("0.00") == expected_total(sale)
    assert [(t.method, t.amount) for t in sale.tenders] == [("free", D("0.00"))]
    assert [(d.code, d.amount) for d in sale.discounts] == [("FREESAMPLE", D("16.95"))]  # 12.00 + 4.95
    assert sale.customer is not None and sale.customer.external_id == ""  # a guest
    assert validate_document(sale) == []


def test_yen_store_with_prices_including_two_consumption_tax_rates() -> None:
    source = make_source(currency="JPY", prices_include_tax=True)
    sale = _sale(source, "order_jpy_inclusive")
    # 2 x 1080 (8 % included: 160) + 3300 (10 %: 300) + delivery 550 (10 %: 50) = 6010 JPY.
    matcha, cloth = sale.lines
    assert (matcha.quantity, matcha.unit_price, matcha.tax()) == (2, D(1080), D(160))
    assert [(t.title, t.rate) for t in matcha.tax_lines] == [("Consumption tax 8% (reduced)", D("0.08"))]
    assert (cloth.unit_price, cloth.tax(), cloth.tax_lines[0].rate) == (D(3300), D(300), D("0.10"))
    assert (sale.shipping[0].amount, sale.shipping[0].tax()) == (D(550), D(50))
    assert sale.total == D(2160) + D(3300) + D(550) == D(6010) == expected_total(sale)
    assert sale.total.as_tuple().exponent == 0 and sale.prices_include_tax
    refund = _refund(source, "creditmemo_jpy", "order_jpy_inclusive")
    assert (refund.total, refund.lines[0].unit_price, refund.lines[0].tax()) == (D(1080), D(1080), D(80))
    assert expected_total(refund) == refund.total


def test_yen_amounts_with_cents_are_rounded_to_the_yen_and_say_so() -> None:
    # Magento keeps four decimals and may round tax to hundredths even in yen.
    order = load("order_jpy_inclusive")
    for key in ("tax_amount", "base_tax_amount"):
        order["items"][1][key] = D("299.60")
    sale = make_source(currency="JPY", prices_include_tax=True).parse_event("order", order)[0]
    assert sale.lines[1].tax() == D(300)
    assert "base_tax_amount" in sale.metadata["rounded_fields"]


def test_multicurrency_order_emits_the_base_currency_with_magentos_rate() -> None:
    sale = _sale(make_source(currency="GBP"), "order_multicurrency_eur")
    # Base GBP: 2 x 25.00 + VAT 10.00 + delivery 5.00 + VAT 1.00 = 66.00 GBP; the customer paid
    # 77.22 EUR at base_to_order_rate 1.17 (66.00 x 1.17 = 77.22).
    assert (sale.currency, sale.total) == ("GBP", D("66.00"))
    assert (sale.presentment_currency, sale.presentment_total) == ("EUR", D("77.22"))
    assert sale.exchange_rates == (ExchangeRate(base="GBP", quote="EUR", rate=D("1.17")),)
    assert sale.lines[0].unit_price == D("25.00") and expected_total(sale) == sale.total
    refund = _refund(make_source(currency="GBP"), "creditmemo_multicurrency_eur", "order_multicurrency_eur")
    # One bag (25.00 + 5.00 VAT) and the delivery (5.00 + 1.00) = 36.00 GBP = 42.12 EUR.
    assert (refund.currency, refund.total) == ("GBP", D("36.00"))
    assert (refund.metadata["presentment_currency"], refund.metadata["presentment_total"]) == ("EUR", "42.12")
    assert refund.exchange_rates == sale.exchange_rates and expected_total(refund) == refund.total


def test_channel_kept_in_the_order_currency_gets_the_order_amounts() -> None:
    sale = _sale(make_source(currency="EUR"), "order_multicurrency_eur")
    # 2 x 29.25 + 11.70 + 5.85 + 1.17 = 77.22 EUR, with the same stated rate.
    assert (sale.currency, sale.total, sale.lines[0].unit_price) == ("EUR", D("77.22"), D("29.25"))
    assert sale.exchange_rates[0].rate == D("1.17") and expected_total(sale) == sale.total


def test_gift_card_account_store_credit_and_a_gift_card_sold() -> None:
    sale = _sale(make_source(), "order_gift_card_store_credit")
    # Necklace 40.00 + VAT 8.00 and a £25 gift card (a liability, untaxed) = 73.00, paid
    # 20.00 from a gift card account, 10.00 store credit and 43.00 by card.
    necklace, card = sale.lines
    assert (necklace.kind, card.kind, card.gross("GBP"), card.tax_lines) == (
        "product",
        "gift_card",
        D("25.00"),
        (),
    )
    assert sale.total == D("40.00") + D("8.00") + D("25.00") == D("73.00") == expected_total(sale)
    tenders = [(t.method, t.amount, t.kind) for t in sale.tenders]
    assert tenders == [
        ("card", D("43.00"), "payment"),
        ("gift_card", D("20.00"), "gift_card"),
        ("store_credit", D("10.00"), "payment"),
    ]
    assert sale.tenders[1].reference == "...XW2M"  # never the whole gift card code
    assert validate_document(sale) == []


def test_credit_memo_gives_back_to_gift_card_and_store_credit_first() -> None:
    refund = _refund(make_source(), "creditmemo_gift_card_store_credit", "order_gift_card_store_credit")
    # Necklace 40.00 + VAT 8.00 = 48.00 back: 20.00 to the gift card account, 10.00 store
    # credit, and the 18.00 left of the memo's grand_total to the card.
    assert refund.total == D("40.00") + D("8.00") == D("48.00") == expected_total(refund)
    assert [(t.method, t.amount, t.kind) for t in refund.tenders] == [
        ("card", D("18.00"), "payment"),
        ("gift_card", D("20.00"), "gift_card"),
        ("store_credit", D("10.00"), "payment"),
    ]
    assert validate_document(refund) == []


def test_prices_including_tax_with_discount_tax_compensation() -> None:
    # Cushion 60.00 incl. VAT (50.00 + 10.00); 10 % off the price incl. tax = 6.00, of which
    # 1.00 is tax Magento gives back as "discount tax compensation": 54.00 paid, VAT 9.00 on
    # 45.00. Delivery 6.00 (5.00 + 1.00). Total 60.00.
    inclusive = _sale(make_source(prices_include_tax=True), "order_inclusive_gbp")
    (line,) = inclusive.lines
    assert (line.unit_price, line.discount, line.tax()) == (D("60.00"), D("6.00"), D("9.00"))
    assert (inclusive.shipping[0].amount, inclusive.shipping[0].tax()) == (D("6.00"), D("1.00"))
    assert inclusive.prices_include_tax and inclusive.total == D("60.00") == expected_total(inclusive)
    # The same order read tax-exclusive: 50.00 less the 5.00 net discount, same tax, same total.
    exclusive = _sale(make_source(prices_include_tax=False), "order_inclusive_gbp")
    (line,) = exclusive.lines
    assert (line.unit_price, line.discount, line.tax()) == (D("50.00"), D("5.00"), D("9.00"))
    assert exclusive.total == D("60.00") == expected_total(exclusive)


def test_dynamic_bundle_is_booked_from_its_children() -> None:
    order = load("order_pending")
    order.update(state="complete", status="complete")
    for key in ("total_invoiced", "base_total_invoiced"):
        order[key] = order["base_grand_total"]
    cushion = order["items"][0]
    parent = {**cushion, "item_id": 700, "product_type": "bundle", "sku": "GIFT-SET", "name": "Gift set"}
    child = {**cushion, "parent_item_id": 700}
    order["items"] = [parent, child]
    sale = make_source().parse_event("order", order)[0]
    # The parent repeats its children's money; only the child row is a line.
    assert [ln.sku for ln in sale.lines] == ["MUD-CUSHION"] and expected_total(sale) == sale.total


def test_bad_amounts_and_ids_are_refused_in_words() -> None:
    order = load("order_discount_two_rates")
    order["items"][0]["base_row_total"] = "ninety"
    with pytest.raises(MalformedPayload, match="base_row_total"):
        make_source().parse_event("order", order)
    order = load("order_discount_two_rates")
    order["entity_id"] = None
    with pytest.raises(MalformedPayload, match="entity_id"):
        make_source().parse_event("order", order)
    order = load("order_discount_two_rates")
    order["base_currency_code"] = "GBX"
    with pytest.raises(MalformedPayload, match="currency"):
        make_source().parse_event("order", order)


def test_payment_method_names_can_be_overridden() -> None:
    sale = _sale(make_source(payment_method_names="braintree=braintree_card"), "order_discount_two_rates")
    assert sale.tenders[0].method == "braintree_card"
    sale = _sale(make_source(), "order_inclusive_gbp")
    assert sale.tenders[0].method == "check"  # checkmo
