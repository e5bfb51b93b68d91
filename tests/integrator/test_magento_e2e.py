"""Magento end to end over real HTTP: the sandbox store sends Adobe Commerce webhooks to our live
server and answers our polls; the spine books what the store's workflow says, once."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command

from connectors.sandbox.magento import DEFAULT_INTEGRATION, MagentoSandbox, generate_key_pair
from connectors.sources.magento.auth import AdminTokenCache
from integrator.choices import TransactionStatus
from integrator.models import BookEntry, Channel, InboundEvent, JournalEntry, MappingSet, Transaction
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from integrator.services.pipeline import process_received_events
from integrator.services.sync import sync_due_channels
from tests.conftest import standard_rules
from tests.fixtures.magento import load

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
INTEGRATION = {
    "consumer_key": DEFAULT_INTEGRATION.consumer_key,
    "consumer_secret": DEFAULT_INTEGRATION.consumer_secret,
    "access_token": DEFAULT_INTEGRATION.access_token,
    "access_token_secret": DEFAULT_INTEGRATION.access_token_secret,
}


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Any:
    AdminTokenCache.clear()
    yield
    AdminTokenCache.clear()


def _channel(ledger: Any, store: MagentoSandbox, slug: str = "kente-magento", **settings: Any) -> Channel:
    channel = create_channel(
        platform="magento",
        name="Kente & Clay (Magento)",
        slug=slug,
        currency="GBP",
        ledger_connection=ledger,
        webhook_secrets=[store.public_key_pem],
        base_url=store.url,
        credentials=INTEGRATION,
        settings={"requests_per_second": 100, **settings},
        timezone="Europe/London",
    )
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=standard_rules(ledger)))
    return channel


def _lines(txn: Transaction) -> dict[tuple[str, str], Decimal]:
    """The transaction's journal as {(account code, "Dr"/"Cr"): amount}, summed per account."""
    entry = JournalEntry.objects.get(transaction=txn, superseded=False, kind="transaction")
    found: dict[tuple[str, str], Decimal] = {}
    for ln in entry.lines.select_related("account"):
        key = (ln.account.code, "Dr" if ln.debit else "Cr")
        found[key] = found.get(key, D(0)) + (ln.debit or ln.credit)
    return found


def test_worked_example_over_adobe_commerce_webhooks(ledger: Any, live_server: Any) -> None:
    order, memo = load("order_discount_two_rates"), load("creditmemo_partial_line")
    with MagentoSandbox(orders=[order], creditmemos=[memo]) as store:
        _channel(ledger, store)
        url = f"{live_server.url}/hooks/kente-magento/"
        first = store.send_webhook(url, "sales_order_save_after", "order", order)
        assert (first.status_code, first.json(), first.headers["X-Integrator-Delivery"]) == (
            200,
            {"op": "success"},
            "accepted",
        )
        again = store.send_webhook(url, "sales_order_save_after", "order", order)
        assert (again.status_code, again.json(), again.headers["X-Integrator-Delivery"]) == (
            200,
            {"op": "success"},
            "duplicate",
        )
        stranger, _ = generate_key_pair()
        forged = store.send_webhook(url, "sales_order_save_after", "order", order, private_key=stranger)
        tampered_order = load("order_discount_two_rates") | {"base_grand_total": D("1.00")}
        tampered = store.send_webhook(
            url,
            "sales_order_save_after",
            "order",
            tampered_order,
            signed_body=store.webhook_body("sales_order_save_after", "order", order),
        )
        assert (forged.status_code, tampered.status_code) == (401, 401)
        refund_reply = store.send_webhook(url, "sales_order_creditmemo_save_after", "creditmemo", memo)
        assert refund_reply.status_code == 200
    assert InboundEvent.objects.count() == 2 and InboundEvent.objects.get(event_type="order").deliveries == 2
    sale = Transaction.objects.get(kind="sale")
    # Hand calculation (tests/fixtures/magento/README.md): goods 81.00 (VAT 20 %) + 29.25 (VAT 5 %),
    # delivery 4.95 (VAT 20 %); VAT 16.20 + 1.46 + 0.99 = 18.65; total 133.85 paid by card.
    assert (sale.total, sale.tax_total, sale.currency, sale.status) == (
        D("133.85"),
        D("16.20") + D("1.46") + D("0.99"),
        "GBP",
        TransactionStatus.POSTED,
    )
    # The mapping books discounts on their own contra-revenue account: revenue at list price
    # (90.00 + 32.50), the coupon (9.00 + 3.25) as a debit.
    assert _lines(sale) == {
        ("1100", "Dr"): D("133.85"),  # card clearing
        ("4200", "Dr"): D("9.00") + D("3.25"),  # discounts
        ("4010", "Cr"): D("90.00") + D("32.50"),  # revenue (default rule)
        ("2100", "Cr"): D("16.20") + D("1.46") + D("0.99"),  # VAT payable
        ("4100", "Cr"): D("4.95"),  # shipping income
    }
    refund = Transaction.objects.get(kind="refund")
    # One scarf back: 45.00 to returns less its 4.50 of the coupon, VAT 8.10 back, 48.60 off the card.
    assert (refund.total, refund.sale_id, refund.status) == (D("48.60"), sale.pk, TransactionStatus.POSTED)
    assert _lines(refund) == {
        ("4300", "Dr"): D("45.00"),
        ("4200", "Cr"): D("4.50"),
        ("2100", "Dr"): D("8.10"),
        ("1100", "Cr"): D("48.60"),
    }
    assert BookEntry.objects.count() == 2


