"""Sage target against the Sage sandbox over real HTTP on 127.0.0.1.

Given a sandbox business (seed chart: 1200 bank and 1210 card clearing, both bank accounts; 1100
debtors control; 2200 sales tax control; 4000 sales; 7900 bank charges; tax rates GB_STANDARD 20 %,
GB_ZERO, GB_NO_TAX), when the target posts, then the business holds exactly the resources, totals
and tax the journal says, read back per ledger account and tax rate.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connectors import auth
from connectors.base import (
    AuthExpired,
    ClosedPeriod,
    LedgerConfig,
    Permanent,
    PostingDocument,
    PostingLine,
    PostResult,
    RateLimited,
    Retryable,
    Uncertain,
    ledger_target_class,
)
from connectors.ledgers.common import compare_views
from connectors.ledgers.sage import SageTarget, classify_error, idempotency_id
from connectors.sandbox.base import Fault
from connectors.sandbox.sage import SageSandbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sage"
DAY = date(2026, 3, 2)


def line(code: str, role: str, debit: str = "0", credit: str = "0", **kw: object) -> PostingLine:
    """A posting line in the sandbox business's nominal codes."""
    return PostingLine(account_code=code, role=role, debit=Decimal(debit), credit=Decimal(credit), **kw)  # type: ignore[arg-type]


def sale_doc(reference: str, *, day: date = DAY, receivable: bool = False) -> PostingDocument:
    """Two lines at 20 % VAT (10.00 and 4.99), paid into card clearing (or left owing)."""
    lines = (
        line("1100" if receivable else "1210", "receivable" if receivable else "clearing", debit="17.99"),
        line("4000", "revenue", credit="10.00", tax_code="GB_STANDARD", tax_code_ref="GB_STANDARD"),
        line("4000", "revenue", credit="4.99", tax_code="GB_STANDARD", tax_code_ref="GB_STANDARD"),
        line("2200", "tax", credit="3.00", tax_code="GB_STANDARD", tax_code_ref="GB_STANDARD"),
    )
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="sale", date=day,
                           currency="GBP", lines=lines, memo="web order")  # fmt: skip


def refund_doc(reference: str, *, money: bool = True, invoice_id: str = "") -> PostingDocument:
    """A refund of 10.00 and its VAT, repaid from clearing (or credited against the invoice)."""
    settle = line("1210", "clearing", credit="12.00") if money else line("1100", "receivable", credit="12.00")
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="refund", date=DAY,
                           currency="GBP", related_remote_id=invoice_id,
                           lines=(line("4000", "revenue", debit="10.00", tax_code="GB_STANDARD", tax_code_ref="GB_STANDARD"),
                                  line("2200", "tax", debit="2.00", tax_code="GB_STANDARD", tax_code_ref="GB_STANDARD"),
                                  settle))  # fmt: skip


def payout_doc(reference: str, gross: str = "120.00", fee: str = "1.80") -> PostingDocument:
    """A payout from card clearing to the bank; the bank line is the net deposit."""
    net = str(Decimal(gross) - Decimal(fee))
    lines = [line("1200", "bank", debit=net), line("1210", "clearing", credit=gross)]
    if Decimal(fee):
        lines.insert(1, line("7900", "fee", debit=fee))
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payout", date=DAY,
                           currency="GBP", lines=tuple(lines))  # fmt: skip


def journal_doc(reference: str, day: date = DAY) -> PostingDocument:
    """A chargeback withdrawn from clearing: only a journal says it."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="dispute", date=day,
                           currency="GBP", memo="chargeback",
                           lines=(line("7900", "adjustment", debit="50.00"), line("1210", "clearing", credit="50.00")))  # fmt: skip


@pytest.fixture(autouse=True)
def process_local_oauth():
    """Connector tests run without the database: the core's credential reader and lock are set
    aside for the test and put back afterwards."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


@pytest.fixture
def sandbox():
    with SageSandbox() as server:
        server.seed_chart(
            [("1200", "Bank current account", "asset"), ("1210", "Card clearing", "asset"),
             ("1100", "Accounts receivable", "asset"), ("2200", "VAT payable", "liability"),
             ("4000", "Sales", "revenue"), ("7900", "Bank charges", "expense")],
            [("GB_STANDARD", "Standard 20.00%", "0.20"), ("GB_ZERO", "Zero Rated 0.00%", "0")],
        )  # fmt: skip
        yield server


