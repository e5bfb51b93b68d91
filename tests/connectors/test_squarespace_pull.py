"""Squarespace back-fill and notifications against the fake site: both APIs paged by cursor, the
window filters, the Document looked up for a notification, 429 cool-downs, keys and progress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import AuthExpired, SourceConfig
from connectors.sandbox.base import Fault
from connectors.sandbox.squarespace import SquarespaceSandbox
from connectors.sources.squarespace import SquarespaceSource
from integrator.canonical import Refund, Sale
from tests.fixtures.squarespace import load, make_source, pair, seed


@pytest.fixture
def site() -> Iterator[SquarespaceSandbox]:
    with SquarespaceSandbox() as sandbox:
        yield sandbox


def test_120_orders_are_read_through_both_apis_by_cursor(site: SquarespaceSandbox) -> None:
    placed = [site.place_order(*pair("two_taxes"))["id"] for _ in range(120)]
    progress: list[tuple[int, int | None, str]] = []
    since = datetime.now(UTC) - timedelta(hours=1)
    records = list(make_source(site, slug="sq-120").pull(since, lambda *p: progress.append(p)))

    assert sorted(r.payload["order"]["id"] for r in records) == sorted(placed)  # every order once
    assert all(r.payload["document"]["salesOrderId"] == r.payload["order"]["id"] for r in records)
    for path in (r"/commerce/transactions$", r"/commerce/orders$"):
        requests_made = site.requests_to("GET", path)
        assert len(requests_made) == 3  # 50 + 50 + 20
        first, *rest = requests_made
        assert set(first.query) == {"modifiedAfter", "modifiedBefore"}
        assert first.arg("modifiedAfter").endswith("Z") and "." in first.arg("modifiedAfter")
        assert all(set(r.query) == {"cursor"} for r in rest)  # the cursor alone, as Squarespace wants
        assert all(r.header("User-Agent").startswith("the-integrator/") for r in requests_made)
    assert progress[-1][:2] == (120, 120)
    assert len({r.dedupe_key for r in records}) == 120


def _two_hours_ago(site: SquarespaceSandbox) -> None:
    site.clock = lambda: datetime.now(UTC) - timedelta(hours=2)


def _now(site: SquarespaceSandbox) -> None:
    site.clock = lambda: datetime.now(UTC)


def test_only_orders_whose_money_changed_or_that_are_new_come_back(site: SquarespaceSandbox) -> None:
    _two_hours_ago(site)
    old_refunded, old_fulfilled = site.place_order(*pair("two_taxes")), site.place_order(*pair("jpy"))
    _now(site)
    site.refund(old_refunded["id"], "30.00")  # money changed: its Document moved
    site.fulfil(old_fulfilled["id"])  # only the order moved: nothing for the books
    new = site.place_order(*pair("eur"))
    records = list(make_source(site).pull(datetime.now(UTC) - timedelta(hours=1)))
    assert sorted(r.payload["order"]["id"] for r in records) == sorted([old_refunded["id"], new["id"]])
    refunded = next(r for r in records if r.payload["order"]["id"] == old_refunded["id"])
    docs = make_source(site).parse_event(refunded.event_type, refunded.payload)
    assert [d.kind for d in docs] == ["sale", "refund"]


def test_a_document_whose_order_did_not_change_brings_its_order(site: SquarespaceSandbox) -> None:
    _two_hours_ago(site)
    order = site.place_order(*pair("two_taxes"))
    _now(site)
    doc = site.document_of(order["id"])
    assert doc is not None
    # Its processing fee was recorded later: only the Document moved.
    doc["modifiedOn"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    (record,) = make_source(site).pull(datetime.now(UTC) - timedelta(hours=1))
    assert record.payload["order"]["id"] == order["id"]
    assert site.requests_to("GET", rf"/commerce/orders/{order['id']}$")  # fetched by id


def test_a_notification_fetches_the_order_and_finds_its_document(site: SquarespaceSandbox) -> None:
    seed(site)
    for _ in range(60):  # other orders' Documents to read past
        site.place_order(*pair("eur"))
    order = site.place_order(*pair("two_taxes"))
    notification = site.notification("order.create", order["id"])
    docs = make_source(site).parse_event("order.create", notification)
    sale = docs[0]
    assert isinstance(sale, Sale) and sale.external_id == order["id"] and sale.tenders[0].fee > 0
    lookups = site.requests_to("GET", r"/commerce/transactions$")
    assert lookups[0].arg("modifiedAfter") and lookups[0].arg("modifiedBefore")
    assert len(lookups) == 2  # 62 Documents modified in the window: two pages to find it

    # The same order pulled parses to the same documents: one Sale, however it arrives.
    (pulled,) = [
        r
        for r in make_source(site).pull(datetime.now(UTC) - timedelta(minutes=5))
        if r.payload["order"]["id"] == order["id"]
    ]
    assert make_source(site).parse_event(pulled.event_type, json.loads(json.dumps(pulled.payload))) == docs


def test_a_refund_notification_brings_the_refund(site: SquarespaceSandbox) -> None:
    order = site.place_order(*pair("two_taxes"))
    site.refund(order["id"], "30.00")
    docs = make_source(site).parse_event(
        "order.update", site.notification("order.update", order["id"], update="REFUNDED")
    )
    assert [d.kind for d in docs] == ["sale", "refund"]
    assert isinstance(docs[1], Refund) and docs[1].total == docs[1].adjustment


def test_a_429_is_cooled_down_then_retried(site: SquarespaceSandbox) -> None:
    site.place_order(*pair("jpy"))
    slept: list[float] = []
    source = make_source(site, slug="sq-429", currency="JPY")
    source._sleep = slept.append
    site.faults.next(Fault("rate_limit"))
    records = list(source.pull(datetime.now(UTC) - timedelta(hours=1)))
    assert len(records) == 1
    assert slept == [pytest.approx(0.05)]  # no Retry-After from Squarespace: our cool-down setting
    (throttled, *_) = site.requests_to("GET", r"/commerce/transactions$")
    assert throttled.arg("modifiedAfter")


def test_the_site_enforces_its_rate_limit_and_the_user_agent(site: SquarespaceSandbox) -> None:
    import requests

    site.requests_per_minute = 2
    headers = {"Authorization": f"Bearer {site.api_key}", "User-Agent": "probe/1.0"}
    answers = [requests.get(f"{site.url}/1.0/commerce/orders", headers=headers, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Retry-After" not in answers[2].headers and answers[2].json()["type"] == "RATE_LIMITED"
    site.requests_per_minute = 300
    no_agent = requests.get(
        f"{site.url}/1.0/commerce/orders",
        headers={"Authorization": headers["Authorization"], "User-Agent": ""},
        timeout=10,
    )
    assert no_agent.status_code == 400 and "User-Agent" in no_agent.json()["message"]
    half = requests.get(
        f"{site.url}/1.0/commerce/orders?modifiedAfter=2026-01-01T00:00:00Z", headers=headers, timeout=10
    )
    assert half.status_code == 400 and half.json()["type"] == "INVALID_REQUEST_ERROR"


def test_a_wrong_key_and_the_connection_test(site: SquarespaceSandbox) -> None:
    assert make_source(site).test_connection().ok
    bad = SquarespaceSource(
        SourceConfig(
            channel_slug="sq-bad", currency="USD", base_url=site.url, credentials={"api_key": "nope"}
        )
    )
    check = bad.test_connection()
    assert not check.ok and "refused the API key" in check.message
    with pytest.raises(AuthExpired) as caught:
        list(bad.pull(datetime(2026, 1, 1, tzinfo=UTC)))
    assert caught.value.vendor_code == "AUTHORIZATION_ERROR"


def test_setup_and_schedule() -> None:
    assert SquarespaceSource.scheduled_pull_minutes == 30
    assert [f.name for f in SquarespaceSource.setup_fields if f.store == "credentials"] == ["api_key"]
    assert load("webhook_order_create")["data"]["orderId"] == pair("two_taxes")[0]["id"]


def test_without_a_key_the_connection_test_says_what_to_enter() -> None:
    check = SquarespaceSource(SourceConfig(channel_slug="sq-none", currency="USD")).test_connection()
    assert not check.ok and "API key" in check.message
    from connectors.base import Permanent

    with pytest.raises(Permanent, match="partial refund setting"):
        make_source(refund_allocation="half").parse_event(
            "order.update", {"order": pair("jpy")[0], "document": None}
        )
