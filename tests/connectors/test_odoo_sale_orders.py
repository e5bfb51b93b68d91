"""Order-to-invoice in Odoo: a sale becomes a confirmed sales order that Odoo invoices.

Given a connection with ``order_to_invoice`` on, when a sale is posted, then Odoo holds one
confirmed ``sale.order`` with our number as the customer reference, one invoice made from it by
Odoo's wizard, dated as the sale, posted, paid and reconciled, read back equal to the journal;
a lost answer at any order step still gives exactly one order and one invoice.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.ledgers.common import compare_views
from connectors.sandbox.base import Fault
from tests.connectors.odoo_support import DAY, odoo_sandbox, sale_doc, target_for
from tests.connectors.test_odoo_exactly_once import _as_the_outbox_would

ORDER_STEPS = [r"sale\.order\.create", r"sale\.order\.action_confirm", r"sale\.advance\.payment\.inv\.create",
               r"sale\.advance\.payment\.inv\.create_invoices", r"account\.move\.write", r"product\.product\.create"]  # fmt: skip


@pytest.mark.parametrize("version", [17, 19])
def test_a_sale_becomes_a_confirmed_order_invoiced_by_odoo(version: int) -> None:
    with odoo_sandbox(version) as odoo:
        target = target_for(odoo, order_to_invoice=True)
        doc = sale_doc("#O1", (("10.00", 3), ("4.50", 2)))
        result = target.post(doc)
        target.post(sale_doc("#O2", (("20.00", 1),)))
        [order, _] = odoo.records("sale.order")
        invoice = odoo.records("account.move", [("ref", "=", "#O1")])[0]
        products = odoo.records("product.product")
        lines = odoo.records("sale.order.line", [("order_id", "=", order["id"])])
        assert order["state"] == "sale" and order["client_order_ref"] == "#O1"
        assert invoice["invoice_origin"] == order["name"] and invoice["invoice_date"] == DAY.isoformat()
        assert invoice["state"] == "posted" and invoice["payment_state"] == "paid"
        assert invoice["amount_total"] == Decimal("46.80") and result.remote_id == str(invoice["id"])
        assert len(products) == 1 and products[0]["default_code"] == "integrator:4000"
        assert lines[0]["tax_ids" if version >= 19 else "tax_id"] == [1]
        assert compare_views(target.expected_view(doc), target.read_back(doc, result)) == []


@pytest.mark.parametrize("step", ORDER_STEPS)
def test_a_lost_answer_at_any_order_step_gives_one_order_and_one_invoice(step: str) -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo, order_to_invoice=True)
        odoo.faults.next(Fault("drop_after_commit"), path=f"#{step}$")
        _, outcomes = _as_the_outbox_would(
            target, sale_doc("#O3", (("0.03", 1), ("0.03", 1)), per_document_tax=True)
        )
        assert outcomes[0] == "Uncertain"
        assert len(odoo.records("sale.order")) == 1 and len(odoo.records("product.product")) == 1
        [invoice] = odoo.records("account.move", [("move_type", "=", "out_invoice")])
        assert invoice["payment_state"] == "paid" and invoice["amount_tax"] == Decimal("0.01")


def test_the_lookup_does_not_find_an_order_that_is_not_invoiced_yet() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo, order_to_invoice=True)
        doc = sale_doc("#O4")
        odoo.faults.next(Fault("status", status=500), path=r"#sale\.advance\.payment\.inv\.create$")
        with pytest.raises(Exception, match="server error"):
            target.post(doc)
        assert odoo.records("sale.order")[0]["state"] == "sale" and target.lookup(doc) is None
        assert target.post(doc).remote_number.startswith("INV/")
        assert len(odoo.records("account.move", [("move_type", "=", "out_invoice")])) == 1


def test_a_foreign_currency_sale_is_invoiced_directly() -> None:
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo, order_to_invoice=True)
        target.post(sale_doc("DKR-2", (("9500", 1),), currency="XOF"))
        assert (
            odoo.records("sale.order") == []
            and len(odoo.records("account.move", [("ref", "=", "DKR-2")])) == 1
        )