def test_webhook_and_back_fill_of_the_same_order_make_one_transaction(ledger: Any, live_server: Any) -> None:
    order = load("order_discount_two_rates")
    with MagentoSandbox(orders=[order]) as store:
        _channel(ledger, store)
        url = f"{live_server.url}/hooks/kente-magento/"
        assert store.send_webhook(url, "sales_order_save_after", "order", order).status_code == 200
        # Later the store refunds one scarf: the order has a new version and there is a memo.
        store.put("orders", load("order_discount_two_rates_after_refund"))
        store.put("creditmemos", load("creditmemo_partial_line"))
        out = io.StringIO()
        call_command("sync", "kente-magento", "--since", "2026-11-01", stdout=out)
        assert "2 new records, 0 already known" in out.getvalue()
        process_received_events()
        again = io.StringIO()
        call_command("sync", "kente-magento", "--since", "2026-11-01", stdout=again)
        assert "0 new records, 2 already known" in again.getvalue()
    sale = Transaction.objects.get(kind="sale")
    assert Transaction.objects.filter(kind="sale").count() == 1  # webhook + two pulled versions
    assert sale.revision == 1 and sale.events.count() == 2  # the new version changed nothing booked
    refund = Transaction.objects.get(kind="refund")
    assert (refund.sale_id, refund.total, refund.status) == (sale.pk, D("48.60"), TransactionStatus.POSTED)
    assert BookEntry.objects.count() == 2


def test_core_magento_polled_on_schedule_books_what_the_workflow_says_once(
    ledger: Any, live_server: Any
) -> None:
    pending = load("order_pending")
    with MagentoSandbox(orders=[pending, load("order_multicurrency_eur")]) as store:
        channel = _channel(ledger, store)
        start = datetime(2026, 11, 20, tzinfo=UTC)
        Channel.objects.filter(pk=channel.pk).update(last_synced_at=start)
        now = start + timedelta(minutes=16)
        assert sync_due_channels(now=now) == 1
        process_received_events()
        # The pending order is nothing yet; the EUR order is a GBP sale at Magento's rate.
        assert list(Transaction.objects.values_list("external_id", flat=True)) == ["104"]
        eur = Transaction.objects.get(external_id="104")
        assert (eur.total, eur.currency) == (D("66.00"), "GBP")
        assert eur.document["exchange_rates"] == [{"base": "GBP", "quote": "EUR", "rate": "1.17"}]
        assert eur.document["presentment_total"] == "77.22"
        assert sync_due_channels(now=now + timedelta(minutes=5)) == 0  # not due yet
        # The cheque arrives: the order is invoiced and processing; the next poll books it once.
        # (Magento stamps the save with its own clock: now, in UTC.)
        saved_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        paid = load("order_pending") | {"state": "processing", "status": "processing", "updated_at": saved_at}
        for key in ("total_invoiced", "total_paid"):
            paid[key] = paid[f"base_{key}"] = paid["base_grand_total"]
        store.put("orders", paid)
        assert sync_due_channels(now=datetime.now(UTC) + timedelta(minutes=16)) == 1
        process_received_events()
        assert sync_due_channels(now=datetime.now(UTC) + timedelta(minutes=40)) == 1
        process_received_events()
    cushion = Transaction.objects.get(external_id="107")
    # 50.00 + VAT 10.00 + delivery 4.95 + VAT 0.99 = 65.94, paid by cheque.
    assert (cushion.total, cushion.status, cushion.revision) == (D("65.94"), TransactionStatus.POSTED, 1)
    assert _lines(cushion)[("1100", "Dr")] == D("65.94")
    assert Transaction.objects.count() == 2 and BookEntry.objects.count() == 2
    # Every poll walked Magento's pages; the order and memo searches of each poll were signed.
    assert all(r.header("Authorization").startswith("OAuth ") for r in store.requests)


def test_a_cancelled_order_undoes_a_sale_booked_before_payment(ledger: Any, live_server: Any) -> None:
    booked = load("order_pending") | {"state": "processing", "status": "processing"}
    with MagentoSandbox(orders=[booked]) as store:
        _channel(ledger, store, require_invoice=False)
        url = f"{live_server.url}/hooks/kente-magento/"
        assert store.send_webhook(url, "sales_order_save_after", "order", booked).status_code == 200
        sale = Transaction.objects.get(kind="sale")
        # Booked unpaid (the store books at "processing"): 65.94 stays owed by the customer.
        assert _lines(sale)[("1200", "Dr")] == D("65.94") and sale.status == TransactionStatus.POSTED
        cancelled = load("order_canceled") | {"entity_id": 107, "increment_id": "000000107"}
        cancelled["items"][0]["item_id"] = 707
        cancelled["extension_attributes"]["item_applied_taxes"][0]["item_id"] = 707
        store.put("orders", cancelled)
        assert store.send_webhook(url, "sales_order_save_after", "order", cancelled).status_code == 200
    sale.refresh_from_db()
    assert (sale.revision, sale.document["status"]) == (2, "voided")
    reversal = JournalEntry.objects.get(transaction=sale, kind="reversal")
    assert sum(ln.credit for ln in reversal.lines.filter(account__code="1200")) == D("65.94")
    assert BookEntry.objects.count() == 2  # the sale and its reversal; the voided sale books nothing
