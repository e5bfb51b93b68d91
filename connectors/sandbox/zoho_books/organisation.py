"""A Zoho Books organisation's books, as the sandbox keeps them: validation, numbers, tax, locks.

Like Zoho Books it

* refuses a second invoice or credit note with the same number ("... already exists");
* computes the tax of every line from its ``tax_id`` (a line carries no tax amount), rounded per
  line or on the document total as the organisation is set (``tax_rounding``);
* refuses a document dated on or before the lock date of its module (transaction locking: sales,
  purchases, banking, accountant);
* checks customers, items, accounts, taxes, currencies, balances and that journals balance.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from integrator import money

__all__ = ["MODULE_OF", "Organisation", "ZohoInvalid"]

ZERO = Decimal(0)
CENT = Decimal("0.01")
MODULE_OF = {"invoices": "sales", "salesorders": "sales", "creditnotes": "sales", "customerpayments": "sales", "salesreceipts": "sales",
             "banktransactions": "banking", "expenses": "purchases", "journals": "accountant"}  # fmt: skip
LOCK_SCOPES = ("all", "sales", "purchases", "banking", "accountant")
MONEY_TYPES = frozenset({"bank", "cash", "other_current_asset"})


class ZohoInvalid(Exception):
    """A refusal with Zoho's ``code`` and ``message``."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _dec(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except Exception as exc:
        raise ZohoInvalid(4, f"Invalid value passed for {field}") from exc


def _money(value: Decimal, currency: str = "") -> Decimal:
    """Rounded half up to the currency's precision (cents when none is given; XOF has none)."""
    if currency:
        return money.quantize(value, currency, ROUND_HALF_UP)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ZohoInvalid(4, f"Invalid value passed for {field}") from exc


