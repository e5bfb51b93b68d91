"""WooCommerce end to end over real HTTP: the fake store pings, then delivers signed webhooks to our
live server, which fetches refunds back from the store and books everything once; forgeries get
401; a back-fill and the scheduled completeness pull close the gaps a disabled hook leaves."""

from __future__ import annotations

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

from connectors.sandbox.woocommerce import WooCommerceSandbox, sign_body, wp_json_encode
from integrator.choices import TransactionStatus
from integrator.models import BookEntry, Channel, InboundEvent, JournalEntry, MappingSet, Transaction
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import process_received_events
from integrator.services.sync import sync_due_channels
from tests.conftest import standard_rules
from tests.fixtures.woocommerce import OLD_SECRET, SECRET, load

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


@pytest.fixture
def store() -> Iterator[WooCommerceSandbox]:
    with WooCommerceSandbox() as sandbox:
        yield sandbox


def _channel(ledger: Any, store: WooCommerceSandbox, slug: str = "woo-gb") -> Channel:
    channel = create_channel(
        platform="woocommerce", name="Kente & Clay web shop", slug=slug, currency="GBP",
        ledger_connection=ledger, webhook_secrets=[SECRET, OLD_SECRET], base_url=store.url,
        credentials={"consumer_key": store.consumer_key, "consumer_secret": store.consumer_secret},
    )  # fmt: skip
    mapping = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(mapping, effective_from=date(2020, 1, 1), rules=standard_rules(ledger)))
    return channel


def _journal(txn: Transaction) -> dict[str, tuple[Decimal, Decimal]]:
    """Debit and credit per account code of the transaction's journal entry."""
    (entry,) = JournalEntry.objects.filter(transaction=txn)
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for line in entry.lines.select_related("account"):
        debit, credit = sums.get(line.account.code, (D(0), D(0)))
        sums[line.account.code] = (debit + line.debit, credit + line.credit)
    return sums


def test_worked_example_sale_then_partial_refund_to_the_penny(
    ledger: Any, live_server: Any, store: WooCommerceSandbox
) -> None:
    channel = _channel(ledger, store)
    url = f"{live_server.url}/hooks/{channel.slug}/"
    # Creating a hook pings it; the ping is answered 200 and kept for the admin, never booked.
    store.add_webhook(url, "order.created", SECRET)
    store.add_webhook(url, "order.updated", SECRET)
    channel.refresh_from_db()
    assert channel.settings["webhook_handshake"]["webhook_id"] == "2"
    assert InboundEvent.objects.count() == 0

    order = store.create_order(load("order_two_vat_rates_gbp"))
    assert [d.status for d in store.deliveries] == [202]
    sale = Transaction.objects.get(kind="sale")
    # By hand (contra discounts): scarves 2 x 40.00 = 80.00 less 8.00 coupon, VAT 20 % 14.40; sling
    # 30.00 less 3.00, VAT 5 % 1.35; delivery 5.00 + 1.00 VAT; card 120.75.
    assert (sale.total, sale.tax_total, sale.status) == (D("120.75"), D("16.75"), TransactionStatus.POSTED)
    assert _journal(sale) == {
        "1100": (D("120.75"), D(0)),  # card clearing
        "4200": (D("8.00") + D("3.00"), D(0)),  # coupon, contra-revenue
        "4010": (D(0), D("80.00") + D("30.00")),  # goods before the coupon
        "4100": (D(0), D("5.00")),  # delivery
        "2100": (D(0), D("14.40") + D("1.35") + D("1.00")),  # VAT 20 % goods, 5 % goods, 20 % delivery
    }

    # Delivered again (a store re-save, a manual "deliver"): 200, nothing new.
    store.deliver("order.created", order["id"])
    assert store.deliveries[-1].status == 200
    assert (InboundEvent.objects.count(), Transaction.objects.count(), BookEntry.objects.count()) == (1, 1, 1)
    assert InboundEvent.objects.get().deliveries == 2

    # One scarf comes back and is restocked: WooCommerce sends order.updated; we read the refund.
    refund = load("refund_partial_line_gbp")
    scarf_line = next(li for li in order["line_items"] if li["sku"] == "KENTE-SCARF-GLD")
    refund["line_items"][0]["meta_data"][0]["value"] = str(scarf_line["id"])
    made = store.refund_order(order["id"], refund, restock=True)
    assert store.deliveries[-1].status == 202
    back = Transaction.objects.get(kind="refund")
    # 1 scarf: 40.00 less its 4.00 share of the coupon = 36.00, VAT 20 % 7.20; 43.20 back to the card.
    assert (back.external_id, back.total, back.tax_total) == (str(made["id"]), D("43.20"), D("7.20"))
    assert back.sale_id == sale.pk and back.status == TransactionStatus.POSTED
    assert back.document["restock"] is True
    assert _journal(back) == {
        "4300": (D("40.00"), D(0)),  # returns, before the coupon
        "4200": (D(0), D("4.00")),  # the coupon's share undone
        "2100": (D("7.20"), D(0)),
        "1100": (D(0), D("43.20")),
    }
    sale.refresh_from_db()
    assert sale.revision == 1  # the order's new date_modified changed nothing in the sale itself
    assert BookEntry.objects.count() == 2


