"""Shopify source: webhook signatures and identity, order/refund/payout parsing, worked examples.

Fixtures under ``tests/fixtures/shopify/`` follow Shopify's documented REST/webhook shapes (checked
against the vendor spec in ``test_shopify_contract.py``). Tests that need Shopify's API (a refund's
order, a multi-gateway order's transactions) run against the sandbox over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import http
from connectors.base import (
    MalformedPayload,
    SignatureInvalid,
    SourceConfig,
    WebhookRequest,
    sales_source_class,
)
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.shopify import ShopifySandbox, sign_webhook
from connectors.sources.shopify import ShopifySource
from integrator import money
from integrator.canonical import Refund, Sale
from tests.fixtures.shopify import (
    OLD_SECRET,
    SECRET,
    captured_calls,
    load,
    make_source,
    payout_record,
    refund_identity,
    sale_identity,
    total_tax,
)


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[http.CallRecord]]:
    """Outbound calls, recorded in memory instead of the integration-log table."""
    with captured_calls() as recorded:
        yield recorded


def webhook(body: bytes, secret: str | None = SECRET, **headers: str) -> WebhookRequest:
    """A webhook as our receiver would see it; signed with ``secret`` unless None."""
    base = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Event-Id": "8a1c5d7e-0b43-4c1e-9d0e-2f6a0e1b7c11",
        "X-Shopify-Webhook-Id": "b54557e4-8a5b-4f7d-70bc-d043a1f2e901",
        "X-Shopify-Shop-Domain": "sankofa-imports.myshopify.com",
    }
    if secret is not None:
        base["X-Shopify-Hmac-Sha256"] = sign_webhook(body, secret)
    base.update(headers)
    return WebhookRequest(
        body=body, headers=base, url="https://integrator.example/hooks/shop/", received_at=datetime.now(UTC)
    )


def only(docs: list[Any], cls: type) -> Any:
    """The single document of a type."""
    found = [d for d in docs if isinstance(d, cls)]
    assert len(found) == 1, docs
    return found[0]


def dec(value: str) -> Decimal:
    return Decimal(value)


# -- registry ------------------------------------------------------------------------------------


def test_registry_finds_the_shopify_source() -> None:
    assert sales_source_class("shopify") is ShopifySource
    assert ShopifySource.capabilities == frozenset({"webhook", "pull", "payouts"})


# -- signatures ----------------------------------------------------------------------------------


class TestVerifyWebhook:
    body = json.dumps(load("order_discount_two_taxes")).encode()

    def test_valid_signature_is_accepted(self) -> None:
        make_source().verify_webhook(webhook(self.body))

    def test_previous_secret_is_accepted_during_rotation(self) -> None:
        make_source().verify_webhook(webhook(self.body, secret=OLD_SECRET))

    def test_tampered_body_is_rejected(self) -> None:
        request = webhook(self.body)
        tampered = WebhookRequest(
            body=self.body.replace(b'"150.74"', b'"1.74"'),
            headers=request.headers,
            url=request.url,
            received_at=request.received_at,
        )
        assert tampered.body != self.body
        with pytest.raises(SignatureInvalid):
            make_source().verify_webhook(tampered)

    def test_wrong_secret_is_rejected(self) -> None:
        with pytest.raises(SignatureInvalid):
            make_source().verify_webhook(webhook(self.body, secret="whsec_someone_else"))

    def test_missing_header_is_rejected(self) -> None:
        with pytest.raises(SignatureInvalid, match="missing"):
            make_source().verify_webhook(webhook(self.body, secret=None))

    def test_garbage_header_is_rejected(self) -> None:
        with pytest.raises(SignatureInvalid):
            make_source().verify_webhook(
                webhook(self.body, secret=None, **{"X-Shopify-Hmac-Sha256": "%%%not base64"})
            )

    def test_secret_dropped_after_rotation_is_rejected(self) -> None:
        source = make_source()
        rotated = ShopifySource(
            SourceConfig(channel_slug="rotated", currency="CAD", webhook_secrets=(SECRET,)),
        )
        source.verify_webhook(webhook(self.body, secret=OLD_SECRET))
        with pytest.raises(SignatureInvalid):
            rotated.verify_webhook(webhook(self.body, secret=OLD_SECRET))

    def test_no_configured_secret_rejects_everything(self) -> None:
        bare = ShopifySource(SourceConfig(channel_slug="bare", currency="CAD"))
        with pytest.raises(SignatureInvalid):
            bare.verify_webhook(webhook(self.body))


# -- identity ------------------------------------------------------------------------------------


class TestIdentifyWebhook:
    body = b'{"id": 1}'

    def test_event_id_is_the_dedupe_key_and_topic_the_type(self) -> None:
        envelope = make_source().identify_webhook(webhook(self.body, **{"X-Shopify-Topic": "refunds/create"}))
        assert envelope.dedupe_key == "8a1c5d7e-0b43-4c1e-9d0e-2f6a0e1b7c11"
        assert envelope.event_type == "refunds/create"
        assert envelope.extra["webhook_id"] == "b54557e4-8a5b-4f7d-70bc-d043a1f2e901"
        assert envelope.extra["shop_domain"] == "sankofa-imports.myshopify.com"

    def test_webhook_id_is_the_fallback(self) -> None:
        request = webhook(self.body)
        headers = {k: x for k, x in request.headers.items() if k != "X-Shopify-Event-Id"}
        envelope = make_source().identify_webhook(
            WebhookRequest(body=self.body, headers=headers, url=request.url, received_at=request.received_at)
        )
        assert envelope.dedupe_key == "b54557e4-8a5b-4f7d-70bc-d043a1f2e901"

    @pytest.mark.parametrize(
        ("body", "headers"),
        [
            (b'{"id": 1}', {"X-Shopify-Topic": ""}),
            (b"not json at all", {}),
            (b"[1, 2, 3]", {}),
            (b'{"id": 1}', {"X-Shopify-Event-Id": "", "X-Shopify-Webhook-Id": ""}),
        ],
        ids=["missing-topic", "not-json", "not-an-object", "no-event-identity"],
    )
    def test_malformed_deliveries_are_refused(self, body: bytes, headers: dict[str, str]) -> None:
        with pytest.raises(MalformedPayload):
            make_source().identify_webhook(webhook(body, **headers))


# -- the worked example: discount code, two tax rates, shipping, tip; then refunds --------------


class TestWorkedExample:
    """Order #1042 (CAD, tax on top): 2 x Kente scarf 45.00 and 3 x Shea butter 12.99, code WELCOME10
    (10 % off, 12.90 allocated over the lines), GST 5 % on everything, PST 7 % on goods only,
    shipping 15.00, tip 5.00. Shopify: total_price 150.74, total_tax 14.67, total_discounts 12.90."""

    def test_sale_totals_equal_shopifys_to_the_cent(self) -> None:
        order = load("order_discount_two_taxes")
        sale = only(make_source().parse_event("orders/paid", order), Sale)

        assert sale.external_id == "5860841259031" and sale.number == "#1042"
        assert sale.currency == "CAD" and not sale.prices_include_tax
        assert sale.total == dec(order["total_price"]) == dec("150.74")
        assert total_tax(sale) == dec(order["total_tax"]) == dec("14.67")
        discounts = sum((ln.discount for ln in sale.lines), Decimal(0)) + sum(
            (s.discount for s in sale.shipping), Decimal(0)
        )
        assert discounts == dec(order["total_discounts"]) == dec("12.90")
        assert sale.tips == dec("5.00")
        assert sale_identity(sale) == sale.total

    def test_each_tax_rate_adds_up_to_the_orders_tax_lines(self) -> None:
        order = load("order_discount_two_taxes")
        sale = only(make_source().parse_event("orders/paid", order), Sale)
        per_title: dict[str, Decimal] = {}
        for tax in [t for ln in sale.lines for t in ln.tax_lines] + [
            t for s in sale.shipping for t in s.tax_lines
        ]:
            per_title[tax.title] = per_title.get(tax.title, Decimal(0)) + tax.amount
        assert per_title == {t["title"]: dec(t["price"]) for t in order["tax_lines"]}
        assert {t.rate for ln in sale.lines for t in ln.tax_lines} == {dec("0.05"), dec("0.07")}

    def test_sale_details(self) -> None:
        sale = only(make_source().parse_event("orders/paid", load("order_discount_two_taxes")), Sale)
        scarf, shea = sale.lines
        assert (scarf.quantity, scarf.unit_price, scarf.discount, scarf.sku) == (
            2,
            dec("45.00"),
            dec("9.00"),
            "KENTE-SCARF-RG",
        )
        assert (shea.quantity, shea.unit_price, shea.discount) == (3, dec("12.99"), dec("3.90"))
        assert sale.shipping[0].title == "Canada Post Expedited" and sale.shipping[0].tax() == dec("0.75")
        assert [(d.code, d.amount, d.target) for d in sale.discounts] == [("WELCOME10", dec("12.90"), "line")]
        assert [(t.method, t.amount, t.kind) for t in sale.tenders] == [
            ("shopify_payments", dec("150.74"), "payment")
        ]
        assert sale.customer is not None
        assert (sale.customer.external_id, sale.customer.name, sale.customer.email) == (
            "7312456990743",
            "Ama Mensah",
            "ama.mensah@example.com",
        )
        assert sale.occurred_at.utcoffset() is not None
        assert sale.metadata["shopify_total_tax"] == "14.67"

    def test_partial_refund_of_one_line(self) -> None:
        raw = load("refund_partial_line")
        with ShopifySandbox(orders=[load("order_discount_two_taxes")]) as shop:
            refund = only(make_source(base_url=shop.url).parse_event("refunds/create", raw), Refund)

        transactions = sum(dec(t["amount"]) for t in raw["transactions"] if t["kind"] == "refund")
        assert refund.total == transactions == dec("45.36")
        assert refund.sale_external_id == "5860841259031" and refund.external_id == "1002388275223"
        (line,) = refund.lines
        rli = raw["refund_line_items"][0]
        # Shopify's own amounts, never recomputed:
        assert (
            line.gross("CAD") - line.discount
            == dec(rli["subtotal_set"]["shop_money"]["amount"])
            == dec("40.50")
        )
        assert line.tax() == dec(rli["total_tax_set"]["shop_money"]["amount"]) == dec("4.86")
        # ... spread over the line's GST and PST in proportion to what they were on the sale:
        assert [(t.title, t.rate, t.amount) for t in line.tax_lines] == [
            ("GST", dec("0.05"), dec("2.03")),
            ("PST", dec("0.07"), dec("2.83")),
        ]
        assert refund_identity(refund) == refund.total
        assert refund.restock and refund.reason == "Customer returned one scarf"
        assert [(t.gateway, t.amount, t.reference) for t in refund.tenders] == [
            ("shopify_payments", dec("45.36"), "7035621425175")
        ]
        # the order was fetched for its context (tax-exclusive prices, shipping tax rates)
        assert shop.requests_to("GET", r"/orders/5860841259031\.json$")

    def test_shipping_only_refund_takes_the_shipping_tax_rate_from_the_order(self) -> None:
        raw = load("refund_shipping_only")
        with ShopifySandbox(orders=[load("order_discount_two_taxes")]) as shop:
            refund = only(make_source(base_url=shop.url).parse_event("refunds/create", raw), Refund)
        assert refund.lines == ()
        (shipping,) = refund.shipping
        assert shipping.amount == dec("15.00")
        assert [(t.title, t.rate, t.amount) for t in shipping.tax_lines] == [
            ("GST", dec("0.05"), dec("0.75"))
        ]
        assert refund.total == dec("15.75") == refund_identity(refund)
        assert not refund.restock

    def test_refund_without_api_access_falls_back_to_the_channel_settings(self) -> None:
        refund = only(make_source().parse_event("refunds/create", load("refund_shipping_only")), Refund)
        assert refund.currency == "CAD" and not refund.prices_include_tax
        assert refund.total == dec("15.75") == refund_identity(refund)
        assert refund.shipping[0].tax_lines[0].amount == dec("0.75")

    def test_orders_updated_after_refunds_carries_the_same_refunds(self) -> None:
        order = load("order_discount_two_taxes")
        order |= {"financial_status": "partially_refunded", "updated_at": "2024-11-09T09:30:02-05:00"}
        order["refunds"] = [load("refund_partial_line"), load("refund_shipping_only")]
        docs = make_source().parse_event("orders/updated", order)

        sale = only(docs, Sale)
        refunds = [d for d in docs if isinstance(d, Refund)]
        assert sale.total == dec("150.74")  # the sale is never netted: refunds are their own documents
        assert [r.external_id for r in refunds] == ["1002388275223", "1002390010391"]
        with ShopifySandbox(orders=[load("order_discount_two_taxes")]) as shop:
            source = make_source(base_url=shop.url)
            from_webhooks = [
                only(source.parse_event("refunds/create", load(name)), Refund)
                for name in ("refund_partial_line", "refund_shipping_only")
            ]
        assert refunds == from_webhooks
        assert sum(r.total for r in refunds) == dec("61.11")


# -- the other fixtures --------------------------------------------------------------------------


def test_full_discount_order_is_a_zero_sale_without_tenders() -> None:
    order = load("order_full_discount")
    sale = only(make_source("GBP").parse_event("orders/paid", order), Sale)
    assert sale.total == dec("0.00") and sale.tenders == ()
    (line,) = sale.lines
    assert line.discount == line.gross("GBP") == dec("10.00")
    assert sale_identity(sale) == sale.total
    assert sum(ln.discount for ln in sale.lines) == dec(order["total_discounts"])


def test_multicurrency_order_is_booked_in_the_shop_currency() -> None:
    order = load("order_multicurrency")
    sale = only(make_source("GBP").parse_event("orders/paid", order), Sale)
    assert (sale.currency, sale.total) == ("GBP", dec("54.99"))
    assert (sale.presentment_currency, sale.presentment_total) == ("EUR", dec("64.90"))
    assert sale.prices_include_tax
    assert sale.lines[0].unit_price == dec("25.00")  # price_set.shop_money, not the 29.50 EUR
    assert total_tax(sale) == dec(order["total_tax_set"]["shop_money"]["amount"]) == dec("9.16")
    assert sale_identity(sale) == sale.total
    assert [t.amount for t in sale.tenders] == [dec("54.99")]


def test_multicurrency_refund_is_in_shop_money_with_the_presentment_amount_recorded() -> None:
    order = load("order_multicurrency") | {"financial_status": "partially_refunded"}
    order["refunds"] = [load("refund_multicurrency")]
    refund = only(make_source("GBP").parse_event("orders/updated", order), Refund)
    assert (refund.currency, refund.total) == ("GBP", dec("25.00"))  # transactions are 29.50 EUR
    assert (
        refund.metadata["presentment_currency"] == "EUR" and refund.metadata["presentment_total"] == "29.50"
    )
    assert [t.amount for t in refund.tenders] == [dec("25.00")]
    assert refund.lines[0].tax() == dec("4.17")
    assert refund_identity(refund) == refund.total


def test_gift_card_purchase_is_an_untaxed_gift_card_line() -> None:
    sale = only(make_source("GBP").parse_event("orders/create", load("order_gift_card_purchase")), Sale)
    card, fabric = sale.lines
    assert card.kind == "gift_card" and card.tax_lines == () and card.gross("GBP") == dec("50.00")
    assert fabric.kind == "product" and fabric.tax() == dec("5.00")
    assert sale.total == dec("83.99") == sale_identity(sale)


def test_gift_card_redemption_splits_tenders_using_the_orders_transactions() -> None:
    order = load("order_gift_card_redeemed")
    assert "transactions" not in order  # webhook bodies carry no transactions
    with ShopifySandbox(orders=[order]) as shop:
        shop.set_transactions(order["id"], load("order_gift_card_redeemed_transactions")["transactions"])
        sale = only(make_source("GBP", base_url=shop.url).parse_event("orders/paid", order), Sale)
        assert shop.requests_to("GET", r"/orders/5860841300004/transactions\.json$")
    assert [(t.method, t.amount, t.kind) for t in sale.tenders] == [
        ("gift_card", dec("50.00"), "gift_card"),
        ("shopify_payments", dec("10.00"), "payment"),
    ]
    assert sum(t.amount for t in sale.tenders) == sale.total == dec("60.00") == sale_identity(sale)
    (shipping,) = sale.shipping
    assert (shipping.amount, shipping.discount) == (dec("4.99"), dec("4.99"))
    assert [(d.code, d.amount, d.target) for d in sale.discounts] == [
        ("Free UK delivery over £50", dec("4.99"), "shipping")
    ]
    discounts = sum(ln.discount for ln in sale.lines) + shipping.discount
    assert discounts == dec(order["total_discounts"])


def test_embedded_transactions_need_no_api_call() -> None:
    order = load("order_gift_card_redeemed")
    order["transactions"] = load("order_gift_card_redeemed_transactions")["transactions"]
    sale = only(make_source("GBP").parse_event("orders/paid", order), Sale)
    assert [t.kind for t in sale.tenders] == ["gift_card", "payment"]


def test_multi_gateway_order_without_api_access_is_refused() -> None:
    with pytest.raises(MalformedPayload, match="several gateways"):
        make_source("GBP").parse_event("orders/paid", load("order_gift_card_redeemed"))


# -- order states --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["pending", "authorized", "voided", "expired"])
def test_unpaid_orders_are_not_sales_yet(status: str) -> None:
    order = load("order_discount_two_taxes") | {"financial_status": status}
    assert make_source().parse_event("orders/create", order) == []


def test_cancelled_unpaid_order_produces_nothing() -> None:
    order = load("order_discount_two_taxes") | {
        "financial_status": "voided",
        "cancelled_at": "2024-11-04T11:00:00-05:00",
        "cancel_reason": "customer",
    }
    assert make_source().parse_event("orders/cancelled", order) == []


def test_cancelled_paid_order_stays_a_sale_and_its_refund_reverses_it() -> None:
    order = load("order_discount_two_taxes") | {
        "financial_status": "refunded",
        "cancelled_at": "2024-11-05T09:00:00-05:00",
        "cancel_reason": "customer",
    }
    full = load("refund_partial_line")
    full["transactions"][0]["amount"] = "150.74"
    full["order_adjustments"] = [{"kind": "refund_discrepancy", "amount": "-105.38", "tax_amount": "0.00"}]
    order["refunds"] = [full]
    docs = make_source().parse_event("orders/cancelled", order)
    sale, refund = only(docs, Sale), only(docs, Refund)
    assert sale.status == "completed" and sale.metadata["cancelled_at"] == "2024-11-05T09:00:00-05:00"
    assert refund.total == sale.total == dec("150.74")
    assert refund.adjustment == dec("105.38")  # more went back than the returned line accounts for
    assert refund_identity(refund) == refund.total


def test_pulled_order_and_webhook_give_the_same_documents() -> None:
    order = load("order_discount_two_taxes")
    source = make_source()
    webhook_docs = source.parse_event("orders/paid", order)
    pulled_docs = source.parse_event("orders/updated", {"order": order})  # REST answers wrap it
    assert [(d.kind, d.external_id) for d in pulled_docs] == [(d.kind, d.external_id) for d in webhook_docs]
    assert pulled_docs == webhook_docs


def test_tip_line_item_is_a_tip_not_a_product() -> None:
    order = load("order_discount_two_taxes")
    order["line_items"].append(
        {"id": 14620305489943, "title": "Tip", "name": "Tip", "price": "5.00", "quantity": 1, "sku": None,
         "product_id": None, "variant_id": None, "taxable": False, "requires_shipping": False,
         "gift_card": False, "tax_lines": [], "discount_allocations": []}
    )  # fmt: skip
    sale = only(make_source().parse_event("orders/paid", order), Sale)
    assert [ln.sku for ln in sale.lines] == ["KENTE-SCARF-RG", "SHEA-250"]
    assert sale.tips == dec("5.00") and sale_identity(sale) == sale.total


def test_duties_are_kept_as_a_fee_line_so_the_sale_adds_up() -> None:
    order = load("order_multicurrency")
    order["original_total_duties_set"] = {
        "shop_money": {"amount": "3.20", "currency_code": "GBP"},
        "presentment_money": {"amount": "3.78", "currency_code": "EUR"},
    }
    order["total_price_set"]["shop_money"]["amount"] = order["total_price"] = "58.19"
    sale = only(make_source("GBP").parse_event("orders/paid", order), Sale)
    assert [(ln.kind, ln.name, ln.unit_price) for ln in sale.lines if ln.kind == "fee"] == [
        ("fee", "Duties", dec("3.20"))
    ]
    assert sale_identity(sale) == sale.total == dec("58.19")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.update(total_price="150.745", total_price_set=None), "decimals"),
        (lambda o: o.update(total_price=None, total_price_set=None), "total_price"),
        (lambda o: o.update(currency="XXQ"), "currency"),
        (lambda o: o["line_items"][0].update(quantity=-1), "quantity"),
        (lambda o: o.update(processed_at="2024-11-04T10:15:00", created_at=None), "offset"),
        (lambda o: o["line_items"][0]["tax_lines"][0].update(rate="lots"), "rate"),
    ],
    ids=["three-decimals", "no-total", "unknown-currency", "negative-quantity", "naive-time", "bad-rate"],
)
def test_unreadable_orders_are_malformed(change: Any, message: str) -> None:
    order = load("order_discount_two_taxes")
    change(order)
    with pytest.raises(MalformedPayload, match=message):
        make_source().parse_event("orders/paid", order)


def test_topics_without_bookkeeping_content_give_nothing() -> None:
    assert make_source().parse_event("products/update", {"id": 1, "title": "Kente scarf"}) == []


# -- webhooks from the sandbox -------------------------------------------------------------------


class _Receiver(SandboxServer):
    """A stand-in for our webhook endpoint that keeps what it receives."""

    vendor = "receiver"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Request] = []

    @route("POST", "/hooks/{slug}/")
    def hook(self, req: Request) -> Response:
        self.received.append(req)
        return Response(200, {"ok": True})


def test_sandbox_sends_webhooks_that_verify_and_dedupe() -> None:
    order = load("order_discount_two_taxes")
    source = make_source()
    with ShopifySandbox() as shop, _Receiver() as receiver:
        url = f"{receiver.url}/hooks/shop/"
        first = shop.send_webhook(url, "orders/paid", order, SECRET)
        again = shop.send_webhook(
            url, "orders/paid", order, SECRET, event_id=first.request.headers["X-Shopify-Event-Id"]
        )
        other = shop.send_webhook(url, "orders/paid", order, SECRET)
    assert [r.status_code for r in (first, again, other)] == [200, 200, 200]
    envelopes = []
    for req in receiver.received:
        request = WebhookRequest(body=req.body, headers=req.headers, url=url, received_at=datetime.now(UTC))
        source.verify_webhook(request)
        envelopes.append(source.identify_webhook(request))
        docs = source.parse_event(envelopes[-1].event_type, json.loads(req.body))
        assert only(docs, Sale).total == dec("150.74")
    assert envelopes[0].dedupe_key == envelopes[1].dedupe_key != envelopes[2].dedupe_key
    assert {e.event_type for e in envelopes} == {"orders/paid"}
    assert money.parse_amount(order["total_price"], "CAD") == dec("150.74")


# -- robustness: any corruption is MalformedPayload or still parses --------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["1.005", "-0", "1e3"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
DOCUMENTS = {
    **{
        name: load(name)
        for name in ("order_discount_two_taxes", "order_multicurrency", "refund_partial_line")
    },
    "payout": payout_record(),
}
CORRUPTIBLE = {name: _paths(document) for name, document in DOCUMENTS.items()}
TOPICS = {"refund_partial_line": "refunds/create", "payout": "payout"}


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(CORRUPTIBLE)),
    pick=st.integers(min_value=0),
    value=JSON_VALUES,
)
def test_corrupted_payloads_parse_or_are_malformed_never_crash(name: str, pick: int, value: Any) -> None:
    document = copy.deepcopy(DOCUMENTS[name])
    *parents, leaf = CORRUPTIBLE[name][pick % len(CORRUPTIBLE[name])]
    target = document
    for step in parents:
        target = target[step]
    target[leaf] = value
    try:
        docs = make_source().parse_event(TOPICS.get(name, "orders/updated"), document)
    except MalformedPayload:
        return
    for doc in docs:
        assert doc.currency in ("CAD", "GBP")
