"""Reconciliation in the browser: a clerk runs the checks for a day, resolves an exception with a
note, and imports a bank statement file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from integrator.choices import TransactionStatus
from integrator.models import LedgerAccount, Transaction
from tests.e2e.conftest import save_screenshot

pytestmark = pytest.mark.browser


def test_resolve_an_exception_with_a_note(pages: Any, demo_store: Any) -> None:
    from reconciliation.models import ReconciliationException

    held = (
        Transaction.objects.filter(status=TransactionStatus.NEEDS_MAPPING).order_by("business_date").first()
    )
    assert held is not None, "the demo store has sales held for want of a mapping"
    page = pages.login("clerk", "clerk-demo-pass")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reconciliation").click()
    page.locator('input[name="day"]').fill(held.business_date.isoformat())
    page.get_by_role("button", name="Start a run").click()
    expect(page.get_by_text(re.compile("Done|done")).first).to_be_visible(timeout=30_000)

    exception = ReconciliationException.objects.filter(status="open", transaction=held).first()
    assert exception is not None, "an unposted transaction becomes an exception"
    page.goto("/reconciliation/exceptions/?status=open")
    row = page.locator(f"#exception-{exception.pk}")
    expect(row).to_contain_text(exception.get_kind_display())
    row.get_by_label("Note").fill("Mapping for the new stamp sets is on its way to approval.")
    row.get_by_role("button", name="Resolve").click()
    expect(page.locator(f"#exception-{exception.pk}")).to_contain_text("by clerk", timeout=10_000)
    exception.refresh_from_db()
    assert exception.status == "resolved" and exception.resolved_by is not None
    assert exception.resolution_note.startswith("Mapping for the new stamp sets")
    # The transaction's story now shows the resolved exception.
    page.goto(f"/transactions/{held.pk}/")
    expect(page.get_by_role("heading", name="6. Reconciliation")).to_be_visible()
    expect(page.get_by_text(exception.get_kind_display()).first).to_be_visible()


def test_upload_a_bank_statement(pages: Any, demo_store: Any, tmp_path: Path) -> None:
    from reconciliation.models import BankStatement
    from reconciliation.services.statements import create_bank_account

    connection = demo_store.connection
    account = create_bank_account(name="Barclays current account", connection=connection, currency="GBP",
                        ledger_account=LedgerAccount.objects.get(connection=connection, code="1000"))  # fmt: skip
    page = pages.login("clerk", "clerk-demo-pass")
    sample_text = page.request.get("/reconciliation/statements/sample.csv").text()
    statement = tmp_path / "barclays-november.csv"
    statement.write_text(sample_text)

    page.goto("/reconciliation/statements/")
    page.locator('select[name="bank_account"]').select_option(str(account.pk))
    page.locator('input[name="file"]').set_input_files(str(statement))
    page.get_by_role("button", name="Import").click()
    imported = BankStatement.objects.get(filename="barclays-november.csv")
    assert imported.lines.count() > 0
    page.goto("/reconciliation/statements/")
    expect(page.get_by_role("link", name="barclays-november.csv")).to_be_visible()
    save_screenshot(page, "bank_statements")


def test_a_large_bank_statement_imports_in_the_background_with_a_progress_bar(
    pages: Any, demo_store: Any, tmp_path: Path, settings: Any
) -> None:
    from reconciliation.models import BankStatement
    from reconciliation.services.statements import create_bank_account
    from tests.reconciliation.test_statement_streaming import write_csv_statement

    settings.STATEMENT_INLINE_IMPORT_BYTES = 100_000
    settings.VAR_DIR = tmp_path
    connection = demo_store.connection
    account = create_bank_account(name="Barclays current account", connection=connection, currency="GBP",
                        ledger_account=LedgerAccount.objects.get(connection=connection, code="1000"))  # fmt: skip
    statement = tmp_path / "barclays-year.csv"
    with statement.open("wb") as out:
        write_csv_statement(out, 12_000)  # about 700 KB: over the (lowered) limit for the request
    page = pages.login("clerk", "clerk-demo-pass")

    page.goto("/reconciliation/statements/")
    page.locator('select[name="bank_account"]').select_option(str(account.pk))
    page.locator('input[name="file"]').set_input_files(str(statement))
    page.get_by_role("button", name="Import").click()

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    expect(page.get_by_text("being imported in the background")).to_be_visible()
    expect(page.get_by_text(re.compile(r"KB of .*KB"))).to_be_visible()
    assert "{#" not in page.content()
    expect(page.get_by_text("barclays-year.csv: 12,000 line(s) read, 12,000 imported")).to_be_visible()
    assert BankStatement.objects.get(filename="barclays-year.csv").imported_count == 12_000
    assert not any((tmp_path / "statement-uploads").iterdir())
    save_screenshot(page, "bank_statement_import_job")
