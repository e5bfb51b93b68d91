"""Zoho Books target against the Zoho Books sandbox over real HTTP on 127.0.0.1.

Given a sandbox organisation (accounts 1000 Bank and 1100 Stripe clearing, both bank accounts;
1200 Accounts Receivable; 2100 tax payable; 4000 sales; 4100 shipping; 6100 bank fees; 6200
chargebacks; taxes VAT20 20 % and ZERO), when the target posts, then the organisation holds
exactly the documents, payments, totals and tax the journal says, read back per account and tax.
"""

from __future__ import annotations

import json
import time
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from connectors import auth
from connectors.base import (
    AuthExpired,
    ClosedPeriod,
    LedgerConfig,
    MemoryRefStore,
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
from connectors.ledgers.zoho_books import ZohoBooksTarget, classify_error, rounding_lines
from connectors.ledgers.zoho_books.errors import DuplicateDocument
from connectors.sandbox.base import Fault
from connectors.sandbox.zoho_books import ZohoBooksSandbox
from integrator.canonical import Party

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zoho_books"
DAY = date(2026, 1, 5)
RATE = Decimal("0.20")
CENT = Decimal("0.01")


def line(code: str, role: str, debit: str = "0", credit: str = "0", **kw: object) -> PostingLine:
    """A posting line in the sandbox organisation's account codes."""
    return PostingLine(account_code=code, role=role, debit=Decimal(debit), credit=Decimal(credit), **kw)  # type: ignore[arg-type]


def sale_doc(
    reference: str,
    prices: tuple[tuple[str, int], ...] = (("10.00", 3),),
    *,
    per_document_tax: bool = False,
    currency: str = "USD",
    exchange_rate: Decimal | None = None,
    day: date = DAY,
) -> PostingDocument:
    """A sale as a shop computes it (tax per line, or on the total), paid into clearing 1100."""
    revenue, taxes = [], []
    for unit, qty in prices:
        net = Decimal(unit) * qty
        taxes.append(net * RATE)
        revenue.append(line("4000", "revenue", credit=str(net), quantity=Decimal(qty), unit_price=Decimal(unit),
                            tax_code="VAT20", tax_rate=RATE, description=f"{qty} x {unit}"))  # fmt: skip
    if per_document_tax:
        tax = sum(taxes, Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    else:
        tax = sum((t.quantize(CENT, ROUND_HALF_UP) for t in taxes), Decimal(0))
    total = sum((ln.credit for ln in revenue), Decimal(0)) + tax
    lines = (
        line("1100", "clearing", debit=str(total)),
        *revenue,
        line("2100", "tax", credit=str(tax), tax_code="VAT20"),
    )
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="sale", date=day,
                           currency=currency, lines=lines, exchange_rate=exchange_rate, memo="web order")  # fmt: skip


def invoice_doc(reference: str, amount: str = "100.00") -> PostingDocument:
    """A B2B invoice on terms for a named customer."""
    net = Decimal(amount)
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="invoice", date=DAY,
                           currency="USD", customer=Party(name="Kente Wholesale", email="ap@kente.example"),
                           due_date=date(2026, 2, 4), lines=(
                               line("1200", "receivable", debit=str(net * Decimal("1.2"))),
                               line("4000", "revenue", credit=str(net), tax_code="VAT20", tax_rate=RATE),
                               line("2100", "tax", credit=str(net * Decimal("0.2")), tax_code="VAT20")))  # fmt: skip


def payment_doc(reference: str, invoice: PostResult, amount: str) -> PostingDocument:
    """A customer's payment of an invoice into the bank."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payment", date=DAY,
                           currency="USD", customer=Party(name="Kente Wholesale"), related_remote_id=invoice.remote_id,
                           lines=(line("1000", "bank", debit=amount), line("1200", "receivable", credit=amount)))  # fmt: skip


def refund_doc(reference: str, *, related: str = "", money: bool = True) -> PostingDocument:
    """A refund of one 10.00 line and its tax, paid back from clearing (or credited to an invoice)."""
    settle = line("1100", "clearing", credit="12.00") if money else line("1200", "receivable", credit="12.00")
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="refund", date=DAY,
                           currency="USD", related_remote_id=related, customer=Party(name="Kente Wholesale") if related else None,
                           lines=(line("4000", "revenue", debit="10.00", tax_code="VAT20", tax_rate=RATE),
                                  line("2100", "tax", debit="2.00", tax_code="VAT20"), settle))  # fmt: skip


def payout_doc(reference: str, gross: str = "120.00", fee: str = "0") -> PostingDocument:
    """A payout from clearing to the bank; with a fee the bank line is the net deposit."""
    net = str(Decimal(gross) - Decimal(fee))
    lines = [line("1000", "bank", debit=net), line("1100", "clearing", credit=gross)]
    if Decimal(fee):
        lines.insert(1, line("6100", "fee", debit=fee))
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payout", date=DAY,
                           currency="USD", lines=tuple(lines))  # fmt: skip


def journal_doc(reference: str, currency: str = "USD", rate: Decimal | None = None) -> PostingDocument:
    """A document only a journal can say (a dispute withdrawn from clearing)."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="dispute", date=DAY,
                           currency=currency, exchange_rate=rate, memo="chargeback", lines=(
                               line("6200", "adjustment", debit="100.00"), line("1100", "clearing", credit="100.00")))  # fmt: skip


