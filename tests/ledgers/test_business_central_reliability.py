"""Business Central under faults, through the outbox: 500 sales while the sandbox answers 20 %
500s, 10 % 429s and drops 5 % of answers after committing: 0 duplicates, 0 lost, no request inside
a Retry-After window. A posting date outside the allowed range is held before any request."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.business_central import BusinessCentralSandbox
from integrator.choices import PostingState
from integrator.models import LedgerConnection, Posting
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.ledgers.demo_week import demo_chart
from tests.ledgers.reliability import FAST_RETRIES, deliver_sales, drain, till_on

# Not transactional: postings wait for the outbox (on_commit never fires), so they go out in batches.
pytestmark = pytest.mark.django_db


def _connection(bc: BusinessCentralSandbox, **settings: Any) -> LedgerConnection:
    bc.seed_chart(*demo_chart())
    return LedgerConnection.objects.create(
        platform="business_central", name="Business Central (sandbox)", functional_currency="GBP", base_url=bc.url,
        credentials=bc.credentials(), settings={**bc.ledger_settings(), **settings},
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.soak
@override_settings(**FAST_RETRIES)
def test_500_postings_under_faults_exactly_once_and_never_inside_retry_after(client: Any) -> None:
    with BusinessCentralSandbox(retry_after=1.0, seed=7) as bc:
        conn = _connection(bc)
        till_on(conn)
        deliver_sales(client, "till", 500)
        process_received_events()
        assert Posting.objects.count() == 500
        bc.faults.rates(
            (0.20, Fault("status", status=500)),
            (0.10, Fault("rate_limit", retry_after=1.0)),
            (0.05, Fault("drop_after_commit")),
            only_paths=r"/api/v2\.0/(\$batch|companies\([^)]*\)/(salesInvoices|customerPayment|journals))",
            seed=11,
        )
        drain()
        invoices = [d for d in bc.company.documents["salesInvoices"] if d["status"] != "Canceled"]
        payments = list(bc.company.payments)
        inside = bc.requests_inside_retry_after()
        batches = len(bc.requests_to("POST", r"/\$batch$"))
    unposted = [f"{p.entry.reference}: {p.state} {p.error_class} {p.last_error}" for p in
                Posting.objects.exclude(state=PostingState.POSTED).select_related("entry")]  # fmt: skip
    unpaid = [(d["externalDocumentNumber"], d.get("remainingAmount"), [(p["externalDocumentNumber"], p["amount"], p["appliesToInvoiceId"] == d["id"])
               for p in payments if p["externalDocumentNumber"].startswith(d["externalDocumentNumber"] + "/")]) for d in invoices if d["status"] != "Paid"]  # fmt: skip
    assert unposted == [], unposted
    assert unpaid == [], unpaid
    references = [d["externalDocumentNumber"] for d in invoices]
    assert len(invoices) == 500 and len(set(references)) == 500, f"{len(invoices)} invoices"  # 0 duplicates
    assert {d["status"] for d in invoices} == {"Paid"}  # every draft finished and paid
    assert len(payments) == 500 and len({p["externalDocumentNumber"] for p in payments}) == 500
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 500  # 0 lost
    assert inside == []
    print(f"Business Central: 500 postings, {batches} $batch requests, 0 duplicates, 0 lost")


@override_settings(**FAST_RETRIES)
def test_a_date_outside_the_allowed_posting_range_is_held_before_any_request(client: Any) -> None:
    with BusinessCentralSandbox() as bc:
        conn = _connection(bc)
        till_on(conn)
        bc.company.allow_from = date(2026, 11, 1)
        deliver_sales(client, "till", 1, day="2026-10-01")
        process_received_events()
        from integrator.services.posting import ledger_target_for

        assert ledger_target_for(conn).test_connection().ok  # reads the allowed range once
        before = len(bc.requests)
        run_outbox()
        after = len(bc.requests)
        held = Posting.objects.get()
    assert held.state == PostingState.HELD and "allowed posting dates" in held.last_error
    assert after == before  # held with zero requests
    assert bc.company.documents["salesInvoices"] == []


@override_settings(**FAST_RETRIES)
def test_100_sales_through_the_outbox_go_out_in_batch_requests(client: Any) -> None:
    with BusinessCentralSandbox() as bc:
        conn = _connection(bc)
        till_on(conn)
        deliver_sales(client, "till", 100)
        process_received_events()
        before = len(bc.requests)
        drain()
        calls = len(bc.requests) - before
        batches = len(bc.requests_to("POST", r"/\$batch$"))
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 100
    print(f"100 sales: {calls} requests, {batches} of them $batch")
    assert batches >= 5 and calls <= 40, (calls, batches)
