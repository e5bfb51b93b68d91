"""Square events -> canonical documents, with follow-up reads served by the sandbox over HTTP."""

from __future__ import annotations

import copy
from dataclasses import replace
from decimal import Decimal

import pytest

from connectors.base import AuthExpired, MalformedPayload, Permanent, Retryable
from connectors.sandbox.base import Fault
from connectors.sandbox.square import SquareSandbox, make_event
from connectors.sources.square import SquareSource
from connectors.sources.square.api import SQUARE_VERSION, SquareNotFound
from integrator import money
from integrator.canonical import Payment, Payout, Refund, Sale
from tests.fixtures.square import (
    GBP_ORDER_ID,
    JPY_ORDER_ID,
    PAYOUT_ID,
    RETURN_ORDER_ID,
    USD_ORDER_ID,
    USD_PAYMENT_ID,
    captured_calls,
    load,
    seed,
    source_for,
)


@pytest.fixture(scope="module")
def server():
    with SquareSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def square(server):
    server.reset()
    return seed(server)


@pytest.fixture(autouse=True)
def calls():
    with captured_calls() as records:
        yield records


def order_event(order_id: str, state: str = "COMPLETED", event_type: str = "order.updated") -> dict:
    key = "order_updated" if event_type == "order.updated" else "order_created"
    note = {"order_id": order_id, "version": 4, "location_id": "L1", "state": state}
    return make_event(event_type, key, order_id, {key: note})


def minor(amount: Decimal, currency: str) -> int:
    return money.to_minor(amount, currency)


# -- orders -> sales ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "order_file", ["order_additive_usd.json", "order_inclusive_gbp.json", "order_jpy.json"]
)
def test_sale_totals_equal_squares_to_the_cent(square, order_file):
    order = load(order_file)
    [sale] = source_for(square, "sq-parse").parse_event("order.updated", order_event(order["id"]))
    assert isinstance(sale, Sale)
    cur = sale.currency
    assert minor(sale.total, cur) == order["total_money"]["amount"]
    assert minor(sum((ln.tax() for ln in sale.lines), Decimal(0)), cur) == order["total_tax_money"]["amount"]
    assert (
        minor(sum((ln.discount for ln in sale.lines), Decimal(0)), cur)
        == order["total_discount_money"]["amount"]
    )
    assert minor(sale.tips, cur) == order["total_tip_money"]["amount"]
    assert sum((t.amount for t in sale.tenders), Decimal(0)) == sale.total
    # The lines rebuild the total the way the core's validator does.
    rebuilt = sum((ln.gross(cur) - ln.discount for ln in sale.lines), Decimal(0)) + sale.tips
    if not sale.prices_include_tax:
        rebuilt += sum((ln.tax() for ln in sale.lines), Decimal(0))
    assert rebuilt == sale.total
    # And the order really came over HTTP, authenticated and versioned.
    [fetch] = square.requests_to("GET", f"/v2/orders/{order['id']}$")
    assert fetch.header("Authorization") == f"Bearer {square.access_token}"
    assert fetch.header("Square-Version") == SQUARE_VERSION


def test_additive_usd_order_lines(square):
    [sale] = source_for(square, "sq-parse").parse_event("order.updated", load("order_updated_usd.json"))
    assert sale.external_id == USD_ORDER_ID
    assert sale.prices_include_tax is False
    assert sale.currency == "USD"
    kente, shea = sale.lines
    assert (kente.quantity, kente.unit_price, kente.discount, kente.tax()) == (
        2,
        Decimal("25.00"),
        Decimal("5.00"),
        Decimal("3.99"),
    )
    assert (shea.name, shea.unit_price, shea.discount, shea.tax()) == (
        "Shea butter (250 ml)",
        Decimal("12.50"),
        Decimal("1.25"),
        Decimal("1.00"),
    )
    assert kente.tax_lines[0].rate == Decimal("0.08875")
    assert kente.tax_lines[0].title == "NYC sales tax"
    assert [(d.code, d.amount, d.target) for d in sale.discounts] == [
        ("Loyalty 10%", Decimal("6.25"), "order")
    ]
    assert sale.tips == Decimal("6.00")
    [tender] = sale.tenders
    assert (tender.method, tender.amount, tender.fee, tender.reference) == (
        "visa",
        Decimal("67.24"),
        Decimal("1.85"),
        USD_PAYMENT_ID,
    )
    assert sale.occurred_at.tzinfo is not None


