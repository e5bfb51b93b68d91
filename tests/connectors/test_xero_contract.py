"""Contract: every Xero payload we build, send and read conforms to Xero's OpenAPI (v16.1.0).

Requests are validated against the wrapper schemas the endpoints take (``Invoices``,
``CreditNotes``, ``Payments``, ``ManualJournals``, ``BankTransfers``) with
:func:`tests.contract.validate_openapi`, and, because OpenAPI lets unknown keys through, every key
is also checked against the schema's ``properties`` (:func:`unknown_keys`). Error answers are
validated against ``Error``.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.base import PostingDocument
from connectors.jsonwire import dumps, loads
from connectors.sandbox.base import Fault
from connectors.sandbox.xero import XeroSandbox
from tests.connectors.test_xero import (  # noqa: F401 - process_local_oauth is an autouse fixture
    journal_doc,
    line,
    payout_doc,
    process_local_oauth,
    refund_doc,
    sale_doc,
    summary_doc,
    target_for,
)
from tests.contract import load_spec, validate_openapi

SPEC = "xero/xero_accounting.yaml"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "xero"


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    schemas = load_spec(SPEC)["components"]["schemas"]
    while "$ref" in node:
        node = schemas[node["$ref"].rsplit("/", 1)[1]]
    return node


def unknown_keys(schema_name: str, instance: Any) -> list[str]:
    """Keys of ``instance`` that the named schema (recursively) does not declare."""

    def walk(schema: dict[str, Any], value: Any, path: str) -> list[str]:
        schema = _resolve(schema)
        if isinstance(value, list) and "items" in schema:
            return [p for n, item in enumerate(value) for p in walk(schema["items"], item, f"{path}[{n}]")]
        if isinstance(value, dict) and "properties" in schema:
            found = []
            for key, item in value.items():
                if key not in schema["properties"]:
                    found.append(f"{path}.{key}")
                else:
                    found.extend(walk(schema["properties"][key], item, f"{path}.{key}"))
            return found
        return []

    return walk({"$ref": f"#/components/schemas/{schema_name}"}, instance, schema_name)


def assert_request_conforms(schema_name: str, body: Any) -> None:
    """Valid for the schema and no undeclared key (JSON numbers as Xero reads them)."""
    as_json = json.loads(dumps(body))
    validate_openapi(SPEC, schema_name, as_json)
    assert unknown_keys(schema_name, as_json) == []


def documents() -> list[PostingDocument]:
    """One document of every shape the target builds."""
    from integrator.canonical import Party

    receivable = PostingDocument(reference="INV-1", idempotency_key="k-inv", kind="invoice", date=date(2026, 1, 5),
                                 currency="USD", customer=Party(name="Kente Wholesale", email="ap@kente.example"),
                                 due_date=date(2026, 2, 4), lines=(
                                     line("610", "receivable", debit="115.00"),
                                     line("200", "revenue", credit="100.00", tax_code="OUTPUT", tax_rate=Decimal("0.15"), item_ref="SALES"),
                                     line("820", "tax", credit="15.00", tax_code="OUTPUT")))  # fmt: skip
    return [
        sale_doc("C-SALE", (("10.00", 3), ("4.99", 2))),
        sale_doc("C-ROUND", (("1.05", 1), ("1.05", 1), ("1.05", 1)), per_document_tax=True),
        sale_doc("C-INCL", (("10.00", 1), ("9.99", 2)), inclusive=True),
        refund_doc("C-REFUND"),
        payout_doc("C-TRANSFER"),
        payout_doc("C-PAYOUT", "120.00", "3.78"),
        summary_doc("C-SUMMARY"),
        journal_doc("C-JOURNAL"),
        receivable,
    ]


@pytest.fixture
def sandbox():
    with XeroSandbox(currencies=("EUR",)) as server:
        yield server


def test_every_document_we_build_conforms_to_its_collection_schema(sandbox):
    target = target_for(sandbox)
    kinds = set()
    for doc in [*documents(), sale_doc("C-EUR", currency="EUR", exchange_rate=Decimal("1.0825"))]:
        plan = target.plan(doc)
        for document in (plan.main, *plan.extra):
            kinds.add(document.kind)
            assert_request_conforms(document.collection, {document.collection: [document.payload]})
    assert kinds == {"Invoice", "CreditNote", "BankTransfer", "BankTransaction", "ManualJournal"}


def test_what_goes_over_the_wire_conforms_payments_included(sandbox):
    target = target_for(sandbox)
    for doc in documents()[:5]:
        target.post(doc)
    target.post_batch(documents()[5:])
    puts = [r for r in sandbox.requests if r.method == "PUT"]
    collections = {r.path.rsplit("/", 1)[1] for r in puts}
    assert collections == {"Invoices", "CreditNotes", "Payments", "BankTransfers", "BankTransactions",
                           "ManualJournals", "Contacts"}  # fmt: skip
    for request in puts:
        assert_request_conforms(request.path.rsplit("/", 1)[1], loads(request.body))


def test_the_sandbox_answers_in_xeros_shapes(sandbox):
    target = target_for(sandbox)
    target.post(sale_doc("A-1"))
    headers = {"Authorization": f"Bearer {target.oauth.access_token()}", "xero-tenant-id": sandbox.tenant_id,
               "Accept": "application/json"}  # fmt: skip
    api = f"{sandbox.url}/api.xro/2.0"
    duplicate = {"Invoices": [target.plan(sale_doc("A-1")).main.payload]}
    for name in ("Invoices", "Payments", "Organisation"):
        answer = loads(requests.get(f"{api}/{name}", headers=headers, timeout=5).content)
        schema = "Organisations" if name == "Organisation" else name
        validate_openapi(SPEC, schema, json.loads(dumps(answer)))
    per_item = requests.put(
        f"{api}/Invoices",
        params={"summarizeErrors": "false"},
        data=dumps(duplicate),
        headers=headers,
        timeout=5,
    )
    summarised = requests.put(f"{api}/Invoices", data=dumps(duplicate), headers=headers, timeout=5)
    assert per_item.status_code == 200 and summarised.status_code == 400
    validate_openapi(SPEC, "Invoices", json.loads(per_item.content))
    error = json.loads(summarised.content)
    validate_openapi(SPEC, "Error", error)
    assert error["Elements"][0]["ValidationErrors"] == [{"Message": "Invoice # must be unique."}]
    sandbox.faults.next(Fault("status", status=500))
    server_error = requests.get(f"{api}/Invoices", headers=headers, timeout=5)
    assert server_error.status_code == 500
    validate_openapi(SPEC, "Error", server_error.json())
    connections = requests.get(f"{sandbox.url}/connections", headers=headers, timeout=5).json()
    validate_openapi("xero/xero-identity.yaml", "Connection", connections[0])


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("error_*.json")))
def test_error_fixtures_are_in_xeros_error_shape(fixture):
    validate_openapi(SPEC, "Error", json.loads((FIXTURES / fixture).read_text()))


def test_answer_fixtures_are_in_xeros_shapes():
    validate_openapi(SPEC, "Invoices", json.loads((FIXTURES / "invoices_item_errors.json").read_text()))
    validate_openapi(SPEC, "Organisations", json.loads((FIXTURES / "organisation.json").read_text()))


def test_the_checks_reject_bad_documents():
    with pytest.raises(AssertionError):
        assert_request_conforms("Invoices", {"Invoices": [{"Type": "SALE"}]})  # not in the enum
    with pytest.raises(AssertionError):
        assert_request_conforms("ManualJournals", {"ManualJournals": [{"Date": "2026-01-05"}]})  # Narration
    assert unknown_keys("Invoices", {"Invoices": [{"Type": "ACCREC", "InvoiceNo": "1"}]}) == [
        "Invoices.Invoices[0].InvoiceNo"
    ]
