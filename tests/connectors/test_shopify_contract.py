"""Contract: our Shopify fixtures (and the sandbox's generated orders) have Shopify's shapes.

Shopify publishes no REST OpenAPI. ``shared/specs/shopify`` holds two sources, both Shopify's own:

* REST examples (``order.json``, ``orders.json``, ``refund.json``, ``transactions.json``,
  ``payouts.json``, ``payouts_transactions.json``): exact REST shapes, but from old API versions;
* the Admin GraphQL introspection (2025-01): current and complete, with camelCase names.

The walker below checks every key of every object in our payloads: if a REST example of the same
object type has the key with a non-null value, the JSON types must be equal; otherwise the key must
be a field of the GraphQL type (``snake_case`` -> ``camelCase``, a few documented renames) whose
type fits the JSON value, and enum values must be among the GraphQL enum's values. A handful of
REST-only representations are listed in ``REST_ONLY`` with the reason. Nothing is copied from the
spec files: they are read at test time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pytest

from connectors.base import MalformedPayload
from connectors.sandbox.shopify import generate_orders
from integrator.canonical import Payout, Refund
from tests.contract import load_spec
from tests.fixtures.shopify import FIXTURES, captured_calls, load, make_source

SPEC = "shopify"

# REST name -> GraphQL field, per GraphQL type, where Shopify renamed rather than camel-cased.
RENAMES: dict[str, dict[str, str]] = {
    "Order": {
        "currency": "currencyCode",
        "presentment_currency": "presentmentCurrencyCode",
        "financial_status": "displayFinancialStatus",
        "fulfillment_status": "displayFulfillmentStatus",
    },
    "LineItem": {
        "gift_card": "isGiftCard",
        "price": "originalUnitPrice",
        "price_set": "originalUnitPriceSet",
    },
    "ShippingLine": {"price_set": "originalPriceSet"},
    "DiscountAllocation": {"amount": "allocatedAmount", "amount_set": "allocatedAmountSet"},
}

# Keys that exist only in REST's representation, matched on the end of the path, with the reason.
REST_ONLY: dict[str, str] = {
    "discount_applications[].type": "REST names the GraphQL __typename (discount_code, automatic, manual)",
    "discount_applications[].value_type": "REST splits GraphQL's PricingValue union into value + value_type",
    "discount_applications[].value": "REST gives PricingValue as a decimal string",
    "discount_allocations[].discount_application_index": "REST points at discount_applications by index",
    "discount_codes[].type": "REST's code type (percentage, fixed_amount, shipping); GraphQL lists bare codes",
    "order_adjustments[].kind": "REST's adjustment kind; GraphQL folds it into reason",
    "order_adjustments[].reason": "REST's free-text reason (e.g. Shipping refund); GraphQL has an enum",
    "refunds[].processed_at": "REST refunds carry processed_at; GraphQL Refund only createdAt",
    "refund.processed_at": "REST refunds carry processed_at; GraphQL Refund only createdAt",
}

STRING_SCALARS = {"String", "ID", "URL", "DateTime", "Date", "Money", "Decimal", "HTML", "FormattedString"}


@lru_cache(maxsize=1)
def graphql_types() -> dict[str, dict[str, Any]]:
    """GraphQL types by name, from the introspection file."""
    schema = load_spec(f"{SPEC}/admin_graphql_schema_2025-01.json")["data"]["__schema"]
    return {t["name"]: t for t in schema["types"]}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def unwrap(type_ref: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """(is_list, named type) of a GraphQL type reference; a Connection counts as a list of nodes."""
    is_list = False
    while type_ref.get("ofType") and type_ref["kind"] in ("NON_NULL", "LIST"):
        is_list = is_list or type_ref["kind"] == "LIST"
        type_ref = type_ref["ofType"]
    named = graphql_types()[type_ref["name"]]
    if named["name"].endswith("Connection"):
        nodes = next(f for f in named["fields"] if f["name"] == "nodes")
        return True, unwrap(nodes["type"])[1]
    return is_list, named


def gql_fields(type_name: str) -> dict[str, dict[str, Any]]:
    """Fields of an object type; of an interface, the fields of every type implementing it."""
    gtype = graphql_types()[type_name]
    fields = {f["name"]: f for f in gtype.get("fields") or []}
    for possible in gtype.get("possibleTypes") or []:
        for f in graphql_types()[possible["name"]].get("fields") or []:
            fields.setdefault(f["name"], f)
    return fields


def gql_field(type_name: str | None, key: str) -> dict[str, Any] | None:
    if type_name is None or graphql_types()[type_name]["kind"] not in ("OBJECT", "INTERFACE"):
        return None
    fields = gql_fields(type_name)
    name = "id" if key == "admin_graphql_api_id" else RENAMES.get(type_name, {}).get(key, camel(key))
    return fields.get(name)


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def fits_graphql(value: Any, field: dict[str, Any]) -> str | None:
    """Why ``value`` does not fit the GraphQL field's type (None when it fits)."""
    is_list, named = unwrap(field["type"])
    kind = json_kind(value)
    if kind == "null":
        return None
    if is_list:
        return None if kind == "array" else f"expected a list, got {kind}"
    gkind, name = named["kind"], named["name"]
    if gkind == "ENUM":
        if kind != "string":
            return f"expected an enum string, got {kind}"
        allowed = {e["name"] for e in named["enumValues"]}
        return None if value.upper() in allowed else f"{value!r} is not one of {name}"
    if gkind in ("OBJECT", "INTERFACE", "UNION"):
        # REST flattens a MoneyV2 to its decimal amount string.
        return None if kind == "object" or (name == "MoneyV2" and kind == "string") else f"expected {name}"
    expected = {
        "Int": {"integer"},
        "UnsignedInt64": {"integer", "string"},
        "BigInt": {"integer", "string"},
        "Float": {"number", "integer"},
        "Boolean": {"boolean"},
        "JSON": {"object", "array", "string", "number", "integer", "boolean"},
        "CurrencyCode": {"string"},
    }.get(name, {"string"} if name in STRING_SCALARS else set())
    return None if kind in expected else f"{kind} does not fit GraphQL {name}"


