"""From an empty database to a posted sale, in the browser, on ``make run``'s configuration.

No demo, no shell, no Django admin: the first administrator is created with the setup code the
server printed, enrols an authenticator, sets up a QuickBooks connection (the sandbox company, over
its OAuth consent screen) and a Shopify channel (the sandbox shop), and adds a clerk and a finance
manager. The clerk maps the channel, the manager approves; the Shopify sandbox sends a signed
``orders/paid`` webhook, the real worker journals it and posts exactly one sales receipt to the
QuickBooks sandbox, whose total is the order's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from connectors.sandbox.quickbooks import QuickBooksSandbox
from connectors.sandbox.shopify import ShopifySandbox, generate_orders
from tests.e2e.conftest import save_screenshot
from tests.makerun import totp_now, wait_for

pytestmark = pytest.mark.browser

SHOPIFY_SECRET = "shpss_journey_app_secret"
PASSWORD = "a-long-journey-password-7"
WORKER_TIMEOUT = 120  # bounds a hang; the worker books a sale in about a second
# The clerk's rules, as a file (what the mapping import screen takes): account numbers and the
# 20 % VAT code of the sandbox company, with the QuickBooks items the receipt lines need.
RULES_CSV = """kind,match_field,match_value,account,tax_code,item_ref
revenue,default,,4000,,1
shipping,default,,4100,,2
tax,default,,2200,VAT 20%,
clearing,default,,1210,,
returns,default,,4000,,1
rounding,default,,4900,,3
"""


def enrol_authenticator(page: Any) -> None:
    """Set up an authenticator as the enrolment page asks: the key shown for people who cannot scan."""
    page.wait_for_url(re.compile(r"/security/mfa/enrol/"))
    secret = page.locator("form.login code").inner_text()
    page.get_by_label("Code").fill(totp_now(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()


def todays_paid_order() -> dict[str, Any]:
    """A paid order placed a few minutes ago, without a discount code."""
    orders = generate_orders(40, seed=5, currency="GBP", start=datetime.now(UTC) - timedelta(minutes=5))
    return next(o for o in orders if o["financial_status"] == "paid" and not o["discount_codes"])


def vat20(qbo: QuickBooksSandbox) -> None:
    """The sandbox company's VAT 20 % code (its seed has 15 % only), as a UK company has."""
    from tests.integrator.test_ledgers_e2e import _vat20_in_quickbooks

    _vat20_in_quickbooks(qbo)


