"""Contract tests against FreshBooks' published example payloads (``../shared/specs/freshbooks/``;
FreshBooks publishes examples, not a schema).

* Every field the target reads exists in the vendors' examples, where they say it is, with the
  same JSON type (the identity in ``users/me``, invoice lines, payments, taxes, journal entries).
* Every answer of the sandbox has FreshBooks' envelope and, field by field, the examples' types.
* What the target sends for a journal entry has the shape of FreshBooks' documented request.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from connectors.jsonwire import loads
from tests.connectors.test_freshbooks import (  # noqa: F401 - process_local_oauth is an autouse fixture
    payout_doc,
    process_local_oauth,
    sale_doc,
    sandbox,
    target_for,
)
from tests.contract import spec_path


def example(name: str) -> Any:
    """One of FreshBooks' example payloads (skips when the specs are not beside the repository)."""
    return json.loads(spec_path(f"freshbooks/{name}").read_text())


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        try:
            Decimal(value)
            return "number"  # FreshBooks writes money and percentages as strings of digits
        except ArithmeticError:
            return "string"
    return type(value).__name__


def mismatches(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Fields both payloads hold whose JSON types differ (null on either side is allowed)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return [
            p for key in set(ours) & set(theirs) for p in mismatches(ours[key], theirs[key], f"{path}/{key}")
        ]
    if isinstance(ours, list) and isinstance(theirs, list):
        return [p for item in ours[:3] for p in mismatches(item, theirs[0], f"{path}[]")] if theirs else []
    kinds = {_kind(ours), _kind(theirs)}
    return (
        []
        if "null" in kinds or len(kinds) == 1
        else [f"{path}: ours {_kind(ours)}, FreshBooks {_kind(theirs)}"]
    )


def test_the_fields_the_target_reads_are_where_freshbooks_puts_them():
    business = example("auth_me_response.json")["response"]["business_memberships"][0]["business"]
    assert {"id", "account_id"} <= set(business)
    invoice = example("get_invoice_response.json")["response"]["result"]["invoice"]
    assert {"id", "invoice_number", "amount", "outstanding", "customerid", "lines"} <= set(invoice)
    assert {"amount", "qty", "unit_cost", "taxName1", "taxAmount1"} <= set(invoice["lines"][0])
    line = invoice["lines"][0]
    # taxAmount1 is a percentage (HST 13), not money: 4 x 5.00 = 20.00 at 13 % is 2.60.
    assert Decimal(line["taxAmount1"]) == 13 and Decimal(line["amount"]["amount"]) == 20
    payments = example("list_payments_response.json")["response"]["result"]
    assert {"payments", "page", "pages"} <= set(payments)
    assert {"id", "invoiceid", "amount", "note", "date", "type"} <= set(payments["payments"][0])
    taxes = example("list_taxes_response.json")["response"]["result"]["taxes"]
    assert {"name", "amount"} <= set(taxes[0])
    entry = example("journal_entry_create_response.legacy.docs-example.json")["response"]["result"][
        "journal_entry"
    ]
    assert {"id", "name", "details"} <= set(entry) and {"sub_accountid", "debit", "credit"} <= set(
        entry["details"][0]
    )


def test_the_sandboxs_answers_have_freshbooks_shapes(sandbox):  # noqa: F811 - the fixture
    target = target_for(sandbox)
    target.post(sale_doc("K-1"))
    target.post(payout_doc("K-2"))
    pairs = [
        (f"invoices/invoices/{sandbox.documents('invoices')[0]['id']}", "get_invoice_response.json"),
        (f"payments/payments/{sandbox.documents('payments')[0]['id']}", "get_payment_response.json"),
        ("payments/payments", "list_payments_response.json"),
        ("invoices/invoices", "list_invoices_response.json"),
        ("taxes/taxes", "list_taxes_response.json"),
        ("users/clients", "list_clients_response.json"),
        (f"journal_entries/journal_entries/{sandbox.documents('journal_entries')[0]['id']}",
         "journal_entry_create_response.legacy.docs-example.json"),
    ]  # fmt: skip
    for path, name in pairs:
        ours = target._api("GET", target._acc(path))
        assert set(ours) == {"response"} and set(ours["response"]) == {"result"}, path
        assert mismatches(ours, example(name)) == [], path
    me = target._api("GET", "/auth/api/v1/users/me")
    assert mismatches(me, example("auth_me_response.json")) == []


def test_a_journal_entry_we_send_has_the_documented_shape(sandbox):  # noqa: F811 - the fixture
    target = target_for(sandbox)
    target.post(payout_doc("K-3"))
    (sent,) = [loads(r.body) for r in sandbox.writes() if r.path.endswith("/journal_entries/journal_entries")]
    documented = example("journal_entry_create_request.legacy.docs-example.json")
    assert set(sent) == set(documented) == {"journal_entry"}
    assert set(documented["journal_entry"]) <= set(sent["journal_entry"])
    assert mismatches(sent, documented) == []
    assert all(set(d) - {"description"} in ({"sub_accountid", "debit"}, {"sub_accountid", "credit"})
               for d in sent["journal_entry"]["details"])  # fmt: skip


@pytest.mark.parametrize(
    "name", ["get_client_response__not_found_new.json", "get_client_response__not_found_old.json"]
)
def test_the_sandbox_refuses_in_freshbooks_error_shapes(sandbox, name):  # noqa: F811 - the fixture
    theirs = example(name)
    target = target_for(sandbox)
    from connectors.ledgers.freshbooks import error_messages

    code, messages = error_messages(theirs)
    assert code == "1012" and messages
    bad_client = {"invoice": {"customerid": 1, "create_date": "2026-03-02", "lines": []}}
    response = target.http.request("POST", target._acc("invoices/invoices"), data=json.dumps(bad_client),
                                   headers={"Authorization": f"Bearer {target.oauth.access_token()}",
                                            "Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 200  # the old shape comes with HTTP 200
    assert error_messages(response.json())[0] == "1012"
