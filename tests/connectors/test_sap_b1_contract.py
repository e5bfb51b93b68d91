"""Every request body the SAP Business One target sends (inside multipart ``$batch`` too) and every
row the sandbox answers conforms to the Service Layer metadata of its version: v1 (OData v3, with
its ``Writable="false"`` read-only marks) and v2 (OData v4)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from connectors.base import PostingDocument
from connectors.jsonwire import loads
from connectors.ledgers.sap_b1.multipart import decode_request
from connectors.sandbox.sap_b1 import SapB1Sandbox
from tests.connectors.test_business_central import DAY, line, sale
from tests.connectors.test_sap_b1 import target_for
from tests.contract_edmx import Edmx, load
from tests.ledgers.demo_week import demo_chart

METADATA = {
    "v1": "sap-b1/service-layer-b1s-v1.odata-v3.metadata.xml",
    "v2": "sap-b1/service-layer-b1s-v2.odata-v4.edmx.xml",
}


def metadata(version: str) -> Edmx:
    return load(METADATA[version])


@pytest.fixture(params=["v1", "v2"])
def posted(request: Any) -> Any:
    """A company after a sale, a refund, a payout, an order-to-invoice and a batch."""
    with SapB1Sandbox() as b1:
        b1.seed_chart(*demo_chart())
        b1.version = request.param  # type: ignore[attr-defined]
        target = target_for(b1, order_to_invoice=True, costing_code="RETAIL", project_code="KENTE")
        target.post(sale("C-1", ("10.00", "25.00")))
        refund = (line("4000", "revenue", debit="10.00", tax_code="UK-VAT20"), line("2100", "tax", debit="2.00", tax_code="UK-VAT20"),
                  line("1100", "clearing", credit="12.00"))  # fmt: skip
        target.post(
            PostingDocument(
                reference="C-R", idempotency_key="k", kind="refund", date=DAY, currency="GBP", lines=refund
            )
        )
        payout = (
            line("1000", "bank", debit="95.00"),
            line("6100", "fee", debit="5.00"),
            line("1100", "clearing", credit="100.00"),
        )
        target.post(
            PostingDocument(
                reference="C-PO", idempotency_key="k2", kind="payout", date=DAY, currency="GBP", lines=payout
            )
        )
        terms = (line("1200", "receivable", debit="12.00"), line("4000", "revenue", credit="10.00", tax_code="UK-VAT20"),
                 line("2100", "tax", credit="2.00", tax_code="UK-VAT20"))  # fmt: skip
        target.post(
            PostingDocument(
                reference="C-T", idempotency_key="k3", kind="invoice", date=DAY, currency="GBP", lines=terms
            )
        )
        target.post_batch([sale(f"C-B{n}") for n in range(3)])
        yield b1


def _writes(b1: SapB1Sandbox) -> list[tuple[str, Any]]:
    out = []
    for request in b1.requests:
        if request.method != "POST" or request.path.endswith(("/Login", "/CompanyService_GetFinancePeriods")):
            continue
        if request.path.endswith("/$batch"):
            for _, parts in decode_request(request.body, request.header("Content-Type")):
                out += [(urlsplit(p.url).path, loads(p.body)) for p in parts if p.method == "POST"]
        else:
            out.append((request.path, loads(request.body)))
    return out


def test_every_request_body_conforms_to_the_metadata(posted: SapB1Sandbox) -> None:
    version = posted.version  # type: ignore[attr-defined]
    model = metadata(version)
    writes = _writes(posted)
    problems = []
    for path, body in writes:
        entity_set = re.sub(r"^/b1s/v\d/", "", path)
        problems += model.validate(model.type_of_set(entity_set), body, writing=True, where=entity_set)
    assert problems == []
    assert {p.rsplit("/", 1)[-1] for p, _ in writes} >= {"Invoices", "CreditNotes", "Orders", "IncomingPayments", "VendorPayments",
                                                         "JournalEntries", "BusinessPartners"}  # fmt: skip


@pytest.mark.parametrize(
    "entity_set",
    ["Invoices", "CreditNotes", "Orders", "IncomingPayments", "VendorPayments", "JournalEntries", "BusinessPartners", "ChartOfAccounts", "VatGroups"],
)  # fmt: skip
def test_every_answer_row_conforms_to_the_metadata(posted: SapB1Sandbox, entity_set: str) -> None:
    version = posted.version  # type: ignore[attr-defined]
    rows = target_for(posted)._get(entity_set)["value"]
    assert rows
    for row in rows:
        assert metadata(version).validate(metadata(version).type_of_set(entity_set), row, writing=False) == []


def test_finance_periods_conform(posted: SapB1Sandbox) -> None:
    version = posted.version  # type: ignore[attr-defined]
    for period in target_for(posted).posting_periods(refresh=True):
        assert metadata(version).validate("FinancePeriod", period, writing=False) == []


def test_a_read_only_property_is_caught_in_v1() -> None:
    assert metadata("v1").validate("Document", {"VatSum": 1, "DocEntry": 3}, writing=True) == [
        "Document.VatSum: read-only in the metadata", "Document.DocEntry: read-only in the metadata"]  # fmt: skip
