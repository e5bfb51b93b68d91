"""Lightspeed Retail (R-Series): sales to the cent, returns linked by REST, the leaky bucket,
the after-cursor, OAuth refresh with rotating refresh tokens, register counts and withdrawals.

Every read travels over HTTP to the Lightspeed sandbox. The bucket drips on a virtual clock that
only the client's own waits move, so the rate-limit tests are driven by progress, not wall time.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors.base import (
    AuthExpired,
    MalformedPayload,
    SignatureInvalid,
    SourceConfig,
    WebhookRequest,
    sales_source_class,
)
from connectors.sandbox.base import Fault
from connectors.sandbox.lightspeed_r import LightspeedRSandbox, VirtualClock
from connectors.sources.lightspeed_r import LightspeedRSource
from connectors.sources.lightspeed_r.sales import (
    documents_from_sale,
    payment_method,
    register_count_document,
    register_withdraw_document,
)
from integrator.canonical import Refund, Sale
from tests.fixtures import lightspeed_r as fx

D = Decimal


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def shop(clock):
    with LightspeedRSandbox(account_id=fx.ACCOUNT, bucket_size=10, drip_rate=1, clock=clock) as sandbox:
        sandbox.add_register("1", fx.SHOP)
        sandbox.add_register("2", fx.SHOP)
        yield sandbox


def source(
    shop: LightspeedRSandbox,
    clock: VirtualClock,
    saved: list[Any] | None = None,
    slug: str = "",
    **creds: Any,
) -> LightspeedRSource:
    config = SourceConfig(
        channel_slug=slug or f"ls-{shop.port}",
        currency="CAD",
        base_url=shop.url,
        credentials={
            "client_id": "ls-client",
            "client_secret": "ls-secret",
            "refresh_token": shop.refresh_token,
            **creds,
        },
        settings={"account_id": fx.ACCOUNT, "token_url": f"{shop.url}/auth/oauth/token"},
        save_credentials=saved.append if saved is not None else None,
    )
    return LightspeedRSource(config, sleep=clock.sleep, clock=clock)


def test_registry_and_capabilities():
    cls = sales_source_class("lightspeed_r")
    assert cls is LightspeedRSource
    assert cls.capabilities == frozenset({"pull"}) and cls.scheduled_pull_minutes == 15


def test_webhooks_are_refused_there_are_none(shop, clock):
    request = WebhookRequest(body=b"{}", headers={}, url="http://x/hooks/ls/", received_at=datetime.now(UTC))
    with pytest.raises(SignatureInvalid, match="no webhooks"):
        source(shop, clock).verify_webhook(request)


# -- sales to the cent ----------------------------------------------------------------------------


def test_worked_example_discounts_two_taxes_split_tender_and_change():
    (sale,) = documents_from_sale(
        fx.load("sale_discount_two_taxes.json"), currency="CAD", parent_sale=lambda _: ""
    )
    assert isinstance(sale, Sale)
    scarf, shea = sale.lines
    # Scarf: 40.00 less the 10 % line discount (4.00) and its 2.95 share of the sale discount = 33.05;
    # shea: 2 x 12.50 less 2.05 = 22.95. Taxes as Lightspeed computes them, rounded half up:
    # GST 33.05 x 5 % = 1.6525 -> 1.65, PST 33.05 x 7 % = 2.3135 -> 2.31, GST 22.95 x 5 % = 1.1475 -> 1.15.
    assert (scarf.discount, shea.discount, shea.quantity) == (D("6.95"), D("2.05"), D(2))
    assert [(t.title, t.amount) for t in scarf.tax_lines] == [("GST", D("1.65")), ("PST", D("2.31"))]
    assert [(t.title, t.amount) for t in shea.tax_lines] == [("GST", D("1.15"))]
    assert (sale.total, sale.prices_include_tax) == (D("61.11"), False)  # 33.05 + 22.95 + 5.11
    # 40.00 cash tendered with 8.89 change: the till kept 31.11; 30.00 on the card.
    assert [(t.method, t.amount, t.change) for t in sale.tenders] == [
        ("cash", D("31.11"), D("8.89")), ("card", D("30.00"), D("0"))]  # fmt: skip
    assert (sale.location, sale.register, sale.number) == ("1", "1", "220000002041")


@pytest.mark.parametrize("sale_id", ["\ud800", "a\x00b"])
def test_a_reason_quoting_an_unstorable_id_can_itself_be_stored(sale_id: str) -> None:
    """Issue 14 (poison property, fetched sources): a pulled sale whose saleID is a lone
    surrogate (or holds a NUL) and whose timeStamp is not a time was refused with a reason quoting
    the raw id, which the database could not store either: the event stayed unjudged. The id is
    escaped in the reason."""
    sale = fx.load("sale_discount_two_taxes.json")
    sale["saleID"], sale["timeStamp"] = sale_id, [[[]]]
    with pytest.raises(MalformedPayload) as refused:
        documents_from_sale(sale, currency="CAD", parent_sale=lambda _: "")
    reason = str(refused.value)
    reason.encode("utf-8")  # no lone surrogate left
    assert "\x00" not in reason and "timeStamp" in reason
    # Found on PostgreSQL: the payment's id, quoted with an amount past every column.
    sale = fx.load("sale_discount_two_taxes.json")
    payment = sale["SalePayments"]["SalePayment"][0]
    payment["salePaymentID"], payment["amount"] = sale_id, "1" + "0" * 20
    with pytest.raises(MalformedPayload) as refused:
        documents_from_sale(sale, currency="CAD", parent_sale=lambda _: "")
    str(refused.value).encode("utf-8")
    assert "\x00" not in str(refused.value)


def test_a_record_that_is_not_an_object_or_an_infinite_amount_is_malformed(shop, clock) -> None:
    """Issue 14: a stored record that is not a JSON object, or an amount of "Infinity", is a
    MalformedPayload with a reason, not a raw AttributeError or InvalidAmount."""
    with pytest.raises(MalformedPayload, match="not an object"):
        source(shop, clock).parse_event("sale", "not a record")  # type: ignore[arg-type]
    sale = fx.load("sale_discount_two_taxes.json")
    sale["SalePayments"]["SalePayment"][0]["amount"] = "Infinity"
    with pytest.raises(MalformedPayload, match="not a finite number"):
        documents_from_sale(sale, currency="CAD", parent_sale=lambda _: "")


def test_an_infinite_quantity_or_an_unencodable_parent_line_id_is_malformed(shop, clock) -> None:
    """Issue 14: a line quantity of "Infinity" reached money.quantize (raw InvalidAmount); a
    returned line whose parentSaleLineID is a lone surrogate reached urllib's quote (raw
    UnicodeEncodeError). Both are MalformedPayload with a reason."""
    sale = fx.load("sale_discount_two_taxes.json")
    sale["SaleLines"]["SaleLine"][0]["unitQuantity"] = "Infinity"
    with pytest.raises(MalformedPayload, match="not a finite number"):
        documents_from_sale(sale, currency="CAD", parent_sale=lambda _: "")
    returned = fx.load("sale_return_next_day.json")
    returned["SaleLines"]["SaleLine"]["parentSaleLineID"] = "\ud800"
    with pytest.raises(MalformedPayload, match="is not text"):
        source(shop, clock).parse_event("sale", {"sale": returned})


def test_return_on_another_day_is_a_refund_of_the_original_sale():
    (refund,) = documents_from_sale(
        fx.load("sale_return_next_day.json"), currency="CAD", parent_sale={"4102": "2041"}.get
    )
    assert isinstance(refund, Refund)
    assert (refund.sale_external_id, refund.total, refund.register) == ("2041", D("12.05"), "2")
    (line,) = refund.lines  # 11.48 + GST 0.574 -> 0.57
    assert (line.quantity, line.unit_price, line.tax()) == (D(1), D("11.48"), D("0.57"))
    assert [(t.method, t.amount) for t in refund.tenders] == [("card", D("12.05"))]


def test_voided_sale_books_nothing_and_open_sales_are_nothing_yet():
    (void,) = documents_from_sale(fx.load("sale_voided.json"), currency="CAD", parent_sale=lambda _: "")
    assert isinstance(void, Sale) and void.status == "voided"
    open_sale = {**fx.load("sale_voided.json"), "voided": "false"}
    assert documents_from_sale(open_sale, currency="CAD", parent_sale=lambda _: "") == []


def test_zero_decimal_tax_inclusive_shop():
    (sale,) = documents_from_sale(
        fx.load("sale_isk_inclusive.json"), currency="ISK", parent_sale=lambda _: ""
    )
    assert (sale.total, sale.prices_include_tax) == (D("20980"), True)
    assert [ln.tax() for ln in sale.lines] == [D("3095"), D("966")]  # 3094.8387 and 965.8064 rounded
    assert [(t.method, t.amount) for t in sale.tenders] == [("card", D("15000")), ("aur", D("5980"))]


def test_an_exchange_is_a_sale_and_a_refund_netted_through_an_exchange_tender():
    sale = fx.load("sale_discount_two_taxes.json")
    returned = fx.load("sale_return_next_day.json")["SaleLines"]["SaleLine"]
    sale["SaleLines"]["SaleLine"].append(returned)
    sale.update(calcTotal="49.06", change="0")  # 61.11 - 12.05
    sale["SalePayments"]["SalePayment"] = [{**sale["SalePayments"]["SalePayment"][1], "amount": "49.06"}]
    made, back = documents_from_sale(sale, currency="CAD", parent_sale={"4102": "2041"}.get)
    assert (made.total, back.total) == (D("61.11"), D("12.05"))
    assert [(t.method, t.amount) for t in made.tenders] == [("card", D("49.06")), ("exchange", D("12.05"))]
    assert [(t.method, t.amount) for t in back.tenders] == [("exchange", D("12.05"))]


@pytest.mark.parametrize(
    ("ptype", "method"),
    [({"type": "cash", "name": "Cash"}, "cash"), ({"type": "credit card", "name": "Visa"}, "card"),
     ({"type": "debit card", "name": "Interac"}, "card"), ({"type": "user defined", "name": "M-Pesa"}, "mpesa"),
     ({"type": "user defined", "name": "Orange Money"}, "orange_money"), ({"type": "gift card", "name": "Gift"}, "gift_card"),
     ({"type": "credit account", "name": "On account"}, "credit_account")],
)  # fmt: skip
def test_payment_method_names(ptype, method):
    assert payment_method(ptype) == method


def test_register_count_is_a_cash_count_with_over_short():
    count = {
        "registerCountID": "77", "registerID": "1", "openTime": "2026-11-26T14:00:00+00:00",
        "closeTime": "2026-11-26T23:00:00+00:00",
        "RegisterCountAmounts": {"RegisterCountAmount": [
            {"calculated": "412.5", "actual": "410", "paymentTypeID": "1", "PaymentType": {"type": "cash", "name": "Cash"}},
            {"calculated": "980.2", "actual": "980.2", "paymentTypeID": "4", "PaymentType": {"type": "credit card", "name": "Card"}},
        ]},
    }  # fmt: skip
    fx.schema_validator("register_count.schema.json").validate(count)
    doc = register_count_document(count, currency="CAD", location="1")
    assert doc is not None
    assert (doc.expected, doc.counted, doc.over_short, doc.register) == (
        D("412.50"),
        D("410.00"),
        D("-2.50"),
        "1",
    )
    withdraw = {
        "registerWithdrawID": "5",
        "amount": "200",
        "createTime": "2026-11-26T18:00:00+00:00",
        "registerID": "1",
    }
    fx.schema_validator("register_withdraw.schema.json").validate(withdraw)
    out = register_withdraw_document(withdraw, currency="CAD", location="1")
    assert out is not None and out.float_change == D("-200.00")  # cash taken out of the drawer


# -- pulling over HTTP -----------------------------------------------------------------------------


def test_pull_follows_the_after_cursor_and_stays_inside_the_bucket(shop, clock):
    for sale in fx.sale_day(date(2026, 11, 26), count=230):
        shop.add_sale(sale)
    shop.bucket_size = 4  # six reads (registers, three pages, counts, withdrawals) cannot all fit
    src = source(shop, clock)
    progress: list[str] = []
    records = list(src.pull(datetime(2026, 11, 26, tzinfo=UTC), lambda d, t, m: progress.append(m)))
    assert len([r for r in records if r.event_type == "sale"]) == 230
    pages = shop.requests_to("GET", r"/Sale\.json$")
    assert [bool(r.arg("after")) for r in pages] == [False, True, True]  # 100 + 100 + 30
    assert json.loads(pages[0].arg("load_relations")) == [
        "SaleLines",
        "SaleLines.Item",
        "SalePayments",
        "SalePayments.PaymentType",
        "TaxCategory",
    ]
    assert pages[0].arg("timeStamp") == ">,2026-11-26T00:00:00+00:00"
    page = requests.get(pages[1].header("Host") and f"{shop.url}{pages[1].path}", params={k: v[0] for k, v in pages[1].query.items()},
                        headers={"Authorization": f"Bearer {shop.access_token}"}, timeout=5)  # fmt: skip
    fx.schema_validator("page.schema.json").validate(page.json())
    assert page.headers["X-LS-API-Bucket-Level"].endswith("/4") and page.headers["X-LS-API-Drip-Rate"] == "1"
    assert shop.overflows == 0  # the client waited before the bucket could overflow ...
    assert src.api.bucket.waited > 0  # ... because a bucket of 10 cannot take every call at once
    assert "sales" in progress[0]


def test_a_429_is_waited_out_for_its_retry_after(shop, clock):
    shop.add_sale(fx.stored(fx.load("sale_discount_two_taxes.json")))
    shop.faults.next(Fault("rate_limit", retry_after=0.05))
    src = source(shop, clock)
    before = clock()
    records = [r for r in src.pull(datetime(2026, 11, 1, tzinfo=UTC)) if r.event_type == "sale"]
    assert len(records) == 1 and src.api.rate_limited == 1
    assert clock() - before == pytest.approx(0.05)  # the wait went through the client's sleep


def test_pulled_sale_is_served_in_the_recorded_shape_and_dedupes_on_id_and_timestamp(shop, clock):
    shop.add_sale(fx.stored(fx.load("sale_discount_two_taxes.json")))
    shop.add_sale(fx.stored(fx.load("sale_return_next_day.json")))
    src = source(shop, clock)
    records = [r for r in src.pull(datetime(2026, 11, 1, tzinfo=UTC)) if r.event_type == "sale"]
    validator = fx.schema_validator("sale.schema.json")
    for record in records:
        validator.validate(record.payload["sale"])
    assert [r.dedupe_key for r in records] == [
        "sale:2041:2026-11-26T15:02:11+00:00",
        "sale:2051:2026-11-27T10:15:42+00:00",
    ]
    refund = src.parse_event("sale", records[1].payload)[0]
    assert isinstance(refund, Refund) and refund.sale_external_id == "2041"  # found through GET SaleLine/4102
    assert shop.requests_to("GET", r"/SaleLine/4102\.json$")


def test_a_day_with_no_sales_answers_an_empty_page(shop, clock):
    body = requests.get(
        f"{shop.url}/API/V3/Account/{fx.ACCOUNT}/Sale.json", headers={"Authorization": "Bearer x"}, timeout=5
    ).json()
    assert body["httpCode"] == "401"  # Lightspeed's error shape
    assert list(source(shop, clock).pull(datetime(2026, 11, 1, tzinfo=UTC))) == []
    page = shop.requests_to("GET", r"/Sale\.json$")[-1]
    assert page.header("Authorization").startswith("Bearer ls-access-")


def test_register_counts_and_withdrawals_are_pulled_with_their_shop(shop, clock):
    for sale in fx.sale_day(date(2026, 11, 26), count=6):
        shop.add_sale(sale)
    shop.close_register("1", "501", open_time="2026-11-26T14:00:00+00:00", close_time="2026-11-26T23:00:00+00:00",
                        opening_float="150", counted_cash="147.5")  # fmt: skip
    shop.add_withdraw(
        {
            "registerWithdrawID": "9",
            "amount": "100",
            "createTime": "2026-11-26T20:00:00+00:00",
            "registerID": "2",
            "notes": "to safe",
        }
    )
    src = source(shop, clock)
    records = list(src.pull(datetime(2026, 11, 26, tzinfo=UTC)))
    counts = [
        d
        for r in records
        if r.event_type == "register_count"
        for d in src.parse_event(r.event_type, r.payload)
    ]
    withdraws = [
        d
        for r in records
        if r.event_type == "register_withdraw"
        for d in src.parse_event(r.event_type, r.payload)
    ]
    (count,) = counts
    assert (count.location, count.register, count.counted) == ("1", "1", D("147.50"))
    assert count.expected > D("150")  # the float plus the cash sales of register 1
    assert [(w.float_change, w.register, w.location) for w in withdraws] == [(D("-100.00"), "2", "1")]


# -- OAuth -----------------------------------------------------------------------------------------


def test_the_access_token_is_refreshed_and_the_rotated_refresh_token_saved_before_use(shop, clock):
    saved: list[Any] = []
    first = shop.refresh_token
    src = source(shop, clock, saved)
    list(src.pull(datetime(2026, 11, 1, tzinfo=UTC)))
    assert shop.token_requests == 1 and saved
    assert saved[-1]["refresh_token"] == shop.refresh_token != first
    assert saved[-1]["access_token"] == shop.access_token


def test_a_refused_access_token_is_refreshed_once(shop, clock):
    saved: list[Any] = []
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    src = source(shop, clock, saved, access_token="stale", expires_at=expires)
    assert list(src.pull(datetime(2026, 11, 1, tzinfo=UTC))) == []
    assert shop.token_requests == 1  # the 401 on "stale" led to exactly one refresh


def test_a_spent_refresh_token_means_connect_again(shop, clock):
    src = source(shop, clock, refresh_token="ls-refresh-spent")
    with pytest.raises(AuthExpired, match="re-authorised"):
        list(src.pull(datetime(2026, 11, 1, tzinfo=UTC)))


def test_test_connection_names_the_account(shop, clock):
    check = source(shop, clock).test_connection()
    assert check.ok and "Kente & Clay Toronto" in check.message
    bad = source(shop, clock, slug="another-channel", refresh_token="nope").test_connection()
    assert not bad.ok
