"""The shared look-up-first flows and the VAT fit (connectors/ledgers/common/flows.py, taxfit.py).

The flows run against a tiny vendor kept in a dict (a stand-in for a vendor's API, not for our
code): given documents to make once each, when their steps run alone or gathered into batches,
then each document is made once and a refusal reaches the flow as the classified error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.base import ConnectorError, Permanent, Retryable
from connectors.ledgers.common.flows import Answer, Call, Flow, run_flow, run_flows
from connectors.ledgers.common.taxfit import differences, shift_for


class Vendor:
    """Documents by reference; ``refuse`` makes a create answer 400, ``down`` fails a batch."""

    def __init__(self) -> None:
        self.docs: dict[str, int] = {}
        self.requests: list[int] = []
        self.refuse: set[str] = set()
        self.down = False

    def answer(self, call: Call) -> Answer:
        ref = call.path.rsplit("/", 1)[-1]
        if call.method == "GET":
            return Answer(200, {"value": [{"id": self.docs[ref]}] if ref in self.docs else []})
        if ref in self.refuse:
            return Answer(400, {"error": f"{ref} refused"})
        self.docs[ref] = len(self.docs) + 1
        return Answer(201, {"id": self.docs[ref]})

    def one(self, call: Call) -> Answer:
        self.requests.append(1)
        return self.answer(call)

    def many(self, calls: list[Call]) -> list[Answer]:
        self.requests.append(len(calls))
        if self.down:
            raise Retryable("batch refused")
        return [self.answer(c) for c in calls]


def classify(answer: Answer) -> ConnectorError:
    return Permanent(str((answer.body or {}).get("error")))


def make_once(ref: str) -> Flow[int]:
    found = yield Call("GET", f"docs/{ref}")
    rows = found.body["value"]
    if rows:
        return int(rows[0]["id"])
    made = yield Call("POST", f"docs/{ref}", {"ref": ref})
    return int(made.body["id"])


def test_a_flow_run_alone_makes_its_document_once() -> None:
    vendor = Vendor()
    assert run_flow(make_once("A"), vendor.one, classify) == 1
    assert run_flow(make_once("A"), vendor.one, classify) == 1
    assert vendor.docs == {"A": 1} and len(vendor.requests) == 3


def test_flows_run_together_share_one_batch_per_round() -> None:
    vendor = Vendor()
    results = run_flows([make_once(f"D{n}") for n in range(5)], vendor.many, classify, batch_size=2)
    assert sorted(results) == [1, 2, 3, 4, 5]  # type: ignore[type-var]
    assert vendor.requests == [2, 2, 1, 2, 2, 1]  # two rounds of three batches


def test_a_refusal_reaches_its_flow_only() -> None:
    vendor = Vendor()
    vendor.refuse = {"BAD"}
    results = run_flows([make_once("OK"), make_once("BAD")], vendor.many, classify)
    assert results[0] == 1 and isinstance(results[1], Permanent) and "BAD refused" in str(results[1])


def test_a_batch_that_fails_as_a_whole_ends_every_flow_in_it() -> None:
    vendor = Vendor()
    vendor.down = True
    results: list[Any] = run_flows([make_once("A"), make_once("B")], vendor.many, classify)
    assert all(isinstance(r, Retryable) for r in results) and vendor.docs == {}


def test_the_base_shift_moves_the_tax_by_the_difference() -> None:
    assert differences({"V20": Decimal("2.03")}, {"V20": Decimal("2.02"), "Z": Decimal(0)}) == {
        "V20": Decimal("0.01")
    }
    shift = shift_for("V20", Decimal("0.01"), Decimal("0.20"), "GBP")
    assert shift.base == Decimal("0.05")
    assert shift_for("V20", Decimal("-0.01"), Decimal("0.20"), "GBP", attempt=1).base == Decimal("-0.06")
    with pytest.raises(Permanent):
        shift_for("Z", Decimal("0.01"), Decimal(0), "GBP")