def test_inclusive_gbp_order(square):
    [sale] = source_for(square, "sq-parse").parse_event(
        "order.created", order_event(GBP_ORDER_ID, event_type="order.created")
    )
    assert sale.prices_include_tax is True
    assert sale.total == Decimal("38.00")
    assert [ln.tax() for ln in sale.lines] == [Decimal("4.00"), Decimal("2.00")]
    assert sale.lines[1].discount == Decimal("1.50")
    assert sale.customer is not None and sale.customer.external_id == "JDKYHBWT1D4F8MFH63DBMEN8Y4"
    assert sale.number == "POS-000417"


def test_zero_decimal_jpy_order(square):
    [sale] = source_for(square, "sq-parse").parse_event("order.updated", order_event(JPY_ORDER_ID))
    assert sale.currency == "JPY"
    assert sale.total == Decimal("5760") and sale.total.as_tuple().exponent == 0
    rooibos, fabric, wrapping = sale.lines
    assert fabric.quantity == Decimal("1.5") and fabric.unit_price == Decimal("2200")
    assert [t.rate for t in rooibos.tax_lines + fabric.tax_lines] == [Decimal("0.08"), Decimal("0.10")]
    assert (wrapping.kind, wrapping.unit_price, wrapping.tax_lines) == ("fee", Decimal("300"), ())
    assert [(t.method, t.amount, t.fee) for t in sale.tenders] == [("cash", Decimal("5760"), Decimal("0"))]


def test_open_order_is_not_fetched(square):
    assert (
        source_for(square, "sq-parse").parse_event("order.updated", order_event(USD_ORDER_ID, state="OPEN"))
        == []
    )
    assert square.requests_to("GET", "/v2/orders/") == []


def test_return_order_is_not_a_sale(square):
    assert source_for(square, "sq-parse").parse_event("order.updated", order_event(RETURN_ORDER_ID)) == []


def test_order_that_disagrees_with_square_totals_is_refused(square):
    order = load("order_additive_usd.json")
    order["total_money"]["amount"] += 1
    square.add_order(order)
    with pytest.raises(MalformedPayload, match="total_money"):
        source_for(square, "sq-parse").parse_event("order.updated", order_event(USD_ORDER_ID))


@pytest.mark.parametrize("order_id", ["\ud800", "a\x00b"])
def test_a_reason_quoting_an_unstorable_order_id_can_itself_be_stored(square, order_id):
    """Issue 14 (poison property, fetched sources): Square served an order whose id is a lone
    surrogate (or holds a NUL) and whose line is not an object; the reason quoted the raw id, the
    database could not store it, and the event stayed unjudged. MalformedPayload escapes it."""
    order = load("order_additive_usd.json")
    order["id"], order["line_items"][0] = order_id, "Infinity"
    square.orders["P-BAD-1"] = order
    with pytest.raises(MalformedPayload, match="not an object") as refused:
        source_for(square, "sq-parse").parse_event("order.updated", order_event("P-BAD-1"))
    str(refused.value).encode("utf-8")  # no lone surrogate left
    assert "\x00" not in str(refused.value)


def test_order_mixing_inclusive_and_additive_tax_is_refused(square):
    order = load("order_jpy.json")
    order["taxes"][1]["type"] = "ADDITIVE"
    square.add_order(order)
    with pytest.raises(MalformedPayload, match="mixes inclusive and additive"):
        source_for(square, "sq-parse").parse_event("order.updated", order_event(JPY_ORDER_ID))


def test_measured_quantity_rounded_by_square_keeps_the_money_exact(square):
    order = load("order_jpy.json")
    fabric = order["line_items"][1]
    # 1.5 m at 1999 is 2998.5: were Square to round it half-even to 2998, quantity x unit price
    # (2999 half-up) would no longer give Square's line total.
    fabric["quantity"], fabric["base_price_money"]["amount"] = "1.5", 1999
    fabric["variation_total_price_money"]["amount"] = fabric["total_money"]["amount"] = 2998
    fabric["applied_taxes"][0]["applied_money"]["amount"] = fabric["total_tax_money"]["amount"] = 273
    order["taxes"][1]["applied_money"]["amount"] = 273
    order["total_tax_money"]["amount"] = 160 + 273
    order["total_money"]["amount"] = order["tenders"][0]["amount_money"]["amount"] = 2160 + 2998 + 300
    square.add_order(order)
    [sale] = source_for(square, "sq-parse").parse_event("order.updated", order_event(JPY_ORDER_ID))
    line = sale.lines[1]
    assert (line.quantity, line.unit_price, line.name) == (
        1,
        Decimal("2998"),
        "Wax print fabric (Per metre) x 1.5",
    )
    assert sale.total == Decimal("5458")


