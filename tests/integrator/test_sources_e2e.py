"""Vendor sources end to end over real HTTP: the vendor's sandbox sends signed webhooks to our
live server, the spine books them; duplicates produce nothing new; forgeries get 401."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectors.sandbox.shopify import ShopifySandbox
from connectors.sandbox.square import SquareSandbox
from connectors.sandbox.stripe import StripeSandbox
from integrator.choices import TransactionStatus
from integrator.models import BookEntry, Channel, InboundEvent, JournalEntry, MappingSet, Transaction
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from tests.conftest import standard_rules
from tests.fixtures import square as square_fixtures

pytestmark = pytest.mark.django_db(transaction=True)

STRIPE_FIXTURES = "tests/fixtures/stripe"


def _channel(ledger: Any, platform: str, slug: str, currency: str, **kw: Any) -> Channel:
    channel = create_channel(
        platform=platform, name=slug, slug=slug, currency=currency, ledger_connection=ledger, **kw
    )
    ms = MappingSet.objects.create(channel=channel, connection=ledger)
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=standard_rules(ledger)))
    return channel


def _stripe_event(name: str) -> dict[str, Any]:
    with open(f"{STRIPE_FIXTURES}/{name}.json", encoding="utf-8") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def test_stripe_charge_webhook_is_booked_once_and_forgeries_refused(ledger: Any, live_server: Any) -> None:
    with StripeSandbox() as stripe:
        with open(f"{STRIPE_FIXTURES}/objects.json", encoding="utf-8") as fh:
            objects = json.load(fh)
        stripe.load(objects["objects"], objects["payouts"])
        _channel(ledger, "stripe", "stripe-gb", "GBP", webhook_secrets=["whsec_test"], base_url=stripe.url,
                 credentials={"secret_key": stripe.secret_key})  # fmt: skip
        url = f"{live_server.url}/hooks/stripe-gb/"
        event = _stripe_event("event_charge_succeeded_gbp")
        first = stripe.send_webhook(url, event, "whsec_test")
        assert first.status_code == 202, first.text
        assert stripe.send_webhook(url, event, "whsec_test").status_code == 200
        assert stripe.send_webhook(url, event, "whsec_wrong").status_code == 401
        assert stripe.send_webhook(url, event, "whsec_test", timestamp=1).status_code == 401
    txn = Transaction.objects.get()
    assert (txn.kind, txn.total, txn.currency) == ("payment", Decimal("45.00"), "GBP")
    assert txn.status == TransactionStatus.POSTED
    assert InboundEvent.objects.get().deliveries == 2
    assert BookEntry.objects.count() == 1


def test_square_order_webhook_fetches_the_order_and_books_the_sale(
    ledger: Any, live_server: Any, reference_rates: Any
) -> None:
    with SquareSandbox() as square:
        square_fixtures.seed(square)
        _channel(ledger, "square", "square-ny", "USD", webhook_secrets=["sig-key-current"], base_url=square.url,
                 credentials={"access_token": square.access_token})  # fmt: skip
        url = f"{live_server.url}/hooks/square-ny/"
        event = square_fixtures.load("order_updated_usd.json")
        assert square.send_webhook(url, event, "sig-key-current").status_code == 202
        assert square.send_webhook(url, event, "sig-key-current").status_code == 200
        assert (
            square.send_webhook(url, event, "sig-key-current", notification_url=url + "x").status_code == 401
        )
    txn = Transaction.objects.get()
    order = square_fixtures.load("order_additive_usd.json")
    assert txn.kind == "sale"
    assert txn.total * 100 == order["total_money"]["amount"]
    entry = JournalEntry.objects.get()
    assert sum(ln.debit for ln in entry.lines.all()) == sum(ln.credit for ln in entry.lines.all())
    assert BookEntry.objects.count() == 1


def test_shopify_webhook_and_back_fill_of_the_same_order_make_one_transaction(
    ledger: Any, live_server: Any, reference_rates: Any
) -> None:
    from django.core.management import call_command

    from connectors.sandbox.shopify import ShopifySandbox
    from tests.fixtures import shopify as shop_fixtures

    order = shop_fixtures.load("order_discount_two_taxes")
    refund = shop_fixtures.load("refund_partial_line")
    with ShopifySandbox(orders=[order], access_token=shop_fixtures.TOKEN) as shop:
        _channel(ledger, "shopify", "shop-ca", "CAD", webhook_secrets=[shop_fixtures.SECRET, shop_fixtures.OLD_SECRET],
                 base_url=shop.url, credentials={"access_token": shop_fixtures.TOKEN},
                 settings={"pull_payouts": False})  # fmt: skip
        url = f"{live_server.url}/hooks/shop-ca/"
        assert (
            shop.send_webhook(url, "orders/paid", order, shop_fixtures.SECRET, event_id="e-1").status_code
            == 202
        )
        assert (
            shop.send_webhook(url, "orders/paid", order, shop_fixtures.SECRET, event_id="e-1").status_code
            == 200
        )
        assert shop.send_webhook(url, "orders/paid", order, "not-the-secret").status_code == 401
        assert shop.send_webhook(url, "refunds/create", refund, shop_fixtures.OLD_SECRET).status_code == 202
        import io

        out = io.StringIO()
        call_command("sync", "shop-ca", "--since", "2020-01-01", stdout=out)
        assert "1 new records" in out.getvalue()
        from integrator.services.pipeline import process_received_events

        process_received_events()
    sale = Transaction.objects.get(kind="sale")
    assert (sale.total, sale.tax_total) == (Decimal("150.74"), Decimal("14.67"))
    assert Transaction.objects.filter(kind="sale").count() == 1  # webhook + pulled order: one transaction
    refund_txn = Transaction.objects.get(kind="refund")
    assert refund_txn.sale_id == sale.pk and refund_txn.total == Decimal("45.36")
    assert refund_txn.status == TransactionStatus.POSTED and sale.status == TransactionStatus.POSTED
    assert BookEntry.objects.count() == 2


def test_a_lost_chargeback_is_booked_once(ledger: Any, live_server: Any) -> None:
    """Issue 10, finding 5: a 60.00 sale disputed and lost (20.00 dispute fee), settled by a payout
    that also carries a 45.00 sale. The dispute document books the chargeback and its fee; the
    payout's dispute line only takes them out of clearing. Chargebacks 60.00 (not 120.00), fees
    20.00 plus the two charges' 0.88 and 1.10, clearing 0, the bank 23.02 (45 - 0.88 + 60 - 1.10 - 80)."""
    import copy

    from django.db.models import Sum

    from integrator.models import BookLine
    from integrator.services.pipeline import process_received_events

    with open(f"{STRIPE_FIXTURES}/objects.json", encoding="utf-8") as fh:
        objects = {o["id"]: o for o in json.load(fh)["objects"]}
    payout = objects["po_1QAnanseGbp9478Pay0001"] | {
        "id": "po_1QChargebackPay00001", "amount": 2302, "balance_transaction": "txn_1QChargebackPayTx001",
    }  # fmt: skip
    payout_txn = objects["txn_1QAnansePayout9478Tx01"] | {
        "id": "txn_1QChargebackPayTx001", "amount": -2302, "net": -2302, "source": payout["id"],
    }  # fmt: skip
    settled = ["txn_3QAnanseGbp4500Txn0001", "txn_3QAnanseGbp6000Txn0001", "txn_3QAnanseDispute6000Wd1"]
    with StripeSandbox() as stripe:
        stripe.load([*objects.values(), payout, payout_txn], {payout["id"]: [*settled, payout_txn["id"]]})
        _channel(ledger, "stripe", "stripe-gb", "GBP", webhook_secrets=["whsec_test"], base_url=stripe.url,
                 credentials={"secret_key": stripe.secret_key})  # fmt: skip
        url = f"{live_server.url}/hooks/stripe-gb/"
        second = copy.deepcopy(_stripe_event("event_charge_succeeded_gbp"))
        second["id"], second["data"]["object"] = (
            "evt_3QChargeback6000Succ",
            objects["ch_3QAnanseGbp6000Chg0001"],
        )
        paid = copy.deepcopy(_stripe_event("event_payout_paid"))
        paid["id"], paid["data"]["object"] = "evt_1QChargebackPoPaid01", payout
        for event in (
            _stripe_event("event_charge_succeeded_gbp"),
            second,
            _stripe_event("event_charge_dispute_created"),
            _stripe_event("event_charge_dispute_funds_withdrawn"),
            paid,
        ):
            answer = stripe.send_webhook(url, event, "whsec_test")
            assert answer.status_code == 202, answer.text
        process_received_events()
    assert not Transaction.objects.exclude(status=TransactionStatus.POSTED).exists()

    def balance(code: str) -> Decimal:
        sums = BookLine.objects.filter(account_code=code).aggregate(d=Sum("debit"), c=Sum("credit"))
        return (sums["d"] or Decimal(0)) - (sums["c"] or Decimal(0))

    assert balance("6200") == Decimal("60.00")  # the chargeback, once
    assert balance("6100") == Decimal("21.98")  # the dispute fee and the two charges' fees
    assert balance("1100") == Decimal("0.00")  # clearing emptied by the payout
    assert balance("1000") == Decimal("23.02")  # the deposit


