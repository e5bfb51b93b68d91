"""Xero target against the Xero sandbox over real HTTP on 127.0.0.1.

Given a sandbox organisation (seed accounts: 090 Stripe Clearing and 091 bank, both BANK; 200
sales; 210 shipping; 404 bank fees; 610 A/R; 820 sales tax; 860 rounding; tax types OUTPUT 15 %,
ZERORATEDOUTPUT, NONE), when the target posts, then the organisation holds exactly the
documents, payments, totals and tax the journal says, read back per account and tax type.
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
from connectors.ledgers.xero import XeroTarget, classify_error
from connectors.ledgers.xero.errors import DuplicateDocument
from connectors.sandbox.base import Fault
from connectors.sandbox.xero import XeroLimits, XeroSandbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "xero"
DAY = date(2026, 1, 5)
RATE = Decimal("0.15")
CENT = Decimal("0.01")


def line(code: str, role: str, debit: str = "0", credit: str = "0", **kw: object) -> PostingLine:
    """A posting line in the sandbox organisation's account codes."""
    return PostingLine(account_code=code, role=role, debit=Decimal(debit), credit=Decimal(credit), **kw)  # type: ignore[arg-type]


def sale_doc(
    reference: str,
    prices: tuple[tuple[str, int], ...] = (("10.00", 3),),
    *,
    key: str = "",
    day: date = DAY,
    inclusive: bool = False,
    per_document_tax: bool = False,
    currency: str = "USD",
    exchange_rate: Decimal | None = None,
) -> PostingDocument:
    """A sale as a shop computes it (tax per line, or on the total), paid into clearing 090."""
    revenue, taxes = [], []
    for unit, qty in prices:
        gross = Decimal(unit) * qty
        net = (gross / (1 + RATE)).quantize(CENT, ROUND_HALF_UP) if inclusive else gross
        taxes.append(gross - net if inclusive else gross * RATE)
        revenue.append(line("200", "revenue", credit=str(net), quantity=Decimal(qty), unit_price=Decimal(unit),
                            tax_code="OUTPUT", tax_rate=RATE, description=f"{qty} x {unit}"))  # fmt: skip
    if per_document_tax:
        tax = sum(taxes, Decimal(0)).quantize(CENT, ROUND_HALF_UP)
    else:
        tax = sum((t.quantize(CENT, ROUND_HALF_UP) for t in taxes), Decimal(0))
    total = sum((ln.credit for ln in revenue), Decimal(0)) + tax
    lines = (
        line("090", "clearing", debit=str(total)),
        *revenue,
        line("820", "tax", credit=str(tax), tax_code="OUTPUT"),
    )
    return PostingDocument(reference=reference, idempotency_key=key or f"key-{reference}", kind="sale", date=day,
                           currency=currency, lines=lines, prices_include_tax=inclusive, exchange_rate=exchange_rate,
                           memo="web order")  # fmt: skip


def refund_doc(reference: str) -> PostingDocument:
    """A refund of one 10.00 line and its tax, paid back from clearing."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="refund", date=DAY,
                           currency="USD", lines=(line("200", "revenue", debit="10.00", tax_code="OUTPUT", tax_rate=RATE),
                                                  line("820", "tax", debit="1.50", tax_code="OUTPUT"),
                                                  line("090", "clearing", credit="11.50")))  # fmt: skip


def payout_doc(reference: str, gross: str = "120.00", fee: str = "0") -> PostingDocument:
    """A payout from clearing to the bank; with a fee the bank line is the net deposit."""
    net = str(Decimal(gross) - Decimal(fee))
    lines = [line("091", "bank", debit=net), line("090", "clearing", credit=gross)]
    if Decimal(fee):
        lines.insert(1, line("404", "fee", debit=fee))
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payout", date=DAY,
                           currency="USD", lines=tuple(lines))  # fmt: skip


def summary_doc(reference: str, kind: str = "summary") -> PostingDocument:
    """A daily summary (or dispute): clearing against sales and tax."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind=kind, date=DAY,
                           currency="USD", memo="daily summary", lines=(
                               line("090", "clearing", debit="1150.00"),
                               line("200", "revenue", credit="1000.00", tax_code="OUTPUT", tax_rate=RATE),
                               line("820", "tax", credit="150.00", tax_code="OUTPUT")))  # fmt: skip


