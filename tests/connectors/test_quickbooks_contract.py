"""Contract: every QuickBooks payload we build, send and read conforms to Intuit's v3 XSD.

QuickBooks publishes no JSON schema; the XSDs are the contract, and JSON uses the XSD's element
names as keys (attributes such as ``code`` or ``bId`` become plain keys, a simple-content type
such as ``ReferenceType`` becomes ``{"value": ..., "name": ...}``). :func:`xsd_violations` walks
a JSON object key by key against an XSD type: every key must be a declared element (or
attribute, or a member of the substitution group of an abstract element such as
``IntuitObject``), lists only where the element repeats, and every simple value must be valid
for its XSD type. The schema is loaded once per process (about a second).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.base import PostingDocument
from connectors.jsonwire import dumps, loads
from connectors.sandbox.base import Fault
from connectors.sandbox.quickbooks import QboLimits, QuickBooksSandbox
from tests.connectors.test_quickbooks import (  # noqa: F401 - process_local_oauth is an autouse fixture
    line,
    payout_doc,
    process_local_oauth,
    refund_doc,
    sale_doc,
    summary_doc,
    target_for,
)
from tests.contract import spec_path

NS = "{http://schema.intuit.com/finance/v3}"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "quickbooks"


@lru_cache(maxsize=1)
def intuit_schema() -> Any:
    """IntuitRestServiceDef.xsd (includes Finance.xsd), loaded once."""
    import xmlschema

    return xmlschema.XMLSchema(str(spec_path("quickbooks/xsd/IntuitRestServiceDef.xsd")))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _children(xsd_type: Any) -> dict[str, tuple[Any, int | None]]:
    """Child element name -> (its type, how often it may occur); a member of an abstract
    element's substitution group occurs as often as the abstract element."""
    schema = intuit_schema()
    elements: dict[str, tuple[Any, int | None]] = {}
    for element in xsd_type.content.iter_elements():
        elements[element.local_name] = (element.type, element.max_occurs)
        if getattr(element, "abstract", False):
            for member in schema.maps.substitution_groups.get(element.name, ()):
                elements[member.local_name] = (member.type, element.max_occurs)
    return elements


def xsd_violations(xsd_type: Any, value: Any, path: str = "") -> list[str]:
    """Everything in ``value`` that the XSD type does not allow (empty when it conforms)."""
    if xsd_type.is_simple():
        return (
            []
            if xsd_type.is_valid(_text(value))
            else [f"{path}: {value!r} is not a valid {xsd_type.local_name}"]
        )
    attributes = {name.split("}")[-1]: attr for name, attr in xsd_type.attributes.items() if name}
    if xsd_type.has_simple_content():
        if not isinstance(value, dict):
            value = {"value": value}
        problems = [f"{path}.{k}: not allowed" for k in value if k != "value" and k not in attributes]
        if "value" in value and not xsd_type.content.is_valid(_text(value["value"])):
            problems.append(f"{path}.value: {value['value']!r} is not valid")
        return problems
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {value!r}"]
    children = _children(xsd_type)
    problems: list[str] = []
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key in attributes:
            attr_type = attributes[key].type
            if not attr_type.is_valid(_text(item)):
                problems.append(f"{where}: {item!r} is not a valid {attr_type.local_name}")
            continue
        if key not in children:
            problems.append(f"{where}: not an element of {xsd_type.local_name}")
            continue
        child_type, max_occurs = children[key]
        if isinstance(item, list):
            if max_occurs == 1:
                problems.append(f"{where}: a list where the XSD allows one")
            for n, entry in enumerate(item):
                problems.extend(xsd_violations(child_type, entry, f"{where}[{n}]"))
        else:
            problems.extend(xsd_violations(child_type, item, where))
    return problems


def assert_conforms(type_name: str, value: Any) -> None:
    """Fail with every violation of ``value`` against the named XSD type."""
    problems = xsd_violations(intuit_schema().maps.types[NS + type_name], value)
    assert not problems, f"{type_name} violates the QuickBooks XSD:\n" + "\n".join(problems[:20])


