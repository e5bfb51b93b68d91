"""NetSuite under faults and at volume, through the outbox, over REST and SOAP: 500 postings while
the account answers 20 % 500s, refuses 10 % for concurrency and drops 5 % of the answers after
writing: 0 duplicates, 0 lost, no request inside a wait window, and a re-sent record has its lines
replaced, not added to. A document dated in a locked posting period is held before any record is
written."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.netsuite import NetSuiteSandbox
from integrator.choices import PostingMode, PostingState, RuleKind
from integrator.models import Channel, LedgerAccount, LedgerConnection, MappingSet, Posting, TaxCode
from integrator.services.channels import create_channel
from integrator.services.chart import refresh_chart
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.conftest import signed_headers
from tests.ledgers.demo_week import demo_chart

pytestmark = pytest.mark.django_db(transaction=True)
FAST_RETRIES = {
    "POSTING_BACKOFF_BASE_SECONDS": 0.05,
    "POSTING_BACKOFF_CAP_SECONDS": 0.5,
    "POSTING_MAX_ATTEMPTS": 30,
    "CIRCUIT_OPEN_SECONDS": 0.5,
}


def _connection(ns: NetSuiteSandbox, platform: str) -> LedgerConnection:
    accounts, tax_codes = demo_chart()
    ns.seed_chart(accounts, tax_codes)
    conn = LedgerConnection.objects.create(
        platform=platform, name=f"NetSuite ({platform})", functional_currency="GBP", base_url=ns.url,
        credentials=ns.credentials(), settings=ns.ledger_settings(),
    )  # fmt: skip
    admin = get_user_model().objects.create_superuser("ns-admin", password="ns-admin-pass-1")
    refresh_chart(conn, actor=admin)
    return conn


def _till(conn: LedgerConnection) -> Channel:
    channel = create_channel(platform="generic", name="till", slug="till", currency="GBP", ledger_connection=conn,
                             webhook_secrets=["s3cret"], posting_mode=PostingMode.PER_TRANSACTION, timezone="UTC")  # fmt: skip
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=conn)}
    tax = TaxCode.objects.get(connection=conn, code="UK-VAT20")
    rules = [
        {"kind": RuleKind.REVENUE, "match_field": "default", "match_value": "", "account": a["4000"]},
        {"kind": RuleKind.TAX, "match_field": "default", "match_value": "", "account": a["2100"], "tax_code": tax},
        {"kind": RuleKind.CLEARING, "match_field": "default", "match_value": "", "account": a["1110"]},
        {"kind": RuleKind.ROUNDING, "match_field": "default", "match_value": "", "account": a["6900"]},
    ]  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=conn, discount_mode="net")
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=rules))
    return channel


def _deliver(client: Any, n: int, day: date) -> None:
    for i in range(n):
        data = {"id": f"t-{i}", "number": f"T-{i}", "occurred_at": f"{day.isoformat()}T12:00:00+00:00",
                "currency": "GBP", "total": "12.00", "tenders": [{"method": "card", "amount": "12.00"}],
                "lines": [{"sku": "KENTE", "name": "Kente", "quantity": 1, "unit_price": "10.00",
                           "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}]}]}  # fmt: skip
        body = json.dumps({"id": f"e-{i}", "type": "sale.completed", "created_at": data["occurred_at"],
                           "data": data}).encode()  # fmt: skip
        response = client.post("/hooks/till/", data=body, content_type="application/json",
                               **signed_headers(body, secret="s3cret"))  # fmt: skip
        assert response.status_code == 202


def _drain(limit_seconds: float = 300) -> None:
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
@pytest.mark.parametrize("platform", ["netsuite", "netsuite_soap"])
@override_settings(**FAST_RETRIES)
def test_500_postings_under_faults_exactly_once(client: Any, platform: str, capsys: Any) -> None:
    day = date.today().replace(day=1)
    with NetSuiteSandbox(retry_after=1.0, seed=7) as ns:
        conn = _connection(ns, platform)
        _till(conn)
        # Faults from the first send on: postings go out as the events arrive, and again from the
        # outbox, in batches, until every one is final.
        ns.faults.rates(
            (0.20, Fault("status", status=500)),
            (0.10, Fault("rate_limit", retry_after=1.0)),
            (0.05, Fault("drop_after_commit")),
            only_paths=r"^/services/(rest/record/v1/cashSale|NetSuitePort)",
            seed=11,
        )
        started = time.monotonic()
        _deliver(client, 500, day)
        process_received_events()
        assert Posting.objects.count() == 500
        _drain()
        elapsed = time.monotonic() - started
        sales = ns.records("cashSale")
        inside = ns.requests_inside_retry_after()
        requests_made = len(ns.requests)
        failed = Posting.objects.filter(attempts__gt=1).count()
    numbers = {r["tranId"] for r in sales}
    assert len(sales) == 500, f"{len(sales)} records for 500 postings"  # 0 duplicates
    assert len(numbers) == 500 and len({r["externalId"] for r in sales}) == 500
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 500  # 0 lost
    assert inside == []  # nothing inside a wait window
    # A re-sent record had its lines replaced: one item line and one tax line each.
    assert all(len(r["item"]) == 1 and len(r["taxDetails"]) == 1 for r in sales)
    assert max(Posting.objects.values_list("attempts", flat=True)) <= FAST_RETRIES["POSTING_MAX_ATTEMPTS"]
    assert failed > 50  # the faults did hit: many postings needed more than one attempt
    with capsys.disabled():
        print(f"\n{platform}: 500 postings under faults in {elapsed:.1f} s, {requests_made} requests, "
              f"{failed} needed retries, 0 duplicates, 0 lost")  # fmt: skip


#: The SuiteTalk operations that write a record (the body's operation element, any prefix).
SOAP_WRITE = re.compile(rb"<(?:\w+:)?(?:add|addList|upsert|upsertList|update|updateList)[\s/>]")


@pytest.mark.parametrize("platform", ["netsuite", "netsuite_soap"])
@override_settings(**FAST_RETRIES)
def test_a_locked_period_is_held_before_any_record_is_written(client: Any, platform: str) -> None:
    day = date.today().replace(day=1)
    with NetSuiteSandbox() as ns:
        conn = _connection(ns, platform)
        _till(conn)
        ns.lock_period(day)
        writes_before = ns.books.writes
        _deliver(client, 3, day)
        process_received_events()
        _drain(60)
        written = ns.books.writes - writes_before
        record_calls = [
            r for r in ns.requests if r.method == "PUT" or r.path.startswith("/services/NetSuitePort")
        ]
        # A write is a SOAP operation element that writes, not any body holding "add" somewhere
        # (the random hex of a token passport does now and then: a search counted as a write).
        soap_writes = [r for r in record_calls if SOAP_WRITE.search(r.body)]
    postings = list(Posting.objects.all())
    assert len(postings) == 3 and all(p.state == PostingState.HELD for p in postings)
    assert all("closed" in p.last_error for p in postings)
    assert written == 0 and ns.records("cashSale") == []
    assert [r for r in record_calls if r.method == "PUT"] == [] and soap_writes == []
