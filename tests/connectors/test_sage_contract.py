"""Contract tests: what the Sage target sends, and what the Sage sandbox answers, conform to Sage's
published Swagger 2.0 description of API v3.1 (``../shared/specs/sage/swagger-v3.1-accounts.json``).

Requests are checked against the ``post*`` definitions (required fields, types); answers against
the resource definitions (``SalesInvoice``, ``ContactPayment`` ...). Swagger 2.0 cannot say
``null``, and Sage writes ``null`` for an empty field, so answers are checked with their null
fields left out. ``idempotency_id`` is documented by Sage beside the resources rather than in the
Swagger file; the definitions allow extra properties, so it passes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pytest

from connectors.jsonwire import loads
from tests.connectors.test_sage import (  # noqa: F401 - process_local_oauth is an autouse fixture
    journal_doc,
    payout_doc,
    process_local_oauth,
    refund_doc,
    sale_doc,
    sandbox,
    target_for,
)
from tests.contract import spec_path

SPEC = "sage/swagger-v3.1-accounts.json"
REQUESTS = {"sales_invoices": "postSalesInvoices", "sales_credit_notes": "postSalesCreditNotes",
            "contact_payments": "postContactPayments", "contact_allocations": "postContactAllocations",
            "bank_transfers": "postBankTransfers", "other_payments": "postOtherPayments",
            "journals": "postJournals", "contacts": "postContacts"}  # fmt: skip
ANSWERS = {"sales_invoices": "SalesInvoice", "sales_credit_notes": "SalesCreditNote",
           "contact_payments": "ContactPayment", "contact_allocations": "ContactAllocation",
           "bank_transfers": "BankTransfer", "other_payments": "OtherPayment", "journals": "Journal",
           "ledger_accounts": "LedgerAccount", "bank_accounts": "BankAccount", "tax_rates": "TaxRate"}  # fmt: skip


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return json.loads(spec_path(SPEC).read_text())


def violations(definition: str, instance: Any) -> list[str]:
    """Every way ``instance`` breaks ``#/definitions/<definition>`` of the Swagger file."""
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    uri = "urn:spec:sage"
    registry = Registry().with_resource(uri, Resource(contents=_document(), specification=DRAFT4))
    validator = Draft4Validator({"$ref": f"{uri}#/definitions/{definition}"}, registry=registry)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(instance)
    ]


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _as_json(value: Any) -> Any:
    """Decimals as JSON numbers (floats), as a JSON Schema validator sees them."""
    return json.loads(json.dumps(value, default=float))


def test_the_definitions_we_rely_on_are_in_the_spec():
    definitions = _document()["definitions"]
    assert set(REQUESTS.values()) | set(ANSWERS.values()) <= set(definitions)
    required = definitions["postSalesInvoices"]["properties"]["sales_invoice"]["required"]
    assert required == ["contact_id", "date", "invoice_lines"]


def test_every_request_the_target_sends_conforms(sandbox):  # noqa: F811 - the fixture
    target = target_for(sandbox)
    invoice = target.post(sale_doc("C-1", receivable=True))
    for doc in (sale_doc("C-2"), refund_doc("C-3"), refund_doc("C-4", money=False, invoice_id=invoice.remote_id),
                payout_doc("C-5"), journal_doc("C-6")):  # fmt: skip
        target.post(doc)
    seen = set()
    for request in sandbox.writes():
        collection = request.path.rsplit("/", 1)[-1]
        seen.add(collection)
        assert violations(REQUESTS[collection], _as_json(loads(request.body))) == [], collection
    assert seen == set(REQUESTS)


def test_every_answer_of_the_sandbox_conforms(sandbox):  # noqa: F811 - the fixture
    target = target_for(sandbox)
    invoice = target.post(sale_doc("C-7", receivable=True))
    for doc in (sale_doc("C-8"), refund_doc("C-9"), refund_doc("C-10", money=False, invoice_id=invoice.remote_id),
                payout_doc("C-11"), journal_doc("C-12")):  # fmt: skip
        target.post(doc)
    checked = 0
    for collection, definition in ANSWERS.items():
        rows = sandbox.business.lists(collection)
        assert rows, collection
        for row in rows:
            assert violations(definition, _as_json(_without_nulls(row))) == [], collection
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("collection", ["sales_invoices", "contact_payments", "ledger_accounts"])
def test_lists_are_sages_paged_envelope(sandbox, collection):  # noqa: F811 - the fixture
    target = target_for(sandbox)
    target.post(sale_doc("C-13"))
    answer = target._api("GET", collection)
    assert set(answer) >= {"$total", "$page", "$next", "$items"}
    assert all(set(item) == {"id", "displayed_as", "$path"} for item in answer["$items"])


def test_the_check_catches_a_request_sage_would_refuse():
    broken = {
        "sales_invoice": {"date": 20260302, "invoice_lines": [{"description": "x", "unit_price": "ten"}]}
    }
    problems = violations("postSalesInvoices", broken)
    assert any("contact_id" in p for p in problems) and any("unit_price" in p for p in problems)
