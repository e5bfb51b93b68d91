"""Stripe contract tests: every Stripe object we parse or serve conforms to ``stripe/spec3.yaml``
(API 2023-08-16), and the event types we handle are ones a webhook endpoint can enable."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.sandbox.stripe import StripeSandbox
from connectors.sources.stripe import HANDLED_EVENT_TYPES
from tests.contract import load_spec, validate_openapi

SPEC = "stripe/spec3.yaml"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe"
EVENT_FILES = sorted(p.name for p in FIXTURES.glob("event_*.json"))
KEY = "sk_test_contract"


def schemas() -> Mapping[str, Any]:
    return load_spec(SPEC)["components"]["schemas"]  # type: ignore[no-any-return]


def assert_conforms(obj: Mapping[str, Any]) -> None:
    """Valid against its schema, and no key the schema does not declare (OpenAPI would allow
    unknown keys, which would hide a typo in our fixtures or sandbox)."""
    kind = obj["object"]
    validate_openapi(SPEC, kind, obj)
    unknown = set(obj) - set(schemas()[kind]["properties"])
    assert not unknown, f"{kind} {obj.get('id')} has keys the spec does not declare: {sorted(unknown)}"


def stripe_objects(obj: Any) -> Iterator[Mapping[str, Any]]:
    """Every nested Stripe object (anything with an ``object`` type the spec defines and an id)."""
    if isinstance(obj, Mapping):
        if isinstance(obj.get("object"), str) and obj["object"] in schemas() and "id" in obj:
            yield obj
        for value in obj.values():
            yield from stripe_objects(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from stripe_objects(value)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_fixture_events_and_their_objects_conform_to_the_spec(name: str) -> None:
    event = json.loads((FIXTURES / name).read_text())
    found = list(stripe_objects(event))
    assert found[0] is event and event["object"] == "event"
    assert len(found) >= 2  # the event and at least its data.object
    for obj in found:
        assert_conforms(obj)


def test_fixture_objects_cover_every_kind_we_parse_and_conform() -> None:
    objects = json.loads((FIXTURES / "objects.json").read_text())["objects"]
    kinds = {o["object"] for o in objects}
    assert kinds >= {"charge", "payment_intent", "refund", "payout", "balance_transaction", "dispute"}
    for obj in objects:
        for nested in stripe_objects(obj):
            assert_conforms(nested)


def test_handled_event_types_can_all_be_enabled_on_a_webhook_endpoint() -> None:
    operation = load_spec(SPEC)["paths"]["/v1/webhook_endpoints"]["post"]
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    enabled = set(form["properties"]["enabled_events"]["items"]["enum"])
    assert set(HANDLED_EVENT_TYPES) <= enabled, sorted(set(HANDLED_EVENT_TYPES) - enabled)
    fixture_types = {json.loads((FIXTURES / n).read_text())["type"] for n in EVENT_FILES}
    assert fixture_types <= set(HANDLED_EVENT_TYPES)


def test_objects_made_by_the_sandbox_conform_to_the_spec() -> None:
    sandbox = StripeSandbox(secret_key=KEY)
    charge = sandbox.create_charge(2500, "gbp", fee=57, created=1763539200)
    refund = sandbox.create_refund(charge["id"], 1000, created=1763542800)
    payout = sandbox.create_payout(created=1763712000)
    produced = [
        *sandbox.store["event"].values(),
        *sandbox.store["balance_transaction"].values(),
        charge,
        refund,
        payout,
    ]
    assert {o["object"] for o in produced} == {"event", "balance_transaction", "charge", "refund", "payout"}
    for obj in produced:
        for nested in stripe_objects(obj):
            assert_conforms(nested)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[StripeSandbox]:
    """One sandbox for the module (starting and stopping a server costs half a second)."""
    objects = json.loads((FIXTURES / "objects.json").read_text())
    with StripeSandbox(secret_key=KEY) as server:
        server.load(objects["objects"], objects["payouts"])
        server.load(json.loads((FIXTURES / name).read_text()) for name in EVENT_FILES)
        yield server


@pytest.mark.parametrize(
    ("path", "schema_name"),
    [
        ("/v1/events", "event"),
        ("/v1/charges", "charge"),
        ("/v1/refunds", "refund"),
        ("/v1/payouts", "payout"),
        ("/v1/balance_transactions", "balance_transaction"),
        ("/v1/disputes", "dispute"),
        ("/v1/payment_intents", "payment_intent"),
    ],
)
def test_sandbox_lists_have_the_spec_envelope_and_items(
    sandbox: StripeSandbox, path: str, schema_name: str
) -> None:
    page = requests.get(sandbox.url + path, params={"limit": 3}, auth=(KEY, ""), timeout=5).json()
    envelope = load_spec(SPEC)["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    assert set(envelope["required"]) <= set(page) <= set(envelope["properties"])
    assert page["object"] == "list" and page["url"] == path and len(page["data"]) >= 1
    for item in page["data"]:
        assert item["object"] == schema_name
        assert_conforms(item)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/charges/ch_missing", 404),
        ("/v1/charges?limit=101", 400),
        ("/v1/charges?colour=blue", 400),
        ("/v1/charges?created[gte]=yesterday", 400),
        ("/v1/charges?starting_after=ch_missing", 400),
        ("/v1/unknown_things", 404),
    ],
)
def test_sandbox_errors_have_stripes_error_shape(sandbox: StripeSandbox, path: str, status: int) -> None:
    answer = requests.get(sandbox.url + path, headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert answer.status_code == status
    body = answer.json()
    validate_openapi(SPEC, "error", body)
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
    assert answer.headers["Request-Id"].startswith("req_")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "did not provide an API key"),
        ({"Authorization": "Bearer sk_test_wrong_key_0000"}, "Invalid API Key"),
    ],
)
def test_sandbox_refuses_a_missing_or_wrong_key_with_401(
    sandbox: StripeSandbox, headers: dict[str, str], message: str
) -> None:
    answer = requests.get(sandbox.url + "/v1/charges", headers=headers, timeout=5)
    assert answer.status_code == 401
    validate_openapi(SPEC, "error", answer.json())
    assert message in answer.json()["error"]["message"]
    assert "sk_test_wrong_key_0000" not in answer.text  # the key is masked, as Stripe does
