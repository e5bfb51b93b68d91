"""Business Central target against the Business Central sandbox over real HTTP on 127.0.0.1.

Given a sandbox company holding the demo's chart (4000 sales, 1100 card clearing, 1200
receivables, 2100 UK VAT, 6100 fees, 1000 bank; VAT codes UK-VAT20, UK-ZERO, NONE), when the target
posts, then the company holds exactly one document per posting with our VAT, read back per account
and VAT code.
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
    PostingLine,
    RateLimited,
    Uncertain,
    ledger_target_class,
)
from connectors.ledgers.business_central import BusinessCentralTarget, EntityChanged, classify_error
from connectors.ledgers.business_central.errors import DuplicateDocument
from connectors.ledgers.common import compare_views
from connectors.sandbox.base import Fault
from connectors.sandbox.business_central import BusinessCentralSandbox
from tests.ledgers.demo_week import demo_chart

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "business_central"
DAY = date(2026, 10, 5)


def line(code: str, role: str, debit: str = "0", credit: str = "0", **kw: Any) -> PostingLine:
    """A posting line in the demo chart's account numbers."""
    return PostingLine(account_code=code, role=role, debit=Decimal(debit), credit=Decimal(credit), **kw)


def sale(
    reference: str, nets: tuple[str, ...] = ("10.00",), tax: str | None = None, *, day: date = DAY
) -> PostingDocument:
    """A card sale of lines at 20 % VAT; ``tax`` overrides the shop's VAT (its own rounding)."""
    revenue = [line("4000", "revenue", credit=n, tax_code="UK-VAT20", tax_rate=Decimal("0.20")) for n in nets]
    vat = (
        Decimal(tax)
        if tax is not None
        else sum((Decimal(n) * Decimal("0.2") for n in nets), Decimal(0)).quantize(Decimal("0.01"))
    )
    total = sum((Decimal(n) for n in nets), Decimal(0)) + vat
    lines = (
        line("1100", "clearing", debit=str(total)),
        *revenue,
        line("2100", "tax", credit=str(vat), tax_code="UK-VAT20"),
    )
    return PostingDocument(
        reference=reference,
        idempotency_key=f"key-{reference}",
        kind="sale",
        date=day,
        currency="GBP",
        lines=lines,
    )


@pytest.fixture
def sandbox() -> Any:
    with BusinessCentralSandbox() as bc:
        bc.seed_chart(*demo_chart())
        yield bc


def target_for(bc: BusinessCentralSandbox, **settings: Any) -> BusinessCentralTarget:
    config = LedgerConfig(connection_id=f"bc-{bc.port}", platform="business_central", functional_currency="GBP",
                          base_url=bc.url, credentials=bc.credentials(), settings={**bc.ledger_settings(), **settings})  # fmt: skip
    return BusinessCentralTarget(config)


def check(target: BusinessCentralTarget, doc: PostingDocument) -> None:
    result = target.post(doc)
    assert compare_views(target.expected_view(doc), target.read_back(doc, result)) == []


def test_the_registry_finds_the_target() -> None:
    assert ledger_target_class("business_central") is BusinessCentralTarget


