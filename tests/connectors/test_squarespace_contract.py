"""Squarespace contract tests: Squarespace's documented samples, our fixtures and everything the
sandbox serves or sends conform to schemas derived from those samples and the docs' field lists
(Squarespace publishes no OpenAPI; see tests/fixtures/squarespace/README.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.sandbox.squarespace import SquarespaceSandbox
from integrator.canonical import Sale
from integrator.services.transactions import validate_document
from tests.contract import spec_path
from tests.fixtures.squarespace import FIXTURES, load, make_source, schema_validator, seed

D = Decimal


def _spec(name: str) -> Any:
    return json.loads(spec_path(f"squarespace/{name}").read_text(encoding="utf-8"))


def _violations(kind: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in schema_validator(kind).iter_errors(instance)
    ]


def _kind(path: Path) -> str:
    return {"order": "order", "document": "document", "webhook": "notification"}[path.name.split("_")[0]]


def test_the_documented_samples_conform() -> None:
    listed = _spec("orders_list_response.docs-example.json")
    assert [_violations("order", o) for o in listed["result"]] == [[]]
    assert set(listed["pagination"]) == {"hasNextPage", "nextPageCursor", "nextPageUrl"}
    for name in ("webhook_order_create.docs-example.json", "webhook_order_update.docs-example.json"):
        assert _violations("notification", _spec(name)) == []


@pytest.mark.parametrize(
    "path",
    sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".schema.json")),
    ids=lambda p: p.name,
)
def test_every_fixture_conforms(path: Path) -> None:
    assert _violations(_kind(path), json.loads(path.read_text(encoding="utf-8"))) == []


def test_the_schemas_have_teeth() -> None:
    order = load("order_two_taxes_usd")
    order["grandTotal"] = {"value": 109.15, "currency": "USD"}  # a number, not a decimal string
    order["lineItems"][0]["quantity"] = 0
    del order["priceTaxInterpretation"]
    problems = _violations("order", order)
    assert any(p.startswith("grandTotal/value") for p in problems)
    assert any(p.startswith("lineItems/0/quantity") for p in problems)
    assert any("priceTaxInterpretation" in p for p in problems)
    document = load("document_two_taxes_usd")
    document["payments"][0]["provider"] = "VENMO"
    assert any(p.startswith("payments/0/provider") for p in _violations("document", document))
    assert _violations("notification", load("webhook_order_create") | {"data": {}}) != []


@pytest.fixture
def site() -> Iterator[SquarespaceSandbox]:
    with SquarespaceSandbox() as sandbox:
        yield seed(sandbox)


def test_what_the_sandbox_serves_and_sends_conforms(site: SquarespaceSandbox) -> None:
    headers = {"Authorization": f"Bearer {site.api_key}", "User-Agent": "contract-test/1.0"}
    orders = requests.get(f"{site.url}/1.0/commerce/orders", headers=headers, timeout=10).json()
    documents = requests.get(f"{site.url}/1.0/commerce/transactions", headers=headers, timeout=10).json()
    assert [_violations("order", o) for o in orders["result"]] == [[]] * 5
    assert [_violations("document", d) for d in documents["documents"]] == [[]] * 5
    order = site.place_order(load("order_two_taxes_usd"), load("document_two_taxes_usd"))
    site.refund(order["id"], "30.00")
    refunded = site.document_of(order["id"])
    one = requests.get(f"{site.url}/1.0/commerce/orders/{order['id']}", headers=headers, timeout=10).json()
    assert _violations("order", one) == [] and _violations("document", refunded) == []
    assert (
        _violations("notification", site.notification("order.update", order["id"], update="REFUNDED")) == []
    )
    missing = requests.get(f"{site.url}/1.0/commerce/orders/nope", headers=headers, timeout=10)
    assert missing.status_code == 404
    assert set(missing.json()) == {"type", "subtype", "message", "details", "contextId"}


def test_the_documented_order_sample_parses_and_its_totals_are_checked() -> None:
    order = _spec("orders_list_response.docs-example.json")["result"][0]
    (sale,) = make_source(include_test_orders=True).parse_event(
        "order.update", {"order": order, "document": None}
    )
    assert isinstance(sale, Sale) and (sale.total, sale.currency, sale.number) == (D("57.70"), "USD", "3")
    # The sample says INCLUSIVE yet adds its 2.70 of tax on top (55.00 + 1.00 - 1.00 + 2.70 = 57.70):
    # the validator catches the contradiction in words instead of booking it.
    assert validate_document(sale) == [
        "totals do not add up: lines, shipping and tax come to 55.00 USD, the document says 57.70 USD"
    ]
    assert make_source().parse_event("order.update", {"order": order, "document": None}) == []  # testmode