def assert_response_conforms(body: Any) -> None:
    """A whole JSON answer against ``IntuitResponse`` (entity, QueryResponse, batch, Fault)."""
    response_type = intuit_schema().maps.elements[NS + "IntuitResponse"].type
    problems = xsd_violations(response_type, body)
    assert not problems, "IntuitResponse violates the QuickBooks XSD:\n" + "\n".join(problems[:20])


def documents() -> list[PostingDocument]:
    """One document of every shape the target builds."""
    from tests.connectors.test_quickbooks import invoice_doc

    invoice = invoice_doc("INV-1")
    payment = PostingDocument(reference="PAY-1", idempotency_key="k-pay", kind="payment", date=date(2026, 1, 6),
                              currency="USD", customer=invoice.customer, lines=(
                                  line("1000", "2", "bank", debit="115.00"),
                                  line("1100", "7", "receivable", credit="115.00")))  # fmt: skip
    dispute = PostingDocument(reference="C-DISPUTE", idempotency_key="k-dp", kind="dispute", date=date(2026, 1, 6),
                              currency="USD", lines=(line("6100", "5", "adjustment", debit="100.00"),
                                                     line("1210", "1", "clearing", credit="100.00")))  # fmt: skip
    split = sale_doc("C-SPLIT")
    half = (split.lines[0].debit / 2).quantize(Decimal("0.01"))
    split = PostingDocument(**{**split.__dict__, "lines": (
        line("1210", "1", "clearing", debit=str(half)), line("1000", "2", "bank", debit=str(split.lines[0].debit - half)),
        *split.lines[1:])})  # fmt: skip
    return [
        sale_doc("C-SALE", (("10.00", 3), ("4.99", 2))),
        sale_doc("C-ROUND", (("1.05", 1), ("1.05", 1), ("1.05", 1))),
        sale_doc("C-INCL", (("10.00", 1), ("9.99", 2)), inclusive=True),
        sale_doc("a-reference-longer-than-21-characters"),
        refund_doc("C-REFUND"),
        payout_doc("C-PAYOUT"),
        summary_doc("C-SUMMARY"),
        dispute,
        invoice,
        payment,
        split,
    ]


@pytest.fixture
def sandbox():
    with QuickBooksSandbox() as server:
        yield server


def test_every_entity_we_build_conforms_to_its_xsd_type(sandbox):
    target = target_for(sandbox)
    entities = set()
    for doc in documents():
        plan = target.plan(doc)
        for entity in (plan.main, *plan.payments):
            entities.add(entity.entity)
            assert_conforms(entity.entity, entity.payload)
    assert entities == {"SalesReceipt", "RefundReceipt", "Deposit", "JournalEntry", "Invoice", "Payment"}
    # What the target creates in the company on the way: customers and items.
    for entity in ("Customer", "Item"):
        for request in sandbox.requests_to("POST", f"/{entity.lower()}$"):
            assert_conforms(entity, loads(request.body))


def test_what_goes_over_the_wire_conforms_single_and_batch(sandbox):
    target = target_for(sandbox)
    for doc in documents()[:3]:
        target.post(doc)
    target.post_batch(documents()[3:])
    singles = [
        r
        for r in sandbox.requests
        if r.method == "POST" and r.path.startswith("/v3/") and not r.path.endswith("/batch")
    ]
    names = {"salesreceipt": "SalesReceipt", "payment": "Payment", "customer": "Customer", "item": "Item"}
    assert len([r for r in singles if r.path.endswith("/salesreceipt")]) == 3
    for request in singles:
        assert_conforms(names[request.path.rsplit("/", 1)[1]], loads(request.body))
    (batch,) = sandbox.requests_to("POST", r"/batch$")
    batch_type = intuit_schema().maps.elements[NS + "IntuitBatchRequest"].type
    assert xsd_violations(batch_type, loads(batch.body)) == []


