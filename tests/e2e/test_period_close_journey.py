"""Closing a month in the browser, then a sale dated inside it arrives: it is held, not posted.

On ``make run``'s configuration with its demo (as a person trying the product would): the finance
manager enrols an authenticator, opens Period close, explains the checks that are not green and
closes last month. A late sale dated in that month is delivered through the real webhook endpoint;
the real worker journals it and holds its posting for the closed period. The manager sees why on
the posting's page and posts it on the first open day instead.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

from connectors.sources.generic import sign
from integrator.services import demo
from tests.e2e.test_setup_journey import enrol_authenticator
from tests.makerun import wait_for

pytestmark = pytest.mark.browser

WORKER_TIMEOUT = 300  # bounds a hang: the worker books the demo's ~100 events in 10-20 s here


def late_sale(month_end: date) -> dict[str, Any]:
    """An online-shop sale dated in the closed month, shaped like the demo's own (fresh ids)."""
    events = demo.build_events(month_end + timedelta(days=1))["web-shop"]
    event = next(e for e in events if e["type"] == "sale.completed")
    event = json.loads(json.dumps(event))
    event["id"] = f"evt-late-{uuid.uuid4().hex[:8]}"
    event["data"]["id"] = event["data"]["number"] = "LATE-1"
    return event


def deliver(app: Any, slug: str, event: dict[str, Any]) -> int:
    """Sign and send an event as the channel's till would."""
    body = json.dumps(event).encode()
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Integrator-Timestamp": stamp,
               "X-Integrator-Signature": sign(f"demo-secret-{slug}", stamp, body)}  # fmt: skip
    return requests.post(f"{app.url}/hooks/{slug}/", data=body, headers=headers, timeout=30).status_code


def test_close_a_month_then_a_sale_dated_inside_it_is_held(make_run: Any, app_pages: Any) -> None:
    app = make_run(demo=True)
    wait_for(lambda: app.scalar("select count(*) from integrator_inboundevent where status = 'received'") == 0,
             timeout=WORKER_TIMEOUT, what="the worker to book the demo")  # fmt: skip
    today = date.fromisoformat(app.scalar("select date('now')"))
    month_end = today.replace(day=1) - timedelta(days=1)
    month_label = f"{month_end:%B %Y}"

    pages = app_pages(app)
    manager = pages.login("manager", "manager-demo-pass")
    manager.goto("/security/mfa/enrol/")
    enrol_authenticator(manager)
    manager.get_by_role("navigation", name="Main").get_by_role("link", name="Period close").click()
    manager.locator(f'a.month[href$="/{month_end.year}/{month_end.month}/"]').first.click()
    expect(manager.get_by_role("heading", name=re.compile(month_label))).to_be_visible()
    # Every check is green, or the manager says why the month can close anyway.
    for check in manager.locator("ul.checks li.bad").all():
        key = check.get_attribute("data-check")
        manager.locator(f'textarea[name="explain_{key}"]').fill(
            "Reviewed with the accountant: carried into next month's work, nothing missing."
        )
    manager.get_by_role("button", name=f"Close {month_label}").click()
    expect(manager.locator(".messages")).to_contain_text(f"{month_label} is closed")
    assert app.scalar("select lock_date from integrator_ledgerconnection") == month_end.isoformat()

    # A sale dated inside the closed month arrives late: held, never posted.
    assert deliver(app, "web-shop", late_sale(month_end)) == 202
    held_sql = ("select p.id, p.state from integrator_posting p join integrator_journalentry e on e.id = p.entry_id "
                "where e.reference like '%LATE-1%'")  # fmt: skip
    posting_id, state = wait_for(lambda: app.query(held_sql), timeout=WORKER_TIMEOUT, what="the late sale")[0]
    assert state == "held"
    manager.goto(f"/postings/{uuid.UUID(posting_id)}/")
    expect(manager.locator("body")).to_contain_text(f"in a period closed up to {month_end.isoformat()}")

    # Posted on the first open day instead (a few days from its date: no reason needed).
    manager.get_by_label(re.compile("First open day")).fill((month_end + timedelta(days=1)).isoformat())
    manager.get_by_role("button", name="Post on this day").click()
    expect(manager.locator(".messages")).to_contain_text("will be posted on")
    wait_for(lambda: app.query(held_sql)[0][1] == "posted", timeout=WORKER_TIMEOUT, what="the moved posting")
    assert not app.server_errors(), app.server_errors()
