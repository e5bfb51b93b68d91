"""Inventory in the browser: a clerk receives an import shipment and sees its landed unit costs,
the shop sells, and the margin report shows the sale's margin at landed cost."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from connectors.sources.generic import sign
from integrator.models import Shipment, ShipmentLine, StockMovement
from tests.e2e.conftest import fresh_roles, save_screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def store_with_a_draft_shipment(live_server: Any, transactional_db: Any) -> Any:
    """The demo store, its inventory book and the Ghana shipment left as a draft."""
    from integrator.services import demo
    from integrator.services.demo_inventory import setup_inventory

    fresh_roles()
    store = demo.setup_store()
    setup_inventory(store, demo.local_today(), receive=False)
    return store


def test_receive_a_shipment_sell_and_read_the_margin(
    pages: Any, live_server: Any, store_with_a_draft_shipment: Any
) -> None:
    from integrator.services import demo

    store = store_with_a_draft_shipment
    shipment = Shipment.objects.get(reference="GH-DEMO-01")
    page = pages.login("clerk", "clerk-demo-pass")
    # Given the draft shipment: its page forecasts the landed unit costs
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inventory").click()
    page.get_by_role("link", name="Shipments").click()
    page.get_by_role("link", name="GH-DEMO-01").click()
    expect(page.get_by_role("heading", name="Shipment GH-DEMO-01")).to_be_visible()
    # When the clerk receives it
    page.get_by_role("button", name="Receive").click()
    expect(page.get_by_text("received into stock and posted")).to_be_visible(timeout=10_000)
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.RECEIVED
    # Then the page shows each line's landed unit cost, as the books have it
    shea = ShipmentLine.objects.get(shipment=shipment, product__sku="SHEA-250")
    expect(page.get_by_test_id("landed-unit-SHEA-250")).to_have_text(f"{shea.landed_unit_cost.normalize():f}")
    save_screenshot(page, "inventory-shipment-received")

    # When the web shop sells ten jars of shea butter (VAT-inclusive 9.95 each)
    today = demo.local_today()
    event = {"id": "evt-E2E-SHEA", "type": "sale.completed", "created_at": f"{today}T11:00:00+00:00",
             "data": {"id": "E2E-SHEA", "number": "E2E-SHEA", "occurred_at": f"{today}T11:00:00+00:00",
                      "currency": "GBP", "prices_include_tax": True, "total": "99.50",
                      "lines": [{"sku": "SHEA-250", "name": "Shea butter", "category": "beauty", "quantity": 10,
                                 "unit_price": "9.95",
                                 "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "16.58"}]}],
                      "tenders": [{"method": "card", "amount": "99.50"}]}}  # fmt: skip
    body = json.dumps(event).encode()
    ts = str(int(time.time()))
    sent = requests.post(f"{live_server.url}/hooks/web-shop/", data=body, timeout=30, headers={
        "Content-Type": "application/json", "X-Integrator-Timestamp": ts,
        "X-Integrator-Signature": sign(store.secrets["web-shop"], ts, body)})  # fmt: skip
    assert sent.status_code == 202
    cogs = StockMovement.objects.get(transaction__external_id="E2E-SHEA").cogs
    assert cogs == (10 * shea.landed_value / shea.quantity).quantize(Decimal("0.01"))

    # Then the margin report shows 82.92 net revenue less the landed cost of ten jars
    start = (today - timedelta(days=30)).isoformat()
    page.goto(f"/inventory/profit/?start={start}&end={today.isoformat()}&group=product")
    expect(page.get_by_test_id("margin-SHEA-250")).to_have_text(f"{Decimal('82.92') - cogs:.2f}")
    expect(page.get_by_text("Reconciled to the journal")).to_be_visible()
    save_screenshot(page, "inventory-margin")
