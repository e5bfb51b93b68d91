"""Square back-fill: SearchOrders cursors (same query every page), refunds, payments, payouts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from connectors.base import Permanent
from connectors.sandbox.base import Fault
from connectors.sandbox.square import SquareSandbox
from connectors.sources.square import SquareSource
from connectors.sources.square.api import SquareAPI
from tests.fixtures.square import (
    GBP_LOCATION,
    GBP_ORDER_ID,
    JPY_LOCATION,
    PAYOUT_ID,
    USD_LOCATION,
    USD_ORDER_ID,
    captured_calls,
    load,
    seed,
    source_for,
)

SINCE = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def server():
    with SquareSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def square(server):
    server.reset()
    return server


@pytest.fixture(autouse=True)
def calls():
    with captured_calls() as records:
        yield records


def test_2100_orders_in_pages_of_1000_with_the_same_query(square):
    template = load("order_additive_usd.json")
    ids = square.clone_orders(template, 2100, start=SINCE + timedelta(days=1), step=timedelta(minutes=1))
    progress: list[tuple[int, int | None, str]] = []
    src = source_for(square, "sq-pull-2100", location_ids=[USD_LOCATION], requests_per_second=100)
    records = [
        r
        for r in src.pull(SINCE, lambda done, total, msg: progress.append((done, total, msg)))
        if r.event_type == "order.updated"
    ]

    assert [r.payload["data"]["id"] for r in records] == ids  # all, once, oldest first
    assert len({r.dedupe_key for r in records}) == 2100
    bodies = square.search_bodies
    assert [("cursor" in b) for b in bodies] == [False, True, True]
    assert all(b["limit"] == 1000 for b in bodies)
    without_cursor = [
        json.dumps({k: v for k, v in b.items() if k != "cursor"}, sort_keys=True) for b in bodies
    ]
    assert len(set(without_cursor)) == 1  # the sandbox saw the identical query on every page
    assert [p[0] for p in progress[:3]] == [1000, 2000, 2100]
    assert all(total is None and "orders" in msg for _, total, msg in progress[:3])
    query = bodies[0]["query"]
    assert query["filter"]["date_time_filter"]["updated_at"]["start_at"] == "2025-03-01T00:00:00.000Z"
    assert query["filter"]["state_filter"] == {"states": ["COMPLETED"]}
    assert query["sort"] == {"sort_field": "UPDATED_AT", "sort_order": "ASC"}


def test_pulled_order_parses_like_its_webhook(square):
    seed(square)
    src = source_for(square, "sq-pull-same", location_ids=[USD_LOCATION, GBP_LOCATION])
    records = list(src.pull(SINCE))
    by_kind: dict[tuple[str, str], str] = {}
    for record in records:
        for doc in src.parse_event(record.event_type, record.payload):
            by_kind[(doc.kind, doc.external_id)] = record.event_type
    # A pulled order is not fetched again: the search answer already held all of it.
    assert square.requests_to("GET", f"^/v2/orders/({USD_ORDER_ID}|{GBP_ORDER_ID})$") == []
    webhooks = [
        ("order.updated", load("order_updated_usd.json")),
        ("payment.created", load("payment_created_gbp.json")),
        ("refund.updated", load("refund_updated_partial_usd.json")),
        ("payout.paid", load("payout_paid_gbp.json")),
    ]
    for event_type, body in webhooks:
        [doc] = src.parse_event(event_type, body)
        assert (doc.kind, doc.external_id) in by_kind, f"{event_type} has no pulled twin"
    assert ("sale", GBP_ORDER_ID) in by_kind and ("payout", PAYOUT_ID) in by_kind
    [pulled_sale] = [
        d
        for r in records
        if r.event_type == "order.updated"
        for d in src.parse_event(r.event_type, r.payload)
        if d.external_id == USD_ORDER_ID
    ]
    [webhook_sale] = src.parse_event("order.updated", load("order_updated_usd.json"))
    assert pulled_sale == webhook_sale


def test_pull_uses_squares_list_filters(square):
    seed(square)
    list(source_for(square, "sq-pull-params", location_ids=[GBP_LOCATION]).pull(SINCE))
    [refunds] = square.requests_to("GET", "^/v2/refunds$")
    assert refunds.arg("status") == "COMPLETED" and refunds.arg("sort_field") == "UPDATED_AT"
    assert refunds.arg("updated_at_begin_time") == "2025-03-01T00:00:00.000Z"
    assert refunds.arg("begin_time") == "2025-01-30T00:00:00.000Z"  # 30 days' look-back on creation
    [payouts] = square.requests_to("GET", "^/v2/payouts$")
    assert payouts.arg("location_id") == GBP_LOCATION and int(payouts.arg("limit")) == 100


def test_only_completed_orders_changed_since_are_pulled(square):
    seed(square)
    old = load("order_inclusive_gbp.json")
    old["id"], old["updated_at"] = "OLDORDER", "2025-02-27T10:00:00Z"
    square.add_order(old)
    open_order = load("order_inclusive_gbp.json")
    open_order["id"], open_order["state"] = "OPENORDER", "OPEN"
    square.add_order(open_order)
    records = list(source_for(square, "sq-pull-filter", location_ids=[GBP_LOCATION]).pull(SINCE))
    pulled = {r.payload["data"]["id"] for r in records if r.event_type == "order.updated"}
    assert pulled == {GBP_ORDER_ID}


def test_payouts_unchanged_since_are_skipped(square):
    seed(square)
    records = list(
        source_for(square, "sq-pull-payouts", location_ids=[GBP_LOCATION]).pull(
            datetime(2025, 3, 19, tzinfo=UTC)
        )
    )
    assert [r for r in records if r.event_type.startswith("payout.")] == []


def test_pull_honours_429_retry_after_and_loses_nothing(square):
    template = load("order_jpy.json")
    square.clone_orders(template, 1001, start=SINCE + timedelta(days=1), step=timedelta(minutes=1))
    src = source_for(square, "sq-pull-429", location_ids=[JPY_LOCATION], requests_per_second=100)
    pulled = src.pull(SINCE)
    first = [next(pulled) for _ in range(1000)]
    square.faults.next(Fault("rate_limit", retry_after=0.3))  # the request for page 2 is refused
    rest = [r for r in pulled if r.event_type == "order.updated"]
    assert len({r.dedupe_key for r in first + rest}) == 1001
    searches = square.requests_to("POST", "/v2/orders/search")
    assert len(searches) == 3  # page 1, page 2 refused with 429, page 2 again
    assert searches[2].received_at - searches[1].received_at >= 0.3
    assert json.loads(searches[1].body) == json.loads(searches[2].body)  # same cursor, same query


def test_changed_query_with_a_cursor_is_refused(square):
    square.clone_orders(load("order_additive_usd.json"), 3, start=SINCE, step=timedelta(minutes=1))
    headers = {"Authorization": f"Bearer {square.access_token}"}
    body = {"location_ids": [USD_LOCATION], "limit": 2, "query": {"sort": {"sort_field": "CREATED_AT"}}}
    first = requests.post(square.url + "/v2/orders/search", json=body, headers=headers, timeout=5).json()
    assert len(first["orders"]) == 2 and first["cursor"]
    changed = {**body, "limit": 3, "cursor": first["cursor"]}
    answer = requests.post(square.url + "/v2/orders/search", json=changed, headers=headers, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["category"] == "INVALID_REQUEST_ERROR"
    same = requests.post(
        square.url + "/v2/orders/search", json={**body, "cursor": first["cursor"]}, headers=headers, timeout=5
    )
    assert same.status_code == 200 and len(same.json()["orders"]) == 1 and "cursor" not in same.json()


def test_changed_query_surfaces_as_permanent_through_the_client(square):
    square.clone_orders(load("order_additive_usd.json"), 3, start=SINCE, step=timedelta(minutes=1))
    api = SquareAPI(access_token=square.access_token, base_url=square.url, connection_key="sq-pull-client")
    first = api.search("/v2/orders/search", {"location_ids": [USD_LOCATION], "limit": 2})
    with pytest.raises(Permanent) as info:
        api.search(
            "/v2/orders/search",
            {"location_ids": [USD_LOCATION, JPY_LOCATION], "limit": 2, "cursor": first["cursor"]},
        )
    assert info.value.vendor_code == "INVALID_VALUE"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"location_ids": [USD_LOCATION], "limit": 1001}, "VALUE_TOO_HIGH"),
        ({"limit": 10}, "MISSING_REQUIRED_PARAMETER"),
        ({"location_ids": [f"L{i}" for i in range(11)]}, "ARRAY_LENGTH_TOO_LONG"),
        (
            {
                "location_ids": [USD_LOCATION],
                "query": {
                    "filter": {"date_time_filter": {"updated_at": {"start_at": "2025-01-01T00:00:00Z"}}}
                },
            },
            "BAD_REQUEST",
        ),
        ({"location_ids": [USD_LOCATION], "cursor": "made-up"}, "INVALID_CURSOR"),
    ],
    ids=["limit-over-1000", "no-locations", "eleven-locations", "filter-sort-mismatch", "unknown-cursor"],
)
def test_sandbox_refuses_what_square_refuses(square, body, code):
    answer = requests.post(
        square.url + "/v2/orders/search",
        json=body,
        headers={"Authorization": f"Bearer {square.access_token}"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == code


def test_more_than_ten_locations_are_searched_in_chunks(square):
    locations = [f"LOC{i:02d}" for i in range(12)]
    for i, location in enumerate(locations):
        order = load("order_jpy.json")
        order["id"], order["location_id"] = f"JPYORDER{i:02d}", location
        square.add_order(order)
    records = list(
        source_for(square, "sq-pull-chunks", location_ids=locations, requests_per_second=100).pull(SINCE)
    )
    assert len([r for r in records if r.event_type == "order.updated"]) == 12
    assert [len(b["location_ids"]) for b in square.search_bodies] == [10, 2]


def test_pull_without_locations_is_refused(square):
    with pytest.raises(Permanent, match="location_ids"):
        list(source_for(square, "sq-pull-none").pull(SINCE))


def test_naive_since_is_read_in_the_channel_timezone(square):
    src = source_for(square, "sq-pull-tz", location_ids=[USD_LOCATION])
    src.config = type(src.config)(**{**src.config.__dict__, "timezone": "America/New_York"})
    list(src.pull(datetime(2025, 3, 1)))
    start = square.search_bodies[0]["query"]["filter"]["date_time_filter"]["updated_at"]["start_at"]
    assert start == "2025-03-01T05:00:00.000Z"


def test_pulled_jpy_order_stays_exact(square):
    square.add_order(load("order_jpy.json"))
    src = source_for(square, "sq-pull-jpy", location_ids=[JPY_LOCATION])
    [record] = [r for r in src.pull(SINCE) if r.event_type == "order.updated"]
    [sale] = src.parse_event(record.event_type, record.payload)
    assert sale.total == Decimal("5760") and sale.currency == "JPY"
    assert isinstance(src, SquareSource)
