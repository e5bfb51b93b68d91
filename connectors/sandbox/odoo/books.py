"""The Odoo sandbox's books: journal entries, invoices, payments, reconciliation, lock dates.

What it enforces, as Odoo 17/18/19 do (in the terms of Odoo's own messages):

* invoices (``out_invoice``/``out_refund``) compute their lines: ``price_subtotal`` per product
  line, tax per tax rounded per line (Odoo's default ``round_per_line``, price-included taxes
  split out of the price), one tax line per tax, the receivable line for the rest; a tax line's
  amount may be corrected while the move is a draft, and the receivable follows;
* ``action_post`` numbers the move from its journal's sequence (``INV/2026/00001``) and refuses a
  move that is posted already or does not balance; a posted move cannot be changed;
* a date on or before the company's lock dates is refused on create, write and post
  (17: ``period_lock_date``, ``fiscalyear_lock_date``; 18+: ``sale_lock_date``,
  ``fiscalyear_lock_date``, ``hard_lock_date``);
* payments: 17 ``_inherits`` a move (its ``ref`` lives on the move); 18+ has ``memo`` and makes
  its move when posted. ``js_assign_outstanding_line`` reconciles a receivable line with an
  invoice's and updates residuals and ``payment_state``;
* amounts in a foreign currency are converted with the company's ``res.currency.rate`` of the date.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.sandbox.odoo.orm import M2O, X2M, OdooError, Store, dec

__all__ = ["OdooBooks"]

ZERO = Decimal(0)
LOCK_MESSAGE = "You cannot add/modify entries prior to and inclusive of the lock date {lock}."
POSTED_MESSAGE = "You cannot modify a posted entry of this journal."
READ_METHODS = frozenset({"search", "search_read", "search_count", "read", "fields_get"})
FREE_ON_POSTED = frozenset({"ref", "narration", "payment_reference", "to_check"})


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


class OdooBooks:
    """One company's books in one database of the sandbox."""

    def __init__(self, version: int = 17, currency: str = "GBP", company: str = "Kente & Clay Ltd") -> None:
        self.version = version
        self.store = Store()
        self.currency_ids: dict[str, int] = {}
        for code, places in (
            ("GBP", 2),
            ("EUR", 2),
            ("USD", 2),
            ("XOF", 0),
            ("NGN", 2),
            ("KES", 2),
            ("GHS", 2),
        ):
            self.currency_ids[code] = self.store.insert(
                "res.currency",
                {"name": code, "symbol": code, "decimal_places": places, "active": code == currency,
                 "rounding": Decimal(1).scaleb(-places)},
            )  # fmt: skip
        locks: dict[str, Any] = {"fiscalyear_lock_date": False, "tax_lock_date": False}
        if version >= 18:
            locks.update(sale_lock_date=False, purchase_lock_date=False, hard_lock_date=False)
        else:
            locks["period_lock_date"] = False
        self.company_id = self.store.insert(
            "res.company", {"name": company, "currency_id": self.currency_ids[currency], **locks}
        )
        self.sequence: dict[tuple[int, int], int] = {}
        #: Scripted "Posted journal entry must have an unique sequence number" refusals.
        self.sequence_clashes = 0

    # -- helpers -----------------------------------------------------------------------------------

    @property
    def company(self) -> dict[str, Any]:
        """The company record."""
        return self.store.get("res.company", self.company_id)

    def places(self, currency_id: int) -> int:
        """Decimal places of a currency."""
        return int(self.store.get("res.currency", currency_id)["decimal_places"])

    def rate(self, currency_id: int, on: str) -> Decimal:
        """Units of ``currency_id`` per company unit on a date (1 for the company currency)."""
        if currency_id == self.company["currency_id"]:
            return Decimal(1)
        rates = [r for r in self.store.tables["res.currency.rate"].values()
                 if r["currency_id"] == currency_id and str(r["name"]) <= on]  # fmt: skip
        if not rates:
            raise OdooError(f"No rate for {self.store.display_name('res.currency', currency_id)} on {on}")
        return dec(max(rates, key=lambda r: str(r["name"]))["rate"])

    def to_company(self, amount: Decimal, currency_id: int, on: str) -> Decimal:
        """A document-currency amount in the company currency (Odoo's conversion, rounded)."""
        return _round(amount / self.rate(currency_id, on), self.places(self.company["currency_id"]))

    def lock_date(self) -> str | None:
        """The latest lock date that applies to customer entries."""
        fields = ("fiscalyear_lock_date", "period_lock_date", "sale_lock_date", "hard_lock_date")
        dates = [str(self.company[f]) for f in fields if self.company.get(f)]
        return max(dates) if dates else None

    def check_lock(self, on: Any) -> None:
        """Refuse a date on or before the lock date."""
        lock = self.lock_date()
        if lock and str(on) <= lock:
            raise OdooError(LOCK_MESSAGE.format(lock=date.fromisoformat(lock).strftime("%m/%d/%Y")))

    def _check_fields(self, model: str, vals: Mapping[str, Any]) -> None:
        if model == "account.payment":
            wrong = "memo" if self.version < 18 else "ref"
            if wrong in vals:
                raise OdooError(f"Invalid field '{wrong}' on model 'account.payment'", "builtins.ValueError")

    # -- the entry point -----------------------------------------------------------------------------

    def execute(self, model: str, method: str, args: list[Any], kwargs: Mapping[str, Any]) -> Any:
        """Run ``model.method(*args, **kwargs)`` as ``execute_kw`` would: in one transaction, so a
        refused call leaves nothing behind."""
        if method in READ_METHODS:
            return self._execute(model, method, args, kwargs)
        self.store.begin()
        sequence = dict(self.sequence)
        try:
            result = self._execute(model, method, args, kwargs)
        except BaseException:
            self.store.rollback()
            self.sequence = sequence
            raise
        self.store.commit()
        return result

    def _execute(self, model: str, method: str, args: list[Any], kwargs: Mapping[str, Any]) -> Any:
        """The call itself (see :meth:`execute`)."""
        kwargs = {k: v for k, v in kwargs.items() if k != "context"}
        special = getattr(self, f"_{model.replace('.', '_')}__{method}", None)
        if special is not None:
            return special(*args, **kwargs)
        if method == "create":
            if not args:
                raise OdooError(
                    "create() missing 1 required positional argument: 'vals_list'", "builtins.TypeError"
                )
            vals = args[0]
            if isinstance(vals, list):
                return [self.create(model, dict(v)) for v in vals]
            return self.create(model, dict(vals))
        if method in ("search", "search_read", "search_count"):
            domain = args[0] if args else kwargs.get("domain", [])
            ids = self.store.search(model, domain or [], kwargs.get("limit"), str(kwargs.get("order") or ""))
            if method == "search":
                return ids
            if method == "search_count":
                return len(ids)
            fields = args[1] if len(args) > 1 else kwargs.get("fields")
            return self.store.read(model, ids, fields)
        if method == "read":
            fields = args[1] if len(args) > 1 else kwargs.get("fields")
            return self.store.read(model, list(args[0]), fields)
        if method == "write":
            vals = args[1] if len(args) > 1 else kwargs.get("vals", {})
            for rid in args[0]:
                self.write(model, int(rid), dict(vals))
            return True
        if method == "fields_get":
            sample = next(iter(self.store.tables[model].values()), {})
            return {k: {"type": "many2one" if k in M2O.get(model, {}) else "char"} for k in sample}
        raise OdooError(
            f"The method '{method}' does not exist on the model '{model}'", "builtins.AttributeError"
        )

    # -- create / write ---------------------------------------------------------------------------

    def create(self, model: str, vals: dict[str, Any], parent: dict[str, Any] | None = None) -> int:
        """Create one record (x2many commands applied; moves and payments computed)."""
        self._check_fields(model, vals)
        if model == "account.move":
            return self._create_move(vals)
        if model == "account.payment":
            return self._create_payment(vals)
        x2m = {k: vals.pop(k) for k in list(vals) if k in X2M.get(model, {})}
        if parent is not None and model == "account.move.line":
            vals["move_id"] = parent["id"]
        if parent is not None and model == "sale.order.line":
            vals["order_id"] = parent["id"]
        if model == "sale.order":
            self._order_defaults(vals)
        rid = self.store.insert(model, vals)
        record = self.store.get(model, rid)
        for field, commands in x2m.items():
            record[field] = self.store.x2many(
                model, field, [], commands, record, self._create_child, self._update_child
            )
        return rid

    def _create_child(self, model: str, vals: dict[str, Any], parent: dict[str, Any]) -> int:
        if model == "account.move.line":
            vals.setdefault(
                "display_type", "product" if parent.get("move_type", "entry") != "entry" else False
            )
        return self.create(model, vals, parent)

    def _update_child(self, model: str, rid: int, vals: dict[str, Any]) -> None:
        record = self.store.get(model, rid)
        if model == "account.move.line" and record.get("display_type") == "tax" and "amount_currency" in vals:
            record["_manual"] = True
        record.update(vals)

    def write(self, model: str, rid: int, vals: dict[str, Any]) -> None:
        """Write one record (moves: drafts only, lines re-computed, dates checked)."""
        self._check_fields(model, vals)
        record = self.store.get(model, rid)
        if model == "account.move":
            if record["state"] == "posted" and set(vals) - FREE_ON_POSTED:
                raise OdooError(POSTED_MESSAGE)
            self.check_lock(vals.get("date") or record["date"])
        x2m = {k: vals.pop(k) for k in list(vals) if k in X2M.get(model, {})}
        record.update(vals)
        for field, commands in x2m.items():
            target = "line_ids" if field == "invoice_line_ids" else field
            record[target] = self.store.x2many(
                model,
                field,
                record.get(target) or [],
                commands,
                record,
                self._create_child,
                self._update_child,
            )
        if model == "account.move":
            self._compute_move(record)

    # -- moves -------------------------------------------------------------------------------------

    def _journal_of(self, kind: str) -> int:
        ids = self.store.search("account.journal", [("type", "=", kind)], limit=1)
        if not ids:
            raise OdooError(f"No journal of type {kind} could be found. Please create one first.")
        return ids[0]

    def _create_move(self, vals: dict[str, Any]) -> int:
        """A draft move with its lines computed (entries must balance at once)."""
        move_type = vals.get("move_type") or "entry"
        on = str(vals.get("date") or vals.get("invoice_date") or date.today().isoformat())
        self.check_lock(on)
        lines = vals.pop("invoice_line_ids", None) or []
        entry_lines = vals.pop("line_ids", None) or []
        record_vals = {
            "move_type": move_type, "state": "draft", "name": "/", "date": on,
            "invoice_date": vals.get("invoice_date") or (on if move_type != "entry" else False),
            "journal_id": vals.get("journal_id") or self._journal_of("sale" if move_type != "entry" else "general"),
            "currency_id": vals.get("currency_id") or self.company["currency_id"], "company_id": self.company_id,
            "payment_state": "not_paid", "line_ids": [], "invoice_line_ids": [],
        }  # fmt: skip
        record_vals.update({k: v for k, v in vals.items() if k not in record_vals or k in ("partner_id",)})
        record_vals["date"] = on
        rid = self.store.insert("account.move", record_vals)
        move = self.store.get("account.move", rid)
        for command in lines + entry_lines:
            line = dict(command[2])
            line.setdefault("display_type", "product" if move_type != "entry" else False)
            move["line_ids"].append(self.create("account.move.line", line, move))
        self._compute_move(move)
        if move_type == "entry":
            self._check_balanced(move)
        return rid

    def _lines(self, move: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [self.store.get("account.move.line", i) for i in move.get("line_ids") or []]

    def _check_balanced(self, move: Mapping[str, Any]) -> None:
        """Odoo's refusal of a move whose debits and credits differ."""
        lines = self._lines(move)
        debit = sum((dec(ln.get("debit")) for ln in lines), ZERO)
        credit = sum((dec(ln.get("credit")) for ln in lines), ZERO)
        if debit != credit:
            raise OdooError(
                f"The move ({move.get('name') or '/'}) is not balanced.\nThe total of debits equals {debit} "
                f"and the total of credits equals {credit}.\nYou might want to specify a default account on journal "
                '"Miscellaneous Operations" to automatically balance each move.'
            )

    def _line_common(self, move: Mapping[str, Any], line: dict[str, Any]) -> None:
        line.update(move_id=move["id"], partner_id=line.get("partner_id") or move.get("partner_id") or False,
                    journal_id=move["journal_id"], company_id=self.company_id, parent_state=move["state"],
                    date=move["date"], move_name=move.get("name"))  # fmt: skip

    def _set_amount(self, move: Mapping[str, Any], line: dict[str, Any], amount: Decimal) -> None:
        """A line's document-currency amount, its company-currency balance, debit and credit."""
        balance = self.to_company(amount, move["currency_id"], move["date"])
        line.update(amount_currency=amount, currency_id=move["currency_id"], balance=balance,
                    debit=max(balance, ZERO), credit=max(-balance, ZERO), amount_residual=amount,
                    reconciled=False)  # fmt: skip

    def _compute_move(self, move: dict[str, Any]) -> None:
        """Odoo's line computation: subtotals, tax per line and tax lines (a corrected tax line kept), the receivable."""
        if move["move_type"] == "entry":
            for line in self._lines(move):
                self._line_common(move, line)
                if "balance" not in line:
                    balance = dec(line.get("debit")) - dec(line.get("credit"))
                    foreign = line.get("currency_id") and line["currency_id"] != self.company["currency_id"]
                    amount = dec(line.get("amount_currency")) if foreign else balance
                    line.update(balance=balance, amount_currency=amount, amount_residual=amount, reconciled=False,
                                currency_id=line.get("currency_id") or self.company["currency_id"])  # fmt: skip
            move["amount_total"] = sum((dec(ln["debit"]) for ln in self._lines(move)), ZERO)
            return
        if move["state"] == "posted":
            return
        sign = Decimal(-1) if move["move_type"] == "out_invoice" else Decimal(1)
        cur_places = self.places(move["currency_id"])
        product = [ln for ln in self._lines(move) if ln.get("display_type") == "product"]
        tax_of: dict[int, Decimal] = {}
        untaxed = ZERO
        for line in product:
            self._line_common(move, line)
            quantity = dec(line.get("quantity") if line.get("quantity") is not None else 1)
            line["quantity"] = quantity
            gross = _round(
                quantity * dec(line.get("price_unit")) * (1 - dec(line.get("discount")) / 100), cur_places
            )
            base = gross
            for tax_id in line.get("tax_ids") or []:
                tax = self.store.get("account.tax", tax_id)
                rate = dec(tax["amount"]) / 100
                if tax.get("price_include"):
                    base = _round(gross / (1 + rate), cur_places)
                    amount = gross - base
                else:
                    amount = _round(gross * rate, cur_places)
                tax_of[tax_id] = tax_of.get(tax_id, ZERO) + amount
            line["price_subtotal"] = base
            untaxed += base
            self._set_amount(move, line, sign * base)
        kept: list[int] = [ln["id"] for ln in product]
        existing = {ln.get("tax_line_id"): ln for ln in self._lines(move) if ln.get("display_type") == "tax"}
        for tax_id, amount in tax_of.items():
            found = existing.get(tax_id)
            if found is not None:
                line = found
            else:
                tax = self.store.get("account.tax", tax_id)
                reps = [
                    self.store.get("account.tax.repartition.line", r)
                    for r in tax.get("invoice_repartition_line_ids") or []
                ]
                account = next((r["account_id"] for r in reps if r.get("account_id")), False)
                lid = self.store.insert("account.move.line", {"display_type": "tax", "tax_line_id": tax_id,
                                                              "account_id": account, "name": tax["name"]})  # fmt: skip
                line = self.store.get("account.move.line", lid)
            self._line_common(move, line)
            if not line.get("_manual"):
                self._set_amount(move, line, sign * amount)
            else:
                self._set_amount(move, line, dec(line["amount_currency"]))
            kept.append(line["id"])
        term = next((ln for ln in self._lines(move) if ln.get("display_type") == "payment_term"), None)
        if term is None:
            partner = self.store.get("res.partner", move["partner_id"]) if move.get("partner_id") else {}
            receivable = partner.get("property_account_receivable_id") or self._default_receivable()
            lid = self.store.insert("account.move.line", {"display_type": "payment_term", "account_id": receivable,
                                                          "name": move.get("payment_reference") or ""})  # fmt: skip
            term = self.store.get("account.move.line", lid)
        self._line_common(move, term)
        others = [self.store.get("account.move.line", i) for i in kept]
        amount = -sum((dec(ln["amount_currency"]) for ln in others), ZERO)
        self._set_amount(move, term, amount)
        term["balance"] = -sum((dec(ln["balance"]) for ln in others), ZERO)
        term.update(debit=max(term["balance"], ZERO), credit=max(-term["balance"], ZERO))
        kept.append(term["id"])
        move["line_ids"] = kept
        move["invoice_line_ids"] = [ln["id"] for ln in product]
        taxes = sum((abs(dec(self.store.get("account.move.line", i)["amount_currency"]))
                     for i in kept if self.store.get("account.move.line", i).get("display_type") == "tax"), ZERO)  # fmt: skip
        move.update(
            amount_untaxed=abs(untaxed),
            amount_tax=taxes,
            amount_total=abs(amount),
            amount_residual=abs(amount),
        )

    def _default_receivable(self) -> int:
        ids = self.store.search("account.account", [("account_type", "=", "asset_receivable")], limit=1)
        if not ids:
            raise OdooError("There is no receivable account in the chart.")
        return ids[0]

    def _post(self, move: dict[str, Any]) -> None:
        """``action_post`` of one move: lock date, balance, the journal's next number."""
        if move["state"] == "posted":
            raise OdooError(f"The entry {move['name']} (id {move['id']}) is already posted.")
        self.check_lock(move["date"])
        if not move.get("line_ids"):
            raise OdooError("You need to add a line before posting.")
        self._check_balanced(move)
        if self.sequence_clashes > 0:
            self.sequence_clashes -= 1
            raise OdooError("Posted journal entry must have an unique sequence number per company.",
                            "odoo.exceptions.ValidationError")  # fmt: skip
        journal = self.store.get("account.journal", move["journal_id"])
        year = int(str(move["date"])[:4])
        key = (journal["id"], year)
        self.sequence[key] = self.sequence.get(key, 0) + 1
        prefix = journal["code"] if move["move_type"] != "out_refund" else "R" + journal["code"]
        move.update(state="posted", name=f"{prefix}/{year}/{self.sequence[key]:05d}")
        for line in self._lines(move):
            line.update(parent_state="posted", move_name=move["name"])

    def _account_move__action_post(self, ids: list[int]) -> bool:
        for rid in ids:
            self._post(self.store.get("account.move", rid))
        return False  # Odoo 17-19 answer False from account.move.action_post

    # -- sales orders (the sale module) --------------------------------------------------------------------

    def _order_defaults(self, vals: dict[str, Any]) -> None:
        """A quotation's number and state; the order line's tax field named as the version names it."""
        if not vals.get("partner_id"):
            raise OdooError("Customer is required on a quotation.", "odoo.exceptions.ValidationError")
        tax_field = "tax_ids" if self.version >= 19 else "tax_id"
        for command in vals.get("order_line") or []:
            line = command[2] if command[0] == 0 else {}
            wrong = "tax_id" if tax_field == "tax_ids" else "tax_ids"
            if wrong in line:
                raise OdooError(f"Invalid field '{wrong}' on model 'sale.order.line'", "builtins.ValueError")
            if command[0] == 0 and not line.get("product_id"):
                raise OdooError("Product is required on an order line.", "odoo.exceptions.ValidationError")
        count = len(self.store.tables["sale.order"]) + 1
        vals.update(name=f"S{count:05d}", state="draft", invoice_ids=[], currency_id=self.company["currency_id"],
                    company_id=self.company_id)  # fmt: skip

    def _sale_order__action_confirm(self, ids: list[int]) -> bool:
        """Confirm quotations into sales orders."""
        for rid in ids:
            order = self.store.get("sale.order", rid)
            if order["state"] not in ("draft", "sent"):
                raise OdooError("Some orders are not in a state requiring confirmation.")
            order["state"] = "sale"
        return True

    def _sale_advance_payment_inv__create_invoices(self, ids: list[int]) -> dict[str, Any]:
        """The invoicing wizard: one draft invoice per confirmed order, lines on the products' income accounts."""
        wizard = self.store.get("sale.advance.payment.inv", ids[0])
        tax_field = "tax_ids" if self.version >= 19 else "tax_id"
        made = []
        for order_id in wizard.get("sale_order_ids") or []:
            order = self.store.get("sale.order", order_id)
            if order["state"] != "sale":
                raise OdooError("You may only invoice confirmed orders.")
            lines = []
            for lid in order.get("order_line") or []:
                line = self.store.get("sale.order.line", lid)
                product = self.store.get("product.product", line["product_id"])
                lines.append((0, 0, {"name": line.get("name"), "account_id": product["property_account_income_id"],
                                     "quantity": line.get("product_uom_qty"), "price_unit": line.get("price_unit"),
                                     "product_id": product["id"], "tax_ids": [(6, 0, line.get(tax_field) or [])]}))  # fmt: skip
            on = str(order.get("date_order") or date.today().isoformat())[:10]
            move_id = self._create_move({"move_type": "out_invoice", "partner_id": order["partner_id"], "date": on,
                                         "ref": order.get("client_order_ref") or False, "invoice_origin": order["name"],
                                         "invoice_line_ids": lines})  # fmt: skip
            order["invoice_ids"].append(move_id)
            order["invoice_status"] = "invoiced"
            made.append(move_id)
        return {"type": "ir.actions.act_window", "res_model": "account.move", "domain": [["id", "in", made]]}

    # -- payments ----------------------------------------------------------------------------------

    def _create_payment(self, vals: dict[str, Any]) -> int:
        """A draft payment (17: with its move at once; 18+: the move is made when posted)."""
        on = str(vals.get("date") or date.today().isoformat())
        self.check_lock(on)
        journal = self.store.get("account.journal", vals["journal_id"])
        if journal["type"] not in ("bank", "cash"):
            raise OdooError(
                "The journal of a payment must be a bank or cash journal.", "odoo.exceptions.ValidationError"
            )
        record = {"payment_type": vals.get("payment_type", "inbound"), "partner_type": vals.get("partner_type", "customer"),
                  "partner_id": vals.get("partner_id") or False, "amount": dec(vals.get("amount")), "date": on,
                  "currency_id": vals.get("currency_id") or self.company["currency_id"], "journal_id": journal["id"],
                  "state": "draft", "name": "/", "move_id": False, "is_reconciled": False, "reconciled_invoice_ids": [],
                  "company_id": self.company_id}  # fmt: skip
        record["ref" if self.version < 18 else "memo"] = (
            vals.get("ref" if self.version < 18 else "memo") or False
        )
        rid = self.store.insert("account.payment", record)
        if self.version < 18:  # 17: the payment _inherits its move, made at once
            self._payment_move(self.store.get("account.payment", rid))
        return rid

    def _payment_move(self, payment: dict[str, Any]) -> dict[str, Any]:
        """The payment's move: the journal's account against the partner's receivable."""
        journal = self.store.get("account.journal", payment["journal_id"])
        partner = self.store.get("res.partner", payment["partner_id"]) if payment.get("partner_id") else {}
        receivable = partner.get("property_account_receivable_id") or self._default_receivable()
        amount = payment["amount"] if payment["payment_type"] == "inbound" else -payment["amount"]
        mid = self.store.insert("account.move", {
            "move_type": "entry", "state": "draft", "name": "/", "date": payment["date"], "journal_id": journal["id"],
            "currency_id": payment["currency_id"], "partner_id": payment["partner_id"], "payment_id": payment["id"],
            "ref": payment.get("ref") or payment.get("memo") or False, "company_id": self.company_id, "line_ids": [],
            "payment_state": "not_paid",
        })  # fmt: skip
        move = self.store.get("account.move", mid)
        for account, signed in ((journal["default_account_id"], amount), (receivable, -amount)):
            lid = self.store.insert(
                "account.move.line", {"account_id": account, "display_type": False, "name": payment["name"]}
            )
            line = self.store.get("account.move.line", lid)
            self._line_common(move, line)
            self._set_amount(move, line, signed)
            move["line_ids"].append(lid)
        move["amount_total"] = payment["amount"]
        payment["move_id"] = mid
        return move

    def _account_payment__action_post(self, ids: list[int]) -> None:
        """Post payments (answers None, as Odoo's does)."""
        for rid in ids:
            payment = self.store.get("account.payment", rid)
            if payment["state"] != "draft":
                raise OdooError("Only a draft payment can be posted.")
            move = (
                self.store.get("account.move", payment["move_id"])
                if payment.get("move_id")
                else self._payment_move(payment)
            )
            self._post(move)
            payment.update(name=move["name"], state="posted" if self.version < 18 else "in_process")
        return None  # Odoo's account.payment.action_post returns nothing (XML-RPC: "cannot marshal None")

    # -- reconciliation ------------------------------------------------------------------------------

    def _account_move__js_assign_outstanding_line(self, ids: list[int], line_id: int) -> bool:
        """Reconcile an open receivable line with the invoice's, updating residuals and states."""
        move = self.store.get("account.move", ids[0])
        other = self.store.get("account.move.line", line_id)
        term = next((ln for ln in self._lines(move) if ln.get("display_type") == "payment_term"), None)
        if term is None or move["state"] != "posted" or other.get("parent_state") != "posted":
            raise OdooError("You can only reconcile posted entries.")
        if other["account_id"] != term["account_id"]:
            raise OdooError("Entries are not from the same account.")
        if other.get("currency_id") != term.get("currency_id"):
            raise OdooError("Entries in different currencies cannot be matched here.")
        a, b = dec(term["amount_residual"]), dec(other["amount_residual"])
        if not a or not b or (a > 0) == (b > 0):
            raise OdooError("There is nothing left to reconcile for this entry.")
        amount = min(abs(a), abs(b))
        for line, residual in ((term, a), (other, b)):
            line["amount_residual"] = residual - amount if residual > 0 else residual + amount
            line["reconciled"] = line["amount_residual"] == 0
        term.setdefault("matched_line_ids", []).append(other["id"])
        other.setdefault("matched_line_ids", []).append(term["id"])
        for owner in (move, self.store.get("account.move", other["move_id"])):
            self._settle_state(owner, move)
        return True

    def _settle_state(self, owner: dict[str, Any], invoice: dict[str, Any]) -> None:
        """A move's residual and payment state (and its payment's) after a reconciliation."""
        terms = [ln for ln in self._lines(owner) if ln.get("display_type") == "payment_term"] or [
            ln for ln in self._lines(owner) if ln["account_id"] == self._default_receivable()
        ]
        residual = abs(sum((dec(ln["amount_residual"]) for ln in terms), ZERO))
        if owner["move_type"] != "entry":
            owner.update(amount_residual=residual, payment_state="paid" if residual == 0 else "partial")
        if owner.get("payment_id"):
            payment = self.store.get("account.payment", owner["payment_id"])
            if invoice["id"] not in payment["reconciled_invoice_ids"]:
                payment["reconciled_invoice_ids"].append(invoice["id"])
            payment["is_reconciled"] = residual == 0
            if self.version >= 18 and residual == 0:
                payment["state"] = "paid"
