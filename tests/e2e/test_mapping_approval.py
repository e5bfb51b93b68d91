"""Maker-checker in the browser: a clerk drafts and submits a mapping change for a product that has
no revenue account; a finance manager (verified with a second factor) approves it from the queue;
the held sales are booked."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from integrator.choices import TransactionStatus
from integrator.models import LedgerAccount, MappingChangeRequest, Transaction
from tests.e2e.conftest import save_screenshot

pytestmark = pytest.mark.browser

SKU = "ADINKRA-STAMPS"


def _totp_code_for(username: str) -> str:
    """Give the user a confirmed authenticator and return its current code (what the phone shows)."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.get(username=username)
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    return str(totp(device.bin_key, device.step, device.t0, device.digits, device.drift)).zfill(device.digits)


def test_clerk_drafts_and_submits_manager_approves(pages: Any, demo_store: Any) -> None:
    held = Transaction.objects.filter(channel__slug="web-shop", status=TransactionStatus.NEEDS_MAPPING)
    assert held.exists(), "the demo store sells a product without a revenue account"
    first_day = held.order_by("business_date").first().business_date  # type: ignore[union-attr]

    # The clerk drafts the change.
    clerk = pages.login("clerk", "clerk-demo-pass")
    clerk.get_by_role("navigation", name="Main").get_by_role("link", name="Mappings").click()
    clerk.get_by_role("link", name="Online shop", exact=True).first.click()
    clerk.get_by_label("Title").fill(f"Revenue account for {SKU}")
    clerk.get_by_label("Reason").fill(
        "Adinkra stamp sets are crafts: book them with homeware until crafts get an account."
    )
    clerk.get_by_label("Effective from").fill(first_day.isoformat())
    clerk.get_by_role("button", name="Start a draft").click()
    expect(clerk.get_by_role("heading", name=re.compile(f"Revenue account for {SKU}"))).to_be_visible()

    # The item form's labels wrap their drop-downs, so the fields are found by name.
    clerk.locator('select[name="kind"]').select_option("revenue")
    clerk.locator('select[name="match_field"]').select_option("sku")
    clerk.locator('input[name="match_value"]').fill(SKU)
    account = LedgerAccount.objects.get(connection=demo_store.connection, code="4010")
    clerk.locator('select[name="account"]').select_option(label=str(account))
    clerk.get_by_role("button", name="Save item").click()
    expect(clerk.get_by_role("cell", name=re.compile(SKU)).first).to_be_visible()
    clerk.get_by_role("button", name="Submit for approval").click()
    change = MappingChangeRequest.objects.get(title=f"Revenue account for {SKU}")
    assert change.status == "submitted"

    # The manager verifies the second factor, reads the queue and approves.
    code = _totp_code_for("manager")
    manager = pages.login("manager", "manager-demo-pass")
    manager.goto("/security/mfa/verify/")
    manager.get_by_label("Code").fill(code)
    manager.get_by_role("button", name="Verify").click()
    manager.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    card = manager.locator(f'[data-change="{change.pk}"]')
    expect(card).to_contain_text(SKU)
    save_screenshot(manager, "approval_queue")
    card.get_by_role("link", name="Review and decide").click()
    repost = manager.get_by_label(re.compile("Re-post the documents"))
    if repost.count():
        repost.check()
    manager.get_by_role("button", name="Approve").click()

    change.refresh_from_db()
    assert change.status == "approved" and change.reviewer is not None
    assert change.reviewer.username == "manager" and change.author.username == "clerk"  # type: ignore[union-attr]
    # Held sales of that product are booked now.
    assert not held.exists()
