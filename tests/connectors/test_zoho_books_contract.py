"""Contract: every request the Zoho Books target sends and every answer it reads conforms to
Zoho's own OpenAPI documents (``../shared/specs/zoho-books/<module>.yml``).

The target posts one document of every shape to the sandbox while a response hook on its HTTP
session records each exchange. Each exchange is matched to its operation (method and path
template over all module files); the JSON body is validated against the operation's request
schema and the answer against its 200/201 schema. Upstream quirks set aside, each by its exact
place: the payment and credit-application request schemas list ``invoice_id`` and
``amount_applied`` as top-level required properties although they belong inside ``invoices[]``
(specs README); ``page_context`` is typed as an array and the credit-note list as an object
(both are the other way round in the same files' examples); a bank transaction's ``total`` is
typed integer (from an integer example) although it is money.

Transaction locking (``GET /transactionlocks``) is checked against ``transaction-locking.yml``
when that Zoho file is beside the others; until then its exchanges are set aside here and its
answer's shape is checked against Zoho's documented example in ``test_zoho_books_locks.py``.
"""

from __future__ import annotations

import functools
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from connectors.sandbox.zoho_books import ZohoBooksSandbox
from tests.connectors.test_zoho_books import (  # noqa: F401 - process_local_oauth is an autouse fixture
    invoice_doc,
    journal_doc,
    payment_doc,
    payout_doc,
    process_local_oauth,
    refund_doc,
    sale_doc,
    target_for,
)
from tests.contract import SPECS_DIR, load_spec, openapi_validator

MODULES = ("invoices", "credit-notes", "customer-payments", "journals", "bank-transactions", "expenses",
           "contacts", "items", "taxes", "chart-of-accounts", "organizations", "currency")  # fmt: skip
OPTIONAL_MODULES = ("transaction-locking",)  # Zoho's own file, not yet in shared/specs (see the docstring)
NOT_YET_SPECIFIED = re.compile(r"^/transactionlocks$")
API_PREFIX = "/books/v3"
UPSTREAM_MISPLACED = {"'invoice_id' is a required property", "'amount_applied' is a required property"}
UPSTREAM_TYPES = (
    re.compile(r"/page_context: .* is not of type 'array'"),
    re.compile(r"^list-all-credit-notes-response/creditnotes: \["),
    re.compile(
        r"^(create-a-transaction-for-an-account|get-transaction)-response/banktransaction/total: [0-9.]+ is not of type 'integer'"
    ),
)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zoho_books"


@functools.cache
def _operations() -> list[tuple[str, re.Pattern[str], int, str, dict[str, Any]]]:
    """(method, path regex, literal length, spec file, operation) of every operation."""
    found = []
    optional = tuple(m for m in OPTIONAL_MODULES if (SPECS_DIR / "zoho-books" / f"{m}.yml").exists())
    for module in (*MODULES, *optional):
        relative = f"zoho-books/{module}.yml"
        for template, item in load_spec(relative)["paths"].items():
            regex = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            for method, operation in item.items():
                if method in ("get", "post", "put", "delete"):
                    found.append((method.upper(), regex, literal, relative, operation))
    return found


def _schema_name(node: dict[str, Any]) -> str:
    return str(node["content"]["application/json"]["schema"]["$ref"]).rsplit("/", 1)[1]


@functools.cache
def _validator(relative: str, schema: str) -> Any:
    return openapi_validator(relative, schema)


def _violations(relative: str, schema: str, instance: Any) -> list[str]:
    errors = _validator(relative, schema).iter_errors(instance)
    found = [f"{schema}/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors
             if e.message not in UPSTREAM_MISPLACED]  # fmt: skip
    return [p for p in found if not any(q.search(p) for q in UPSTREAM_TYPES)]


def check_exchange(method: str, url: str, body: Any, status: int, answer: Any) -> tuple[str, list[str]]:
    """The operationId an exchange matches and its contract violations."""
    path = urlsplit(url).path.removeprefix(API_PREFIX)
    candidates = [op for op in _operations() if op[0] == method and op[1].match(path)]
    if not candidates and NOT_YET_SPECIFIED.match(path):
        return "not_yet_specified", []
    assert candidates, f"no Zoho operation for {method} {path}"
    _, _, _, relative, operation = max(candidates, key=lambda op: op[2])
    problems: list[str] = []
    if body is not None and "requestBody" in operation:
        problems += _violations(relative, _schema_name(operation["requestBody"]), body)
    response = operation["responses"].get(str(status)) or operation["responses"].get("200")
    if status < 300 and response is not None and "content" in response:
        problems += _violations(relative, _schema_name(response), answer)
    return str(operation["operationId"]), problems


@pytest.fixture
def sandbox():
    if not (SPECS_DIR / "zoho-books").exists():
        pytest.skip("the Zoho Books specs are not beside the repository")
    with ZohoBooksSandbox(pause=1.0, currencies=("EUR",)) as server:
        yield server


def test_every_request_and_answer_matches_its_operation_in_zohos_specs(sandbox):
    target = target_for(sandbox)
    exchanges: list[tuple[str, str, Any, int, Any]] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent = response.request.body
        body = (
            json.loads(sent)
            if sent and response.request.headers.get("Content-Type") == "application/json"
            else None
        )
        exchanges.append(
            (str(response.request.method), str(response.url), body, response.status_code, response.json())
        )

    target.http.session.hooks["response"].append(record)
    invoice = target.post(invoice_doc("C-INV"))
    for doc in (
        sale_doc("C-SALE", (("10.00", 3), ("4.99", 2))),
        sale_doc("C-ROUND", (("1.03", 1), ("1.03", 1), ("1.03", 1)), per_document_tax=True),
        sale_doc("C-EUR", currency="EUR", exchange_rate=Decimal("0.85")),
        refund_doc("C-REFUND"),
        refund_doc("C-CREDIT", related=invoice.remote_id, money=False),
        payment_doc("C-PAY", invoice, "50.00"),
        payout_doc("C-PAYOUT", "120.00", "3.78"),
        journal_doc("C-JOURNAL"),
        journal_doc("C-JEUR", "EUR", Decimal("1.0825")),
    ):
        result = target.post(doc)
        target.read_back(doc, result)
        assert target.lookup(doc) is not None
    target.list_tenants()
    target.fetch_items()
    target.fetch_contacts()
    operations: set[str] = set()
    problems: list[str] = []
    for exchange in exchanges:
        operation, found = check_exchange(*exchange)
        operations.add(operation)
        problems += [f"{operation}: {p}" for p in found]
    problems = sorted(set(problems))
    assert problems == [], "\n".join(problems[:60])
    assert {"create_invoice", "mark_invoice_sent", "create_customer_payment", "list_invoice_payments",
            "create_credit_note", "create_credit_note_refund", "apply_credit_note_to_invoice", "create_journal",
            "create_bank_transaction", "create_expense", "list_invoices", "list_journals", "get_invoice",
            "list_chart_of_accounts", "list_taxes", "list_currencies", "create_contact", "create_item",
            "list_organizations"} <= operations  # fmt: skip
    locking = (SPECS_DIR / "zoho-books" / "transaction-locking.yml").exists()
    assert ("list_transaction_locks" if locking else "not_yet_specified") in operations


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("error_*.json")))
def test_recorded_error_answers_have_zohos_envelope(fixture):
    body = json.loads((FIXTURES / fixture).read_text())
    assert set(body) == {"code", "message"} and isinstance(body["code"], int) and body["code"] != 0
