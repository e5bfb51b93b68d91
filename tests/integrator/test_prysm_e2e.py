"""Prysm POS end to end over real HTTP.

1. Two tills send a day of 50 tickets (split tenders, cash change, a void, a return of yesterday's
   sale) as signed generic JSON webhooks to our live server, then their drawer counts; the day is
   posted as one summary per till whose tenders equal each till's own Z report to the franc.
   Duplicates are answered 200 with nothing new; forged, stale and tampered deliveries 401.
2. A till that only exports files: its Z report uploaded through the API is booked once however
   often it is sent; a file with a malformed row is refused by row number and imports nothing.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from connectors.sandbox.prysm import PrysmTill, Ticket
from connectors.sources.prysm.z_report import ZReportMapping, parse_z_report
from integrator.choices import PostingMode, PostingState, RuleKind, TransactionStatus
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
from integrator.services.channels import create_channel
from integrator.services.chart import load_dataset
from integrator.services.closing import close_day
from integrator.services.mappings import activate_version, create_version
from tests.conftest import standard_rules

# The tills sell in CFA francs or dollars into books kept in pounds: the reference rates convert them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_rates")]

D = Decimal
SECRET = "prysm-dakar-secret"
DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # Dakar is on UTC
ACCOUNT_OF = {"cash": "1110", "orange_money": "1120", "wave": "1130", "card": "1100"}
CATALOGUE = [
    ("textiles", "WAX-6", "Pagne wax 6 yards", D(15500)),
    ("homeware", "CALEB-1", "Bol en calebasse", D(3500)),
    ("homeware", "PANIER-2", "Panier tressé", D(7000)),
    ("textiles", "BOGO-3", "Coussin bogolan", D(9900)),
    ("homeware", "SAVON-4", "Savon noir", D(1250)),
]


def _rules(ledger: Any) -> list[dict[str, Any]]:
    for code, name, kind in (("1120", "Orange Money clearing", "asset"), ("1130", "Wave clearing", "asset"),
                             ("6300", "Cash over/short", "expense"), ("1050", "Safe", "asset")):  # fmt: skip
        LedgerAccount.objects.get_or_create(
            connection=ledger, code=code, defaults={"name": name, "type": kind}
        )
    tva, _ = TaxCode.objects.get_or_create(
        connection=ledger, code="TVA18", defaults={"name": "TVA", "rate": D("0.18")}
    )
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=ledger)}
    return [
        *standard_rules(ledger),
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "orange_money", "account": a["1120"]},
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "wave", "account": a["1130"]},
        {"kind": RuleKind.TAX, "match_field": "tax", "match_value": "TVA 18%", "account": a["2100"], "tax_code": tva},
        {"kind": RuleKind.CASH_OVER_SHORT, "match_field": "default", "match_value": "", "account": a["6300"]},
        {"kind": RuleKind.CASH_FLOAT, "match_field": "default", "match_value": "", "account": a["1050"]},
    ]  # fmt: skip


def _channel(ledger: Any, slug: str, **settings: Any) -> Channel:
    channel = create_channel(
        platform="prysm", name=f"Prysm {slug}", slug=slug, currency="XOF", ledger_connection=ledger,
        webhook_secrets=[SECRET], posting_mode=PostingMode.DAILY_SUMMARY, timezone="Africa/Dakar",
        settings={"location": "Dakar Plateau", "z_report": PrysmTill.column_mapping(), **settings},
    )  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=_rules(ledger)))
    return channel


def _payments(total: Decimal, n: int) -> list[tuple[str, Decimal]]:
    """Split tenders the way customers pay in Dakar; cash is handed over in round notes."""
    kind = n % 4
    if kind == 0:
        handed = ((total + 4999) // 5000) * 5000
        return [("cash", handed)]
    if kind == 1:
        mobile = (total * D("0.6")).quantize(D(1))
        rest = total - mobile
        return [("orange_money", mobile), ("cash", ((rest + 999) // 1000) * 1000)]
    if kind == 2:
        return [("card", total)]
    return [("wave", total - 1000), ("cash", D(2000))] if total > 1000 else [("wave", total)]


@pytest.fixture
def tills() -> Iterator[tuple[PrysmTill, PrysmTill]]:
    one, two = PrysmTill(secret=SECRET, register="Caisse 1"), PrysmTill(secret=SECRET, register="Caisse 2")
    yield one, two


def _clearing(entry: JournalEntry) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(lambda: D(0))
    for ln in entry.lines.select_related("account").filter(role="clearing"):
        out[ln.account.code] += ln.debit - ln.credit
    return {k: v for k, v in out.items() if v}


def test_a_day_of_50_tickets_by_webhook_posts_one_summary_per_till_equal_to_its_z_report(
    ledger: Any, live_server: Any, tills: tuple[PrysmTill, PrysmTill]
) -> None:
    channel = _channel(ledger, "dakar-prysm")
    hook = f"{live_server.url}/hooks/dakar-prysm/"
    one, two = tills
    rng = random.Random(20261120)
    # Yesterday: a sale at Caisse 1 that a customer brings back today.
    yesterday = one.sell(
        START - timedelta(hours=14), [(*CATALOGUE[0][:3], 2, CATALOGUE[0][3])], [("cash", D(31000))]
    )
    assert one.send(hook, yesterday.events[0]).status_code == 202
    for till in tills:
        till.open(D(20000))
    # Today: 49 sales over both tills, then the return: 50 tickets.
    sold: list[Ticket] = []
    for n in range(1, 50):
        till = tills[n % 2]
        items = [
            (c, s, name, rng.randint(1, 3), price)
            for c, s, name, price in rng.sample(CATALOGUE, rng.randint(1, 3))
        ]
        total = sum((price * qty for _, _, _, qty, price in items), D(0))
        ticket = till.sell(START + timedelta(minutes=11 * n), items, _payments(total, n))
        sold.append(ticket)
        assert till.send(hook, ticket.events[0]).status_code == 202
    voided = sold[16]  # a card sale the cashier voids
    void_event = tills[17 % 2].void(voided, START + timedelta(hours=5))
    assert tills[17 % 2].send(hook, void_event).status_code == 202
    returned = one.refund(yesterday, START + timedelta(hours=6), 0, 1)  # a return on another day
    assert one.send(hook, returned.events[0]).status_code == 202
    assert sum(1 for t in one.tickets + two.tickets if t.at.date() == DAY) == 50

    # Duplicates answered 200, nothing new; forgeries 401.
    assert two.send(hook, sold[0].events[0]).status_code == 200
    assert two.send(hook, sold[2].events[0], secret="guessed").status_code == 401
    assert two.send(hook, sold[2].events[0], timestamp=int(START.timestamp())).status_code == 401  # stale
    tampered = json.dumps(sold[2].events[0]).replace('"card"', '"cash"').encode()
    forged = requests.post(hook, data=tampered, timeout=10, headers={
        "Content-Type": "application/json", "X-Integrator-Timestamp": str(int(datetime.now(UTC).timestamp())),
        "X-Integrator-Signature": "v1=" + "0" * 64})  # fmt: skip
    assert forged.status_code == 401
    assert InboundEvent.objects.get(dedupe_key=sold[0].events[0]["id"]).deliveries == 2

    # Closing: each till counts its drawer; Caisse 1 is 500 francs short.
    for till, short in ((one, D(500)), (two, D(0))):
        event = till.count(START + timedelta(hours=11), till.expected_cash(DAY) - short)
        assert till.send(hook, event).status_code == 202

    sales = Transaction.objects.filter(channel=channel, kind="sale")
    assert sales.count() == 50  # yesterday's + 49
    assert sales.get(external_id=voided.id).document["status"] == "voided"
    refund = Transaction.objects.get(channel=channel, kind="refund")
    assert refund.sale is not None and refund.sale.external_id == yesterday.id and refund.business_date == DAY
    assert (
        not Transaction.objects.filter(channel=channel)
        .exclude(status__in=[TransactionStatus.SUMMARISED, TransactionStatus.POSTED])
        .exists()
    )

    summaries = close_day(channel, DAY)
    assert sorted((s.currency, s.location, s.register) for s in summaries) == [
        ("XOF", "Dakar Plateau", "Caisse 1"), ("XOF", "Dakar Plateau", "Caisse 2"),
    ]  # fmt: skip
    mapping = ZReportMapping.from_settings(PrysmTill.column_mapping())
    for till, short in ((one, D(500)), (two, D(0))):
        # The till's own Z report, read as a clerk would import it.
        parsed = parse_z_report(load_dataset(till.z_report_csv(DAY, "Z1"), "csv"), mapping, currency="XOF")
        [z] = parsed.reports
        expected: dict[str, Decimal] = defaultdict(lambda: D(0))
        for method, amount in z.tenders.items():
            expected[ACCOUNT_OF[method]] += amount
        for method, amount in z.refund_tenders.items():
            expected[ACCOUNT_OF[method]] -= amount
        # The drawer also carries the count's difference (the over/short account takes it).
        expected["1110"] -= short
        summary = next(s for s in summaries if s.register == till.register)
        assert _clearing(summary) == {k: v for k, v in expected.items() if v}, till.register
        assert sum((ln.debit - ln.credit for ln in summary.lines.filter(role="over_short")), D(0)) == short
        assert z.cash["counted"] == z.cash["expected"] - short
        assert Posting.objects.get(entry=summary).state == PostingState.POSTED
    assert BookEntry.objects.filter(kind="summary").count() == 2


def test_a_z_report_file_uploaded_twice_books_once_and_a_malformed_one_imports_nothing(
    ledger: Any, live_server: Any, users: dict[str, Any]
) -> None:
    from integrator.security.tokens import create_token

    channel = _channel(ledger, "dakar-files", register="Caisse 3")
    token = create_token(name="Back office", owner=users["finance_clerk"], scopes=["transactions:write"],
                         actor=users["finance_clerk"]).plaintext  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    till = PrysmTill(secret=SECRET, register="Caisse 3")
    till.open(D(20000))
    a = till.sell(START, [("textiles", "WAX-6", "Pagne", 1, D(15500)), ("homeware", "BOL", "Bol", 2, D(3000))],
                  [("orange_money", D(10000)), ("cash", D(15000))])  # fmt: skip
    till.sell(
        START + timedelta(hours=1), [("homeware", "SAVON-4", "Savon noir", 4, D(1250))], [("wave", D(5000))]
    )
    till.refund(a, START + timedelta(hours=2), 1, 1)
    till.count(START + timedelta(hours=10), till.expected_cash(DAY))
    url = f"{live_server.url}/api/v1/z-reports/"

    def upload(content: bytes, name: str) -> requests.Response:
        return requests.post(
            url,
            data={"channel": str(channel.pk)},
            files={"file": (name, content)},
            headers=headers,
            timeout=30,
        )

    first = upload(till.z_report_xlsx(DAY, "Z7"), "z7.xlsx")
    assert first.status_code == 201, first.text
    assert first.json()["new"] == 1
    again = upload(till.z_report_csv(DAY, "Z7"), "z7.csv")
    assert again.status_code == 200 and (again.json()["new"], again.json()["already_imported"]) == (0, 1)
    bad = till.z_report_csv(DAY, "Z8").replace(b",,,5 000\r\n", b',,,"5 000,5"\r\n')  # Wave: 5000.5 francs
    assert bad != till.z_report_csv(DAY, "Z8")
    refused = upload(bad, "z8.csv")
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["row"] == 6 and "5000.5 has more decimals than XOF allows" in error["messages"][0]
    assert InboundEvent.objects.filter(channel=channel).count() == 1  # Z8 imported nothing
    assert Transaction.objects.filter(channel=channel, kind="sale").count() == 1
    [summary] = close_day(channel, DAY)
    # Z7 by hand: Orange Money 10,000; cash 15,000 handed - 3,500 change - 3,000 refunded = 8,500;
    # Wave 5,000. The drawer was counted exactly: nothing over or short.
    assert _clearing(summary) == {"1120": D(10000), "1110": D(8500), "1130": D(5000)}
    assert summary.register == "Caisse 3"