def test_from_an_empty_database_to_a_posted_sale(make_run: Any, app_pages: Any, tmp_path: Path) -> None:
    order = todays_paid_order()
    with QuickBooksSandbox(home_currency="GBP") as qbo, ShopifySandbox(orders=[order]) as shop:
        vat20(qbo)
        app = make_run(demo=False)
        pages = app_pages(app)
        code = wait_for(
            lambda: re.search(r"setup code (\S+) ", app.output()), timeout=30, what="the setup code"
        )[1]

        # The first administrator, with the code the server printed, then an authenticator.
        admin = pages.new()
        admin.goto("/")
        expect(admin).to_have_url(re.compile(r"/welcome/$"))
        admin.get_by_label("Setup code").fill(code)
        admin.get_by_label("Username").fill("ama")
        admin.get_by_label("Full name").fill("Ama Mensah")
        admin.get_by_label("Email").fill("ama@example.org")
        admin.get_by_label("Password").fill(PASSWORD)
        admin.get_by_role("button", name="Create the administrator").click()
        enrol_authenticator(admin)
        admin.get_by_role("link", name="Continue").click()

        # A QuickBooks connection, connected through its consent screen.
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Setup").click()
        admin.get_by_role("link", name="Add a ledger").click()
        admin.get_by_role("link", name=re.compile("QuickBooks Online")).click()
        admin.get_by_label(re.compile(r"^Name\b")).fill("QuickBooks UK")
        admin.get_by_label("Currency of the books").fill("GBP")
        admin.get_by_label("QuickBooks address").fill(qbo.url)
        admin.get_by_label("App client id").fill(qbo.tokens.client_id)
        admin.get_by_label("App client secret").fill(qbo.tokens.client_secret)
        admin.get_by_label("Authorisation address").fill(qbo.url + qbo.AUTHORIZE_PATH)
        admin.get_by_label("Token address").fill(qbo.token_url)
        admin.get_by_label("Customer for sales without one").fill("1")
        admin.get_by_label("Rounding item").fill("3")
        admin.get_by_role("button", name="Create the connection").click()
        expect(admin.locator(".messages")).to_contain_text("QuickBooks UK is set up")
        admin.get_by_role("button", name="Connect to QuickBooks Online").click()
        expect(admin.locator(".messages")).to_contain_text("QuickBooks UK is connected")
        admin.get_by_role("button", name="Test connection").click()
        expect(admin.locator(".messages")).to_contain_text("Connected to Sandbox Company_GB_1")
        admin.get_by_role("link", name="Chart of accounts").click()
        admin.get_by_role("button", name="Refresh from the ledger").click()
        expect(admin.locator(".messages")).to_contain_text("added")

        # A Shopify channel posting to it; the webhook address is copied for Shopify's settings.
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Setup").click()
        admin.get_by_role("link", name="Add a channel").click()
        admin.get_by_role("link", name=re.compile("^Shopify")).click()
        admin.get_by_label(re.compile(r"^Name\b")).fill("Online shop")
        admin.get_by_label("Slug").fill("web-shop")
        admin.get_by_label(re.compile(r"^Currency\b(?! of)")).fill("GBP")
        admin.get_by_label("Posts to").select_option(label="QuickBooks UK")
        admin.get_by_label("Shop address").fill(shop.url)
        admin.get_by_label("Admin API access token").fill(shop.access_token)
        admin.get_by_label("Webhook signing secret").fill(SHOPIFY_SECRET)
        admin.get_by_role("button", name="Create the channel").click()
        expect(admin.locator(".messages")).to_contain_text("Online shop is set up")
        webhook = f"{app.url}/hooks/web-shop/"
        expect(admin.get_by_label("Webhook address")).to_have_value(webhook)
        admin.context.grant_permissions(["clipboard-read", "clipboard-write"])
        copy = admin.locator('button[data-copy="webhook-url"]')
        copy.click()
        expect(copy).to_have_text("Copied")
        assert admin.evaluate("navigator.clipboard.readText()") == webhook
        admin.get_by_role("button", name="Test connection").click()
        expect(admin.locator(".messages")).to_contain_text("Connected to Sankofa Imports")
        save_screenshot(admin, "setup_channel")

        # The people who keep the books.
        for username, name, role in (
            ("kwame", "Kwame Asante", "Finance clerk"),
            ("efua", "Efua Owusu", "Finance manager"),
        ):
            admin.goto("/setup/people/")
            admin.get_by_role("link", name="Add a person").click()
            admin.get_by_label("Username").fill(username)
            admin.get_by_label("Full name").fill(name)
            admin.get_by_label(re.compile(f"{role}:")).check()
            admin.get_by_label("Password").fill(PASSWORD)
            admin.get_by_role("button", name="Add", exact=True).click()
            expect(admin.locator(".messages")).to_contain_text(f"{username} can log in now")

        # The clerk maps the channel (from a file), the manager approves.
        clerk = pages.login("kwame", PASSWORD)
        clerk.get_by_role("navigation", name="Main").get_by_role("link", name="Mappings").click()
        clerk.get_by_role("button", name="Start mappings").click()
        clerk.get_by_label("Title").fill("First mapping of the online shop")
        clerk.get_by_label("Reason").fill("Revenue, shipping, VAT and card clearing as the chart says.")
        clerk.get_by_label("Effective from").fill(datetime.now(UTC).date().isoformat())
        clerk.get_by_role("button", name="Start a draft").click()
        clerk.get_by_role("link", name="Import rules from CSV or XLSX").click()
        rules = tmp_path / "rules.csv"
        rules.write_text(RULES_CSV)
        clerk.locator('input[name="file"]').set_input_files(str(rules))
        clerk.get_by_role("button", name="Preview (dry run)").click()
        clerk.get_by_role("button", name=re.compile(r"^Import 6 new")).click()
        clerk.get_by_role("link", name="Back to the change").click()
        clerk.get_by_role("button", name="Submit for approval").click()

        manager = pages.login("efua", PASSWORD)
        manager.goto("/security/mfa/enrol/")
        enrol_authenticator(manager)
        manager.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
        manager.get_by_role("link", name="Review and decide").click()
        manager.get_by_role("button", name="Approve").click()
        expect(manager.locator(".messages")).to_contain_text("Approved: the new version is in force")

        # Shopify sends the order; the worker books it in QuickBooks, once.
        assert shop.send_webhook(webhook, "orders/paid", order, SHOPIFY_SECRET).status_code == 202
        wait_for(lambda: qbo.documents("SalesReceipt"), timeout=WORKER_TIMEOUT, what="the sales receipt")
        receipts = qbo.documents("SalesReceipt")
        assert len(receipts) == 1 and Decimal(str(receipts[0]["TotalAmt"])) == Decimal(order["total_price"])
        clerk.goto(f"/transactions/?q={order['name'].lstrip('#')}")
        clerk.get_by_role("link", name=re.compile(re.escape(order["name"]))).first.click()
        expect(clerk.locator("body")).to_contain_text("Posted")
        save_screenshot(clerk, "setup_first_sale_posted")
    assert not app.server_errors(), app.server_errors()
