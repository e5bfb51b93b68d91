"""Issue 17 for Zoho Books through the outbox: exactly once under faults, and closed periods held.

* 500 postings while the sandbox answers 20 % of the writes with 500, 10 % with 429 and drops 5 %
  of the connections after committing: 0 duplicates, 0 lost, no request inside a 429's pause.
  Zoho takes no idempotency key, so this proves look-up first: an invoice's number is unique in
  Zoho (a re-send is refused and resolved by looking it up), and its payment is sent only after
  the invoice's payments were read.
* A sale dated inside Zoho's transaction lock is held and never reaches Zoho.

The sandbox's own request limits are off in the fault run (as in R5): its limiter would open
pauses that the dropped answers never showed the client.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.zoho_books import ZohoBooksSandbox
from integrator.choices import PostingState
from integrator.models import LedgerConnection, Posting
from integrator.services.period_close import read_ledger_lock_date
from integrator.services.pipeline import process_received_events
from tests.integrator.test_ledger_reliability import FAST_RETRIES, _deliver, _drain, _till
from tests.integrator.test_ledgers_e2e import _import_chart

CHART = [("1000", "Bank current account", "asset"), ("1200", "Accounts receivable", "asset"),
         ("1210", "Card clearing", "asset"), ("2200", "VAT payable", "liability"), ("4000", "Sales", "revenue"),
         ("4900", "Rounding", "revenue")]  # fmt: skip
WRITES = r"^/books/v3/(invoices|customerpayments)"


def _zoho_connection(zoho: ZohoBooksSandbox, **settings: Any) -> LedgerConnection:
    zoho.seed_chart(CHART, [("VAT 20%", "VAT 20%", "0.20")])
    conn = LedgerConnection.objects.create(
        platform="zoho_books", name="Zoho Books (sandbox)", functional_currency="GBP", base_url=zoho.url,
        credentials=zoho.credentials(),
        settings={**zoho.ledger_settings(), "calls_per_minute": 10_000, "daily_limit": 1_000_000, **settings},
    )  # fmt: skip
    _import_chart(conn)
    return conn


@pytest.mark.django_db
def test_a_sale_inside_zohos_transaction_lock_is_held_and_never_sent(client: Any) -> None:
    with ZohoBooksSandbox(base_currency="GBP", pause=1.0) as zoho:
        conn = _zoho_connection(zoho, lock_dates={"sales": "2026-10-31"})
        zoho.set_lock("sales", date(2026, 10, 31))
        assert read_ledger_lock_date(conn) is None  # only sales is locked: held per module by the target
        _till(conn)
        _deliver(client, "till", 1)
        process_received_events()
        _drain(limit_seconds=60)  # the target holds it before any write
        posts = zoho.requests_to("POST", "/books/v3/")
        invoices = zoho.documents("invoices")
    posting = Posting.objects.get()
    assert posting.state == PostingState.HELD and "2026-10-31" in posting.last_error
    assert posts == [] and invoices == []


@pytest.mark.django_db
def test_a_sale_inside_a_lock_read_from_zoho_is_held_with_nothing_on_the_connection(client: Any) -> None:
    with ZohoBooksSandbox(base_currency="GBP", pause=1.0) as zoho:
        conn = _zoho_connection(zoho)
        assert "lock_date" not in conn.settings and "lock_dates" not in conn.settings
        zoho.set_lock("sales", date(2026, 10, 31))
        assert read_ledger_lock_date(conn) is None  # other modules are open: the target holds per module
        _till(conn)
        _deliver(client, "till", 1)
        process_received_events()
        _drain(limit_seconds=60)  # the target holds it before any write
        writes = [r for r in zoho.requests if r.method in ("POST", "PUT", "DELETE") and "/books/" in r.path]
        reads = zoho.requests_to("GET", "/books/v3/transactionlocks$")
    posting = Posting.objects.get()
    assert posting.state == PostingState.HELD
    assert "2026-10-31" in posting.last_error and "sales" in posting.last_error
    assert writes == [] and len(reads) >= 1


@pytest.mark.slow
@pytest.mark.soak
@pytest.mark.django_db
@override_settings(**FAST_RETRIES)
def test_500_postings_under_faults_exactly_once_and_never_inside_a_pause(client: Any) -> None:
    with ZohoBooksSandbox(base_currency="GBP", pause=1.0, per_minute=None, per_day=None, seed=7) as zoho:
        conn = _zoho_connection(zoho)
        _till(conn)
        _deliver(client, "till", 500)
        process_received_events()
        assert Posting.objects.count() == 500
        zoho.faults.rates(
            (0.20, Fault("status", status=500)),
            (0.10, Fault("rate_limit")),
            (0.05, Fault("drop_after_commit")),
            only_paths=WRITES,
            only_method="POST",
            seed=11,
        )
        started = time.monotonic()
        _drain(limit_seconds=1500)
        elapsed = time.monotonic() - started
        invoices = zoho.documents("invoices")
        payments = zoho.documents("customerpayments")
        inside = zoho.requests_inside_pause()
        faulted = len(zoho.pauses)
    numbers = [i["invoice_number"] for i in invoices]
    references = [p["reference_number"] for p in payments]
    assert len(invoices) == 500 and len(set(numbers)) == 500  # 0 duplicates
    assert len(payments) == 500 and len(set(references)) == 500
    assert all(i["status"] == "paid" for i in invoices)
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 500  # 0 lost
    assert inside == []  # no request inside a 429's pause
    assert faulted > 0
    print(f"Zoho Books: 500 postings in {elapsed:.0f} s, {faulted} pauses, 0 duplicates, 0 lost")