def journal_doc(reference: str) -> PostingDocument:
    """A document only a journal can say (a dispute withdrawn from clearing)."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="dispute", date=DAY,
                           currency="USD", memo="chargeback", lines=(
                               line("404", "adjustment", debit="100.00"), line("090", "clearing", credit="100.00")))  # fmt: skip


def verified(target: XeroTarget, doc: PostingDocument, result: PostResult) -> None:
    """The organisation, read back, holds per account and tax type what the journal says."""
    assert compare_views(target.expected_view(doc), target.read_back(doc, result)) == []


@pytest.fixture(autouse=True)
def process_local_oauth():
    """Connector tests run without the database: the core's installed credential reader and
    lock (integrator.apps) are set aside for the test and put back afterwards."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


@pytest.fixture
def sandbox():
    with XeroSandbox() as server:
        yield server


def target_for(sandbox: XeroSandbox, saved: list | None = None, **settings: object) -> XeroTarget:
    """A target as the core builds it: LedgerConfig only."""
    config = LedgerConfig(
        connection_id=f"xero-{sandbox.tenant_id}",
        platform="xero",
        functional_currency="USD",
        base_url=sandbox.url,
        credentials=sandbox.credentials(),
        settings={**sandbox.ledger_settings(), **settings},
        save_credentials=(saved.append if saved is not None else None),
    )
    target = ledger_target_class("xero")(config)
    assert isinstance(target, XeroTarget)
    return target


# ---------------------------------------------------------------------------------------------
# Documents and totals
# ---------------------------------------------------------------------------------------------


