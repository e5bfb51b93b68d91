"""X-Series back-fill: the API 2.0 version cursor, finding where to start, 429s, errors, and the
connection test; a pulled sale and its webhook share one dedupe key."""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import AuthExpired, Permanent, Retryable
from connectors.sandbox.base import Fault
from connectors.sandbox.lightspeed_x import LightspeedXSandbox, XSeriesStore, stamp
from connectors.sources.lightspeed_x import LightspeedXSource
from connectors.sources.lightspeed_x.api import rate_limit
from tests.fixtures.lightspeed_x import captured_calls, load, source_for, store

START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[Any]]:
    with captured_calls() as records:
        yield records


def _fill(shop: XSeriesStore, count: int, *, step: timedelta = timedelta(minutes=7)) -> list[dict[str, Any]]:
    """``count`` copies of the XOF fixture sale, each a new sale with the next version, one every ``step``."""
    template = load("sale_xof.json")
    made = []
    for i in range(count):
        sale = copy.deepcopy(template)
        moment = stamp(START + step * i)
        sale.update(id=str(uuid.uuid4()), version=shop.next_version(), sale_date=moment, created_at=moment,
                    updated_at=moment, invoice_number=f"CA{1000 + i}")  # fmt: skip
        shop.add_sale(sale)
        made.append(sale)
    return made


@pytest.fixture
def shop() -> Iterator[LightspeedXSandbox]:
    with LightspeedXSandbox(store=store("xof")) as sandbox:
        sandbox.store.sales.clear()
        yield sandbox


def test_the_version_cursor_reads_every_sale_once_in_pages(shop: LightspeedXSandbox) -> None:
    made = _fill(shop.store, 450)
    progress: list[tuple[int, int | None, str]] = []
    source = source_for(shop, "xof")
    records = list(source.pull(START - timedelta(days=1), lambda *p: progress.append(p)))
    assert [r.payload["id"] for r in records] == [s["id"] for s in made]  # all, once, in version order
    assert [r.dedupe_key for r in records][:1] == [f"sale:{made[0]['id']}:v{made[0]['version']}"]
    assert {r.event_type for r in records} == {"sale.update"}
    pages = [r for r in shop.requests if r.path == "/api/2.0/sales" and r.arg("page_size") == "200"]
    assert [int(r.arg("after")) for r in pages] == [
        0, made[199]["version"], made[399]["version"], made[449]["version"]
    ]  # fmt: skip
    assert [p[0] for p in progress] == [200, 400, 450]
    assert all(total is None and "sales read" in msg for _, total, msg in progress)


def test_a_pull_since_a_date_starts_at_the_first_sale_changed_since(shop: LightspeedXSandbox) -> None:
    made = _fill(shop.store, 1000)
    since = START + timedelta(minutes=7 * 613) - timedelta(seconds=1)  # just before sale 613
    records = list(source_for(shop, "xof").pull(since))
    assert [r.payload["id"] for r in records] == [s["id"] for s in made[613:]]
    probes = [r for r in shop.requests if r.path == "/api/2.0/sales" and r.arg("page_size") == "1"]
    # Galloping then bisecting over 1,000 versions: about 2 x log2(1000) probes, not 1,000 sales.
    assert len(probes) <= 2 * math.ceil(math.log2(1000)) + 2


def test_a_pull_since_before_the_first_sale_starts_at_zero(shop: LightspeedXSandbox) -> None:
    made = _fill(shop.store, 5)
    records = list(source_for(shop, "xof").pull(START - timedelta(days=30)))
    assert len(records) == 5 and records[0].payload["id"] == made[0]["id"]
    assert list(source_for(shop, "xof").pull(START + timedelta(days=30))) == []


def test_a_pulled_sale_parses_like_its_webhook_and_shares_its_key(shop: LightspeedXSandbox) -> None:
    import json

    from connectors.sources.lightspeed_x import _form

    sale = load("sale_xof.json")
    shop.store.add_sale(sale)
    source = source_for(shop, "xof")
    [record] = list(source.pull(START))
    body = shop.webhook_body(sale)
    from connectors.base import WebhookRequest

    envelope = source.identify_webhook(
        WebhookRequest(body=body, headers={}, url="http://x/", received_at=datetime.now(UTC))
    )
    assert record.dedupe_key == envelope.dedupe_key
    stored_pull = json.dumps(record.payload, sort_keys=True, default=str)  # as the inbox stores it
    from_pull = source.parse_event(record.event_type, source.decode_payload(stored_pull, {}))
    from_hook = source.parse_event(envelope.event_type, source.decode_payload(body.decode(), {}))
    assert from_pull == from_hook
    assert _form(body)["type"] == "sale.update"


