"""PayPal end to end over real HTTP: the PayPal sandbox sends signed webhooks to the live server,
the spine books them through the built-in ledger; duplicates produce nothing new; forged and
tampered deliveries are refused 401; a webhook and a back-fill of the same order are one
transaction."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command

from connectors.sandbox.paypal import PayPalSandbox, rogue_pki
from connectors.sources.paypal import signature
from integrator.choices import TransactionStatus
from integrator.models import BookEntry, Channel, InboundEvent, JournalEntry, MappingSet, Transaction
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from tests.conftest import standard_rules
from tests.fixtures import paypal as fx

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


@pytest.fixture(autouse=True)
def cold_certificates() -> Iterator[None]:
    signature.clear_certificate_cache()
    yield
    signature.clear_certificate_cache()


@pytest.fixture
def sandbox() -> Iterator[PayPalSandbox]:
    with PayPalSandbox() as server:
        yield fx.seed(server)


def paypal_channel(ledger: Any, sandbox: PayPalSandbox, slug: str = "paypal-gb") -> Channel:
    channel = create_channel(
        platform="paypal", name="PayPal UK", slug=slug, currency="GBP", ledger_connection=ledger,
        base_url=sandbox.url, credentials=fx.credentials(sandbox), settings=fx.channel_settings(sandbox),
        timezone="Europe/London",
    )  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=standard_rules(ledger)))
    return channel


def lines_by_account(entry: JournalEntry) -> dict[str, tuple[Decimal, Decimal]]:
    """(debit, credit) per account code of one journal entry."""
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for ln in entry.lines.select_related("account"):
        debit, credit = totals.get(ln.account.code, (D(0), D(0)))
        totals[ln.account.code] = (debit + ln.debit, credit + ln.credit)
    return totals


def test_worked_example_order_then_partial_refund_to_the_penny(
    ledger: Any, sandbox: PayPalSandbox, live_server: Any
) -> None:
    """Order 5O190127TN364715T (see the parse test for the document), booked by hand:

    Dr 1100 PayPal clearing 108.25   Dr 4200 Discounts 9.50 (8.00 + 1.50)
    Cr 4010 Sales 95.00 (80.00 + 15.00)   Cr 2100 VAT 17.75 (16.00 + 0.75 + 1.00)   Cr 4100 Shipping 5.00
    Debits 117.75 = credits 117.75. The capture itself books nothing (it is the sale's tender).
    Then the 30.00 refund: Dr 4300 Returns 30.00, Cr 1100 PayPal clearing 30.00.
    """
    paypal_channel(ledger, sandbox)
    url = f"{live_server.url}/hooks/paypal-gb/"
    assert (
        sandbox.send_webhook(url, fx.load("event_capture_completed_gbp.json"), fx.WEBHOOK_ID).status_code
        == 202
    )
    sale = Transaction.objects.get(kind="sale")
    assert (sale.external_id, sale.total, sale.tax_total, sale.status) == (
        fx.ORDER_ID,
        D("108.25"),
        D("17.75"),
        TransactionStatus.POSTED,
    )
    assert lines_by_account(JournalEntry.objects.get(transaction=sale)) == {
        "1100": (D("108.25"), D("0")),
        "4200": (D("9.50"), D("0")),
        "4010": (D("0"), D("95.00")),
        "2100": (D("0"), D("17.75")),
        "4100": (D("0"), D("5.00")),
    }
    payment = Transaction.objects.get(kind="payment")
    assert (payment.external_id, payment.status, payment.status_reasons) == (
        fx.CAPTURE_ID,
        TransactionStatus.POSTED,
        ["nothing to post for this document"],
    )

    assert (
        sandbox.send_webhook(url, fx.load("event_capture_refunded_gbp.json"), fx.WEBHOOK_ID).status_code
        == 202
    )
    refund = Transaction.objects.get(kind="refund")
    assert (refund.total, refund.sale_id, refund.status) == (D("30.00"), sale.pk, TransactionStatus.POSTED)
    assert lines_by_account(JournalEntry.objects.get(transaction=refund)) == {
        "4300": (D("30.00"), D("0")),
        "1100": (D("0"), D("30.00")),
    }
    assert BookEntry.objects.count() == 2


def test_duplicates_are_answered_200_with_nothing_new(
    ledger: Any, sandbox: PayPalSandbox, live_server: Any
) -> None:
    paypal_channel(ledger, sandbox)
    url = f"{live_server.url}/hooks/paypal-gb/"
    event = fx.load("event_capture_completed_gbp.json")
    assert sandbox.send_webhook(url, event, fx.WEBHOOK_ID).status_code == 202
    counts = (Transaction.objects.count(), JournalEntry.objects.count(), BookEntry.objects.count())
    # PayPal's retry of the same event: a new transmission (new id, time and signature), same event id.
    second = sandbox.send_webhook(url, event, fx.WEBHOOK_ID)
    assert second.status_code == 200 and second.json()["status"] == "duplicate"
    assert (Transaction.objects.count(), JournalEntry.objects.count(), BookEntry.objects.count()) == counts
    assert InboundEvent.objects.get().deliveries == 2


def test_forged_and_tampered_deliveries_are_refused_401(
    ledger: Any, sandbox: PayPalSandbox, live_server: Any
) -> None:
    paypal_channel(ledger, sandbox)
    url = f"{live_server.url}/hooks/paypal-gb/"
    event = fx.load("event_capture_completed_gbp.json")
    tampered = sandbox.send_webhook(url, event, fx.WEBHOOK_ID, tamper=lambda b: b.replace(b"108.25", b"1.08"))
    assert tampered.status_code == 401 and "does not match" in tampered.json()["error"]
    wrong_hook = sandbox.send_webhook(url, event, "SOMEONEELSESHOOK01")
    assert wrong_hook.status_code == 401
    forger = rogue_pki()  # PayPal's name, a root nobody trusts, served from an address not PayPal's
    with PayPalSandbox(pki=forger) as attacker:
        assert attacker.send_webhook(url, event, fx.WEBHOOK_ID).status_code == 401
        assert attacker.requests == []  # its certificate URL was never called
    # The forger's certificate id on the genuine host: unknown there, and PayPal's post-back says no.
    spoofed = sandbox.send_webhook(url, event, fx.WEBHOOK_ID, pki=forger,
                                   cert_url=f"{sandbox.url}/v1/notifications/certs/{forger.cert_id}")  # fmt: skip
    assert spoofed.status_code == 401 and "FAILURE" in spoofed.json()["error"]
    unsigned = sandbox.send_webhook(url, event, fx.WEBHOOK_ID, drop=["PAYPAL-TRANSMISSION-SIG"])
    assert unsigned.status_code == 401
    assert InboundEvent.objects.count() == 0 and Transaction.objects.count() == 0


def test_webhook_and_back_fill_of_the_same_order_give_one_transaction(
    ledger: Any, sandbox: PayPalSandbox, live_server: Any
) -> None:
    paypal_channel(ledger, sandbox)
    url = f"{live_server.url}/hooks/paypal-gb/"
    assert (
        sandbox.send_webhook(url, fx.load("event_capture_completed_gbp.json"), fx.WEBHOOK_ID).status_code
        == 202
    )
    assert (
        sandbox.send_webhook(url, fx.load("event_capture_refunded_gbp.json"), fx.WEBHOOK_ID).status_code
        == 202
    )
    before = {(t.kind, t.external_id): t.revision for t in Transaction.objects.all()}
    out = io.StringIO()
    call_command("sync", "paypal-gb", "--since", "2026-11-19", stdout=out)
    assert "new records" in out.getvalue()
    for key in [("sale", fx.ORDER_ID), ("payment", fx.CAPTURE_ID), ("refund", fx.REFUND_ID)]:
        txn = Transaction.objects.get(kind=key[0], external_id=key[1])
        assert txn.revision == before[key] == 1  # the pulled copy changed nothing
        assert {e.source for e in txn.events.all()} == {"webhook", "pull"}
    assert Transaction.objects.filter(kind="sale", external_id=fx.ORDER_ID).count() == 1
    assert JournalEntry.objects.filter(transaction__external_id=fx.ORDER_ID).count() == 1


def test_a_dispute_opened_then_won_is_undone_and_a_lost_one_booked_once(
    ledger: Any, sandbox: PayPalSandbox, live_server: Any
) -> None:
    """Opened: Dr 6200 Adjustments 62.50, Cr 1100 PayPal clearing 62.50 (PayPal holds the money).
    Won: the same transaction's new revision books nothing and the first entry is reversed.
    Lost 45.00, reported twice (the reversal and the dispute's outcome): one transaction."""
    paypal_channel(ledger, sandbox)
    url = f"{live_server.url}/hooks/paypal-gb/"
    assert sandbox.send_webhook(url, fx.load("event_dispute_created.json"), fx.WEBHOOK_ID).status_code == 202
    opened = Transaction.objects.get(kind="dispute")
    assert lines_by_account(JournalEntry.objects.get(transaction=opened)) == {
        "6200": (D("62.50"), D("0")),
        "1100": (D("0"), D("62.50")),
    }
    assert (
        sandbox.send_webhook(url, fx.load("event_dispute_resolved_won.json"), fx.WEBHOOK_ID).status_code
        == 202
    )
    won = Transaction.objects.get(kind="dispute")
    assert (won.revision, won.document["status"]) == (2, "won")
    entries = JournalEntry.objects.filter(transaction=won)
    assert {e.kind for e in entries} == {"transaction", "reversal"}
    net: dict[str, Decimal] = {}
    for entry in entries:
        for code, (debit, credit) in lines_by_account(entry).items():
            net[code] = net.get(code, D(0)) + debit - credit
    assert net == {"6200": D("0"), "1100": D("0")}

    assert sandbox.send_webhook(url, fx.load("event_capture_reversed.json"), fx.WEBHOOK_ID).status_code == 202
    lost_event = sandbox.event(
        "CUSTOMER.DISPUTE.RESOLVED", fx.load("dispute_lost.json"), resource_type="dispute"
    )
    assert sandbox.send_webhook(url, lost_event, fx.WEBHOOK_ID).status_code == 202
    lost = Transaction.objects.get(kind="dispute", external_id=fx.LOST_CAPTURE_ID)
    assert (lost.total, lost.document["status"], lost.document["metadata"]["source"]) == (
        D("45.00"),
        "lost",
        "dispute",
    )
    current = JournalEntry.objects.filter(transaction=lost, superseded=False, kind="transaction").get()
    assert lines_by_account(current) == {"6200": (D("45.00"), D("0")), "1100": (D("0"), D("45.00"))}
