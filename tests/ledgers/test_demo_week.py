"""Issue 10's proof: the demo week posted to the QuickBooks and Xero sandboxes, 0 refusals, every
document read back equal to the journal per account and per tax code, and the week's UK VAT the
same in the journal, in QuickBooks and in Xero."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from connectors import auth
from connectors.sandbox.quickbooks import QuickBooksSandbox
from connectors.sandbox.xero import XeroLimits, XeroSandbox
from integrator.models import LedgerConnection, Posting
from reconciliation.models import ReconciliationException
from reconciliation.services.runs import run_reconciliation
from tests.ledgers.demo_week import UK_VAT, DemoWeek, demo_chart, post_demo_week

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def local_oauth() -> Any:
    """Token refreshes stay in the test's process."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


def _uk_vat(values: dict[str, Decimal], codes: dict[str, str]) -> Decimal:
    """Output VAT (credit-positive) of the UK codes, keyed by our code or the ledger's id for it."""
    return -sum((v for k, v in values.items() if codes.get(k, k) in UK_VAT), Decimal(0))


def _check(week: DemoWeek, connection: LedgerConnection) -> Decimal:
    assert week.refused == [], "\n".join(week.refused)
    # Only payments of invoices held for the demo's unmapped product wait.
    assert all("waiting for invoice" in w and "needs mapping" in w for w in week.waiting), week.waiting
    assert week.postings == week.posted + len(week.waiting) and week.posted > 40
    assert week.differences == [], "\n".join(week.differences)
    assert week.unread == 0
    codes = {t.remote_id or t.code: t.code for t in connection.tax_codes.all()}
    journal = sum((v for k, v in week.journal_vat.items() if k in UK_VAT), Decimal(0))
    assert _uk_vat(week.ledger_vat, codes) == journal
    return journal


def test_the_demo_week_in_quickbooks_equals_the_journal() -> None:
    accounts, tax_codes = demo_chart()
    with QuickBooksSandbox(home_currency="GBP", country="GB", currencies=("GBP", "XOF")) as qbo:
        qbo.seed_chart(accounts, tax_codes)
        connection = LedgerConnection.objects.create(
            platform="quickbooks", name="Kente & Clay (QuickBooks)", functional_currency="GBP", base_url=qbo.url,
            credentials=qbo.credentials(), settings=qbo.ledger_settings(),
        )  # fmt: skip
        week = post_demo_week(connection)
        vat = _check(week, connection)
        assert {"SalesReceipt", "Invoice", "RefundReceipt", "Payment", "Deposit"} <= set(week.documents)
        invoices = qbo.documents("Invoice")
        paid = [i for i in invoices if i.get("DueDate")]
        edited = _edit_one_sales_receipt(qbo)
    assert vat > 0 and paid
    # The daily reconciliation reads the day's documents back again: an edit made in QuickBooks
    # after posting becomes one exception naming the document and the amounts.
    assert edited.readback_exceptions == 1 and "1.00" in edited.explanation
    print(f"QuickBooks: {week.posted} documents {week.documents}, UK VAT {vat}")


@dataclass
class Edited:
    """What the reconciliation said of a document edited in the ledger."""

    readback_exceptions: int
    explanation: str


def _edit_one_sales_receipt(qbo: QuickBooksSandbox) -> Edited:
    """Add 1.00 to the first line of one posted sales receipt inside QuickBooks, then run the
    reconciliation of its day (the sandbox is still up)."""
    posting = Posting.objects.filter(state="posted", readback__raw__entity="SalesReceipt").first()
    assert posting is not None

    def add_a_pound(doc: dict[str, Any]) -> None:
        line = next(ln for ln in doc["Line"] if ln.get("DetailType") == "SalesItemLineDetail")
        line["Amount"] = Decimal(str(line["Amount"])) + 1
        doc["TotalAmt"] = Decimal(str(doc["TotalAmt"])) + 1

    qbo.edit("SalesReceipt", posting.remote_id, add_a_pound)
    run_reconciliation(posting.posting_date)
    found = ReconciliationException.objects.filter(key__contains=":readback:", status="open")
    first = found.first()
    assert (
        first is not None and first.posting_id == posting.pk and posting.entry.reference in first.explanation
    )
    return Edited(readback_exceptions=found.count(), explanation=first.explanation)


def test_the_demo_week_in_xero_equals_the_journal() -> None:
    accounts, tax_codes = demo_chart()
    # Xero allows 60 calls a minute; the sandbox and the connection here allow more, so the week
    # (some 250 calls with the read-backs) takes seconds instead of minutes.
    with XeroSandbox(base_currency="GBP", limits=XeroLimits(per_minute=None)) as xero:
        xero.seed_chart(accounts, tax_codes)
        connection = LedgerConnection.objects.create(
            platform="xero", name="Kente & Clay (Xero)", functional_currency="GBP", base_url=xero.url,
            credentials=xero.credentials(), settings={**xero.ledger_settings(), "calls_per_minute": 10_000},
        )  # fmt: skip
        week = post_demo_week(connection)
        vat = _check(week, connection)
        assert {"Invoice", "CreditNote", "Payment", "BankTransfer"} <= set(week.documents)
    assert vat > 0
    print(f"Xero: {week.posted} documents {week.documents}, UK VAT {vat}")
