"""Contract tests against Adobe's admin REST schema (shared/specs/magento, Swagger 2.0): every
fixture, every object the connector pulls or is sent, the sandbox's search results and errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox.magento import DEFAULT_INTEGRATION, MagentoSandbox
from connectors.sources.magento.api import MagentoAPI
from tests.fixtures.magento import FIXTURES, load, make_source, spec_errors, validate

INTEGRATION = {
    "consumer_key": DEFAULT_INTEGRATION.consumer_key,
    "consumer_secret": DEFAULT_INTEGRATION.consumer_secret,
    "access_token": DEFAULT_INTEGRATION.access_token,
    "access_token_secret": DEFAULT_INTEGRATION.access_token_secret,
}
DEFINITIONS = {
    "order": "sales-data-order-interface",
    "creditmemo": "sales-data-creditmemo-interface",
    "invoice": "sales-data-invoice-interface",
}
ALL = sorted(p.stem for p in FIXTURES.glob("*.json"))
NAMES = [n for n in ALL if not n.startswith("webhook_")]  # webhook bodies wrap these objects


def _definition(name: str) -> str:
    return DEFINITIONS[name.split("_", 1)[0]]


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_conforms_to_its_interface(name: str) -> None:
    validate(_definition(name), load(name))


def test_the_fixture_list_is_the_readme_list() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}.json`" in readme for name in ALL), "document every fixture in README.md"


def test_the_validator_catches_what_a_fixture_could_get_wrong() -> None:
    order = load("order_discount_two_rates")
    order["items"][0]["qty_ordered"] = "2"
    order["base_shipping_discount_tax_compensation_amount"] = 0  # Magento's real name ends in _amnt
    del order["customer_email"]
    errors = spec_errors("sales-data-order-interface", order)
    assert any("qty_ordered" in e for e in errors)
    assert any("base_shipping_discount_tax_compensation_amount: not declared" in e for e in errors)
    assert any("'customer_email' is a required property" in e for e in errors)


def _loaded_store() -> MagentoSandbox:
    orders = [load(n) for n in NAMES if n.startswith("order") and not n.endswith("after_refund")]
    memos = [load(n) for n in NAMES if n.startswith("creditmemo")]
    return MagentoSandbox(orders=orders, creditmemos=memos, invoices=[load("invoice_b2b")])


def test_every_pulled_object_and_its_embedded_order_conform() -> None:
    with _loaded_store() as store:
        source = make_source(
            base_url=store.url,
            credentials=INTEGRATION,
            b2b_payment_methods="companycredit",
            requests_per_second=100,
        )
        records = list(source.pull(datetime(2026, 1, 1, tzinfo=UTC)))
    kinds = [r.event_type for r in records]
    assert kinds.count("order") == 9 and kinds.count("creditmemo") == 7 and kinds.count("invoice") == 1
    for record in records:
        obj: Any = record.payload if record.event_type == "order" else record.payload[record.event_type]
        validate(DEFINITIONS[record.event_type], obj)
        if record.event_type != "order":
            validate("sales-data-order-interface", record.payload["order"])


def test_sandbox_search_results_and_entities_conform() -> None:
    with _loaded_store() as store:
        api = MagentoAPI(
            base_url=store.url, credentials=INTEGRATION, connection_key="c", requests_per_second=100
        )
        filters = [("updated_at", "2026-11-01 00:00:00", "gteq"), ("store_id", "1", "in")]
        for collection, definition in (
            ("orders", "order"),
            ("creditmemos", "creditmemo"),
            ("invoices", "invoice"),
        ):
            result = api.get(collection, api.criteria(filters, page_size=3, page=1))
            validate(f"sales-data-{definition}-search-result-interface", result)
        validate("sales-data-order-interface", api.entity("orders", "101"))
        validate("sales-data-creditmemo-interface", api.entity("creditmemo", "21"))
        validate("sales-data-invoice-interface", api.entity("invoices", "41"))
        for config in api.get("store/storeConfigs"):
            validate("store-data-store-config-interface", config)


def test_sandbox_errors_have_magentos_shape() -> None:
    import requests

    with MagentoSandbox(allow_bearer_integration=True) as store:
        bearer = {"Authorization": f"Bearer {DEFAULT_INTEGRATION.access_token}"}
        positional = requests.get(
            f"{store.url}/rest/V1/orders?searchCriteria[filter_groups][0][filters][0][field]=x"
            "&searchCriteria[filter_groups][0][filters][0][value]=1"
            "&searchCriteria[filter_groups][0][filters][0][condition_type]=near",
            headers=bearer,
            timeout=5,
        )
        named = requests.get(f"{store.url}/rest/V1/orders/1", timeout=5)
    assert named.status_code == 401 and positional.status_code == 400
    assert positional.json() == {"message": 'Invalid condition type "%1".', "parameters": ["near"]}
    for response in (named, positional):
        body = response.json()
        # The schema declares ``parameters`` as a list of objects, which is how the generator
        # renders a PHP array; Magento's JSON writes a message's named parameters as one object
        # ({"resources": ...}) and positional ones (%1, %2) as a list of strings. The rest of the
        # body must match the schema exactly.
        params = body.get("parameters", [])
        assert isinstance(params, dict) or all(isinstance(p, str) for p in params)
        validate("error-response", {k: v for k, v in body.items() if k != "parameters"})


def test_webhook_payload_fixture_wraps_a_conforming_order() -> None:
    import json

    path = Path(FIXTURES) / "webhook_order_save_after.json"
    body = json.loads(path.read_text(encoding="utf-8"))
    assert body["eventName"] == "sales_order_save_after"
    validate("sales-data-order-interface", body["data"]["order"])
