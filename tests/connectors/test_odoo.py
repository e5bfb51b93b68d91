"""The Odoo target against the Odoo sandbox over real HTTP on 127.0.0.1.

Given a sandbox database holding the demo chart (tests/connectors/odoo_support.py), when the target
posts, then Odoo holds exactly the moves, payments, reconciliations and tax the journal says, read
back per account and per tax; dates in locked periods never reach it; its faults are classified.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import AuthExpired, ClosedPeriod, Permanent, Retryable, ledger_target_class
from connectors.http import CallRecord, get_call_recorder, set_call_recorder
from connectors.ledgers.common import compare_views
from connectors.ledgers.odoo import DuplicateSequence, OdooTarget, classify_fault
from tests.connectors.odoo_support import (
    DAY,
    odoo_sandbox,
    payment_doc,
    payout_doc,
    refund_doc,
    sale_doc,
    target_for,
)


@pytest.fixture
def odoo() -> Any:
    """A seeded Odoo 17 sandbox."""
    with odoo_sandbox(17) as sandbox:
        yield sandbox


def _readback_ok(target: OdooTarget, doc: Any, result: Any) -> None:
    problems = compare_views(target.expected_view(doc), target.read_back(doc, result))
    assert problems == []


def test_the_registry_finds_the_odoo_target() -> None:
    assert ledger_target_class("odoo") is OdooTarget


def test_a_sale_is_a_posted_invoice_numbered_by_odoo_and_a_payment_reconciled_to_it(odoo: Any) -> None:
    target = target_for(odoo)
    doc = sale_doc("#1001", (("10.00", 3), ("4.50", 2)))
    result = target.post(doc)
    [invoice] = odoo.records("account.move", [("move_type", "=", "out_invoice")])
    [payment] = odoo.records("account.payment")
    assert invoice["name"] == result.remote_number == "INV/2026/00001" and invoice["ref"] == "#1001"
    assert invoice["state"] == "posted" and invoice["payment_state"] == "paid"
    assert invoice["amount_total"] == Decimal("46.80") and invoice["amount_tax"] == Decimal("7.80")
    assert payment["ref"] == "#1001/1" and payment["amount"] == Decimal("46.80") and payment["is_reconciled"]
    _readback_ok(target, doc, result)


def test_our_tax_is_written_on_the_draft_where_odoos_per_line_rounding_differs(odoo: Any) -> None:
    target = target_for(odoo)
    # Two lines of 0.03: Odoo rounds each line's tax to 0.01 (0.02 in all); the shop taxed the
    # document once (0.012 -> 0.01). The invoice must hold the shop's 0.01.
    doc = sale_doc("#1002", (("0.03", 1), ("0.03", 1)), per_document_tax=True)
    result = target.post(doc)
    [invoice] = odoo.records("account.move", [("move_type", "=", "out_invoice")])
    assert invoice["amount_tax"] == Decimal("0.01") and invoice["amount_total"] == Decimal("0.07")
    assert any(m == "write" for _, model, m in odoo.calls if model == "account.move")
    _readback_ok(target, doc, result)


def test_a_refund_is_a_credit_note_paid_back_by_an_outbound_payment(odoo: Any) -> None:
    target = target_for(odoo)
    doc = refund_doc("R-1", "10.00")
    result = target.post(doc)
    [refund] = odoo.records("account.move", [("move_type", "=", "out_refund")])
    [payment] = odoo.records("account.payment")
    assert refund["name"].startswith("RINV/") and refund["payment_state"] == "paid"
    assert payment["payment_type"] == "outbound" and payment["amount"] == Decimal("12.00")
    _readback_ok(target, doc, result)


def test_an_invoice_on_account_is_paid_later_and_reconciled(odoo: Any) -> None:
    target = target_for(odoo)
    invoice_doc = sale_doc("INV-77", (("100.00", 1),), receivable=True)
    invoice = target.post(invoice_doc)
    assert odoo.records("account.move", [("ref", "=", "INV-77")])[0]["payment_state"] == "not_paid"
    payment = payment_doc("PAY-77", "120.00", invoice.remote_id)
    result = target.post(payment)
    assert result.raw["entity"] == "account.payment"
    assert odoo.records("account.move", [("ref", "=", "INV-77")])[0]["payment_state"] == "paid"
    _readback_ok(target, invoice_doc, invoice)
    _readback_ok(target, payment, result)


def test_a_credit_note_without_money_is_reconciled_with_its_invoice(odoo: Any) -> None:
    target = target_for(odoo)
    invoice = target.post(sale_doc("INV-80", (("50.00", 1),), receivable=True))
    credit = refund_doc("CN-80", "50.00", related=invoice.remote_id, money=False)
    result = target.post(credit)
    assert odoo.records("account.move", [("ref", "=", "INV-80")])[0]["payment_state"] == "paid"
    assert odoo.records("account.payment") == []
    _readback_ok(target, credit, result)


def test_a_payout_with_a_fee_is_a_balanced_entry(odoo: Any) -> None:
    target = target_for(odoo)
    doc = payout_doc("PO-1")
    result = target.post(doc)
    [entry] = odoo.records("account.move", [("move_type", "=", "entry")])
    assert entry["name"].startswith("MISC/") and entry["amount_total"] == Decimal("100.00")
    _readback_ok(target, doc, result)


def test_a_sale_in_xof_is_an_invoice_in_xof(odoo: Any) -> None:
    target = target_for(odoo)
    doc = sale_doc("DKR-1", (("9500", 2),), currency="XOF")
    result = target.post(doc)
    [invoice] = odoo.records("account.move", [("ref", "=", "DKR-1")])
    assert invoice["currency_id"] == odoo.books.currency_ids["XOF"] and invoice["amount_total"] == Decimal(
        22800
    )
    view = target.read_back(doc, result)
    assert view.currency == "XOF" and compare_views(target.expected_view(doc), view) == []
    assert target.fetch_exchange_rate("XOF", DAY) == (Decimal(1) / 780).quantize(Decimal("0.0000000001"))


def test_our_lock_date_refuses_before_any_request(odoo: Any) -> None:
    target = target_for(odoo, lock_date="2026-11-30")
    with pytest.raises(ClosedPeriod):
        target.post(sale_doc("#L1"))
    assert odoo.requests == []


def test_odoos_lock_date_refuses_before_any_write(odoo: Any) -> None:
    odoo.set_lock_dates(period_lock_date=date(2026, 11, 30))
    target = target_for(odoo)
    with pytest.raises(ClosedPeriod) as caught:
        target.post(sale_doc("#L2"))
    assert "2026-11-30" in caught.value.vendor_message
    assert not [c for c in odoo.calls if c[2] not in ("search_read", "search", "read")]
    assert target.fetch_lock_date() == date(2026, 11, 30)


def test_when_odoo_refuses_a_date_itself_its_lock_dates_are_read_again(odoo: Any) -> None:
    target = target_for(odoo)
    target.facts()  # cached before the period was locked
    odoo.set_lock_dates(fiscalyear_lock_date=date(2026, 11, 25))
    with pytest.raises(ClosedPeriod) as caught:
        target.post(sale_doc("#L3"))
    assert "lock date" in caught.value.vendor_message
    assert odoo.records("account.move") == []
    writes = len([c for c in odoo.calls if c[2] == "create"])
    with pytest.raises(ClosedPeriod):
        target.post(sale_doc("#L3"))
    assert len([c for c in odoo.calls if c[2] == "create"]) == writes  # refused before any write


def test_odoo_18_lock_dates_are_the_sale_and_hard_lock_dates() -> None:
    with odoo_sandbox(18) as odoo:
        odoo.set_lock_dates(sale_lock_date=date(2026, 11, 1), hard_lock_date=date(2026, 11, 21))
        target = target_for(odoo)
        assert target.fetch_lock_date() == date(2026, 11, 21)
        with pytest.raises(ClosedPeriod):
            target.post(sale_doc("#L4"))


def test_the_api_key_never_reaches_the_integration_log(odoo: Any) -> None:
    records: list[CallRecord] = []
    previous = get_call_recorder()
    set_call_recorder(records.append)
    try:
        for protocol in ("xmlrpc", "jsonrpc"):
            target_for(odoo, protocol).post(sale_doc(f"#K-{protocol}"))
    finally:
        set_call_recorder(previous)
    logged = repr([(r.request_body, r.response_body) for r in records])
    assert len(records) > 10 and odoo.api_key not in logged
    assert "execute_kw" in logged or "account.move" in logged


@pytest.mark.parametrize(
    ("name", "message", "status", "expected"),
    [
        ("odoo.exceptions.AccessDenied", "Access Denied", None, AuthExpired),
        ("", "Invalid apikey", 401, AuthExpired),
        ("odoo.exceptions.UserError", "You cannot add/modify entries prior to and inclusive of the lock date 11/30/2026.",
         None, ClosedPeriod),
        ("odoo.exceptions.ValidationError", "Posted journal entry must have an unique sequence number per company.", None,
         DuplicateSequence),
        ("", "Traceback (most recent call last):\n  ...\npsycopg2.errors.SerializationFailure: could not serialize access",
         None, Retryable),
        ("odoo.exceptions.MissingError", "Record does not exist or has been deleted.", 404, Permanent),
        ("", "Traceback (most recent call last):\n  ...\nValueError: Invalid field 'memo' on model 'account.payment'",
         None, Permanent),
    ],
)  # fmt: skip
def test_fault_classification(name: str, message: str, status: int | None, expected: type) -> None:
    error = classify_fault(name, message, status=status)
    assert type(error) is expected
    assert "Traceback" not in error.vendor_message


def test_reads_the_chart_taxes_and_contacts_and_tests_the_connection(odoo: Any) -> None:
    target = target_for(odoo)
    accounts = {a.code: a for a in target.fetch_accounts()}
    assert (
        accounts["4000"].type == "revenue"
        and accounts["1200"].type == "asset"
        and accounts["2100"].type == "liability"
    )
    taxes = {t.code: t for t in target.fetch_tax_codes()}
    assert taxes["UK-VAT20"].rate == Decimal("0.2") and taxes["UK-VAT20"].remote_id == "1"
    target.post(sale_doc("#C1"))
    assert [c.code for c in target.fetch_contacts()] == ["walk-in"]
    check = target.test_connection()
    assert check.ok and "Odoo 17.0" in check.message and check.details["protocol"] == "xmlrpc"


def test_a_wrong_api_key_fails_the_connection_test_in_words(odoo: Any) -> None:
    target = target_for(odoo)
    target.rpc._key = "wrong"
    check = target.test_connection()
    assert not check.ok and "refused the credentials" in check.message


def test_a_price_included_mapped_tax_is_sent_as_its_price_excluded_twin(odoo: Any) -> None:
    odoo.books.store.insert("account.tax", {"name": "UK-VAT20-INC", "amount": Decimal(20), "amount_type": "percent",
                                            "type_tax_use": "sale", "price_include": True, "active": True})  # fmt: skip
    target = target_for(odoo)
    included = str(max(target.facts().taxes))
    assert target.facts().sales_tax(included) == 1


@pytest.mark.django_db
def test_the_wizard_stores_the_key_write_only_and_the_connection_test_reads_the_company(odoo: Any) -> None:
    from integrator.models import AuditEvent, LedgerConnection
    from integrator.services.ledger_setup import set_up_ledger_connection, test_ledger_connection

    conn = set_up_ledger_connection(
        "odoo", name="Kente & Clay (Odoo)", functional_currency="GBP",
        raw_setup={"base_url": odoo.url, "database": odoo.db, "login": odoo.login, "api_key": odoo.api_key},
    )  # fmt: skip
    stored = LedgerConnection.objects.get(pk=conn.pk)
    assert dict(stored.credentials) == {"api_key": odoo.api_key}
    assert stored.settings["database"] == odoo.db and stored.settings["login"] == odoo.login
    check = test_ledger_connection(stored)
    assert check.ok and check.message.startswith(
        "Connected to Kente & Clay Ltd (Odoo 17.0, xmlrpc), currency GBP"
    )
    audit = repr(list(AuditEvent.objects.values_list("before", "after")))
    assert odoo.api_key not in audit


def test_a_payment_of_an_invoice_odoo_does_not_hold_yet_waits_for_it(odoo: Any) -> None:
    from dataclasses import replace

    from connectors.base import Deferred

    target = target_for(odoo)
    payment = replace(payment_doc("PAY-90", "12.00", ""), related_number="INV-90")
    with pytest.raises(Deferred):
        target.post(payment)
    assert odoo.records("account.payment") == []
    target.post(sale_doc("INV-90", (("10.00", 1),), receivable=True))
    target.post(payment)
    assert odoo.records("account.move", [("ref", "=", "INV-90")])[0]["payment_state"] == "paid"
