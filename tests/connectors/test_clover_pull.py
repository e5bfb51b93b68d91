"""Clover pulls: 90-day windows on modifiedTime, limit/offset pages, 429 with Clover's doubling
pause, the sandbox refusing what Clover refuses, and a pulled order parsing like its webhook."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from connectors.base import Permanent, RateLimited, SourceConfig
from connectors.sandbox.base import Fault
from connectors.sandbox.clover import MAX_WINDOW_MS, CloverSandbox
from connectors.sources.clover import WINDOW, CloverSource
from tests.fixtures import clover as fx


@pytest.fixture
def clover():
    with CloverSandbox(merchant_id=fx.MERCHANT, access_token=fx.TOKEN) as sandbox:
        yield sandbox


def source(clover: CloverSandbox, sleeps: list[float] | None = None) -> CloverSource:
    config = SourceConfig(
        channel_slug=f"clover-pull-{clover.port}",
        currency="USD",
        base_url=clover.url,
        credentials={"access_token": fx.TOKEN},
        webhook_secrets=(fx.AUTH_CODE,),
        settings={"merchant_id": fx.MERCHANT},
    )
    return CloverSource(config, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_pull_walks_90_day_windows_and_every_page(clover):
    now = datetime.now(UTC)
    # Tickets run from 14:00 UTC, five minutes apart (230 of them end the next morning): two days
    # back, so every one is in the past whatever the time of day.
    orders = fx.ticket_day(now.date() - timedelta(days=2), count=230)
    for order in orders:
        clover.add_order(order)
    progress: list[tuple[int, str]] = []
    since = now - timedelta(days=200)
    records = list(source(clover).pull(since, lambda done, total, msg: progress.append((done, msg))))
    assert sorted(r.payload["order"]["id"] for r in records) == sorted(o["id"] for o in orders)
    windows = clover.requests_to("GET", r"/orders$")
    spans = {(f["modifiedTime>"], f["modifiedTime<"]) for f in map(_filters_ge_le, windows)}
    assert len(spans) == 3  # 200 days: 90 + 90 + 20
    assert all(hi - lo <= MAX_WINDOW_MS for lo, hi in spans)
    last_window = [r for r in windows if _filters_ge_le(r)["modifiedTime<"] == max(h for _, h in spans)]
    assert [int(r.arg("offset")) for r in last_window] == [0, 100, 200]  # 230 orders, 100 a page
    assert all(r.arg("limit") == "100" for r in windows)
    assert progress and progress[-1][0] >= 230 and "orders" in progress[-2][1]


def _filters_ge_le(req) -> dict[str, int]:
    out = {}
    for raw in req.query["filter"]:
        field, op, value = raw.partition(">=") if ">=" in raw else raw.partition("<=")
        out[field + op[0]] = int(value)
    return out


def test_sandbox_refuses_a_read_over_90_days_or_unfiltered(clover):
    headers = {"Authorization": f"Bearer {fx.TOKEN}"}
    base = f"{clover.url}/v3/merchants/{fx.MERCHANT}/orders"
    wide = requests.get(
        base,
        params=[("filter", "modifiedTime>=0"), ("filter", f"modifiedTime<={MAX_WINDOW_MS + 1}")],
        headers=headers,
        timeout=5,
    )
    assert wide.status_code == 400 and "90 days" in wide.json()["message"]
    bare = requests.get(base, headers=headers, timeout=5)
    assert bare.status_code == 400
    assert requests.get(base, params={"limit": 1001}, headers=headers, timeout=5).status_code == 400
    assert requests.get(base, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401


def test_window_constant_is_clovers_limit():
    assert timedelta(days=90) == WINDOW


def test_429_without_retry_after_pauses_one_second_then_doubles(clover):
    clover.add_order(fx.ticket_day(datetime.now(UTC).date() - timedelta(days=1), count=1)[0])  # 14:00 UTC
    clover.faults.next(Fault("rate_limit"), Fault("rate_limit"))
    sleeps: list[float] = []
    records = list(source(clover, sleeps).pull(datetime.now(UTC) - timedelta(days=2)))
    assert len(records) == 1
    assert sleeps[:2] == [1.0, 2.0]  # no Retry-After: Clover says pause 1 s, then double
    throttled = [r for r in clover.requests if r.path.endswith("/orders")]
    assert len(throttled) == 3  # two refused, the third answered


def test_429_that_never_ends_surfaces_as_rate_limited(clover):
    clover.faults.next(*[Fault("rate_limit")] * 10)
    with pytest.raises(RateLimited):
        list(source(clover).pull(datetime.now(UTC) - timedelta(days=1)))


def test_a_pulled_order_parses_to_the_same_documents_as_its_webhook(clover):
    order = fx.load("order_discount_two_taxes.json")
    order["modifiedTime"] = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    clover.add_order(order)
    src = source(clover)
    (record,) = [r for r in src.pull(datetime.now(UTC) - timedelta(days=1)) if r.event_type == "order"]
    pulled = src.parse_event(record.event_type, record.payload)
    hooked = src.parse_event(
        "notification",
        {
            "merchants": {
                fx.MERCHANT: [{"objectId": f"O:{order['id']}", "type": "UPDATE", "ts": order["modifiedTime"]}]
            }
        },
    )
    assert [(d.kind, d.external_id) for d in pulled] == [(d.kind, d.external_id) for d in hooked]
    assert pulled == hooked  # same content: the inbox sees one revision
    assert record.dedupe_key == f"pull:order:{order['id']}:{order['modifiedTime']}"


def test_cash_events_are_pulled_in_the_same_windows(clover):
    now = int(datetime.now(UTC).timestamp() * 1000)
    for i, event in enumerate(fx.load("cash_events.json")["elements"]):
        clover.add_cash_event({**event, "timestamp": now - 3_600_000 + i * 60_000})
    records = [
        r for r in source(clover).pull(datetime.now(UTC) - timedelta(days=1)) if r.event_type == "cash_event"
    ]
    assert len(records) == 3
    docs = [d for r in records for d in source(clover).parse_event(r.event_type, r.payload)]
    assert sorted(d.float_change for d in docs) == [Decimal("-250.00"), Decimal("100.00")]  # PAY: a sale


def test_a_day_with_no_sales_pulls_nothing(clover):
    assert list(source(clover).pull(datetime.now(UTC) - timedelta(days=1))) == []


def test_revoked_token_is_auth_expired_and_other_refusals_permanent(clover):
    from connectors.base import AuthExpired

    src = source(clover)
    src.config = SourceConfig(**{**src.config.__dict__, "credentials": {"access_token": "revoked"}})
    with pytest.raises(AuthExpired):
        list(src.pull(datetime.now(UTC) - timedelta(days=1)))
    with pytest.raises(Permanent):
        source(clover).api.get("orders", [("filter", "modifiedTime>=x")])


def test_every_generated_ticket_matches_the_recorded_order_shape():
    validator = fx.schema_validator("order.schema.json")
    for order in fx.ticket_day(date(2026, 11, 26)):
        validator.validate(copy.deepcopy(order))
