"""Issue 17's proof for Sage: the demo week posted to the Sage sandbox, 0 refusals, every document
read back equal to the journal per ledger account and per tax rate, and the week's UK VAT the same
in the journal and in Sage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors import auth
from connectors.sandbox.sage import SageSandbox
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


def test_the_demo_week_in_sage_equals_the_journal() -> None:
    accounts, tax_codes = demo_chart()
    with SageSandbox(per_minute=None) as sage:
        sage.seed_chart(accounts, tax_codes)
        connection = LedgerConnection.objects.create(
            platform="sage", name="Kente & Clay (Sage)", functional_currency="GBP", base_url=sage.api_url,
            credentials=sage.credentials(), settings={**sage.ledger_settings(), "calls_per_minute": 10_000},
        )  # fmt: skip
        week = post_demo_week(connection)
        kinds = {c: len(sage.documents(c)) for c in ("sales_invoices", "sales_credit_notes", "contact_payments",
                                                     "contact_allocations", "bank_transfers", "other_payments", "journals")}  # fmt: skip
    assert week.refused == [], "\n".join(week.refused)
    assert all("waiting for invoice" in w and "needs mapping" in w for w in week.waiting), week.waiting
    assert week.postings == week.posted + len(week.waiting) and week.posted > 40
    assert week.differences == [], "\n".join(week.differences)
    assert week.unread == 0
    journal = sum((v for k, v in week.journal_vat.items() if k in UK_VAT), Decimal(0))
    ledger = -sum((v for k, v in week.ledger_vat.items() if k in UK_VAT), Decimal(0))
    assert ledger == journal and journal > 0
    assert {"SalesInvoice", "SalesCreditNote", "ContactPayment", "BankTransfer"} <= set(week.documents)
    print(
        f"Sage: {week.posted} documents {week.documents}, resources {kinds}, UK VAT journal {journal} = Sage {ledger}"
    )
