"""Issue 5 end to end: a Shopify sandbox order -> webhook -> our pipeline -> QuickBooks / Xero
sandbox, exactly one document whose total equals the order's; OAuth connect; lock dates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection as db_connection
from django.test import Client

from connectors.sandbox.quickbooks import QuickBooksSandbox
from connectors.sandbox.shopify import ShopifySandbox, generate_orders
from connectors.sandbox.xero import XeroSandbox
from integrator.choices import AccountType, PostingState, RuleKind
from integrator.models import Channel, LedgerAccount, LedgerConnection, MappingSet, Posting, TaxCode
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version
from integrator.services.posting import ledger_target_for
from tests.oauth import consent_url

SECRET = "shpss_e2e"
TOKEN = "shpat_e2e"
TYPES = {t.value for t in AccountType}


def _vat20_in_quickbooks(qbo: QuickBooksSandbox) -> None:
    """Give the sandbox company a 20 % VAT code (its seed has 15 % only)."""
    with qbo.lock:
        qbo.company.entities["TaxRate"]["9"] = {
            "Id": "9",
            "Name": "VAT 20%",
            "RateValue": Decimal("20"),
            "Active": True,
        }
        qbo.company.entities["TaxCode"]["20"] = {"Id": "20", "Name": "VAT 20%", "Active": True, "Taxable": True,
                                                 "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "9"}}]}}  # fmt: skip


def _import_chart(conn: LedgerConnection) -> None:
    target = ledger_target_for(conn)
    for a in target.fetch_accounts():
        LedgerAccount.objects.create(connection=conn, code=a.code, name=a.name,
                                     type=a.type if a.type in TYPES else AccountType.ASSET, remote_id=a.remote_id)  # fmt: skip
    for t in target.fetch_tax_codes():
        TaxCode.objects.create(connection=conn, code=t.code, name=t.name, rate=t.rate, remote_id=t.remote_id)


def _shop_channel(
    conn: LedgerConnection, shop: ShopifySandbox, codes: dict[str, str], tax_code: str, items: dict[str, str]
) -> Channel:
    channel = create_channel(platform="shopify", name="Web shop", slug="shop", currency="GBP", ledger_connection=conn,
                             webhook_secrets=[SECRET], base_url=shop.url, credentials={"access_token": TOKEN},
                             settings={"pull_payouts": False})  # fmt: skip
    acct = {a.code: a for a in LedgerAccount.objects.filter(connection=conn)}
    tax = TaxCode.objects.get(connection=conn, code=tax_code)
    rules = [
        {"kind": RuleKind.REVENUE, "match_field": "default", "match_value": "", "account": acct[codes["revenue"]], "item_ref": items.get("revenue", "")},
        {"kind": RuleKind.SHIPPING, "match_field": "default", "match_value": "", "account": acct[codes["shipping"]], "item_ref": items.get("shipping", "")},
        {"kind": RuleKind.TAX, "match_field": "default", "match_value": "", "account": acct[codes["tax"]], "tax_code": tax},
        {"kind": RuleKind.CLEARING, "match_field": "default", "match_value": "", "account": acct[codes["clearing"]]},
        {"kind": RuleKind.RETURNS, "match_field": "default", "match_value": "", "account": acct[codes["revenue"]], "item_ref": items.get("revenue", "")},
        {"kind": RuleKind.ROUNDING, "match_field": "default", "match_value": "", "account": acct[codes["rounding"]], "item_ref": items.get("rounding", "")},
    ]  # fmt: skip
    ms = MappingSet.objects.create(channel=channel, connection=conn, discount_mode="net")
    activate_version(create_version(ms, effective_from=date(2020, 1, 1), rules=rules))
    return channel


def _paid_order() -> dict[str, Any]:
    return next(o for o in generate_orders(20, seed=3, currency="GBP") if o["financial_status"] == "paid")


QBO_CODES = {"revenue": "4000", "shipping": "4100", "tax": "2200", "clearing": "1210", "rounding": "4900"}
QBO_ITEMS = {"revenue": "1", "shipping": "2", "rounding": "3"}


def _qbo_connection(qbo: QuickBooksSandbox) -> LedgerConnection:
    _vat20_in_quickbooks(qbo)
    conn = LedgerConnection.objects.create(
        platform="quickbooks", name="QuickBooks (sandbox)", functional_currency="GBP", base_url=qbo.url,
        credentials=qbo.credentials(), settings={**qbo.ledger_settings(), "default_customer_ref": "1", "rounding_item_ref": "3"},
    )  # fmt: skip
    _import_chart(conn)
    return conn


@pytest.mark.django_db(transaction=True)
def test_shopify_order_reaches_quickbooks_as_exactly_one_sales_receipt(live_server: Any) -> None:
    order = _paid_order()
    with (
        QuickBooksSandbox(home_currency="GBP") as qbo,
        ShopifySandbox(orders=[order], access_token=TOKEN) as shop,
    ):
        conn = _qbo_connection(qbo)
        _shop_channel(conn, shop, QBO_CODES, "VAT 20%", QBO_ITEMS)
        url = f"{live_server.url}/hooks/shop/"
        assert shop.send_webhook(url, "orders/paid", order, SECRET, event_id="e1").status_code == 202
        assert shop.send_webhook(url, "orders/paid", order, SECRET, event_id="e1").status_code == 200
        assert shop.send_webhook(url, "orders/updated", order, SECRET, event_id="e2").status_code == 202
        receipts = qbo.documents("SalesReceipt")
    assert len(receipts) == 1
    assert Decimal(str(receipts[0]["TotalAmt"])) == Decimal(order["total_price"])
    posting = Posting.objects.get()
    assert posting.state == PostingState.POSTED and posting.remote_id == receipts[0]["Id"]


@pytest.mark.django_db(transaction=True)
def test_shopify_order_reaches_xero_as_one_paid_invoice(live_server: Any) -> None:
    order = _paid_order()
    with XeroSandbox(base_currency="GBP") as xero, ShopifySandbox(orders=[order], access_token=TOKEN) as shop:
        with xero.lock:
            xero.organisation.tax_rates.append({"TaxType": "OUTPUT2", "Name": "VAT 20%", "EffectiveRate": Decimal("20"),
                                       "DisplayTaxRate": Decimal("20"), "Status": "ACTIVE", "CanApplyToRevenue": True,
                                       "TaxComponents": [{"Name": "VAT", "Rate": Decimal("20"), "IsCompound": False}]})  # fmt: skip
        conn = LedgerConnection.objects.create(
            platform="xero", name="Xero (demo company)", functional_currency="GBP", base_url=xero.url,
            credentials=xero.credentials(), settings=xero.ledger_settings(),
        )  # fmt: skip
        _import_chart(conn)
        codes = {a.code for a in LedgerAccount.objects.filter(connection=conn)}
        xero_codes = {"revenue": "200", "shipping": "210", "tax": "820", "clearing": "090", "rounding": "860"}
        missing = {v for v in xero_codes.values() if v not in codes}
        assert not missing, f"sandbox chart lacks {missing}: {sorted(codes)}"
        _shop_channel(conn, shop, xero_codes, "OUTPUT2", {})
        url = f"{live_server.url}/hooks/shop/"
        assert shop.send_webhook(url, "orders/paid", order, SECRET, event_id="x1").status_code == 202
        invoices = xero.documents("Invoices")
    assert len(invoices) == 1
    assert Decimal(str(invoices[0]["Total"])) == Decimal(order["total_price"])
    assert Posting.objects.get().state == PostingState.POSTED


@pytest.mark.django_db(transaction=True)
def test_a_posting_before_the_lock_date_never_reaches_quickbooks(live_server: Any) -> None:
    order = _paid_order()
    with (
        QuickBooksSandbox(home_currency="GBP") as qbo,
        ShopifySandbox(orders=[order], access_token=TOKEN) as shop,
    ):
        conn = _qbo_connection(qbo)
        conn.remote_lock_date = date(2030, 1, 1)
        conn.save()
        _shop_channel(conn, shop, QBO_CODES, "VAT 20%", QBO_ITEMS)
        before = len(qbo.requests_to("POST", "/v3/company/"))
        assert (
            shop.send_webhook(f"{live_server.url}/hooks/shop/", "orders/paid", order, SECRET).status_code
            == 202
        )
        assert len(qbo.requests_to("POST", "/v3/company/")) == before
        assert qbo.documents("SalesReceipt") == []
    posting = Posting.objects.get()
    assert posting.state == PostingState.HELD and "closed up to 2030-01-01" in posting.last_error


@pytest.mark.django_db(transaction=True)
def test_connect_button_runs_the_oauth_flow_against_the_sandbox(live_server: Any) -> None:
    from django.contrib.auth.models import User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from integrator.services.roles import ensure_roles

    admin = User.objects.create_user("ia", password="pw-ia-12345")
    admin.groups.add(ensure_roles()["integration_admin"])
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client = Client()
    client.force_login(admin)
    session = client.session
    session["otp_device_id"] = device.persistent_id  # an MFA-verified session: connecting is privileged
    session.save()
    with QuickBooksSandbox(home_currency="GBP") as qbo:
        creds = qbo.credentials()
        conn = LedgerConnection.objects.create(
            platform="quickbooks", name="QBO", functional_currency="GBP", base_url=qbo.url,
            credentials={"client_id": creds["client_id"], "client_secret": creds["client_secret"]},
            settings=qbo.ledger_settings(),
        )  # fmt: skip
        start = consent_url(client.post(f"/connections/oauth/{conn.pk}/start/"))
        assert start.startswith(qbo.url)
        consent = requests.get(start, allow_redirects=False, timeout=10)
        assert consent.status_code == 302
        back = consent.headers["Location"]
        path = back.split("://", 1)[1].split("/", 1)[1]
        done = client.get("/" + path)
        assert done.status_code == 302
        conn.refresh_from_db()
        assert conn.credentials["realm_id"] == qbo.realm_id and conn.credentials["access_token"]
        assert not conn.needs_reauth
        # Replaying the callback (state already used) is refused.
        again = client.get("/" + path, follow=True)
        assert b"unknown or was already used" in again.content


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_end_to_end_on_postgresql_with_the_real_worker(live_server: Any, monkeypatch: Any) -> None:
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    order = _paid_order()
    db = settings.DATABASES["default"]
    env = {**os.environ, "Q_WORKERS": "1",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db_connection.settings_dict['NAME']}"}  # fmt: skip
    env.pop("REDIS_URL", None)
    with (
        QuickBooksSandbox(home_currency="GBP") as qbo,
        ShopifySandbox(orders=[order], access_token=TOKEN) as shop,
    ):
        conn = _qbo_connection(qbo)
        _shop_channel(conn, shop, QBO_CODES, "VAT 20%", QBO_ITEMS)
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            assert (
                shop.send_webhook(f"{live_server.url}/hooks/shop/", "orders/paid", order, SECRET).status_code
                == 202
            )
            deadline = time.time() + 120
            while time.time() < deadline and not qbo.documents("SalesReceipt"):
                time.sleep(0.5)
            time.sleep(2)
            receipts = qbo.documents("SalesReceipt")
        finally:
            cluster.send_signal(signal.SIGINT)
            cluster.wait(timeout=30)
    assert len(receipts) == 1
    assert Decimal(str(receipts[0]["TotalAmt"])) == Decimal(order["total_price"])