def test_a_sale_becomes_a_posted_invoice_paid_into_clearing(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    check(target, sale("S-1", ("10.00", "25.00")))
    [invoice] = sandbox.company.documents["salesInvoices"]
    assert invoice["status"] == "Paid" and invoice["totalTaxAmount"] == Decimal("7.00")
    assert invoice["number"].startswith("PSI") and invoice["externalDocumentNumber"] == "S-1"
    [payment] = sandbox.company.payments
    assert payment["amount"] == Decimal("-42.00") and payment["appliesToInvoiceId"] == invoice["id"]


def test_vat_rounded_otherwise_by_the_shop_is_fitted_without_moving_revenue(
    sandbox: BusinessCentralSandbox,
) -> None:
    # Three lines of 0.05 at 20 %: the shop rounds each line's 0.01 (0.03), Business Central the
    # document's 0.03 -> the same; 0.04 + 0.04 + 0.04 lines: shop 0.03 (0.01 each), BC 0.02.
    target = target_for(sandbox)
    doc = sale("S-FIT", ("0.04", "0.04", "0.04", "10.00"), tax="2.03")
    check(target, doc)
    [invoice] = sandbox.company.documents["salesInvoices"]
    fit = [ln for ln in invoice["_lines"] if ln["description"].startswith("VAT rounding")]
    assert invoice["totalTaxAmount"] == Decimal("2.03") and len(fit) == 1 and fit[0]["taxCode"] == "NONE"
    assert sum((ln["amountExcludingTax"] for ln in invoice["_lines"]), Decimal(0)) == Decimal("10.12")


def test_a_lost_answer_leaves_a_draft_that_the_next_attempt_finishes(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    doc = sale("S-LOST")
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/salesInvoices$", method="POST")
    with pytest.raises(Uncertain):
        target.post(doc)
    assert target.lookup(doc) is None  # a draft is not a posted document
    result = target.post(doc)
    assert target.lookup(doc) == result
    assert len(sandbox.company.documents["salesInvoices"]) == 1 and len(sandbox.company.payments) == 1


def test_a_lost_payment_answer_does_not_pay_twice(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    doc = sale("S-PAY")
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/customerPayments$", method="POST")
    with pytest.raises(Uncertain):
        target.post(doc)
    found = target.lookup(doc)
    assert found is not None and len(sandbox.company.payments) == 1
    assert target.post(doc).remote_id == found.remote_id and len(sandbox.company.payments) == 1


def test_a_duplicate_refusal_is_resolved_by_look_up_never_by_renaming() -> None:
    with BusinessCentralSandbox(unique_external_numbers=True) as bc:
        bc.seed_chart(*demo_chart())
        target = target_for(bc)
        doc = sale("S-DUP")
        # Two sends of one document in one batch: both look-ups miss, the second create is refused
        # as a duplicate and resolved by looking the first one up.
        first, second = target.post_batch([doc, doc])
        assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
        assert first.remote_id == second.remote_id
        assert [d["externalDocumentNumber"] for d in bc.company.documents["salesInvoices"]] == ["S-DUP"]
        assert len(bc.company.payments) == 1
        assert compare_views(target.expected_view(doc), target.read_back(doc, first)) == []


def test_a_refund_is_a_credit_memo_refunded_from_clearing(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    lines = (line("4000", "revenue", debit="10.00", tax_code="UK-VAT20"), line("2100", "tax", debit="2.00", tax_code="UK-VAT20"),
             line("1100", "clearing", credit="12.00"))  # fmt: skip
    doc = PostingDocument(
        reference="R-1", idempotency_key="k-r1", kind="refund", date=DAY, currency="GBP", lines=lines
    )
    check(target, doc)
    [memo] = sandbox.company.documents["salesCreditMemos"]
    assert memo["status"] == "Open" and memo["totalAmountIncludingTax"] == Decimal("12.00")
    assert sandbox.company.payments[0]["amount"] == Decimal("12.00")


def test_a_payout_is_a_posted_general_journal(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    lines = (
        line("1000", "bank", debit="95.00"),
        line("6100", "fee", debit="5.00"),
        line("1100", "clearing", credit="100.00"),
    )
    doc = PostingDocument(
        reference="PO-1", idempotency_key="k-po1", kind="payout", date=DAY, currency="GBP", lines=lines
    )
    check(target, doc)
    assert target.post(doc).remote_id == "PO-1"  # found posted: nothing new
    assert len([e for e in sandbox.company.ledger if e["documentNumber"] == "PO-1"]) == 3
    assert sandbox.company.journal_lines == []


def test_a_foreign_sale_becomes_a_local_journal_at_functional_amounts(
    sandbox: BusinessCentralSandbox,
) -> None:
    target = target_for(sandbox)
    lines = (PostingLine("1100", Decimal("6000"), Decimal(0), "clearing", functional_debit=Decimal("7.80"), functional_credit=Decimal(0)),
             PostingLine("4000", Decimal(0), Decimal("6000"), "revenue", tax_code="NONE", functional_debit=Decimal(0), functional_credit=Decimal("7.80")))  # fmt: skip
    doc = PostingDocument(reference="X-1", idempotency_key="k-x1", kind="sale", date=DAY, currency="XOF", lines=lines,
                          exchange_rate=Decimal("0.0013"), functional_currency="GBP")  # fmt: skip
    check(target, doc)
    assert {e["accountNumber"]: e["debitAmount"] - e["creditAmount"] for e in sandbox.company.ledger} == {
        "1100": Decimal("7.80"), "4000": Decimal("-7.80")}  # fmt: skip


def test_batch_of_60_sales_goes_out_in_batch_requests(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    target.plan(sale("warm-up"))  # the walk-in customer exists from here on
    before = len(sandbox.requests)
    results = target.post_batch([sale(f"B-{n}") for n in range(60)])
    calls = len(sandbox.requests) - before
    assert all(not isinstance(r, Exception) for r in results), results
    assert len(sandbox.company.documents["salesInvoices"]) == 60 and len(sandbox.company.payments) == 60
    assert len(sandbox.requests_to("POST", r"/\$batch$")) >= 5
    assert calls <= 16, calls  # look-up, create, read, post, read, payment look-up, journal, payment


def test_a_batch_answer_lost_after_commit_is_finished_by_look_up(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    target.plan(sale("warm-up"))
    docs = [sale(f"L-{n}") for n in range(5)]
    sandbox.faults.next(Fault("drop_after_commit"), path=r"/\$batch$")
    first = target.post_batch(docs)
    assert all(isinstance(r, Uncertain) for r in first)
    again = target.post_batch(docs)
    assert all(not isinstance(r, Exception) for r in again)
    assert len(sandbox.company.documents["salesInvoices"]) == 5 and len(sandbox.company.payments) == 5


def test_a_date_before_the_users_allowed_range_is_refused_before_any_request(
    sandbox: BusinessCentralSandbox,
) -> None:
    target = target_for(sandbox, allow_posting_from="2026-11-01")
    target.allowed_range()
    before = len(sandbox.requests)
    with pytest.raises(ClosedPeriod):
        target.post(sale("S-OLD"))
    assert len(sandbox.requests) == before


def test_business_centrals_own_date_refusal_is_a_closed_period(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    target.allowed_range(refresh=True)
    sandbox.company.allow_to = date(2026, 9, 30)  # changed after we read it
    with pytest.raises(ClosedPeriod, match="allowed posting dates"):
        target.post(sale("S-LATE"))
    assert target.fetch_lock_date() is None and target.allowed_range()[1] == date(2026, 9, 30)


def test_a_stale_etag_is_refused_as_entity_changed(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    company = sandbox.company
    customer = company.add_customer({"displayName": "Ama"})
    doc = company.add_document("salesInvoices", {"customerId": customer["id"], "salesInvoiceLines": [
        {"lineType": "Account", "lineObjectNumber": "4000", "quantity": 1, "unitPrice": 5, "taxCode": "UK-VAT20"}]}, "salesInvoiceLines")  # fmt: skip
    line_id = doc["_lines"][0]["id"]
    ok = target._send(target._one(Call_patch(doc["id"], line_id, 'W/"MQ=="')).send(None))  # type: ignore[attr-defined]
    assert ok.status == 200
    stale = target._send(target._one(Call_patch(doc["id"], line_id, 'W/"MQ=="')).send(None))  # type: ignore[attr-defined]
    assert stale.status == 412 and isinstance(target._classify(stale), EntityChanged)


def Call_patch(doc_id: str, line_id: str, etag: str) -> Any:
    from connectors.ledgers.common.flows import Call

    return Call(
        "PATCH", f"salesInvoices({doc_id})/salesInvoiceLines({line_id})", {"quantity": 2}, {"If-Match": etag}
    )


def test_an_expired_token_is_renewed_once(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    target.fetch_accounts()
    sandbox.expire_tokens()
    assert len(target.fetch_accounts()) > 20


def test_a_wrong_secret_is_auth_expired(sandbox: BusinessCentralSandbox) -> None:
    config = LedgerConfig(connection_id="bc-bad", platform="business_central", functional_currency="GBP", base_url=sandbox.url,
                          credentials={"client_id": "bc-client", "client_secret": "wrong"},
                          settings={**sandbox.ledger_settings(), "token_url": sandbox.ledger_settings()["token_url"] + "?x"})  # fmt: skip
    with pytest.raises(AuthExpired):
        BusinessCentralTarget(config).fetch_accounts()


def test_reads_accounts_vat_codes_and_the_connection(sandbox: BusinessCentralSandbox) -> None:
    target = target_for(sandbox)
    accounts = {a.code: a for a in target.fetch_accounts()}
    assert accounts["4000"].type == "revenue" and accounts["1200"].type == "asset"
    codes = {t.code: t.rate for t in target.fetch_tax_codes()}
    assert codes["UK-VAT20"] == Decimal("0.20") and codes["NONE"] == 0
    assert target.test_connection().ok


@pytest.mark.parametrize(
    ("fixture", "status", "expected"),
    [
        ("error_date_range.json", 400, ClosedPeriod),
        ("error_same_key.json", 400, DuplicateDocument),
        ("error_entity_changed.json", 412, EntityChanged),
        ("error_too_many.json", 429, RateLimited),
        ("error_unauthorized.json", 401, AuthExpired),
        ("error_not_found.json", 400, Permanent),
    ],
)
def test_error_classification_table(fixture: str, status: int, expected: type) -> None:
    body = json.loads((FIXTURES / fixture).read_text())
    error = classify_error(status, body, {"Retry-After": "7"})
    assert type(error) is expected and error.vendor_code == body["error"]["code"]
    if isinstance(error, RateLimited):
        assert error.retry_after == 7


def test_dimension_defaults_and_vat_rates_as_text_come_from_the_settings(
    sandbox: BusinessCentralSandbox,
) -> None:
    target = target_for(
        sandbox, shortcut_dimension_1="RETAIL", shortcut_dimension_2="UK", tax_rates="UK-VAT20=0.20; NONE=0"
    )
    target.post(sale("S-DIM"))
    [invoice] = sandbox.company.documents["salesInvoices"]
    assert (invoice["shortcutDimension1Code"], invoice["shortcutDimension2Code"]) == ("RETAIL", "UK")
    assert {t.code: t.rate for t in target.fetch_tax_codes()}["UK-VAT20"] == Decimal("0.20")
