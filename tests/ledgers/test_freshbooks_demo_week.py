"""Issue 17's proof for FreshBooks: the demo week posted to the FreshBooks sandbox, 0 refusals,
FreshBooks' own booking plus each adjustment entry read back equal to the journal per account and
per tax, and the week's UK VAT the same in the journal and in FreshBooks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors import auth
from connectors.sandbox.freshbooks import FreshBooksSandbox
from integrator.choices import PostingState
from integrator.models import LedgerConnection, Posting
from tests.ledgers.demo_week import UK_VAT, demo_chart, post_demo_week

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def local_oauth() -> Any:
    """Token refreshes stay in the test's process."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


def test_the_demo_week_in_freshbooks_equals_the_journal() -> None:
    accounts, tax_codes = demo_chart()
    with FreshBooksSandbox() as fb:
        fb.seed_chart(accounts, tax_codes)
        connection = LedgerConnection.objects.create(
            platform="freshbooks", name="Kente & Clay (FreshBooks)", functional_currency="GBP", base_url=fb.url,
            credentials=fb.credentials(), settings=fb.ledger_settings(sales="4000", receivable="1200", payments="1000"),
        )  # fmt: skip
        week = post_demo_week(connection)
        kinds = {c: len(fb.documents(c)) for c in ("invoices", "payments", "journal_entries")}
    assert week.refused == [], "\n".join(week.refused)
    assert all("waiting for invoice" in w and "needs mapping" in w for w in week.waiting), week.waiting
    assert week.postings == week.posted + len(week.waiting) and week.posted > 40
    assert week.differences == [], "\n".join(week.differences)
    assert week.unread == 0
    journal = sum((v for k, v in week.journal_vat.items() if k in UK_VAT), Decimal(0))
    on_invoices = -sum((v for k, v in week.ledger_vat.items() if k in UK_VAT), Decimal(0))
    # Refunds are journal entries in FreshBooks (no credit notes): their VAT is a movement on the
    # UK VAT account (2100), not a tax on an invoice line. The books' UK VAT is both together.
    in_entries = Decimal(0)
    for posting in Posting.objects.filter(state=PostingState.POSTED):
        actual = (posting.readback or {}).get("actual") or {}
        in_entries -= Decimal((actual.get("per_account") or {}).get("2100", "0"))
    ledger = on_invoices + in_entries
    assert ledger == journal and journal > 0
    assert {"Invoice", "Payment", "JournalEntry"} <= set(week.documents)
    print(
        f"FreshBooks: {week.posted} documents {week.documents}, rows {kinds}, UK VAT journal {journal} = FreshBooks {ledger} "
        f"(invoice tax {on_invoices}, VAT account in journal entries {in_entries})"
    )