@pytest.mark.parametrize(("fmt", "retry_after"), [("seconds", 0.3), ("http-date", 1)])
def test_429_with_retry_after_is_waited_out_and_the_pull_completes(
    shop: LightspeedXSandbox, fmt: str, retry_after: float
) -> None:
    made = _fill(shop.store, 30)
    # One request per window: every other request is refused until the window moves on.
    shop.budget, shop.retry_after, shop.retry_after_format = 1, retry_after, fmt
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        shop.refill()  # the vendor's window moves on while we wait

    config = source_for(shop, "xof").config
    source = LightspeedXSource(config, sleep=sleep)
    records = list(source.pull(START - timedelta(days=1)))
    assert [r.payload["id"] for r in records] == [s["id"] for s in made]
    assert shop.rate_limited == 2  # probe ok, page 1 refused then ok, the empty last page refused then ok
    assert len(waits) == 2 and all(0 <= w <= retry_after for w in waits)
    sent = [r for r in shop.requests if r.path == "/api/2.0/sales"]
    for refused, retried in zip(sent[1::2], sent[2::2], strict=False):
        # Nothing inside the Retry-After window (an HTTP date only has whole seconds).
        assert retried.received_at - refused.received_at >= (retry_after - 0.05 if fmt == "seconds" else 0)


def test_server_errors_are_retried_then_given_up(shop: LightspeedXSandbox) -> None:
    _fill(shop.store, 3)
    shop.faults.next(Fault("status", status=503))
    assert len(list(source_for(shop, "xof").pull(START - timedelta(days=1)))) == 3
    shop.faults.next(*[Fault("status", status=500)] * 5)
    with pytest.raises(Retryable, match="server error 500"):
        list(source_for(shop, "xof").pull(START - timedelta(days=1)))


def test_vendor_errors_are_classified_with_the_vendors_words(shop: LightspeedXSandbox) -> None:
    source = source_for(shop, "xof")
    shop.faults.next(Fault("status", status=403))
    with pytest.raises(Permanent) as refused:
        source.api.get("retailer")
    assert refused.value.vendor_message == "injected failure"
    wrong = LightspeedXSource(
        source.config.__class__(**{**source.config.__dict__, "credentials": {"access_token": "nope"}})
    )
    with pytest.raises(AuthExpired) as expired:
        wrong.api.get("retailer")
    assert expired.value.vendor_message == "Access token is not valid"


def test_rate_limit_follows_the_register_count() -> None:
    # (300 x registers + 50) per 5 minutes, a fifth of it per minute.
    assert rate_limit(1).per_minute == 70
    assert rate_limit(3).per_minute == 190


def test_test_connection_names_the_store_and_checks_its_currency(shop: LightspeedXSandbox) -> None:
    check = source_for(shop, "xof").test_connection()
    assert check.ok, check.message
    assert check.message == "Connected to Kente & Clay Dakar (XOF), 1 register(s); prices include tax."
    assert check.details["register_names"] == {r: "Caisse 1" for r in shop.store.registers}
    source = source_for(shop, "xof")
    wrong_currency = LightspeedXSource(
        source.config.__class__(**{**source.config.__dict__, "currency": "EUR"})
    )
    mismatch = wrong_currency.test_connection()
    assert not mismatch.ok and "works in XOF" in mismatch.message
    shop.access_token = "rotated"  # the retailer revoked the token the channel holds
    refused = source.test_connection()
    assert not refused.ok and refused.message == "X-Series refused: Access token is not valid"


def test_payments_summary_over_the_api(shop: LightspeedXSandbox) -> None:
    source = source_for(shop, "xof")
    register = next(iter(shop.store.registers))
    shop.store.open_register(register, at=START)
    sale = copy.deepcopy(load("sale_xof.json"))
    sale.update(sale_date=stamp(START + timedelta(hours=1)), register_id=register)
    shop.store.add_sale(sale)
    assert source.payments_summary(register) == {"cash": Decimal(11500), "orange_money": Decimal(10000)}
