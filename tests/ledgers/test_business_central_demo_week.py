"""Issue 18's proof for Business Central: the demo week posted to the sandbox company, 0 refusals,
every document read back equal to the journal per account and VAT code, and the week's UK VAT the
same in the journal and in Business Central (which computes VAT itself: the target fits it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.sandbox.business_central import BusinessCentralSandbox
from integrator.models import LedgerConnection
from tests.ledgers.demo_week import UK_VAT, demo_chart, post_demo_week

pytestmark = pytest.mark.django_db(transaction=True)


def _connection(bc: BusinessCentralSandbox, **settings: Any) -> LedgerConnection:
    return LedgerConnection.objects.create(
        platform="business_central", name="Kente & Clay (Business Central)", functional_currency="GBP",
        base_url=bc.url, credentials=bc.credentials(), settings={**bc.ledger_settings(), **settings},
    )  # fmt: skip


def test_the_demo_week_in_business_central_equals_the_journal() -> None:
    accounts, tax_codes = demo_chart()
    with BusinessCentralSandbox(currency="GBP") as bc:
        bc.seed_chart(accounts, tax_codes)
        connection = _connection(bc)
        week = post_demo_week(connection)
        fitted = [ln for d in bc.company.documents["salesInvoices"] for ln in d["_lines"]
                  if ln["description"].startswith("VAT rounding")]  # fmt: skip
        ledger_vat = sum((e["creditAmount"] - e["debitAmount"] for e in bc.company.ledger if e["accountNumber"] == "2100"),
                         Decimal(0))  # fmt: skip
    assert week.refused == [], "\n".join(week.refused)
    assert all("waiting for invoice" in w and "needs mapping" in w for w in week.waiting), week.waiting
    assert week.postings == week.posted + len(week.waiting) and week.posted > 40
    assert week.differences == [], "\n".join(week.differences)
    assert week.unread == 0
    journal = sum((v for k, v in week.journal_vat.items() if k in UK_VAT), Decimal(0))
    in_bc = -sum((v for k, v in week.ledger_vat.items() if k in UK_VAT), Decimal(0))
    assert in_bc == journal > 0
    assert ledger_vat == journal  # the VAT account's ledger entries, too
    print(
        f"Business Central: {week.posted} documents {week.documents}, UK VAT {journal}, {len(fitted)} VAT fits"
    )
