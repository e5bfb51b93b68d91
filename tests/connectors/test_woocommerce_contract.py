"""WooCommerce contract tests: WooCommerce's documented examples, our fixtures and everything the
sandbox serves or delivers conform to one schema derived from those examples (WooCommerce publishes
no OpenAPI; see tests/fixtures/woocommerce/README.md), and the documented examples parse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.sandbox.woocommerce import Hook, WooCommerceSandbox
from integrator.canonical import Refund, Sale
from integrator.services.transactions import validate_document
from tests.contract import spec_path
from tests.fixtures.woocommerce import FIXTURES, load, make_source, schema_validator

D = Decimal


def _spec(name: str) -> Any:
    return json.loads(spec_path(f"woocommerce/{name}").read_text(encoding="utf-8"))


def _violations(kind: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in schema_validator(kind).iter_errors(instance)
    ]


def test_the_documented_examples_conform_to_the_derived_schema() -> None:
    orders = [_spec("order_create_response.example.json"), *_spec("orders_list_response.example.json")]
    refunds = [
        _spec("order_refund_create_response.example.json"),
        *_spec("order_refunds_list_response.example.json"),
    ]
    assert [_violations("order", o) for o in orders] == [[]] * 3
    assert [_violations("refund", r) for r in refunds] == [[]] * 3


PAYLOADS = sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".schema.json"))


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda p: p.name)
def test_every_fixture_conforms(path: Path) -> None:
    kind = "refund" if path.name.startswith("refund_") else "order"
    assert _violations(kind, json.loads(path.read_text(encoding="utf-8"))) == []


def test_the_schema_has_teeth() -> None:
    order = load("order_two_vat_rates_gbp")
    order["total"] = 120.75  # money must be a decimal string
    del order["date_modified_gmt"]
    order["line_items"][0]["taxes"][0]["id"] = "1"
    problems = _violations("order", order)
    assert any(p.startswith("total:") for p in problems)
    assert any("date_modified_gmt" in p for p in problems)
    assert any(p.startswith("line_items/0/taxes/0/id") for p in problems)
    assert _violations("refund", load("refund_partial_line_gbp") | {"amount": "-43.20"}) != []


@pytest.fixture
def store() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox() as sandbox:
        yield sandbox


def test_what_the_sandbox_serves_and_delivers_conforms(store: WooCommerceSandbox) -> None:
    # Another sandbox stands in for the delivery URL: it records the body (and answers 404, a failed
    # delivery, which does not matter here). The hook is registered as if its ping had succeeded.
    with WooCommerceSandbox() as sink:
        store.hooks[1] = Hook(1, "order.updated", f"{sink.url}/hook", "s3cret")
        order = store.create_order(load("order_xof_fee"), deliver=False)
        store.refund_order(order["id"], load("refund_amount_only_gbp") | {"amount": "500"})
        received = [r.body for r in sink.requests_to("POST", r"/hook$")]
    assert len(received) == 1 and _violations("order", json.loads(received[0])) == []
    auth = (store.consumer_key, store.consumer_secret)
    listed = requests.get(f"{store.url}/wp-json/wc/v3/orders", auth=auth, timeout=10).json()
    refunds = requests.get(
        f"{store.url}/wp-json/wc/v3/orders/{order['id']}/refunds", auth=auth, timeout=10
    ).json()
    assert [_violations("order", o) for o in listed] == [[]]
    assert [_violations("refund", r) for r in refunds] == [[]]
    error = requests.get(f"{store.url}/wp-json/wc/v3/orders?per_page=101", auth=auth, timeout=10)
    assert error.status_code == 400 and error.json()["code"] == "rest_invalid_param"
    assert error.json()["data"]["status"] == 400


def test_the_documented_orders_parse_with_their_documented_refunds(store: WooCommerceSandbox) -> None:
    created = _spec("order_create_response.example.json")
    (sale,) = make_source(currency="USD").parse_event("order.created", created)
    # 2 x 3.00 + 12.00 + 10.00 shipping + 1.35 state tax = 29.35 USD.
    assert isinstance(sale, Sale) and (sale.total, sale.currency) == (D("29.35"), "USD")
    assert [t.amount for ln in sale.lines for t in ln.tax_lines] == [D("0.45"), D("0.90")]
    assert [t.title for ln in sale.lines for t in ln.tax_lines] == ["State Tax", "State Tax"]
    assert validate_document(sale) == []

    listed = _spec("orders_list_response.example.json")[1]  # order 723, completed, two refunds
    store.add_order(listed, _spec("order_refunds_list_response.example.json"))
    docs = make_source(store, currency="USD").parse_event("order.updated", listed)
    assert [(d.kind, d.external_id, d.total) for d in docs] == [
        ("sale", "723", D("39.00")),
        ("refund", "726", D("10.00")),
        ("refund", "724", D("9.00")),
    ]
    amount_only, album = docs[1], docs[2]
    assert isinstance(amount_only, Refund) and isinstance(album, Refund)
    assert (amount_only.adjustment, amount_only.lines) == (D("10.00"), ())
    (line,) = album.lines
    assert (line.line_id, line.name, line.quantity, line.unit_price, album.adjustment) == (
        "311", "Woo Album #2", D(1), D("9.00"), D(0),
    )  # fmt: skip
    assert all(validate_document(d) == [] for d in docs)


def test_the_pull_window_is_sent_as_woocommerce_expects(store: WooCommerceSandbox) -> None:
    since = datetime(2026, 11, 20, 9, 30, tzinfo=UTC) + timedelta(microseconds=123)
    list(make_source(store).pull(since))
    request = store.requests_to("GET", r"/orders$")[0]
    assert request.arg("modified_after") == "2026-11-20T09:30:00"  # ISO 8601, seconds, no offset
