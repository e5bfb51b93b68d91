"""Issue 5 under faults and at volume, through the outbox: exactly once, within rate limits.

* 500 postings to the QuickBooks sandbox while it answers 20 % 500s, 10 % 429s and drops 5 % of
  the connections after committing: 0 duplicates, 0 lost, no request inside a Retry-After window.
* Per-transaction mode with batching: at most one call per 25 sales on average, 0 rate-limit errors.
* Daily-summary mode: at most one document per channel-day and currency.
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import pytest
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.quickbooks import QuickBooksSandbox
from integrator.choices import PostingMode, PostingState, RuleKind
from integrator.models import Channel, LedgerAccount, LedgerConnection, MappingSet, Posting, TaxCode
from integrator.services.channels import create_channel
from integrator.services.closing import close_past_days
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.conftest import signed_headers
from tests.integrator.test_ledgers_e2e import _qbo_connection

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
FAST_RETRIES = {
    "POSTING_BACKOFF_BASE_SECONDS": 0.05,
    "POSTING_BACKOFF_CAP_SECONDS": 0.5,
    "POSTING_MAX_ATTEMPTS": 30,
    "CIRCUIT_OPEN_SECONDS": 0.5,
}


def _till(conn: LedgerConnection, mode: str = PostingMode.PER_TRANSACTION, slug: str = "till") -> Channel:
    channel = create_channel(platform="generic", name=slug, slug=slug, currency="GBP", ledger_connection=conn,
                             webhook_secrets=["s3cret"], posting_mode=mode, timezone="UTC")  # fmt: skip
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=conn)}
    tax = TaxCode.objects.get(connection=conn, code="VAT 20%")
    rules = [
        {"kind": RuleKind.REVENUE, "match_field": "default", "match_value": "", "account": a["4000"], "item_ref": "1"},
        {"kind": RuleKind.TAX, "match_field": "default", "match_value": "", "account": a["2200"], "tax_code": tax},
        {"kind": RuleKind.CLEARING, "match_field": "default", "match_value": "", "account": a["1210"]},
        {"kind": RuleKind.ROUNDING, "match_field": "default", "match_value": "", "account": a["4900"], "item_ref": "3"},
    ]  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=conn, discount_mode="net")
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=rules))
    return channel


def _deliver(client: Any, slug: str, n: int, days: int = 1) -> None:
    for i in range(n):
        day = 1 + i % days
        data = {"id": f"{slug}-{i}", "number": f"{slug}-{i}", "occurred_at": f"2026-10-{day:02d}T12:00:00+00:00",
                "currency": "GBP", "total": "12.00", "tenders": [{"method": "card", "amount": "12.00"}],
                "lines": [{"sku": "KENTE", "name": "Kente", "quantity": 1, "unit_price": "10.00",
                           "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}]}]}  # fmt: skip
        body = json.dumps(
            {"id": f"e-{slug}-{i}", "type": "sale.completed", "created_at": data["occurred_at"], "data": data}
        ).encode()
        headers = signed_headers(body, secret="s3cret")
        assert (
            client.post(f"/hooks/{slug}/", data=body, content_type="application/json", **headers).status_code
            == 202
        )


def _drain(limit_seconds: float = 240) -> None:
    deadline = time.time() + limit_seconds
    while time.time() < deadline:
        run_outbox(limit=1000)
        open_ = Posting.objects.filter(
            state__in=[PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN]
        )
        if not open_.exists():
            return
        time.sleep(0.1)
    raise AssertionError("postings did not settle in time")


@override_settings(**FAST_RETRIES)
def test_500_postings_under_faults_exactly_once_and_never_inside_retry_after(client: Any) -> None:
    with QuickBooksSandbox(home_currency="GBP", retry_after=1.0, seed=7) as qbo:
        conn = _qbo_connection(qbo)
        _till(conn)
        _deliver(client, "till", 500)
        process_received_events()
        assert Posting.objects.count() == 500
        qbo.faults.rates(
            (0.20, Fault("status", status=500)),
            (0.10, Fault("rate_limit", retry_after=1.0)),
            (0.05, Fault("drop_after_commit")),
            only_paths=r"^/v3/company/[^/]+/(batch|salesreceipt)",
            seed=11,
        )
        _drain()
        receipts = qbo.documents("SalesReceipt")
        inside = qbo.requests_inside_retry_after()
    numbers = [r["DocNumber"] for r in receipts]
    assert len(receipts) == 500, f"{len(receipts)} documents for 500 postings"
    assert len(set(numbers)) == 500  # 0 duplicates
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 500  # 0 lost
    assert inside == []  # no request inside a Retry-After window
    assert max(Posting.objects.values_list("attempts", flat=True)) <= FAST_RETRIES["POSTING_MAX_ATTEMPTS"]


def test_per_transaction_batching_costs_at_most_one_call_per_25_sales(client: Any) -> None:
    with QuickBooksSandbox(home_currency="GBP") as qbo:
        conn = _qbo_connection(qbo)
        _till(conn)
        _deliver(client, "till", 600)
        process_received_events()
        before = len(qbo.requests_to("POST", r"^/v3/company/"))
        _drain()
        calls = len(qbo.requests_to("POST", r"^/v3/company/")) - before
        receipts = qbo.documents("SalesReceipt")
        throttled = [r for r in qbo.requests if r.path.startswith("/v3/")]
    assert len(receipts) == 600
    assert calls <= 600 / 25, f"{calls} calls for 600 sales"
    assert Posting.objects.filter(error_class="RateLimited").count() == 0
    assert throttled  # the calls did reach the sandbox


def test_daily_summary_costs_one_document_per_channel_day_and_currency(client: Any) -> None:
    with QuickBooksSandbox(home_currency="GBP") as qbo:
        conn = _qbo_connection(qbo)
        _till(conn, PostingMode.DAILY_SUMMARY, slug="popup")
        _deliver(client, "popup", 1000, days=10)
        process_received_events()
        close_past_days()
        _drain()
        receipts = qbo.documents("SalesReceipt")
        journals = qbo.documents("JournalEntry")
    # 1,000 sales over 10 days, one currency: 10 documents (a summary is a sales receipt with its tax)
    assert len(receipts) == 10 and not journals
    assert Posting.objects.count() == 10
