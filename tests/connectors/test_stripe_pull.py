"""Back-fill from Stripe through the sandbox: Events API pagination, progress, rate limits and
errors, and the object lists used for history older than the 30 days Stripe keeps events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors import http
from connectors.base import AuthExpired, Permanent, PulledRecord, SourceConfig
from connectors.sandbox.base import Fault
from connectors.sandbox.stripe import StripeSandbox
from connectors.sources.stripe import HANDLED_EVENT_TYPES, StripeSource
from integrator.services.integration_log import record_call

KEY = "sk_test_pull"
NOW = int(time.time())
OLD = NOW - 40 * 86400  # beyond the Events API's 30 days


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[http.CallRecord]]:
    """Outbound calls, recorded in memory: connector tests need no database for the integration log."""
    recorded: list[http.CallRecord] = []
    http.set_call_recorder(recorded.append)
    yield recorded
    http.set_call_recorder(record_call)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[StripeSandbox]:
    """250 recent charges with their events, 5 events we do not handle, and 40-day-old history
    (3 charges, a refund of each and their payout) whose events Stripe no longer keeps."""
    with StripeSandbox(secret_key=KEY, seed=3) as server:
        for n in range(250):
            server.create_charge(1000 + n, "gbp", fee=30 + n % 9, created=NOW - 3600 - 60 * n)
        for n in range(5):
            server.add_event(
                "customer.created", {"object": "customer", "id": f"cus_{n}", "created": NOW - 60}
            )
        old = [server.create_charge(5000 + n, "gbp", fee=100, created=OLD + n, event=False) for n in range(3)]
        refunds = [server.create_refund(c["id"], 500, created=OLD + 100) for c in old]
        server.old_charges = old  # type: ignore[attr-defined]
        server.old_refunds = refunds  # type: ignore[attr-defined]
        bts = [c["balance_transaction"] for c in old] + [r["balance_transaction"] for r in refunds]
        server.old_payout = server.create_payout(bts, created=OLD + 200)  # type: ignore[attr-defined]
        yield server


def stripe(server: StripeSandbox, key: str | None = KEY) -> StripeSource:
    return StripeSource(
        SourceConfig(
            channel_slug=f"stripe-{uuid.uuid4().hex[:8]}",  # its own rate limiter
            currency="GBP",
            base_url=server.url,
            credentials={"secret_key": key} if key else {},
        )
    )


def events_requests(server: StripeSandbox, since_index: int) -> list[Any]:
    return [r for r in server.requests[since_index:] if r.path == "/v1/events"]


def pull_all(source: StripeSource, since: datetime, progress: Any = None) -> list[PulledRecord]:
    return list(source.pull(since, progress))


def test_pull_pages_through_250_events_reporting_progress(sandbox: StripeSandbox) -> None:
    source = stripe(sandbox)
    assert source.api is not None and source.api.http.limiter.limit == http.RateLimit(per_second=100)
    seen = len(sandbox.requests)
    progress: list[tuple[int, int | None]] = []
    since = datetime.fromtimestamp(NOW - 86400, tz=UTC)
    records = pull_all(source, since, lambda done, total, message: progress.append((done, total)))

    assert len(records) == 250
    assert {r.event_type for r in records} == {"charge.succeeded"}  # customer.created filtered out
    assert len({r.dedupe_key for r in records}) == 250
    assert all(r.dedupe_key == r.payload["id"] and r.dedupe_key.startswith("evt_") for r in records)
    assert progress == [(100, None), (200, None), (250, None)]
    pages = events_requests(sandbox, seen)
    assert [p.arg("limit") for p in pages] == ["100", "100", "100"]
    assert pages[0].arg("starting_after") == ""
    assert pages[1].arg("starting_after") == records[99].dedupe_key
    assert pages[2].arg("starting_after") == records[199].dedupe_key
    assert pages[0].arg("created[gte]") == str(NOW - 86400)
    assert set(pages[0].query["types[]"]) == set(HANDLED_EVENT_TYPES)


def test_a_pulled_event_parses_to_the_same_transaction_as_its_webhook(sandbox: StripeSandbox) -> None:
    source = stripe(sandbox)
    record = pull_all(source, datetime.fromtimestamp(NOW - 86400, tz=UTC))[0]
    webhook_event = sandbox.store["event"][record.dedupe_key]  # what Stripe would have POSTed
    pulled = source.parse_event(record.event_type, record.payload)
    delivered = source.parse_event(webhook_event["type"], webhook_event)
    assert [(d.kind, d.external_id) for d in pulled] == [(d.kind, d.external_id) for d in delivered]
    assert pulled[0].external_id.startswith("ch_") and pulled[0].fee > 0


def test_a_429_mid_pull_is_waited_out_and_nothing_is_lost(sandbox: StripeSandbox) -> None:
    seen = len(sandbox.requests)
    sandbox.faults.next(Fault("rate_limit", retry_after=0.2))
    started = time.monotonic()
    records = pull_all(stripe(sandbox), datetime.fromtimestamp(NOW - 86400, tz=UTC))
    assert len({r.dedupe_key for r in records}) == 250
    assert len(events_requests(sandbox, seen)) == 4  # one refused, three pages
    assert time.monotonic() - started >= 0.2  # Retry-After honoured


def test_a_server_error_is_retried(sandbox: StripeSandbox) -> None:
    seen = len(sandbox.requests)
    sandbox.faults.next(Fault("status", status=503))
    records = pull_all(stripe(sandbox), datetime.fromtimestamp(NOW - 86400, tz=UTC))
    assert len(records) == 250 and len(events_requests(sandbox, seen)) == 4


def test_a_server_error_stripe_says_not_to_retry_is_permanent(sandbox: StripeSandbox) -> None:
    seen = len(sandbox.requests)
    sandbox.fail_next(500, should_retry=False)
    with pytest.raises(Permanent) as caught:
        pull_all(stripe(sandbox), datetime.fromtimestamp(NOW - 86400, tz=UTC))
    assert "scripted" in caught.value.vendor_message
    assert len(events_requests(sandbox, seen)) == 1


def test_a_refused_key_asks_for_new_credentials_without_retrying(sandbox: StripeSandbox) -> None:
    seen = len(sandbox.requests)
    with pytest.raises(AuthExpired) as caught:
        pull_all(stripe(sandbox, key="sk_test_revoked_1234"), datetime.fromtimestamp(NOW - 86400, tz=UTC))
    assert "Invalid API Key" in caught.value.vendor_message
    assert len(events_requests(sandbox, seen)) == 1


def test_pull_needs_a_secret_key(sandbox: StripeSandbox) -> None:
    with pytest.raises(Permanent, match="secret key"):
        pull_all(stripe(sandbox, key=None), datetime.fromtimestamp(NOW - 86400, tz=UTC))


def test_history_older_than_30_days_comes_from_the_object_lists(sandbox: StripeSandbox) -> None:
    source = stripe(sandbox)
    since = datetime.fromtimestamp(OLD - 5 * 86400, tz=UTC)
    records = pull_all(source, since)
    old_charges = sandbox.old_charges  # type: ignore[attr-defined]
    old_refunds = sandbox.old_refunds  # type: ignore[attr-defined]
    payout = sandbox.old_payout  # type: ignore[attr-defined]
    keys = {r.dedupe_key for r in records}
    assert {f"{c['id']}:charge.succeeded:succeeded" for c in old_charges} <= keys
    assert {f"{r['id']}:refund.updated:succeeded" for r in old_refunds} <= keys
    assert f"{payout['id']}:payout.paid:paid" in keys
    assert sum(r.dedupe_key.startswith("evt_") for r in records) == 250  # the recent part, as events
    assert len(keys) == len(records) == 250 + 3 + 3 + 1
    # A second back-fill of the same window stores nothing new.
    assert {r.dedupe_key for r in pull_all(source, since)} == keys

    by_key = {r.dedupe_key: r for r in records}
    charge_record = by_key[f"{old_charges[0]['id']}:charge.succeeded:succeeded"]
    fetched_before = len(sandbox.requests_to("GET", r"^/v1/balance_transactions/"))
    payment = source.parse_event(charge_record.event_type, charge_record.payload)[0]
    assert (payment.external_id, payment.amount, payment.fee) == (
        old_charges[0]["id"],
        Decimal("50.00"),
        Decimal("1.00"),
    )
    # The charges list expanded each balance transaction: no fetch per charge afterwards.
    assert len(sandbox.requests_to("GET", r"^/v1/balance_transactions/")) == fetched_before
    payout_record = by_key[f"{payout['id']}:payout.paid:paid"]
    parsed = source.parse_event(payout_record.event_type, payout_record.payload)[0]
    # Charges of 50.00, 50.01 and 50.02, fees of 1.00 each, three refunds of 5.00.
    assert (parsed.gross(), parsed.fees(), parsed.amount) == (
        Decimal("135.03"),
        Decimal("3.00"),
        Decimal("132.03"),
    )
    assert sum((i.net for i in parsed.items), Decimal(0)) == parsed.amount


def test_the_sandbox_enforces_its_rate_limit_the_stripe_way() -> None:
    with StripeSandbox(secret_key=KEY, rate_limit_per_second=3) as server:
        answers = [
            requests.get(server.url + "/v1/charges", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
            for _ in range(4)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["Stripe-Should-Retry"] == "true" and float(refused.headers["Retry-After"]) > 0
    assert refused.json()["error"]["code"] == "rate_limit"


def test_sandbox_cursors_and_expansion(sandbox: StripeSandbox) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    first = requests.get(sandbox.url + "/v1/charges", params={"limit": 5}, headers=auth, timeout=5).json()
    before = requests.get(
        sandbox.url + "/v1/charges",
        params={"limit": 2, "ending_before": first["data"][3]["id"]},
        headers=auth,
        timeout=5,
    ).json()
    assert [c["id"] for c in before["data"]] == [c["id"] for c in first["data"][1:3]]
    expanded = requests.get(
        sandbox.url + f"/v1/charges/{first['data'][0]['id']}",
        params={"expand[]": "balance_transaction"},
        headers=auth,
        timeout=5,
    ).json()
    assert expanded["balance_transaction"]["object"] == "balance_transaction"
    assert expanded["balance_transaction"]["source"] == first["data"][0]["id"]
    assert first["has_more"] is True and len(first["data"]) == 5
    created = [c["created"] for c in first["data"]]
    assert created == sorted(created, reverse=True)  # newest first, as Stripe lists
