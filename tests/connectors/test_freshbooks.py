"""FreshBooks target against the FreshBooks sandbox over real HTTP on 127.0.0.1.

Given a sandbox account (chart: 1000 cash, 1100 card clearing, 1200 receivables, 2200 VAT, 4000
sales, 4010 homeware, 6100 fees; tax VAT 20 %; FreshBooks books lines to 4000, totals to 1200 and
payments to 1000), when the target posts, then FreshBooks' own booking plus the adjustment entry
equals the journal per account, its tax equals ours per tax, and nothing is ever made twice.
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
from connectors.ledgers.freshbooks import FreshBooksTarget, classify_answer, freshbooks_tax, split_for_tax
from connectors.sandbox.base import Fault
from connectors.sandbox.freshbooks import FreshBooksSandbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "freshbooks"
SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs" / "freshbooks"
DAY = date(2026, 3, 2)
VAT = {"tax_code": "VAT", "tax_code_ref": "VAT"}


def line(code: str, role: str, debit: str = "0", credit: str = "0", **kw: object) -> PostingLine:
    """A posting line in the sandbox account's numbers."""
    return PostingLine(account_code=code, role=role, debit=Decimal(debit), credit=Decimal(credit), **kw)  # type: ignore[arg-type]


def sale_doc(reference: str, *, receivable: bool = False) -> PostingDocument:
    """A basket priced VAT-inclusive: 24.99 of homeware (net 20.83, VAT 4.16) and 12.00 of textiles
    (net 10.00, VAT 2.00), paid by card into clearing 1100 (or left owing)."""
    lines = (
        line("1200" if receivable else "1100", "receivable" if receivable else "clearing", debit="36.99"),
        line("4010", "revenue", credit="20.83", description="Basket", **VAT),
        line("4000", "revenue", credit="10.00", description="Kente scarf", **VAT),
        line("2200", "tax", credit="6.16", **VAT),
    )
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="sale", date=DAY,
                           currency="GBP", lines=lines, prices_include_tax=True, number=reference)  # fmt: skip


def payment_doc(reference: str, invoice_id: str) -> PostingDocument:
    """A payment of an invoice into clearing."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payment", date=DAY,
                           currency="GBP", related_remote_id=invoice_id,
                           lines=(line("1100", "clearing", debit="36.99"), line("1200", "receivable", credit="36.99")))  # fmt: skip


def refund_doc(reference: str) -> PostingDocument:
    """A refund of the scarf and its VAT from clearing."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="refund", date=DAY,
                           currency="GBP", lines=(line("4000", "revenue", debit="10.00", **VAT),
                                                  line("2200", "tax", debit="2.00", **VAT),
                                                  line("1100", "clearing", credit="12.00")))  # fmt: skip