def test_every_kind_of_answer_the_sandbox_gives_conforms():
    """The answers the target reads (created entity, query, preferences, batch, faults of every
    kind), fetched with plain requests so the test sees the raw JSON."""
    with QuickBooksSandbox(limits=QboLimits(per_second=None)) as sandbox:
        answers_conform(sandbox)


def answers_conform(sandbox: QuickBooksSandbox) -> None:
    """Fetch one answer of each kind and check each against IntuitResponse."""
    target = target_for(sandbox)
    target.post(sale_doc("R-1"))
    token = target.oauth.access_token()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    base = f"{sandbox.url}/v3/company/{sandbox.realm_id}"
    answers = [
        requests.get(f"{base}/query", params={"query": "select * from SalesReceipt where DocNumber = 'R-1'"},
                     headers=headers, timeout=5),
        requests.get(f"{base}/query", params={"query": "select * from TaxCode"}, headers=headers, timeout=5),
        requests.get(f"{base}/preferences", headers=headers, timeout=5),
        requests.get(f"{base}/account/1", headers=headers, timeout=5),
        requests.get(f"{base}/item/999", headers=headers, timeout=5),
        requests.post(f"{base}/salesreceipt", params={"requestid": "x"}, data=b'{"Line": []}', headers=headers, timeout=5),
        requests.post(f"{base}/batch", data=json.dumps({"BatchItemRequest": [
            {"bId": "1", "Query": "select * from Item"},
            {"bId": "2", "operation": "create", "JournalEntry": {"Line": []}}]}), headers=headers, timeout=5),
        requests.get(f"{base}/query", params={"query": "select * from"}, headers=headers, timeout=5),
        requests.post(f"{base}/salesreceipt", data=dumps(target.plan(sale_doc("R-2")).main.payload), headers=headers, timeout=5),
        requests.post(f"{base}/salesreceipt", data=dumps(target.plan(sale_doc("R-2")).main.payload), headers=headers, timeout=5),
        requests.get(f"{base}/preferences", timeout=5),
        requests.get(f"{sandbox.url}/v3/company/other-realm/preferences", headers=headers, timeout=5),
    ]  # fmt: skip
    sandbox.faults.next(Fault("rate_limit"), Fault("status", status=500))
    answers += [requests.get(f"{base}/preferences", headers=headers, timeout=5) for _ in range(2)]
    statuses = [a.status_code for a in answers]
    assert statuses == [200, 200, 200, 200, 400, 400, 200, 400, 200, 400, 401, 403, 429, 500]
    for answer in answers:
        assert_response_conforms(loads(answer.content))


@pytest.mark.parametrize(
    "fixture", sorted(p.name for p in FIXTURES.glob("*.json") if p.name != "fault_3200_auth.json")
)
def test_fixtures_are_in_intuits_shapes(fixture):
    assert_response_conforms(loads((FIXTURES / fixture).read_bytes()))


def test_the_checker_rejects_unknown_keys_bad_values_and_misplaced_lists():
    receipt_type = intuit_schema().maps.types[NS + "SalesReceipt"]
    assert (
        xsd_violations(receipt_type, {"DocNumber": "1", "TxnDate": "2026-01-05", "TotalAmt": Decimal("1.00")})
        == []
    )
    assert xsd_violations(receipt_type, {"Total": 1})  # not an element
    assert xsd_violations(receipt_type, {"TxnDate": "05/01/2026"})  # not an xs:date
    assert xsd_violations(
        receipt_type, {"DepositToAccountRef": {"value": "1", "nam": "x"}}
    )  # unknown attribute
    assert xsd_violations(receipt_type, {"DocNumber": ["1", "2"]})  # one allowed
    assert xsd_violations(receipt_type, {"GlobalTaxCalculation": "TaxIncluded"})  # not in the enum
