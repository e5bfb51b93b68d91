"""Issue 17's proof for Odoo: the demo week posted to the Odoo sandbox (17 over XML-RPC, 19 over
JSON-2), 0 refusals, every document read back equal to the journal per account and per tax, and the
week's UK VAT the same in the journal and in Odoo."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.sandbox.odoo import OdooSandbox
from integrator.models import LedgerConnection
from tests.ledgers.demo_week import UK_VAT, demo_chart, post_demo_week

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(("version", "protocol"), [(17, "xmlrpc"), (19, "json2")])
def test_the_demo_week_in_odoo_equals_the_journal(version: int, protocol: str) -> None:
    accounts, tax_codes = demo_chart()
    with OdooSandbox(version=version, currency="GBP") as odoo:
        odoo.seed_chart(accounts, tax_codes, currencies={"XOF": Decimal("780")})
        connection = LedgerConnection.objects.create(
            platform="odoo", name=f"Kente & Clay (Odoo {version})", functional_currency="GBP", base_url=odoo.url,
            credentials=odoo.credentials(), settings=odoo.ledger_settings(),
        )  # fmt: skip
        week = post_demo_week(connection)
        protocols = {p for p, _, _ in odoo.calls}
        invoices = odoo.records("account.move", [("move_type", "=", "out_invoice")])
        payments = odoo.records("account.payment")
    assert week.refused == [], "\n".join(week.refused)
    assert all("waiting for invoice" in w and "needs mapping" in w for w in week.waiting), week.waiting
    assert week.postings == week.posted + len(week.waiting) and week.posted > 40
    assert week.differences == [], "\n".join(week.differences)
    assert week.unread == 0
    assert protocols == {protocol}
    codes = {t.remote_id or t.code: t.code for t in connection.tax_codes.all()}
    journal = sum((v for k, v in week.journal_vat.items() if k in UK_VAT), Decimal(0))
    ledger = -sum((v for k, v in week.ledger_vat.items() if codes.get(k, k) in UK_VAT), Decimal(0))
    assert ledger == journal and journal > 0
    assert invoices and payments and all(i["state"] == "posted" for i in invoices)
    print(f"Odoo {version} ({protocol}): {week.posted} documents {week.documents}, UK VAT {journal}")