def payout_doc(reference: str) -> PostingDocument:
    """A payout from clearing to the bank less a fee."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payout", date=DAY,
                           currency="GBP", lines=(line("1000", "bank", debit="98.20"), line("6100", "fee", debit="1.80"),
                                                  line("1100", "clearing", credit="100.00")))  # fmt: skip


@pytest.fixture(autouse=True)
def process_local_oauth():
    """Connector tests run without the database (the core's credential reader is set aside)."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


@pytest.fixture
def sandbox():
    with FreshBooksSandbox() as server:
        server.seed_chart(
            [("1000", "Cash", "asset"), ("1100", "Card clearing", "asset"), ("1200", "Accounts Receivable", "asset"),
             ("2200", "VAT payable", "liability"), ("4000", "Sales", "revenue"), ("4010", "Sales - homeware", "revenue"),
             ("6100", "Bank fees", "expense")],
            [("VAT", "VAT", "0.20")],
        )  # fmt: skip
        yield server


def target_for(sandbox: FreshBooksSandbox, **settings: object) -> FreshBooksTarget:
    """A target as the core builds it: LedgerConfig only."""
    config = LedgerConfig(connection_id=f"fb-{sandbox.account_id}", platform="freshbooks", functional_currency="GBP",
                          base_url=sandbox.url, credentials=sandbox.credentials(),
                          settings={**sandbox.ledger_settings(), **settings})  # fmt: skip
    target = ledger_target_class("freshbooks")(config)
    assert isinstance(target, FreshBooksTarget)
    return target


def verified(target: FreshBooksTarget, doc: PostingDocument, result: PostResult) -> None:
    """FreshBooks' booking plus the adjustment entry equals the journal, per account and tax."""
    assert compare_views(target.expected_view(doc), target.read_back(doc, result)) == []


# ---------------------------------------------------------------------------------------------
# Tax as FreshBooks computes it
# ---------------------------------------------------------------------------------------------


def test_a_line_whose_freshbooks_tax_differs_is_split_into_taxed_and_rounding_parts():
    assert freshbooks_tax(Decimal("20.83"), Decimal(20)) == Decimal("4.17")  # ours is 4.16
    assert split_for_tax(Decimal("20.83"), Decimal("4.16"), Decimal(20)) == (
        Decimal("20.80"),
        Decimal("0.03"),
    )
    assert split_for_tax(Decimal("10.00"), Decimal("2.00"), Decimal(20)) == (Decimal("10.00"), Decimal(0))
    assert split_for_tax(Decimal("-5.00"), Decimal("-1.00"), Decimal(20)) == (Decimal("-5.00"), Decimal(0))
    # A penny of the document's tax allocated to this line: more than 20 % of it.
    assert split_for_tax(Decimal("70.00"), Decimal("14.01"), Decimal(20)) == (
        Decimal("70.05"),
        Decimal("-0.05"),
    )


def test_sale_is_an_invoice_whose_tax_freshbooks_computes_as_ours_and_a_payment(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("W-1001")
    result = target.post(doc)
    (invoice,) = sandbox.documents("invoices")
    names = [ln["name"] for ln in invoice["lines"]]
    assert names == ["Basket", "Basket (rounding)", "Kente scarf"]
    assert [ln["amount"]["amount"] for ln in invoice["lines"]] == [
        Decimal("20.80"),
        Decimal("0.03"),
        Decimal("10.00"),
    ]
    assert invoice["amount"]["amount"] == Decimal("36.99") and invoice["outstanding"]["amount"] == 0
    (payment,) = sandbox.documents("payments")
    assert payment["note"] == "W-1001/1"
    (adjustment,) = sandbox.documents("journal_entries")
    assert adjustment["name"] == "W-1001/adj"
    verified(target, doc, result)


def test_an_invoice_on_terms_and_its_later_payment(sandbox):
    target = target_for(sandbox)
    invoice_doc = sale_doc("W-1002", receivable=True)
    invoice = target.post(invoice_doc)
    verified(target, invoice_doc, invoice)
    doc = payment_doc("PAY-1", invoice.remote_id)
    result = target.post(doc)
    assert sandbox.documents("invoices")[0]["outstanding"]["amount"] == 0
    verified(target, doc, result)


def test_refund_and_payout_are_journal_entries(sandbox):
    target = target_for(sandbox)
    for doc in (refund_doc("R-1"), payout_doc("P-1")):
        result = target.post(doc)
        assert result.raw["entity"] == "JournalEntry"
        verified(target, doc, result)
    assert [e["name"] for e in sandbox.documents("journal_entries")] == ["R-1", "P-1"]


# ---------------------------------------------------------------------------------------------
# Exactly once: look-up first
# ---------------------------------------------------------------------------------------------


def test_a_lost_invoice_answer_is_found_not_repeated(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("W-1003")
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/invoices/invoices$", method="POST")
    with pytest.raises(Uncertain):
        target.post(doc)
    assert target.lookup(doc) is None  # the invoice is there, its payment is not
    result = target.post(doc)
    assert len(sandbox.documents("invoices")) == 1 and len(sandbox.documents("payments")) == 1
    verified(target, doc, result)


def test_a_lost_payment_answer_does_not_pay_twice(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("W-1004")
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/payments/payments$", method="POST")
    with pytest.raises(Uncertain):
        target.post(doc)
    result = target.post(doc)
    assert len(sandbox.documents("payments")) == 1
    assert target.lookup(doc) == result


def test_posting_twice_makes_nothing_new(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("W-1005")
    first = target.post(doc)
    writes = len(sandbox.writes())
    assert target.post(doc) == first and len(sandbox.writes()) == writes


# ---------------------------------------------------------------------------------------------
# Lock date, limits, errors
# ---------------------------------------------------------------------------------------------


def test_the_connections_lock_date_is_refused_before_any_call(sandbox):
    target = target_for(sandbox, lock_date="2026-03-31")
    before = len(sandbox.requests)
    with pytest.raises(ClosedPeriod):
        target.post(sale_doc("W-1006"))
    assert len(sandbox.requests) == before


def test_429_is_honoured_and_a_500_is_retryable(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("rate_limit", retry_after=1.0), Fault("status", status=500))
    with pytest.raises(RateLimited):
        target.post(refund_doc("R-2"))
    with pytest.raises(Retryable):
        target.post(refund_doc("R-2"))
    result = target.post(refund_doc("R-2"))
    assert sandbox.requests_inside_retry_after() == [] and result.remote_id


def test_an_error_sent_with_http_200_is_an_error(sandbox):
    target = target_for(sandbox)
    invoice = target.post(sale_doc("W-1007", receivable=True))
    too_much = PostingDocument(reference="PAY-2", idempotency_key="k-pay-2", kind="payment", date=DAY, currency="GBP",
                               related_remote_id=invoice.remote_id,
                               lines=(line("1100", "clearing", debit="99.00"), line("1200", "receivable", credit="99.00")))  # fmt: skip
    with pytest.raises(Permanent, match="exceeds"):
        target.post(too_much)


def test_an_expired_token_is_refreshed_with_the_client_credentials_in_the_body(sandbox):
    target = target_for(sandbox)
    sandbox.tokens.expire_access_tokens()
    target.post(refund_doc("R-3"))
    token_call = next(r for r in sandbox.requests if r.path == "/auth/oauth/token")
    assert "client_secret=" in token_call.body.decode() and not token_call.header("Authorization")


def test_reads_identity_accounts_and_taxes(sandbox):
    target = target_for(sandbox)
    assert target.identity() == {"account_id": sandbox.account_id, "business_id": str(sandbox.business_id)}
    assert {a.code for a in target.fetch_accounts()} >= {"1000", "4010"}
    assert [(t.code, t.rate) for t in target.fetch_tax_codes()] == [("VAT", Decimal("0.2"))]
    assert target.test_connection().ok


@pytest.mark.parametrize(
    ("source", "name", "status", "expected", "code"),
    [
        ("specs", "get_client_response__not_found_new.json", 404, Permanent, "1012"),
        ("specs", "get_client_response__not_found_old.json", 200, Permanent, "1012"),
        ("specs", "create_ledger_account_response__validation_errors.json", 400, Permanent, "400"),
        ("specs", "create_callback_response__validation_error.json", 422, Permanent, "422"),
        ("fixtures", "error_401.json", 401, AuthExpired, "unauthenticated"),
        ("fixtures", "error_500.json", 500, Retryable, "14"),
    ],
)
def test_error_classification_table(source, name, status, expected, code):
    folder = SPECS if source == "specs" else FIXTURES
    if not (folder / name).exists():
        pytest.skip(f"{name} not available")
    error = classify_answer(status, json.loads((folder / name).read_text()))
    assert type(error) is expected and error.vendor_code == code and error.vendor_message


def test_a_successful_answer_is_not_an_error():
    body = json.loads((FIXTURES / "create_payment_response.json").read_text())
    assert classify_answer(200, body) is None
