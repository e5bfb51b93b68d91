"""NetSuite order-to-invoice (the connection's ``order_to_invoice`` setting), over REST and SOAP
against the sandbox account: an invoice becomes a sales order and the invoice billed from it
(linked by ``createdFrom``, our number, our tax with the override), each posted once; a lost answer
after the order or after the invoice is resolved by look-up without a second record; the sandbox
refuses billing an order twice; every SOAP message validates against the XSDs."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import LedgerConfig, Permanent, PostingDocument, PostingLine, Uncertain
from connectors.ledgers.netsuite.documents import NsRecord, order_records, rest_body
from connectors.ledgers.netsuite.rest import NetSuiteTarget
from connectors.ledgers.netsuite.soap import NetSuiteSoapTarget
from connectors.ledgers.netsuite.soap_records import service, soap_type, to_soap, wsdl_client, xsd_schema
from connectors.ledgers.netsuite.target import NetSuiteBase
from connectors.sandbox.base import Fault
from connectors.sandbox.netsuite import NetSuiteSandbox
from integrator.canonical import Party
from tests.ledgers.demo_week import demo_chart

D = Decimal
TRANSPORTS = [NetSuiteTarget, NetSuiteSoapTarget]


@pytest.fixture
def ns() -> Any:
    with NetSuiteSandbox(currencies=("GBP", "XOF")) as sandbox:
        sandbox.seed_chart(*demo_chart())
        yield sandbox
        assert sandbox.invalid_messages == []  # every SOAP request and answer matched the XSDs


def _target(ns: NetSuiteSandbox, cls: type[NetSuiteBase], **settings: Any) -> NetSuiteBase:
    config = LedgerConfig(f"c-{uuid.uuid4().hex[:8]}", cls.platform, "GBP", base_url=ns.url,
                          credentials=ns.credentials(),
                          settings={**ns.ledger_settings(), "default_retry_after": 0.2, "order_to_invoice": True,
                                    **settings})  # fmt: skip
    return cls(config)


def _invoice(target: NetSuiteBase, n: int) -> PostingDocument:
    """A B2B invoice: 100.00 of goods and 5.00 shipping at 20% VAT, on terms."""
    ids = {a.code: a.remote_id for a in target.fetch_accounts()}
    vat = next(t for t in target.fetch_tax_codes() if t.code == "UK-VAT20")
    tax: dict[str, Any] = {"tax_code": "UK-VAT20", "tax_code_ref": vat.remote_id, "tax_rate": D("0.20")}
    lines = (
        PostingLine("1200", D("126.00"), D(0), "receivable", account_ref=ids["1200"]),
        PostingLine("4000", D(0), D("100.00"), "revenue", account_ref=ids["4000"], **tax),
        PostingLine("4100", D(0), D("5.00"), "shipping", account_ref=ids["4100"], **tax),
        PostingLine("2100", D(0), D("21.00"), "tax", account_ref=ids["2100"], **tax),
    )
    return PostingDocument(reference=f"b2b/invoice/{n}", idempotency_key=f"k{n}", kind="invoice", date=date.today(),
                           currency="GBP", lines=lines, number=f"INV-{n}", due_date=date.today() + timedelta(days=30),
                           customer=Party(name="Adinkra Wholesale", external_id="cust-b2b"))  # fmt: skip


def _same_books(target: NetSuiteBase, doc: PostingDocument, result: Any) -> None:
    view = target.read_back(doc, result)
    expected = target.expected_view(doc)
    assert (view.per_account, view.per_tax_code, view.total) == (
        expected.per_account,
        expected.per_tax_code,
        expected.total,
    )
    assert view.per_account == {"1200": D("126.00"), "4000": D("-100.00"), "4100": D("-5.00")}
    assert sum(view.per_tax_code.values()) == D("-21.00")


@pytest.mark.parametrize("cls", TRANSPORTS, ids=["rest", "soap"])
def test_an_invoice_is_a_sales_order_and_the_invoice_billed_from_it(ns: NetSuiteSandbox, cls: Any) -> None:
    target = _target(ns, cls)
    doc = _invoice(target, 1)
    result = target.post(doc)
    [order] = ns.records("salesOrder")
    [invoice] = ns.records("invoice")
    assert order["externalId"] == invoice["externalId"] == "b2b/invoice/1"
    assert invoice["createdFrom"] == {"id": order["id"]} and order["orderStatus"] == {"id": "G"}
    assert (
        result.remote_id == invoice["id"] and result.remote_number == "INV-1" and invoice["tranId"] == "INV-1"
    )
    assert invoice["taxDetailsOverride"] is True
    assert [r["taxAmount"] for r in invoice["taxDetails"]] == [D("20.00"), D("1.00")]
    assert invoice["dueDate"] == (date.today() + timedelta(days=30)).isoformat()
    assert (
        [r["amount"] for r in invoice["item"]]
        == [r["amount"] for r in order["item"]]
        == [D("100.00"), D("5.00")]
    )
    _same_books(target, doc, result)
    assert target.read_back(doc, result).documents[-1] == f"salesOrder {order['id']}"
    # Posting again (a retry after success) finds the invoice: nothing new.
    assert target.lookup(doc) is not None and target.post(doc).remote_id == invoice["id"]
    assert (len(ns.records("salesOrder")), len(ns.records("invoice"))) == (1, 1)
    assert ns.trial_balance()[("GBP", "1200")] == D("126.00")


@pytest.mark.parametrize("cls", TRANSPORTS, ids=["rest", "soap"])
def test_a_lost_answer_after_the_order_bills_that_order(ns: NetSuiteSandbox, cls: Any) -> None:
    target = _target(ns, cls)
    doc = _invoice(target, 2)
    target.plan(doc)  # customer and items exist; the next write is the order
    if cls is NetSuiteTarget:
        ns.faults.next(Fault("drop_after_commit"), path=r"/record/v1/salesOrder/eid:", method="PUT")
    else:
        ns.drop_soap_answer("upsertList", "salesOrder")
    with pytest.raises(Uncertain):
        target.post(doc)
    assert len(ns.records("salesOrder")) == 1 and ns.records("invoice") == []
    assert target.lookup(doc) is None  # the invoice is not there yet
    result = target.post(doc)
    [order] = ns.records("salesOrder")
    [invoice] = ns.records("invoice")
    assert invoice["createdFrom"] == {"id": order["id"]} and result.remote_id == invoice["id"]
    _same_books(target, doc, result)


@pytest.mark.parametrize("cls", TRANSPORTS, ids=["rest", "soap"])
def test_a_lost_answer_after_the_invoice_is_found_never_billed_again(ns: NetSuiteSandbox, cls: Any) -> None:
    target = _target(ns, cls)
    doc = _invoice(target, 3)
    target.plan(doc)
    if cls is NetSuiteTarget:
        ns.faults.next(Fault("drop_after_commit"), path=r"/!transform/invoice$", method="POST")
    else:
        ns.drop_soap_answer("upsertList", "invoice")
    with pytest.raises(Uncertain):
        target.post(doc)
    found = target.lookup(doc)
    [invoice] = ns.records("invoice")
    assert found is not None and found.remote_id == invoice["id"]
    again = target.post(doc)
    assert again.remote_id == invoice["id"]
    assert (len(ns.records("salesOrder")), len(ns.records("invoice"))) == (1, 1)
    _same_books(target, doc, again)


@pytest.mark.parametrize("cls", TRANSPORTS, ids=["rest", "soap"])
def test_the_sandbox_refuses_billing_an_order_twice(ns: NetSuiteSandbox, cls: Any) -> None:
    target = _target(ns, cls)
    doc = _invoice(target, 4)
    target.post(doc)
    [order] = ns.records("salesOrder")
    _, bill = order_records(target.plan(doc))
    second = NsRecord("invoice", "b2b/invoice/4-again", {**bill.fields, "tranId": "INV-4B"}, bill.sublists)
    with pytest.raises(Permanent, match="already billed") as refused:
        target._bill(order["id"], second)
    assert refused.value.vendor_code == "INVALID_INITIALIZE_REF"
    assert len(ns.records("invoice")) == 1


@pytest.mark.parametrize("cls", TRANSPORTS, ids=["rest", "soap"])
def test_with_the_setting_off_an_invoice_is_a_plain_invoice(ns: NetSuiteSandbox, cls: Any) -> None:
    target = _target(ns, cls, order_to_invoice=False)
    doc = _invoice(target, 5)
    result = target.post(doc)
    assert ns.records("salesOrder") == [] and "createdFrom" not in ns.records("invoice")[0]
    _same_books(target, doc, result)


def test_a_batch_bills_orders_and_sends_the_rest_as_before(ns: NetSuiteSandbox) -> None:
    target = _target(ns, NetSuiteTarget)
    docs = [_invoice(target, 6), _invoice(target, 7)]
    results = target.post_batch(docs)
    assert all(not isinstance(r, Exception) for r in results)
    assert (len(ns.records("salesOrder")), len(ns.records("invoice"))) == (2, 2)
    assert {i["createdFrom"]["id"] for i in ns.records("invoice")} == {
        o["id"] for o in ns.records("salesOrder")
    }


def _body(message: Any) -> Any:
    return message.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]


def _passport() -> Any:
    return soap_type("core", "TokenPassport")(account="1_SB1", consumerKey="ck", token="tk", nonce="n", timestamp=1,
                                              signature={"_value_1": "s", "algorithm": "HMAC-SHA256"})  # fmt: skip


def test_the_order_and_initialize_messages_validate_against_the_xsds(ns: NetSuiteSandbox) -> None:
    target = _target(ns, NetSuiteSoapTarget)
    order, bill = order_records(target.plan(_invoice(target, 8)))
    svc = service("http://127.0.0.1/services/NetSuitePort_2023_2")
    schema = xsd_schema()
    upsert = wsdl_client().create_message(
        svc, "upsertList", record=[to_soap(order.type, order.external_id, order.fields, order.sublists)],
        _soapheaders={"tokenPassport": _passport()},
    )  # fmt: skip
    assert schema.validate(_body(upsert)), schema.error_log.last_error
    assert _body(upsert).xpath("string(//*[local-name()='orderStatus'])") == "_pendingFulfillment"
    reference = soap_type("core", "InitializeRef")(type="salesOrder", internalId="101")
    initialize = wsdl_client().create_message(
        svc, "initialize", initializeRecord=soap_type("core", "InitializeRecord")(type="invoice", reference=reference),
        _soapheaders={"tokenPassport": _passport()},
    )  # fmt: skip
    assert schema.validate(_body(initialize)), schema.error_log.last_error
    # Every REST field of the order is a field of SalesOrder in the WSDL; the bill's of Invoice.
    for record, type_name in ((order, "SalesOrder"), (bill, "Invoice")):
        names = {e[0] for e in soap_type("sales", type_name).elements}
        fields = set(rest_body(record)) - {"externalId", "item", "taxDetails"}
        assert fields <= names, fields - names
