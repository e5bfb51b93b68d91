"""Issue 17's proof for Zoho Books: the demo week posted to the Zoho Books sandbox, 0 refusals,
every document read back equal to the journal per account and per tax, and the week's UK VAT the
same in the journal and in Zoho, whether the organisation rounds tax per line or on the total."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors import auth
from connectors.sandbox.zoho_books import ZohoBooksSandbox
from integrator.models import LedgerConnection
from tests.ledgers.demo_week import UK_VAT, demo_chart, post_demo_week

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def local_oauth() -> Any:
    """Token refreshes stay in the test's process."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


@pytest.mark.parametrize("rounding", ["line", "document"])
def test_the_demo_week_in_zoho_books_equals_the_journal(rounding: str) -> None:
    accounts, tax_codes = demo_chart()
    # Zoho allows 100 calls a minute; the sandbox and the connection here allow more, so the week
    # (some 400 calls with look-ups and read-backs) takes seconds instead of minutes.
    with ZohoBooksSandbox(base_currency="GBP", currencies=("XOF", "EUR", "USD"), tax_rounding=rounding,
                          per_minute=None, per_day=None) as zoho:  # fmt: skip
        zoho.seed_chart(accounts, tax_codes)
        connection = LedgerConnection.objects.create(
            platform="zoho_books", name=f"Kente & Clay (Zoho Books, {rounding})", functional_currency="GBP",
            base_url=zoho.url, credentials=zoho.credentials(),
            settings={**zoho.ledger_settings(), "calls_per_minute": 10_000, "daily_limit": 100_000,
                      "tax_rounding": rounding},
        )  # fmt: skip
        week = post_demo_week(connection)
        puts = len(zoho.requests_to("PUT", "/invoices/"))
    assert week.refused == [], "\n".join(week.refused)
    assert all("waiting for invoice" in w and "needs mapping" in w for w in week.waiting), week.waiting
    assert week.postings == week.posted + len(week.waiting) and week.posted > 40
    assert week.differences == [], "\n".join(week.differences)
    assert week.unread == 0
    codes = {t.remote_id or t.code: t.code for t in connection.tax_codes.all()}
    journal = sum((v for k, v in week.journal_vat.items() if k in UK_VAT), Decimal(0))
    ledger = -sum((v for k, v in week.ledger_vat.items() if codes.get(k, k) in UK_VAT), Decimal(0))
    assert ledger == journal and journal > 0
    assert {"invoice", "creditnote", "customerpayment", "banktransaction"} <= set(week.documents)
    assert puts == 0  # the connection said how the organisation rounds: nothing to correct
    print(f"Zoho Books ({rounding}): {week.posted} documents {week.documents}, UK VAT {journal}")
