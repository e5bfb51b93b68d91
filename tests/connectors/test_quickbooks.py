"""QuickBooks Online target against the QuickBooks sandbox over real HTTP on 127.0.0.1.

Given a sandbox company (seed: account 1 = clearing 1210, 2 = checking 1000, 3 = sales 4000,
4 = shipping 4100, 5 = fees 6100, 6 = sales tax 2200, 7 = A/R 1100, 8 = rounding 4900; items
1 sales (income 3), 2 shipping (4), 3 rounding (8); tax code 2 = 15 % (rate 1), NON = not
taxable), when the target posts, then the company holds exactly the documents, totals and tax the
journal says, read back per account and per tax code.
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
from connectors.ledgers.common import compare_views, short_form
from connectors.ledgers.quickbooks import QuickBooksTarget, classify_fault
from connectors.ledgers.quickbooks.errors import DuplicateDocument
from connectors.sandbox.base import Fault
from connectors.sandbox.quickbooks import QboLimits, QuickBooksSandbox

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "quickbooks"
DAY = date(2026, 1, 5)
RATE = Decimal("0.15")
CENT = Decimal("0.01")

# ---------------------------------------------------------------------------------------------
# Documents (shared with the contract tests)
# ---------------------------------------------------------------------------------------------


def line(code: str, ref: str, role: str, debit: str = "0", credit: str = "0", **kw: object) -> PostingLine:
    """A posting line in the sandbox company's accounts."""
    return PostingLine(
        account_code=code, account_ref=ref, role=role, debit=Decimal(debit), credit=Decimal(credit), **kw
    )  # type: ignore[arg-type]


def sale_doc(
    reference: str,
    prices: tuple[tuple[str, int], ...] = (("10.00", 3),),
    *,
    key: str = "",
    day: date = DAY,
    inclusive: bool = False,
    currency: str = "USD",
    exchange_rate: Decimal | None = None,
    kind: str = "sale",
) -> PostingDocument:
    """A sale as a shop computes it: tax per line, rounded half up; paid into clearing."""
    revenue, tax_total = [], Decimal(0)
    for unit, qty in prices:
        gross = Decimal(unit) * qty
        if inclusive:
            net = (gross / (1 + RATE)).quantize(CENT, ROUND_HALF_UP)
            tax = gross - net
        else:
            net, tax = gross, (gross * RATE).quantize(CENT, ROUND_HALF_UP)
        tax_total += tax
        revenue.append(line("4000", "3", "revenue", credit=str(net), item_ref="1", quantity=Decimal(qty),
                            unit_price=Decimal(unit), tax_code_ref="2", tax_rate=RATE, description=f"{qty} x {unit}"))  # fmt: skip
    total = sum((ln.credit for ln in revenue), Decimal(0)) + tax_total
    lines = (
        line("1210", "1", "clearing", debit=str(total)),
        *revenue,
        line("2200", "6", "tax", credit=str(tax_total), tax_code_ref="2", tax_rate=RATE),
    )
    return PostingDocument(reference=reference, idempotency_key=key or f"key-{reference}", kind=kind, date=day,
                           currency=currency, lines=lines, prices_include_tax=inclusive, exchange_rate=exchange_rate,
                           memo="web order")  # fmt: skip


def refund_doc(reference: str, *, key: str = "") -> PostingDocument:
    """A refund of one 10.00 line plus its tax, paid back from clearing."""
    return PostingDocument(reference=reference, idempotency_key=key or f"key-{reference}", kind="refund", date=DAY,
                           currency="USD", lines=(
                               line("4000", "3", "revenue", debit="10.00", item_ref="1", tax_code_ref="2", tax_rate=RATE),
                               line("2200", "6", "tax", debit="1.50", tax_code_ref="2", tax_rate=RATE),
                               line("1210", "1", "clearing", credit="11.50")))  # fmt: skip


def payout_doc(reference: str, gross: str = "120.00", fee: str = "3.78") -> PostingDocument:
    """A gateway payout: clearing to bank, the fee as an expense; the bank line is the deposit."""
    net = str(Decimal(gross) - Decimal(fee))
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind="payout", date=DAY,
                           currency="USD", lines=(line("1000", "2", "bank", debit=net),
                                                  line("6100", "5", "fee", debit=fee),
                                                  line("1210", "1", "clearing", credit=gross)))  # fmt: skip