class ShapeChecker:
    """Walks payloads, typing each object by GraphQL type (or by REST path where GraphQL has none)."""

    def __init__(self) -> None:
        self.samples: dict[str, dict[str, list[Any]]] = {}
        examples = [
            ("Order", load_spec(f"{SPEC}/order.json")["order"]),
            *[("Order", o) for o in load_spec(f"{SPEC}/orders.json")["orders"]],
            ("Refund", load_spec(f"{SPEC}/refund.json")["refund"]),
            ("OrderTransaction", load_spec(f"{SPEC}/transaction.json")["transaction"]),
            *[("OrderTransaction", t) for t in load_spec(f"{SPEC}/transactions.json")],
            *[("ShopifyPaymentsPayout", p) for p in load_spec(f"{SPEC}/payouts.json")["payouts"]],
            *[
                ("ShopifyPaymentsBalanceTransaction", t)
                for t in load_spec(f"{SPEC}/payouts_transactions.json")["transactions"]
            ],
        ]
        for context, example in examples:
            self._collect(context, example)

    def _child(self, context: str, key: str) -> tuple[str, dict[str, Any] | None]:
        field = gql_field(context if context in graphql_types() else None, key)
        if field is not None:
            _, named = unwrap(field["type"])
            if named["kind"] in ("OBJECT", "INTERFACE"):
                return named["name"], field
        return f"{context}.{key}", field

    def _collect(self, context: str, obj: dict[str, Any]) -> None:
        sample = self.samples.setdefault(context, {})
        for key, value in obj.items():
            sample.setdefault(key, [])
            if value is not None:
                sample[key].append(value)
            child, _ = self._child(context, key)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    self._collect(child, item)

    def problems(self, context: str, obj: dict[str, Any], path: str) -> Iterator[str]:
        """Every key of ``obj`` (recursively) that neither REST nor GraphQL documents as sent."""
        sample = self.samples.get(context, {})
        for key, value in obj.items():
            where = f"{path}.{key}"
            child, field = self._child(context, key)
            kind = json_kind(value)
            if sample.get(key):  # Shopify's REST example has the key with a value: same JSON type
                rest_kind = json_kind(sample[key][0])
                if kind not in ("null", rest_kind) and {kind, rest_kind} != {"integer", "number"}:
                    yield f"{where}: {kind}, Shopify's example has {rest_kind}"
                new_value = isinstance(value, str) and value not in sample[key]
                if field is not None and new_value and unwrap(field["type"])[1]["kind"] == "ENUM":
                    reason = fits_graphql(value, field)
                    if reason:
                        yield f"{where}: {reason}"
            elif any(where.endswith(suffix) for suffix in REST_ONLY):
                pass
            elif (key == "id" or key.endswith("_id")) and kind in ("integer", "null"):
                pass  # REST's numeric legacy ids where GraphQL has gids or linked objects
            elif field is not None:
                reason = fits_graphql(value, field)
                if reason:
                    yield f"{where}: {reason}"
            elif self._plain_twin(context, key) and kind in ("string", "null"):
                pass  # REST's shop-money string beside a `<key>_set` money bag
            elif key not in sample:  # (a key the REST example has only as null is documented)
                yield f"{where}: not in Shopify's REST example nor in GraphQL {context}"
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    yield from self.problems(child, item, f"{where}[]" if isinstance(value, list) else where)

    @staticmethod
    def _plain_twin(context: str, key: str) -> bool:
        field = gql_field(context if context in graphql_types() else None, f"{key}_set")
        return field is not None and unwrap(field["type"])[1]["name"] == "MoneyBag"


