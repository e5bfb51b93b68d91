"""500 sales through the outbox to a ledger sandbox under faults: shared by the reliability tests
of the targets without an idempotency key (Business Central, SAP Business One).

:func:`till_on` reads the sandbox's chart (the demo's) into the connection and maps a generic
till to it; :func:`deliver_sales` sends signed sale webhooks; :func:`drain` runs the outbox until
nothing is open.
"""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

from integrator.choices import AccountType, PostingMode, PostingState, RuleKind
from integrator.models import Channel, LedgerAccount, LedgerConnection, MappingSet, Posting, TaxCode
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from integrator.services.posting import ledger_target_for
from tests.conftest import signed_headers

__all__ = ["FAST_RETRIES", "deliver_sales", "drain", "till_on"]

FAST_RETRIES = {
    "POSTING_BACKOFF_BASE_SECONDS": 0.05,
    "POSTING_BACKOFF_CAP_SECONDS": 0.5,
    # A receipt is several requests in a row; at 35 % faults per request many attempts fail before
    # their last step (each keeps what it made), so the budget is larger than for one-call vendors.
    "POSTING_MAX_ATTEMPTS": 80,
    "CIRCUIT_OPEN_SECONDS": 0.5,
    "POSTING_DEFER_SECONDS": 0,
}
TYPES = {t.value for t in AccountType}


def till_on(conn: LedgerConnection, slug: str = "till") -> Channel:
    """A GBP till posting per transaction: revenue 4000, VAT 20 % (UK-VAT20) to 2100, card
    clearing 1100, rounding 6900; the chart read from the ledger."""
    target = ledger_target_for(conn)
    for a in target.fetch_accounts():
        LedgerAccount.objects.get_or_create(connection=conn, code=a.code, defaults={
            "name": a.name, "type": a.type if a.type in TYPES else AccountType.ASSET, "remote_id": a.remote_id})  # fmt: skip
    for t in target.fetch_tax_codes():
        TaxCode.objects.get_or_create(connection=conn, code=t.code, defaults={"name": t.name, "rate": t.rate, "remote_id": t.remote_id})  # fmt: skip
    channel = create_channel(platform="generic", name=slug, slug=slug, currency="GBP", ledger_connection=conn,
                             webhook_secrets=["s3cret"], posting_mode=PostingMode.PER_TRANSACTION, timezone="UTC")  # fmt: skip
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=conn)}
    tax = TaxCode.objects.get(connection=conn, code="UK-VAT20")
    rules = [
        {"kind": RuleKind.REVENUE, "match_field": "default", "match_value": "", "account": a["4000"]},
        {"kind": RuleKind.TAX, "match_field": "default", "match_value": "", "account": a["2100"], "tax_code": tax},
        {"kind": RuleKind.CLEARING, "match_field": "default", "match_value": "", "account": a["1100"]},
        {"kind": RuleKind.ROUNDING, "match_field": "default", "match_value": "", "account": a["6900"]},
    ]  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=conn, discount_mode="net")
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=rules))
    return channel


def deliver_sales(client: Any, slug: str, n: int, *, day: str = "2026-10-01") -> None:
    """``n`` signed sales of 10.00 + 2.00 VAT paid by card."""
    for i in range(n):
        data = {"id": f"{slug}-{i}", "number": f"{slug}-{i}", "occurred_at": f"{day}T12:00:00+00:00",
                "currency": "GBP", "total": "12.00", "tenders": [{"method": "card", "amount": "12.00"}],
                "lines": [{"sku": "KENTE", "name": "Kente", "quantity": 1, "unit_price": "10.00",
                           "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}]}]}  # fmt: skip
        body = json.dumps(
            {"id": f"e-{slug}-{i}", "type": "sale.completed", "created_at": data["occurred_at"], "data": data}
        ).encode()
        response = client.post(
            f"/hooks/{slug}/",
            data=body,
            content_type="application/json",
            **signed_headers(body, secret="s3cret"),
        )
        assert response.status_code == 202


def drain(limit_seconds: float = 600) -> None:
    """Run the outbox until no posting is pending, sending or uncertain."""
    from integrator.services.posting import run_outbox

    deadline = time.time() + limit_seconds
    while time.time() < deadline:
        run_outbox(limit=1000)
        if not Posting.objects.filter(
            state__in=[PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN]
        ).exists():
            return
        time.sleep(0.1)
    raise AssertionError("postings did not settle in time")
