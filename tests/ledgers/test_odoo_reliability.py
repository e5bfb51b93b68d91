"""Issue 17's reliability proof for Odoo, through the outbox: 500 postings while the Odoo sandbox
answers 20 % of its writes with 500, 10 % with 429 and drops 5 % after committing: 0 duplicates,
0 lost, no request inside a Retry-After window. Odoo has no idempotency key, so this proves the
looked-up-first steps (connectors/ledgers/odoo/poster.py)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import date
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.odoo import OdooSandbox
from integrator.choices import PostingMode, PostingState, RuleKind
from integrator.models import LedgerAccount, LedgerConnection, MappingSet, Posting, TaxCode
from integrator.services.channels import create_channel
from integrator.services.chart import refresh_chart
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.conftest import signed_headers
from tests.ledgers.demo_week import demo_chart

pytestmark = [pytest.mark.slow, pytest.mark.soak, pytest.mark.django_db]
FAST_RETRIES = {
    "POSTING_BACKOFF_BASE_SECONDS": 0.05,
    "POSTING_BACKOFF_CAP_SECONDS": 0.5,
    "POSTING_MAX_ATTEMPTS": 30,
    "CIRCUIT_OPEN_SECONDS": 0.5,
}
WRITES = (
    r"#(account\.move|account\.payment|res\.partner)\.(create|write|action_post|js_assign_outstanding_line)$"
)


def _connection(odoo: OdooSandbox) -> LedgerConnection:
    conn = LedgerConnection.objects.create(platform="odoo", name="Odoo (sandbox)", functional_currency="GBP",
                                           base_url=odoo.url, credentials=odoo.credentials(),
                                           settings=odoo.ledger_settings())  # fmt: skip
    admin = get_user_model().objects.create_superuser("odoo-admin", password="odoo-admin-pass-1")
    refresh_chart(conn, actor=admin)
    return conn


def _till(conn: LedgerConnection) -> None:
    channel = create_channel(platform="generic", name="till", slug="till", currency="GBP", ledger_connection=conn,
                             webhook_secrets=["s3cret"], posting_mode=PostingMode.PER_TRANSACTION, timezone="UTC")  # fmt: skip
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=conn)}
    tax = TaxCode.objects.get(connection=conn, code="UK-VAT20")
    rules = [
        {"kind": RuleKind.REVENUE, "match_field": "default", "match_value": "", "account": a["4000"]},
        {"kind": RuleKind.TAX, "match_field": "default", "match_value": "", "account": a["2100"], "tax_code": tax},
        {"kind": RuleKind.CLEARING, "match_field": "default", "match_value": "", "account": a["1100"]},
        {"kind": RuleKind.ROUNDING, "match_field": "default", "match_value": "", "account": a["6900"]},
    ]  # fmt: skip
    mapping = MappingSet.objects.create(channel=channel, connection=conn, discount_mode="net")
    activate_version(create_version(mapping, effective_from=date(2020, 1, 1), rules=rules))


def _deliver(client: Any, n: int) -> None:
    for i in range(n):
        data = {"id": f"till-{i}", "number": f"till-{i}", "occurred_at": "2026-10-01T12:00:00+00:00",
                "currency": "GBP", "total": "12.00", "tenders": [{"method": "card", "amount": "12.00"}],
                "lines": [{"sku": "KENTE", "name": "Kente", "quantity": 1, "unit_price": "10.00",
                           "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}]}]}  # fmt: skip
        body = json.dumps({"id": f"e-till-{i}", "type": "sale.completed", "created_at": data["occurred_at"],
                           "data": data}).encode()  # fmt: skip
        response = client.post(
            "/hooks/till/",
            data=body,
            content_type="application/json",
            **signed_headers(body, secret="s3cret"),
        )
        assert response.status_code == 202


def _drain(limit_seconds: float = 900) -> None:
    deadline = time.time() + limit_seconds
    while time.time() < deadline:
        run_outbox(limit=1000)
        if not Posting.objects.filter(
            state__in=[PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN]
        ).exists():
            return
        time.sleep(0.1)
    raise AssertionError("postings did not settle in time")


@override_settings(**FAST_RETRIES)
def test_500_postings_to_odoo_under_faults_exactly_once_and_never_inside_retry_after(client: Any) -> None:
    accounts, tax_codes = demo_chart()
    with OdooSandbox(version=17, currency="GBP", seed=7) as odoo:
        odoo.seed_chart(accounts, tax_codes)
        conn = _connection(odoo)
        _till(conn)
        _deliver(client, 500)
        process_received_events()
        assert Posting.objects.count() == 500
        odoo.faults.rates(
            (0.20, Fault("status", status=500)),
            (0.10, Fault("rate_limit", retry_after=0.2)),
            (0.05, Fault("drop_after_commit")),
            only_paths=WRITES,
            seed=11,
        )
        started = time.monotonic()
        _drain()
        elapsed = time.monotonic() - started
        invoices = odoo.records("account.move", [("move_type", "=", "out_invoice")])
        payments = odoo.records("account.payment")
        inside = odoo.requests_inside_retry_after()
        faults = len(odoo.retry_windows)
    refs = Counter(i["ref"] for i in invoices)
    assert len(invoices) == 500 and max(refs.values()) == 1  # 0 duplicate invoices
    assert len(payments) == 500 and len({p["ref"] for p in payments}) == 500  # 0 duplicate payments
    assert all(i["state"] == "posted" and i["payment_state"] == "paid" for i in invoices)
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 500  # 0 lost
    assert inside == []  # no request inside a Retry-After window
    assert faults > 0
    print(f"Odoo: 500 postings in {elapsed:.0f} s, {faults} 429s honoured, {len(odoo.requests)} requests")