def test_sale_becomes_an_authorised_invoice_paid_into_clearing(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-1001", (("10.00", 3), ("4.99", 2)))
    result = target.post(doc)
    (invoice,) = sandbox.documents("Invoices")
    (payment,) = sandbox.documents("Payments")
    assert result.remote_id == invoice["InvoiceID"] and result.remote_number == "S-1001"
    assert invoice["Total"] == Decimal("45.98") and invoice["Status"] == "PAID" and invoice["AmountDue"] == 0
    assert payment["Amount"] == Decimal("45.98") and payment["Account"]["Code"] == "090"
    assert result.raw["payment_ids"] == [payment["PaymentID"]]
    assert invoice["Contact"]["Name"] == "Walk-in customer"
    assert sandbox.requests_to("PUT", "/Invoices")[0].header("Idempotency-Key") == "key-S-1001"
    assert sandbox.requests_to("PUT", "/Payments")[0].header("Idempotency-Key") == "key-S-1001:pay"
    verified(target, doc, result)


@pytest.mark.parametrize("per_document_tax", [True, False])
def test_our_tax_is_written_on_every_line_so_xero_records_it(sandbox, per_document_tax):
    # The shop rounds on the total (0.4725 -> 0.47) or per line (0.48); Xero records ours either way.
    doc = sale_doc("S-ROUND", (("1.05", 1), ("1.05", 1), ("1.05", 1)), per_document_tax=per_document_tax)
    target = target_for(sandbox)
    result = target.post(doc)
    (invoice,) = sandbox.documents("Invoices")
    ours = Decimal("0.47") if per_document_tax else Decimal("0.48")
    assert invoice["TotalTax"] == ours and invoice["Total"] == doc.total_debit()
    assert sum(li["TaxAmount"] for li in invoice["LineItems"]) == ours
    verified(target, doc, result)


def test_tax_inclusive_sale_goes_out_net_with_our_tax_and_the_exact_total(sandbox):
    doc = sale_doc("S-INCL", (("10.00", 1), ("10.00", 1), ("10.00", 1)), inclusive=True)
    target = target_for(sandbox)
    result = target.post(doc)
    (invoice,) = sandbox.documents("Invoices")
    assert (
        invoice["LineAmountTypes"] == "Exclusive"
        and invoice["Total"] == Decimal("30.00") == doc.total_debit()
    )
    assert invoice["Status"] == "PAID"
    verified(target, doc, result)


def test_a_discount_line_carries_its_products_tax_type(sandbox):
    """Finding 1 of issue 10: a discount sent as NONE made Xero tax the full price."""
    lines = (
        line("090", "clearing", debit="103.50"),
        line("200", "revenue", credit="100.00", tax_code="OUTPUT", tax_rate=RATE),
        line("200", "discount", debit="10.00", tax_code="OUTPUT", tax_rate=RATE, description="AKWAABA10"),
        line("820", "tax", credit="13.50", tax_code="OUTPUT"),
    )
    doc = PostingDocument(
        reference="S-DISC", idempotency_key="k-disc", kind="sale", date=DAY, currency="USD", lines=lines
    )
    target = target_for(sandbox)
    result = target.post(doc)
    (invoice,) = sandbox.documents("Invoices")
    discount = [li for li in invoice["LineItems"] if li["LineAmount"] < 0]
    assert discount[0]["TaxType"] == "OUTPUT" and discount[0]["TaxAmount"] == Decimal("-1.50")
    assert invoice["TotalTax"] == Decimal("13.50") and invoice["Total"] == Decimal("103.50")
    verified(target, doc, result)


def test_unit_prices_with_more_than_two_decimals_keep_the_line_amount(sandbox):
    revenue = line("200", "revenue", credit="1.00", quantity=Decimal(3), unit_price=Decimal("0.3333"),
                   tax_code="OUTPUT", tax_rate=RATE)  # fmt: skip
    lines = (
        line("090", "clearing", debit="1.15"),
        revenue,
        line("820", "tax", credit="0.15", tax_code="OUTPUT"),
    )
    doc = PostingDocument(
        reference="S-UNIT", idempotency_key="key-S-UNIT", kind="sale", date=DAY, currency="USD", lines=lines
    )
    target_for(sandbox).post(doc)
    (invoice,) = sandbox.documents("Invoices")
    assert invoice["LineItems"][0]["LineAmount"] == Decimal("1.00") and invoice["Total"] == doc.total_debit()
    assert sandbox.requests_to("PUT", "/Invoices")[0].arg("unitdp") == "4"


def test_refund_becomes_a_credit_note_refunded_from_clearing(sandbox):
    target = target_for(sandbox)
    doc = refund_doc("R-1")
    result = target.post(doc)
    (credit,) = sandbox.documents("CreditNotes")
    (payment,) = sandbox.documents("Payments")
    assert (
        credit["Type"] == "ACCRECCREDIT"
        and credit["Total"] == Decimal("11.50")
        and credit["RemainingCredit"] == 0
    )
    assert payment["CreditNote"]["CreditNoteID"] == credit["CreditNoteID"] and payment["Amount"] == Decimal(
        "11.50"
    )
    verified(target, doc, result)


def test_payout_without_fees_is_a_bank_transfer(sandbox):
    target = target_for(sandbox)
    posted = target.post(payout_doc("PO-1"))
    (transfer,) = sandbox.documents("BankTransfers")
    assert transfer["Amount"] == Decimal("120.00") and transfer["Reference"] == "PO-1"
    assert transfer["FromBankAccount"]["Code"] == "090" and transfer["ToBankAccount"]["Code"] == "091"
    assert target.lookup(payout_doc("PO-1")) == posted
    verified(target, payout_doc("PO-1"), posted)


def test_payout_with_fees_is_a_transfer_of_the_deposit_and_a_spend_of_the_fees(sandbox):
    """Finding 7 of issue 10: a payout sent as a journal to the bank cannot match the bank feed."""
    target = target_for(sandbox)
    doc = payout_doc("PO-2", "120.00", "3.78")
    result = target.post(doc)
    (transfer,) = sandbox.documents("BankTransfers")
    (spend,) = sandbox.documents("BankTransactions")
    assert transfer["Amount"] == Decimal("116.22") and transfer["ToBankAccount"]["Code"] == "091"
    assert (
        spend["Type"] == "SPEND"
        and spend["BankAccount"]["Code"] == "090"
        and spend["Total"] == Decimal("3.78")
    )
    assert not sandbox.documents("ManualJournals")
    assert target.lookup(doc) == result
    verified(target, doc, result)


def test_a_daily_summary_becomes_a_paid_invoice_with_its_tax(sandbox):
    target = target_for(sandbox)
    doc = summary_doc("J-summary")
    posted = target.post(doc)
    (invoice,) = sandbox.documents("Invoices")
    assert invoice["TotalTax"] == Decimal("150.00") and invoice["Status"] == "PAID"
    assert target.lookup(doc) == posted
    verified(target, doc, posted)


def test_a_dispute_becomes_a_posted_manual_journal(sandbox):
    target = target_for(sandbox)
    doc = journal_doc("J-dispute")
    posted = target.post(doc)
    (journal,) = sandbox.documents("ManualJournals")
    assert journal["Status"] == "POSTED" and journal["Narration"].startswith("[J-dispute]")
    assert [ln["LineAmount"] for ln in journal["JournalLines"]] == [Decimal("100.00"), Decimal("-100.00")]
    assert target.lookup(doc) == posted
    verified(target, doc, posted)


def test_foreign_currency_sale_sends_xeros_inverse_rate():
    with XeroSandbox(currencies=("EUR",)) as sandbox:
        target_for(sandbox).post(sale_doc("S-EUR", currency="EUR", exchange_rate=Decimal("1.25")))
        (invoice,) = sandbox.documents("Invoices")
        assert invoice["CurrencyCode"] == "EUR" and invoice["CurrencyRate"] == Decimal("0.800000")


def test_a_foreign_journal_is_converted_to_the_base_currency():
    """Finding 2 of issue 10: Xero manual journals have no currency; XOF journals were refused."""
    doc = journal_doc("J-XOF")
    lines = tuple(PostingLine(**{**ln.__dict__, "functional_debit": (ln.debit / 800).quantize(CENT),
                                 "functional_credit": (ln.credit / 800).quantize(CENT)}) for ln in doc.lines)  # fmt: skip
    doc = PostingDocument(**{**doc.__dict__, "currency": "XOF", "lines": lines, "functional_currency": "USD",
                             "exchange_rate": Decimal("0.00125")})  # fmt: skip
    with XeroSandbox() as sandbox:
        target = target_for(sandbox)
        posted = target.post(doc)
        (journal,) = sandbox.documents("ManualJournals")
        assert [ln["LineAmount"] for ln in journal["JournalLines"]] == [Decimal("0.12"), Decimal("-0.12")]
        verified(target, doc, posted)


def test_an_invoice_on_terms_paid_in_two_parts_is_closed_for_its_customer(sandbox):
    """Finding 3 of issue 10: due dates equal to the invoice date, payments not against invoices."""
    from integrator.canonical import Party

    target = target_for(sandbox)
    customer = Party(external_id="B2B-017", name="Afro Home Stores Ltd", company="Afro Home Stores Ltd")
    invoice = PostingDocument(reference="wholesale/invoice/INV-7", number="INV-7", idempotency_key="k-inv-7", kind="invoice",
                              date=DAY, due_date=date(2026, 2, 4), currency="USD", customer=customer, lines=(
                                  line("610", "receivable", debit="115.00"),
                                  line("200", "revenue", credit="100.00", tax_code="OUTPUT", tax_rate=RATE),
                                  line("820", "tax", credit="15.00", tax_code="OUTPUT")))  # fmt: skip
    posted = target.post(invoice)

    def payment(number: str, amount: str) -> PostingDocument:
        return PostingDocument(reference=f"wholesale/payment/{number}", number=number, idempotency_key=f"k-{number}",
                               kind="payment", date=DAY, currency="USD", customer=customer,
                               related_remote_id=posted.remote_id, related_number="INV-7", related_kind="invoice",
                               lines=(line("091", "bank", debit=amount), line("610", "receivable", credit=amount)))  # fmt: skip

    first, second = target.post(payment("PAY-7a", "50.00")), target.post(payment("PAY-7b", "65.00"))
    (stored,) = sandbox.documents("Invoices")
    assert stored["DueDate"] == "2026-02-04" and stored["AmountDue"] == 0 and stored["Status"] == "PAID"
    assert stored["Contact"]["Name"] == "Afro Home Stores Ltd" and stored["InvoiceNumber"] == "INV-7"
    assert [p["Invoice"]["InvoiceID"] for p in sandbox.documents("Payments")] == [posted.remote_id] * 2
    assert not sandbox.documents("ManualJournals")
    for doc, result in (
        (invoice, posted),
        (payment("PAY-7a", "50.00"), first),
        (payment("PAY-7b", "65.00"), second),
    ):
        verified(target, doc, result)


def test_a_credit_note_without_money_is_allocated_to_its_invoice(sandbox):
    from integrator.canonical import Party

    target = target_for(sandbox)
    customer = Party(external_id="B2B-9", name="Kumasi Crafts")
    invoice = PostingDocument(reference="INV-9", idempotency_key="k-inv-9", kind="invoice", date=DAY, currency="USD",
                              customer=customer, lines=(line("610", "receivable", debit="115.00"),
                                                        line("200", "revenue", credit="100.00", tax_code="OUTPUT", tax_rate=RATE),
                                                        line("820", "tax", credit="15.00", tax_code="OUTPUT")))  # fmt: skip
    posted = target.post(invoice)
    credit = PostingDocument(reference="INV-9/rev", number="INV-9-R", idempotency_key="k-inv-9r", kind="reversal", date=DAY,
                             currency="USD", customer=customer, related_remote_id=posted.remote_id, related_kind="invoice",
                             lines=(line("610", "receivable", credit="115.00"),
                                    line("200", "revenue", debit="100.00", tax_code="OUTPUT", tax_rate=RATE),
                                    line("820", "tax", debit="15.00", tax_code="OUTPUT")))  # fmt: skip
    result = target.post(credit)
    (note,) = sandbox.documents("CreditNotes")
    assert note["RemainingCredit"] == 0 and sandbox.documents("Invoices")[0]["AmountDue"] == 0
    verified(target, credit, result)


# ---------------------------------------------------------------------------------------------
# Exactly once
# ---------------------------------------------------------------------------------------------


def test_resend_with_the_same_key_gives_one_invoice_and_one_payment(sandbox):
    target = target_for(sandbox)
    assert target.post(sale_doc("S-2")) == target.post(sale_doc("S-2"))
    assert len(sandbox.documents("Invoices")) == 1 and len(sandbox.documents("Payments")) == 1


def test_lost_invoice_answer_is_resolved_by_lookup_without_a_duplicate(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/Invoices$")
    with pytest.raises(Uncertain):
        target.post(sale_doc("S-3"))
    assert target.lookup(sale_doc("S-3")) is None  # the invoice exists but is not paid: not done
    sandbox.forget_idempotency_keys()
    result = target.post(sale_doc("S-3"))  # "must be unique" -> found -> paid
    found = target.lookup(sale_doc("S-3"))
    assert found is not None and found.remote_id == result.remote_id
    assert len(sandbox.documents("Invoices")) == 1 and len(sandbox.documents("Payments")) == 1


def test_lost_payment_answer_does_not_pay_twice(sandbox):
    target = target_for(sandbox)
    sandbox.faults.rates((1.0, Fault("drop_after_commit")), only_paths=r"/Payments$")
    with pytest.raises(Uncertain):
        target.post(sale_doc("S-4"))
    sandbox.faults.clear()
    found = target.lookup(sale_doc("S-4"))
    assert isinstance(found, PostResult)
    target.post(sale_doc("S-4"))  # a blind re-send after all: still one payment
    assert len(sandbox.documents("Payments")) == 1 and sandbox.documents("Invoices")[0]["AmountDue"] == 0


def test_duplicate_number_is_resolved_by_lookup_never_by_renaming(sandbox):
    target = target_for(sandbox)
    first = target.post(sale_doc("S-5"))
    again = target.post(sale_doc("S-5", key="another-key"))
    assert again.remote_id == first.remote_id and len(sandbox.documents("Invoices")) == 1
    assert len(sandbox.documents("Payments")) == 1


def test_duplicate_number_with_another_total_is_permanent(sandbox):
    target = target_for(sandbox)
    target.post(sale_doc("S-6"))
    with pytest.raises(Permanent, match="exists with total"):
        target.post(sale_doc("S-6", (("99.00", 1),), key="other"))


def test_forgotten_idempotency_keys_still_give_one_invoice_and_one_payment():
    with XeroSandbox(idempotency_ttl=0.2) as sandbox:
        target = target_for(sandbox)
        first = target.post(sale_doc("S-TTL"))
        time.sleep(0.3)
        assert target.post(sale_doc("S-TTL")).remote_id == first.remote_id
        assert len(sandbox.documents("Invoices")) == 1 and len(sandbox.documents("Payments")) == 1


# ---------------------------------------------------------------------------------------------
# Lock dates
# ---------------------------------------------------------------------------------------------


def test_lock_date_from_settings_raises_closed_period_before_any_http(sandbox):
    target = target_for(sandbox, lock_date="2026-01-05")
    with pytest.raises(ClosedPeriod):
        target.post(sale_doc("S-7"))
    assert sandbox.requests == []


def test_the_later_of_the_two_lock_dates_applies(sandbox):
    sandbox.set_lock_dates(period=date(2026, 1, 10), end_of_year=date(2025, 12, 31))
    target = target_for(sandbox)
    assert target.fetch_lock_date() == date(2026, 1, 10)
    before = len(sandbox.requests)
    with pytest.raises(ClosedPeriod):
        target_for(sandbox).post(sale_doc("S-8", day=date(2026, 1, 10)))
    assert len(sandbox.requests) == before


def test_lock_date_enforced_by_xero_is_closed_period_with_its_message(sandbox):
    sandbox.set_lock_dates(end_of_year=date(2026, 3, 31))
    with pytest.raises(ClosedPeriod) as caught:
        target_for(sandbox).post(sale_doc("S-9"))
    assert "end of year lock date" in caught.value.vendor_message
    assert sandbox.documents("Invoices") == []


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def test_batch_of_100_sales_uses_two_invoice_puts_and_two_payment_puts(sandbox):
    target = target_for(sandbox)
    docs = [sale_doc(f"B-{n:03d}", ((f"{n}.25", 1),)) for n in range(1, 101)]
    results = target.post_batch(docs)
    assert all(isinstance(r, PostResult) for r in results)
    assert (
        len(sandbox.requests_to("PUT", "/Invoices$")) == 2
        and len(sandbox.requests_to("PUT", "/Payments$")) == 2
    )
    invoices = {i["InvoiceNumber"]: i for i in sandbox.documents("Invoices")}
    assert len(invoices) == 100 and all(invoices[d.reference]["Total"] == d.total_debit() for d in docs)
    assert all(i["Status"] == "PAID" for i in invoices.values()) and len(sandbox.documents("Payments")) == 100


def test_batch_item_errors_stay_with_their_documents(sandbox):
    target = target_for(sandbox)
    target.post(sale_doc("B-DUP"))
    bad = sale_doc("B-BAD")
    bad = PostingDocument(**{**bad.__dict__, "lines": tuple(
        PostingLine(**{**ln.__dict__, "account_code": "999"}) if ln.role == "revenue" else ln for ln in bad.lines)})  # fmt: skip
    ok, refused, duplicate, journal = target.post_batch(
        [sale_doc("B-OK"), bad, sale_doc("B-DUP", key="fresh"), journal_doc("B-J")]
    )
    assert (
        isinstance(ok, PostResult) and isinstance(duplicate, PostResult) and isinstance(journal, PostResult)
    )
    assert isinstance(refused, Permanent) and "'999' is not a valid code" in refused.vendor_message
    assert sorted(i["InvoiceNumber"] for i in sandbox.documents("Invoices")) == ["B-DUP", "B-OK"]
    assert len(sandbox.documents("Payments")) == 2
    assert sandbox.requests_to("PUT", "/Invoices$")[-1].arg("summarizeErrors") == "false"


# ---------------------------------------------------------------------------------------------
# Limits, daily budget, faults
# ---------------------------------------------------------------------------------------------


def test_429_is_honoured_no_request_inside_the_retry_after_window():
    with XeroSandbox(retry_after=1.0) as sandbox:
        target = target_for(sandbox)
        target.organisation_facts()  # read once and cached: what follows counts postings only
        sandbox.limits = XeroLimits(per_minute=2)
        problems = []
        for n in range(3):
            for _ in range(5):
                try:
                    target.post(journal_doc(f"RL-{n}"))
                    break
                except RateLimited as exc:
                    problems.append(exc.vendor_code)
                    sandbox.limits = XeroLimits(per_minute=None)  # the minute has "passed"
        assert problems == ["minute"]
        assert sandbox.requests_inside_retry_after() == []
        assert len(sandbox.documents("ManualJournals")) == 3


def test_daily_limit_429_says_day_and_blocks_for_long():
    with XeroSandbox(retry_after=1.0) as sandbox:
        target = target_for(sandbox, max_wait_seconds=1)
        target.organisation_facts()
        sandbox.limits = XeroLimits(per_day=len(sandbox.requests) + 1)
        target.post(journal_doc("D-1"))
        assert target.daily_budget_remaining() == 0
        with pytest.raises(RateLimited) as caught:
            target.post(journal_doc("D-2"))
        assert caught.value.vendor_code == "day" and caught.value.retry_after > 3600
        sent = len(sandbox.requests)
        with pytest.raises(RateLimited):
            target.post(journal_doc("D-2"))
        assert len(sandbox.requests) == sent


def test_daily_budget_is_xeros_own_figure(sandbox):
    target = target_for(sandbox)
    assert target.daily_budget_remaining() == 5000 and target.calls_today() == 0
    target.post(journal_doc("BUDGET"))
    calls = len([r for r in sandbox.requests if r.path.startswith("/api.xro/")])
    assert target.daily_budget_remaining() == 5000 - calls and target.calls_today() == calls


def test_server_error_is_retryable_and_the_retry_creates_one_document(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("status", status=503))
    with pytest.raises(Retryable):
        target.post(sale_doc("S-503"))
    target.post(sale_doc("S-503"))
    assert len(sandbox.documents("Invoices")) == 1 and len(sandbox.documents("Payments")) == 1


# ---------------------------------------------------------------------------------------------
# Authentication and reading
# ---------------------------------------------------------------------------------------------


def test_a_refused_access_token_is_refreshed_once_and_the_call_retried(sandbox):
    saved: list = []
    target = target_for(sandbox, saved)
    sandbox.tokens.expire_access_tokens()
    target.post(journal_doc("AUTH"))
    assert sandbox.tokens.count("refresh_token", "ok") == 1 and len(saved) == 1
    assert len(sandbox.documents("ManualJournals")) == 1


def test_a_revoked_connection_raises_auth_expired(sandbox):
    target = target_for(sandbox)
    sandbox.tokens.expire_access_tokens()
    sandbox.tokens.revoke_refresh_tokens()
    with pytest.raises(AuthExpired, match="re-authorised"):
        target.post(journal_doc("REVOKED"))


def test_a_disconnected_tenant_is_auth_expired_without_a_refresh(sandbox):
    config = target_for(sandbox).config
    target = XeroTarget(
        LedgerConfig(**{**config.__dict__, "credentials": {**config.credentials, "tenant_id": "gone"}})
    )
    with pytest.raises(AuthExpired) as caught:
        target.post(journal_doc("T-1"))
    assert caught.value.vendor_code == "403" and sandbox.tokens.count("refresh_token") == 0


def test_reads_tenants_accounts_tax_rates_items_contacts(sandbox):
    target = target_for(sandbox)
    assert [t["tenant_id"] for t in target.list_tenants()] == [sandbox.tenant_id]
    accounts = {a.code: a for a in target.fetch_accounts()}
    assert accounts["090"].type == "asset" and accounts["404"].type == "expense" and accounts["200"].remote_id
    assert {t.code: t.rate for t in target.fetch_tax_codes()}["OUTPUT"] == Decimal("0.15")
    assert [i.code for i in target.fetch_items()] == ["SALES"]
    assert [c.name for c in target.fetch_contacts()] == ["Web customers"]


@pytest.mark.parametrize(
    ("fixture", "status", "expected", "code"),
    [
        ("error_invoice_number_unique.json", 400, DuplicateDocument, "ValidationException"),
        ("error_end_of_year_lock.json", 400, ClosedPeriod, "ValidationException"),
        ("error_period_lock.json", 400, ClosedPeriod, "ValidationException"),
        ("error_account_code.json", 400, Permanent, "ValidationException"),
        ("error_401.json", 401, AuthExpired, "401"),
        ("error_403.json", 403, AuthExpired, "403"),
        ("error_500.json", 500, Retryable, "500"),
    ],
)
def test_error_classification_table(fixture, status, expected, code):
    body = json.loads((FIXTURES / fixture).read_text())
    error = classify_error(status, body)
    assert type(error) is expected and error.vendor_code == code
    words = [v["Message"] for e in body.get("Elements", []) for v in e.get("ValidationErrors", [])]
    words += [
        v["Message"]
        for e in body.get("Elements", [])
        for li in e.get("LineItems", [])
        for v in li["ValidationErrors"]
    ]
    for word in words or [body.get("Detail") or body.get("Message")]:
        assert word in error.vendor_message


def test_429_classification_carries_the_problem_and_retry_after():
    error = classify_error(429, {}, {"Retry-After": "37", "X-Rate-Limit-Problem": "minute"})
    assert isinstance(error, RateLimited) and error.retry_after == 37.0 and error.vendor_code == "minute"