def verified(target: ZohoBooksTarget, doc: PostingDocument, result: PostResult) -> None:
    """The organisation, read back, holds per account and tax what the journal says."""
    assert compare_views(target.expected_view(doc), target.read_back(doc, result)) == []


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
    with ZohoBooksSandbox(pause=1.0, currencies=("EUR",)) as server:
        yield server


def target_for(sandbox: ZohoBooksSandbox, saved: list | None = None, refs: MemoryRefStore | None = None,
               **settings: object) -> ZohoBooksTarget:  # fmt: skip
    """A target as the core builds it: LedgerConfig only."""
    config = LedgerConfig(
        connection_id=f"zoho-{sandbox.organization_id}-{sandbox.port}",
        platform="zoho_books",
        functional_currency="USD",
        base_url=sandbox.url,
        credentials=sandbox.credentials(),
        settings={**sandbox.ledger_settings(), **settings},
        save_credentials=(saved.append if saved is not None else None),
        refs=refs or MemoryRefStore(),
    )
    target = ledger_target_class("zoho_books")(config)
    assert isinstance(target, ZohoBooksTarget)
    return target


# ---------------------------------------------------------------------------------------------
# Documents and totals
# ---------------------------------------------------------------------------------------------


def test_sale_becomes_a_sent_invoice_with_our_number_paid_into_clearing(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-1", (("10.00", 3), ("4.99", 2)))
    result = target.post(doc)
    [invoice] = sandbox.documents("invoices")
    assert invoice["invoice_number"] == "S-1" and invoice["reference_number"] == "S-1"
    assert invoice["status"] == "paid" and invoice["total"] == Decimal("47.98")
    [payment] = sandbox.documents("customerpayments")
    assert payment["reference_number"] == "S-1/1" and payment["amount"] == Decimal("47.98")
    assert all(
        "tax_amount" not in ln for ln in sandbox.requests_to("POST", "/invoices$")[0].json()["line_items"]
    )
    verified(target, doc, result)


def test_shop_rounding_on_the_total_adds_two_visible_tax_rounding_lines(sandbox):
    target = target_for(sandbox)
    # Three lines of 1.05 at 20 %: per line 0.21 x 3 = 0.63; on the total 0.63 too; make it differ:
    doc = sale_doc("S-ROUND", (("1.03", 1), ("1.03", 1), ("1.03", 1)), per_document_tax=True)
    ours = next(ln.credit for ln in doc.lines if ln.role == "tax")
    result = target.post(doc)
    [invoice] = sandbox.documents("invoices")
    rounding = [ln for ln in invoice["line_items"] if ln["description"] == "Tax rounding"]
    assert len(rounding) == 2 and sum(ln["item_total"] for ln in rounding) == 0
    assert invoice["tax_total"] == ours and invoice["total"] == doc.lines[0].debit
    verified(target, doc, result)


def test_rounding_line_amounts_make_zohos_tax_ours_in_both_modes():
    rates = {"t": Decimal("0.2")}
    lines = [(Decimal("1.03"), "t")] * 3
    for mode in ("line", "document"):
        fix = rounding_lines(lines, {"t": Decimal("0.61")}, rates, mode, "USD")
        x = fix["t"]
        from connectors.ledgers.zoho_books.documents import zoho_tax

        assert zoho_tax([*lines, (x, "t"), (-x, "")], rates, mode, "USD") == {"t": Decimal("0.61")}


def test_an_organisation_rounding_the_other_way_is_corrected_once_and_remembered():
    with ZohoBooksSandbox(tax_rounding="document", pause=1.0) as zoho:
        refs = MemoryRefStore()
        target = target_for(zoho, refs=refs)  # the connection says "line"
        first = sale_doc("R-1", (("1.03", 1), ("1.03", 1), ("1.03", 1)))
        result = target.post(first)
        assert refs.get("setting", "tax_rounding") == "document"
        verified(target, first, result)
        second = sale_doc("R-2", (("1.03", 1), ("1.03", 1), ("1.03", 1)))
        verified(target, second, target.post(second))
        assert len(zoho.requests_to("PUT", "/invoices/")) == 1  # corrected once


def test_refund_becomes_a_credit_note_refunded_from_clearing(sandbox):
    target = target_for(sandbox)
    doc = refund_doc("RF-1")
    result = target.post(doc)
    [note] = sandbox.documents("creditnotes")
    assert (
        note["creditnote_number"] == "RF-1"
        and note["status"] == "closed"
        and note["total"] == Decimal("12.00")
    )
    verified(target, doc, result)


def test_a_credit_note_without_money_is_applied_to_the_invoice_it_undoes(sandbox):
    target = target_for(sandbox)
    invoice = target.post(invoice_doc("INV-9", "10.00"))
    doc = refund_doc("CN-9", related=invoice.remote_id, money=False)
    result = target.post(doc)
    [inv] = sandbox.documents("invoices")
    assert inv["balance"] == 0 and inv["status"] == "paid"
    assert target.lookup(doc) is not None
    verified(target, doc, result)


def test_an_invoice_on_terms_paid_in_two_parts(sandbox):
    target = target_for(sandbox)
    doc = invoice_doc("INV-1")
    invoice = target.post(doc)
    verified(target, doc, invoice)
    [row] = sandbox.documents("invoices")
    assert row["status"] == "sent" and row["due_date"] == "2026-02-04"
    for n, amount in enumerate(("50.00", "70.00")):
        pay = payment_doc(f"PAY-{n}", invoice, amount)
        verified(target, pay, target.post(pay))
    assert sandbox.documents("invoices")[0]["status"] == "paid"


def test_payout_with_fees_is_a_transfer_of_the_deposit_and_an_expense_for_the_fee(sandbox):
    target = target_for(sandbox)
    doc = payout_doc("PO-1", "120.00", "3.78")
    result = target.post(doc)
    [transfer] = sandbox.documents("banktransactions")
    [expense] = sandbox.documents("expenses")
    assert transfer["amount"] == Decimal("116.22") and expense["amount"] == Decimal("3.78")
    verified(target, doc, result)


def test_a_dispute_is_a_published_journal_in_its_own_currency(sandbox):
    target = target_for(sandbox)
    for doc in (journal_doc("J-1"), journal_doc("J-EUR", "EUR", Decimal("1.0825"))):
        verified(target, doc, target.post(doc))
    journals = sandbox.documents("journals")
    assert [j["currency_code"] for j in journals] == ["USD", "EUR"] and {j["status"] for j in journals} == {
        "published"
    }
    assert journals[1]["exchange_rate"] == Decimal("1.0825")


def test_customers_and_items_are_found_or_created_once(sandbox):
    refs = MemoryRefStore()
    target = target_for(sandbox, refs=refs)
    target.post(invoice_doc("INV-A"))
    target.post(invoice_doc("INV-B"))
    assert (
        len(sandbox.requests_to("POST", "/contacts$")) == 1
        and len(sandbox.requests_to("POST", "/items$")) == 1
    )
    fresh = target_for(sandbox)  # another connection finds them by name instead of creating
    fresh.post(invoice_doc("INV-C"))
    assert (
        len(sandbox.requests_to("POST", "/contacts$")) == 1
        and len(sandbox.requests_to("POST", "/items$")) == 1
    )


# ---------------------------------------------------------------------------------------------
# Exactly once
# ---------------------------------------------------------------------------------------------


def test_a_lost_invoice_answer_is_finished_by_the_next_post_without_a_duplicate(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-LOST")
    sandbox.faults.next(Fault("drop_after_commit"), path="/invoices$", method="POST")
    with pytest.raises(Uncertain):
        target.post(doc)
    assert target.lookup(doc) is None  # it exists, but it is not sent or paid yet
    result = target.post(doc)
    assert len(sandbox.documents("invoices")) == 1 and len(sandbox.documents("customerpayments")) == 1
    assert target.lookup(doc) == result
    verified(target, doc, result)


def test_a_lost_payment_answer_does_not_pay_twice(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-PAY")
    sandbox.faults.next(Fault("drop_after_commit"), path="/customerpayments$", method="POST")
    with pytest.raises(Uncertain):
        target.post(doc)
    assert target.lookup(doc) is not None  # the payment made it: the look-up sees it complete
    target.post(doc)
    assert len(sandbox.documents("customerpayments")) == 1


def test_a_lost_transfer_and_journal_are_looked_up_before_any_resend(sandbox):
    target = target_for(sandbox)
    for doc, path in (
        (payout_doc("PO-L", "50.00", "1.00"), "/banktransactions$"),
        (journal_doc("J-L"), "/journals$"),
    ):
        sandbox.faults.next(Fault("drop_after_commit"), path=path, method="POST")
        with pytest.raises(Uncertain):
            target.post(doc)
        target.post(doc)
    assert len(sandbox.documents("banktransactions")) == 1 and len(sandbox.documents("expenses")) == 1
    assert len(sandbox.documents("journals")) == 1


def test_a_duplicate_number_with_another_total_is_permanent(sandbox):
    target = target_for(sandbox)
    target.post(sale_doc("S-DUP"))
    with pytest.raises(Permanent, match="exists with total"):
        target.post(sale_doc("S-DUP", (("99.00", 1),)))
    assert len(sandbox.documents("invoices")) == 1


# ---------------------------------------------------------------------------------------------
# Closed periods
# ---------------------------------------------------------------------------------------------


def test_a_document_in_a_locked_period_never_reaches_zoho(sandbox):
    target = target_for(sandbox, lock_date="2026-01-31")
    with pytest.raises(ClosedPeriod, match="lock date 2026-01-31"):
        target.post(sale_doc("S-LOCK"))
    assert sandbox.requests == []


def test_a_module_lock_holds_only_that_modules_documents(sandbox):
    target = target_for(sandbox, lock_dates={"accountant": "2026-01-31"})
    with pytest.raises(ClosedPeriod):
        target.post(journal_doc("J-LOCK"))
    assert sandbox.requests_to("POST", "/journals") == []
    target.post(sale_doc("S-OPEN"))  # sales are not locked
    assert target.fetch_lock_date() is None  # so the ledger as a whole is not closed
    assert target_for(
        sandbox, lock_date="2026-01-15", lock_dates={"accountant": "2026-01-31"}
    ).fetch_lock_date() == date(2026, 1, 15)


def test_zohos_own_transaction_lock_refusal_is_closed_period(sandbox):
    sandbox.set_lock("sales", date(2026, 1, 31))
    with pytest.raises(ClosedPeriod, match="locked"):
        target_for(sandbox).post(sale_doc("S-ZLOCK"))
    assert sandbox.documents("invoices") == []


# ---------------------------------------------------------------------------------------------
# Limits and errors
# ---------------------------------------------------------------------------------------------


def test_a_429_pauses_the_organisation_and_no_call_comes_inside_the_pause(sandbox):
    target = target_for(sandbox)
    target.facts()
    sandbox.faults.next(Fault("rate_limit"), path="/invoices$", method="POST")
    with pytest.raises(RateLimited) as caught:
        target.post(sale_doc("S-429"))
    assert caught.value.vendor_code == "minute" and caught.value.retry_after == 1.0
    started = time.time()
    target.post(sale_doc("S-429"))
    assert time.time() - started >= 0.9
    assert sandbox.requests_inside_pause() == []
    assert len(sandbox.documents("invoices")) == 1


def test_the_days_allowance_used_up_pauses_until_tomorrow_and_the_budget_says_zero():
    with ZohoBooksSandbox(per_day=6, pause=1.0) as zoho:
        target = target_for(zoho)
        with pytest.raises(RateLimited) as caught:
            for n in range(5):
                target.post(journal_doc(f"J-DAY-{n}"))
        assert caught.value.vendor_code == "day" and caught.value.retry_after == 86400
        before = len(zoho.requests)
        with pytest.raises(RateLimited):
            target.post(journal_doc("J-DAY-X"))
        assert len(zoho.requests) == before  # nothing sent while the day is used up
        assert target.daily_budget_remaining() == 0


def test_an_error_with_http_200_is_still_an_error():
    with ZohoBooksSandbox(code_200_errors=True, pause=1.0) as zoho:
        target = target_for(zoho)
        bad = PostingDocument(reference="J-BAD", idempotency_key="k", kind="dispute", date=DAY, currency="USD",
                              lines=(line("6200", "adjustment", debit="1.00"), line("1100", "clearing", credit="1.00")))  # fmt: skip
        zoho.set_lock("accountant", DAY)
        with pytest.raises(ClosedPeriod):
            target.post(bad)
        assert zoho.documents("journals") == []


def test_a_server_error_is_retryable_and_the_retry_makes_one_document(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("status", status=500), path="/journals$", method="POST")
    with pytest.raises(Retryable):
        target.post(journal_doc("J-500"))
    target.post(journal_doc("J-500"))
    assert len(sandbox.documents("journals")) == 1


def test_a_refused_access_token_is_refreshed_once_and_the_call_retried(sandbox):
    saved: list = []
    target = target_for(sandbox, saved)
    sandbox.tokens.expire_access_tokens()
    assert target.fetch_tax_codes()
    assert sandbox.tokens.count("refresh_token", "ok") == 1
    assert (
        saved and saved[-1]["refresh_token"] == target.config.credentials["refresh_token"]
    )  # Zoho does not rotate


def test_a_revoked_connection_is_auth_expired(sandbox):
    target = target_for(sandbox)
    sandbox.tokens.expire_access_tokens()
    sandbox.tokens.revoke_refresh_tokens()
    with pytest.raises(AuthExpired):
        target.fetch_accounts()


def test_reads_organisations_accounts_taxes_items_contacts(sandbox):
    target = target_for(sandbox)
    assert target.list_tenants()[0]["tenant_id"] == sandbox.organization_id
    accounts = {a.code: a for a in target.fetch_accounts()}
    assert accounts["4000"].type == "revenue" and accounts["1000"].type == "asset"
    assert {t.code: t.rate for t in target.fetch_tax_codes()} == {"VAT20": Decimal("0.2"), "ZERO": Decimal(0)}
    target.post(invoice_doc("INV-L"))
    assert [c.name for c in target.fetch_contacts()] == ["Kente Wholesale"] and len(target.fetch_items()) == 1
    check = target.test_connection()
    assert check.ok and "calls left today" in check.message


@pytest.mark.parametrize(
    ("fixture", "status", "expected", "code"),
    [
        ("error_duplicate_number.json", 400, DuplicateDocument, "1001"),
        ("error_transaction_lock.json", 400, ClosedPeriod, "120001"),
        ("error_not_authorised.json", 401, AuthExpired, "57"),
        ("error_too_many_requests.json", 429, RateLimited, "minute"),
        ("error_daily_limit.json", 429, RateLimited, "day"),
        ("error_invalid_value.json", 200, Permanent, "4"),
    ],
)
def test_error_classification_table(fixture, status, expected, code):
    body = json.loads((FIXTURES / fixture).read_text())
    error = classify_error(status, body)
    assert type(error) is expected and error.vendor_code == code and error.vendor_message == body["message"]


# ---------------------------------------------------------------------------------------------
# Order to invoice
# ---------------------------------------------------------------------------------------------


def test_a_b2b_invoice_bills_a_confirmed_sales_order_when_the_connection_works_order_to_invoice(sandbox):
    target = target_for(sandbox, order_to_invoice=True)
    doc = invoice_doc("SO-1")
    sandbox.faults.next(Fault("drop_after_commit"), path="/salesorders$", method="POST")
    with pytest.raises(Uncertain):
        target.post(doc)
    assert target.lookup(doc) is None  # the order exists, the invoice not yet
    result = target.post(doc)
    [order] = sandbox.documents("salesorders")
    [invoice] = sandbox.documents("invoices")
    assert order["salesorder_number"] == "SO-1" and order["status"] == "invoiced"
    assert [ln["salesorder_item_id"] for ln in invoice["line_items"]] == [
        ln["line_item_id"] for ln in order["line_items"]
    ]
    assert invoice["invoice_number"] == "SO-1" and invoice["status"] == "sent"
    verified(target, doc, result)
    sale = sale_doc("SO-SALE")  # a paid sale is not an order on terms: a plain invoice and its payment
    target.post(sale)
    assert len(sandbox.documents("salesorders")) == 1


def test_a_paid_sale_costs_three_calls_once_the_lists_are_known(sandbox):
    target = target_for(sandbox)
    target.post(sale_doc("S-WARM"))  # reads the organisation, creates the customer and the item
    before = len(sandbox.requests)
    target.post(sale_doc("S-CHEAP"))
    calls = [(r.method, r.path) for r in sandbox.requests[before:]]
    assert [m for m, _ in calls] == ["POST", "POST", "POST"], calls  # invoice, sent, payment
    assert target.daily_budget_remaining() == 1000 - len(sandbox.requests)
