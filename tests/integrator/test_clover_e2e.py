"""Clover end to end over real HTTP: the Clover sandbox sends the handshake and notifications to our
live server, the worker fetches each order from the sandbox, a back-fill pulls the same orders, and
the day closes into one summary per register whose tenders equal Clover's own payment totals."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.core.management import call_command

from connectors.sandbox.clover import CloverSandbox
from connectors.sources.clover.orders import tender_method
from integrator import money
from integrator.choices import EntryKind, PostingMode, RuleKind, TransactionStatus
from integrator.models import Channel, InboundEvent, JournalEntry, LedgerAccount, MappingSet, Transaction
from integrator.services.channels import create_channel
from integrator.services.closing import close_day
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.conftest import standard_rules
from tests.fixtures import clover as fx

# The channels sell in US dollars into books kept in pounds: the reference rates convert them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_rates")]

DAY = date(2026, 11, 26)
#: The clearing account each tender lands in (the mapping below).
ACCOUNTS = {"cash": "1110", "card": "1100", "mpesa": "1120"}


def _channel(ledger: Any, clover: CloverSandbox, mode: str) -> Channel:
    mpesa = LedgerAccount.objects.create(connection=ledger, code="1120", name="M-Pesa clearing", type="asset")
    channel = create_channel(
        platform="clover", name="Clover NYC", slug="clover-nyc", currency="USD", ledger_connection=ledger,
        webhook_secrets=[fx.AUTH_CODE, fx.OLD_AUTH_CODE], base_url=clover.url, posting_mode=mode, timezone="UTC",
        credentials={"access_token": fx.TOKEN}, settings={"merchant_id": fx.MERCHANT},
    )  # fmt: skip
    rules = [{"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "mpesa", "account": mpesa}]
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(
        create_version(ms, effective_from=date(2020, 1, 1), rules=rules + standard_rules(ledger))
    )
    return channel


def _z_report(clover: CloverSandbox, day: date) -> dict[tuple[str, str], Decimal]:
    """Clover's own totals for the day, read from its API: (register, account) -> payments less refunds."""
    start = fx.millis(datetime(day.year, day.month, day.day, tzinfo=UTC))
    end = start + 86_400_000 - 1
    headers = {"Authorization": f"Bearer {fx.TOKEN}"}
    base = f"{clover.url}/v3/merchants/{fx.MERCHANT}"
    window = [("filter", f"createdTime>={start}"), ("filter", f"createdTime<={end}"), ("limit", 1000)]
    payments = requests.get(f"{base}/payments", params=window, headers=headers, timeout=10).json()["elements"]
    refunds = requests.get(f"{base}/refunds", params=window, headers=headers, timeout=10).json()["elements"]
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for p in payments:
        if p["result"] == "SUCCESS":
            amount = money.from_minor(p["amount"] + p.get("tipAmount", 0), "USD")
            totals[(p["device"]["id"], ACCOUNTS[tender_method(p["tender"])])] += amount
    for r in refunds:
        paid = requests.get(f"{base}/payments/{r['payment']['id']}", headers=headers, timeout=10).json()
        amount = money.from_minor(r["amount"] + r.get("tipAmount", 0), "USD")
        totals[(r["device"]["id"], ACCOUNTS[tender_method(paid["tender"])])] -= amount
    return {k: v for k, v in totals.items() if v}


