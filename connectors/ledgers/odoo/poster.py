"""Posting one plan to Odoo in resumable steps, each looked up before it is done.

Odoo has no idempotency key, so exactly-once rests on our reference: the move's ``ref`` and the
payment's ``ref`` (17) or ``memo`` (18+) hold our numbers, and every step searches first:

1. the customer (``res.partner`` by ``ref`` = our identity key), created when missing;
2. the move, by ``ref`` and ``move_type`` (not cancelled), created as a draft when missing;
3. on a draft: our tax written on each tax line where Odoo's differs, then ``action_post`` (Odoo
   numbers it from the journal's sequence);
4. each payment, by its reference, created and posted when missing;
5. each reconciliation, done only while the payment's (or credit note's) receivable line is open.

With ``orders`` (the connection's order-to-invoice setting) the invoice of step 2 is made from a
confirmed sales order (connectors/ledgers/odoo/orders.py).

A step whose answer was lost leaves the posting uncertain; the next attempt walks the same steps
and finds what the lost answer made, so nothing is created twice. :meth:`Poster.run` with
``dry=True`` walks them without writing and answers None at the first missing step: that is the
look-up (:meth:`~connectors.ledgers.odoo.target.OdooTarget.lookup`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.base import Deferred, Permanent, PostResult, RefStore, Uncertain
from connectors.ledgers.common import CustomerIdentity
from connectors.ledgers.odoo.documents import OdooMove, OdooPayment, OdooPlan
from connectors.ledgers.odoo.facts import OdooFacts, many2one_id
from connectors.ledgers.odoo.orders import invoice_through_order, uses_order
from connectors.ledgers.odoo.rpc import OdooRPC

__all__ = ["Poster"]

ZERO = Decimal(0)
MOVE_FIELDS = [
    "name",
    "state",
    "move_type",
    "amount_total",
    "amount_residual",
    "payment_state",
    "currency_id",
]


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


class _Missing(Exception):
    """A dry run reached a step that is not done yet."""


class Poster:
    """Walks the steps of one plan against one database."""

    def __init__(
        self, rpc: OdooRPC, facts: OdooFacts, refs: RefStore, *, dry: bool = False, orders: bool = False
    ) -> None:
        self.orders = orders
        self.rpc = rpc
        self.facts = facts
        self.refs = refs
        self.dry = dry
        self.ref_field = "ref" if facts.version[0] < 18 else "memo"

    def run(self, plan: OdooPlan) -> PostResult | None:
        """Every step of ``plan``; the result (None from a dry run with a step still to do)."""
        try:
            return self._run(plan)
        except _Missing:
            return None

    def _run(self, plan: OdooPlan) -> PostResult:
        """The steps in order: customer, move, payments and their reconciliation, allocation."""
        partner = self.partner(plan.customer) if plan.customer is not None else None
        move_ids: list[int] = []
        main: dict[str, Any] | None = None
        if plan.move is not None:
            if self.orders and uses_order(plan, self.facts.currency):
                invoice_through_order(self, plan, partner)
            main = self.move(plan.move, partner)
            move_ids.append(int(main["id"]))
        invoice_id = (
            int(main["id"]) if main is not None and plan.move and plan.move.move_type != "entry" else None
        )
        if plan.move is None and plan.reconcile_number and self._invoice(plan) is None:
            # Never an unapplied payment for an invoice that is on its way: wait for it.
            raise Deferred(f"odoo: waiting for invoice {plan.reconcile_number} before its payment")
        payment_ids = []
        for payment in plan.payments:
            record = self.payment(payment, partner)
            payment_ids.append(int(record["id"]))
            pmove = many2one_id(record.get("move_id"))
            if pmove:
                move_ids.append(pmove)
            target = invoice_id or self._invoice(plan)
            if target and pmove:
                self.reconcile(target, pmove)
        if (
            plan.move is not None
            and plan.move.move_type == "out_refund"
            and (plan.reconcile_id or plan.reconcile_number)
        ):
            invoice = self._invoice(plan)
            if invoice and main is not None:
                self.reconcile(invoice, int(main["id"]))
        if main is not None:
            kind = plan.move.move_type if plan.move is not None else "entry"
            number = str(main.get("name") or "") or (plan.move.ref if plan.move is not None else "")
            return PostResult(str(main["id"]), number,
                              {"entity": f"account.move:{kind}", "move_ids": move_ids, "payment_ids": payment_ids})  # fmt: skip
        record_id = payment_ids[0]
        return PostResult(str(record_id), plan.payments[0].reference,
                          {"entity": "account.payment", "move_ids": move_ids, "payment_ids": payment_ids})  # fmt: skip

    # -- steps ---------------------------------------------------------------------------------------

    def partner(self, identity: CustomerIdentity) -> int:
        """The customer's ``res.partner``: remembered, found by ``ref``, or created."""
        stored = self.refs.get("customer", identity.key)
        if stored:
            return int(stored)
        found = self.rpc.call("res.partner", "search", [("ref", "=", identity.key)], limit=1)
        if found:
            remote = int(found[0])
        else:
            self.write_allowed()
            values = {"name": identity.name, "ref": identity.key, "customer_rank": 1}
            if identity.email:
                values["email"] = identity.email
            if identity.company:
                values["is_company"] = True
            remote = int(self.rpc.call("res.partner", "create", values))
        self.refs.put("customer", identity.key, str(remote), identity.name)
        return remote

    def find_move(self, move: OdooMove) -> dict[str, Any] | None:
        """The live move with our reference, if any (Permanent when it holds another total)."""
        domain = [("ref", "=", move.ref), ("move_type", "=", move.move_type), ("state", "!=", "cancel")]
        rows = self.rpc.call("account.move", "search_read", domain, fields=MOVE_FIELDS, order="id desc")
        for row in rows:
            if row.get("state") != "posted" or _dec(row.get("amount_total")) == move.total:
                return dict(row)
        if rows:
            raise Permanent(
                f"odoo: {rows[0].get('name')} with reference {move.ref} comes to {rows[0].get('amount_total')}, "
                f"not {move.total}: check it in Odoo before posting again",
                vendor_code="total_mismatch",
            )
        return None

    def move(self, move: OdooMove, partner: int | None) -> dict[str, Any]:
        """Find or create the move, correct its tax and post it."""
        found = self.find_move(move)
        if found is None:
            self.write_allowed()
            values = dict(move.values)
            if partner and move.move_type != "entry":
                values["partner_id"] = partner
            if partner and move.partner_lines:
                values["line_ids"] = [
                    (c[0], c[1], {**c[2], "partner_id": partner}) if n in move.partner_lines else c
                    for n, c in enumerate(values["line_ids"])
                ]
            move_id = self.rpc.call("account.move", "create", values)
            if not move_id:
                raise Uncertain(f"odoo: creating {move.ref} gave no id; look it up")
            found = {"id": int(move_id), "state": "draft"}
        if found.get("state") == "draft":
            self.write_allowed()
            self._correct_tax(int(found["id"]), move)
            self.rpc.call("account.move", "action_post", ids=[int(found["id"])])
            found = self.rpc.call("account.move", "read", ids=[int(found["id"])], fields=MOVE_FIELDS)[0]
            if move.move_type != "entry" and _dec(found.get("amount_total")) != abs(move.total):
                raise Permanent(f"odoo: {found.get('name')} came to {found.get('amount_total')}, not {move.total}",
                                vendor_code="total_mismatch")  # fmt: skip
        return found

    def _correct_tax(self, move_id: int, move: OdooMove) -> None:
        """Write our tax on the draft's tax lines where Odoo computed another amount."""
        if not move.taxes:
            return
        lines = self.rpc.call("account.move.line", "search_read", [("move_id", "=", move_id), ("display_type", "=", "tax")],
                              fields=["tax_line_id", "amount_currency"])  # fmt: skip
        by_tax = {many2one_id(ln.get("tax_line_id")): ln for ln in lines}
        commands = []
        for tax_id, ours in move.taxes.items():
            line = by_tax.get(tax_id)
            if line is None:
                if ours:
                    raise Permanent(f"odoo: {move.ref}: Odoo made no line for tax {tax_id}, ours is {ours}",
                                    vendor_code="tax")  # fmt: skip
                continue
            if _dec(line.get("amount_currency")) != ours:
                commands.append((1, int(line["id"]), {"amount_currency": ours}))
        if commands:
            self.rpc.call("account.move", "write", ids=[move_id], vals={"line_ids": commands})

    def payment(self, payment: OdooPayment, partner: int | None) -> dict[str, Any]:
        """Find or create the payment by its reference, and post it."""
        domain = [(self.ref_field, "=", payment.reference), ("state", "!=", "cancel")]
        rows = self.rpc.call("account.payment", "search_read", domain, fields=["state", "amount", "move_id"])
        if rows:
            record = dict(rows[0])
        else:
            self.write_allowed()
            values: dict[str, Any] = {
                "payment_type": payment.payment_type, "partner_type": "customer", "amount": payment.amount,
                "journal_id": payment.journal_id, "currency_id": payment.currency_id, "date": payment.date,
                self.ref_field: payment.reference,
            }  # fmt: skip
            if partner:
                values["partner_id"] = partner
            created = self.rpc.call("account.payment", "create", values)
            if not created:
                raise Uncertain(f"odoo: creating payment {payment.reference} gave no id; look it up")
            record = {"id": int(created), "state": "draft", "move_id": False}
        if record.get("state") == "draft":
            self.write_allowed()
            self.rpc.call("account.payment", "action_post", ids=[int(record["id"])])
            record = self.rpc.call(
                "account.payment", "read", ids=[int(record["id"])], fields=["state", "amount", "move_id"]
            )[0]
        return record

    def _invoice(self, plan: OdooPlan) -> int | None:
        """Odoo's id of the invoice a payment or credit note settles (by id, else by our number)."""
        if plan.reconcile_id and plan.reconcile_id.isdigit():
            return int(plan.reconcile_id)
        if plan.reconcile_number:
            rows = self.rpc.call("account.move", "search", [("ref", "=", plan.reconcile_number),
                                                            ("move_type", "=", "out_invoice"), ("state", "=", "posted")], limit=1)  # fmt: skip
            return int(rows[0]) if rows else None
        return None

    def reconcile(self, invoice_id: int, other_move: int) -> None:
        """Match the other move's open receivable line with the invoice (once)."""
        terms = self.rpc.call("account.move.line", "search_read",
                              [("move_id", "=", invoice_id), ("display_type", "=", "payment_term")],
                              fields=["account_id", "amount_residual"])  # fmt: skip
        if not terms:
            raise Permanent(
                f"odoo: move {invoice_id} has no receivable line to reconcile", vendor_code="reconcile"
            )
        account = many2one_id(terms[0].get("account_id"))
        if not _dec(terms[0].get("amount_residual")):
            return  # the invoice is settled already
        open_lines = self.rpc.call("account.move.line", "search_read",
                                   [("move_id", "=", other_move), ("account_id", "=", account), ("reconciled", "=", False)],
                                   fields=["amount_residual"])  # fmt: skip
        for line in open_lines:
            if _dec(line.get("amount_residual")):
                self.write_allowed()
                self.rpc.call("account.move", "js_assign_outstanding_line", int(line["id"]), ids=[invoice_id])

    def write_allowed(self) -> None:
        if self.dry:
            raise _Missing
