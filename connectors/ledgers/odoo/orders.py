"""Order-to-invoice: a sale becomes a confirmed ``sale.order`` that Odoo invoices.

For a business that works from sales orders (the connection's ``order_to_invoice`` setting), a
sale or invoice in the company currency goes to Odoo as

1. a ``sale.order`` (our number in ``client_order_ref``, which Odoo copies to the invoice's
   ``ref``), one order line per sales line, each on a service product whose income account is
   the line's account (found by its internal reference ``integrator:<code>``, made once);
2. ``action_confirm``;
3. the invoice made through Odoo's own wizard, ``sale.advance.payment.inv`` with
   ``create_invoices`` (``_create_invoices`` on the order is private and cannot be called from
   outside), then given our date.

Each step is looked up first, like every other step (connectors/ledgers/odoo/poster.py); the
invoice is then found by its ``ref`` and corrected, posted, paid and reconciled as any other.
Foreign-currency sales go straight to an invoice (an order's currency comes from its pricelist).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.base import Permanent, Uncertain
from connectors.ledgers.common import SalesDocument
from connectors.ledgers.odoo.documents import OdooPlan

if TYPE_CHECKING:
    from connectors.ledgers.odoo.poster import Poster

__all__ = ["invoice_through_order", "uses_order"]


def uses_order(plan: OdooPlan, currency: str) -> bool:
    """Whether this plan's invoice can be made from a sales order."""
    planned = plan.planned
    return (
        isinstance(planned, SalesDocument)
        and plan.move is not None
        and plan.move.move_type == "out_invoice"
        and planned.currency == currency
    )


def _product(poster: Poster, account_id: int, code: str) -> int:
    """The service product whose income account is ``account_id`` (made once)."""
    key = f"integrator:{code}"
    stored = poster.refs.get("product", key)
    if stored:
        return int(stored)
    found = poster.rpc.call("product.product", "search", [("default_code", "=", key)], limit=1)
    if found:
        remote = int(found[0])
    else:
        poster.write_allowed()
        values = {"name": f"Sales ({code})", "default_code": key, "property_account_income_id": account_id,
                  "type": "service", "invoice_policy": "order", "sale_ok": True, "taxes_id": [(6, 0, [])]}  # fmt: skip
        remote = int(poster.rpc.call("product.product", "create", values))
    poster.refs.put("product", key, str(remote), code)
    return remote


def invoice_through_order(poster: Poster, plan: OdooPlan, partner: int | None) -> None:
    """Make sure the invoice for ``plan`` exists, made from a confirmed sales order."""
    assert plan.move is not None  # uses_order checked it  # nosec B101
    if poster.find_move(plan.move) is not None:
        return
    number = plan.move.ref
    orders = poster.rpc.call("sale.order", "search_read", [("client_order_ref", "=", number), ("state", "!=", "cancel")],
                             fields=["name", "state", "invoice_ids"])  # fmt: skip
    tax_field = "tax_ids" if poster.facts.version[0] >= 19 else "tax_id"
    if orders:
        order = dict(orders[0])
    else:
        poster.write_allowed()
        lines = []
        for command in plan.move.values["invoice_line_ids"]:
            vals = command[2]
            code = poster.facts.account_codes.get(int(vals["account_id"]), str(vals["account_id"]))
            lines.append((0, 0, {"product_id": _product(poster, int(vals["account_id"]), code), "name": vals["name"],
                                 "product_uom_qty": vals["quantity"], "price_unit": vals["price_unit"],
                                 tax_field: vals["tax_ids"]}))  # fmt: skip
        created = poster.rpc.call("sale.order", "create", {"partner_id": partner, "client_order_ref": number,
                                                           "date_order": f"{plan.move.values['date']} 12:00:00",
                                                           "order_line": lines})  # fmt: skip
        if not created:
            raise Uncertain(f"odoo: creating the sales order {number} gave no id; look it up")
        order = {"id": int(created), "state": "draft", "invoice_ids": []}
    order_id = int(order["id"])
    if order.get("state") in ("draft", "sent"):
        poster.write_allowed()
        poster.rpc.call("sale.order", "action_confirm", ids=[order_id])
    drafts = poster.rpc.call("account.move", "search_read", [("invoice_origin", "=", _order_name(poster, order_id)),
                                                             ("move_type", "=", "out_invoice"), ("state", "!=", "cancel")],
                             fields=["ref", "state"])  # fmt: skip
    if not drafts:
        poster.write_allowed()
        wizard = poster.rpc.call("sale.advance.payment.inv", "create",
                                 {"advance_payment_method": "delivered", "sale_order_ids": [(6, 0, [order_id])]})  # fmt: skip
        poster.rpc.call("sale.advance.payment.inv", "create_invoices", ids=[int(wizard)])
        drafts = poster.rpc.call("account.move", "search_read", [("invoice_origin", "=", _order_name(poster, order_id)),
                                                                 ("move_type", "=", "out_invoice")], fields=["ref", "state"])  # fmt: skip
        if not drafts:
            raise Permanent(
                f"odoo: the sales order {number} was confirmed but Odoo made no invoice", vendor_code="order"
            )
    draft = drafts[0]
    if draft.get("state") == "draft":
        poster.write_allowed()
        values: dict[str, Any] = {key: plan.move.values[key] for key in ("invoice_date", "date", "payment_reference",
                                                                          "narration") if key in plan.move.values}  # fmt: skip
        values["ref"] = number
        poster.rpc.call("account.move", "write", ids=[int(draft["id"])], vals=values)


def _order_name(poster: Poster, order_id: int) -> str:
    """The order's number (``S00001``), which Odoo writes on its invoices as ``invoice_origin``."""
    rows = poster.rpc.call("sale.order", "read", ids=[order_id], fields=["name"])
    name = rows[0].get("name") if rows else None
    if not name:
        raise Permanent(f"odoo: sales order {order_id} cannot be read", vendor_code="order")
    return str(name)
