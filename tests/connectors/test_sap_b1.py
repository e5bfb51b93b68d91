"""SAP Business One target against the Service Layer sandbox (v1 and v2) over real HTTP.

Given a company database holding the demo's chart (4000 sales, 1100 card clearing, 1200
receivables, 2100 UK VAT, 6100 fees, 1000 bank; VAT groups UK-VAT20, UK-ZERO, NONE) and monthly
posting periods of 2026, when the target posts, then the company holds exactly one document per
posting with our VAT, read back per account and VAT group.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.base import (
    AuthExpired,
    ClosedPeriod,
    LedgerConfig,
    Permanent,
    PostingDocument,
    Uncertain,
    ledger_target_class,
)
from connectors.ledgers.common import compare_views
from connectors.ledgers.sap_b1 import DuplicateDocument, SapB1Target, SessionExpired, classify_error
from connectors.sandbox.base import Fault
from connectors.sandbox.sap_b1 import SapB1Sandbox
from tests.connectors.test_business_central import DAY, line, sale
from tests.ledgers.demo_week import demo_chart

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sap_b1"


@pytest.fixture(params=["v1", "v2"])
def sandbox(request: Any) -> Any:
    with SapB1Sandbox() as b1:
        b1.seed_chart(*demo_chart())
        b1.version = request.param  # type: ignore[attr-defined]
        yield b1


def target_for(b1: SapB1Sandbox, **settings: Any) -> SapB1Target:
    version = getattr(b1, "version", "v1")
    config = LedgerConfig(connection_id=f"b1-{b1.port}", platform="sap_b1", functional_currency="GBP", base_url=b1.url,
                          credentials=b1.credentials(), settings={**b1.ledger_settings(version), **settings})  # fmt: skip
    return SapB1Target(config)


def check(target: SapB1Target, doc: PostingDocument) -> None:
    result = target.post(doc)
    assert compare_views(target.expected_view(doc), target.read_back(doc, result)) == []


def test_the_registry_finds_the_target() -> None:
    assert ledger_target_class("sap_b1") is SapB1Target


def test_a_sale_is_an_invoice_with_our_vat_paid_by_an_incoming_payment(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    check(
        target, sale("S-1", ("0.04", "0.04", "0.04", "10.00"), tax="2.03")
    )  # the shop's VAT, not the rate's
    [invoice] = sandbox.company.documents["Invoices"]
    assert (
        invoice["VatSum"] == Decimal("2.03")
        and invoice["NumAtCard"] == "S-1"
        and invoice["DocumentStatus"] == "bost_Close"
    )
    [payment] = sandbox.company.payments["IncomingPayments"]
    assert (
        payment["TransferAccount"] == "1100"
        and payment["PaymentInvoices"][0]["DocEntry"] == invoice["DocEntry"]
    )


def test_a_lost_answer_is_finished_by_the_next_attempt_without_a_duplicate(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    doc = sale("S-LOST")
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/Invoices$", method="POST")
    with pytest.raises(Uncertain):
        target.post(doc)
    assert target.lookup(doc) is None  # found, but not paid yet
    result = target.post(doc)
    assert target.lookup(doc) == result
    assert (
        len(sandbox.company.documents["Invoices"]) == 1
        and len(sandbox.company.payments["IncomingPayments"]) == 1
    )


def test_a_duplicate_refusal_is_resolved_by_look_up() -> None:
    with SapB1Sandbox(unique_references=True) as b1:
        b1.seed_chart(*demo_chart())
        target = target_for(b1)
        doc = sale("S-DUP")
        first, second = target.post_batch([doc, doc])
        assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
        assert first.remote_id == second.remote_id
        assert (
            len(b1.company.documents["Invoices"]) == 1 and len(b1.company.payments["IncomingPayments"]) == 1
        )


def test_a_refund_is_a_credit_memo_paid_back_by_an_outgoing_payment(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    lines = (line("4000", "revenue", debit="10.00", tax_code="UK-VAT20"), line("2100", "tax", debit="2.00", tax_code="UK-VAT20"),
             line("1100", "clearing", credit="12.00"))  # fmt: skip
    check(
        target,
        PostingDocument(
            reference="R-1", idempotency_key="k", kind="refund", date=DAY, currency="GBP", lines=lines
        ),
    )
    [memo] = sandbox.company.documents["CreditNotes"]
    [refund] = sandbox.company.payments["VendorPayments"]
    assert (
        memo["DocTotal"] == Decimal("12.00")
        and refund["PaymentInvoices"][0]["InvoiceType"] == "it_CredItnote"
    )


def test_a_payout_is_a_journal_entry_made_once(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    lines = (
        line("1000", "bank", debit="95.00"),
        line("6100", "fee", debit="5.00"),
        line("1100", "clearing", credit="100.00"),
    )
    doc = PostingDocument(
        reference="PO-1", idempotency_key="k", kind="payout", date=DAY, currency="GBP", lines=lines
    )
    check(target, doc)
    assert target.post(doc).remote_id == "1" and len(sandbox.company.journals) == 1


def test_an_invoice_on_terms_goes_through_a_sales_order(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox, order_to_invoice=True)
    lines = (line("1200", "receivable", debit="12.00"), line("4000", "revenue", credit="10.00", tax_code="UK-VAT20"),
             line("2100", "tax", credit="2.00", tax_code="UK-VAT20"))  # fmt: skip
    doc = PostingDocument(
        reference="INV-9", idempotency_key="k", kind="invoice", date=DAY, currency="GBP", lines=lines
    )
    check(target, doc)
    [order] = sandbox.company.documents["Orders"]
    [invoice] = sandbox.company.documents["Invoices"]
    assert order["DocumentStatus"] == "bost_Close" and invoice["DocumentLines"][0]["BaseType"] == 17
    assert invoice["DocumentLines"][0]["BaseEntry"] == order["DocEntry"]
    assert (
        target.post(doc).remote_id == str(invoice["DocEntry"])
        and len(sandbox.company.documents["Orders"]) == 1
    )


def test_a_batch_of_50_sales_costs_a_few_requests(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    target.plan(sale("warm-up"))
    before = len(sandbox.requests)
    results = target.post_batch([sale(f"B-{n}") for n in range(50)])
    assert all(not isinstance(r, Exception) for r in results), results
    assert len(sandbox.company.documents["Invoices"]) == 50 and len(sandbox.requests) - before <= 6


def test_an_expired_session_logs_in_again(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    target.fetch_accounts()
    sandbox.expire_sessions()
    assert len(target.fetch_accounts()) > 20 and sandbox.logins == 2


def test_a_wrong_password_is_auth_expired(sandbox: SapB1Sandbox) -> None:
    config = LedgerConfig(connection_id="b1-bad", platform="sap_b1", functional_currency="GBP", base_url=sandbox.url,
                          credentials={"user": "manager", "password": "no"}, settings=sandbox.ledger_settings("v1"))  # fmt: skip
    with pytest.raises(AuthExpired):
        SapB1Target(config).fetch_accounts()


def test_closed_periods_are_refused_before_any_request(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    sandbox.company.set_period_status(date(2026, 9, 15), "ltLocked")
    sandbox.company.set_period_status(date(2026, 10, 15), "ltUnlockedExceptSales")
    target.posting_periods(refresh=True)
    before = len(sandbox.requests)
    for doc in (
        sale("P-1", day=date(2026, 9, 15)),
        sale("P-2", day=date(2026, 10, 15)),
        sale("P-3", day=date(2027, 2, 1)),
    ):
        with pytest.raises(ClosedPeriod):
            target.post(doc)
    assert len(sandbox.requests) == before
    payout = (line("1000", "bank", debit="5.00"), line("1100", "clearing", credit="5.00"))
    target.post(
        PostingDocument(
            reference="PO-OK",
            idempotency_key="k",
            kind="payout",
            date=date(2026, 10, 15),
            currency="GBP",
            lines=payout,
        )
    )


def test_the_service_layers_own_4013_is_a_closed_period(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    target.posting_periods(refresh=True)
    sandbox.company.set_period_status(date(2026, 10, 5), "ltLocked")  # locked after we read the periods
    with pytest.raises(ClosedPeriod, match="locked"):
        target.post(sale("S-LATE"))
    assert target.fetch_lock_date() is None


def test_reads_accounts_and_vat_groups(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox)
    accounts = {a.code: a for a in target.fetch_accounts()}
    assert accounts["4000"].type == "revenue" and accounts["1200"].type == "asset"
    assert {t.code: t.rate for t in target.fetch_tax_codes()}["UK-VAT20"] == Decimal("0.2")
    assert target.test_connection().ok


@pytest.mark.parametrize(
    ("fixture", "status", "expected"),
    [
        ("error_v1_period_locked.json", 400, ClosedPeriod),
        ("error_v2_period_locked.json", 400, ClosedPeriod),
        ("error_v1_exists.json", 400, DuplicateDocument),
        ("error_v2_session.json", 401, SessionExpired),
        ("error_v1_login.json", 401, AuthExpired),
        ("error_v2_account.json", 400, Permanent),
    ],
)
def test_error_classification_table(fixture: str, status: int, expected: type) -> None:
    body = json.loads((FIXTURES / fixture).read_text())
    error = classify_error(status, body)
    assert type(error) is expected and error.vendor_code == str(body["error"]["code"])


def test_every_line_carries_the_connections_department_and_project(sandbox: SapB1Sandbox) -> None:
    target = target_for(sandbox, costing_code="RETAIL", project_code="KENTE")
    target.post(sale("S-DIM"))
    payout = (line("1000", "bank", debit="5.00"), line("1100", "clearing", credit="5.00"))
    target.post(
        PostingDocument(
            reference="PO-DIM", idempotency_key="k", kind="payout", date=DAY, currency="GBP", lines=payout
        )
    )
    lines = (
        sandbox.company.documents["Invoices"][0]["DocumentLines"]
        + sandbox.company.journals[0]["JournalEntryLines"]
    )
    assert {(ln["CostingCode"], ln["ProjectCode"]) for ln in lines} == {("RETAIL", "KENTE")}
