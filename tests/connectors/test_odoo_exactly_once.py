"""Exactly once without a key: every step of an Odoo posting survives a lost answer.

Given the Odoo sandbox, when the answer to any one step is lost after Odoo committed it (the
partner, the move, the tax correction, the post, the payment, its post, the reconciliation), then
the posting is uncertain, and the outbox's look-up and re-send finish it with exactly one partner,
one invoice, one payment and one reconciliation; a refusal before commit is retried to the same
end; a sequence clash is retried; a date in a locked period leaves Odoo untouched.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import ClosedPeriod, ConnectorError, PostingDocument, PostResult, Retryable, Uncertain
from connectors.ledgers.odoo import DuplicateSequence, OdooTarget
from connectors.sandbox.base import Fault
from tests.connectors.odoo_support import odoo_sandbox, sale_doc, target_for

STEPS = [
    r"res\.partner\.create",
    r"account\.move\.create",
    r"account\.move\.write",
    r"account\.move\.action_post",
    r"account\.payment\.create",
    r"account\.payment\.action_post",
    r"account\.move\.js_assign_outstanding_line",
]


def _as_the_outbox_would(
    target: OdooTarget, doc: PostingDocument, attempts: int = 5
) -> tuple[PostResult, list[str]]:
    """Post; after an uncertain or transient outcome, look the document up, then post again."""
    outcomes: list[str] = []
    uncertain = False
    for _ in range(attempts):
        try:
            if uncertain:
                found = target.lookup(doc)
                if found is not None:
                    outcomes.append("found")
                    return found, outcomes
            result = target.post(doc)
            outcomes.append("posted")
            return result, outcomes
        except (Uncertain, Retryable) as exc:
            outcomes.append(type(exc).__name__)
            uncertain = uncertain or isinstance(exc, Uncertain)
    raise AssertionError(f"not posted after {attempts} attempts: {outcomes}")


def _exactly_one(odoo: Any, reference: str) -> None:
    invoices = odoo.records("account.move", [("ref", "=", reference), ("move_type", "=", "out_invoice")])
    payments = odoo.records("account.payment")
    partners = odoo.records("res.partner")
    assert len(invoices) == 1 and invoices[0]["state"] == "posted" and invoices[0]["payment_state"] == "paid"
    assert len(payments) == 1 and payments[0]["is_reconciled"]
    assert len(partners) == 1
    lines = odoo.records(
        "account.move.line", [("move_id", "=", invoices[0]["id"]), ("display_type", "=", "payment_term")]
    )
    assert len(lines[0]["matched_line_ids"]) == 1


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("version", [17, 19])
def test_a_lost_answer_at_any_step_gives_exactly_one_of_everything(step: str, version: int) -> None:
    with odoo_sandbox(version) as odoo:
        target = target_for(odoo)
        # per-document tax makes Odoo's per-line tax differ, so the tax correction step happens
        doc = sale_doc("#E1", (("0.03", 1), ("0.03", 1)), per_document_tax=True)
        odoo.faults.next(Fault("drop_after_commit"), path=f"#{step}$")
        result, outcomes = _as_the_outbox_would(target, doc)
        _exactly_one(odoo, "#E1")
        assert outcomes[0] == "Uncertain", outcomes
        assert result.remote_number.startswith("INV/")
        assert odoo.records("account.move", [("ref", "=", "#E1")])[0]["amount_tax"] == Decimal("0.01")


@pytest.mark.parametrize("step", STEPS)
def test_a_server_error_before_commit_at_any_step_is_retried_to_one_of_everything(step: str) -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        odoo.faults.next(Fault("status", status=502), path=f"#{step}$")
        _, outcomes = _as_the_outbox_would(
            target, sale_doc("#E2", (("0.03", 1), ("0.03", 1)), per_document_tax=True)
        )
        assert outcomes == ["Retryable", "posted"]
        _exactly_one(odoo, "#E2")


def test_posting_the_same_document_twice_gives_one_and_the_lookup_finds_it() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        doc = sale_doc("#E3")
        assert target.lookup(doc) is None
        first = target.post(doc)
        second = target.post(doc)
        found = target.lookup(doc)
        assert first.remote_id == second.remote_id == (found.remote_id if found else "")
        _exactly_one(odoo, "#E3")


def test_a_half_done_posting_is_not_found_by_the_lookup_and_is_finished_by_the_next_post() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        doc = sale_doc("#E4")
        odoo.faults.next(Fault("status", status=500), path=r"#account\.payment\.create$")
        with pytest.raises(Retryable):
            target.post(doc)
        assert len(odoo.records("account.move")) == 1 and target.lookup(doc) is None
        target.post(doc)
        _exactly_one(odoo, "#E4")


def test_an_existing_move_with_another_total_is_refused_not_duplicated() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        target.post(sale_doc("#E5", (("10.00", 1),)))
        with pytest.raises(ConnectorError) as caught:
            target.post(sale_doc("#E5", (("11.00", 1),)))
        assert caught.value.vendor_code == "total_mismatch"
        assert len(odoo.records("account.move", [("ref", "=", "#E5")])) == 1


def test_a_sequence_clash_is_retried_and_posts_once() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        odoo.books.sequence_clashes = 1
        with pytest.raises(DuplicateSequence):
            target.post(sale_doc("#E6"))
        target.post(sale_doc("#E6"))
        _exactly_one(odoo, "#E6")


def test_a_locked_date_never_reaches_odoo_however_often_it_is_retried() -> None:
    with odoo_sandbox(17) as odoo:
        odoo.set_lock_dates(fiscalyear_lock_date=date(2026, 12, 31))
        target = target_for(odoo)
        for _ in range(3):
            with pytest.raises(ClosedPeriod):
                target.post(sale_doc("#E7"))
        assert odoo.records("account.move") == [] and odoo.records("res.partner") == []
        assert {method for _, _, method in odoo.calls} <= {"search_read", "search", "read"}