# -- payments -------------------------------------------------------------------------------------


def test_payment_created_completed_gbp(square):
    [payment] = source_for(square, "sq-parse").parse_event(
        "payment.created", load("payment_created_gbp.json")
    )
    assert isinstance(payment, Payment)
    assert (payment.external_id, payment.currency, payment.amount) == (
        "Pm4cW9xR2kT7qL5vYb8NsD3gFZY",
        "GBP",
        Decimal("38.00"),
    )
    assert (payment.fee, payment.method, payment.gateway) == (Decimal("0.67"), "mastercard", "square")
    assert payment.sale_external_id == GBP_ORDER_ID
    assert payment.metadata["tip"] == "2.00" and payment.metadata["amount"] == "36.00"


@pytest.mark.parametrize("status", ["APPROVED", "PENDING", "CANCELED", "FAILED"])
def test_payment_not_completed_gives_nothing(square, status):
    body = load("payment_created_gbp.json")
    body["data"]["object"]["payment"]["status"] = status
    assert source_for(square, "sq-parse").parse_event("payment.updated", body) == []


def test_payment_fees_are_summed_with_adjustments(square):
    body = load("payment_created_gbp.json")
    fees = body["data"]["object"]["payment"]["processing_fee"]
    fees.append({"type": "ADJUSTMENT", "amount_money": {"amount": -5, "currency": "GBP"}})
    [payment] = source_for(square, "sq-parse").parse_event("payment.updated", body)
    assert payment.fee == Decimal("0.62")


# -- refunds --------------------------------------------------------------------------------------


def test_partial_refund_links_to_the_sale_not_the_return_order(square):
    [refund] = source_for(square, "sq-parse").parse_event(
        "refund.updated", load("refund_updated_partial_usd.json")
    )
    assert isinstance(refund, Refund)
    assert refund.sale_external_id == USD_ORDER_ID  # the payment's order, not Square's return order
    assert refund.metadata["return_order_id"] == RETURN_ORDER_ID
    assert refund.total == Decimal("12.25") and refund.adjustment == Decimal("0.00")
    [line] = refund.lines
    assert (line.quantity, line.unit_price, line.discount, line.tax()) == (
        1,
        Decimal("12.50"),
        Decimal("1.25"),
        Decimal("1.00"),
    )
    assert refund.prices_include_tax is False
    [tender] = refund.tenders
    assert (tender.method, tender.amount, tender.fee) == ("visa", Decimal("12.25"), Decimal("-0.33"))
    assert square.requests_to("GET", f"/v2/payments/{USD_PAYMENT_ID}$")
    assert square.requests_to("GET", f"/v2/orders/{RETURN_ORDER_ID}$")


def test_refund_without_its_payment_uses_the_return_orders_source(square):
    del square.payments[USD_PAYMENT_ID]
    [refund] = source_for(square, "sq-parse").parse_event(
        "refund.updated", load("refund_updated_partial_usd.json")
    )
    assert refund.sale_external_id == USD_ORDER_ID
    assert refund.tenders[0].method == "card"  # the destination type: the card brand is unknown


def test_refund_without_return_order_is_an_adjustment(square):
    del square.orders[RETURN_ORDER_ID]
    [refund] = source_for(square, "sq-parse").parse_event(
        "refund.created", load("refund_updated_partial_usd.json")
    )
    assert refund.lines == () and refund.adjustment == refund.total == Decimal("12.25")
    assert refund.sale_external_id == USD_ORDER_ID


@pytest.mark.parametrize("status", ["PENDING", "REJECTED", "FAILED"])
def test_refund_not_completed_gives_nothing_and_fetches_nothing(square, status):
    body = load("refund_updated_partial_usd.json")
    body["data"]["object"]["refund"]["status"] = status
    assert source_for(square, "sq-parse").parse_event("refund.updated", body) == []
    assert len(square.requests) == 0


# -- payouts --------------------------------------------------------------------------------------


def test_payout_entries_sum_to_the_payout_and_fees_separate(square):
    [payout] = source_for(square, "sq-parse").parse_event("payout.paid", load("payout_paid_gbp.json"))
    assert isinstance(payout, Payout)
    assert (payout.external_id, payout.status, payout.amount) == (PAYOUT_ID, "paid", Decimal("107.56"))
    assert sum((i.net for i in payout.items), Decimal(0)) == payout.amount
    assert payout.gross() - payout.fees() == payout.amount
    assert payout.fees() == Decimal("31.44")  # 0.67 + 2.19 - 0.42 returned + 29.00 subscription
    assert sorted(i.type for i in payout.items) == ["charge", "charge", "fee", "refund"]
    [fee] = [i for i in payout.items if i.type == "fee"]
    assert (fee.amount, fee.fee, fee.net, fee.description) == (
        0,
        Decimal("29.00"),
        Decimal("-29.00"),
        "SUBSCRIPTION_FEE",
    )
    assert "Pm4cW9xR2kT7qL5vYb8NsD3gFZY" in {i.source_id for i in payout.items}
    assert payout.metadata["gateway"] == "square"
    assert str(payout.arrival_date) == "2025-03-18"


