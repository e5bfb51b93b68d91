"""The in-memory Sage business behind :class:`~connectors.sandbox.sage.SageSandbox`: the chart, bank
accounts, tax rates, contacts and the documents the API v3.1 creates, validated as Sage validates
them and refused with Sage's error objects. No HTTP here.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["COLLECTIONS", "Business", "SageInvalid"]

COLLECTIONS = (
    "sales_invoices",
    "sales_credit_notes",
    "contact_payments",
    "contact_allocations",
    "bank_transfers",
    "other_payments",
    "journals",
    "contacts",
)
WRAPPERS = {
    "sales_invoices": "sales_invoice",
    "sales_credit_notes": "sales_credit_note",
    "contact_payments": "contact_payment",
    "contact_allocations": "contact_allocation",
    "bank_transfers": "bank_transfer",
    "other_payments": "other_payment",
    "journals": "journal",
    "contacts": "contact",
}
CENT = Decimal("0.01")


class SageInvalid(Exception):
    """A refused request, with Sage's error objects."""

    def __init__(self, *errors: tuple[str, str, str]) -> None:
        super().__init__("; ".join(m for _, m, _ in errors))
        self.items = [
            {"$severity": "error", "$dataCode": c, "$message": m, "$source": s} for c, m, s in errors
        ]


def _dec(value: Any, source: str) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except ArithmeticError as exc:
        raise SageInvalid(("RecordInvalid", "is not a number", source)) from exc


def _ref(kind: str, row_id: str, name: str = "") -> dict[str, str]:
    return {"id": row_id, "displayed_as": name or row_id, "$path": f"/{kind}/{row_id}"}


def _hex() -> str:
    return uuid.uuid4().hex


