"""The numbers on Today and in the journal list mean what the rest of the workspace means by them.

* "Posted" on Today counts what the transactions list calls posted (it counted ledger documents:
  a daily summary of many sales counted once);
* "Latest transactions" are newest first by when they happened (they were in arrival order);
* the journal preview shows the debits (they were cut off behind the credit lines);
* the journal list shows a payout's amount, the bank deposit (it showed the total of the debits).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html import unescape
from typing import Any

from django.test import Client

from integrator.choices import PostingMode, PostingState, TransactionStatus
from integrator.models import JournalEntry, Posting, Transaction
from integrator.services.closing import close_day
from integrator.services.posting import run_outbox
from tests.conftest import make_channel, sale_event

DAY = date(2026, 11, 20)


def _line(sku: str, price: str, vat: str) -> dict[str, Any]:
    return {"sku": sku, "name": sku.title(), "category": "textiles", "quantity": 1, "unit_price": price,
            "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": vat}]}  # fmt: skip


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _card(html: str, label: str) -> tuple[str, int]:
    found = re.search(
        rf'<a class="card[^"]*" href="([^"]+)" data-stage="{label}">.*?<div class="n">([\d,]+)</div>',
        html,
        re.S,
    )
    assert found is not None, label
    return unescape(found.group(1)), int(found.group(2).replace(",", ""))


def test_posted_on_today_is_what_the_transactions_list_calls_posted(
    ledger: Any, channel: Any, post_event: Any, users: Any
) -> None:
    shop = make_channel(ledger, slug="shop", mode=PostingMode.DAILY_SUMMARY)
    post_event("till", sale_event("S-TILL"))
    post_event("shop", sale_event("S-SHOP-1"))
    post_event("shop", sale_event("S-SHOP-2"))
    close_day(shop, DAY)
    run_outbox(worker="test")
    # Three sales in the ledger, carried by two documents (one sale's own, one daily summary).
    assert Transaction.objects.filter(status=TransactionStatus.POSTED).count() == 3
    assert Posting.objects.filter(state=PostingState.POSTED).count() == 2

    client = _client(users["finance_clerk"])
    html = client.get("/").content.decode()
    url, count = _card(html, "Posted")
    assert count == 3 and url == "/transactions/?status=posted"
    assert "in 2 ledger documents" in html
    listed = client.get(url).content.decode()
    tab = re.search(r'href="\?status=posted"[^>]*>Posted<span class="n">(\d+)</span>', listed)
    assert tab is not None and int(tab.group(1)) == count
    assert len(re.findall(r'<a class="row-link" href="/transactions/', listed)) == count


def test_latest_transactions_are_newest_first_and_the_journal_preview_shows_debits(
    channel: Any, post_event: Any, users: Any
) -> None:
    # Four items at 10.00 + 2.00 VAT each: 48.00 paid by card. The journal has eight credit lines
    # (four sales, four VAT) and one debit (card clearing 48.00), which came last.
    lines = [_line(f"KENTE-{n}", "10.00", "2.00") for n in range(1, 5)]
    post_event(
        "till", sale_event("S-LATER", total="48.00", lines=lines, occurred_at="2026-11-20T15:00:00+00:00")
    )
    post_event("till", sale_event("S-EARLIER", occurred_at="2026-11-20T09:00:00+00:00"))  # arrives second
    html = _client(users["finance_clerk"]).get("/").content.decode()
    recent = html[html.index('id="h-recent"') :]
    assert recent.index("S-LATER") < recent.index("S-EARLIER"), "newest first by when it happened"
    later_row = recent[recent.index("S-LATER") : recent.index("S-EARLIER")]
    assert "Dr 1100 48.00" in later_row
    assert "Cr 4000 10.00" in later_row and "more lines" in later_row


def test_the_journal_list_shows_a_payouts_amount_not_its_debits(
    channel: Any, post_event: Any, users: Any
) -> None:
    # A payout of one 144.00 charge less a 4.56 fee: 139.44 reaches the bank. Its journal debits
    # bank 139.44 and fees 4.56 (144.00 of debits) and credits card clearing 144.00.
    payout = {"id": "evt-po-1", "type": "payout.paid", "created_at": "2026-11-22T06:00:00+00:00", "data": {
        "id": "po-1", "occurred_at": "2026-11-22T06:00:00+00:00", "currency": "GBP", "amount": "139.44",
        "arrival_date": "2026-11-23",
        "items": [{"type": "charge", "amount": "144.00", "fee": "4.56", "net": "139.44", "source_id": "S-1"}]}}  # fmt: skip
    post_event("till", payout)
    entry = JournalEntry.objects.get(transaction__kind="payout")
    debits = sum((ln.debit for ln in entry.lines.all()), Decimal(0))
    assert debits == Decimal("144.00")
    html = _client(users["finance_clerk"]).get("/journal/").content.decode()
    row = re.search(r"till/payout/po-1</a>.*?</tr>", html, re.S)
    assert row is not None
    amounts = re.findall(r'<td class="num">([\d,.]+)</td>', row.group(0))
    assert amounts == ["139.44"]
    export = _client(users["finance_clerk"]).get("/journal/?export=csv&q=po-1")
    assert ",Channel till,139.44,GBP," in b"".join(export.streaming_content).decode()
