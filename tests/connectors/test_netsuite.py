"""The NetSuite targets against the sandbox account: upsert by external id, duplicates resolved by
look-up, the item preflight, lost answers, asynchronous batches with idempotency keys, customers
per currency in the subsidiary, and SOAP concurrency faults."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import LedgerConfig, Permanent, PostingDocument, PostingLine, RateLimited, Uncertain
from connectors.ledgers.netsuite.rest import NetSuiteTarget
from connectors.ledgers.netsuite.soap import NetSuiteSoapTarget
from connectors.ledgers.netsuite.target import NetSuiteBase
from connectors.sandbox.base import Fault
from connectors.sandbox.netsuite import NetSuiteSandbox
from integrator.canonical import Party
from tests.ledgers.demo_week import demo_chart

D = Decimal


@pytest.fixture
def ns() -> Any:
    with NetSuiteSandbox(currencies=("GBP", "XOF")) as sandbox:
        sandbox.seed_chart(*demo_chart())
        yield sandbox


def _target(ns: NetSuiteSandbox, cls: type[NetSuiteBase] = NetSuiteTarget, **settings: Any) -> NetSuiteBase:
    config = LedgerConfig(f"c-{uuid.uuid4().hex[:8]}", cls.platform, "GBP", base_url=ns.url,
                          credentials=ns.credentials(), settings={**ns.ledger_settings(), "default_retry_after": 0.2,
                                                                  **settings})  # fmt: skip
    return cls(config)


def _sale(
    target: NetSuiteBase, n: int, *, number: str = "", currency: str = "GBP", customer: Party | None = None
) -> PostingDocument:
    ids = {a.code: a.remote_id for a in target.fetch_accounts()}
    vat = next(t for t in target.fetch_tax_codes() if t.code == "UK-VAT20")
    code, ref, rate = "UK-VAT20", vat.remote_id, D("0.20")
    lines = (
        PostingLine("1100", D("12.00"), D(0), "clearing", account_ref=ids["1100"]),
        PostingLine("4000", D(0), D("10.00"), "revenue", account_ref=ids["4000"], tax_code=code, tax_code_ref=ref,
                    tax_rate=rate),
        PostingLine("2100", D(0), D("2.00"), "tax", account_ref=ids["2100"], tax_code=code, tax_code_ref=ref,
                    tax_rate=rate),
    )  # fmt: skip
    return PostingDocument(reference=f"till/sale/{n}", idempotency_key=f"k{n}", kind="sale", date=date.today(),
                           currency=currency, lines=lines, number=number or f"T-{n}", customer=customer,
                           exchange_rate=D("0.0013") if currency != "GBP" else None)  # fmt: skip


def test_a_sale_is_one_cash_sale_with_our_tax_segments_and_subsidiary(ns: NetSuiteSandbox) -> None:
    target = _target(ns)
    result = target.post(_sale(target, 1))
    [sale] = ns.records("cashSale")
    assert result.remote_id == sale["id"] and result.remote_number == "T-1"
    assert sale["externalId"] == "till/sale/1" and sale["taxDetailsOverride"] is True
    assert [r["taxAmount"] for r in sale["taxDetails"]] == [D("2.00")]
    assert (
        sale["subsidiary"] == {"id": "1"} and sale["class"] == {"id": "1"} and sale["location"] == {"id": "1"}
    )
    assert all(row["department"] == {"id": "1"} for row in sale["item"])
    view = target.read_back(_sale(target, 1), result)
    expected = target.expected_view(_sale(target, 1))
    assert (view.per_account, view.per_tax_code, view.total) == (
        expected.per_account,
        expected.per_tax_code,
        expected.total,
    )
    assert view.per_account == {"1100": D("12.00"), "4000": D("-10.00")}


def test_a_customer_is_made_once_per_currency_in_the_subsidiary(ns: NetSuiteSandbox) -> None:
    target = _target(ns)
    party = Party(name="Ama Mensah", external_id="cust-9")
    target.post(_sale(target, 1, customer=party))
    target.post(_sale(target, 2, customer=party))
    target.post(_sale(target, 3, customer=party, currency="XOF"))
    customers = ns.records("customer")
    assert sorted(c["companyName"] for c in customers) == ["Ama Mensah", "Ama Mensah (XOF)"]
    assert {c["subsidiary"]["id"] for c in customers} == {"1"}


def test_a_lost_answer_is_found_by_look_up_and_a_resend_replaces_the_lines(ns: NetSuiteSandbox) -> None:
    target = _target(ns)
    doc = _sale(target, 1)
    target.plan(doc)  # customer and item exist; the next write is the cash sale
    ns.faults.next(Fault("drop_after_commit"), path=r"/record/v1/cashSale/")
    with pytest.raises(Uncertain):
        target.post(doc)
    found = target.lookup(doc)
    assert found is not None and found.remote_id == ns.records("cashSale")[0]["id"]
    again = target.post(doc)
    [sale] = ns.records("cashSale")
    assert again.remote_id == sale["id"] and len(sale["item"]) == 1 and len(sale["taxDetails"]) == 1


def test_a_number_in_use_is_resolved_by_look_up_never_renamed(ns: NetSuiteSandbox) -> None:
    target = _target(ns)
    first = target.post(_sale(target, 1, number="SAME-1"))
    # Another posting whose record already exists under another external id, same number and total:
    # adopted, not renamed and not doubled.
    adopted = target.post(_sale(target, 2, number="SAME-1"))
    assert adopted.remote_id == first.remote_id and len(ns.records("cashSale")) == 1
    # A number in use by a record of another total is refused for a person to look at.
    other = _sale(target, 3, number="SAME-1")
    bigger = tuple(
        PostingLine(ln.account_code, ln.debit * 2, ln.credit * 2, ln.role, tax_code=ln.tax_code, tax_rate=ln.tax_rate,
                    account_ref=ln.account_ref, tax_code_ref=ln.tax_code_ref)
        for ln in other.lines
    )  # fmt: skip
    with pytest.raises(Permanent, match="does not hold this document's total"):
        target.post(PostingDocument(**{**other.__dict__, "lines": bigger}))
    assert [s["tranId"] for s in ns.records("cashSale")] == ["SAME-1"]


def test_an_item_booking_elsewhere_is_refused_before_sending(ns: NetSuiteSandbox) -> None:
    target = _target(ns)
    doc = _sale(target, 1)
    ids = {a.code: a.remote_id for a in target.fetch_accounts()}
    with ns.lock:  # someone pointed our income item at another account
        ns.books.upsert("nonInventorySaleItem", f"income-item:1:{ids['4000']}",
                        {"itemId": "Sales - 4000", "incomeAccount": {"id": ids["4010"]}})  # fmt: skip
    with pytest.raises(Permanent, match="books to account 4010, not 4000"):
        target.post(doc)
    assert ns.records("cashSale") == []


def test_a_batch_goes_as_asynchronous_requests_with_idempotency_keys(ns: NetSuiteSandbox) -> None:
    target = _target(ns)
    docs = [_sale(target, n) for n in range(1, 6)]
    target.post(docs[0])  # customer and item exist
    results = target.post_batch(docs)
    assert all(not isinstance(r, Exception) for r in results)
    puts = [
        r for r in ns.requests_to("PUT", r"/record/v1/cashSale/") if "respond-async" in r.header("Prefer")
    ]
    keys = [r.header("X-NetSuite-idempotency-key") for r in puts]
    assert len(keys) == 5 and len(set(keys)) == 5 and all(uuid.UUID(k) for k in keys)
    # The same batch again: the same keys answer the same jobs; nothing new is written.
    writes = ns.books.writes
    again = target.post_batch(docs)
    assert [r.remote_id for r in again] == [r.remote_id for r in results]  # type: ignore[union-attr]
    assert ns.books.writes == writes and len(ns.records("cashSale")) == 5


def test_soap_upserts_in_one_list_and_treats_a_blocked_request_as_rate_limited(ns: NetSuiteSandbox) -> None:
    target = _target(ns, NetSuiteSoapTarget)
    docs = [_sale(target, n) for n in range(1, 4)]
    target.post(docs[0])
    results = target.post_batch(docs)
    assert all(not isinstance(r, Exception) for r in results) and len(ns.records("cashSale")) == 3
    calls = [r for r in ns.requests if b"upsertList" in r.body]
    assert any(r.body.count(b"externalId=") >= 3 for r in calls)  # one upsertList for the three
    ns.concurrency = 0  # every request now exceeds the account's limit
    with pytest.raises(RateLimited) as refused:
        target.post(_sale(target, 9))
    assert refused.value.vendor_code == "WS_CONCUR_SESSION_DISALLWD"
    assert ns.invalid_messages == []


@pytest.mark.parametrize("cls", [NetSuiteTarget, NetSuiteSoapTarget])
def test_the_connection_check_names_the_subsidiary_its_currency_and_closed_periods(
    ns: NetSuiteSandbox, cls: Any
) -> None:
    ns.lock_period(date.today().replace(day=1))
    check = _target(ns, cls).test_connection()
    assert check.ok and "subsidiary 1 (GBP)" in check.message and "periods closed to" in check.message
    assert check.details["accounts"] == len(demo_chart()[0]) and check.details["tax_codes"] == 3