def test_a_day_of_50_tickets_closes_into_one_summary_per_register_equal_to_clovers_totals(
    ledger: Any, live_server: Any
) -> None:
    previous = fx.ticket_day(DAY - timedelta(days=1), count=3, prefix="P")
    returned = previous[1]
    fx.add_refund(
        returned, "RFDRETURN0001", 1500, datetime(2026, 11, 26, 18, 30, tzinfo=UTC), "DEVNYC0000002"
    )
    tickets = fx.ticket_day(DAY)
    with CloverSandbox(merchant_id=fx.MERCHANT, access_token=fx.TOKEN) as clover:
        channel = _channel(ledger, clover, PostingMode.DAILY_SUMMARY)
        url = f"{live_server.url}/hooks/clover-nyc/"
        # The one-time handshake: answered, kept for the admin, never an event.
        assert clover.send_verification(url, "ce7643c1-83ea-4218").status_code == 200
        channel.refresh_from_db()
        assert channel.settings["webhook_handshake"]["verification_code"] == "ce7643c1-83ea-4218"
        assert not InboundEvent.objects.exists()
        # Yesterday's three tickets, then today's fifty in deliveries of five objects each.
        for order in [*previous, *tickets]:
            clover.add_order(order)
        updates = [(f"O:{o['id']}", "CREATE", o["createdTime"]) for o in [*previous, *tickets]]
        batches = [updates[i : i + 5] for i in range(0, len(updates), 5)]
        for batch in batches:
            answer = clover.send_webhook(url, fx.AUTH_CODE, batch)
            assert answer.status_code == 202, answer.text
        # The return is made today: Clover notifies an UPDATE of yesterday's order.
        assert (
            clover.send_webhook(
                url, fx.OLD_AUTH_CODE, [(f"O:{returned['id']}", "UPDATE", returned["modifiedTime"])]
            ).status_code
            == 202
        )
        # Duplicates are answered 200 with nothing new; forgeries 401.
        assert clover.send_webhook(url, fx.AUTH_CODE, batches[0]).status_code == 200
        assert clover.send_webhook(url, "forged-code", batches[1]).status_code == 401
        assert clover.send_webhook(url, None, batches[1]).status_code == 401
        booked = Transaction.objects.count()
        assert booked == 3 + 50 + 1  # 53 tickets (one voided) and the refund
        # A back-fill of the same days finds every order again: stored, but no new transaction.
        out = io.StringIO()
        call_command("sync", "clover-nyc", "--since", "2026-11-24", stdout=out)
        process_received_events()
        assert "53 new records" in out.getvalue()  # every order again, under its pull key
        assert Transaction.objects.count() == booked
        assert set(Transaction.objects.values_list("revision", flat=True)) == {1}
        z = _z_report(clover, DAY)
    void = Transaction.objects.get(external_id=tickets[13]["id"])
    assert void.status == TransactionStatus.POSTED and void.status_reasons == [
        "nothing to post for this document"
    ]
    refund = Transaction.objects.get(kind="refund")
    assert refund.sale.external_id == returned["id"] and refund.business_date == DAY
    summaries = close_day(channel, DAY)
    run_outbox()  # the worker's outbox pass: the summaries go to the built-in ledger
    assert sorted((s.currency, s.location, s.register) for s in summaries) == [
        ("USD", fx.MERCHANT, "DEVNYC0000001"), ("USD", fx.MERCHANT, "DEVNYC0000002")]  # fmt: skip
    ours: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for summary in summaries:
        summary.refresh_from_db()
        assert summary.kind == EntryKind.SUMMARY and summary.posting.state == "posted"
        for line in summary.lines.filter(role="clearing").select_related("account"):
            ours[(summary.register, line.account.code)] += line.debit - line.credit
    assert dict(ours) == z  # to the cent, per register and tender
    assert len(z) >= 5 and z[("DEVNYC0000002", "1100")] > 0
    assert not close_day(channel, DAY)  # closing again finds nothing left
    assert close_day(channel, DAY + timedelta(days=1)) == []  # a day with no sales: no summary


def test_worked_example_books_to_the_cent_and_the_refund_next_day(ledger: Any, live_server: Any) -> None:
    order = fx.load("order_discount_two_taxes.json")
    with CloverSandbox(merchant_id=fx.MERCHANT, access_token=fx.TOKEN) as clover:
        _channel(ledger, clover, PostingMode.PER_TRANSACTION)
        clover.add_order(order)
        url = f"{live_server.url}/hooks/clover-nyc/"
        assert (
            clover.send_webhook(url, fx.AUTH_CODE, [("P:PAYCARD000001", "UPDATE", 1795788000000)]).status_code
            == 202
        )
    sale = Transaction.objects.get(kind="sale")
    refund = Transaction.objects.get(kind="refund")
    assert (sale.total, sale.status, refund.total, refund.sale_id) == (
        Decimal("64.73"),
        "posted",
        Decimal("15.00"),
        sale.pk,
    )
    lines = sorted(
        (ln.account.code, ln.debit, ln.credit)
        for ln in JournalEntry.objects.get(transaction=sale).lines.select_related("account")
    )
    # Discounts are booked gross (contra-revenue): scarf 40.00 less 6.95 (10 % line + its 2.95 share
    # of the $5 order discount), shea 25.00 less 2.05; taxes 1.32 + 0.92 NY State and 1.49 NYC; tip
    # 5.00; cash 30.00 and card 29.73 + 5.00 tip. 34.73 + 30.00 + 9.00 = 65.00 + 3.73 + 5.00 = 73.73.
    assert lines == [
        ("1100", Decimal("34.73"), 0), ("1110", Decimal("30.00"), 0),
        ("2100", 0, Decimal("0.92")), ("2100", 0, Decimal("1.32")), ("2100", 0, Decimal("1.49")),
        ("2300", 0, Decimal("5.00")), ("4010", 0, Decimal("25.00")), ("4010", 0, Decimal("40.00")),
        ("4200", Decimal("2.05"), 0), ("4200", Decimal("6.95"), 0),
    ]  # fmt: skip
    refund_lines = JournalEntry.objects.get(transaction=refund).lines.select_related("account")
    assert sum(ln.credit for ln in refund_lines if ln.account.code == "1100") == Decimal("15.00")
    assert sum(ln.debit for ln in refund_lines if ln.role == "tax") == Decimal("0.94")
    refund_lines = JournalEntry.objects.get(transaction=refund).lines.select_related("account")
    assert sum(ln.credit for ln in refund_lines if ln.account.code == "1100") == Decimal("15.00")
    assert sum(ln.debit for ln in refund_lines if ln.role == "tax") == Decimal("0.94")
