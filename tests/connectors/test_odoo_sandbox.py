"""The Odoo sandbox refuses what Odoo refuses, in Odoo's words, over the connector's own calls."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.base import Permanent
from tests.connectors.odoo_support import odoo_sandbox, sale_doc, target_for


def test_a_posted_move_cannot_be_changed() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        result = target.post(sale_doc("#X1"))
        with pytest.raises(Permanent, match="posted entry"):
            target.rpc.call("account.move", "write", ids=[int(result.remote_id)], vals={"date": "2026-11-21"})
        target.rpc.call("account.move", "write", ids=[int(result.remote_id)], vals={"ref": "#X1"})  # allowed


def test_an_unbalanced_entry_is_refused() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        account = target.facts().account_id("1000")
        lines = [(0, 0, {"account_id": account, "debit": Decimal("1.00"), "credit": Decimal(0)})]
        with pytest.raises(Permanent, match="not balanced"):
            target.rpc.call(
                "account.move", "create", {"move_type": "entry", "date": "2026-11-20", "line_ids": lines}
            )
        assert odoo.records("account.move") == []


@pytest.mark.parametrize(("version", "wrong"), [(17, "memo"), (18, "ref")])
def test_payment_reference_fields_follow_the_version(version: int, wrong: str) -> None:
    with odoo_sandbox(version) as odoo:
        target = target_for(odoo)
        journal = target.facts().money_journal(target.facts().account_id("1100"))
        with pytest.raises(Permanent, match=f"Invalid field '{wrong}'"):
            target.rpc.call("account.payment", "create", {"payment_type": "inbound", "amount": Decimal(1),
                                                          "journal_id": journal, wrong: "x"})  # fmt: skip


def test_posting_twice_is_refused_by_odoo() -> None:
    with odoo_sandbox(19) as odoo:
        target = target_for(odoo)
        result = target.post(sale_doc("#X2"))
        with pytest.raises(Permanent, match="already posted"):
            target.rpc.call("account.move", "action_post", ids=[int(result.remote_id)])