def target_for(sandbox: SageSandbox, saved: list | None = None, **settings: object) -> SageTarget:
    """A target as the core builds it: LedgerConfig only."""
    config = LedgerConfig(
        connection_id=f"sage-{sandbox.business.id}",
        platform="sage",
        functional_currency="GBP",
        base_url=sandbox.api_url,
        credentials=sandbox.credentials(),
        settings={**sandbox.ledger_settings(), **settings},
        save_credentials=(saved.append if saved is not None else None),
    )
    target = ledger_target_class("sage")(config)
    assert isinstance(target, SageTarget)
    target.business_facts(refresh=True)
    return target


def verified(target: SageTarget, doc: PostingDocument, result: PostResult) -> None:
    """The business, read back, holds per ledger account and tax rate what the journal says."""
    assert compare_views(target.expected_view(doc), target.read_back(doc, result)) == []


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------


def test_sale_is_an_invoice_with_our_tax_on_every_line_and_a_receipt_allocated_to_it(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-1")
    result = target.post(doc)
    (invoice,) = sandbox.documents("sales_invoices")
    (receipt,) = sandbox.documents("contact_payments")
    # 10.00 and 4.99 at 20 % would be 2.00 + 1.00 by line; our 3.00 is on the lines as we sent it.
    assert [ln["tax_amount"] for ln in invoice["invoice_lines"]] == [Decimal("2.00"), Decimal("1.00")]
    assert invoice["total_amount"] == Decimal("17.99") and invoice["outstanding_amount"] == 0
    assert receipt["transaction_type"]["id"] == "CUSTOMER_RECEIPT"
    assert receipt["allocated_artefacts"][0]["artefact"]["id"] == invoice["id"] == result.remote_id
    verified(target, doc, result)


def test_an_invoice_on_terms_stays_owing_in_debtors(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-2", receivable=True)
    result = target.post(doc)
    assert sandbox.documents("contact_payments") == []
    assert sandbox.documents("sales_invoices")[0]["outstanding_amount"] == Decimal("17.99")
    verified(target, doc, result)


def test_refund_is_a_credit_note_with_a_customer_refund(sandbox):
    target = target_for(sandbox)
    doc = refund_doc("R-1")
    result = target.post(doc)
    (note,) = sandbox.documents("sales_credit_notes")
    (refund,) = sandbox.documents("contact_payments")
    assert refund["transaction_type"]["id"] == "CUSTOMER_REFUND" and note["outstanding_amount"] == 0
    verified(target, doc, result)


def test_a_credit_without_money_is_allocated_against_its_invoice(sandbox):
    target = target_for(sandbox)
    invoice = target.post(sale_doc("S-3", receivable=True))
    doc = refund_doc("R-3", money=False, invoice_id=invoice.remote_id)
    result = target.post(doc)
    (allocation,) = sandbox.documents("contact_allocations")
    assert sum(a["amount"] for a in allocation["allocated_artefacts"]) == 0
    assert sandbox.documents("sales_invoices")[0]["outstanding_amount"] == Decimal("5.99")
    verified(target, doc, result)


def test_payout_is_a_transfer_of_the_deposit_and_an_other_payment_of_the_fees(sandbox):
    target = target_for(sandbox)
    doc = payout_doc("P-1")
    result = target.post(doc)
    (transfer,) = sandbox.documents("bank_transfers")
    (fees,) = sandbox.documents("other_payments")
    assert transfer["amount"] == Decimal("118.20") and fees["total_amount"] == Decimal("1.80")
    verified(target, doc, result)


def test_a_dispute_is_a_journal(sandbox):
    target = target_for(sandbox)
    doc = journal_doc("D-1")
    result = target.post(doc)
    assert result.raw["entity"] == "Journal"
    verified(target, doc, result)


# ---------------------------------------------------------------------------------------------
# Exactly once
# ---------------------------------------------------------------------------------------------


def test_every_step_carries_a_stable_idempotency_id(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-4")
    target.post(doc)
    target.post(doc)
    bodies = [json.loads(r.body) for r in sandbox.writes() if not r.path.endswith("/contacts")]
    ids = [next(iter(b.values()))["idempotency_id"] for b in bodies]
    assert ids == [idempotency_id(doc.idempotency_key, s) for s in ("doc", "pay1")] * 2
    assert len(sandbox.documents("sales_invoices")) == 1 and len(sandbox.documents("contact_payments")) == 1


def test_a_lost_receipt_answer_is_finished_without_a_duplicate(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-5")
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/contact_payments$")
    with pytest.raises(Uncertain):
        target.post(doc)
    found = target.lookup(doc)
    assert found is not None
    assert len(sandbox.documents("contact_payments")) == 1
    verified(target, doc, found)


def test_lookup_returns_nothing_until_every_step_is_done(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-6")
    sandbox.faults.next(Fault("status", status=500), path=r"/contact_payments$")
    with pytest.raises(Retryable):
        target.post(doc)
    assert target.lookup(doc) is None  # the invoice exists, its receipt does not
    result = target.post(doc)
    assert len(sandbox.documents("sales_invoices")) == 1 and len(sandbox.documents("contact_payments")) == 1
    verified(target, doc, result)


# ---------------------------------------------------------------------------------------------
# Lock dates, limits, errors
# ---------------------------------------------------------------------------------------------


def test_a_document_on_or_before_the_lockdown_date_is_refused_before_any_write(sandbox):
    sandbox.set_lock_dates(lockdown=DAY)
    target = target_for(sandbox)
    assert target.fetch_lock_date() == DAY
    with pytest.raises(ClosedPeriod):
        target.post(sale_doc("S-7"))
    assert sandbox.writes() == []


def test_the_day_before_the_accounts_start_date_is_closed(sandbox):
    sandbox.set_lock_dates(accounts_start=date(2026, 3, 3))
    target = target_for(sandbox)
    assert target.fetch_lock_date() == DAY
    with pytest.raises(ClosedPeriod):
        target.post(journal_doc("D-2"))
    assert sandbox.writes() == []


def test_the_connections_own_lock_date_is_refused_before_any_call(sandbox):
    target = target_for(sandbox, lock_date="2026-12-31")
    before = len(sandbox.requests)
    with pytest.raises(ClosedPeriod):
        target.post(sale_doc("S-8"))
    assert len(sandbox.requests) == before


def test_sages_own_lockdown_refusal_is_a_closed_period(sandbox):
    target = target_for(sandbox)
    sandbox.set_lock_dates(lockdown=DAY)  # after the target read the settings
    with pytest.raises(ClosedPeriod, match="lockdown"):
        target.post(journal_doc("D-3"))


def test_429_is_honoured_no_request_inside_the_retry_after_window(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("rate_limit", retry_after=1.0))
    with pytest.raises(RateLimited) as caught:
        target.post(journal_doc("D-4"))
    assert caught.value.retry_after == 1.0
    target.http.max_wait = 5
    target.post(journal_doc("D-4"))
    assert sandbox.requests_inside_retry_after() == []


def test_an_expired_access_token_is_refreshed_with_the_client_credentials_in_the_form(sandbox):
    saved: list = []
    target = target_for(sandbox, saved)
    sandbox.tokens.expire_access_tokens()
    target.post(journal_doc("D-5"))
    assert sandbox.tokens.count("refresh_token", "ok") == 1 and saved
    token_calls = [r for r in sandbox.requests if r.path == "/token"]
    assert "client_secret=" in token_calls[-1].body.decode() and not token_calls[-1].header("Authorization")


def test_a_revoked_connection_is_auth_expired(sandbox):
    target = target_for(sandbox)
    sandbox.tokens.expire_access_tokens()
    sandbox.tokens.revoke_refresh_tokens()
    with pytest.raises(AuthExpired):
        target.post(journal_doc("D-6"))


def test_access_tokens_are_refreshed_a_minute_before_they_expire(sandbox):
    target = target_for(sandbox)
    assert target.oauth.refresh_margin.total_seconds() == 60


def test_reads_accounts_tax_rates_contacts_and_the_lead_business(sandbox):
    target = target_for(sandbox)
    accounts = {a.code: a for a in target.fetch_accounts()}
    assert accounts["4000"].type == "revenue" and accounts["1210"].remote_id
    rates = {t.code: t.rate for t in target.fetch_tax_codes()}
    assert rates["GB_STANDARD"] == Decimal("0.2") and "GB_NO_TAX" in rates
    assert target.lead_business() == sandbox.business.id
    assert target.test_connection().ok


@pytest.mark.parametrize(
    ("fixture", "status", "expected", "code"),
    [
        ("error_422_validation.json", 422, Permanent, "RecordInvalid"),
        ("error_422_lockdown.json", 422, ClosedPeriod, "RecordInvalid"),
        ("error_401.json", 401, AuthExpired, "Unauthorized"),
        ("error_500.json", 500, Retryable, "UnexpectedError"),
    ],
)
def test_error_classification_table(fixture, status, expected, code):
    error = classify_error(status, json.loads((FIXTURES / fixture).read_text()))
    assert type(error) is expected and error.vendor_code == code and error.vendor_message
