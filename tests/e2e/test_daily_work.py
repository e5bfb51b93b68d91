"""A finance clerk's morning: log in, read Today, find a sale, read its whole story, filter a list,
watch a long job's progress bar move."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from integrator.choices import TransactionKind, TransactionStatus
from integrator.models import Job, Posting, Transaction
from tests.e2e.conftest import save_screenshot

pytestmark = pytest.mark.browser


def test_log_in_read_today_and_open_a_transaction(pages: Any, demo_store: Any) -> None:
    page = pages.login("clerk", "clerk-demo-pass")
    expect(page.get_by_role("heading", name=re.compile("^Today"))).to_be_visible()
    expect(page.locator('nav[aria-label="Main"] a[aria-current="page"]')).to_have_text(re.compile("Today"))

    # Charts are drawn by the locally served Chart.js, one per channel.
    expect(page.locator('canvas[data-chart="salesPosted"][data-drawn="1"]')).to_have_count(3)
    expect(page.locator('canvas[data-chart="lag"][data-drawn="1"]')).to_have_count(1)
    posted_card = page.locator('a.card[data-stage="Posted"] .n')
    # Posted transactions, counted as the transactions list counts them (not ledger documents).
    posted = Transaction.objects.filter(status=TransactionStatus.POSTED).count()
    assert int(posted_card.inner_text().replace(",", "")) == posted
    save_screenshot(page, "dashboard")

    # "/" jumps to the global search; an order number finds the sale.
    sale = Transaction.objects.filter(kind=TransactionKind.SALE, status=TransactionStatus.POSTED,
                                      channel__slug="web-shop").order_by("-occurred_at").first()  # fmt: skip
    assert sale is not None
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type(sale.number)
    page.keyboard.press("Enter")
    expect(
        page.get_by_role("heading", name=re.compile(f"Results for .{re.escape(sale.number)}"))
    ).to_be_visible()
    page.get_by_role("link", name=f"Sale {sale.number}").first.click()

    # The whole story: raw event, canonical document, journal with rules, posting, ledger document.
    expect(page.get_by_role("heading", name=re.compile(f"Sale {re.escape(sale.number)}"))).to_be_visible()
    for step in ("1. Raw events", "2. Canonical document", "3. Journal", "4. Posting", "5. In the ledger"):
        expect(page.get_by_role("heading", name=re.compile("^" + re.escape(step)))).to_be_visible()
    posting = Posting.objects.get(entry__transaction=sale, entry__reverses__isnull=True)
    expect(page.get_by_text(posting.remote_number, exact=False).first).to_be_visible()
    page.get_by_text("sale.completed").first.click()  # the raw event unfolds
    expect(page.locator("details[open] pre").first).to_contain_text(sale.external_id)
    save_screenshot(page, "transaction")

    # Breadcrumb back to the list, then filter it with the keyboard-friendly filter bar.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Transactions").click()
    page.get_by_label("Status", exact=True).select_option("needs_mapping")
    page.wait_for_url(re.compile(r"status=needs_mapping"))
    held = Transaction.objects.filter(status=TransactionStatus.NEEDS_MAPPING).count()
    expect(page.locator("tbody tr")).to_have_count(held)
    expect(page.get_by_text(f"of {held} transactions")).to_be_visible()


def test_a_long_job_shows_a_moving_progress_bar(pages: Any, demo_store: Any) -> None:
    job = Job.objects.create(kind="sync", description="Back-fill Online shop since 2026-01-01", total=200)
    page = pages.login("clerk", "clerk-demo-pass")
    page.goto(f"/jobs/{job.pk}/")
    bar = page.locator(f"#job-{job.pk} [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "0")
    Job.objects.filter(pk=job.pk).update(done=120, message="120 orders pulled")
    expect(bar).to_have_attribute("aria-valuenow", "60", timeout=5_000)
    expect(page.locator(f"#job-{job.pk}").get_by_text("120 orders pulled")).to_be_visible()
    # The strip at the top of every page shows running work too.
    expect(page.locator(".running-jobs")).to_contain_text("Back-fill Online shop")
    Job.objects.filter(pk=job.pk).update(done=200, status="done", message="200 new records, 0 already known")
    expect(page.locator(f"#job-{job.pk}")).to_have_attribute("data-status", "done", timeout=5_000)
    expect(bar).to_have_attribute("aria-valuenow", "100")
