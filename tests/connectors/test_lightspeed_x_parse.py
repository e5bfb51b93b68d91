"""X-Series sales, returns, voids, exchanges and register closures to canonical documents, checked
against hand calculations (the fixtures' scenario is in tests/fixtures/lightspeed_x/README.md)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import MalformedPayload
from connectors.sandbox.lightspeed_x import LightspeedXSandbox
from connectors.sources.lightspeed_x import LightspeedXSource
from connectors.sources.lightspeed_x.closures import payments_summary_totals
from connectors.sources.lightspeed_x.payment_types import method_for
from integrator.canonical import CashCount, Refund, Sale
from integrator.services.transactions import expected_total, validate_document
from tests.fixtures.lightspeed_x import captured_calls, load, source_for, store

D = Decimal


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[Any]]:
    with captured_calls() as records:
        yield records


@pytest.fixture(scope="module")
def kes() -> Iterator[LightspeedXSandbox]:
    with LightspeedXSandbox(store=store("kes")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def usd() -> Iterator[LightspeedXSandbox]:
    with LightspeedXSandbox(store=store("usd")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def xof() -> Iterator[LightspeedXSandbox]:
    with LightspeedXSandbox(store=store("xof")) as sandbox:
        yield sandbox


def _parse(source: LightspeedXSource, name: str, event: str = "sale.update") -> list[Any]:
    return source.parse_event(event, load(name))


def test_split_tender_with_line_and_ticket_discounts_and_two_tax_rates(kes: LightspeedXSandbox) -> None:
    [sale] = _parse(source_for(kes, "kes"), "sale_split_tender_kes.json")
    assert isinstance(sale, Sale)
    assert (sale.currency, sale.prices_include_tax, sale.status) == ("KES", True, "completed")
    assert (sale.location, sale.register, sale.number) == ("Nairobi", "Main till", "Main till/MA1")
    assert sale.occurred_at == datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
    # By hand. Wrap: 2 x 1,160.00 incl. VAT 16 % less 116.00 each -> 900.00 ex tax each, 144.00 VAT.
    # Flour: 290.00, VAT 0 %. Sale discount 58.00 incl. = 50.00 + 8.00 VAT, carried by X-Series on
    # its discount product; we spread it in proportion to the lines' value ex tax (1,800 : 290):
    #   wrap  50 x 1800/2090 = 43.0622 ex tax, and all 8.00 of VAT (the flour has no VAT);
    #   flour 50 x  290/2090 =  6.9378.
    # Wrap after discounts, VAT included: 1,800 + 288 - 43.0622 - 8 = 2,036.9378 -> 2,036.94
    # Flour after discount:                290 - 6.9378               =   283.0622 ->   283.06
    #                                                                     together 2,320.00 (paid)
    # Wrap discount incl. VAT: 2 x 116.00 + 43.0622 + 8.00 = 283.0622 -> 283.06; flour 6.94.
    wrap, flour = sale.lines
    assert (wrap.sku, wrap.quantity, wrap.unit_price, wrap.discount) == (
        "KIKOY-1",
        D(2),
        D("1160.00"),
        D("283.06"),
    )
    assert [(t.title, t.rate, t.amount) for t in wrap.tax_lines] == [("VAT 16%", D("0.16"), D("280.00"))]
    assert (wrap.category, wrap.name) == ("textiles", "Kikoy beach wrap")
    assert (flour.sku, flour.unit_price, flour.discount) == ("FLOUR-2", D("290.00"), D("6.94"))
    assert [(t.title, t.amount) for t in flour.tax_lines] == [("VAT 0%", D("0.00"))]
    assert wrap.gross("KES") - wrap.discount == D("2036.94")
    assert flour.gross("KES") - flour.discount == D("283.06")
    # Paid 1,500.00 by M-Pesa and 1,000.00 cash, 180.00 change back: cash kept 820.00.
    assert [(t.method, t.amount, t.change, t.kind) for t in sale.tenders] == [
        ("mpesa", D("1500.00"), D("0"), "payment"),
        ("cash", D("820.00"), D("180.00"), "payment"),
    ]
    assert sale.total == D("2320.00") == expected_total(sale)
    assert [(d.code, d.amount) for d in sale.discounts] == [("Sale discount", D("58.00"))]
    assert sale.customer is not None and sale.customer.external_id
    assert validate_document(sale) == []


def test_return_on_another_day_is_a_refund_linked_to_the_sale(kes: LightspeedXSandbox) -> None:
    original = load("sale_split_tender_kes.json")
    [refund] = _parse(source_for(kes, "kes"), "return_other_day_kes.json")
    assert isinstance(refund, Refund)
    assert refund.sale_external_id == original["id"]
    assert refund.occurred_at.date().isoformat() == "2026-11-21"
    # One wrap back at its own discounted price: 1,160.00 - 116.00 = 1,044.00 incl. 144.00 VAT.
    [line] = refund.lines
    assert (line.quantity, line.unit_price, line.discount) == (D(1), D("1160.00"), D("116.00"))
    assert [t.amount for t in line.tax_lines] == [D("144.00")]
    assert [(t.method, t.amount) for t in refund.tenders] == [("cash", D("1044.00"))]
    assert refund.total == D("1044.00") and refund.reason == "Wrong colour"
    assert validate_document(refund) == []


def test_a_voided_sale_keeps_its_id_and_books_nothing(kes: LightspeedXSandbox) -> None:
    source = source_for(kes, "kes")
    [before] = _parse(source, "sale_before_void_kes.json")
    [voided] = _parse(source, "sale_voided_kes.json")
    assert before.external_id == voided.external_id
    assert (before.status, voided.status) == ("completed", "voided")
    assert voided.tenders == () and voided.total == D("1160.00")
    assert voided.source_updated_at > before.source_updated_at  # the later version wins
    assert validate_document(voided) == []


def test_an_exchange_is_a_sale_and_a_refund_joined_by_an_exchange_tender(kes: LightspeedXSandbox) -> None:
    sale, refund = _parse(source_for(kes, "kes"), "exchange_kes.json")
    # Flour (290.00) back, a wrap (1,160.00) bought: 870.00 paid by M-Pesa; 290.00 carried over.
    assert (sale.total, [(t.method, t.amount) for t in sale.tenders]) == (
        D("1160.00"), [("mpesa", D("870.00")), ("exchange", D("290.00"))]
    )  # fmt: skip
    assert isinstance(refund, Refund)
    assert refund.external_id == f"{sale.external_id}:return"
    assert refund.sale_external_id == load("sale_split_tender_kes.json")["id"]
    assert (refund.total, [(t.method, t.amount) for t in refund.tenders]) == (
        D("290.00"),
        [("exchange", D("290.00"))],
    )
    assert validate_document(sale) == [] and validate_document(refund, sale_known=True) == []


def test_on_account_books_the_goods_and_leaves_the_rest_owed(kes: LightspeedXSandbox) -> None:
    [sale] = _parse(source_for(kes, "kes"), "sale_on_account_kes.json")
    # 3 x 1,160.00 = 3,480.00; 1,000.00 cash now; the On Account payment type is left out of the
    # tenders, so the journal books 2,480.00 to receivables.
    assert sale.total == D("3480.00")
    assert [(t.method, t.amount) for t in sale.tenders] == [("cash", D("1000.00"))]
    assert sale.metadata["status"] == "ONACCOUNT"


def test_a_09_webhook_object_parses_like_its_api_20_twin(kes: LightspeedXSandbox) -> None:
    source = source_for(kes, "kes")
    [v20] = _parse(source, "sale_split_tender_kes.json")
    [v09] = _parse(source, "register_sale_09_kes.json")
    assert v09.occurred_at == v20.occurred_at and v09.total == v20.total
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.discount, ln.tax_lines) for ln in v09.lines] == [
        (ln.sku, ln.quantity, ln.unit_price, ln.discount, ln.tax_lines) for ln in v20.lines
    ]
    assert [(t.method, t.amount, t.change) for t in v09.tenders] == [
        (t.method, t.amount, t.change) for t in v20.tenders
    ]
    assert (v09.location, v09.register) == ("Nairobi", "Main till")  # outlet found through the register


def test_tax_exclusive_outlet_with_compound_tax_shipping_and_tip(usd: LightspeedXSandbox) -> None:
    [sale] = _parse(source_for(usd, "usd"), "sale_shipping_tip_usd.json")
    assert (sale.currency, sale.prices_include_tax) == ("USD", False)
    # By hand (prices ex tax). Scarves 2 x 45.00 less 5.00 = 80.00, tax 8 % = 6.40 (6 % state 4.80,
    # 2 % city 1.60); shea butter 12.00, exempt. Sale discount 10.00 + 0.80 tax, spread 80 : 12:
    #   scarves 10 x 80/92 = 8.6957 -> 80 - 8.6957 = 71.3043 -> 71.30, tax 6.40 - 0.80 = 5.60
    #   shea    10 x 12/92 = 1.3043 -> 12 - 1.3043 = 10.6957 -> 10.70
    # Scarf tax split over its two rates in the proportion X-Series gave (4.80 : 1.60): 4.20 + 1.40.
    scarf, shea = sale.lines
    assert (scarf.unit_price, scarf.discount) == (D("45.00"), D("18.70"))  # 2 x 5.00 + 8.70
    assert scarf.gross("USD") - scarf.discount == D("71.30")
    assert [(t.title, t.rate, t.amount) for t in scarf.tax_lines] == [
        ("NY State 6%", D("0.06"), D("4.20")),
        ("NYC 2%", D("0.02"), D("1.40")),
    ]
    assert (shea.unit_price, shea.discount, shea.gross("USD") - shea.discount) == (
        D("12.00"),
        D("1.30"),
        D("10.70"),
    )
    [delivery] = sale.shipping
    assert (delivery.title, delivery.amount, [t.amount for t in delivery.tax_lines]) == (
        "Local delivery", D("10.00"), [D("0.60"), D("0.20")]
    )  # fmt: skip
    assert sale.tips == D("5.00")
    # 71.30 + 10.70 + 5.60 + 10.00 + 0.80 + 5.00 = 103.40, the card payment.
    assert sale.total == D("103.40") == expected_total(sale)
    assert [(t.method, t.amount) for t in sale.tenders] == [("card", D("103.40"))]


def test_partial_refund_of_the_exclusive_sale(usd: LightspeedXSandbox) -> None:
    [refund] = _parse(source_for(usd, "usd"), "refund_partial_usd.json")
    # One scarf back at 40.00 + 2.40 state + 0.80 city = 43.20 to the card.
    [line] = refund.lines
    assert (line.unit_price, line.discount) == (D("45.00"), D("5.00"))
    assert [t.amount for t in line.tax_lines] == [D("2.40"), D("0.80")]
    assert (refund.total, refund.tenders[0].method) == (D("43.20"), "card")
    assert refund.sale_external_id == load("sale_shipping_tip_usd.json")["id"]


def test_zero_decimal_currency_rounds_to_whole_francs_per_ticket(xof: LightspeedXSandbox) -> None:
    [sale] = _parse(source_for(xof, "xof"), "sale_xof.json")
    # 15,500 wax print and 2 bowls at 3,500 less 500 = 6,000; TVA 18 % inside:
    #   15,500 x 18/118 = 2,364.41 and 6,000 x 18/118 = 915.25; 3,279.66 for the ticket -> 3,280.
    # Rounding per ticket (largest remainder) gives 2,365 + 915 = 3,280; per line would lose a franc.
    wax, bowls = sale.lines
    assert (wax.unit_price, wax.discount, wax.tax_lines[0].amount) == (D(15500), D(0), D(2365))
    assert (bowls.quantity, bowls.unit_price, bowls.discount, bowls.tax_lines[0].amount) == (
        D(2),
        D(3500),
        D(1000),
        D(915),
    )
    assert all(t.amount == t.amount.to_integral_value() for ln in sale.lines for t in ln.tax_lines)
    assert [(t.method, t.amount, t.change) for t in sale.tenders] == [
        ("orange_money", D(10000), D(0)),
        ("cash", D(11500), D(3500)),
    ]
    assert sale.total == D(21500) == expected_total(sale)
    assert str(sale.total) == "21500"  # no minor unit, no ".00"


def test_register_closure_becomes_a_cash_count(xof: LightspeedXSandbox) -> None:
    [count] = _parse(source_for(xof, "xof"), "register_closure_xof.json", "register_closure.create")
    assert isinstance(count, CashCount)
    # Float 20,000 + cash taken 11,500 = 31,500 expected; 31,000 counted: 500 short.
    assert (count.expected, count.counted, count.over_short, count.float_change) == (
        D(31500),
        D(31000),
        D(-500),
        D(0),
    )
    assert (count.location, count.register, count.method, count.number) == (
        "Dakar Plateau",
        "Caisse 1",
        "cash",
        "1",
    )
    [empty] = _parse(source_for(xof, "xof"), "register_closure_no_sales_xof.json", "register_closure.create")
    assert (empty.expected, empty.counted, empty.over_short) == (
        D(20000),
        D(20000),
        D(0),
    )  # a day with no sales


def test_a_closure_without_the_counted_cash_is_refused(xof: LightspeedXSandbox) -> None:
    closure = load("register_closure_xof.json")
    for line in closure["payments"]:
        line.pop("counted")
    with pytest.raises(MalformedPayload, match="no counted amount"):
        source_for(xof, "xof").parse_event("register_closure.create", closure)


def test_payments_summary_is_the_registers_own_totals() -> None:
    assert payments_summary_totals(load("payments_summary_xof.json"), "XOF") == {
        "cash": D(11500),
        "orange_money": D(10000),
    }
    assert payments_summary_totals(load("payments_summary_no_sales_xof.json"), "XOF") == {}


@pytest.mark.parametrize("status", ["SAVED", "LAYBY", "SERVICE", "SOMETHING_NEW"])
def test_unfinished_sales_book_nothing(kes: LightspeedXSandbox, status: str) -> None:
    sale = load("sale_split_tender_kes.json")
    sale["status"] = status
    assert source_for(kes, "kes").parse_event("sale.update", sale) == []


def test_a_voided_return_after_money_went_back_is_held_for_a_person(kes: LightspeedXSandbox) -> None:
    returned = load("return_other_day_kes.json")
    returned["status"] = "VOIDED"
    with pytest.raises(MalformedPayload, match="reverse it in the ledger by hand"):
        source_for(kes, "kes").parse_event("sale.update", returned)
    returned["payments"] = []
    assert source_for(kes, "kes").parse_event("sale.update", returned) == []


def test_a_sale_paying_money_out_with_nothing_returned_is_refused(kes: LightspeedXSandbox) -> None:
    sale = load("sale_split_tender_kes.json")
    sale["payments"][0]["amount"] = D("-1500")
    with pytest.raises(MalformedPayload, match="pays out"):
        source_for(kes, "kes").parse_event("sale.update", sale)


def test_forced_exclusive_mode_and_method_overrides(kes: LightspeedXSandbox) -> None:
    source = source_for(kes, "kes", prices_include_tax="false", payment_methods={"M-Pesa": "mpesa_paybill"})
    [sale] = source.parse_event("sale.update", load("sale_split_tender_kes.json"))
    wrap = sale.lines[0]
    # Ex tax: 2 x (900.00 + 100.00) = 2,000.00 before discounts, 1,756.94 after; tax on top.
    assert (sale.prices_include_tax, wrap.unit_price) == (False, D("1000.00"))
    assert wrap.gross("KES") - wrap.discount == D("1756.94")
    assert sale.tenders[0].method == "mpesa_paybill"
    assert sale.total == D("2320.00") == expected_total(sale)


@pytest.mark.parametrize(
    ("payment", "method"),
    [
        ({"name": "Cash"}, "cash"),
        ({"name": "Credit Card"}, "card"),
        ({"name": "M-Pesa"}, "mpesa"),
        ({"name": "Orange Money"}, "orange_money"),
        ({"name": "Gift Card"}, "gift_card"),
        ({"name": "Saddlers Bank Transfer"}, "saddlers_bank_transfer"),
        ({"payment_type_name": "Wave"}, "wave"),
        ({}, "other"),
    ],
)
def test_method_names(payment: dict[str, str], method: str) -> None:
    assert method_for(payment) == method


def test_names_from_settings_spare_the_api(kes: LightspeedXSandbox, calls: list[Any]) -> None:
    sale = load("sale_split_tender_kes.json")
    data = store("kes").export()
    settings = {
        "outlets": {sale["outlet_id"]: {"name": "Nairobi CBD", "prices_include_tax": True}},
        "registers": {sale["register_id"]: {"name": "Till 1", "outlet_id": sale["outlet_id"]}},
        "discount_product_id": data["retailer"]["discount_product_id"],
    }
    without = copy.deepcopy(sale)
    for item in without["line_items"]:
        item["name"] = "Line"  # a line naming itself needs no product look-up
    source = source_for(kes, "kes", **settings)
    [parsed] = source.parse_event("sale.update", without)
    assert (parsed.location, parsed.register) == ("Nairobi CBD", "Till 1")
    assert calls == []  # nothing was asked of the API


def test_a_card_surcharge_is_a_fee_line_and_part_of_the_total(usd: LightspeedXSandbox) -> None:
    sale = load("sale_shipping_tip_usd.json")
    rate_ids = [c["rate_id"] for c in sale["line_items"][0]["tax_components"]]
    # A 2.00 card surcharge (ex tax) taxed 6 % + 2 % = 0.12 + 0.04: the customer paid 2.16 more.
    sale["adjustments"].append({"name": "Card surcharge", "type": "SURCHARGE", "value": D("2.00"),
                                "tax_components": [{"rate_id": rate_ids[0], "total_tax": D("0.12")},
                                                   {"rate_id": rate_ids[1], "total_tax": D("0.04")}]})  # fmt: skip
    sale["payments"][0]["amount"] = D("105.56")
    [parsed] = source_for(usd, "usd").parse_event("sale.update", sale)
    fee = parsed.lines[-1]
    assert (fee.kind, fee.category, fee.name, fee.unit_price) == (
        "fee",
        "surcharges",
        "Card surcharge",
        D("2.00"),
    )
    assert [t.amount for t in fee.tax_lines] == [D("0.12"), D("0.04")]
    assert parsed.total == D("105.56") == expected_total(parsed)
