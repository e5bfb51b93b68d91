"""Issue 17 for Sage, through the outbox: exactly once under faults, within limits, and nothing
written into a locked period.

* 500 postings to the Sage sandbox while it answers 20 % 500s, 10 % 429s and drops 5 % of the
  connections after committing: 0 duplicates, 0 lost, no request inside a Retry-After window.
* A posting dated on or before Sage's year-end lockdown date is held and never reaches Sage.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from connectors import auth
from connectors.sandbox.base import Fault
from connectors.sandbox.sage import SageSandbox
from integrator.choices import PostingState, RuleKind
from integrator.models import Channel, LedgerAccount, LedgerConnection, MappingSet, Posting, TaxCode
from integrator.services.channels import create_channel
from integrator.services.chart import refresh_chart
from integrator.services.mappings import activate_version, create_version
from integrator.services.period_close import read_ledger_lock_date
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.integrator.test_ledger_reliability import FAST_RETRIES, _deliver

pytestmark = pytest.mark.django_db
CHART = [("1200", "Bank current account", "asset"), ("1210", "Card clearing", "asset"),
         ("1100", "Accounts receivable", "asset"), ("2200", "VAT payable", "liability"),
         ("4000", "Sales", "revenue"), ("4900", "Rounding", "expense")]  # fmt: skip
WRITES = r"^/v3\.1/(sales_invoices|contact_payments)$"


@pytest.fixture(autouse=True)
def local_oauth() -> Any:
    """Token refreshes stay in the test's process."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


def _sage_connection(sage: SageSandbox) -> LedgerConnection:
    """A connection to the sandbox business with its chart read in."""
    sage.seed_chart(CHART, [("GB_STANDARD", "Standard 20.00%", "0.20")])
    conn = LedgerConnection.objects.create(
        platform="sage", name="Sage (sandbox)", functional_currency="GBP", base_url=sage.api_url,
        credentials=sage.credentials(), settings={**sage.ledger_settings(), "calls_per_minute": 100_000},
    )  # fmt: skip
    admin = get_user_model().objects.create_superuser("sage-admin", password="sage-admin-pass-1")
    refresh_chart(conn, actor=admin)
    return conn


def _till(conn: LedgerConnection, tax_code: str = "GB_STANDARD") -> Channel:
    """A till channel whose sales go to 4000 with VAT on 2200, paid into clearing 1210."""
    channel = create_channel(platform="generic", name="till", slug="till", currency="GBP", ledger_connection=conn,
                             webhook_secrets=["s3cret"], timezone="UTC")  # fmt: skip
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=conn)}
    tax = TaxCode.objects.get(connection=conn, code=tax_code)
    rules = [
        {"kind": RuleKind.REVENUE, "match_field": "default", "match_value": "", "account": a["4000"]},
        {"kind": RuleKind.TAX, "match_field": "default", "match_value": "", "account": a["2200"], "tax_code": tax},
        {"kind": RuleKind.CLEARING, "match_field": "default", "match_value": "", "account": a["1210"]},
        {"kind": RuleKind.ROUNDING, "match_field": "default", "match_value": "", "account": a["4900"]},
    ]  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=conn, discount_mode="net")
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=rules))
    return channel


def _drain(limit_seconds: float) -> None:
    deadline = time.time() + limit_seconds
    while time.time() < deadline:
        run_outbox(limit=1000)
        if not Posting.objects.filter(
            state__in=[PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN]
        ).exists():
            return
        time.sleep(0.1)
    raise AssertionError("postings did not settle in time")


@pytest.mark.slow
@pytest.mark.soak
@override_settings(**FAST_RETRIES)
def test_500_postings_under_faults_exactly_once_and_never_inside_retry_after(client: Any) -> None:
    with SageSandbox(per_minute=None, seed=7) as sage:
        conn = _sage_connection(sage)
        _till(conn)
        _deliver(client, "till", 500)
        process_received_events()
        assert Posting.objects.count() == 500
        sage.faults.rates(
            (0.20, Fault("status", status=500)),
            (0.10, Fault("rate_limit", retry_after=1.0)),
            (0.05, Fault("drop_after_commit")),
            only_paths=WRITES,
            seed=11,
        )
        started = time.time()
        _drain(600)
        elapsed = time.time() - started
        invoices = sage.documents("sales_invoices")
        receipts = sage.documents("contact_payments")
        inside = sage.requests_inside_retry_after()
        calls = sum(1 for r in sage.requests if r.path.startswith("/v3.1/"))
    references = [i["reference"] for i in invoices]
    assert len(invoices) == 500 and len(set(references)) == 500  # 0 duplicate invoices
    assert len(receipts) == 500 and len({r["reference"] for r in receipts}) == 500  # 0 duplicate receipts
    assert all(i["outstanding_amount"] == 0 for i in invoices)  # every receipt allocated to its invoice
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 500  # 0 lost
    assert inside == []  # no request inside a Retry-After window
    assert max(Posting.objects.values_list("attempts", flat=True)) <= FAST_RETRIES["POSTING_MAX_ATTEMPTS"]
    print(f"Sage 500 under faults: {len(invoices)} invoices, {len(receipts)} receipts, {calls} calls, "
          f"{elapsed:.0f} s, {len(inside)} inside Retry-After")  # fmt: skip


def test_a_posting_inside_sages_lockdown_is_held_and_never_reaches_sage(client: Any) -> None:
    with SageSandbox() as sage:
        conn = _sage_connection(sage)
        sage.set_lock_dates(lockdown=date(2026, 10, 31))
        assert read_ledger_lock_date(conn) == date(2026, 10, 31)
        _till(conn)
        _deliver(client, "till", 3)  # dated 1 October 2026
        process_received_events()
        run_outbox()
        writes = sage.writes()
    postings = list(Posting.objects.all())
    assert len(postings) == 3 and all(p.state == PostingState.HELD for p in postings)
    assert all("closed up to 2026-10-31" in p.last_error for p in postings)
    assert writes == []  # 0 writes reached Sage
