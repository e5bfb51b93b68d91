"""WooCommerce back-fill: page/per_page with X-WP-TotalPages, modified_after in GMT, 429 and 5xx,
authentication, progress, and a pulled order that dedupes with its webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors import http
from connectors.base import AuthExpired, SourceConfig
from connectors.sandbox.base import Fault
from connectors.sandbox.woocommerce import WooCommerceSandbox
from connectors.sources.woocommerce import WooCommerceSource, order_revision_key
from tests.fixtures.woocommerce import load, make_source


@pytest.fixture
def store() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def calls() -> Iterator[list[http.CallRecord]]:
    records: list[http.CallRecord] = []
    previous = http.get_call_recorder()
    http.set_call_recorder(records.append)
    try:
        yield records
    finally:
        http.set_call_recorder(previous)


def _orders(store: WooCommerceSandbox, n: int) -> list[int]:
    template = load("order_two_vat_rates_gbp")
    return [store.create_order(template, deliver=False)["id"] for _ in range(n)]


def test_230_orders_come_in_three_pages_oldest_id_first_with_progress(store: WooCommerceSandbox) -> None:
    ids = _orders(store, 230)
    progress: list[tuple[int, int | None, str]] = []
    since = datetime.now(UTC) - timedelta(hours=1)
    records = list(make_source(store, slug="woo-230").pull(since, lambda *p: progress.append(p)))

    assert [r.payload["id"] for r in records] == ids  # every order once, in id order
    assert {r.event_type for r in records} == {"order.updated"}
    assert [(done, total) for done, total, _ in progress] == [(100, 230), (200, 230), (230, 230), (230, 230)]
    assert progress[0][2] == "woocommerce: 100 orders (page 1 of 3)"
    assert progress[-1][2] == "woocommerce: 230 orders in the bin"
    pages = store.requests_to("GET", r"/wp-json/wc/v3/orders$")
    assert [(r.arg("status"), r.arg("page")) for r in pages] == [
        ("any", "1"),
        ("any", "2"),
        ("any", "3"),
        ("trash", "1"),
    ]
    first = pages[0]
    assert (first.arg("per_page"), first.arg("orderby"), first.arg("order")) == ("100", "id", "asc")
    assert (first.arg("status"), first.arg("dates_are_gmt")) == ("any", "true")
    assert first.arg("modified_after") == since.astimezone(UTC).replace(tzinfo=None).isoformat(
        timespec="seconds"
    )
    assert first.header("Authorization").startswith("Basic ")


def test_modified_after_is_gmt_and_leaves_older_orders_out(store: WooCommerceSandbox) -> None:
    for name in ("order_two_vat_rates_gbp", "order_xof_fee", "order_multicurrency_eur"):
        store.add_order(load(name))  # modified 2026-11-20 10:15:09, 11-22 13:45:10 and 11-23 18:20:07 GMT
    # The store's local time is 3 h ahead; the filter must still be read in GMT.
    store.site_utc_offset = timedelta(hours=3)
    since = datetime(2026, 11, 22, 13, 45, 10, tzinfo=UTC)
    records = list(make_source(store).pull(since))
    assert [r.payload["id"] for r in records] == [5401]  # strictly after, as WooCommerce compares


def test_a_429_from_the_host_is_waited_out_and_a_503_retried(store: WooCommerceSandbox) -> None:
    _orders(store, 3)
    slept: list[float] = []
    source = make_source(store, slug="woo-429")
    source._sleep = slept.append
    store.faults.next(Fault("rate_limit", retry_after=0.05), Fault("status", status=503))
    records = list(source.pull(datetime.now(UTC) - timedelta(hours=1)))
    assert len(records) == 3
    assert len(store.requests_to("GET", r"/orders$")) == 4  # 429, 503, the page, then the bin
    assert slept[0] == pytest.approx(0.05)  # the host's Retry-After, honoured before the retry


def test_wrong_keys_are_an_authorisation_error_in_words(store: WooCommerceSandbox) -> None:
    source = WooCommerceSource(
        SourceConfig(
            channel_slug="woo-badkey",
            currency="GBP",
            base_url=store.url,
            credentials={"consumer_key": store.consumer_key, "consumer_secret": "cs_wrong"},
        )
    )
    with pytest.raises(AuthExpired) as caught:
        list(source.pull(datetime(2026, 1, 1, tzinfo=UTC)))
    assert caught.value.vendor_code == "woocommerce_rest_authentication_error"
    check = source.test_connection()
    assert not check.ok and "refused the API keys" in check.message


def test_keys_in_the_query_string_for_hosts_that_strip_authorization(
    store: WooCommerceSandbox, calls: list[http.CallRecord]
) -> None:
    _orders(store, 1)
    source = make_source(store, slug="woo-qs", query_string_auth=True)
    assert len(list(source.pull(datetime.now(UTC) - timedelta(hours=1)))) == 1
    request = store.requests_to("GET", r"/orders$")[0]
    assert request.arg("consumer_key") == store.consumer_key and not request.header("Authorization")
    logged = json.dumps([c.__dict__ for c in calls], default=str)
    assert store.consumer_secret not in logged  # the integration log never keeps the query string


def test_connection_test_reads_the_store_currency(store: WooCommerceSandbox) -> None:
    check = make_source(store).test_connection()
    assert check.ok and check.details["currency"] == "GBP"
    wrong = make_source(store, currency="XOF", slug="woo-xof").test_connection()
    assert not wrong.ok and "currency is GBP" in wrong.message and "books in XOF" in wrong.message


def test_a_pulled_order_is_keyed_and_parsed_exactly_like_its_webhook(store: WooCommerceSandbox) -> None:
    order = store.create_order(load("order_two_vat_rates_gbp"), deliver=False)
    store.refund_order(order["id"], load("refund_shipping_only_gbp"), deliver=False)
    (record,) = make_source(store).pull(datetime.now(UTC) - timedelta(hours=1))
    webhook_body = json.loads(json.dumps(store.orders[order["id"]]))
    assert record.dedupe_key == order_revision_key(webhook_body)
    from_pull = make_source(store).parse_event(record.event_type, record.payload)
    from_hook = make_source(store).parse_event("order.updated", webhook_body)
    assert [(d.kind, d.external_id) for d in from_pull] == [(d.kind, d.external_id) for d in from_hook]
    assert from_pull == from_hook


def test_a_paid_order_binned_while_the_hooks_were_down_is_pulled_and_voided(
    store: WooCommerceSandbox,
) -> None:
    kept, binned = _orders(store, 2)
    store.delete_order(binned, deliver=False)
    records = list(make_source(store).pull(datetime.now(UTC) - timedelta(hours=1)))
    assert [(r.payload["id"], r.payload["status"]) for r in records] == [
        (kept, "processing"),
        (binned, "trash"),
    ]
    (voided,) = make_source(store).parse_event(records[1].event_type, records[1].payload)
    assert voided.status == "voided"  # type: ignore[union-attr]


def test_the_source_asks_the_scheduler_for_completeness_pulls() -> None:
    assert WooCommerceSource.scheduled_pull_minutes == 15
    assert "pull" in WooCommerceSource.capabilities
    assert {f.name for f in WooCommerceSource.setup_fields if f.store == "credentials"} == {
        "consumer_key",
        "consumer_secret",
    }


def test_without_keys_the_connection_test_says_what_to_enter() -> None:
    check = make_source().test_connection()
    assert not check.ok and "consumer key and secret" in check.message