@pytest.fixture(scope="module")
def checker() -> ShapeChecker:
    return ShapeChecker()


def assert_shape(checker: ShapeChecker, context: str, obj: dict[str, Any], root: str) -> None:
    problems = list(checker.problems(context, obj, root))
    assert not problems, "\n".join(problems)


# -- our fixtures ---------------------------------------------------------------------------------

ORDERS = [
    "order_discount_two_taxes",
    "order_full_discount",
    "order_multicurrency",
    "order_gift_card_purchase",
    "order_gift_card_redeemed",
]
REFUNDS = ["refund_partial_line", "refund_shipping_only", "refund_multicurrency"]


@pytest.mark.parametrize("name", ORDERS)
def test_order_fixtures_have_shopifys_order_shape(checker: ShapeChecker, name: str) -> None:
    order = load(name)
    order["refunds"] = [load(r) for r in REFUNDS]  # embedded refunds are checked as Refund objects too
    assert_shape(checker, "Order", order, "order")


@pytest.mark.parametrize("name", REFUNDS)
def test_refund_fixtures_have_shopifys_refund_shape(checker: ShapeChecker, name: str) -> None:
    assert_shape(checker, "Refund", load(name), "refund")


def test_transaction_fixture_has_shopifys_transaction_shape(checker: ShapeChecker) -> None:
    for tx in load("order_gift_card_redeemed_transactions")["transactions"]:
        assert_shape(checker, "OrderTransaction", tx, "transaction")


def test_payout_fixtures_have_shopify_payments_shapes(checker: ShapeChecker) -> None:
    for payout in load("payouts")["payouts"]:
        assert_shape(checker, "ShopifyPaymentsPayout", payout, "payout")
    for bt in load("payout_balance_transactions")["transactions"]:
        assert_shape(checker, "ShopifyPaymentsBalanceTransaction", bt, "balance_transaction")


