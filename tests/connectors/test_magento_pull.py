"""Polling Magento over HTTP against the sandbox: searchCriteria pages, 429s, the three ways to
authenticate (OAuth 1.0a, bearer, admin token renewal), Magento's errors, the connection test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors.base import AuthExpired, Permanent, RateLimited, Retryable
from connectors.http import CallRecord, get_call_recorder, set_call_recorder
from connectors.sandbox.base import Fault, Request, Response
from connectors.sandbox.magento import DEFAULT_INTEGRATION, MagentoSandbox
from connectors.sources.magento.api import MagentoAPI, NotFound, magento_message
from connectors.sources.magento.auth import AdminTokenCache
from tests.fixtures.magento import load, make_source

D = Decimal
INTEGRATION = {
    "consumer_key": DEFAULT_INTEGRATION.consumer_key,
    "consumer_secret": DEFAULT_INTEGRATION.consumer_secret,
    "access_token": DEFAULT_INTEGRATION.access_token,
    "access_token_secret": DEFAULT_INTEGRATION.access_token_secret,
}
ADMIN = {"admin_username": "api-reader", "admin_password": "sandbox-pass-1"}
SINCE = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    AdminTokenCache.clear()
    yield
    AdminTokenCache.clear()


def _orders(n: int, *, first: int = 1000, day: int = 21) -> list[dict[str, Any]]:
    """``n`` copies of the worked example, one minute apart, as separate orders."""
    orders = []
    for i in range(n):
        order = load("order_discount_two_rates")
        order.update(
            entity_id=first + i, increment_id=f"{first + i:09d}", updated_at=f"2026-11-{day} 10:{i:02d}:00"
        )
        orders.append(order)
    return orders


def _source(store: MagentoSandbox, credentials: dict[str, Any] | None = None, **settings: Any):
    settings.setdefault("requests_per_second", 100)
    return make_source(base_url=store.url, credentials=credentials or INTEGRATION, **settings)


def _order_pages(store: MagentoSandbox) -> list[str]:
    return [r.arg("searchCriteria[currentPage]") for r in store.requests_to("GET", r"/V1/orders$")]


def test_pull_follows_search_criteria_pages_and_stops_on_total_count() -> None:
    old = _orders(1, first=900, day=19)  # updated before the window
    memo = load("creditmemo_partial_line")
    with MagentoSandbox(
        orders=[*old, *_orders(5), load("order_discount_two_rates")], creditmemos=[memo]
    ) as store:
        progress: list[tuple[int, int | None, str]] = []
        records = list(_source(store, page_size=2).pull(SINCE, lambda *a: progress.append(a)))
        first = store.requests_to("GET", r"/V1/orders$")[0]
    # Six orders changed since the 20th (five copies and #101): pages 1-3 of 2, never page 4.
    assert [r.event_type for r in records] == ["order"] * 6 + ["creditmemo"]
    assert _order_pages(store)[:3] == ["1", "2", "3"]
    assert [r.dedupe_key for r in records][:2] == [
        "order:101:2026-11-20 15:40:02",
        "order:1000:2026-11-21 10:00:00",
    ]
    assert first.arg("searchCriteria[filter_groups][0][filters][0][field]") == "updated_at"
    assert first.arg("searchCriteria[filter_groups][0][filters][0][value]") == "2026-11-20 00:00:00"
    assert first.arg("searchCriteria[filter_groups][0][filters][0][condition_type]") == "gteq"
    assert first.arg("searchCriteria[sortOrders][0][field]") == "entity_id"
    assert first.arg("searchCriteria[sortOrders][0][direction]") == "ASC"
    # The memo's order came in one search (entity_id in ...), embedded in the pulled record.
    assert records[-1].payload["order"]["entity_id"] == 101
    assert (
        store.requests_to("GET", r"/V1/orders$")[-1].arg(
            "searchCriteria[filter_groups][0][filters][0][condition_type]"
        )
        == "in"
    )
    assert [(done, total) for done, total, _ in progress] == [(2, 6), (4, 6), (6, 6), (7, 7)]
    assert "orders: 6 of 6" in progress[2][2]


def test_magento_answers_past_the_end_with_the_last_page_again() -> None:
    with MagentoSandbox(orders=_orders(3)) as store:
        api = MagentoAPI(
            base_url=store.url, credentials=INTEGRATION, connection_key="t", requests_per_second=100
        )
        page = api.get("orders", api.criteria([], page_size=2, page=9))
        assert [o["entity_id"] for o in page["items"]] == [1002] and page["total_count"] == 3
        assert page["search_criteria"]["current_page"] == 2


class _NoTotals(MagentoSandbox):
    """A store whose (customised) search result leaves out total_count."""

    def _json(self, status: int, body: Any) -> Response:
        if isinstance(body, dict) and "total_count" in body:
            body = {k: v for k, v in body.items() if k != "total_count"}
        return super()._json(status, body)


def test_a_repeated_last_page_ends_the_pull_even_without_total_count() -> None:
    with _NoTotals(orders=_orders(4)) as store:
        records = list(_source(store, page_size=2).pull(SINCE))
        # Page 3 repeats page 2 (Magento past the end): recognised, not yielded twice.
        assert [r.payload["entity_id"] for r in records if r.event_type == "order"] == [
            1000,
            1001,
            1002,
            1003,
        ]
        assert _order_pages(store) == ["1", "2", "3"]


def test_429_is_retried_after_retry_after_then_gives_up() -> None:
    with MagentoSandbox(orders=_orders(2)) as store:
        store.faults.next(Fault("rate_limit", retry_after=0.05))
        records = list(_source(store).pull(SINCE))
        assert len(records) == 2 and _order_pages(store)[:2] == ["1", "1"]
        store.faults.next(*[Fault("rate_limit", retry_after=0.02)] * 4)
        with pytest.raises(RateLimited):
            list(_source(store).pull(SINCE))


def test_store_ids_filter_and_store_code_path() -> None:
    other = _orders(1, first=2000)[0] | {"store_id": 2}
    with MagentoSandbox(orders=[*_orders(2), other]) as store:
        records = list(_source(store, store_ids="1", store_code="default").pull(SINCE))
        assert [r.payload["entity_id"] for r in records] == [1000, 1001]
        assert store.requests[0].path == "/rest/default/V1/orders"
        assert store.requests[0].arg("searchCriteria[filter_groups][1][filters][0][value]") == "1"


def test_admin_token_is_shared_renewed_on_401_and_before_its_four_hours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(AdminTokenCache, "clock", staticmethod(lambda: now[0]))
    with MagentoSandbox(orders=_orders(2)) as store:
        list(_source(store, ADMIN).pull(SINCE))
        list(_source(store, ADMIN).pull(SINCE))  # another source of the same store: same token
        assert store.token_requests == 1
        store.expire_admin_tokens()  # Magento ended the token early: one 401, one renewal
        assert len(list(_source(store, ADMIN).pull(SINCE))) == 2
        assert store.token_requests == 2
        now[0] += 3 * 3600 + 50 * 60  # 3 h 50: inside the last 10 minutes of a 4-hour token
        list(_source(store, ADMIN).pull(SINCE))
        assert store.token_requests == 3
        request = store.requests_to("POST", r"/V1/integration/admin/token$")[0]
        assert request.json() == {"username": "api-reader", "password": "sandbox-pass-1"}


def test_admin_password_and_token_never_reach_the_integration_log() -> None:
    calls: list[CallRecord] = []
    previous = get_call_recorder()
    set_call_recorder(calls.append)
    try:
        with MagentoSandbox(orders=_orders(1)) as store:
            list(_source(store, ADMIN).pull(SINCE))
            (token,) = store.admin_tokens
    finally:
        set_call_recorder(previous)
    sign_in = [c for c in calls if c.url.endswith("/integration/admin/token")]
    assert len(sign_in) == 1 and sign_in[0].response_body == "[redacted]"
    assert sign_in[0].request_body == {"username": "api-reader", "password": "[redacted]"}
    assert len(calls) == 3 and token not in repr(calls) and "sandbox-pass-1" not in repr(calls)


def test_refused_credentials_say_what_magento_said() -> None:
    with MagentoSandbox(orders=_orders(1)) as store:
        with pytest.raises(AuthExpired) as wrong_password:
            list(_source(store, {"admin_username": "api-reader", "admin_password": "nope"}).pull(SINCE))
        assert "sign-in was incorrect" in wrong_password.value.vendor_message
        with pytest.raises(AuthExpired) as bearer:
            list(_source(store, {"access_token": DEFAULT_INTEGRATION.access_token}).pull(SINCE))
        assert (
            bearer.value.vendor_message
            == "The consumer isn't authorized to access Magento_Sales::actions_view."
        )
        with pytest.raises(AuthExpired):
            list(_source(store, INTEGRATION | {"consumer_secret": "guessed"}).pull(SINCE))
        store.allow_bearer_integration = True
        assert len(list(_source(store, {"access_token": DEFAULT_INTEGRATION.access_token}).pull(SINCE))) == 1
    with MagentoSandbox(two_factor=True) as store, pytest.raises(AuthExpired) as tfa:
        list(_source(store, ADMIN).pull(SINCE))
    assert "2fa" in tfa.value.vendor_message


def test_a_replayed_oauth_request_is_refused() -> None:
    with MagentoSandbox(orders=_orders(1)) as store:
        api = MagentoAPI(
            base_url=store.url, credentials=INTEGRATION, connection_key="t", requests_per_second=100
        )
        api.get("orders/1000")
        signed = store.requests[0]
        replay = requests.get(
            f"{store.url}{signed.path}", headers={"Authorization": signed.header("Authorization")}, timeout=5
        )
        assert replay.status_code == 401 and "isn't authorized" in replay.json()["message"]


def test_magento_errors_are_classified_with_their_parameters_filled_in() -> None:
    with MagentoSandbox(orders=_orders(1)) as store:
        api = MagentoAPI(
            base_url=store.url, credentials=INTEGRATION, connection_key="t", requests_per_second=100
        )
        with pytest.raises(Permanent) as missing:
            api.get("orders")
        assert missing.value.vendor_message == '"searchCriteria" is required. Enter and try again.'
        with pytest.raises(NotFound) as gone:
            api.entity("orders", "4242")
        assert gone.value.vendor_message.startswith("The entity that was requested doesn't exist")
        store.faults.next(Fault("status", status=503))
        with pytest.raises(Retryable):
            api.get("orders/1000")
    assert magento_message(
        {
            "message": 'The "%1" value\'s type is invalid. The "%2" type was expected.',
            "parameters": ["abc", "int"],
        }
    ) == ('The "abc" value\'s type is invalid. The "int" type was expected.')


def test_pulled_invoices_only_for_stores_selling_on_credit() -> None:
    invoice = load("invoice_b2b")
    with MagentoSandbox(orders=[load("order_b2b_company_credit")], invoices=[invoice]) as store:
        plain = [r.event_type for r in _source(store).pull(SINCE)]
        b2b = list(_source(store, b2b_payment_methods="companycredit").pull(SINCE))
    assert plain == ["order"]
    assert [r.event_type for r in b2b] == ["order", "invoice"]
    assert (
        b2b[1].dedupe_key == "invoice:41:2026-11-21 10:00:00" and b2b[1].payload["order"]["entity_id"] == 108
    )


def test_connection_check_in_words() -> None:
    with MagentoSandbox(orders=_orders(3)) as store:
        check = _source(store).test_connection()
        assert (
            check.ok and check.message == "Connected: 1 store view(s), base currency GBP, 3 order(s) visible."
        )
        wrong_currency = make_source(
            currency="EUR", base_url=store.url, credentials=INTEGRATION
        ).test_connection()
        assert (
            not wrong_currency.ok
            and "base currency is GBP but the channel is in EUR" in wrong_currency.message
        )
        refused = _source(store, {"access_token": "nope"}).test_connection()
        assert not refused.ok and "isn't authorized" in refused.message
        bad_key = _source(store, INTEGRATION | {"webhook_public_key": "not a key"}).test_connection()
        assert not bad_key.ok and "webhook public key" in bad_key.message
    assert not make_source().test_connection().ok


def test_pulled_record_parses_like_the_webhook_for_the_same_order() -> None:
    with MagentoSandbox(orders=[load("order_discount_two_rates")]) as store:
        source = _source(store)
        (record,) = list(source.pull(SINCE))
        pulled = source.parse_event(record.event_type, record.payload)
        sent = {"eventName": "sales_order_save_after", "data": {"order": load("order_discount_two_rates")}}
        webhook = source.parse_event("order", sent)
    assert [(d.kind, d.external_id, d.total) for d in pulled] == [
        (d.kind, d.external_id, d.total) for d in webhook
    ]
    assert pulled == webhook


def test_sandbox_search_conditions() -> None:
    def req(query: dict[str, str]) -> Request:
        return Request("GET", "/rest/V1/orders", {k: [v] for k, v in query.items()}, {}, b"")

    crit = MagentoSandbox._criteria(
        req(
            {
                "searchCriteria[filterGroups][0][filters][0][field]": "status",
                "searchCriteria[filterGroups][0][filters][0][value]": "complete",
                "searchCriteria[filterGroups][0][filters][0][conditionType]": "neq",
            }
        )
    )
    assert crit is not None and crit["groups"] == {
        0: {0: {"field": "status", "value": "complete", "condition_type": "neq"}}
    }
    assert MagentoSandbox._criteria(req({"fields": "items[entity_id]"})) is None