def test_payout_entries_are_paged_with_cursors(square):
    payout = load("payout_paid_gbp.json")["data"]["object"]["payout"]
    entry = load("payout_entries_gbp.json")["payout_entries"][1]
    entries = []
    for n in range(230):
        e = copy.deepcopy(entry)
        e["id"] = f"poe_{n:04d}"
        entries.append(e)
    payout["amount_money"]["amount"] = 230 * 12281
    square.add_payout(payout, entries)
    [doc] = source_for(square, "sq-parse").parse_event(
        "payout.sent", make_event("payout.sent", "payout", payout["id"], {"payout": payout})
    )
    assert len(doc.items) == 230 and doc.amount == Decimal("28246.30")
    pages = square.requests_to("GET", "/payout-entries$")
    assert len(pages) == 3 and [p.arg("cursor") != "" for p in pages] == [False, True, True]


def test_transfer_fee_not_among_entries_becomes_a_fee_item(square):
    payout = load("payout_paid_gbp.json")["data"]["object"]["payout"]
    payout["payout_fee"] = [{"type": "TRANSFER_FEE", "amount_money": {"amount": 95, "currency": "GBP"}}]
    payout["amount_money"]["amount"] -= 95
    square.add_payout(payout, load("payout_entries_gbp.json")["payout_entries"])
    [doc] = source_for(square, "sq-parse").parse_event(
        "payout.paid", make_event("payout.paid", "payout", PAYOUT_ID, {"payout": payout})
    )
    assert doc.items[-1].fee == Decimal("0.95")
    assert sum((i.net for i in doc.items), Decimal(0)) == doc.amount == Decimal("106.61")


def test_payout_entries_that_do_not_explain_the_payout_are_refused(square):
    payout = load("payout_paid_gbp.json")["data"]["object"]["payout"]
    payout["amount_money"]["amount"] += 1
    with pytest.raises(MalformedPayload, match="net to"):
        source_for(square, "sq-parse").parse_event(
            "payout.paid", make_event("payout.paid", "payout", PAYOUT_ID, {"payout": payout})
        )


@pytest.mark.parametrize(
    ("event_type", "status"), [("payout.sent", "in_transit"), ("payout.failed", "failed")]
)
def test_payout_statuses(square, event_type, status):
    body = load("payout_paid_gbp.json")
    body["type"] = event_type
    body["data"]["object"]["payout"]["status"] = event_type.split(".")[1].upper()
    [doc] = source_for(square, "sq-parse").parse_event(event_type, body)
    assert doc.status == status


# -- errors and the rest ---------------------------------------------------------------------------


def test_unrelated_event_types_give_nothing(square):
    body = make_event("inventory.count.updated", "inventory", "x", {"inventory_counts": []})
    assert source_for(square, "sq-parse").parse_event("inventory.count.updated", body) == []


def test_refused_token_is_auth_expired(square):
    src = source_for(square, "sq-parse")
    square.access_token = "rotated-elsewhere"
    with pytest.raises(AuthExpired) as info:
        src.parse_event("order.updated", order_event(USD_ORDER_ID))
    assert info.value.vendor_code == "UNAUTHORIZED"


def test_missing_order_is_permanent_with_squares_code(square):
    with pytest.raises(SquareNotFound) as info:
        source_for(square, "sq-parse").parse_event("order.updated", order_event("no-such-order"))
    assert isinstance(info.value, Permanent) and info.value.vendor_code == "NOT_FOUND"


def test_transient_server_errors_are_retried(square):
    square.faults.next(Fault("status", status=503), Fault("status", status=500))
    [sale] = source_for(square, "sq-parse").parse_event("order.updated", order_event(USD_ORDER_ID))
    assert sale.total == Decimal("67.24")
    assert len(square.requests_to("GET", f"/v2/orders/{USD_ORDER_ID}$")) == 3


