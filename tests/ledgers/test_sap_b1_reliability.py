"""SAP Business One under faults, through the outbox: 500 sales while the Service Layer answers
20 % 500s, 10 % 429s, drops 5 % of answers after committing and ends the session every 97
requests: 0 duplicates, 0 lost, no request inside a Retry-After window. A locked period is held
before any request."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.sap_b1 import SapB1Sandbox
from integrator.choices import PostingState
from integrator.models import LedgerConnection, Posting
from integrator.services.pipeline import process_received_events
from integrator.services.posting import ledger_target_for, run_outbox
from tests.ledgers.demo_week import demo_chart
from tests.ledgers.reliability import FAST_RETRIES, deliver_sales, drain, till_on

# Not transactional: postings wait for the outbox (on_commit never fires), so they go out in batches.
pytestmark = pytest.mark.django_db


def _connection(b1: SapB1Sandbox, version: str = "v1") -> LedgerConnection:
    b1.seed_chart(*demo_chart())
    return LedgerConnection.objects.create(
        platform="sap_b1", name="SAP Business One (sandbox)", functional_currency="GBP", base_url=b1.url,
        credentials=b1.credentials(), settings=b1.ledger_settings(version),
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.soak
@override_settings(**FAST_RETRIES)
def test_500_postings_under_faults_and_expiring_sessions_exactly_once(client: Any) -> None:
    with SapB1Sandbox(session_requests=97, seed=7) as b1:
        conn = _connection(b1)
        till_on(conn)
        deliver_sales(client, "till", 500)
        process_received_events()
        assert Posting.objects.count() == 500
        b1.faults.rates(
            (0.20, Fault("status", status=500)),
            (0.10, Fault("rate_limit", retry_after=1.0)),
            (0.05, Fault("drop_after_commit")),
            only_paths=r"^/b1s/v1/(\$batch|Invoices|IncomingPayments)",
            seed=11,
        )
        drain()
        invoices = list(b1.company.documents["Invoices"])
        payments = list(b1.company.payments["IncomingPayments"])
        inside = b1.requests_inside_retry_after()
        batches = len(b1.requests_to("POST", r"/\$batch$"))
        logins = b1.logins
    assert len(invoices) == 500 and len({d["NumAtCard"] for d in invoices}) == 500  # 0 duplicates
    assert len(payments) == 500 and len({p["Remarks"] for p in payments}) == 500
    assert {d["DocumentStatus"] for d in invoices} == {"bost_Close"}  # every invoice paid
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 500  # 0 lost
    assert inside == []
    assert logins >= 3  # sessions ended (every 97 requests) and were renewed
    print(f"SAP Business One: 500 postings, {batches} $batch requests, {logins} logins, 0 duplicates, 0 lost")


@pytest.mark.parametrize("status", ["ltLocked", "ltUnlockedExceptSales", "ltPeriodClosing"])
@override_settings(**FAST_RETRIES)
def test_a_sale_in_a_closed_period_is_held_before_any_request(client: Any, status: str) -> None:
    with SapB1Sandbox() as b1:
        conn = _connection(b1)
        till_on(conn)
        b1.company.set_period_status(date(2026, 10, 1), status)
        deliver_sales(client, "till", 1, day="2026-10-01")
        process_received_events()
        assert ledger_target_for(conn).test_connection().ok  # reads the periods once
        before = len(b1.requests)
        run_outbox()
        after = len(b1.requests)
        held = Posting.objects.get()
    assert held.state == PostingState.HELD and "posting period" in held.last_error
    assert after == before  # held with zero requests
    assert b1.company.documents["Invoices"] == []


@override_settings(**FAST_RETRIES)
def test_100_sales_through_the_outbox_go_out_in_batch_requests(client: Any) -> None:
    with SapB1Sandbox() as b1:
        conn = _connection(b1, "v2")
        till_on(conn)
        deliver_sales(client, "till", 100)
        process_received_events()
        before = len(b1.requests)
        drain()
        calls = len(b1.requests) - before
        batches = len(b1.requests_to("POST", r"/\$batch$"))
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 100
    print(f"100 sales: {calls} requests, {batches} of them $batch")
    assert batches >= 4 and calls <= 20, (calls, batches)
