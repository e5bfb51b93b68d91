"""Issue 17 for FreshBooks, through the outbox: exactly once with no idempotency key (look-up
first), within limits, and nothing sent into a locked period.

* 500 postings to the FreshBooks sandbox while it answers 20 % 500s, 10 % 429s and drops 5 % of
  the connections after committing: 0 duplicates, 0 lost, no request inside a Retry-After window.
* A posting dated on or before the connection's lock date is held and never reaches FreshBooks.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.freshbooks import FreshBooksSandbox
from integrator.choices import PostingState
from integrator.models import LedgerConnection, Posting
from integrator.services.chart import refresh_chart
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.integrator.test_ledger_reliability import FAST_RETRIES, _deliver
from tests.integrator.test_sage_ledger_reliability import CHART, _drain, _till, local_oauth  # noqa: F401

pytestmark = pytest.mark.django_db
DOCUMENTS = r"^/accounting/account/[^/]+/(invoices/invoices|payments/payments)$"


def _freshbooks_connection(fb: FreshBooksSandbox, **settings: Any) -> LedgerConnection:
    """A connection to the sandbox account with its chart read in; FreshBooks' payments account is
    the card clearing account, so a till sale needs no adjustment entry."""
    fb.seed_chart([*CHART, ("1000", "Cash", "asset")], [("VAT", "VAT", "0.20")])
    conn = LedgerConnection.objects.create(
        platform="freshbooks", name="FreshBooks (sandbox)", functional_currency="GBP", base_url=fb.url,
        credentials=fb.credentials(),
        settings={**fb.ledger_settings(sales="4000", receivable="1100", payments="1210"), **settings},
    )  # fmt: skip
    admin = get_user_model().objects.create_superuser("fb-admin", password="fb-admin-pass-1")
    refresh_chart(conn, actor=admin)
    return conn


@pytest.mark.slow
@pytest.mark.soak
@override_settings(**FAST_RETRIES)
def test_500_postings_under_faults_exactly_once_and_never_inside_retry_after(client: Any) -> None:
    with FreshBooksSandbox(seed=7) as fb:
        conn = _freshbooks_connection(fb)
        _till(conn, "VAT")
        _deliver(client, "till", 500)
        process_received_events()
        assert Posting.objects.count() == 500
        fb.faults.rates(
            (0.20, Fault("status", status=500)),
            (0.10, Fault("rate_limit", retry_after=1.0)),
            (0.05, Fault("drop_after_commit")),
            only_paths=DOCUMENTS,
            seed=11,
        )
        started = time.time()
        _drain(1500)
        elapsed = time.time() - started
        invoices = fb.documents("invoices")
        payments = fb.documents("payments")
        inside = fb.requests_inside_retry_after()
        calls = sum(1 for r in fb.requests if r.path.startswith("/accounting/"))
    assert len(invoices) == 500 and len({i["invoice_number"] for i in invoices}) == 500  # 0 duplicates
    assert len(payments) == 500 and len({p["note"] for p in payments}) == 500
    assert all(i["outstanding"]["amount"] == 0 for i in invoices)
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 500  # 0 lost
    assert inside == []  # no request inside a Retry-After window
    assert max(Posting.objects.values_list("attempts", flat=True)) <= FAST_RETRIES["POSTING_MAX_ATTEMPTS"]
    print(f"FreshBooks 500 under faults: {len(invoices)} invoices, {len(payments)} payments, {calls} calls, "
          f"{elapsed:.0f} s, {len(inside)} inside Retry-After")  # fmt: skip


def test_a_posting_inside_the_lock_date_is_held_and_never_reaches_freshbooks(client: Any) -> None:
    with FreshBooksSandbox() as fb:
        conn = _freshbooks_connection(fb)
        conn.lock_date = date(2026, 10, 31)
        conn.save()
        _till(conn, "VAT")
        _deliver(client, "till", 3)  # dated 1 October 2026
        process_received_events()
        run_outbox()
        writes = fb.writes()
    postings = list(Posting.objects.all())
    assert len(postings) == 3 and all(p.state == PostingState.HELD for p in postings)
    assert all("closed up to 2026-10-31" in p.last_error for p in postings)
    assert writes == []  # 0 writes reached FreshBooks
