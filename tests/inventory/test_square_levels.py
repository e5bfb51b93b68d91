"""Square inventory counts as stock levels, over HTTP to the Square sandbox: counts to levels by SKU
and location, the sandbox's answers against Square's spec, the daily pull on its schedule, and the
daily reconciliation flagging Square's count where it differs from ours."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest
import requests

from connectors.sandbox.base import Fault
from connectors.sandbox.square import SquareSandbox
from integrator.models import InventoryBook, Product, StockLevel
from integrator.services.channels import create_channel
from integrator.services.inventory.adjustments import adjust_stock
from integrator.services.inventory.source_pulls import pull_all_source_levels
from integrator.services.posting import run_outbox
from tests.connectors.test_square_contract import undeclared_keys
from tests.contract import validate_openapi
from tests.fixtures.square import captured_calls, source_for

SPEC = "square/api.json"
HIGH_STREET = "LSANDBOXMAIN1"
MARKET = "LSANDBOXMKT02"
COUNTS = "/v2/inventory/counts/batch-retrieve"
CATALOG = "/v2/catalog/batch-retrieve"


def _shop(square: SquareSandbox) -> None:
    """Five variations with SKUs and one without, counted at the High Street and the market stall."""
    for n in range(1, 6):
        square.add_variation(f"VAR{n}", f"SKU-{n}")
        square.add_count(f"VAR{n}", HIGH_STREET, f"{n}.5")
        square.add_count(f"VAR{n}", MARKET, "999")  # another location: not ours to read here
    square.add_variation("VARNOSKU")  # no SKU in Square
    square.add_count("VARNOSKU", HIGH_STREET, "4")
    square.add_count("VAR1", HIGH_STREET, "2", state="SOLD")  # not in stock


def test_square_counts_become_levels_by_sku_over_two_pages() -> None:
    with SquareSandbox() as square, captured_calls():
        _shop(square)
        # The second page is refused once with 429: the read waits Retry-After and goes on.
        square.faults.next(Fault("rate_limit", retry_after=0.2), path=COUNTS)
        source = source_for(square, "sq", inventory_page_size=4)
        levels = source.fetch_inventory_levels(HIGH_STREET)
        pages = square.requests_to("POST", COUNTS)
        catalog = square.requests_to("POST", CATALOG)
    # Six IN_STOCK counts at the High Street, four a page: two pages (and the refused attempt).
    assert len(pages) == 3
    bodies = [json.loads(r.body) for r in pages]
    assert bodies[0] == {"location_ids": [HIGH_STREET], "states": ["IN_STOCK"], "limit": 4}
    assert {k: v for k, v in bodies[-1].items() if k != "cursor"} == bodies[0] and bodies[-1]["cursor"]
    assert levels == {f"SKU-{n}": D(f"{n}.5") for n in range(1, 6)}
    assert source.skipped_levels == {"VARNOSKU": "the item variation has no SKU in Square"}
    assert len(catalog) == 1
    assert json.loads(catalog[0].body) == {"object_ids": ["VAR1", "VAR2", "VAR3", "VAR4", "VAR5", "VARNOSKU"]}


def test_a_count_whose_object_is_gone_or_not_a_variation_is_skipped_with_its_reason() -> None:
    with SquareSandbox() as square, captured_calls():
        square.add_variation("VAR1", "SHEA-KG")
        square.add_count("VAR1", HIGH_STREET, "97")
        square.add_count("VARGONE", HIGH_STREET, "3")
        square.catalog["ITEMX"] = {"type": "ITEM", "id": "ITEMX", "item_data": {"name": "Kente"}}
        square.add_count("ITEMX", HIGH_STREET, "1")
        source = source_for(square, "sq")
        assert source.fetch_inventory_levels(HIGH_STREET) == {"SHEA-KG": D(97)}
    assert source.skipped_levels == {
        "VARGONE": "not in the Square catalogue (deleted?)",
        "ITEMX": "a catalogue object of type ITEM, not an item variation",
    }


def test_the_sandbox_answers_and_our_requests_conform_to_square_spec() -> None:
    with SquareSandbox() as square, captured_calls():
        _shop(square)
        source_for(square, "sq", inventory_page_size=4).fetch_inventory_levels(HIGH_STREET)
        requests_ = square.requests_to("POST", COUNTS) + square.requests_to("POST", CATALOG)
        headers = {"Authorization": f"Bearer {square.access_token}", "Square-Version": "2025-08-20"}
        first = requests.post(square.url + COUNTS, json={"limit": 4}, headers=headers, timeout=5).json()
        catalog = requests.post(
            square.url + CATALOG,
            json={"object_ids": ["VAR1", "VARNOSKU", "NOPE"]},
            headers=headers,
            timeout=5,
        ).json()
    for request in requests_:
        name = (
            "BatchRetrieveInventoryCountsRequest"
            if COUNTS in request.path
            else "BatchRetrieveCatalogObjectsRequest"
        )
        validate_openapi(SPEC, name, json.loads(request.body))
        assert undeclared_keys(name, json.loads(request.body)) == []
    assert len(first["counts"]) == 4 and first["cursor"]
    validate_openapi(SPEC, "BatchRetrieveInventoryCountsResponse", first)
    assert undeclared_keys("BatchRetrieveInventoryCountsResponse", first) == []
    assert [o["id"] for o in catalog["objects"]] == ["VAR1", "VARNOSKU"]
    validate_openapi(SPEC, "BatchRetrieveCatalogObjectsResponse", catalog)
    assert undeclared_keys("BatchRetrieveCatalogObjectsResponse", catalog) == []


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (COUNTS, {"limit": 1001}, "VALUE_TOO_HIGH"),
        (COUNTS, {"limit": 0}, "VALUE_TOO_LOW"),
        (COUNTS, {"states": ["ON_THE_SHELF"]}, "INVALID_ENUM_VALUE"),
        (COUNTS, {"location_ids": "LSANDBOXMAIN1"}, "EXPECTED_ARRAY"),
        (COUNTS, {"location_id": "LSANDBOXMAIN1"}, "UNKNOWN_BODY_PARAMETER"),
        (COUNTS, {"cursor": "made-up"}, "INVALID_CURSOR"),
        (COUNTS, {"updated_after": "yesterday"}, "INVALID_TIME"),
        (CATALOG, {}, "MISSING_REQUIRED_PARAMETER"),
        (CATALOG, {"object_ids": ["VAR1"], "types": ["ITEM"]}, "UNKNOWN_BODY_PARAMETER"),
    ],
)
def test_the_sandbox_refuses_bodies_square_refuses(path: str, body: dict[str, Any], code: str) -> None:
    with SquareSandbox() as square:
        headers = {"Authorization": f"Bearer {square.access_token}"}
        answer = requests.post(square.url + path, json=body, headers=headers, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == code


def test_a_cursor_is_refused_with_a_different_query() -> None:
    with SquareSandbox() as square:
        _shop(square)
        headers = {"Authorization": f"Bearer {square.access_token}"}
        first = requests.post(square.url + COUNTS, json={"limit": 2}, headers=headers, timeout=5).json()
        changed = {"limit": 2, "states": ["IN_STOCK"], "cursor": first["cursor"]}
        answer = requests.post(square.url + COUNTS, json=changed, headers=headers, timeout=5)
    assert (answer.status_code, answer.json()["errors"][0]["field"]) == (400, "cursor")


def test_the_daily_pull_is_scheduled(db: Any) -> None:
    from django_q.models import Schedule

    from integrator.tasks import ensure_schedules

    ensure_schedules()
    ensure_schedules()  # idempotent
    schedule = Schedule.objects.get(func="integrator.tasks.pull_stock_levels")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 24 * 60, -1)


def test_the_daily_reconciliation_flags_square_count_that_differs_from_ours(
    inventory: InventoryBook, shea: Product, ledger: Any
) -> None:
    from integrator.tasks import pull_stock_levels
    from reconciliation.models import ReconciliationException
    from reconciliation.services.runs import run_reconciliation

    # Given 100 kg of shea butter in our books, and Square counting 97 kg at the High Street
    adjust_stock(inventory, shea, D(100), unit_cost=D("5.00"), key="opening", on=date(2026, 11, 1))
    run_outbox()
    with SquareSandbox() as square:
        square.add_variation("VARSHEA", "SHEA-KG")
        square.add_count("VARSHEA", HIGH_STREET, "97")
        square.add_count("VARSHEA", MARKET, "5")
        create_channel(platform="square", name="Square till", slug="square-till", currency="GBP",
                       ledger_connection=ledger, webhook_secrets=["s"], base_url=square.url,
                       credentials={"access_token": square.access_token},
                       settings={"stock_locations": {HIGH_STREET: "main"}})  # fmt: skip
        create_channel(platform="square", name="Old till", slug="square-old", currency="GBP",
                       ledger_connection=ledger, webhook_secrets=["s"], base_url=square.url,
                       credentials={"access_token": "revoked"},
                       settings={"stock_locations": {HIGH_STREET: "main"}})  # fmt: skip
        # When the daily pull runs (one channel's token is refused: the other is still read)
        assert pull_stock_levels() == 1
        summary = pull_all_source_levels()
    assert summary.pulled == ["square-till:LSANDBOXMAIN1"]
    assert "access token refused" in summary.failed["square-old:LSANDBOXMAIN1"]
    level = StockLevel.objects.get(product=shea, location="main")
    assert (level.quantity, level.source_quantity) == (D(100), D(97))
    # Then the day's reconciliation flags the 3 kg difference between Square's count and ours
    run_reconciliation(date(2026, 11, 1))
    exception = ReconciliationException.objects.get(key__startswith="stocklevel:")
    assert (exception.expected, exception.actual, exception.amount) == (D(100), D(97), D(3))
    assert "SHEA-KG at main: our stock is 100 kg, the sales system says 97" in exception.explanation
