"""Every Square object we parse, and every answer the sandbox gives, conforms to Square's spec.

Two checks per object: JSON-Schema validation against ``square/api.json`` (types, enums, required
fields) and a stricter walk that refuses keys the schema does not declare (OpenAPI allows unknown
keys, so a misspelt field would otherwise pass unnoticed).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from connectors.sandbox.square import SquareSandbox, make_event
from tests.contract import load_spec, validate_openapi
from tests.fixtures.square import (
    GBP_LOCATION,
    PAYOUT_ID,
    USD_LOCATION,
    USD_ORDER_ID,
    USD_PAYMENT_ID,
    captured_calls,
    load,
    seed,
    source_for,
)

SPEC = "square/api.json"


def undeclared_keys(schema_name: str, instance: Any) -> list[str]:
    """Paths of keys in ``instance`` that the named schema (recursively) does not declare."""
    spec = load_spec(SPEC)
    schemas = spec["components"]["schemas"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def walk(node: dict[str, Any], value: Any, path: str) -> Iterator[str]:
        node = resolve(node)
        if isinstance(value, dict):
            props = node.get("properties")
            if props is None:
                return  # a free-form map (metadata)
            for key, sub in value.items():
                if key not in props:
                    yield f"{path}.{key}"
                else:
                    yield from walk(props[key], sub, f"{path}.{key}")
        elif isinstance(value, list) and "items" in node:
            for i, sub in enumerate(value):
                yield from walk(node["items"], sub, f"{path}[{i}]")

    return list(walk(schemas[schema_name], instance, schema_name))


def conforms(schema_name: str, instance: Any) -> None:
    validate_openapi(SPEC, schema_name, instance)
    assert undeclared_keys(schema_name, instance) == []


FIXTURE_SCHEMAS = [
    ("order_additive_usd.json", "Order"),
    ("order_inclusive_gbp.json", "Order"),
    ("order_jpy.json", "Order"),
    ("order_return_usd.json", "Order"),
    ("payment_usd.json", "Payment"),
    ("payment_created_gbp.json", "PaymentCreatedEvent"),
    ("order_updated_usd.json", "OrderUpdatedEvent"),
    ("refund_updated_partial_usd.json", "RefundUpdatedEvent"),
    ("payout_paid_gbp.json", "PayoutPaidEvent"),
    ("payout_entries_gbp.json", "ListPayoutEntriesResponse"),
]


@pytest.mark.parametrize(("name", "schema"), FIXTURE_SCHEMAS, ids=[n for n, _ in FIXTURE_SCHEMAS])
def test_fixture_conforms_to_square_spec(name, schema):
    conforms(schema, load(name))


def test_embedded_objects_conform_to_their_own_schemas():
    conforms("Payment", load("payment_created_gbp.json")["data"]["object"]["payment"])
    conforms("PaymentRefund", load("refund_updated_partial_usd.json")["data"]["object"]["refund"])
    conforms("Payout", load("payout_paid_gbp.json")["data"]["object"]["payout"])
    for entry in load("payout_entries_gbp.json")["payout_entries"]:
        conforms("PayoutEntry", entry)


def test_event_types_match_the_spec_webhook_names():
    spec = load_spec(SPEC)["components"]["schemas"]
    for name, schema in FIXTURE_SCHEMAS:
        if schema.endswith("Event"):
            assert load(name)["type"] == spec[schema]["x-webhook"]["event"]


def test_payments_carry_no_incomplete_risk_evaluation():
    # Square's own examples send risk_evaluation without the status the schema requires; ours must
    # not copy that mistake, so every payment either omits it or is complete.
    for payment in (load("payment_usd.json"), load("payment_created_gbp.json")["data"]["object"]["payment"]):
        assert "risk_evaluation" not in payment or "status" in payment["risk_evaluation"]


def test_spec_check_catches_a_wrong_enum_and_an_unknown_key():
    order = load("order_additive_usd.json")
    order["state"] = "DONE"
    with pytest.raises(AssertionError, match="state"):
        validate_openapi(SPEC, "Order", order)
    order = load("order_additive_usd.json")
    order["line_items"][0]["unit_price"] = 1
    assert undeclared_keys("Order", order) == ["Order.line_items[0].unit_price"]


@pytest.fixture(scope="module")
def sandbox():
    with SquareSandbox() as square:
        seed(square)
        yield square


def call(sandbox: SquareSandbox, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sandbox.access_token}", "Square-Version": "2025-08-20"}
    return requests.request(method, sandbox.url + path, headers=headers, timeout=5, **kw)


@pytest.mark.parametrize(
    ("method", "path", "kw", "schema"),
    [
        ("GET", f"/v2/orders/{USD_ORDER_ID}", {}, "RetrieveOrderResponse"),
        ("GET", f"/v2/payments/{USD_PAYMENT_ID}", {}, "GetPaymentResponse"),
        (
            "GET",
            f"/v2/payouts/{PAYOUT_ID}/payout-entries",
            {"params": {"limit": 2}},
            "ListPayoutEntriesResponse",
        ),
        (
            "GET",
            "/v2/payouts",
            {"params": {"location_id": GBP_LOCATION, "begin_time": "2025-01-01T00:00:00Z"}},
            "ListPayoutsResponse",
        ),
        (
            "GET",
            "/v2/refunds",
            {"params": {"begin_time": "2025-01-01T00:00:00Z"}},
            "ListPaymentRefundsResponse",
        ),
        ("GET", "/v2/payments", {"params": {"begin_time": "2025-01-01T00:00:00Z"}}, "ListPaymentsResponse"),
        (
            "POST",
            "/v2/orders/search",
            {"json": {"location_ids": [USD_LOCATION], "limit": 1}},
            "SearchOrdersResponse",
        ),
        ("GET", "/v2/orders/nope", {}, "RetrieveOrderResponse"),
    ],
)
def test_sandbox_answers_conform(sandbox, method, path, kw, schema):
    answer = call(sandbox, method, path, **kw)
    body = answer.json()
    conforms(schema, body)
    assert body, "an empty body proves nothing"
    if answer.status_code >= 400:
        for error in body["errors"]:
            conforms("Error", error)


def test_sandbox_errors_are_square_shaped(sandbox):
    answer = requests.get(
        sandbox.url + f"/v2/orders/{USD_ORDER_ID}", headers={"Authorization": "Bearer wrong"}, timeout=5
    )
    assert answer.status_code == 401
    assert answer.json() == {
        "errors": [
            {
                "category": "AUTHENTICATION_ERROR",
                "code": "UNAUTHORIZED",
                "detail": "This request could not be authorized.",
            }
        ]
    }
    conforms("Error", answer.json()["errors"][0])


def test_pulled_records_are_shaped_like_the_webhooks(sandbox):
    src = source_for(sandbox, "sq-contract", location_ids=[USD_LOCATION, GBP_LOCATION])
    with captured_calls():
        records = list(src.pull(datetime(2025, 3, 1, tzinfo=UTC)))
    schemas = {
        "order.updated": None,
        "refund.updated": "RefundUpdatedEvent",
        "payment.updated": "PaymentUpdatedEvent",
        "payout.paid": "PayoutPaidEvent",
    }
    assert {r.event_type for r in records} == set(schemas)
    for record in records:
        if schemas[record.event_type]:
            validate_openapi(SPEC, schemas[record.event_type], record.payload)
        else:  # a pulled order carries the whole order where the webhook only has its ids
            conforms("Order", record.payload["data"]["object"]["order"])


def test_make_event_builds_a_valid_envelope():
    payment = load("payment_usd.json")
    conforms(
        "PaymentUpdatedEvent", make_event("payment.updated", "payment", payment["id"], {"payment": payment})
    )


def _event_bodies() -> list[tuple[str, dict[str, Any]]]:
    """One body for every webhook type the source parses, built from the fixtures."""
    payment = load("payment_created_gbp.json")["data"]["object"]["payment"]
    refund = load("refund_updated_partial_usd.json")["data"]["object"]["refund"]
    payout = load("payout_paid_gbp.json")["data"]["object"]["payout"]
    note = load("order_updated_usd.json")["data"]["object"]["order_updated"]
    created = {k: v for k, v in note.items() if k != "updated_at"}
    return [
        (
            "PaymentCreatedEvent",
            make_event("payment.created", "payment", payment["id"], {"payment": payment}),
        ),
        (
            "PaymentUpdatedEvent",
            make_event("payment.updated", "payment", payment["id"], {"payment": payment}),
        ),
        ("RefundCreatedEvent", make_event("refund.created", "refund", refund["id"], {"refund": refund})),
        ("RefundUpdatedEvent", make_event("refund.updated", "refund", refund["id"], {"refund": refund})),
        (
            "OrderCreatedEvent",
            make_event("order.created", "order_created", note["order_id"], {"order_created": created}),
        ),
        (
            "OrderUpdatedEvent",
            make_event("order.updated", "order_updated", note["order_id"], {"order_updated": note}),
        ),
        (
            "PayoutSentEvent",
            make_event("payout.sent", "payout", payout["id"], {"payout": {**payout, "status": "SENT"}}),
        ),
        ("PayoutPaidEvent", make_event("payout.paid", "payout", payout["id"], {"payout": payout})),
        (
            "PayoutFailedEvent",
            make_event("payout.failed", "payout", payout["id"], {"payout": {**payout, "status": "FAILED"}}),
        ),
    ]


@pytest.mark.parametrize(("schema", "body"), _event_bodies(), ids=[s for s, _ in _event_bodies()])
def test_every_parsed_webhook_type_conforms(schema, body):
    conforms(schema, body)
    assert body["type"] == load_spec(SPEC)["components"]["schemas"][schema]["x-webhook"]["event"]
