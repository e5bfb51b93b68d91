"""Contract tests: the X-Series fixtures and what the sandbox answers validate against the vendor's
API 2.0 OpenAPI (``lightspeed-x-series/api-2.0.openapi.json``), and every key they carry is either
in the schema or in the vendor's own examples; requests the sandbox accepts match the spec's
request bodies and the Postman collection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors.sandbox.lightspeed_x import LightspeedXSandbox, loads
from tests.contract import load_spec, validate_openapi
from tests.fixtures.lightspeed_x import FIXTURES_DIR, captured_calls, load, store

SPEC = "lightspeed-x-series/api-2.0.openapi.json"
POSTMAN = "lightspeed-x-series/x-series-api.postman_collection.json"
SALES = sorted(p.name for p in FIXTURES_DIR.glob("*.json") if '"line_items"' in p.read_text())


def _jsonable(value: Any) -> Any:
    """Decimals as JSON numbers for the validator (which knows int and float, not Decimal)."""
    return json.loads(json.dumps(value, default=float))


def _example_keys(node: Any, found: set[str] | None = None) -> set[str]:
    """Every object key used anywhere in an example of the spec."""
    found = set() if found is None else found
    if isinstance(node, dict):
        found.update(node)
        for v in node.values():
            _example_keys(v, found)
    elif isinstance(node, list):
        for v in node:
            _example_keys(v, found)
    return found


def _allowed(schema: str, path: str) -> set[str]:
    spec = load_spec(SPEC)
    props = set(spec["components"]["schemas"][schema].get("properties", {}))
    examples: set[str] = set()
    for op in spec["paths"][path].values():
        if isinstance(op, dict):
            for resp in op.get("responses", {}).values():
                for media in resp.get("content", {}).values():
                    _example_keys(media.get("example"), examples)
    return props | examples


@pytest.mark.parametrize("name", SALES)
def test_sale_fixtures_conform_to_the_sale_schema(name: str) -> None:
    sale = load(name)
    validate_openapi(SPEC, "Sale", _jsonable(sale))
    allowed = _allowed("Sale", "/sales")
    assert set(sale) <= allowed, set(sale) - allowed
    line_keys = set(load_spec(SPEC)["components"]["schemas"]["LineItem"]["properties"])
    for item in sale["line_items"]:
        assert set(item) <= line_keys, set(item) - line_keys
    for payment in sale["payments"]:
        assert set(payment) <= allowed, set(payment) - allowed


@pytest.mark.parametrize(
    ("key", "schema"),
    [
        ("outlets", "Outlet"),
        ("registers", "Register"),
        ("taxes", "Tax"),
        ("payment_types", "PaymentType"),
        ("products", "Product"),
    ],
)
@pytest.mark.parametrize("account", ["kes", "usd", "xof"])
def test_store_fixtures_conform(account: str, key: str, schema: str) -> None:
    data = load(f"store_{account}.json")
    for obj in data[key]:
        validate_openapi(SPEC, schema, _jsonable(obj))
    validate_openapi(SPEC, "Retailer", _jsonable(data["retailer"]))


@pytest.mark.parametrize("name", ["payments_summary_xof.json", "payments_summary_no_sales_xof.json"])
def test_payments_summaries_conform(name: str) -> None:
    summary = load(name)
    validate_openapi(SPEC, "RegisterPaymentsSummaryResponse", _jsonable(summary))
    # the vendor's example carries these too (not in the schema's properties)
    assert set(summary["data"]) <= {
        "payments",
        "register_open_time",
        "register_closure_sequence_number",
        "register_closure_id",
    }


@pytest.fixture(scope="module")
def served() -> Iterator[LightspeedXSandbox]:
    with captured_calls(), LightspeedXSandbox(store=store("kes")) as sandbox:
        yield sandbox


def _get(sandbox: LightspeedXSandbox, path: str, **params: Any) -> Any:
    response = requests.get(f"{sandbox.url}/api/2.0/{path}", params=params,
                            headers={"Authorization": f"Bearer {sandbox.access_token}"}, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    return loads(response.content)


def test_what_the_sandbox_serves_conforms(served: LightspeedXSandbox) -> None:
    page = _get(served, "sales", after=0, page_size=2)
    validate_openapi(SPEC, "SaleCollection", _jsonable(page))
    assert len(page["data"]) == 2 and page["version"]["max"] == page["data"][-1]["version"]
    assert isinstance(page["data"][0]["total_price"], Decimal)  # a bare JSON number, not a string
    one = _get(served, f"sales/{page['data'][0]['id']}")
    validate_openapi(SPEC, "SaleResponse", _jsonable(one))
    validate_openapi(SPEC, "RetailerResponse", _jsonable(_get(served, "retailer")))
    validate_openapi(SPEC, "OutletCollection", _jsonable(_get(served, "outlets")))
    validate_openapi(SPEC, "RegisterCollection", _jsonable(_get(served, "registers")))
    validate_openapi(SPEC, "TaxCollection", _jsonable(_get(served, "taxes")))
    validate_openapi(SPEC, "PaymentTypeCollection", _jsonable(_get(served, "payment_types")))
    register = next(iter(served.store.registers))
    validate_openapi(
        SPEC,
        "RegisterPaymentsSummaryResponse",
        _jsonable(_get(served, f"registers/{register}/payments_summary")),
    )


def test_errors_are_x_series_shaped(served: LightspeedXSandbox) -> None:
    missing = requests.get(
        f"{served.url}/api/2.0/sales/nope",
        headers={"Authorization": f"Bearer {served.access_token}"},
        timeout=10,
    )
    assert missing.status_code == 404 and missing.json()["error"] == "Not Found"
    anonymous = requests.get(f"{served.url}/api/2.0/sales", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json() == {"error": "Access token is not valid"}
    bad = requests.get(f"{served.url}/api/2.0/sales", params={"after": "x"},
                       headers={"Authorization": f"Bearer {served.access_token}"}, timeout=10)  # fmt: skip
    assert bad.status_code == 400 and "after must be an integer" in bad.json()["details"]


def test_close_request_and_webhook_subscription_bodies_match_the_vendors(served: LightspeedXSandbox) -> None:
    spec = load_spec(SPEC)
    register = next(iter(served.store.registers))
    served.store.open_register(register, at=datetime.now(UTC))
    cash = served.store.payment_type("Cash")
    body = {"payments": [{"payment_type_id": cash, "total": "0"}]}
    validate_openapi(SPEC, "RegisterCloseRequest", body)
    assert "/registers/{register_id}/actions/close" in spec["paths"]
    closed = requests.put(f"{served.url}/api/2.0/registers/{register}/actions/close", json=body,
                          headers={"Authorization": f"Bearer {served.access_token}"}, timeout=10)  # fmt: skip
    assert closed.status_code == 200
    validate_openapi(SPEC, "RegisterResponse", _jsonable(loads(closed.content)))
    # The Postman collection's "Create a webhook" body names the keys the sandbox accepts.
    postman = load_spec(POSTMAN)

    def find(items: list[Any]) -> Any:
        for it in items:
            if "item" in it:
                hit = find(it["item"])
                if hit:
                    return hit
            elif it["name"] == "Create a webhook":
                return it
        return None

    example = json.loads(find(postman["item"])["request"]["body"]["raw"])
    assert {"url", "active", "type"} <= set(example)
    made = requests.post(f"{served.url}/api/2.0/webhooks", json={k: example[k] for k in ("url", "active", "type")},
                         headers={"Authorization": f"Bearer {served.access_token}"}, timeout=10)  # fmt: skip
    assert made.status_code == 201 and made.json()["data"]["type"] == example["type"]
