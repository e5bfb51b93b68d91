"""Every request the Business Central target sends (inside ``$batch`` too) and every row the
sandbox answers conforms to the Business Central API v2.0 metadata (``shared/specs``)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import PostingDocument
from connectors.jsonwire import loads
from connectors.sandbox.business_central import BusinessCentralSandbox
from tests.connectors.test_business_central import DAY, line, sale, target_for
from tests.contract_edmx import Edmx, load
from tests.ledgers.demo_week import demo_chart

SEGMENT = re.compile(r"^([\w.]+)(?:\(([^)]*)\))?$")


def metadata() -> Edmx:
    return load("business-central/api-v2.0-metadata.edmx.xml")


def type_of(path: str) -> str | None:
    """The entity type a request path writes (None: an action, which has no body)."""
    model = metadata()
    segments = [SEGMENT.match(s) for s in path.split("?")[0].strip("/").split("/")]
    current = ""
    for m in segments:
        assert m is not None, path
        name = m[1]
        if name.startswith("Microsoft.NAV."):
            return None
        current = model.type_of_set(name) if not current else model.nav_type(current, name)
    return current


def relative(path: str, root: str) -> str:
    return path[len(root) :].lstrip("/")


@pytest.fixture
def posted() -> Any:
    """A sandbox after a sale, a VAT fit, a refund, a payout, a payment and a batch."""
    with BusinessCentralSandbox() as bc:
        bc.seed_chart(*demo_chart())
        target = target_for(bc, shortcut_dimension_1="RETAIL")
        target.post(sale("C-1", ("10.00", "25.00")))
        target.post(sale("C-FIT", ("0.04", "0.04", "0.04", "10.00"), tax="2.03"))
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
        target.post_batch([sale(f"C-B{n}") for n in range(3)])
        yield bc


def test_every_request_body_conforms_to_the_metadata(posted: BusinessCentralSandbox) -> None:
    checked = 0
    problems: list[str] = []
    for request in posted.requests:
        if not request.path.startswith(posted.api_root) or request.method not in ("POST", "PATCH"):
            continue
        path = relative(request.path, posted.api_root)
        body = loads(request.body) if request.body else None
        inner = (
            body["requests"] if path == "$batch" else [{"method": request.method, "url": path, "body": body}]
        )
        for item in inner:
            if item["method"] in ("POST", "PATCH") and item.get("body") is not None:
                kind = type_of(item["url"])
                assert kind is not None, item["url"]
                problems += metadata().validate(kind, item["body"], writing=True, where=item["url"])
                checked += 1
    assert problems == []
    assert checked >= 20


@pytest.mark.parametrize(
    "collection",
    ["salesInvoices", "salesCreditMemos", "customerPayments", "customerPaymentJournals", "journals",
     "generalLedgerEntries", "generalLedgerSetup", "accounts", "taxGroups", "customers"],
)  # fmt: skip
def test_every_answer_row_conforms_to_the_metadata(posted: BusinessCentralSandbox, collection: str) -> None:
    target = target_for(posted)
    expand = {"salesInvoices": "salesInvoiceLines", "salesCreditMemos": "salesCreditMemoLines"}.get(
        collection
    )
    rows = target._get(collection + (f"?$expand={expand}" if expand else ""))["value"]
    assert rows
    kind = metadata().type_of_set(collection) if collection != "generalLedgerSetup" else "generalLedgerSetup"
    for row in rows:
        assert (
            metadata().validate(kind, json.loads(json.dumps(row, default=str)) | _numbers(row), writing=False)
            == []
        )


def _numbers(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if isinstance(v, Decimal | int | list)}


def test_a_wrong_body_is_caught() -> None:
    problems = metadata().validate("salesInvoice", {"externalDocumentNumber": "x" * 36, "salesInvoiceLines": [{"lineType": "Thing"}]},
                                   writing=True)  # fmt: skip
    assert len(problems) == 2
