"""Issue 18's proof for SAP Business One: the demo week posted through the Service Layer, v1 and
v2, 0 refusals, every document read back equal to the journal per account and VAT group, and the
week's UK VAT the same in the journal and in the company."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.sandbox.sap_b1 import SapB1Sandbox
from integrator.models import LedgerConnection
from tests.ledgers.demo_week import UK_VAT, demo_chart, post_demo_week

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_demo_week_in_sap_business_one_equals_the_journal(version: str) -> None:
    accounts, tax_codes = demo_chart()
    with SapB1Sandbox() as b1:
        b1.seed_chart(accounts, tax_codes)
        connection = LedgerConnection.objects.create(
            platform="sap_b1", name=f"Kente & Clay (SAP Business One {version})", functional_currency="GBP", base_url=b1.url,
            credentials=b1.credentials(), settings=b1.ledger_settings(version),
        )  # fmt: skip
        week = post_demo_week(connection)
        uk_groups = {g["Code"] for g in b1.company.vat_groups if g["Code"] in UK_VAT}
        vat_in_documents = sum((ln["TaxTotal"] for d in b1.company.documents["Invoices"] for ln in d["DocumentLines"]
                                if ln["VatGroup"] in uk_groups), Decimal(0)) - sum(
            (ln["TaxTotal"] for d in b1.company.documents["CreditNotes"] for ln in d["DocumentLines"] if ln["VatGroup"] in uk_groups),
            Decimal(0))  # fmt: skip
        vat_in_journals = sum((ln["Credit"] - ln["Debit"] for j in b1.company.journals for ln in j["JournalEntryLines"]
                               if ln["AccountCode"] == "2100"), Decimal(0))  # fmt: skip
    assert week.refused == [], "\n".join(week.refused)
    assert all("waiting for invoice" in w and "needs mapping" in w for w in week.waiting), week.waiting
    assert week.postings == week.posted + len(week.waiting) and week.posted > 40
    assert week.differences == [], "\n".join(week.differences)
    assert week.unread == 0
    journal = sum((v for k, v in week.journal_vat.items() if k in UK_VAT), Decimal(0))
    in_b1 = -sum((v for k, v in week.ledger_vat.items() if k in UK_VAT), Decimal(0))
    assert in_b1 == journal > 0
    assert vat_in_documents + vat_in_journals == journal
    print(f"SAP Business One {version}: {week.posted} documents {week.documents}, UK VAT {journal}")