class Business:
    """One Sage business (UK, base currency GBP unless told otherwise)."""

    def __init__(self, base_currency: str = "GBP") -> None:
        self.id = _hex()
        self.base_currency = base_currency
        self.ledger_accounts: list[dict[str, Any]] = []
        self.bank_accounts: list[dict[str, Any]] = []
        self.tax_rates: list[dict[str, Any]] = []
        self.documents: dict[str, list[dict[str, Any]]] = {c: [] for c in COLLECTIONS}
        self.year_end_lockdown_date: date | None = None
        self.accounts_start_date: date | None = None
        self._numbers = {"sales_invoices": 0, "sales_credit_notes": 0}
        self.seed_chart(
            [("1200", "Bank Current Account", "asset"), ("1210", "Card clearing", "asset"),
             ("1100", "Debtors Control Account", "asset"), ("2200", "Sales Tax Control Account", "liability"),
             ("4000", "Sales Type A", "revenue"), ("7900", "Bank charges and interest", "expense")],
            [("GB_STANDARD", "Standard 20.00%", "0.20"), ("GB_ZERO", "Zero Rated 0.00%", "0")],
        )  # fmt: skip

    # -- the chart ---------------------------------------------------------------------------

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_rates: list[tuple[str, str, str]]) -> None:
        """Replace the chart: (nominal code, name, type) and tax rates (id, name, rate as a fraction).
        Bank, clearing, cash and money accounts become bank accounts; a receivable account is the
        debtors control account; ``GB_NO_TAX`` is always there."""
        types = {"asset": "CURRENT_ASSETS", "liability": "CURRENT_LIABILITY", "equity": "EQUITY",
                 "revenue": "SALES", "expense": "OVERHEADS"}  # fmt: skip
        self.ledger_accounts, self.bank_accounts = [], []
        for code, name, kind in accounts:
            lowered = name.lower()
            bank = kind == "asset" and any(w in lowered for w in ("bank", "clearing", "cash", "money"))
            control = (
                "DEBTORS" if kind == "asset" and ("receivable" in lowered or "debtors" in lowered) else ""
            )
            row: dict[str, Any] = {"id": _hex(), "displayed_as": f"{name} ({code})", "name": name, "nominal_code": int(code)
                   if code.isdigit() else code, "ledger_account_type": _ref("ledger_account_types",
                   "BANK" if bank else types[kind]), "is_control_account": bool(control), "control_name": control or None,
                   "visible_in_journals": True}  # fmt: skip
            self.ledger_accounts.append(row)
            if bank:
                self.bank_accounts.append(
                    {"id": _hex(), "displayed_as": name, "ledger_account": _ref("ledger_accounts", row["id"], name),
                     "bank_account_type": _ref("bank_account_types", "CHECKING"), "nominal_code": row["nominal_code"],
                     "currency": _ref("currencies", self.base_currency), "is_active": True}
                )  # fmt: skip
        rates = [(i, n, r) for i, n, r in tax_rates if i != "GB_NO_TAX"] + [("GB_NO_TAX", "No Tax", "0")]
        self.tax_rates = [
            {"id": i, "displayed_as": n, "name": n, "percentage": Decimal(r) * 100, "is_visible": True,
             "agency": None, "editable": False, "deletable": False}
            for i, n, r in rates
        ]  # fmt: skip

    def financial_settings(self) -> dict[str, Any]:
        """``GET financial_settings``."""
        return {
            "$path": "/financial_settings",
            "year_end_date": "2026-12-31",
            "year_end_lockdown_date": self.year_end_lockdown_date.isoformat()
            if self.year_end_lockdown_date
            else None,
            "accounts_start_date": self.accounts_start_date.isoformat() if self.accounts_start_date else None,
            "base_currency": _ref("currencies", self.base_currency),
            "multi_currency_enabled": False,
            "tax_scheme": None,
        }

    # -- look-ups ----------------------------------------------------------------------------

    def _find(self, rows: list[dict[str, Any]], row_id: Any, source: str, what: str) -> dict[str, Any]:
        for row in rows:
            if row["id"] == row_id:
                return row
        raise SageInvalid(("RecordInvalid", f"{what} is not valid", source))

    def _ledger(self, row_id: Any, source: str) -> dict[str, str]:
        row = self._find(self.ledger_accounts, row_id, source, "Ledger account")
        return _ref("ledger_accounts", row["id"], row["displayed_as"])

    def _tax(self, row_id: Any, source: str) -> tuple[dict[str, str], Decimal]:
        row = self._find(self.tax_rates, row_id or "GB_NO_TAX", source, "Tax rate")
        return _ref("tax_rates", row["id"], row["name"]), row["percentage"] / 100

    def _date(self, value: Any, source: str = "date") -> str:
        try:
            day = date.fromisoformat(str(value))
        except ValueError as exc:
            raise SageInvalid(("RecordInvalid", "is not a valid date", source)) from exc
        if self.year_end_lockdown_date and day <= self.year_end_lockdown_date:
            raise SageInvalid(
                ("RecordInvalid", "The date cannot be on or before the year end lockdown date", source)
            )
        if self.accounts_start_date and day < self.accounts_start_date:
            raise SageInvalid(("RecordInvalid", "The date cannot be before the accounts start date", source))
        return day.isoformat()

    def _required(self, data: dict[str, Any], *names: str) -> None:
        missing = [("RecordInvalid", "can't be blank", n) for n in names if data.get(n) in (None, "", [])]
        if missing:
            raise SageInvalid(*missing)

    def get(self, collection: str, row_id: str) -> dict[str, Any] | None:
        """One resource of a collection (ledger accounts, bank accounts and tax rates included)."""
        rows = self.lists(collection)
        return next((r for r in rows if r["id"] == row_id), None)

    def lists(self, collection: str) -> list[dict[str, Any]]:
        """Every resource of a collection."""
        fixed = {
            "ledger_accounts": self.ledger_accounts,
            "bank_accounts": self.bank_accounts,
            "tax_rates": self.tax_rates,
        }
        return fixed.get(collection) or self.documents.get(collection, [])

    # -- creating ----------------------------------------------------------------------------

    def create(self, collection: str, data: dict[str, Any]) -> dict[str, Any]:
        """Validate and store one resource; returns it as Sage answers it."""
        maker = getattr(self, f"_create_{collection}")
        row: dict[str, Any] = maker(data)
        row.setdefault("id", _hex())
        row["$path"] = f"/{collection}/{row['id']}"
        row.setdefault("displayed_as", str(row.get("reference") or row["id"]))
        self.documents[collection].append(row)
        return row

    def _create_contacts(self, data: dict[str, Any]) -> dict[str, Any]:
        self._required(data, "name")
        return {"name": data["name"], "displayed_as": data["name"], "email": data.get("email"),
                "reference": data.get("reference"), "contact_types": [_ref("contact_types", t) for t in data.get("contact_type_ids") or ["CUSTOMER"]]}  # fmt: skip

    def _contact(self, data: dict[str, Any]) -> dict[str, str]:
        row = self._find(self.documents["contacts"], data.get("contact_id"), "contact_id", "Contact")
        return _ref("contacts", row["id"], row["name"])

    def _artefact(self, collection: str, data: dict[str, Any], lines_key: str, prefix: str) -> dict[str, Any]:
        self._required(data, "contact_id", "date", lines_key)
        day = self._date(data["date"])
        lines, net_total, tax_total = [], Decimal(0), Decimal(0)
        for n, line in enumerate(data[lines_key]):
            source = f"{lines_key}[{n}]"
            self._required(line, "description", "ledger_account_id", "unit_price")
            quantity = _dec(line.get("quantity", 1), f"{source}.quantity")
            unit = _dec(line["unit_price"], f"{source}.unit_price")
            net = (quantity * unit).quantize(CENT, ROUND_HALF_UP)
            if "net_amount" in line and _dec(line["net_amount"], source) != net:
                raise SageInvalid(
                    ("RecordInvalid", "Net amount must equal quantity x unit price", f"{source}.net_amount")
                )
            tax_rate, rate = self._tax(line.get("tax_rate_id"), f"{source}.tax_rate_id")
            # Sage computes the line's tax from its rate unless the request gives the amount.
            tax = (
                _dec(line["tax_amount"], source)
                if "tax_amount" in line
                else (net * rate).quantize(CENT, ROUND_HALF_UP)
            )
            if rate == 0 and tax:
                raise SageInvalid(
                    ("RecordInvalid", "Tax amount must be zero for this tax rate", f"{source}.tax_amount")
                )
            lines.append({"id": _hex(), "description": line["description"], "ledger_account": self._ledger(line["ledger_account_id"], f"{source}.ledger_account_id"),
                          "quantity": quantity, "unit_price": unit, "net_amount": net, "tax_rate": tax_rate,
                          "tax_amount": tax, "total_amount": net + tax})  # fmt: skip
            net_total += net
            tax_total += tax
        total = net_total + tax_total
        if "total_amount" in data and _dec(data["total_amount"], "total_amount") != total:
            raise SageInvalid(
                ("RecordInvalid", f"Total amount does not match the lines ({total})", "total_amount")
            )
        self._numbers[collection] += 1
        number = f"{prefix}-{self._numbers[collection]}"
        head = {"id": _hex(), "displayed_as": number, "contact": self._contact(data), "date": day,
                "reference": data.get("reference"), "notes": data.get("notes"), lines_key: lines,
                "net_amount": net_total, "tax_amount": tax_total, "total_amount": total, "outstanding_amount": total,
                "currency": _ref("currencies", self.base_currency), "status": _ref("artefact_statuses", "UNPAID"),
                "transaction": _ref("transactions", _hex())}  # fmt: skip
        head["invoice_number" if collection == "sales_invoices" else "credit_note_number"] = number
        if data.get("due_date"):
            head["due_date"] = data["due_date"]
        return head

    def _create_sales_invoices(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._artefact("sales_invoices", data, "invoice_lines", "SI")

    def _create_sales_credit_notes(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._artefact("sales_credit_notes", data, "credit_note_lines", "SCN")

    def _artefact_row(self, artefact_id: Any, source: str) -> dict[str, Any]:
        for collection in ("sales_invoices", "sales_credit_notes"):
            for row in self.documents[collection]:
                if row["id"] == artefact_id:
                    return row
        raise SageInvalid(("RecordInvalid", "Artefact is not valid", source))

    def _settle(self, row: dict[str, Any], amount: Decimal, source: str) -> None:
        if amount > row["outstanding_amount"]:
            raise SageInvalid(
                ("RecordInvalid", "The amount allocated exceeds the outstanding amount", source)
            )
        row["outstanding_amount"] -= amount
        row["status"] = _ref("artefact_statuses", "PAID" if not row["outstanding_amount"] else "PART_PAID")

    def _create_contact_payments(self, data: dict[str, Any]) -> dict[str, Any]:
        self._required(data, "transaction_type_id", "contact_id", "bank_account_id", "date", "total_amount")
        kind = data["transaction_type_id"]
        if kind not in ("CUSTOMER_RECEIPT", "CUSTOMER_REFUND"):
            raise SageInvalid(("RecordInvalid", "Transaction type is not valid", "transaction_type_id"))
        total = _dec(data["total_amount"], "total_amount")
        if total <= 0:
            raise SageInvalid(("RecordInvalid", "must be greater than 0", "total_amount"))
        bank = self._find(self.bank_accounts, data["bank_account_id"], "bank_account_id", "Bank account")
        contact = self._contact(data)
        day = self._date(data["date"])
        allocated, rows = [], []
        for n, item in enumerate(data.get("allocated_artefacts") or []):
            source = f"allocated_artefacts[{n}]"
            artefact = self._artefact_row(item.get("artefact_id"), f"{source}.artefact_id")
            wanted = "sales_credit_notes" if kind == "CUSTOMER_REFUND" else "sales_invoices"
            if artefact not in self.documents[wanted]:
                raise SageInvalid(("RecordInvalid", "Artefact does not match the transaction type", source))
            rows.append((artefact, _dec(item.get("amount"), source), source))
        if sum((a for _, a, _ in rows), Decimal(0)) > total:
            raise SageInvalid(
                ("RecordInvalid", "The allocated amounts exceed the payment", "allocated_artefacts")
            )
        for artefact, amount, source in rows:
            self._settle(artefact, amount, source)
            allocated.append(
                {
                    "id": _hex(),
                    "artefact": _ref("artefacts", artefact["id"], artefact["displayed_as"]),
                    "amount": amount,
                }
            )
        return {"transaction_type": _ref("transaction_types", kind), "contact": contact, "date": day,
                "bank_account": _ref("bank_accounts", bank["id"], bank["displayed_as"]), "total_amount": total,
                "net_amount": total, "tax_amount": Decimal(0), "reference": data.get("reference"),
                "currency": _ref("currencies", self.base_currency), "allocated_artefacts": allocated,
                "transaction": _ref("transactions", _hex())}  # fmt: skip

    def _create_contact_allocations(self, data: dict[str, Any]) -> dict[str, Any]:
        self._required(data, "transaction_type_id", "contact_id", "allocated_artefacts")
        items = [(self._artefact_row(i.get("artefact_id"), f"allocated_artefacts[{n}]"), _dec(i.get("amount"), "amount"))
                 for n, i in enumerate(data["allocated_artefacts"])]  # fmt: skip
        if sum((a for _, a in items), Decimal(0)) != 0:
            raise SageInvalid(
                ("RecordInvalid", "The allocated amounts must sum to zero", "allocated_artefacts")
            )
        for row, amount in items:
            self._settle(row, abs(amount), "allocated_artefacts")
        return {"transaction_type": _ref("transaction_types", data["transaction_type_id"]), "contact": self._contact(data),
                "date": self._date(data.get("date") or date.today().isoformat()),
                "allocated_artefacts": [{"artefact": _ref("artefacts", r["id"], r["displayed_as"]), "amount": a}
                                        for r, a in items]}  # fmt: skip

    def _create_bank_transfers(self, data: dict[str, Any]) -> dict[str, Any]:
        self._required(data, "from_bank_account_id", "to_bank_account_id", "date", "amount")
        source = self._find(
            self.bank_accounts, data["from_bank_account_id"], "from_bank_account_id", "Bank account"
        )
        target = self._find(
            self.bank_accounts, data["to_bank_account_id"], "to_bank_account_id", "Bank account"
        )
        if source is target:
            raise SageInvalid(("RecordInvalid", "The bank accounts must be different", "to_bank_account_id"))
        amount = _dec(data["amount"], "amount")
        if amount <= 0:
            raise SageInvalid(("RecordInvalid", "must be greater than 0", "amount"))
        return {"from_bank_account": _ref("bank_accounts", source["id"]), "to_bank_account": _ref("bank_accounts", target["id"]),
                "date": self._date(data["date"]), "amount": amount, "reference": data.get("reference"),
                "description": data.get("description")}  # fmt: skip

    def _create_other_payments(self, data: dict[str, Any]) -> dict[str, Any]:
        self._required(data, "transaction_type_id", "date", "total_amount", "payment_lines")
        bank = self._find(self.bank_accounts, data.get("bank_account_id"), "bank_account_id", "Bank account")
        lines = []
        for n, line in enumerate(data["payment_lines"]):
            source = f"payment_lines[{n}]"
            self._required(line, "ledger_account_id", "total_amount")
            tax_rate, _ = self._tax(line.get("tax_rate_id"), f"{source}.tax_rate_id")
            lines.append({"id": _hex(), "ledger_account": self._ledger(line["ledger_account_id"], f"{source}.ledger_account_id"),
                          "total_amount": _dec(line["total_amount"], source), "tax_rate": tax_rate,
                          "details": line.get("details")})  # fmt: skip
        total = _dec(data["total_amount"], "total_amount")
        if sum((ln["total_amount"] for ln in lines), Decimal(0)) != total:
            raise SageInvalid(
                ("RecordInvalid", "Total amount does not match the payment lines", "total_amount")
            )
        return {"transaction_type": _ref("transaction_types", data["transaction_type_id"]), "date": self._date(data["date"]),
                "bank_account": _ref("bank_accounts", bank["id"]), "total_amount": total, "reference": data.get("reference"),
                "payment_lines": lines}  # fmt: skip

    def _create_journals(self, data: dict[str, Any]) -> dict[str, Any]:
        self._required(data, "date", "reference", "journal_lines")
        lines, debit, credit = [], Decimal(0), Decimal(0)
        for n, line in enumerate(data["journal_lines"]):
            source = f"journal_lines[{n}]"
            d, c = _dec(line.get("debit"), f"{source}.debit"), _dec(line.get("credit"), f"{source}.credit")
            if (d and c) or d < 0 or c < 0:
                raise SageInvalid(("RecordInvalid", "A line must have either a debit or a credit", source))
            lines.append({"id": _hex(), "ledger_account": self._ledger(line.get("ledger_account_id"), f"{source}.ledger_account_id"),
                          "debit": d, "credit": c, "details": line.get("details")})  # fmt: skip
            debit, credit = debit + d, credit + c
        if debit != credit:
            raise SageInvalid(("RecordInvalid", "The journal does not balance", "journal_lines"))
        return {"date": self._date(data["date"]), "reference": data["reference"], "description": data.get("description"),
                "total": debit, "journal_lines": lines, "transaction": _ref("transactions", _hex())}  # fmt: skip

    # -- for tests ---------------------------------------------------------------------------

    def lock(self, lockdown: date | None = None, accounts_start: date | None = None) -> None:
        """Set the year-end lockdown date and the accounts start date."""
        self.year_end_lockdown_date = lockdown
        self.accounts_start_date = accounts_start
