"""Shopify pull (back-fill and payouts) against the sandbox over real HTTP, and the sandbox itself.

429 semantics (decided here): a 429 makes VendorHTTP block the connection for the Retry-After it
gave; the source re-sends the same page after that window, up to ``rate_limit_retries`` times, and
then lets :class:`RateLimited` (carrying ``retry_after``) reach the caller (the sync command), which
can resume from its last stored record.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors import http
from connectors.base import AuthExpired, PulledRecord, RateLimited, SourceConfig
from connectors.sandbox.base import Fault
from connectors.sandbox.shopify import CALL_LIMIT_HEADER, ShopifySandbox, generate_orders
from connectors.sources.shopify import ShopifySource
from integrator.canonical import Payout, Sale
from tests.fixtures.shopify import TOKEN, captured_calls, load, make_source, sale_identity

SINCE = datetime(2023, 12, 31, tzinfo=UTC)
ORDERS_PATH = r"/admin/api/2024-10/orders\.json$"
FIXTURE_ORDERS = [
    "order_discount_two_taxes",
    "order_full_discount",
    "order_multicurrency",
    "order_gift_card_purchase",
    "order_gift_card_redeemed",
]

Progress = list[tuple[int, int | None, str]]


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[http.CallRecord]]:
    """Outbound calls, recorded in memory instead of the integration-log table."""
    with captured_calls() as recorded:
        yield recorded


def payouts_sandbox(**kw: Any) -> ShopifySandbox:
    """A sandbox holding the payout fixtures (plus whatever ``kw`` adds)."""
    return ShopifySandbox(
        payouts=load("payouts")["payouts"],
        balance_transactions=load("payout_balance_transactions")["transactions"],
        **kw,
    )


def pull_all(source: ShopifySource, since: datetime = SINCE) -> tuple[list[PulledRecord], Progress]:
    progress: Progress = []
    records = list(source.pull(since, lambda done, total, message: progress.append((done, total, message))))
    return records, progress


def orders_of(records: list[PulledRecord]) -> list[PulledRecord]:
    return [r for r in records if r.event_type == "orders/updated"]


# -- the back-fill -------------------------------------------------------------------------------


def test_backfill_of_2500_orders_without_a_single_429(calls: list[http.CallRecord]) -> None:
    generated = generate_orders(2500, seed=7)
    with payouts_sandbox(orders=generated) as shop:
        source = make_source("GBP", base_url=shop.url)
        started = time.monotonic()
        records, progress = pull_all(source)
        elapsed = time.monotonic() - started
        order_requests = shop.requests_to("GET", ORDERS_PATH)
        all_requests = list(shop.requests)

    pulled = orders_of(records)
    assert len(pulled) == 2500
    assert len({r.payload["id"] for r in pulled}) == 2500
    assert len({r.dedupe_key for r in pulled}) == 2500
    assert all(r.dedupe_key == f"order:{r.payload['id']}:{r.payload['updated_at']}" for r in pulled)
    assert shop.throttled == 0 and all(c.status == 200 for c in calls)

    # page_info followed: filters on the first page only, then the cursor alone
    assert len(order_requests) == 10
    first, *rest = order_requests
    assert first.arg("status") == "any" and first.arg("updated_at_min") == SINCE.isoformat()
    assert first.arg("limit") == "250"
    assert all(set(r.query) == {"limit", "page_info"} for r in rest)

    # progress after every page, with the total from orders/count.json
    order_progress = [p for p in progress if p[2].endswith("orders")]
    assert [(done, total) for done, total, _ in order_progress] == [(250 * k, 2500) for k in range(1, 11)]
    assert progress[-1][:2] == (1, None) and "payouts" in progress[-1][2]

    # the client keeps to Shopify's 2 requests/s. Measured as the whole run's span, which a busy
    # machine can only lengthen (one late receipt can shorten a single gap, never the sum of them)
    received = [r.received_at for r in all_requests]
    assert received[-1] - received[0] >= (len(received) - 3) / 2
    assert elapsed < 20
    assert len(calls) == len(all_requests) and {c.vendor for c in calls} == {"shopify"}

    # every paid order parses to a Sale that adds up; unpaid ones (pending/voided) to nothing
    sales = 0
    for record in pulled:
        docs = source.parse_event(record.event_type, record.payload)
        if record.payload["financial_status"] == "paid":
            (sale,) = docs
            assert isinstance(sale, Sale) and sale_identity(sale) == sale.total
            sales += 1
        else:
            assert docs == []
    assert sales == sum(1 for o in generated if o["financial_status"] == "paid") > 2200


def test_pulled_orders_parse_like_their_webhooks() -> None:
    fixtures = [load(name) for name in FIXTURE_ORDERS]
    with ShopifySandbox(orders=fixtures) as shop:
        shop.set_transactions(5860841300004, load("order_gift_card_redeemed_transactions")["transactions"])
        fast = {"requests_per_second": 20}  # this test is about pages, not pace
        source = make_source("GBP", base_url=shop.url, page_size=2, pull_payouts=False, **fast)
        records, progress = pull_all(source)
        assert len(shop.requests_to("GET", ORDERS_PATH)) == 3  # 2 + 2 + 1
        for record, order in zip(orders_of(records), fixtures, strict=True):
            from_pull = source.parse_event(record.event_type, record.payload)
            from_webhook = source.parse_event("orders/paid", order)
            assert [(d.kind, d.external_id) for d in from_pull] == [
                (d.kind, d.external_id) for d in from_webhook
            ]
    assert [p[:2] for p in progress] == [(2, 5), (4, 5), (5, 5)]


# -- 429s and the bucket ---------------------------------------------------------------------------


def test_a_429_is_honoured_then_the_page_is_fetched_again(calls: list[http.CallRecord]) -> None:
    with ShopifySandbox(orders=generate_orders(30, seed=2)) as shop:
        shop.faults.only_paths = re.compile(ORDERS_PATH)
        shop.faults.next(Fault("rate_limit", retry_after=1.0))
        # a fast client limiter, so only the Retry-After can explain the wait
        source = make_source(
            "GBP", base_url=shop.url, page_size=10, pull_payouts=False, requests_per_second=20
        )
        records, _ = pull_all(source)
        order_requests = shop.requests_to("GET", ORDERS_PATH)

    assert len(orders_of(records)) == 30
    assert len(order_requests) == 4  # the refused first page, then 3 pages
    refused, retried = order_requests[0], order_requests[1]
    assert retried.query == refused.query  # the same page, filters and all
    assert retried.received_at - refused.received_at >= 0.95  # nothing inside the Retry-After window
    assert [c.status for c in calls].count(429) == 1


def test_a_429_that_persists_raises_rate_limited_with_retry_after() -> None:
    with ShopifySandbox(orders=generate_orders(5, seed=2)) as shop:
        shop.faults.only_paths = re.compile(ORDERS_PATH)
        shop.faults.next(*[Fault("rate_limit", retry_after=0.2)] * 4)
        source = make_source("GBP", base_url=shop.url, pull_payouts=False, requests_per_second=20)
        with pytest.raises(RateLimited) as caught:
            pull_all(source)
        assert len(shop.requests_to("GET", ORDERS_PATH)) == 1 + ShopifySource.rate_limit_retries
    assert caught.value.retry_after == 0.2


def test_a_nearly_full_bucket_makes_the_client_pause() -> None:
    """Another app has used 8 of a 10-call bucket: the first answer says 9/10, so the client waits
    until it has drained to half before its next call, and is never refused."""
    with ShopifySandbox(orders=generate_orders(20, seed=4), bucket_size=10) as shop:
        shop.consume(8)
        records, _ = pull_all(make_source("GBP", base_url=shop.url, page_size=10, pull_payouts=False))
        first, second = shop.requests[:2]
    assert len(orders_of(records)) == 20
    assert shop.throttled == 0
    assert second.received_at - first.received_at >= 1.8  # (9 - 5) calls / 2 per second


# -- errors --------------------------------------------------------------------------------------


def test_a_refused_token_is_auth_expired() -> None:
    with ShopifySandbox(orders=generate_orders(3)) as shop:
        source = ShopifySource(
            SourceConfig(
                channel_slug="shop-bad-token",
                currency="GBP",
                base_url=shop.url,
                credentials={"access_token": "shpat_x"},
            )
        )
        with pytest.raises(AuthExpired) as caught:
            pull_all(source)
    assert caught.value.vendor_code == "401" and "Invalid API key" in caught.value.vendor_message
    assert "shpat_x" not in caught.value.vendor_message


def test_no_access_token_is_auth_expired_before_any_call() -> None:
    source = ShopifySource(
        SourceConfig(channel_slug="shop-none", currency="GBP", base_url="http://127.0.0.1:9")
    )
    with pytest.raises(AuthExpired):
        pull_all(source)


def test_shop_without_shopify_payments_still_pulls_its_orders() -> None:
    with payouts_sandbox(orders=generate_orders(4)) as shop:
        shop.faults.only_paths = re.compile(r"/shopify_payments/")
        shop.faults.next(Fault("status", status=404))
        records, progress = pull_all(make_source("GBP", base_url=shop.url, requests_per_second=20))
    assert len(orders_of(records)) == 4 and not [r for r in records if r.event_type == "payout"]
    assert "not available" in progress[-1][2]


# -- payouts -------------------------------------------------------------------------------------


def test_payouts_are_pulled_with_their_balance_transactions() -> None:
    with payouts_sandbox() as shop:
        source = make_source("GBP", base_url=shop.url, page_size=2, requests_per_second=20)
        records, progress = pull_all(source, since=datetime(2024, 11, 1, tzinfo=UTC))
        bt_requests = shop.requests_to("GET", r"/shopify_payments/balance/transactions\.json$")
        payout_requests = shop.requests_to("GET", r"/shopify_payments/payouts\.json$")

    (record,) = [r for r in records if r.event_type == "payout"]  # the scheduled one is not pulled
    assert record.dedupe_key == "payout:98765432101:paid"
    assert payout_requests[0].arg("date_min") == "2024-11-01"
    assert len(bt_requests) == 3  # six balance transactions, two per page
    assert bt_requests[0].arg("payout_id") == "98765432101" and "page_info" in bt_requests[1].query
    (payout,) = source.parse_event(record.event_type, record.payload)
    assert isinstance(payout, Payout)
    assert sum(i.net for i in payout.items) == payout.amount
    assert payout.gross() - payout.fees() == payout.amount
    assert progress[-1][:2] == (1, None)


# -- the sandbox's own contract -----------------------------------------------------------------


def api(shop: ShopifySandbox, path: str, token: str = TOKEN, **params: Any) -> requests.Response:
    """A raw Admin API call (no client-side limiter)."""
    return requests.get(
        f"{shop.url}/admin/api/2024-10/{path}",
        params=params,
        headers={"X-Shopify-Access-Token": token},
        timeout=5,
    )


def test_sandbox_leaky_bucket_refuses_the_41st_burst_call() -> None:
    with ShopifySandbox(orders=generate_orders(1)) as shop:
        # a fresh connection per call: the burst must outrun the 2/s leak by far
        answers = [api(shop, "orders/count.json") for _ in range(50)]
    assert [a.status_code for a in answers[:40]] == [200] * 40
    assert answers[0].headers[CALL_LIMIT_HEADER] == "1/40"
    throttled = [a for a in answers[40:] if a.status_code == 429]
    assert throttled and throttled[0].headers["Retry-After"] == "2.0"
    assert throttled[0].headers[CALL_LIMIT_HEADER] == "40/40"
    assert all(CALL_LIMIT_HEADER in a.headers for a in answers)
    assert shop.throttled == len(throttled)


def test_sandbox_pagination_rules() -> None:
    with ShopifySandbox(orders=generate_orders(5)) as shop:
        first = api(shop, "orders.json", status="any", limit=2)
        assert first.links["next"]["url"] and "previous" not in first.links
        second = requests.get(
            first.links["next"]["url"], headers={"X-Shopify-Access-Token": TOKEN}, timeout=5
        )
        assert {"next", "previous"} <= set(second.links)
        back = requests.get(
            second.links["previous"]["url"], headers={"X-Shopify-Access-Token": TOKEN}, timeout=5
        )
        assert [o["id"] for o in back.json()["orders"]] == [o["id"] for o in first.json()["orders"]]

        token = parse_qs(urlsplit(first.links["next"]["url"]).query)["page_info"][0]
        cursor = json.loads(base64.urlsafe_b64decode(token))
        assert cursor["f"] == {"status": "any"}  # the cursor carries the first page's filters
        mixed = api(shop, "orders.json", page_info=token, status="any")
        assert mixed.status_code == 400 and "page_info" in mixed.json()["errors"]
        too_many = api(shop, "orders.json", limit=251)
        refused = api(shop, "orders.json", token="nope")
        assert (too_many.status_code, refused.status_code) == (400, 401)
        assert all(CALL_LIMIT_HEADER in r.headers for r in (first, second, mixed, too_many, refused))


def test_sandbox_defaults_to_open_orders_like_shopify() -> None:
    orders = generate_orders(200, seed=5)
    with ShopifySandbox(orders=orders) as shop:
        open_count = api(shop, "orders/count.json").json()["count"]
        any_count = api(shop, "orders/count.json", status="any").json()["count"]
    assert any_count == 200
    assert open_count == sum(1 for o in orders if not o["closed_at"] and not o["cancelled_at"]) < 200