def test_sandbox_generated_orders_have_shopifys_order_shape(checker: ShapeChecker) -> None:
    for order in generate_orders(20, seed=3):
        assert_shape(checker, "Order", order, "order")


def test_the_checker_catches_a_wrong_type_and_an_invented_key(checker: ShapeChecker) -> None:
    order = load("order_discount_two_taxes")
    order["total_price"] = 150.74  # Shopify sends a string
    order["line_items"][0]["quantity"] = "2"
    order["line_items"][0]["tax_lines"][0]["pretend_field"] = "x"
    order["refunds"] = [load("refund_partial_line")]
    order["refunds"][0]["transactions"][0]["kind"] = "gift"  # not an OrderTransactionKind
    order["refunds"][0]["refund_line_items"][0]["restock_type"] = "maybe"
    problems = list(checker.problems("Order", order, "order"))
    assert any(p.startswith("order.total_price:") for p in problems)
    assert any(p.startswith("order.line_items[].quantity:") for p in problems)
    assert any("pretend_field" in p for p in problems)
    assert any("'gift' is not one of OrderTransactionKind" in p for p in problems)
    assert any("'maybe' is not one of RefundLineItemRestockType" in p for p in problems)
    assert len(problems) == 5, problems


# -- Shopify's own examples through our parser ----------------------------------------------------


def test_shopifys_example_refund_parses() -> None:
    """Shopify's refund example predates subtotal_set: the legacy proration path reads it, and the
    total is what the refund transaction moved."""
    refund = load_spec(f"{SPEC}/refund.json")
    with captured_calls():
        docs = make_source("USD").parse_event("refunds/create", refund)
    (parsed,) = docs
    assert isinstance(parsed, Refund)
    assert (parsed.sale_external_id, parsed.total, parsed.currency) == ("450789469", Decimal("209.00"), "USD")
    assert [ln.line_id for ln in parsed.lines] == ["703073504", "466157049"]
    assert [ln.tax() for ln in parsed.lines] == [Decimal("3.98"), Decimal("3.98")]
    assert parsed.restock and [t.gateway for t in parsed.tenders] == ["bogus"]


def test_shopifys_example_order_is_authorized_so_not_yet_a_sale() -> None:
    order = load_spec(f"{SPEC}/order.json")
    assert order["order"]["financial_status"] == "authorized"
    assert make_source("USD").parse_event("orders/create", order) == []


def test_shopifys_example_balance_transactions_parse_into_payout_items() -> None:
    """Shopify's example transactions do not add up to the example payout (41.90): refused as is;
    against a payout of their actual net they parse, every item with net = amount - fee."""
    payout = next(p for p in load_spec(f"{SPEC}/payouts.json")["payouts"] if p["id"] == 623721858)
    transactions = load_spec(f"{SPEC}/payouts_transactions.json")["transactions"]
    with pytest.raises(MalformedPayload, match="net"):
        make_source("USD").parse_event("payout", {"payout": payout, "transactions": transactions})
    net = sum(Decimal(t["net"]) for t in transactions if t["type"] != "payout")
    record = {"payout": dict(payout, amount=str(net)), "transactions": transactions}
    parsed = make_source("USD").parse_event("payout", record)[0]
    assert isinstance(parsed, Payout)
    assert len(parsed.items) == len(transactions) - 1
    assert sum(i.net for i in parsed.items) == parsed.amount == net
    assert {i.type for i in parsed.items} >= {"charge", "refund", "adjustment", "dispute", "reserve"}


def test_fixtures_are_reviewable_json_objects() -> None:
    """Every fixture is a JSON object as Shopify answers (never a bare list), indented, ASCII."""
    paths = sorted(FIXTURES.glob("*.json"))
    assert len(paths) == 11
    for path in paths:
        text = path.read_text()
        assert isinstance(json.loads(text), dict), path.name
        assert text.startswith("{\n  ") and text.isascii(), path.name