def test_forged_and_tampered_deliveries_are_refused(
    ledger: Any, live_server: Any, store: WooCommerceSandbox
) -> None:
    channel = _channel(ledger, store)
    url = f"{live_server.url}/hooks/{channel.slug}/"
    body = wp_json_encode(load("order_two_vat_rates_gbp"))
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created"}
    forged = requests.post(
        url, data=body, headers={**headers, "X-WC-Webhook-Signature": sign_body(body, "guess")}, timeout=10
    )
    tampered_body = body.replace(b'"total":"120.75"', b'"total":"12.75"')
    tampered = requests.post(
        url,
        data=tampered_body,
        headers={**headers, "X-WC-Webhook-Signature": sign_body(body, SECRET)},
        timeout=10,
    )
    unsigned = requests.post(url, data=body, headers=headers, timeout=10)
    assert (forged.status_code, tampered.status_code, unsigned.status_code) == (401, 401, 401)
    good = requests.post(
        url, data=body, headers={**headers, "X-WC-Webhook-Signature": sign_body(body, OLD_SECRET)}, timeout=10
    )
    assert good.status_code == 202  # the previous secret still works during a rotation
    assert InboundEvent.objects.count() == 1


def test_webhook_and_back_fill_of_the_same_order_give_one_transaction(
    ledger: Any, live_server: Any, store: WooCommerceSandbox
) -> None:
    channel = _channel(ledger, store)
    store.add_webhook(f"{live_server.url}/hooks/{channel.slug}/", "order.created", SECRET)
    delivered = store.create_order(load("order_xof_fee") | {"currency": "GBP", "total": "37670.00"})
    quiet = store.create_order(load("order_multicurrency_eur"), deliver=False)  # no hook for it yet
    out = io.StringIO()
    call_command(
        "sync", channel.slug, "--since", (timezone.now() - timedelta(days=1)).date().isoformat(), stdout=out
    )
    assert "1 new records, 1 already known" in out.getvalue()
    process_received_events()
    assert sorted(Transaction.objects.values_list("external_id", flat=True)) == sorted(
        [str(delivered["id"]), str(quiet["id"])]
    )
    # The webhook for the back-filled order arrives late: it is the same revision, a duplicate.
    store.deliver("order.created", quiet["id"])
    assert store.deliveries[-1].status == 200
    assert Transaction.objects.filter(kind="sale").count() == 2 and BookEntry.objects.count() == 2


def test_a_hook_disabled_for_an_hour_loses_nothing(
    ledger: Any, live_server: Any, store: WooCommerceSandbox
) -> None:
    channel = _channel(ledger, store)
    url = f"{live_server.url}/hooks/{channel.slug}/"
    store.add_webhook(url, "order.created", SECRET)
    template = load("order_two_vat_rates_gbp")
    first = store.create_order(template)
    assert store.deliveries[-1].status == 202

    # Our endpoint stops answering for this channel (paused while the admin fixes something):
    # WooCommerce counts the failures and disables the hook on the seventh in a row.
    Channel.objects.filter(pk=channel.pk).update(active=False)
    failed = [store.create_order(template) for _ in range(7)]
    assert [d.status for d in store.deliveries[1:]] == [404] * 7
    assert store.hooks[1].status == "disabled"
    Channel.objects.filter(pk=channel.pk).update(active=True)
    # Orders keep coming while the hook is disabled: WooCommerce sends nothing at all.
    silent = [store.create_order(template) for _ in range(3)]
    assert len(store.deliveries) == 8
    missed = [str(o["id"]) for o in failed + silent]
    assert Transaction.objects.count() == 1

    # An hour later the scheduler's completeness pull runs (every 15 minutes for WooCommerce).
    assert sync_due_channels(now=timezone.now() + timedelta(hours=1)) == 1
    process_received_events()
    booked = list(Transaction.objects.filter(kind="sale").values_list("external_id", flat=True))
    assert sorted(booked) == sorted([str(first["id"]), *missed])  # each missed order, once
    assert all(t.status == TransactionStatus.POSTED for t in Transaction.objects.all())
    assert BookEntry.objects.count() == 11
    events = InboundEvent.objects.count()
    assert events == 11  # the first order's pulled copy was the same revision as its webhook

    # The next scheduled pull overlaps the last one: nothing is booked twice.
    assert sync_due_channels(now=timezone.now() + timedelta(hours=2)) == 1
    process_received_events()
    assert (InboundEvent.objects.count(), Transaction.objects.count(), BookEntry.objects.count()) == (
        11,
        11,
        11,
    )

    # The admin re-enables the hook and WooCommerce delivers one of the missed orders late.
    store.hooks[1].status = "active"
    store.deliver("order.created", int(missed[-1]))
    assert store.deliveries[-1].status == 200  # a duplicate of the pulled revision
    assert (InboundEvent.objects.count(), Transaction.objects.count(), BookEntry.objects.count()) == (
        11,
        11,
        11,
    )
    assert json.loads(InboundEvent.objects.get(dedupe_key__startswith=f"order:{missed[-1]}:").body)[
        "id"
    ] == int(missed[-1])
