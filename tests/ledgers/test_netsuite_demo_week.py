"""Issue 18's proof for NetSuite: the demo week posted through REST and through SuiteTalk SOAP, 0
refusals, every document read back equal to the journal per account and per tax code, the week's
UK VAT the same in the journal and in NetSuite, and both transports giving the same books."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command

from connectors.sandbox.netsuite import NetSuiteSandbox
from integrator.models import LedgerConnection
from tests.ledgers.demo_week import UK_VAT, DemoWeek, demo_chart, post_demo_week

pytestmark = pytest.mark.django_db(transaction=True)


def _uk_vat(values: dict[str, Decimal], codes: dict[str, str]) -> Decimal:
    """Output VAT (credit-positive) of the UK codes, keyed by NetSuite's id of the code."""
    return -sum((v for k, v in values.items() if codes.get(k, k) in UK_VAT), Decimal(0))


def _check(week: DemoWeek, connection: LedgerConnection) -> Decimal:
    assert week.refused == [], "\n".join(week.refused)
    assert all("waiting for invoice" in w and "needs mapping" in w for w in week.waiting), week.waiting
    assert week.postings == week.posted + len(week.waiting) and week.posted > 40
    assert week.differences == [], "\n".join(week.differences)
    assert week.unread == 0
    codes = {t.remote_id or t.code: t.code for t in connection.tax_codes.all()}
    journal = sum((v for k, v in week.journal_vat.items() if k in UK_VAT), Decimal(0))
    assert _uk_vat(week.ledger_vat, codes) == journal
    return journal


def _week(platform: str) -> tuple[DemoWeek, Decimal, dict[tuple[str, str], Decimal], NetSuiteSandbox]:
    accounts, tax_codes = demo_chart()
    with NetSuiteSandbox(base_currency="GBP", currencies=("GBP", "XOF")) as ns:
        ns.seed_chart(accounts, tax_codes)
        connection = LedgerConnection.objects.create(
            platform=platform, name=f"Kente & Clay ({platform})", functional_currency="GBP", base_url=ns.url,
            credentials=ns.credentials(), settings=ns.ledger_settings(),
        )  # fmt: skip
        week = post_demo_week(connection)
        vat = _check(week, connection)
        books = ns.trial_balance()
        assert ns.refused_auth == 0
    return week, vat, books, ns


def test_the_demo_week_through_rest_and_soap_equals_the_journal_and_gives_the_same_books(capsys: Any) -> None:
    rest_week, rest_vat, rest_books, rest = _week("netsuite")
    assert {"cashSale", "invoice", "customerPayment", "deposit", "creditMemo"} <= set(rest_week.documents)
    assert rest_vat > 0 and rest_books
    # Every taxed sales record states our tax and overrides SuiteTax's own computation; every
    # posting carries the connection's subsidiary and segments.
    sales = rest.records("cashSale") + rest.records("invoice") + rest.records("creditMemo")
    assert all(r.get("taxDetailsOverride") is True for r in sales if r.get("taxDetails"))
    assert all(r.get("subsidiary") == {"id": "1"} and r.get("department") == {"id": "1"} for r in sales)
    with capsys.disabled():
        print(f"\nNetSuite REST: {rest_week.posted} documents {rest_week.documents}, UK VAT {rest_vat}")
    call_command("flush", interactive=False, verbosity=0)  # the same week again, on fresh books
    week, vat, books, ns = _week("netsuite_soap")
    assert ns.invalid_messages == []  # every request and answer matched the XSDs
    assert {"cashSale", "invoice", "customerPayment", "deposit"} <= set(week.documents)
    assert vat == rest_vat and week.documents == rest_week.documents
    assert books == rest_books  # the same books both ways, per currency and account
    with capsys.disabled():
        print(f"\nNetSuite SOAP: {week.posted} documents {week.documents}, UK VAT {vat}; same books as REST")
