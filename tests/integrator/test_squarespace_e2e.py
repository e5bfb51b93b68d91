"""Squarespace end to end over real HTTP: the fake site sends signed order notifications to our
live server, which reads the order and its transactions Document back from the site and books them
once; retries are duplicates, forgeries get 401, and a back-fill of the same order changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from connectors.sandbox.squarespace import SquarespaceSandbox, sign_notification
from integrator.choices import TransactionStatus
from integrator.models import BookEntry, Channel, InboundEvent, JournalEntry, MappingSet, Transaction
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import process_received_events
from tests.conftest import standard_rules
from tests.fixtures.squarespace import OLD_SECRET, SECRET, pair

# The channels sell in US dollars into books kept in pounds: the reference rates convert them.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reference_rates")]

D = Decimal


@pytest.fixture
def site() -> Iterator[SquarespaceSandbox]:
    with SquarespaceSandbox() as sandbox:
        yield sandbox


def _channel(ledger: Any, site: SquarespaceSandbox, slug: str = "sqsp-ny") -> Channel:
    channel = create_channel(
        platform="squarespace", name="Kente & Clay New York", slug=slug, currency="USD",
        ledger_connection=ledger, webhook_secrets=[SECRET, OLD_SECRET], base_url=site.url,
        credentials={"api_key": site.api_key}, timezone="America/New_York",
    )  # fmt: skip
    mapping = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(mapping, effective_from=date(2020, 1, 1), rules=standard_rules(ledger)))
    return channel


def _journal(txn: Transaction) -> dict[str, tuple[Decimal, Decimal]]:
    (entry,) = JournalEntry.objects.filter(transaction=txn)
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for line in entry.lines.select_related("account"):
        debit, credit = sums.get(line.account.code, (D(0), D(0)))
        sums[line.account.code] = (debit + line.debit, credit + line.credit)
    return sums


def test_worked_example_sale_then_partial_refund_to_the_cent(
    ledger: Any, live_server: Any, site: SquarespaceSandbox
) -> None:
    channel = _channel(ledger, site)
    url = f"{live_server.url}/hooks/{channel.slug}/"
    order = site.place_order(*pair("two_taxes"))
    created = site.notification("order.create", order["id"])
    assert site.send_webhook(url, created, SECRET).status_code == 202

    sale = Transaction.objects.get(kind="sale")
    # By hand (contra discounts): runners 90.00 less 9.00, shea 12.50 less 1.25, shipping 8.00;
    # NY State 4 %: 3.24 + 0.45 + 0.32, NYC 4.875 %: 3.95 + 0.55 + 0.39 = 8.90; card 109.15.
    assert (sale.external_id, sale.total, sale.tax_total) == (order["id"], D("109.15"), D("8.90"))
    assert sale.status == TransactionStatus.POSTED
    # Squarespace publishes no payouts, so the processing fee (3.47) is booked with the sale:
    # clearing keeps what the processor will pay out, 109.15 - 3.47.
    assert _journal(sale) == {
        "1100": (D("109.15"), D("3.47")),  # card clearing (Stripe), less its fee
        "6100": (D("3.47"), D(0)),  # the processing fee
        "4200": (D("9.00") + D("1.25"), D(0)),  # HARVEST10, contra-revenue
        "4010": (D(0), D("90.00") + D("12.50")),
        "4100": (D(0), D("8.00")),
        "2100": (D(0), D("4.01") + D("4.89")),  # both taxes map to sales tax payable
    }
    assert sale.payments.get().fee == D("3.47")

    # Squarespace retries the same notification: 200, nothing new.
    assert site.send_webhook(url, created, SECRET).status_code == 200
    assert (InboundEvent.objects.count(), Transaction.objects.count(), BookEntry.objects.count()) == (1, 1, 1)

    # 30.00 refunded: order.update REFUNDED; the refund is read from the Transactions API.
    refund = site.refund(order["id"], "30.00")
    assert (
        site.send_webhook(
            url, site.notification("order.update", order["id"], update="REFUNDED"), SECRET
        ).status_code
        == 202
    )
    back = Transaction.objects.get(kind="refund")
    assert (back.external_id, back.total, back.sale_id, back.status) == (
        refund["id"],
        D("30.00"),
        sale.pk,
        TransactionStatus.POSTED,
    )
    # Squarespace does not say what the 30.00 was for: returns, against the card.
    assert _journal(back) == {"4300": (D("30.00"), D(0)), "1100": (D(0), D("30.00"))}
    sale.refresh_from_db()
    assert sale.revision == 1 and BookEntry.objects.count() == 2


def test_forged_and_tampered_notifications_get_401(
    ledger: Any, live_server: Any, site: SquarespaceSandbox
) -> None:
    channel = _channel(ledger, site)
    url = f"{live_server.url}/hooks/{channel.slug}/"
    order = site.place_order(*pair("jpy"))
    notification = site.notification("order.create", order["id"])
    assert site.send_webhook(url, notification, "ab" * 32).status_code == 401
    body = json.dumps(notification).encode()
    signature = sign_notification(body, SECRET)
    tampered = body.replace(order["id"].encode(), b"6571f2a9c3e84d1b2a7f9e01")
    headers = {"Content-Type": "application/json", "Squarespace-Signature": signature}
    assert requests.post(url, data=tampered, headers=headers, timeout=10).status_code == 401
    # The secret's text as the key (not hex-decoded) is not Squarespace's signature either.
    text_keyed = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert (
        requests.post(
            url, data=body, headers={**headers, "Squarespace-Signature": text_keyed}, timeout=10
        ).status_code
        == 401
    )
    assert InboundEvent.objects.count() == 0
    assert site.send_webhook(url, notification, OLD_SECRET).status_code == 202  # rotation


def test_notification_and_back_fill_of_the_same_order_give_one_transaction(
    ledger: Any, live_server: Any, site: SquarespaceSandbox
) -> None:
    channel = _channel(ledger, site)
    url = f"{live_server.url}/hooks/{channel.slug}/"
    order = site.place_order(*pair("gift_card"))
    assert site.send_webhook(url, site.notification("order.create", order["id"]), SECRET).status_code == 202
    missed = site.place_order(*pair("two_taxes"))  # its notification never came
    out = io.StringIO()
    call_command(
        "sync", channel.slug, "--since", (timezone.now() - timedelta(days=1)).date().isoformat(), stdout=out
    )
    assert "2 new records" in out.getvalue()  # pulled copies are keyed on the order, not the notification
    process_received_events()
    sales = Transaction.objects.filter(kind="sale")
    assert sorted(sales.values_list("external_id", flat=True)) == sorted([order["id"], missed["id"]])
    assert all(t.revision == 1 and t.status == TransactionStatus.POSTED for t in sales)
    assert BookEntry.objects.count() == 2
    # The gift card sold is a liability and the redeemed one is not cash.
    gift = sales.get(external_id=order["id"])
    assert _journal(gift)["2200"] == (D("25.00"), D("50.00"))
