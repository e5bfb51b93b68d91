"""Xero target against the Xero sandbox over real HTTP on 127.0.0.1.

Given a sandbox organisation (seed accounts: 090 Stripe Clearing and 091 bank, both BANK; 200
sales; 210 shipping; 404 bank fees; 610 A/R; 820 sales tax; 860 rounding; tax types OUTPUT 15 %,
ZERORATEDOUTPUT, NONE), when the target posts, then the organisation holds exactly the
documents, payments and totals the journal says.
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
    """A daily summary journal (or dispute, reversal)."""
    return PostingDocument(reference=reference, idempotency_key=f"key-{reference}", kind=kind, date=DAY,
                           currency="USD", memo="daily summary", lines=(
                               line("090", "clearing", debit="1150.00"), line("200", "revenue", credit="1000.00"),
                               line("820", "tax", credit="150.00")))  # fmt: skip


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
        settings={**sandbox.ledger_settings(), "rounding_account_code": "860", **settings},
        save_credentials=(saved.append if saved is not None else None),
    )
    target = ledger_target_class("xero")(config)
    assert isinstance(target, XeroTarget)
    return target


# ---------------------------------------------------------------------------------------------
# Documents and totals
# ---------------------------------------------------------------------------------------------


def test_sale_becomes_an_authorised_invoice_paid_into_clearing(sandbox):
    result = target_for(sandbox).post(sale_doc("S-1001", (("10.00", 3), ("4.99", 2))))
    (invoice,) = sandbox.documents("Invoices")
    (payment,) = sandbox.documents("Payments")
    assert result.remote_id == invoice["InvoiceID"] and result.remote_number == "S-1001"
    assert invoice["Total"] == Decimal("45.98") and invoice["Status"] == "PAID" and invoice["AmountDue"] == 0
    assert payment["Amount"] == Decimal("45.98") and payment["Account"]["Code"] == "090"
    assert result.raw["payment_ids"] == [payment["PaymentID"]]
    assert sandbox.requests_to("PUT", "/Invoices")[0].header("Idempotency-Key") == "key-S-1001"
    assert sandbox.requests_to("PUT", "/Payments")[0].header("Idempotency-Key") == "key-S-1001:pay"


def test_document_rounded_tax_gets_an_explicit_rounding_line(sandbox):
    # The shop rounds on the total (0.4725 -> 0.47); Xero per line (3 x 0.1575 -> 0.48).
    doc = sale_doc("S-ROUND", (("1.05", 1), ("1.05", 1), ("1.05", 1)), per_document_tax=True)
    target_for(sandbox).post(doc)
    (invoice,) = sandbox.documents("Invoices")
    assert invoice["Total"] == Decimal("3.62") == doc.total_debit()
    assert invoice["TotalTax"] == Decimal("0.48")
    rounding = [li for li in invoice["LineItems"] if li["AccountCode"] == "860"]
    assert [li["LineAmount"] for li in rounding] == [Decimal("-0.01")] and rounding[0]["TaxType"] == "NONE"


def test_without_a_rounding_account_our_tax_is_written_on_the_lines(sandbox):
    doc = sale_doc("S-ROUND2", (("1.05", 1), ("1.05", 1), ("1.05", 1)), per_document_tax=True)
    target_for(sandbox, rounding_account_code="").post(doc)
    (invoice,) = sandbox.documents("Invoices")
    assert invoice["TotalTax"] == Decimal("0.47") and invoice["Total"] == Decimal("3.62")
    assert sum(li["TaxAmount"] for li in invoice["LineItems"]) == Decimal("0.47")


def test_tax_inclusive_sale_total_is_exact(sandbox):
    doc = sale_doc("S-INCL", (("10.00", 1), ("10.00", 1), ("10.00", 1)), inclusive=True)
    target_for(sandbox).post(doc)
    (invoice,) = sandbox.documents("Invoices")
    assert (
        invoice["LineAmountTypes"] == "Inclusive"
        and invoice["Total"] == Decimal("30.00") == doc.total_debit()
    )
    assert invoice["Status"] == "PAID"


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
    target_for(sandbox).post(refund_doc("R-1"))
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


def test_payout_without_fees_is_a_bank_transfer(sandbox):
    target = target_for(sandbox)
    posted = target.post(payout_doc("PO-1"))
    (transfer,) = sandbox.documents("BankTransfers")
    assert transfer["Amount"] == Decimal("120.00") and transfer["Reference"] == "PO-1"
    assert transfer["FromBankAccount"]["Code"] == "090" and transfer["ToBankAccount"]["Code"] == "091"
    assert target.lookup(payout_doc("PO-1")) == posted


def test_payout_with_fees_is_a_journal_whose_bank_line_is_the_deposit(sandbox):
    target_for(sandbox).post(payout_doc("PO-2", "120.00", "3.78"))
    (journal,) = sandbox.documents("ManualJournals")
    bank = [ln["LineAmount"] for ln in journal["JournalLines"] if ln["AccountCode"] == "091"]
    assert bank == [Decimal("116.22")] and sum(ln["LineAmount"] for ln in journal["JournalLines"]) == 0


@pytest.mark.parametrize("kind", ["summary", "dispute", "reversal"])
def test_summary_dispute_and_reversal_become_posted_manual_journals(sandbox, kind):
    target = target_for(sandbox)
    posted = target.post(summary_doc(f"J-{kind}", kind))
    (journal,) = sandbox.documents("ManualJournals")
    assert journal["Status"] == "POSTED" and journal["Narration"].startswith(f"[J-{kind}]")
    assert [ln["LineAmount"] for ln in journal["JournalLines"]] == [
        Decimal("1150.00"),
        Decimal("-1000.00"),
        Decimal("-150.00"),
    ]
    assert target.lookup(summary_doc(f"J-{kind}", kind)) == posted


def test_foreign_currency_sale_sends_xeros_inverse_rate(sandbox):
    target_for(sandbox).post(sale_doc("S-EUR", currency="EUR", exchange_rate=Decimal("1.25")))
    (invoice,) = sandbox.documents("Invoices")
    assert invoice["CurrencyCode"] == "EUR" and invoice["CurrencyRate"] == Decimal("0.800000")


# ---------------------------------------------------------------------------------------------
# Exactly once
# ---------------------------------------------------------------------------------------------


def test_resend_with_the_same_key_gives_one_invoice_and_one_payment(sandbox):
    target = target_for(sandbox)
    assert target.post(sale_doc("S-2")) == target.post(sale_doc("S-2"))
    assert len(sandbox.documents("Invoices")) == 1 and len(sandbox.documents("Payments")) == 1


def test_lost_invoice_answer_is_resolved_by_lookup_without_a_duplicate(sandbox):
    target = target_for(sandbox)
    sandbox.faults.next(Fault("drop_after_commit"))
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
        [sale_doc("B-OK"), bad, sale_doc("B-DUP", key="fresh"), summary_doc("B-J")]
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
    with XeroSandbox(limits=XeroLimits(per_minute=2), retry_after=1.0) as sandbox:
        target = target_for(sandbox)
        problems = []
        for n in range(3):
            for _ in range(5):
                try:
                    target.post(summary_doc(f"RL-{n}"))
                    break
                except RateLimited as exc:
                    problems.append(exc.vendor_code)
                    sandbox.limits = XeroLimits(per_minute=None)  # the minute has "passed"
        assert problems == ["minute"]
        assert sandbox.requests_inside_retry_after() == []
        assert len(sandbox.documents("ManualJournals")) == 3


def test_daily_limit_429_says_day_and_blocks_for_long():
    with XeroSandbox(limits=XeroLimits(per_day=1), retry_after=1.0) as sandbox:
        target = target_for(sandbox, max_wait_seconds=1)
        target.post(summary_doc("D-1"))
        assert target.daily_budget_remaining() == 0
        with pytest.raises(RateLimited) as caught:
            target.post(summary_doc("D-2"))
        assert caught.value.vendor_code == "day" and caught.value.retry_after > 3600
        sent = len(sandbox.requests)
        with pytest.raises(RateLimited):
            target.post(summary_doc("D-2"))
        assert len(sandbox.requests) == sent


def test_daily_budget_is_xeros_own_figure(sandbox):
    target = target_for(sandbox)
    assert target.daily_budget_remaining() == 5000 and target.calls_today() == 0
    target.post(summary_doc("BUDGET"))
    assert target.daily_budget_remaining() == 4999 and target.calls_today() == 1


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
    target.post(summary_doc("AUTH"))
    assert sandbox.tokens.count("refresh_token", "ok") == 1 and len(saved) == 1
    assert len(sandbox.documents("ManualJournals")) == 1


def test_a_revoked_connection_raises_auth_expired(sandbox):
    target = target_for(sandbox)
    sandbox.tokens.expire_access_tokens()
    sandbox.tokens.revoke_refresh_tokens()
    with pytest.raises(AuthExpired, match="re-authorised"):
        target.post(summary_doc("REVOKED"))


def test_a_disconnected_tenant_is_auth_expired_without_a_refresh(sandbox):
    config = target_for(sandbox).config
    target = XeroTarget(
        LedgerConfig(**{**config.__dict__, "credentials": {**config.credentials, "tenant_id": "gone"}})
    )
    with pytest.raises(AuthExpired) as caught:
        target.post(summary_doc("T-1"))
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
