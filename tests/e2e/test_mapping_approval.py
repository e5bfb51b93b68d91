"""Maker-checker in the browser, on ``make run``'s configuration: a clerk drafts and submits a
mapping change for a product that has no revenue account; a finance manager (who sets up an
authenticator first) approves it from the queue; the held sales are booked.

This journey runs against the application as ``make run`` starts it (SQLite file database, ORM
broker, a real worker): there the approval answered 500 "Cannot operate on a closed database"
(issue 13), which the test-suite defaults could not show.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import save_screenshot
from tests.e2e.test_setup_journey import enrol_authenticator
from tests.makerun import wait_for

pytestmark = pytest.mark.browser

SKU = "ADINKRA-STAMPS"
WORKER_TIMEOUT = 300  # bounds a hang: the worker books the demo's ~100 events in 10-20 s here
HELD = ("select count(*) from integrator_transaction t join integrator_channel c on c.id = t.channel_id "
        "where c.slug = 'web-shop' and t.status = 'needs_mapping'")  # fmt: skip


def test_clerk_drafts_and_submits_manager_approves(make_run: Any, app_pages: Any) -> None:
    app = make_run(demo=True)
    wait_for(lambda: app.scalar("select count(*) from integrator_inboundevent where status = 'received'") == 0
             and app.scalar(HELD), timeout=WORKER_TIMEOUT, what="the demo's held sales")  # fmt: skip
    first_day = app.scalar(HELD.replace("count(*)", "min(t.business_date)"))
    pages = app_pages(app)

    # The clerk drafts the change.
    clerk = pages.login("clerk", "clerk-demo-pass")
    clerk.get_by_role("navigation", name="Main").get_by_role("link", name="Mappings").click()
    clerk.get_by_role("link", name="Online shop", exact=True).first.click()
    clerk.get_by_label("Title").fill(f"Revenue account for {SKU}")
    clerk.get_by_label("Reason").fill(
        "Adinkra stamp sets are crafts: book them with homeware until crafts get an account."
    )
    clerk.get_by_label("Effective from").fill(first_day)
    clerk.get_by_role("button", name="Start a draft").click()
    expect(clerk.get_by_role("heading", name=re.compile(f"Revenue account for {SKU}"))).to_be_visible()

    # The item form's labels wrap their drop-downs, so the fields are found by name.
    clerk.locator('select[name="kind"]').select_option("revenue")
    clerk.locator('select[name="match_field"]').select_option("sku")
    clerk.locator('input[name="match_value"]').fill(SKU)
    account = app.scalar("select code || ' ' || name from integrator_ledgeraccount where code = '4010'")
    clerk.locator('select[name="account"]').select_option(label=account)
    clerk.get_by_role("button", name="Save item").click()
    expect(clerk.get_by_role("cell", name=re.compile(SKU)).first).to_be_visible()
    clerk.get_by_role("button", name="Submit for approval").click()
    change = f"select status from integrator_mappingchangerequest where title = 'Revenue account for {SKU}'"
    assert app.scalar(change) == "submitted"

    # The manager sets up an authenticator, reads the queue and approves.
    manager = pages.login("manager", "manager-demo-pass")
    manager.goto("/security/mfa/enrol/")
    enrol_authenticator(manager)
    manager.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    card = manager.locator("[data-change]").filter(has_text=SKU)
    expect(card).to_contain_text(SKU)
    save_screenshot(manager, "approval_queue")
    card.get_by_role("link", name="Review and decide").click()
    repost = manager.get_by_label(re.compile("Re-post the documents"))
    if repost.count():
        repost.check()
    manager.get_by_role("button", name="Approve").click()
    # Before the fix this answered 500 "Cannot operate on a closed database" (no page, no message).
    expect(manager.locator(".messages")).to_contain_text("Approved: the new version is in force")

    assert app.scalar(change) == "approved"
    reviewer = app.scalar("select u.username from integrator_mappingchangerequest m join auth_user u "
                          f"on u.id = m.reviewer_id where m.title = 'Revenue account for {SKU}'")  # fmt: skip
    assert reviewer == "manager"
    # Held sales of that product are booked now, and the worker posts them.
    assert app.scalar(HELD) == 0
    assert not app.server_errors(), app.server_errors()
