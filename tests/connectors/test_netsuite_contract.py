"""NetSuite contract: every SOAP request the target builds validates against the NetSuite XSDs
(``shared/specs/netsuite``), the recorded SOAP answers do too and classify as they should, and
every field of every REST body is a field of the same record type in the WSDL (REST and SOAP
share NetSuite's record model: ``itemList/item`` in SOAP is the ``item`` sublist in REST)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from connectors.base import ClosedPeriod, PostingDocument, PostingLine, RateLimited
from connectors.ledgers.common import PlanOptions, plan_document
from connectors.ledgers.netsuite.documents import (
    NsRecord,
    NsRefs,
    NsSettings,
    Ref,
    order_records,
    render,
    rest_body,
)
from connectors.ledgers.netsuite.errors import classify_codes, classify_rest
from connectors.ledgers.netsuite.soap_records import (
    RECORD_TYPES,
    service,
    soap_type,
    to_soap,
    wsdl_client,
    xsd_schema,
)
from integrator.canonical import Party

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "netsuite"
D = Decimal
ITEMS = {"r-4000": "i1", "r-4100": "i2", "r-4300": "i3"}
REFS = NsRefs(customer_id="c1", items=ITEMS, currencies={"GBP": "1", "XOF": "2"}, receivable_id="a-1200")
SETTINGS = NsSettings(subsidiary_id="1", department_id="3", class_id="4", location_id="5")


def _line(code: str, role: str, debit: str = "0", credit: str = "0", **kw: Any) -> PostingLine:
    return PostingLine(account_code=code, debit=D(debit), credit=D(credit), role=role, account_ref=f"a-{code}"
                       if role not in ("revenue", "shipping", "returns") else f"r-{code}", **kw)  # fmt: skip


def _doc(kind: str, lines: list[PostingLine], **kw: Any) -> PostingDocument:
    return PostingDocument(reference=f"ref/{kind}", idempotency_key=f"k-{kind}", kind=kind, date=date(2026, 11, 26),
                           currency="GBP", lines=tuple(lines), number=f"N-{kind}", **kw)  # fmt: skip


def _records() -> list[NsRecord]:
    vat: dict[str, Any] = {"tax_code": "UK-VAT20", "tax_code_ref": "t1", "tax_rate": D("0.20")}
    party = Party(name="Ama Mensah", email="ama@example.com", external_id="cust-1")
    docs = [
        _doc("sale", [_line("1100", "clearing", debit="126"), _line("4000", "revenue", credit="100", **vat),
                      _line("4100", "shipping", credit="5", **vat), _line("2100", "tax", credit="21", **vat)]),
        _doc("invoice", [_line("1200", "receivable", debit="120"), _line("4000", "revenue", credit="100", **vat),
                         _line("2100", "tax", credit="20", **vat)], customer=party, due_date=date(2026, 12, 26)),
        _doc("sale", [_line("1100", "clearing", debit="60"), _line("1110", "clearing", debit="60"),
                      _line("4000", "revenue", credit="100", **vat), _line("2100", "tax", credit="20", **vat)]),
        _doc("refund", [_line("4300", "returns", debit="50", **vat), _line("2100", "tax", debit="10", **vat),
                        _line("1100", "clearing", credit="60")], customer=party),
        _doc("payment", [_line("1000", "bank", debit="120"), _line("1200", "receivable", credit="120")],
             customer=party, related_remote_id="77"),
        _doc("payout", [_line("1000", "bank", debit="95"), _line("6100", "fee", debit="5"),
                        _line("1100", "clearing", credit="100")]),
        _doc("dispute", [_line("6200", "adjustment", debit="30"), _line("1200", "receivable", credit="30")], customer=party),
    ]  # fmt: skip
    options = PlanOptions(functional_currency="GBP", currencies=frozenset({"GBP", "XOF"}))
    records: list[NsRecord] = []
    for doc in docs:
        plan = render(plan_document(doc, options), REFS, SETTINGS)
        records += [plan.main, *(f.with_main("9") for f in plan.followers)]
        if plan.main.type == "invoice":  # order-to-invoice: the sales order of the invoice
            records.append(order_records(plan)[0])
    records.append(
        NsRecord(
            "customer",
            "customer:1:GBP:id:cust-1",
            {"companyName": "Ama Mensah", "subsidiary": Ref("1"), "currency": Ref("1"), "isPerson": False},
        )
    )
    records.append(NsRecord("nonInventorySaleItem", "income-item:1:r-4000",
                            {"itemId": "Sales - 4000", "incomeAccount": Ref("r-4000"), "subsidiary": Ref("1"),
                             "includeChildren": True}))  # fmt: skip
    return records


def _body(message: Any) -> Any:
    return message.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]


def _passport() -> Any:
    return soap_type("core", "TokenPassport")(account="1_SB1", consumerKey="ck", token="tk", nonce="n", timestamp=1,
                                              signature={"_value_1": "s", "algorithm": "HMAC-SHA256"})  # fmt: skip


def test_the_documents_cover_every_record_type() -> None:
    assert {r.type for r in _records()} == set(RECORD_TYPES)


@pytest.mark.parametrize("record", _records(), ids=lambda r: f"{r.type}:{r.external_id}")
def test_every_soap_upsert_validates_against_the_xsds(record: NsRecord) -> None:
    fields = dict(record.fields)
    if record.type == "deposit":
        fields.pop("currency")  # as the SOAP target sends it: a deposit has no currency field
    typed = to_soap(record.type, record.external_id, fields, record.sublists)
    svc = service("http://127.0.0.1/services/NetSuitePort_2023_2")
    message = wsdl_client().create_message(
        svc, "upsertList", record=[typed], _soapheaders={"tokenPassport": _passport()}
    )
    schema = xsd_schema()
    body = _body(message)
    assert schema.validate(body), schema.error_log.last_error
    # SuiteTax details travel with the override on every taxed sales record
    if record.type in ("cashSale", "invoice", "creditMemo"):
        assert body.xpath("//*[local-name()='taxDetailsOverride']/text()") == ["true"]
        assert len(body.xpath("//*[local-name()='taxDetails']")) >= 1


@pytest.mark.parametrize(("operation", "kwargs"), [
    ("get", {"baseRef": {"type": "cashSale", "externalId": "web-shop/sale/1"}}),
    ("getAll", {"record": {"recordType": "currency"}}),
    ("search", {"searchRecord": "TransactionSearchBasic"}),
    ("search", {"searchRecord": "AccountingPeriodSearchBasic"}),
])  # fmt: skip
def test_every_soap_read_validates_against_the_xsds(operation: str, kwargs: dict[str, Any]) -> None:
    if operation == "get":
        kwargs = {"baseRef": soap_type("core", "RecordRef")(**kwargs["baseRef"])}
    if operation == "search":
        name = kwargs["searchRecord"]
        criteria = (
            {"tranId": {"operator": "is", "searchValue": "INV-1"}} if name.startswith("Transaction") else {}
        )
        kwargs = {"searchRecord": soap_type("common", name)(**criteria)}
    svc = service("http://127.0.0.1/services/NetSuitePort_2023_2")
    message = wsdl_client().create_message(
        svc, operation, **kwargs, _soapheaders={"tokenPassport": _passport()}
    )
    assert xsd_schema().validate(_body(message)), xsd_schema().error_log.last_error


def test_recorded_soap_answers_validate_and_classify() -> None:
    schema = xsd_schema()
    for name in ("soap_fault_concurrency.xml", "soap_upsertlist_response.xml"):
        envelope = etree.parse(str(FIXTURES / name)).getroot()
        body = _body(envelope)
        if name.startswith("soap_fault"):
            detail = body.xpath("//detail/*")[0]
            assert schema.validate(detail), schema.error_log.last_error
            code = detail.xpath("*[local-name()='code']/text()")[0]
            assert isinstance(classify_codes([(code, "")]), RateLimited)
        else:
            assert schema.validate(body), schema.error_log.last_error
            codes = body.xpath("//*[local-name()='statusDetail']/*[local-name()='code']/text()")
            assert isinstance(classify_codes([(codes[0], "closed")]), ClosedPeriod)


def test_recorded_rest_errors_classify() -> None:
    period = json.loads((FIXTURES / "rest_error_period_closed.json").read_text())
    busy = json.loads((FIXTURES / "rest_error_concurrency.json").read_text())
    assert isinstance(classify_rest(400, period), ClosedPeriod)
    error = classify_rest(429, busy, retry_after=2.0)
    assert (
        isinstance(error, RateLimited)
        and error.retry_after == 2.0
        and error.vendor_code == "CONCURRENCY_LIMIT_EXCEEDED"
    )


def _elements(namespace: str, name: str) -> set[str]:
    return {e[0] for e in soap_type(namespace, name).elements} | {
        a[0] for a in soap_type(namespace, name).attributes
    }


@pytest.mark.parametrize("record", _records(), ids=lambda r: f"{r.type}:{r.external_id}")
def test_every_rest_body_field_is_a_field_of_the_record_type(record: NsRecord) -> None:
    namespace, name, lists = RECORD_TYPES[record.type]
    fields = _elements(namespace, name)
    body = rest_body(record)
    for key, value in body.items():
        if key in lists:
            list_name, row_name = lists[key]
            assert list_name in fields, f"{record.type}.{key}"
            list_type = next(e[1].type for e in soap_type(namespace, name).elements if e[0] == list_name)
            row_type = next(e[1].type for e in list_type.elements if e[0] == row_name)
            row_fields = {e[0] for e in row_type.elements}
            for row in value["items"]:
                assert set(row) <= row_fields, f"{record.type}.{key}: {set(row) - row_fields}"
        elif key == "subsidiary" and record.type == "nonInventorySaleItem":
            assert "subsidiaryList" in fields  # REST's multi-select is SOAP's list
        elif key == "currency" and record.type == "deposit":
            continue  # REST takes the deposit's currency; SOAP derives it from the bank account
        else:
            assert key in fields, f"{record.type}.{key} is not a field of {name}"