def summary_doc(reference: str, kind: str = "summary") -> PostingDocument:
    """A daily summary (or dispute, reversal): clearing against sales and tax."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind=kind, date=DAY,
                           currency="USD", memo="daily summary", lines=(
                               line("1210", "1", "clearing", debit="1150.00"),
                               line("4000", "3", "revenue", credit="1000.00", tax_code_ref="2", tax_rate=RATE),
                               line("2200", "6", "tax", credit="150.00", tax_code_ref="2", tax_rate=RATE)))  # fmt: skip


def verified(target: QuickBooksTarget, doc: PostingDocument, result: PostResult) -> None:
    """The company, read back, holds per account and tax code what the journal says."""
    assert compare_views(target.expected_view(doc), target.read_back(doc, result)) == []


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


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
    with QuickBooksSandbox() as server:
        yield server


def target_for(sandbox: QuickBooksSandbox, saved: list | None = None, **settings: object) -> QuickBooksTarget:
    """A target as the core builds it: LedgerConfig only."""
    config = LedgerConfig(
        connection_id=f"qbo-{sandbox.realm_id}",
        platform="quickbooks",
        functional_currency="USD",
        base_url=sandbox.url,
        credentials=sandbox.credentials(),
        settings={**sandbox.ledger_settings(), "non_taxable_tax_code_ref": "NON", **settings},
        save_credentials=(saved.append if saved is not None else None),
    )
    target = ledger_target_class("quickbooks")(config)
    assert isinstance(target, QuickBooksTarget)
    return target


def api_requests(sandbox: QuickBooksSandbox) -> list:
    return [r for r in sandbox.requests if r.path.startswith("/v3/")]


# ---------------------------------------------------------------------------------------------
# Documents and totals
# ---------------------------------------------------------------------------------------------


def test_sale_becomes_one_sales_receipt_whose_total_is_the_clearing_amount(sandbox):
    target = target_for(sandbox)
    doc = sale_doc("S-1001", (("10.00", 3), ("4.99", 2)))
    result = target.post(doc)
    receipts = sandbox.documents("SalesReceipt")
    assert len(receipts) == 1
    receipt = receipts[0]
    assert result.remote_id == receipt["Id"] and result.remote_number == "S-1001" == receipt["DocNumber"]
    assert receipt["TotalAmt"] == Decimal("45.98")  # 39.98 + 4.50 + 1.50 tax
    assert receipt["DepositToAccountRef"] == {"value": "1"}
    assert receipt["GlobalTaxCalculation"] == "TaxExcluded"
    assert [ln["SalesItemLineDetail"]["Qty"] for ln in receipt["Line"]] == [3, 2]
    assert receipt["CustomerRef"]["value"] != "1"  # the walk-in customer, made once
    verified(target, doc, result)


def test_our_tax_is_stated_per_rate_so_the_company_records_it_to_the_cent(sandbox):
    # The shop rounds tax per line (3 x 0.1575 -> 0.48); QuickBooks would compute 0.47 on the total.
    doc = sale_doc("S-ROUND", (("1.05", 1), ("1.05", 1), ("1.05", 1)))
    assert sum(ln.credit for ln in doc.lines if ln.role == "tax") == Decimal("0.48")
    target = target_for(sandbox)
    result = target.post(doc)
    receipt = sandbox.documents("SalesReceipt")[0]
    assert receipt["TotalAmt"] == Decimal("3.63") == doc.total_debit()
    assert receipt["TxnTaxDetail"]["TotalTax"] == Decimal("0.48")
    assert [t["Amount"] for t in receipt["TxnTaxDetail"]["TaxLine"]] == [Decimal("0.48")]
    assert receipt["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["TaxRateRef"] == {"value": "1"}
    assert len(receipt["Line"]) == 3  # no rounding line needed
    verified(target, doc, result)


def test_tax_inclusive_sale_goes_out_net_with_our_tax_and_the_exact_total(sandbox):
    doc = sale_doc("S-INCL", (("10.00", 1), ("10.00", 1), ("10.00", 1)), inclusive=True)
    target = target_for(sandbox)
    result = target.post(doc)
    receipt = sandbox.documents("SalesReceipt")[0]
    assert receipt["GlobalTaxCalculation"] == "TaxExcluded"
    assert receipt["TotalAmt"] == Decimal("30.00") == doc.total_debit()
    assert sum(ln["Amount"] for ln in receipt["Line"]) == Decimal("26.10")  # 3 x 8.70 net
    assert receipt["TxnTaxDetail"]["TotalTax"] == Decimal("3.90")
    verified(target, doc, result)


def test_a_discount_line_carries_the_tax_code_of_the_line_it_reduces(sandbox):
    """Finding 1 of issue 10: a discount sent without a tax code made the ledger tax the full price."""
    lines = (
        line("1210", "1", "clearing", debit="103.50"),
        line("4000", "3", "revenue", credit="100.00", tax_code_ref="2", tax_rate=RATE, description="Kente"),
        line(
            "4000", "3", "discount", debit="10.00", tax_code_ref="2", tax_rate=RATE, description="AKWAABA10"
        ),
        line("2200", "6", "tax", credit="13.50", tax_code_ref="2", tax_rate=RATE),
    )
    doc = PostingDocument(reference="S-DISC", idempotency_key="k-disc", kind="sale", date=DAY, currency="USD",
                          lines=lines)  # fmt: skip
    target = target_for(sandbox)
    result = target.post(doc)
    receipt = sandbox.documents("SalesReceipt")[0]
    discount = [ln for ln in receipt["Line"] if ln["Amount"] < 0]
    assert discount[0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "2"}
    assert receipt["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"] == Decimal("90.00")
    assert receipt["TxnTaxDetail"]["TotalTax"] == Decimal("13.50") and receipt["TotalAmt"] == Decimal(
        "103.50"
    )
    verified(target, doc, result)


def test_revenue_lands_in_an_item_that_books_to_the_mapped_account(sandbox):
    """Finding 4 of issue 10: revenue went to a default item's income account, not the mapping's."""
    doc = sale_doc("S-ITEMACCT")
    doc = PostingDocument(**{**doc.__dict__, "lines": tuple(
        PostingLine(**{**ln.__dict__, "item_ref": "", "account_code": "4100", "account_ref": "4"})
        if ln.role == "revenue" else ln for ln in doc.lines)})  # fmt: skip
    target = target_for(sandbox)
    result = target.post(doc)
    item = sandbox.documents("SalesReceipt")[0]["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"]
    made = [i for i in sandbox.documents("Item") if i["Id"] == item]
    assert made[0]["IncomeAccountRef"] == {"value": "4"} and made[0]["Name"] == "Shipping Income (4100)"
    verified(target, doc, result)
    target.post(PostingDocument(**{**doc.__dict__, "reference": "S-ITEMACCT2", "idempotency_key": "k2"}))
    assert len([i for i in sandbox.documents("Item") if i["Name"] == "Shipping Income (4100)"]) == 1


def test_a_mapped_item_booking_to_another_account_is_refused_before_sending(sandbox):
    doc = sale_doc("S-WRONGITEM")
    doc = PostingDocument(**{**doc.__dict__, "lines": tuple(
        PostingLine(**{**ln.__dict__, "item_ref": "2"}) if ln.role == "revenue" else ln for ln in doc.lines)})  # fmt: skip
    target = target_for(sandbox)
    with pytest.raises(Permanent, match="books to income account 4") as caught:
        target.post(doc)
    assert caught.value.vendor_code == "item_account_mismatch"
    assert not sandbox.requests_to("POST", r"/salesreceipt$")


def test_refund_becomes_a_refund_receipt_paid_from_clearing(sandbox):
    target = target_for(sandbox)
    doc = refund_doc("R-1")
    result = target.post(doc)
    (refund,) = sandbox.documents("RefundReceipt")
    assert refund["TotalAmt"] == Decimal("11.50") and refund["DepositToAccountRef"] == {"value": "1"}
    verified(target, doc, result)


def test_payout_becomes_a_deposit_equal_to_the_bank_deposit(sandbox):
    target = target_for(sandbox)
    doc = payout_doc("PO-1", "120.00", "3.78")
    result = target.post(doc)
    (deposit,) = sandbox.documents("Deposit")
    assert deposit["TotalAmt"] == Decimal("116.22")
    assert deposit["DepositToAccountRef"] == {"value": "2"}
    assert sorted(ln["Amount"] for ln in deposit["Line"]) == [Decimal("-3.78"), Decimal("120.00")]
    verified(target, doc, result)


def test_payout_as_journal_when_configured(sandbox):
    target = target_for(sandbox, payout_document="journal")
    doc = payout_doc("PO-2")
    result = target.post(doc)
    (journal,) = sandbox.documents("JournalEntry")
    assert journal["TotalAmt"] == Decimal("120.00") and not sandbox.documents("Deposit")
    verified(target, doc, result)


def test_a_daily_summary_becomes_a_sales_receipt_with_its_tax(sandbox):
    target = target_for(sandbox)
    doc = summary_doc("SUM-1")
    result = target.post(doc)
    (receipt,) = sandbox.documents("SalesReceipt")
    assert receipt["TotalAmt"] == Decimal("1150.00") and receipt["TxnTaxDetail"]["TotalTax"] == Decimal(
        "150.00"
    )
    verified(target, doc, result)


def test_a_dispute_becomes_a_balanced_journal_entry(sandbox):
    target = target_for(sandbox)
    doc = PostingDocument(reference="DP-1", idempotency_key="k-dp-1", kind="dispute", date=DAY, currency="USD",
                          lines=(line("6100", "5", "adjustment", debit="100.00"), line("6100", "5", "fee", debit="15.00"),
                                 line("1210", "1", "clearing", credit="115.00")))  # fmt: skip
    result = target.post(doc)
    (journal,) = sandbox.documents("JournalEntry")
    sides = {"Debit": Decimal(0), "Credit": Decimal(0)}
    for ln in journal["Line"]:
        sides[ln["JournalEntryLineDetail"]["PostingType"]] += ln["Amount"]
    assert sides["Debit"] == sides["Credit"] == journal["TotalAmt"] == Decimal("115.00")
    verified(target, doc, result)


def test_a_reversal_of_a_sale_becomes_a_credit_note(sandbox):
    target = target_for(sandbox)
    target.post(sale_doc("S-REV"))
    reversal = refund_doc("S-REV/rev")
    reversal = PostingDocument(**{**reversal.__dict__, "kind": "reversal", "number": "S-REV-R"})
    result = target.post(reversal)
    (refund,) = sandbox.documents("RefundReceipt")
    assert refund["DocNumber"] == "S-REV-R"
    verified(target, reversal, result)


def test_sale_with_a_fee_line_falls_back_to_a_journal(sandbox):
    doc = sale_doc("S-FEE")
    clearing = doc.lines[0]
    lines = (line("1210", "1", "clearing", debit=str(clearing.debit - Decimal("1.00"))), line("6100", "5", "fee", debit="1.00"),
             *doc.lines[1:])  # fmt: skip
    target_for(sandbox).post(PostingDocument(**{**doc.__dict__, "lines": lines}))
    assert len(sandbox.documents("JournalEntry")) == 1 and not sandbox.documents("SalesReceipt")


def test_foreign_currency_sale_carries_currency_and_rate():
    with QuickBooksSandbox(currencies=("USD", "EUR")) as sandbox:
        target_for(sandbox).post(sale_doc("S-EUR", currency="EUR", exchange_rate=Decimal("1.0825")))
        receipt = sandbox.documents("SalesReceipt")[0]
        assert receipt["CurrencyRef"] == {"value": "EUR"} and receipt["ExchangeRate"] == Decimal("1.0825")


def test_the_source_number_is_the_doc_number_and_a_long_one_a_stable_short_form(sandbox):
    """Finding 3 of issue 10: numbers were shortened beyond recognition."""
    target = target_for(sandbox)
    doc = PostingDocument(**{**sale_doc("wholesale/invoice/INV-20261126").__dict__, "number": "INV-20261126"})
    target.post(doc)
    assert sandbox.documents("SalesReceipt")[0]["DocNumber"] == "INV-20261126"
    reference = "shopify-order-5512345678901-rev-2"
    number = short_form(reference, 21)
    assert (
        len(number) == 21
        and number == short_form(reference, 21)
        and number != short_form(reference + "x", 21)
    )
    posted = target.post(sale_doc(reference))
    assert sandbox.documents("SalesReceipt")[1]["DocNumber"] == number
    assert reference in sandbox.documents("SalesReceipt")[1]["PrivateNote"]
    assert target.lookup(sale_doc(reference)) == posted


def invoice_doc(
    reference: str, total: str = "115.00", *, due: date | None = date(2026, 2, 4)
) -> PostingDocument:
    """A B2B invoice on 30-day terms to a named customer (tax 15 %)."""
    from integrator.canonical import Party

    net = (Decimal(total) / (1 + RATE)).quantize(CENT)
    return PostingDocument(reference=reference, idempotency_key=f"k-{reference}", kind="invoice", date=DAY, currency="USD",
                           number=reference, due_date=due, customer=Party(external_id="B2B-017", name="Afro Home Stores Ltd",
                                                                          company="Afro Home Stores Ltd"),
                           lines=(line("1100", "7", "receivable", debit=total),
                                  line("4000", "3", "revenue", credit=str(net), item_ref="1", tax_code_ref="2", tax_rate=RATE),
                                  line("2200", "6", "tax", credit=str(Decimal(total) - net), tax_code_ref="2")))  # fmt: skip


def payment_doc(
    reference: str, amount: str, invoice: PostResult, invoice_doc_: PostingDocument
) -> PostingDocument:
    """A bank transfer paying (part of) the invoice."""
    return PostingDocument(reference=reference, idempotency_key=f"k-{reference}", kind="payment", date=DAY, currency="USD",
                           number=reference, customer=invoice_doc_.customer, related_remote_id=invoice.remote_id,
                           related_number=invoice.remote_number, related_kind="invoice",
                           lines=(line("1000", "2", "bank", debit=amount), line("1100", "7", "receivable", credit=amount)))  # fmt: skip


def test_an_invoice_on_terms_paid_in_two_parts_is_closed_for_its_customer(sandbox):
    """Finding 3 of issue 10: invoices stayed open on the generic customer with no due date."""
    target = target_for(sandbox)
    invoice = invoice_doc("INV-7")
    posted = target.post(invoice)
    first = target.post(payment_doc("PAY-7a", "50.00", posted, invoice))
    second = target.post(payment_doc("PAY-7b", "65.00", posted, invoice))
    (stored,) = sandbox.documents("Invoice")
    assert stored["DueDate"] == "2026-02-04" and stored["Balance"] == Decimal("0.00")
    customer = next(c for c in sandbox.documents("Customer") if c["Id"] == stored["CustomerRef"]["value"])
    assert customer["DisplayName"] == "Afro Home Stores Ltd"
    payments = sandbox.documents("Payment")
    assert [p["Line"][0]["LinkedTxn"][0]["TxnId"] for p in payments] == [posted.remote_id] * 2
    assert {p["CustomerRef"]["value"] for p in payments} == {stored["CustomerRef"]["value"]}
    for doc, result in ((invoice, posted), (payment_doc("PAY-7a", "50.00", posted, invoice), first),
                        (payment_doc("PAY-7b", "65.00", posted, invoice), second)):  # fmt: skip
        verified(target, doc, result)
    assert len([c for c in sandbox.documents("Customer") if c["DisplayName"] == "Afro Home Stores Ltd"]) == 1


def test_a_sale_paid_into_two_accounts_is_an_invoice_with_two_linked_payments(sandbox):
    doc = sale_doc("S-SPLIT")
    clearing = doc.lines[0]
    half = (clearing.debit / 2).quantize(CENT)
    lines = (line("1210", "1", "clearing", debit=str(half)), line("1000", "2", "bank", debit=str(clearing.debit - half)),
             *doc.lines[1:])  # fmt: skip
    split = PostingDocument(**{**doc.__dict__, "lines": lines})
    target = target_for(sandbox)
    result = target.post(split)
    (invoice,) = sandbox.documents("Invoice")
    assert invoice["Balance"] == 0 and len(sandbox.documents("Payment")) == 2
    assert target.lookup(split) == result
    verified(target, split, result)


# ---------------------------------------------------------------------------------------------
# Exactly once
# ---------------------------------------------------------------------------------------------


def test_resend_with_the_same_key_gives_one_document(sandbox):
    target = target_for(sandbox)
    first, second = target.post(sale_doc("S-2")), target.post(sale_doc("S-2"))
    assert first == second and len(sandbox.documents("SalesReceipt")) == 1
    sent = sandbox.requests_to("POST", r"/salesreceipt$")
    assert len(sent) == 2 and {r.arg("requestid") for r in sent} == {"key-S-2"}


def test_lost_answer_is_resolved_by_lookup_without_a_duplicate(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/salesreceipt$")
    with pytest.raises(Uncertain):
        target.post(sale_doc("S-3"))
    found = target.lookup(sale_doc("S-3"))
    assert isinstance(found, PostResult) and found.remote_id == sandbox.documents("SalesReceipt")[0]["Id"]
    assert target.lookup(sale_doc("S-404")) is None
    assert len(sandbox.documents("SalesReceipt")) == 1


def test_duplicate_number_is_resolved_by_lookup_never_by_renaming(sandbox):
    target = target_for(sandbox)
    first = target.post(sale_doc("S-4"))
    sandbox.forget_request_ids()  # the key's answer is gone: QuickBooks answers 6140
    again = target.post(sale_doc("S-4", key="another-key"))
    assert again == first and len(sandbox.documents("SalesReceipt")) == 1
    assert sandbox.documents("SalesReceipt")[0]["DocNumber"] == "S-4"


def test_duplicate_number_with_another_total_is_permanent(sandbox):
    target = target_for(sandbox)
    target.post(sale_doc("S-5"))
    with pytest.raises(Permanent, match="exists with total"):
        target.post(sale_doc("S-5", (("99.00", 1),), key="other"))
    assert len(sandbox.documents("SalesReceipt")) == 1


def test_forgotten_request_ids_still_give_one_document():
    with QuickBooksSandbox(idempotency_ttl=0.2) as sandbox:
        target = target_for(sandbox)
        first = target.post(sale_doc("S-TTL"))
        time.sleep(0.3)
        assert target.post(sale_doc("S-TTL")) == first  # 6140 this time, resolved by look-up
        assert len(sandbox.documents("SalesReceipt")) == 1
        by_number = [r for r in sandbox.requests_to("GET", "/query$") if "DocNumber" in r.arg("query")]
        assert len(by_number) == 1


# ---------------------------------------------------------------------------------------------
# Closed periods
# ---------------------------------------------------------------------------------------------


def test_lock_date_from_settings_raises_closed_period_before_any_http(sandbox):
    target = target_for(sandbox, lock_date="2026-01-05")
    with pytest.raises(ClosedPeriod, match="closing date 2026-01-05"):
        target.post(sale_doc("S-6", day=date(2026, 1, 5)))
    results = target.post_batch([sale_doc("S-7", day=date(2025, 12, 1))])
    assert isinstance(results[0], ClosedPeriod)
    assert sandbox.requests == []


def test_lock_date_read_from_preferences_blocks_later_posts(sandbox):
    sandbox.company.book_close_date = date(2026, 1, 31)
    target = target_for(sandbox)
    assert target.fetch_lock_date() == date(2026, 1, 31)
    before = len(sandbox.requests)
    with pytest.raises(ClosedPeriod):
        target_for(sandbox).post(sale_doc("S-8", day=date(2026, 1, 31)))
    assert len(sandbox.requests) == before
    sandbox.company.book_close_date = None
    assert target.fetch_lock_date() is None
    target.post(sale_doc("S-8", day=date(2026, 1, 31)))
    assert len(sandbox.documents("SalesReceipt")) == 1


def test_closing_date_enforced_by_quickbooks_is_closed_period(sandbox):
    sandbox.company.book_close_date = date(2026, 2, 28)  # the connector has not read it yet
    with pytest.raises(ClosedPeriod) as caught:
        target_for(sandbox).post(sale_doc("S-9", day=date(2026, 2, 1)))
    assert caught.value.vendor_code == "6200" and "period has closed" in caught.value.vendor_message
    assert not sandbox.documents("SalesReceipt")


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def test_batch_of_100_sales_uses_at_most_4_batch_calls(sandbox):
    target = target_for(sandbox)
    docs = [sale_doc(f"B-{n:03d}", ((f"{n}.25", 1),)) for n in range(1, 101)]
    results = target.post_batch(docs)
    assert all(isinstance(r, PostResult) for r in results)
    assert len(sandbox.requests_to("POST", r"/batch$")) <= 4
    receipts = sandbox.documents("SalesReceipt")
    assert len(receipts) == 100 and len({r["DocNumber"] for r in receipts}) == 100
    by_number = {r["DocNumber"]: r["TotalAmt"] for r in receipts}
    assert all(by_number[d.reference] == d.total_debit() for d in docs)
    assert len({r["CustomerRef"]["value"] for r in receipts}) == 1  # one walk-in customer, made once
    assert all(len(r.arg("requestid")) <= 36 for r in sandbox.requests_to("POST", r"/batch$"))


def test_batch_item_errors_stay_with_their_documents(sandbox):
    target = target_for(sandbox, lock_date="2025-12-31")
    target.post(sale_doc("B-DUP"))
    bad_item = sale_doc("B-BAD")
    bad_item = PostingDocument(**{**bad_item.__dict__, "lines": tuple(
        PostingLine(**{**ln.__dict__, "item_ref": "77"}) if ln.role == "revenue" else ln for ln in bad_item.lines)})  # fmt: skip
    docs = [
        sale_doc("B-OK"),
        bad_item,
        sale_doc("B-DUP", key="fresh-key"),
        sale_doc("B-OLD", day=date(2025, 6, 1)),
    ]
    ok, bad, duplicate, old = target.post_batch(docs)
    assert isinstance(ok, PostResult) and isinstance(duplicate, PostResult)
    assert isinstance(bad, Permanent) and "item 77" in bad.vendor_message  # refused before sending
    assert isinstance(old, ClosedPeriod)
    assert sorted(r["DocNumber"] for r in sandbox.documents("SalesReceipt")) == ["B-DUP", "B-OK"]


def test_batch_lost_answer_makes_items_uncertain_and_lookup_resolves_them(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/batch$")
    docs = [sale_doc(f"BU-{n}") for n in range(3)]
    results = target.post_batch(docs)
    assert all(isinstance(r, Uncertain) for r in results)
    assert all(isinstance(target.lookup(d), PostResult) for d in docs)
    assert len(sandbox.documents("SalesReceipt")) == 3


# ---------------------------------------------------------------------------------------------
# Limits and faults
# ---------------------------------------------------------------------------------------------


def post_until_done(target: QuickBooksTarget, doc: PostingDocument, attempts: int = 5) -> PostResult:
    """What the outbox does: re-send with the same key after RateLimited."""
    for _ in range(attempts):
        try:
            return target.post(doc)
        except RateLimited:
            continue
    raise AssertionError("never posted")


def warmed(sandbox: QuickBooksSandbox, **settings: object) -> QuickBooksTarget:
    """A target that has read the company and made its walk-in customer (those reads are cached),
    so what follows measures the posting calls alone."""
    target = target_for(sandbox, **settings)
    target.post(sale_doc("WARM-UP"))
    return target


def test_429_is_honoured_no_request_inside_the_retry_after_window(sandbox):
    target = warmed(sandbox)
    sandbox.limits = QboLimits(per_second=3)
    sandbox.retry_after = 1.0
    for n in range(7):
        post_until_done(target, sale_doc(f"RL-{n}"))
    assert sandbox.retry_windows, "the sandbox never limited: the test proves nothing"
    assert sandbox.requests_inside_retry_after() == []
    assert len(sandbox.documents("SalesReceipt")) == 8


def test_injected_429_blocks_the_realm_for_retry_after(sandbox):
    target = warmed(sandbox)
    sandbox.faults.next(Fault("rate_limit", retry_after=1.0))
    with pytest.raises(RateLimited) as caught:
        target.post(sale_doc("RL-A"))
    assert caught.value.retry_after == 1.0
    started = time.monotonic()
    target.post(sale_doc("RL-A"))
    assert time.monotonic() - started >= 0.9
    assert sandbox.requests_inside_retry_after() == []


def test_429_without_retry_after_means_60_seconds(sandbox):
    target = warmed(sandbox, max_wait_seconds=1)
    sandbox.limits = QboLimits(per_second=1)
    sandbox.retry_after = None
    time.sleep(1.1)
    target.post(sale_doc("RL-1"))
    with pytest.raises(RateLimited) as caught:
        target.post(sale_doc("RL-2"))
    assert caught.value.retry_after == 60.0
    sent = len(sandbox.requests)
    with pytest.raises(RateLimited):  # refused locally: nothing sent inside the 60 s
        target.post(sale_doc("RL-2"))
    assert len(sandbox.requests) == sent


def test_server_error_is_retryable_and_the_retry_creates_one_document(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("status", status=503))
    with pytest.raises(Retryable):
        target.post(sale_doc("S-503"))
    target.post(sale_doc("S-503"))
    assert len(sandbox.documents("SalesReceipt")) == 1


# ---------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------


def test_a_refused_access_token_is_refreshed_once_and_the_call_retried(sandbox):
    saved: list = []
    target = target_for(sandbox, saved)
    sandbox.tokens.expire_access_tokens()
    target.post(sale_doc("S-AUTH"))
    assert sandbox.tokens.count("refresh_token", "ok") == 1
    assert len(saved) == 1 and sandbox.tokens.access_valid(saved[0]["access_token"])
    assert len(sandbox.documents("SalesReceipt")) == 1


def test_a_revoked_connection_raises_auth_expired_asking_for_reauthorisation(sandbox):
    target = target_for(sandbox)
    sandbox.tokens.expire_access_tokens()
    sandbox.tokens.revoke_refresh_tokens()
    with pytest.raises(AuthExpired, match="re-authorised"):
        target.post(sale_doc("S-REVOKED"))
    assert not sandbox.documents("SalesReceipt")


# ---------------------------------------------------------------------------------------------
# Reading and errors
# ---------------------------------------------------------------------------------------------


def test_reads_accounts_tax_codes_items_and_customers(sandbox):
    target = target_for(sandbox)
    accounts = {a.code: a for a in target.fetch_accounts()}
    assert accounts["1210"].remote_id == "1" and accounts["6100"].type == "expense"
    assert {t.remote_id: t.rate for t in target.fetch_tax_codes()}["2"] == Decimal("0.15")
    assert {i.remote_id for i in target.fetch_items()} >= {"1", "2", "3"}
    assert [c.name for c in target.fetch_contacts()] == ["Web customers"]
    assert target.calls_today() >= 5 and target.daily_budget_remaining() is None


def test_an_unknown_item_is_permanent_with_the_vendor_message(sandbox):
    doc = sale_doc("S-ITEM")
    doc = PostingDocument(**{**doc.__dict__, "lines": tuple(
        PostingLine(**{**ln.__dict__, "item_ref": "77"}) if ln.role == "revenue" else ln for ln in doc.lines)})  # fmt: skip
    with pytest.raises(Permanent, match="item 77") as caught:
        target_for(sandbox).post(doc)
    assert "does not exist" in caught.value.vendor_message
    assert not sandbox.requests_to("POST", r"/salesreceipt$")


def test_a_line_without_an_account_id_is_refused_before_sending(sandbox):
    doc = summary_doc("J-NOREF")
    doc = PostingDocument(
        **{**doc.__dict__, "lines": (line("1210", "", "clearing", debit="1150.00"), *doc.lines[1:])}
    )
    with pytest.raises(Permanent, match="no QuickBooks id"):
        target_for(sandbox).post(doc)
    assert sandbox.requests_to("POST", r"/salesreceipt$") == []


@pytest.mark.parametrize(
    ("fixture", "status", "expected", "code"),
    [
        ("fault_5010_stale.json", 400, Retryable, "5010"),
        ("fault_6140_duplicate.json", 400, DuplicateDocument, "6140"),
        ("fault_6210_duplicate.json", 400, DuplicateDocument, "6210"),
        ("fault_6200_closed.json", 400, ClosedPeriod, "6200"),
        ("fault_6210_closed.json", 400, ClosedPeriod, "6210"),
        ("fault_610_not_found.json", 400, Permanent, "610"),
        ("fault_6070_amount.json", 400, Permanent, "6070"),
        ("fault_6000_business.json", 400, Permanent, "6000"),
        ("fault_3200_auth.json", 401, AuthExpired, "3200"),
    ],
)
def test_error_classification_table(fixture, status, expected, code):
    body = json.loads((FIXTURES / fixture).read_text())
    error = classify_fault(status, body)
    assert type(error) is expected
    assert error.vendor_code == code
    fault = body.get("Fault") or body.get("fault")
    first = (fault.get("Error") or fault.get("error"))[0]
    assert (first.get("Message") or first.get("message")) in error.vendor_message


def test_a_401_without_a_body_is_auth_expired_and_a_500_is_retryable():
    assert isinstance(classify_fault(401, {}), AuthExpired)
    assert isinstance(
        classify_fault(500, {"Fault": {"Error": [{"Message": "boom", "code": "10000"}]}}), Retryable
    )
