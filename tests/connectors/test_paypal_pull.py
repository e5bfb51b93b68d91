"""Back-fill from PayPal through the sandbox: Transaction Search in 31-day windows and pages,
progress, 429s and expired tokens, the three-hour reporting lag, disputes, and transfers to the
bank as payouts whose items explain them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors import http
from connectors.base import Permanent, PulledRecord
from connectors.sandbox.base import Fault
from connectors.sandbox.paypal import PayPalSandbox
from connectors.sources.paypal import REPORTED_EVENT, PayPalSource
from connectors.sources.paypal.reporting import MAX_WINDOW, PAGE_SIZE
from integrator.canonical import Payout
from integrator.services.integration_log import record_call
from tests.fixtures import paypal as fx

D = Decimal
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def calls() -> Iterator[list[http.CallRecord]]:
    recorded: list[http.CallRecord] = []
    http.set_call_recorder(recorded.append)
    yield recorded
    http.set_call_recorder(record_call)


@pytest.fixture(scope="module")
def busy() -> Iterator[PayPalSandbox]:
    """1,100 captures over the last ten days, and 3 older ones, 70 days ago.

    The app's client id is its own: tokens are cached per (host, client id) for the process, and an
    earlier sandbox on the same port would otherwise hand this one a token it never issued (one 401
    and a repeated first page)."""
    with PayPalSandbox(seed=5, client_id=f"busy-{uuid.uuid4().hex[:8]}") as server:
        for n in range(1100):
            server.make_capture(f"{10 + n % 90}.00", "GBP", "0.59", NOW - timedelta(hours=4, minutes=12 * n))
        for n in range(3):
            server.make_capture("25.00", "GBP", "1.03", NOW - timedelta(days=70, minutes=n))
        yield server


def reporting(server: PayPalSandbox, since: int = 0) -> list[Any]:
    return [r for r in server.requests[since:] if r.path == "/v1/reporting/transactions"]


def reported(records: list[PulledRecord]) -> list[PulledRecord]:
    return [r for r in records if r.event_type == REPORTED_EVENT]


def test_pull_reads_every_page_of_every_window_with_progress(busy: PayPalSandbox) -> None:
    seen = len(busy.requests)
    progress: list[tuple[int, str]] = []
    records = list(
        fx.source(busy).pull(NOW - timedelta(days=10), lambda done, total, msg: progress.append((done, msg)))
    )
    assert len(reported(records)) == 1100
    assert len({r.dedupe_key for r in records}) == len(records)
    pages = reporting(busy, seen)
    assert [int(r.arg("page")) for r in pages] == [1, 2, 3]
    assert {r.arg("page_size") for r in pages} == {str(PAGE_SIZE)}
    assert [done for done, _ in progress[:3]] == [500, 1000, 1100]
    assert "page 3" in progress[2][1]


def test_history_is_read_in_windows_of_at_most_31_days(busy: PayPalSandbox) -> None:
    seen = len(busy.requests)
    records = reported(list(fx.source(busy).pull(NOW - timedelta(days=75))))
    assert len(records) == 1103
    windows = sorted({(r.arg("start_date"), r.arg("end_date")) for r in reporting(busy, seen)})
    assert len(windows) == 3
    parsed = [(datetime.fromisoformat(a.replace("Z", "+00:00")), datetime.fromisoformat(b.replace("Z", "+00:00")))
              for a, b in windows]  # fmt: skip
    assert all(end - start <= MAX_WINDOW for start, end in parsed)
    assert all(parsed[i][1] == parsed[i + 1][0] for i in range(len(parsed) - 1))  # no gap between windows


def test_a_429_is_waited_out_and_an_expired_token_renewed(
    busy: PayPalSandbox, calls: list[http.CallRecord]
) -> None:
    source = fx.source(busy)
    busy.expire_tokens()
    busy.faults.next(Fault("rate_limit", retry_after=0.2))
    tokens_before = len(busy.requests_to("POST", "/v1/oauth2/token"))
    records = reported(list(source.pull(NOW - timedelta(days=2))))
    assert len(records) == len([r for r in busy.book.records if r.at >= NOW - timedelta(days=2)])
    assert next(c.status for c in calls if c.url.endswith("/v1/reporting/transactions")) == 429
    assert len(busy.requests_to("POST", "/v1/oauth2/token")) - tokens_before == 1
    busy.expire_tokens()
    source.pull(NOW - timedelta(days=1)).__next__()  # the cached token is refused: renewed once, then fine
    assert len(busy.requests_to("POST", "/v1/oauth2/token")) - tokens_before == 2


def test_paypal_refusals_are_reported_in_its_words(busy: PayPalSandbox) -> None:
    busy.faults.next(Fault("status", status=403))
    with pytest.raises(Permanent) as refused:
        list(fx.source(busy).pull(NOW - timedelta(days=1)))
    assert refused.value.vendor_code == "NOT_AUTHORIZED"
    assert "insufficient permissions" in refused.value.vendor_message
    with pytest.raises(Permanent, match="client credentials"):
        list(fx.source(busy, with_credentials=False).pull(NOW))
    with PayPalSandbox(client_secret="another-secret") as other:
        wrong = PayPalSource(fx.source(busy).config.__class__(
            channel_slug="pp-wrong", currency="GBP", base_url=other.url,
            credentials={"client_id": other.client_id, "client_secret": "not-it"},
        ))  # fmt: skip
        check = wrong.test_connection()
        assert (
            not check.ok
            and "refused the app" in check.message
            and "Client Authentication failed" in check.message
        )
    assert fx.source(busy).test_connection().ok


def test_the_reporting_lag_is_covered_by_the_pull_overlap() -> None:
    """A payment made an hour ago is not reported yet (PayPal: up to three hours late). The next
    scheduled pull starts ``pull_overlap`` before the previous one, so it still finds it."""
    assert PayPalSource.pull_overlap >= timedelta(hours=3)
    assert PayPalSource.scheduled_pull_minutes is not None
    clock = [time.time()]
    with PayPalSandbox(reporting_lag=3 * 3600) as server:
        server.clock = lambda: clock[0]
        first_pull = datetime.fromtimestamp(clock[0], UTC)
        capture = server.make_capture("42.00", "GBP", "1.52", first_pull - timedelta(hours=1))
        assert reported(list(fx.source(server).pull(first_pull - timedelta(hours=6)))) == []
        clock[0] += 6 * 3600  # the next scheduled pull, six hours on
        since = first_pull - PayPalSource.pull_overlap
        (record,) = reported(list(fx.source(server).pull(since)))
        assert record.payload["resource"]["transaction_info"]["transaction_id"] == capture["id"]


def test_disputes_are_pulled_page_by_page(busy: PayPalSandbox) -> None:
    with PayPalSandbox() as server:
        fx.seed(server)
        for n in range(60):
            dispute = fx.load("dispute_won.json")
            dispute["dispute_id"] = f"PP-R-ABC-{10000000 + n}"
            dispute["update_time"] = (NOW - timedelta(hours=n + 1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            server.load("dispute", dispute)
        records = [
            r for r in fx.source(server).pull(NOW - timedelta(days=5)) if r.event_type != REPORTED_EVENT
        ]
        assert len(records) == 60 and len(server.requests_to("GET", "^/v1/customer/disputes$")) == 2
        docs = fx.source(server).parse_event(records[0].event_type, records[0].payload)
        assert [(d.kind, d.external_id, d.status) for d in docs] == [("dispute", fx.WON_CAPTURE_ID, "won")]


def _transfer(server: PayPalSandbox, at: datetime, amount: str | None = None) -> Payout:
    record = server.transfer_to_bank("GBP", at, amount)
    source = fx.source(server)
    (pulled,) = [
        r for r in reported(list(source.pull(at - timedelta(minutes=1))))
        if r.payload["resource"]["transaction_info"]["transaction_id"] == record.transaction_id
    ]  # fmt: skip
    (payout,) = source.parse_event(pulled.event_type, pulled.payload)
    assert isinstance(payout, Payout)
    return payout


def test_a_transfer_to_the_bank_is_explained_by_gross_fee_and_net_of_what_it_carries() -> None:
    """GBP balance, by hand: 45.00-1.61 + 62.50-2.11 + 108.25-3.44 + 200.00-6.10 + 82.63 (the EUR
    capture converted) - 29.13 (the refund, 0.87 of fee given back) = 455.99 to the bank."""
    with PayPalSandbox() as server:
        fx.seed(server)
        payout = _transfer(server, datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    assert (payout.currency, payout.amount, payout.status) == ("GBP", D("455.99"), "paid")
    items = {i.source_id: i for i in payout.items}
    assert (items[fx.CAPTURE_ID].type, items[fx.CAPTURE_ID].amount, items[fx.CAPTURE_ID].fee,
            items[fx.CAPTURE_ID].net) == ("charge", D("108.25"), D("3.44"), D("104.81"))  # fmt: skip
    assert (items[fx.REFUND_ID].type, items[fx.REFUND_ID].amount, items[fx.REFUND_ID].fee,
            items[fx.REFUND_ID].net) == ("refund", D("-30.00"), D("-0.87"), D("-29.13"))  # fmt: skip
    euro = items[fx.EUR_CAPTURE_ID]  # 3.25 EUR fee x 82.63 / 96.75 = 2.7757 -> 2.78 GBP
    assert (euro.type, euro.net, euro.fee, euro.amount) == ("charge", D("82.63"), D("2.78"), D("85.41"))
    assert fx.JPY_ORDER_ID not in items and "9HT77215XJ0457432" not in items  # yen stay in the yen balance
    assert sum((i.net for i in payout.items), D(0)) == payout.amount
    assert payout.fees() == D("1.61") + D("2.11") + D("3.44") + D("6.10") + D("2.78") - D("0.87")
    assert payout.metadata["gateway"] == "paypal"


def test_a_second_transfer_carries_only_what_came_after_the_first_and_what_was_left() -> None:
    with PayPalSandbox() as server:
        fx.seed(server)
        first = _transfer(server, datetime(2026, 11, 23, 6, 0, tzinfo=UTC), amount="400.00")
        assert first.items[-1].type == "balance" and first.items[-1].net == D("-55.99")
        server.make_capture("20.00", "GBP", "0.88", datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
        server.book.fee(
            datetime(2026, 11, 24, 10, 0, tzinfo=UTC), "GBP", D("14.00"), "T0106", fx.LOST_CAPTURE_ID
        )
        second = _transfer(server, datetime(2026, 11, 25, 6, 0, tzinfo=UTC))
    # 55.99 left in PayPal + 20.00 - 0.88 - 14.00 chargeback fee = 61.11
    assert second.amount == D("61.11")
    assert [(i.type, i.amount, i.fee, i.net) for i in second.items] == [
        ("charge", D("20.00"), D("0.88"), D("19.12")),
        ("fee", D("0.00"), D("14.00"), D("-14.00")),
        ("balance", D("55.99"), D("0.00"), D("55.99")),
    ]


def test_invoices_dated_or_paid_since_are_pulled_once_and_completed_from_the_api() -> None:
    with PayPalSandbox() as server:
        fx.seed(server)
        records = [
            r
            for r in fx.source(server).pull(datetime(2026, 11, 15, tzinfo=UTC))
            if r.event_type.startswith("INVOICING")
        ]
        assert [r.dedupe_key for r in records] == [
            f"invoice:{fx.INVOICE_ID}:PAID:2026-11-21T15:02:00Z"
        ]  # found by both searches
        assert len(server.requests_to("POST", "search-invoices")) == 2
        assert "items" not in records[0].payload["resource"]  # search results are abbreviated
        invoice, bank = fx.source(server).parse_event(records[0].event_type, records[0].payload)
        assert (invoice.kind, invoice.total, bank.kind, bank.amount) == (
            "invoice",
            D("334.46"),
            "payment",
            D("134.46"),
        )
        assert server.requests_to("GET", f"/v2/invoicing/invoices/{fx.INVOICE_ID}")
        # An invoice dated before the pull but paid after it is found by its payment date.
        later = [
            r
            for r in fx.source(server).pull(datetime(2026, 11, 21, tzinfo=UTC))
            if r.event_type.startswith("INVOICING")
        ]
        assert len(later) == 1