class Organisation:
    """The organisation's lists and documents (callers hold the server's lock)."""

    def __init__(self, *, organization_id: str, base_currency: str, tax_rounding: str = "line") -> None:
        self._ids = itertools.count(460000000010001)
        self.organization_id = organization_id
        self.name = "Sandbox Imports Ltd"
        self.base_currency = base_currency
        self.tax_rounding = tax_rounding
        self.locks: dict[str, date] = {}
        self.currencies: dict[str, dict[str, Any]] = {}
        self.add_currency(base_currency)
        self.accounts: dict[str, dict[str, Any]] = {}
        self.taxes: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, dict[str, dict[str, Any]]] = {
            k: {}
            for k in (
                "invoices",
                "salesorders",
                "creditnotes",
                "customerpayments",
                "journals",
                "banktransactions",
                "expenses",
            )
        }
        self.refunds: dict[str, dict[str, Any]] = {}
        self.applied: list[dict[str, Any]] = []

    def new_id(self) -> str:
        """A Zoho-style numeric id."""
        return str(next(self._ids))

    # -- lists -----------------------------------------------------------------------------------

    def add_currency(self, code: str) -> str:
        """Enable a currency; returns its id."""
        for cid, row in self.currencies.items():
            if row["currency_code"] == code:
                return cid
        cid = self.new_id()
        self.currencies[cid] = {"currency_id": cid, "currency_code": code, "currency_name": code,
                                "currency_symbol": code, "price_precision": 2, "currency_format": "1,234,567.89",
                                "is_base_currency": code == self.base_currency, "exchange_rate": 1.0,
                                "effective_date": "2026-01-01"}  # fmt: skip
        return cid

    def add_account(self, code: str, name: str, account_type: str) -> str:
        """Add an account of Zoho's ``account_type`` (``bank``, ``income``, ...); returns its id."""
        aid = self.new_id()
        self.accounts[aid] = {"account_id": aid, "account_code": code, "account_name": name,
                              "account_type": account_type, "is_active": True, "is_user_created": True,
                              "is_system_account": account_type == "accounts_receivable", "current_balance": 0}  # fmt: skip
        return aid

    def add_tax(self, name: str, percentage: Decimal) -> str:
        """Add a tax; returns its id."""
        tid = self.new_id()
        self.taxes[tid] = {"tax_id": tid, "tax_name": name, "tax_percentage": percentage, "tax_type": "tax",
                           "is_value_added": True, "is_default_tax": False, "is_editable": True}  # fmt: skip
        return tid

    def organisation(self) -> dict[str, Any]:
        """The organisation as ``GET /organizations/{id}`` shows it."""
        cid = next(c for c, r in self.currencies.items() if r["currency_code"] == self.base_currency)
        return {"organization_id": self.organization_id, "name": self.name, "is_default_org": True,
                "currency_id": cid, "currency_code": self.base_currency, "currency_symbol": self.base_currency,
                "price_precision": 2, "time_zone": "Europe/London", "fiscal_year_start_month": 0,
                "is_org_active": True, "plan_type": 0, "plan_name": "Sandbox"}  # fmt: skip

    def _account(self, account_id: Any, field: str, *, money: bool = False) -> dict[str, Any]:
        row = self.accounts.get(str(account_id or ""))
        if row is None:
            raise ZohoInvalid(4, f"Invalid value passed for {field}")
        if money and row["account_type"] not in MONEY_TYPES:
            raise ZohoInvalid(
                4, f"Invalid value passed for {field}: {row['account_name']} cannot take payments"
            )
        return row

    def _check_lock(self, resource: str, when: date) -> None:
        module = MODULE_OF[resource]
        held = [(d, m) for m, d in self.locks.items() if m in (module, "all")]
        lock, module = max(held) if held else (None, module)
        if lock is not None and when <= lock:
            raise ZohoInvalid(
                120001,
                f"You cannot create or change transactions dated on or before {lock.isoformat()}: the "
                f"{module} module is locked (transaction locking).",
            )

    def transaction_locks(self) -> list[dict[str, Any]]:
        """The locks as ``GET /transactionlocks`` lists them (one entry per locked module). Zoho
        does not publish its ``lock_scope`` numbers; the sandbox numbers them in the order of
        :data:`LOCK_SCOPES`, and the display text names the module."""
        rows = []
        for module, until in sorted(self.locks.items()):
            scope = LOCK_SCOPES.index(module) if module in LOCK_SCOPES else 0
            rows.append({"transaction_lock_id": f"9820000{scope:08d}", "accounting_period_id": "",
                         "transaction_lock_status": "enabled", "transaction_lock_date": until.isoformat(),
                         "lock_status": "locked", "lock_scope": scope,
                         "lock_scope_formatted": module.capitalize(), "lock_status_formatted": "Locked",
                         "partial_lock_number": 0, "locked_by": "Sandbox", "user_exceptions": [],
                         "user_exceptions_count": 0, "account_exceptions": [], "account_exceptions_count": 0,
                         "reason": "Period closed", "active_lock_summary": {}})  # fmt: skip
        return rows

    def _currency(self, body: Mapping[str, Any]) -> tuple[str, Decimal]:
        cid = str(body.get("currency_id") or "")
        if not cid:
            return self.base_currency, Decimal(1)
        row = self.currencies.get(cid)
        if row is None:
            raise ZohoInvalid(4, "Invalid value passed for currency_id")
        rate = _dec(body.get("exchange_rate") or 1, "exchange_rate")
        if row["currency_code"] != self.base_currency and "exchange_rate" not in body:
            raise ZohoInvalid(4, "Exchange rate is required for a foreign currency transaction")
        return str(row["currency_code"]), rate

    # -- contacts and items ----------------------------------------------------------------------

    def create_contact(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A customer (or vendor); names are unique."""
        name = str(body.get("contact_name") or "").strip()
        if not name:
            raise ZohoInvalid(4, "Invalid value passed for contact_name")
        if any(c["contact_name"] == name for c in self.contacts.values()):
            raise ZohoInvalid(3062, f'The customer "{name}" already exists.')
        cid = self.new_id()
        self.contacts[cid] = {"contact_id": cid, "contact_name": name, "company_name": body.get("company_name", ""),
                              "contact_type": body.get("contact_type", "customer"), "status": "active",
                              "currency_code": self.base_currency}  # fmt: skip
        return dict(self.contacts[cid])

    def create_item(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """An item; ``name`` and ``rate`` are required, names are unique."""
        name = str(body.get("name") or "").strip()
        if not name or "rate" not in body:
            raise ZohoInvalid(4, "Invalid value passed for name or rate")
        if any(i["name"] == name for i in self.items.values()):
            raise ZohoInvalid(1001, f'The item "{name}" already exists.')
        account = self._account(body.get("account_id"), "account_id") if body.get("account_id") else None
        iid = self.new_id()
        self.items[iid] = {"item_id": iid, "name": name, "rate": _dec(body["rate"], "rate"), "status": "active",
                           "description": body.get("description", ""), "tax_id": body.get("tax_id", ""),
                           "account_id": account["account_id"] if account else "",
                           "account_name": account["account_name"] if account else ""}  # fmt: skip
        return dict(self.items[iid])

    # -- sales documents -------------------------------------------------------------------------

    def _lines(
        self, body: Mapping[str, Any], currency: str
    ) -> tuple[list[dict[str, Any]], dict[str, Decimal]]:
        """Stored line items and Zoho's tax per tax id."""
        raw = body.get("line_items")
        if not isinstance(raw, list) or not raw:
            raise ZohoInvalid(4, "Invalid value passed for line_items")
        lines = []
        for n, line in enumerate(raw, start=1):
            item = self.items.get(str(line.get("item_id") or ""))
            if item is None and not line.get("name") and not line.get("account_id"):
                raise ZohoInvalid(4, f"Invalid value passed for item_id (line {n})")
            account_id = str(line.get("account_id") or (item or {}).get("account_id") or "")
            if account_id:
                self._account(account_id, "account_id")
            qty = _dec(line.get("quantity", 1), "quantity")
            rate = _dec(line.get("rate", (item or {}).get("rate", 0)), "rate")
            tax_id = str(line.get("tax_id") or "")
            if tax_id and tax_id not in self.taxes:
                raise ZohoInvalid(4, "Invalid value passed for tax_id")
            tax = self.taxes.get(tax_id, {})
            lines.append({"line_item_id": self.new_id(), "item_id": (item or {}).get("item_id", ""),
                          "name": (item or {}).get("name", line.get("name", "")), "description": line.get("description", ""),
                          "item_order": n, "rate": rate, "quantity": qty, "account_id": account_id,
                          "account_name": self.accounts.get(account_id, {}).get("account_name", ""),
                          "tax_id": tax_id, "tax_name": tax.get("tax_name", ""),
                          "tax_percentage": tax.get("tax_percentage", 0), "item_total": _money(rate * qty, currency)})  # fmt: skip
        taxes: dict[str, Decimal] = {}
        if self.tax_rounding == "document":
            bases: dict[str, Decimal] = {}
            for ln in lines:
                if ln["tax_id"]:
                    bases[ln["tax_id"]] = bases.get(ln["tax_id"], ZERO) + ln["item_total"]
            taxes = {
                t: _money(b * Decimal(str(self.taxes[t]["tax_percentage"])) / 100, currency)
                for t, b in bases.items()
            }
        else:
            for ln in lines:
                if ln["tax_id"]:
                    pct = Decimal(str(self.taxes[ln["tax_id"]]["tax_percentage"]))
                    taxes[ln["tax_id"]] = taxes.get(ln["tax_id"], ZERO) + _money(
                        ln["item_total"] * pct / 100, currency
                    )
        return lines, taxes

    def _sales_doc(
        self, resource: str, body: Mapping[str, Any], number_key: str, auto: bool
    ) -> dict[str, Any]:
        customer = self.contacts.get(str(body.get("customer_id") or ""))
        if customer is None:
            raise ZohoInvalid(4, "Invalid value passed for customer_id")
        when = _date(body.get("date") or date.today().isoformat(), "date")
        self._check_lock(resource, when)
        currency, rate = self._currency(body)
        if body.get("is_inclusive_tax"):
            raise ZohoInvalid(4, "The sandbox takes tax-exclusive documents only")
        lines, taxes = self._lines(body, currency)
        label, prefix, id_key = {"invoices": ("Invoice", "INV", "invoice_id"),
                                 "creditnotes": ("Credit note", "CN", "creditnote_id"),
                                 "salesorders": ("Sales order", "SO", "salesorder_id")}[resource]  # fmt: skip
        number = str(body.get(number_key) or "")
        if auto or not number:
            number = f"{prefix}-{len(self.docs[resource]) + 1:06d}"
        if any(d[number_key] == number for d in self.docs[resource].values()):
            raise ZohoInvalid(
                1001, f'{label} number "{number}" already exists. Please use a different number.'
            )
        sub_total = sum((ln["item_total"] for ln in lines), ZERO)
        tax_total = sum(taxes.values(), ZERO)
        did = self.new_id()
        if resource == "invoices":
            self._bill_order_lines(customer["contact_id"], body, lines)
        row = {id_key: did, number_key: number, "date": when.isoformat(), "customer_id": customer["contact_id"],
               "customer_name": customer["contact_name"], "reference_number": body.get("reference_number", ""),
               "currency_id": body.get("currency_id") or next(iter(self.currencies)), "currency_code": currency,
               "exchange_rate": rate, "is_inclusive_tax": False, "line_items": lines, "sub_total": sub_total,
               "tax_total": tax_total, "total": sub_total + tax_total, "balance": sub_total + tax_total,
               "taxes": [{"tax_id": t, "tax_name": self.taxes[t]["tax_name"], "tax_amount": v} for t, v in taxes.items() if v],
               "notes": body.get("notes", ""), "status": "open" if resource == "creditnotes" else "draft",
               "created_time": when.isoformat()}  # fmt: skip
        if resource == "invoices":
            row.update(
                {
                    "due_date": body.get("due_date") or when.isoformat(),
                    "payment_made": ZERO,
                    "credits_applied": ZERO,
                }
            )
        else:
            row["invoices"] = []
        self.docs[resource][did] = row
        return dict(row)

    def _bill_order_lines(
        self, customer_id: str, body: Mapping[str, Any], lines: list[dict[str, Any]]
    ) -> None:
        """Invoice lines that bill sales-order lines must name lines of a confirmed order of the
        same customer; the order is then invoiced."""
        orders = set()
        for raw, line in zip(body.get("line_items") or [], lines, strict=False):
            wanted = str(raw.get("salesorder_item_id") or "")
            if not wanted:
                continue
            order = next((o for o in self.docs["salesorders"].values()
                          if any(ln["line_item_id"] == wanted for ln in o["line_items"])), None)  # fmt: skip
            if (
                order is None
                or order["customer_id"] != customer_id
                or order["status"] not in ("confirmed", "invoiced")
            ):
                raise ZohoInvalid(4, "Invalid value passed for salesorder_item_id")
            line["salesorder_item_id"] = wanted
            orders.add(order["salesorder_id"])
        for order_id in orders:
            self.docs["salesorders"][order_id]["status"] = "invoiced"

    def create_salesorder(self, body: Mapping[str, Any], *, ignore_auto_number: bool) -> dict[str, Any]:
        """A draft sales order (no effect on the books until invoiced)."""
        return self._sales_doc("salesorders", body, "salesorder_number", not ignore_auto_number)

    def confirm_salesorder(self, salesorder_id: str) -> None:
        """Draft -> confirmed."""
        row = self.docs["salesorders"].get(salesorder_id)
        if row is None:
            raise ZohoInvalid(1002, "Sales order does not exist.", 404)
        if row["status"] == "draft":
            row["status"] = "confirmed"

    def create_invoice(self, body: Mapping[str, Any], *, ignore_auto_number: bool) -> dict[str, Any]:
        """A draft invoice (``send`` marks it sent at once)."""
        row = self._sales_doc("invoices", body, "invoice_number", not ignore_auto_number)
        if body.get("send"):
            self.mark_sent(row["invoice_id"])
        return dict(self.docs["invoices"][row["invoice_id"]])

    def update_invoice(self, invoice_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replace an unpaid invoice's lines (number and customer kept unless given)."""
        old = self.docs["invoices"].get(invoice_id)
        if old is None:
            raise ZohoInvalid(1002, "Invoice does not exist.", 404)
        if old["payment_made"]:
            raise ZohoInvalid(4, "A paid invoice cannot be edited")
        self._check_lock("invoices", _date(old["date"], "date"))
        del self.docs["invoices"][invoice_id]
        try:
            merged = {**body, "invoice_number": body.get("invoice_number", old["invoice_number"])}
            row = self._sales_doc("invoices", merged, "invoice_number", False)
        except ZohoInvalid:
            self.docs["invoices"][invoice_id] = old
            raise
        new = self.docs["invoices"].pop(row["invoice_id"])
        new.update({"invoice_id": invoice_id, "status": old["status"]})
        self.docs["invoices"][invoice_id] = new
        return dict(new)

    def mark_sent(self, invoice_id: str) -> None:
        """Draft -> sent."""
        row = self.docs["invoices"].get(invoice_id)
        if row is None:
            raise ZohoInvalid(1002, "Invoice does not exist.", 404)
        if row["status"] == "draft":
            row["status"] = "sent"

    def create_creditnote(self, body: Mapping[str, Any], *, ignore_auto_number: bool) -> dict[str, Any]:
        """An open credit note."""
        return self._sales_doc("creditnotes", body, "creditnote_number", not ignore_auto_number)

    def _settle_invoice(self, invoice: dict[str, Any], amount: Decimal, field: str) -> None:
        if invoice["status"] == "draft":
            raise ZohoInvalid(4, "A draft invoice cannot be paid or credited: mark it as sent first")
        if amount <= 0 or amount > invoice["balance"]:
            raise ZohoInvalid(4, f"Invalid value passed for {field}: more than the invoice's balance")
        invoice["balance"] -= amount
        invoice[field] = invoice.get(field, ZERO) + amount
        invoice["status"] = "paid" if invoice["balance"] == 0 else "partially_paid"

    def create_payment(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A customer payment applied to invoices, deposited into ``account_id``."""
        for key in ("customer_id", "payment_mode", "amount", "date", "invoices"):
            if key not in body:
                raise ZohoInvalid(4, f"Invalid value passed for {key}")
        when = _date(body["date"], "date")
        self._check_lock("customerpayments", when)
        amount = _dec(body["amount"], "amount")
        account = self._account(body.get("account_id"), "account_id", money=True)
        applied = [(self.docs["invoices"].get(str(i.get("invoice_id"))), _dec(i.get("amount_applied"), "amount_applied"))
                   for i in body["invoices"]]  # fmt: skip
        if any(inv is None or inv["customer_id"] != body["customer_id"] for inv, _ in applied):
            raise ZohoInvalid(4, "Invalid value passed for invoice_id")
        if sum((a for _, a in applied), ZERO) > amount:
            raise ZohoInvalid(4, "The amount applied exceeds the payment amount")
        for inv, part in applied:
            assert inv is not None
            if part > inv["balance"]:
                raise ZohoInvalid(
                    4, "Invalid value passed for amount_applied: more than the invoice's balance"
                )
        for inv, part in applied:
            assert inv is not None
            self._settle_invoice(inv, part, "payment_made")
        pid = self.new_id()
        row = {"payment_id": pid, "payment_number": len(self.docs["customerpayments"]) + 1,
               "payment_mode": body["payment_mode"], "amount": amount, "date": when.isoformat(),
               "reference_number": body.get("reference_number", ""), "customer_id": body["customer_id"],
               "account_id": account["account_id"], "account_name": account["account_name"],
               "currency_code": applied[0][0]["currency_code"] if applied else self.base_currency,  # type: ignore[index]
               "exchange_rate": _dec(body.get("exchange_rate") or 1, "exchange_rate"), "status": "success",
               "invoices": [{"invoice_id": inv["invoice_id"], "invoice_number": inv["invoice_number"],  # type: ignore[index]
                             "amount_applied": part} for inv, part in applied]}  # fmt: skip
        self.docs["customerpayments"][pid] = row
        return dict(row)

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        """The payments applied to an invoice."""
        return [{"payment_id": p["payment_id"], "payment_number": p["payment_number"], "invoice_id": invoice_id,
                 "payment_mode": p["payment_mode"], "date": p["date"], "reference_number": p["reference_number"],
                 "exchange_rate": p["exchange_rate"], "amount": a["amount_applied"]}
                for p in self.docs["customerpayments"].values() for a in p["invoices"] if a["invoice_id"] == invoice_id]  # fmt: skip

    def refund(self, creditnote_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Money paid back against a credit note, out of ``from_account_id``."""
        note = self.docs["creditnotes"].get(creditnote_id)
        if note is None:
            raise ZohoInvalid(1002, "Credit note does not exist.", 404)
        when = _date(body.get("date"), "date")
        self._check_lock("creditnotes", when)
        amount = _dec(body.get("amount"), "amount")
        account = self._account(body.get("from_account_id"), "from_account_id", money=True)
        if amount <= 0 or amount > note["balance"]:
            raise ZohoInvalid(4, "The refund amount exceeds the credit note's balance")
        note["balance"] -= amount
        note["status"] = "closed" if note["balance"] == 0 else "open"
        rid = self.new_id()
        row = {"creditnote_refund_id": rid, "creditnote_id": creditnote_id, "date": when.isoformat(),
               "refund_mode": body.get("refund_mode", ""), "reference_number": body.get("reference_number", ""),
               "creditnote_number": note["creditnote_number"], "customer_name": note["customer_name"],
               "description": body.get("description", ""), "amount_bcy": _money(amount * note["exchange_rate"]),
               "amount_fcy": amount, "from_account_id": account["account_id"],
               "from_account_name": account["account_name"]}  # fmt: skip
        self.refunds[rid] = row
        return dict(row)

    def apply_credit(self, creditnote_id: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Apply a credit note to invoices of its customer."""
        note = self.docs["creditnotes"].get(creditnote_id)
        if note is None:
            raise ZohoInvalid(1002, "Credit note does not exist.", 404)
        made = []
        for entry in body.get("invoices") or []:
            invoice = self.docs["invoices"].get(str(entry.get("invoice_id")))
            amount = _dec(entry.get("amount_applied"), "amount_applied")
            if invoice is None or invoice["customer_id"] != note["customer_id"]:
                raise ZohoInvalid(4, "Invalid value passed for invoice_id")
            if amount > note["balance"]:
                raise ZohoInvalid(4, "The amount applied exceeds the credit note's balance")
            self._settle_invoice(invoice, amount, "credits_applied")
            note["balance"] -= amount
            note["status"] = "closed" if note["balance"] == 0 else "open"
            row = {"creditnote_id": creditnote_id, "invoice_id": invoice["invoice_id"],
                   "creditnote_invoice_id": self.new_id(), "date": note["date"],
                   "invoice_number": invoice["invoice_number"], "creditnote_number": note["creditnote_number"],
                   "credited_amount": amount}  # fmt: skip
            note["invoices"].append({"invoice_id": invoice["invoice_id"], "invoice_number": invoice["invoice_number"],
                                     "amount": amount})  # fmt: skip
            self.applied.append(row)
            made.append(row)
        if not made:
            raise ZohoInvalid(4, "Invalid value passed for invoices")
        return made

    # -- journals, banking, expenses -------------------------------------------------------------

    def create_journal(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A journal whose debits equal its credits."""
        when = _date(body.get("journal_date"), "journal_date")
        self._check_lock("journals", when)
        currency, rate = self._currency(body)
        lines = []
        sides = {"debit": ZERO, "credit": ZERO}
        for line in body.get("line_items") or []:
            side = str(line.get("debit_or_credit") or "")
            if side not in sides:
                raise ZohoInvalid(4, "Invalid value passed for debit_or_credit")
            amount = _dec(line.get("amount"), "amount")
            account = self._account(line.get("account_id"), "account_id")
            sides[side] += amount
            lines.append({"line_id": self.new_id(), "account_id": account["account_id"],
                          "account_name": account["account_name"], "description": line.get("description", ""),
                          "debit_or_credit": side, "amount": amount, "bcy_amount": _money(amount * rate)})  # fmt: skip
        if len(lines) < 2 or sides["debit"] != sides["credit"]:
            raise ZohoInvalid(4, "The journal's debits and credits must be equal")
        jid = self.new_id()
        row = {"journal_id": jid, "entry_number": str(len(self.docs["journals"]) + 1), "journal_date": when.isoformat(),
               "reference_number": body.get("reference_number", ""), "notes": body.get("notes", ""),
               "currency_id": body.get("currency_id", ""), "currency_code": currency, "exchange_rate": rate,
               "line_items": lines, "total": sides["debit"], "bcy_total": _money(sides["debit"] * rate),
               "status": body.get("status", "draft")}  # fmt: skip
        self.docs["journals"][jid] = row
        return dict(row)

    def create_bank_transaction(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A transfer between two money accounts (``transfer_fund``)."""
        if body.get("transaction_type") != "transfer_fund":
            raise ZohoInvalid(4, "The sandbox takes transfer_fund bank transactions only")
        when = _date(body.get("date"), "date")
        self._check_lock("banktransactions", when)
        currency, rate = self._currency(body)
        source = self._account(body.get("from_account_id"), "from_account_id", money=True)
        target = self._account(body.get("to_account_id"), "to_account_id", money=True)
        amount = _dec(body.get("amount"), "amount")
        if amount <= 0 or source is target:
            raise ZohoInvalid(4, "Invalid value passed for amount")
        tid = self.new_id()
        row = {"transaction_id": tid, "transaction_type": "transfer_fund", "date": when.isoformat(),
               "from_account_id": source["account_id"], "from_account_name": source["account_name"],
               "to_account_id": target["account_id"], "to_account_name": target["account_name"], "amount": amount,
               "total": amount, "currency_code": currency, "exchange_rate": rate,
               "reference_number": body.get("reference_number", ""), "description": body.get("description", ""),
               "status": "manually_added"}  # fmt: skip
        self.docs["banktransactions"][tid] = row
        return dict(row)

    def create_expense(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """An expense on ``account_id`` paid through a money account."""
        for key in ("date", "account_id", "amount", "paid_through_account_id"):
            if key not in body:
                raise ZohoInvalid(4, f"Invalid value passed for {key}")
        when = _date(body["date"], "date")
        self._check_lock("expenses", when)
        currency, rate = self._currency(body)
        account = self._account(body["account_id"], "account_id")
        paid = self._account(body["paid_through_account_id"], "paid_through_account_id", money=True)
        amount = _dec(body["amount"], "amount")
        if amount <= 0:
            raise ZohoInvalid(4, "Invalid value passed for amount")
        eid = self.new_id()
        row = {"expense_id": eid, "date": when.isoformat(), "account_id": account["account_id"],
               "account_name": account["account_name"], "paid_through_account_id": paid["account_id"],
               "paid_through_account_name": paid["account_name"], "amount": amount, "sub_total": amount,
               "total": amount, "currency_code": currency, "exchange_rate": rate,
               "reference_number": body.get("reference_number", ""), "description": body.get("description", ""),
               "status": "nonbillable"}  # fmt: skip
        self.docs["expenses"][eid] = row
        return dict(row)