def test_persistent_server_errors_surface_as_retryable(square):
    square.faults.next(*[Fault("status", status=500)] * 5)
    slept: list[float] = []
    src = SquareSource(source_for(square, "sq-parse").config, sleep=slept.append)
    with pytest.raises(Retryable) as info:
        src.parse_event("order.updated", order_event(USD_ORDER_ID))
    assert info.value.vendor_code == "INTERNAL_SERVER_ERROR"
    assert len(square.requests_to("GET", "/v2/orders/")) == 5 and len(slept) == 4


def test_calls_are_logged_without_the_token(square, calls):
    source_for(square, "sq-parse").parse_event("refund.updated", load("refund_updated_partial_usd.json"))
    assert [c.url.rsplit("/", 2)[-2] for c in calls] == ["payments", "orders"]
    assert all(c.vendor == "square" and c.status == 200 for c in calls)
    assert square.access_token not in repr(calls)


def test_missing_access_token_asks_for_reauthorisation(square):
    src = source_for(square, "sq-parse")
    src.config = type(src.config)(channel_slug="x", currency="USD", base_url=square.url)
    with pytest.raises(AuthExpired):
        src.parse_event("order.updated", order_event(USD_ORDER_ID))


# -- shapes the fixtures do not cover -------------------------------------------------------------


def test_a_new_order_version_without_money_changes_is_the_same_document(square):
    src = source_for(square, "sq-parse")
    [first] = src.parse_event("order.updated", order_event(USD_ORDER_ID))
    order = load("order_additive_usd.json")
    order["version"], order["updated_at"] = 9, "2025-03-21T08:00:00.000Z"  # e.g. after a refund
    square.add_order(order)
    [second] = src.parse_event("order.updated", order_event(USD_ORDER_ID))
    assert second.source_updated_at > first.source_updated_at
    assert replace(second, source_updated_at=None) == replace(first, source_updated_at=None)


def test_gift_cards_sold_and_redeemed(square):
    order = load("order_additive_usd.json")
    order["line_items"][1]["item_type"] = "GIFT_CARD"
    order["tenders"][0]["type"] = "SQUARE_GIFT_CARD"
    square.add_order(order)
    [sale] = source_for(square, "sq-parse").parse_event("order.updated", order_event(USD_ORDER_ID))
    assert sale.lines[1].kind == "gift_card"
    assert (sale.tenders[0].kind, sale.tenders[0].method) == ("gift_card", "gift_card")


def test_cash_rounding_adjustment_is_a_fee_line(square):
    order = load("order_jpy.json")
    order["rounding_adjustment"] = {
        "uid": "round-1",
        "name": "Cash rounding",
        "amount_money": {"amount": 5, "currency": "JPY"},
    }
    order["total_money"]["amount"] = order["tenders"][0]["amount_money"]["amount"] = 5765
    square.add_order(order)
    [sale] = source_for(square, "sq-parse").parse_event("order.updated", order_event(JPY_ORDER_ID))
    assert (sale.lines[-1].kind, sale.lines[-1].unit_price, sale.total) == (
        "fee",
        Decimal("5"),
        Decimal("5765"),
    )


def test_exchange_order_is_refused_for_a_person(square):
    order = load("order_additive_usd.json")
    order["returns"] = load("order_return_usd.json")["returns"]
    square.add_order(order)
    with pytest.raises(MalformedPayload, match="exchange"):
        source_for(square, "sq-parse").parse_event("order.updated", order_event(USD_ORDER_ID))


def test_money_in_another_currency_inside_an_order_is_refused(square):
    order = load("order_inclusive_gbp.json")
    order["line_items"][0]["base_price_money"]["currency"] = "EUR"
    square.add_order(order)
    with pytest.raises(MalformedPayload, match="EUR"):
        source_for(square, "sq-parse").parse_event("order.updated", order_event(GBP_ORDER_ID))


def test_documents_pass_the_cores_validation(square):
    from integrator.services.transactions import validate_document

    src = source_for(square, "sq-parse")
    docs = [
        *src.parse_event("order.updated", order_event(USD_ORDER_ID)),
        *src.parse_event("order.updated", order_event(GBP_ORDER_ID)),
        *src.parse_event("order.updated", order_event(JPY_ORDER_ID)),
        *src.parse_event("payment.created", load("payment_created_gbp.json")),
        *src.parse_event("refund.updated", load("refund_updated_partial_usd.json")),
        *src.parse_event("payout.paid", load("payout_paid_gbp.json")),
    ]
    assert [d.kind for d in docs] == ["sale", "sale", "sale", "payment", "refund", "payout"]
    assert {d.external_id: validate_document(d) for d in docs} == {d.external_id: [] for d in docs}
