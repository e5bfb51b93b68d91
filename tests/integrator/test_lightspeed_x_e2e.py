"""Lightspeed X-Series end to end over real HTTP: the sandbox store delivers a day of 50 tickets as
signed form-encoded webhooks to our live server, a missed one arrives by the version-cursor pull,
the registers close with their counts, and the day is posted as one summary per register whose
tenders equal the register's own payments summary (its Z report) to the franc.

The scenario is tests/fixtures/lightspeed_x/day.py; the worked example with shipping, two tax
rates and a partial refund is the USD fixture pair (tests/fixtures/lightspeed_x/README.md).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.core.management import call_command

from connectors.sandbox.lightspeed_x import LightspeedXSandbox, dumps
from connectors.sources.lightspeed_x import _Catalogue
from connectors.sources.lightspeed_x.signature import signature_header
from integrator.choices import EntryKind, PostingMode, PostingState, RuleKind, TransactionStatus
from integrator.models import (
    BookEntry,
    Channel,
    InboundEvent,
    JournalEntry,
    LedgerAccount,
    MappingSet,
    Posting,
    TaxCode,
    Transaction,
)
from integrator.services.channels import create_channel, source_for
from integrator.services.closing import close_day
from integrator.services.mappings import activate_version, create_version
from tests.conftest import standard_rules
from tests.fixtures.lightspeed_x import CLIENT_SECRET, load, store
from tests.fixtures.lightspeed_x.day import DAY, EXCHANGE_TICKET, RETURN_TICKET, VOIDED_TICKET, trading_day

# The tills sell in CFA francs or dollars into books kept in pounds: the reference rates convert them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_rates")]

D = Decimal
#: Method -> clearing account of the chart below (the exchange tender nets to zero on 1100).
ACCOUNT_OF = {"cash": "1110", "orange_money": "1120", "wave": "1130", "card": "1100"}
MISSED_TICKET = 33  # the vendor never delivers this webhook: the pull must book it


def _till_rules(ledger: Any) -> list[dict[str, Any]]:
    """The standard rules plus mobile-money clearing, TVA 18 %, cash over/short and the safe."""
    for code, name, kind in (("1120", "Orange Money clearing", "asset"), ("1130", "Wave clearing", "asset"),
                             ("6300", "Cash over/short", "expense"), ("1050", "Safe", "asset")):  # fmt: skip
        LedgerAccount.objects.get_or_create(
            connection=ledger, code=code, defaults={"name": name, "type": kind}
        )
    TaxCode.objects.get_or_create(
        connection=ledger, code="TVA18", defaults={"name": "TVA 18%", "rate": D("0.18")}
    )
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=ledger)}
    tva = TaxCode.objects.get(connection=ledger, code="TVA18")
    return [
        *standard_rules(ledger),
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "orange_money", "account": a["1120"]},
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "wave", "account": a["1130"]},
        {"kind": RuleKind.TAX, "match_field": "tax", "match_value": "TVA 18%", "account": a["2100"], "tax_code": tva},
        {"kind": RuleKind.CASH_OVER_SHORT, "match_field": "default", "match_value": "", "account": a["6300"]},
        {"kind": RuleKind.CASH_FLOAT, "match_field": "default", "match_value": "", "account": a["1050"]},
    ]  # fmt: skip


def _channel(
    ledger: Any, sandbox: LightspeedXSandbox, slug: str, currency: str, tz: str, mode: str
) -> Channel:
    channel = create_channel(
        platform="lightspeed_x", name=f"X-Series {slug}", slug=slug, currency=currency, ledger_connection=ledger,
        webhook_secrets=[CLIENT_SECRET], base_url=sandbox.url, credentials={"access_token": sandbox.access_token},
        settings={"register_count": 2}, posting_mode=mode, timezone=tz,
    )  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=_till_rules(ledger)))
    return channel


@pytest.fixture
def dakar() -> Iterator[Any]:
    day = trading_day()
    _Catalogue.clear()
    with LightspeedXSandbox(store=day.store, client_secret=CLIENT_SECRET) as sandbox:
        yield day, sandbox


def _clearing_by_account(entry: JournalEntry) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(lambda: D(0))
    for ln in entry.lines.select_related("account").filter(role="clearing"):
        out[ln.account.code] += ln.debit - ln.credit
    return {k: v for k, v in out.items() if v}


def test_a_day_of_50_tickets_posts_one_summary_per_register_equal_to_its_z_report(
    ledger: Any, live_server: Any, dakar: Any
) -> None:
    day, sandbox = dakar
    channel = _channel(ledger, sandbox, "dakar", "XOF", "Africa/Dakar", PostingMode.DAILY_SUMMARY)
    hook = f"{live_server.url}/hooks/dakar/"
    # The add-on subscribes to both hooks, as it would through POST /api/2.0/webhooks.
    for kind in ("sale.update", "register_closure.create"):
        made = requests.post(f"{sandbox.url}/api/2.0/webhooks", json={"url": hook, "active": True, "type": kind},
                             headers={"Authorization": f"Bearer {sandbox.access_token}"}, timeout=10)  # fmt: skip
        assert made.status_code == 201

    # Yesterday's sale arrives yesterday.
    assert sandbox.notify("sale.update", day.previous) == [202]
    # The day: every ticket as it is rung up (but one the vendor loses), then the void.
    codes = [sandbox.notify("sale.update", t) for n, t in enumerate(day.tickets, 1) if n != MISSED_TICKET]
    assert codes == [[202]] * 49
    assert sandbox.notify("sale.update", day.voided) == [202]

    # Duplicates are answered 200 with nothing new; forgeries 401 with nothing stored.
    assert sandbox.notify("sale.update", day.tickets[4]) == [200]
    assert sandbox.send_webhook(hook, day.tickets[5], "not-the-client-secret").status_code == 401
    body = sandbox.webhook_body(day.tickets[6]).replace(b"Cash", b"Cass")
    assert (
        sandbox.send_webhook(hook, body, signature=signature_header(CLIENT_SECRET, b"x")).status_code == 401
    )
    unsigned = requests.post(hook, data=sandbox.webhook_body(day.tickets[7]),
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)  # fmt: skip
    assert unsigned.status_code == 401
    as_json = requests.post(hook, data=dumps(day.tickets[7]), timeout=10,
                            headers={"Content-Type": "application/json", "X-Signature": "signature=00, algorithm=HMAC-SHA256"})  # fmt: skip
    assert as_json.status_code == 415  # X-Series never posts JSON
    assert (
        InboundEvent.objects.get(
            dedupe_key=f"sale:{day.tickets[4]['id']}:v{day.tickets[4]['version']}"
        ).deliveries
        == 2
    )

    # The registers close at 19:00 with their counts: Caisse 1 is 500 francs short.
    sandbox.clock = lambda: DAY + timedelta(hours=19)
    zs = {r: source_for(channel).payments_summary(r) for r in day.registers}
    for i, register in enumerate(day.registers):
        cash = zs[register]["cash"] + D(20000) - (D(500) if i == 0 else D(0))
        counted = [{"payment_type_id": day.store.payment_type("Cash"), "total": str(cash)}]
        closed = requests.put(f"{sandbox.url}/api/2.0/registers/{register}/actions/close", json={"payments": counted},
                              headers={"Authorization": f"Bearer {sandbox.access_token}"}, timeout=10)  # fmt: skip
        assert closed.status_code == 200

    # The scheduled completeness pull (here run as the sync command) finds the missed ticket only.
    out = io.StringIO()
    call_command("sync", "dakar", "--since", "2026-11-19", stdout=out)
    assert "1 new records, 50 already known" in out.getvalue()  # 51 sales: yesterday's and the 50

    # One transaction per ticket whether it came by webhook, by pull, or both.
    ids = [t["id"] for t in day.tickets]
    sales = Transaction.objects.filter(channel=channel, kind="sale")
    assert sorted(sales.values_list("external_id", flat=True)) == sorted(
        [day.previous["id"], *[i for n, i in enumerate(ids, 1) if n != RETURN_TICKET]]
    )
    assert sales.get(external_id=ids[MISSED_TICKET - 1]).events.get().source == "pull"
    voided = sales.get(external_id=ids[VOIDED_TICKET - 1])
    assert (voided.revision, voided.document["status"]) == (2, "voided")
    refund = Transaction.objects.get(channel=channel, kind="refund", external_id=ids[RETURN_TICKET - 1])
    assert refund.sale is not None and refund.sale.external_id == day.previous["id"]  # bought yesterday
    assert refund.business_date == date(2026, 11, 20) and refund.total == D(15500)
    exchange_back = Transaction.objects.get(
        channel=channel, kind="refund", external_id=f"{ids[EXCHANGE_TICKET - 1]}:return"
    )
    assert exchange_back.total == D(3500)
    assert (
        not Transaction.objects.filter(channel=channel)
        .exclude(status__in=[TransactionStatus.SUMMARISED, TransactionStatus.POSTED])
        .exists()
    ), list(
        Transaction.objects.exclude(status=TransactionStatus.SUMMARISED).values(
            "kind", "status", "status_reasons"
        )
    )
    counts = Transaction.objects.filter(channel=channel, kind="cash_count")
    assert sorted(c.document["register"] for c in counts) == ["Caisse 1", "Caisse 2"]

    # Close the day: ONE summary per register (and currency), nothing else.
    summaries = close_day(channel, date(2026, 11, 20))
    assert sorted((s.currency, s.location, s.register) for s in summaries) == [
        ("XOF", "Dakar Plateau", "Caisse 1"),
        ("XOF", "Dakar Plateau", "Caisse 2"),
    ]
    assert close_day(channel, date(2026, 11, 20)) == []  # a second run finds nothing left
    for i, register in enumerate(day.registers):
        summary = next(s for s in summaries if s.register == f"Caisse {i + 1}")
        # The Z report: what the register itself says it took per payment type this session.
        expected = {ACCOUNT_OF[m]: v for m, v in zs[register].items()}
        # The drawer account also carries the count's difference: Caisse 1 was counted 500 short,
        # so its cash clearing is the Z report's cash less 500, and 500 goes to over/short.
        short = D(500) if i == 0 else D(0)
        expected["1110"] -= short
        assert _clearing_by_account(summary) == expected, register
        over_short = sum((ln.debit - ln.credit for ln in summary.lines.filter(role="over_short")), D(0))
        assert over_short == short
        assert all(ln.debit == ln.debit.to_integral_value() and ln.credit == ln.credit.to_integral_value()
                   for ln in summary.lines.all())  # fmt: skip
        posting = Posting.objects.get(entry=summary)
        assert posting.state == PostingState.POSTED
    assert BookEntry.objects.filter(kind=EntryKind.SUMMARY).count() == 2
    # Yesterday's ticket is in yesterday's summary, not today's.
    [yesterday] = close_day(channel, date(2026, 11, 19))
    assert _clearing_by_account(yesterday) == {"1110": D(31000)}


def test_webhook_then_back_fill_of_the_worked_example_with_shipping_and_a_partial_refund(
    ledger: Any, live_server: Any
) -> None:
    """The USD pair per transaction, to the cent (hand calculation in the parse tests)."""
    _Catalogue.clear()
    with LightspeedXSandbox(store=store("usd"), client_secret=CLIENT_SECRET) as sandbox:
        _channel(ledger, sandbox, "brooklyn", "USD", "America/New_York", PostingMode.PER_TRANSACTION)
        hook = f"{live_server.url}/hooks/brooklyn/"
        sale, refund = load("sale_shipping_tip_usd.json"), load("refund_partial_usd.json")
        assert sandbox.send_webhook(hook, sale).status_code == 202
        assert (
            sandbox.send_webhook(hook, refund, event_type=None).status_code == 202
        )  # no type field: inferred
        out = io.StringIO()
        call_command("sync", "brooklyn", "--since", "2026-11-01", stdout=out)
        assert "0 new records, 2 already known" in out.getvalue()
    sale_txn = Transaction.objects.get(kind="sale")
    refund_txn = Transaction.objects.get(kind="refund")
    assert refund_txn.sale_id == sale_txn.pk
    lines: dict[tuple[str, str], Decimal] = defaultdict(lambda: D(0))
    for ln in JournalEntry.objects.get(transaction=sale_txn).lines.select_related("account"):
        lines[(ln.account.code, ln.role)] += ln.debit - ln.credit

    def amount(code: str, role: str) -> Decimal:
        return lines[(code, role)]

    # Scarves 90.00 less 18.70 discount = 71.30 (textiles, 4000), shea 12.00 less 1.30 = 10.70
    # (default revenue 4010), discounts 20.00 to the contra account (4200), delivery 10.00 (4100),
    # tax 5.60 + 0.80 = 6.40 (2100), tip 5.00 (2300), card 103.40 (default clearing 1100).
    assert amount("4000", "revenue") == D("-90.00")
    assert amount("4010", "revenue") == D("-12.00")
    assert amount("4200", "discount") == D("20.00")
    assert amount("4100", "shipping") == D("-10.00")
    assert amount("2300", "tip") == D("-5.00")
    assert amount("1100", "clearing") == D("103.40")
    tax = sum(
        (
            ln.credit - ln.debit
            for ln in JournalEntry.objects.get(transaction=sale_txn).lines.filter(role="tax")
        ),
        D(0),
    )
    assert tax == D("6.40")
    refund_lines = JournalEntry.objects.get(transaction=refund_txn).lines
    assert sum((ln.credit for ln in refund_lines.filter(role="clearing")), D(0)) == D("43.20")
    assert sum((ln.debit for ln in refund_lines.filter(role="tax")), D(0)) == D("3.20")
    assert BookEntry.objects.count() == 2
    assert InboundEvent.objects.filter(source="pull").count() == 0  # both pulled records were duplicates


def test_the_scheduled_completeness_pull_books_what_no_webhook_brought(ledger: Any) -> None:
    """X-Series says to poll: the scheduler pulls a channel every 15 minutes from its last pull."""
    from django.utils import timezone

    from connectors.sandbox.lightspeed_x import stamp
    from connectors.sources.lightspeed_x import LightspeedXSource
    from integrator.services.sync import sync_due_channels

    assert LightspeedXSource.scheduled_pull_minutes == 15
    _Catalogue.clear()
    with LightspeedXSandbox(store=store("xof"), client_secret=CLIENT_SECRET) as sandbox:
        sandbox.store.sales.clear()
        channel = _channel(ledger, sandbox, "dakar-poll", "XOF", "Africa/Dakar", PostingMode.PER_TRANSACTION)
        sale = load("sale_xof.json")
        now = timezone.now()
        sale.update(sale_date=stamp(now), created_at=stamp(now), updated_at=stamp(now))
        sandbox.store.add_sale(sale)  # rung up, but its webhook never came
        assert sync_due_channels(now=now + timedelta(minutes=1)) == 1
        assert sync_due_channels(now=now + timedelta(minutes=2)) == 0  # not due again for 15 minutes
    txn = Transaction.objects.get(channel=channel)
    assert (txn.kind, txn.total, txn.events.get().source) == ("sale", D(21500), "pull")