def test_a_shopify_refund_does_not_make_the_sale_a_new_revision(
    ledger: Any, live_server: Any, reference_rates: Any
) -> None:
    """Issue 10, finding 6: after ``refunds/create``, Shopify sends ``orders/updated`` with
    ``financial_status: partially_refunded`` and the refund inside. Nothing the books carry changed
    on the sale, so it keeps revision 1: no reversal, no second sale document, one refund."""
    from integrator.choices import EntryKind
    from integrator.services.pipeline import process_received_events
    from tests.fixtures import shopify as shop_fixtures

    order = shop_fixtures.load("order_discount_two_taxes")
    refund = shop_fixtures.load("refund_partial_line")
    updated = order | {"financial_status": "partially_refunded", "updated_at": "2024-11-09T09:30:02-05:00"}
    updated["refunds"] = [refund]
    with ShopifySandbox(orders=[updated], access_token=shop_fixtures.TOKEN) as shop:
        _channel(ledger, "shopify", "shop-ca", "CAD", webhook_secrets=[shop_fixtures.SECRET],
                 base_url=shop.url, credentials={"access_token": shop_fixtures.TOKEN},
                 settings={"pull_payouts": False})  # fmt: skip
        url = f"{live_server.url}/hooks/shop-ca/"
        for topic, body, event_id in (
            ("orders/paid", order, "e-1"),
            ("refunds/create", refund, "e-2"),
            ("orders/updated", updated, "e-3"),
        ):
            assert (
                shop.send_webhook(url, topic, body, shop_fixtures.SECRET, event_id=event_id).status_code
                == 202
            )
            process_received_events()
    sale = Transaction.objects.get(kind="sale")
    assert sale.revision == 1 and sale.status == TransactionStatus.POSTED
    assert Transaction.objects.filter(kind="refund").count() == 1
    assert not JournalEntry.objects.filter(kind=EntryKind.REVERSAL).exists()
    assert JournalEntry.objects.filter(transaction=sale).count() == 1
    assert BookEntry.objects.count() == 2  # the sale and the refund, each once
