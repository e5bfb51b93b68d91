"""Post the demo store's week to a ledger connection and read every document back.

Shared by the demo-week test of every accounting target: given a connection whose ledger (a
sandbox) holds the demo's chart (:data:`integrator.services.demo.ACCOUNTS` and ``TAX_CODES``),
:func:`post_demo_week` reads the chart into the connection, sets the demo store up on it, delivers
the week's signed events through the webhook endpoint, books them, closes the days, drains the
outbox and reads every posted document back. The result says what was refused and what differs.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import override_settings

from integrator.choices import PostingState, TransactionStatus
from integrator.models import JournalLine, LedgerConnection, Posting, Transaction
from integrator.services import demo
from integrator.services.chart import refresh_chart
from integrator.services.closing import close_past_days
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from integrator.services.readback import verify_postings

__all__ = ["DemoWeek", "demo_chart", "post_demo_week"]

UK_VAT = ("UK-VAT20", "UK-ZERO")


def demo_chart() -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """The demo's accounts (code, name, type) and tax codes (code, name, rate) to seed a sandbox with."""
    return [(c, n, str(t)) for c, n, t in demo.ACCOUNTS], list(demo.TAX_CODES)


@dataclass
class DemoWeek:
    """What posting the demo week to a ledger gave."""

    postings: int = 0
    posted: int = 0
    refused: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    unread: int = 0
    journal_vat: dict[str, Decimal] = field(default_factory=dict)
    ledger_vat: dict[str, Decimal] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)


def _deliver(store: demo.DemoStore) -> None:
    client = Client()

    def send(path: str, body: bytes, headers: dict[str, str]) -> int:
        extra = {k: v for k, v in headers.items() if k != "Content-Type"}
        return client.post(path, data=body, content_type="application/json", headers=extra).status_code

    counts = demo.deliver(store, demo.build_events(demo.local_today()), send)
    assert set(counts) == {"202"}, counts


@override_settings(POSTING_DEFER_SECONDS=0, POSTING_BACKOFF_BASE_SECONDS=0, POSTING_BACKOFF_CAP_SECONDS=0)
def post_demo_week(connection: LedgerConnection, *, rounds: int = 20) -> DemoWeek:
    """Book the demo week into ``connection`` and read it back (see the module docstring)."""
    admin = get_user_model().objects.filter(
        is_superuser=True
    ).first() or get_user_model().objects.create_superuser("chart-admin", password="chart-admin-pass-1")
    refresh_chart(connection, actor=admin)
    store = demo.setup_store(connection)
    _deliver(store)
    process_received_events()
    close_past_days()
    for _ in range(rounds):
        if not Posting.objects.filter(state__in=(PostingState.PENDING, PostingState.UNCERTAIN)).exists():
            break
        run_outbox()
        time.sleep(0.05)
    result = DemoWeek(postings=Posting.objects.count())
    result.posted = Posting.objects.filter(state=PostingState.POSTED).count()
    for posting in Posting.objects.exclude(state=PostingState.POSTED).select_related("entry"):
        line = f"{posting.entry.reference}: {posting.state} {posting.last_error}"
        # A payment whose invoice is held (an unmapped product) waits for it: not a refusal.
        waits = posting.state == PostingState.PENDING and posting.error_class == "Deferred"
        (result.waiting if waits else result.refused).append(line)
    dates = Posting.objects.values_list("posting_date", flat=True)
    counts = verify_postings(min(dates), max(dates))
    result.unread = counts["unreadable"]
    for posting in Posting.objects.filter(state=PostingState.POSTED).select_related("entry"):
        readback = posting.readback or {}
        result.documents[str(readback.get("raw", {}).get("entity", "?"))] = (
            result.documents.get(str(readback.get("raw", {}).get("entity", "?")), 0) + 1
        )
        if not readback.get("ok"):
            result.differences.append(f"{posting.entry.reference}: {json.dumps(readback.get('problems'))}")
        for code, amount in (readback.get("actual") or {}).get("per_tax_code", {}).items():
            result.ledger_vat[code] = result.ledger_vat.get(code, Decimal(0)) + Decimal(amount)
    vat: dict[str, Decimal] = defaultdict(Decimal)
    for ln in JournalLine.objects.filter(
        role="tax", entry__posting__state=PostingState.POSTED
    ).select_related("tax_code"):
        code = ln.tax_code.code if ln.tax_code else ""
        vat[code] += ln.functional_credit - ln.functional_debit
    result.journal_vat = dict(vat)
    assert not Transaction.objects.filter(status=TransactionStatus.INVALID).exists()
    return result
