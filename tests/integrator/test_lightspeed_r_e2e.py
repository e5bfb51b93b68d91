"""Lightspeed Retail (R-Series) end to end over real HTTP: the back-fill command polls the Lightspeed
sandbox (OAuth refresh, leaky bucket, cursor), the worker books the sales, polling again books
nothing twice, and the day closes into one summary per register equal to the registers' own
closing totals (RegisterCount ``calculated`` per payment type)."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.test import Client

from connectors.sandbox.lightspeed_r import LightspeedRSandbox
from connectors.sources.lightspeed_r.sales import payment_method
from integrator.choices import EntryKind, PostingMode, RuleKind, TransactionStatus
from integrator.models import Channel, LedgerAccount, MappingSet, Transaction
from integrator.services.channels import create_channel
from integrator.services.closing import close_day
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.conftest import standard_rules
from tests.fixtures import lightspeed_r as fx

# The channels sell in US dollars into books kept in pounds: the reference rates convert them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_rates")]

DAY = date(2026, 11, 26)
ACCOUNTS = {"cash": "1110", "card": "1100", "mpesa": "1120"}
FLOAT = Decimal("150")


def _channel(ledger: Any, shop: LightspeedRSandbox) -> Channel:
    mpesa = LedgerAccount.objects.create(connection=ledger, code="1120", name="M-Pesa clearing", type="asset")
    channel = create_channel(
        platform="lightspeed_r", name="Lightspeed Vancouver", slug="ls-van", currency="CAD", ledger_connection=ledger,
        base_url=shop.url, posting_mode=PostingMode.DAILY_SUMMARY, timezone="UTC",
        credentials={"client_id": shop.client_id, "client_secret": shop.client_secret, "refresh_token": shop.refresh_token},
        settings={"account_id": fx.ACCOUNT, "token_url": f"{shop.url}/auth/oauth/token"},
    )  # fmt: skip
    rules = [{"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "mpesa", "account": mpesa}]
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(
        create_version(ms, effective_from=date(2020, 1, 1), rules=rules + standard_rules(ledger))
    )
    return channel


def _register_totals(shop: LightspeedRSandbox) -> dict[tuple[str, str], Decimal]:
    """The registers' own closing totals, read from Lightspeed: (register, account) -> calculated
    for the day's sales (the cash drawer's opening float taken off)."""
    answer = requests.get(
        f"{shop.url}/API/V3/Account/{fx.ACCOUNT}/RegisterCount.json",
        params={"load_relations": json.dumps(["RegisterCountAmounts", "RegisterCountAmounts.PaymentType"])},
        headers={"Authorization": f"Bearer {shop.access_token}"},
        timeout=10,
    ).json()
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for count in answer["RegisterCount"]:
        for amount in count["RegisterCountAmounts"]["RegisterCountAmount"]:
            method = payment_method(amount["PaymentType"])
            value = Decimal(amount["calculated"]) - (FLOAT if method == "cash" else 0)
            totals[(count["registerID"], ACCOUNTS[method])] += value
    return {k: v for k, v in totals.items() if v}


def test_a_polled_day_of_50_sales_closes_into_one_summary_per_register_equal_to_the_register_counts(
    ledger: Any,
) -> None:
    previous = fx.sale_day(DAY - timedelta(days=1), count=3, first_id=2900)
    tickets = fx.sale_day(DAY)
    returned = fx.return_of(previous[1], "3100", datetime(2026, 11, 26, 18, 30, tzinfo=UTC), "2")
    with LightspeedRSandbox(account_id=fx.ACCOUNT, bucket_size=60, drip_rate=1) as shop:
        for register in fx.REGISTERS:
            shop.add_register(register, fx.SHOP)
        for sale in [*previous, *tickets, returned]:
            shop.add_sale(sale)
        for register in fx.REGISTERS:
            shop.close_register(register, f"7{register}", open_time="2026-11-26T14:00:00+00:00",
                                close_time="2026-11-26T23:59:00+00:00", opening_float=str(FLOAT))  # fmt: skip
        channel = _channel(ledger, shop)
        out = io.StringIO()
        call_command("sync", "ls-van", "--since", "2026-11-24", stdout=out)
        process_received_events()
        assert "56 new records" in out.getvalue()  # 54 sales and returns, 2 register counts
        booked = Transaction.objects.count()
        assert booked == 3 + 50 + 1 + 2
        # Polling again (the scheduler does it every 15 minutes) books nothing twice.
        again = io.StringIO()
        call_command("sync", "ls-van", "--since", "2026-11-24", stdout=again)
        process_received_events()
        assert "0 new records, 56 already known" in again.getvalue()
        assert Transaction.objects.count() == booked
        # There is no webhook to forge: anything posted to the channel's hook is refused.
        hook = Client().post("/hooks/ls-van/", {"saleID": "1"}, content_type="application/json")
        assert hook.status_code == 401
        assert shop.overflows == 0 and shop.token_requests == 1
        totals = _register_totals(shop)
        channel.refresh_from_db()
        assert channel.credentials["refresh_token"] == shop.refresh_token  # the rotated token was kept
    void = Transaction.objects.get(kind="sale", external_id=tickets[13]["saleID"])
    assert void.status == TransactionStatus.POSTED and void.status_reasons == [
        "nothing to post for this document"
    ]
    refund = Transaction.objects.get(kind="refund")
    assert refund.sale.external_id == previous[1]["saleID"] and refund.business_date == DAY
    summaries = close_day(channel, DAY)
    run_outbox()
    assert sorted((s.currency, s.location, s.register) for s in summaries) == [
        ("CAD", "1", "1"),
        ("CAD", "1", "2"),
    ]
    ours: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for summary in summaries:
        summary.refresh_from_db()
        assert summary.kind == EntryKind.SUMMARY and summary.posting.state == "posted"
        for line in summary.lines.filter(role="clearing").select_related("account"):
            ours[(summary.register, line.account.code)] += line.debit - line.credit
    assert dict(ours) == totals  # to the cent, per register and payment type
    assert {account for _, account in totals} == {"1100", "1110", "1120"}
    assert close_day(channel, DAY) == [] and close_day(channel, DAY + timedelta(days=1)) == []  # nothing left
