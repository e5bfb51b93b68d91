"""The in-memory Xero organisation behind :class:`XeroSandbox`: documents, validation, tax and
payments as Xero applies them, with Xero's validation messages. No HTTP here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from integrator import money

__all__ = ["COLLECTIONS", "Organisation", "XeroInvalid", "xero_date"]

COLLECTIONS = (
    "Invoices",
    "CreditNotes",
    "Payments",
    "ManualJournals",
    "BankTransfers",
    "BankTransactions",
    "Contacts",
)
CONDITION = re.compile(
    r'^(\w+)\s*==\s*(?:"((?:[^"\\]|\\.)*)"|(true|false))$|^(\w+)\.StartsWith\("((?:[^"\\]|\\.)*)"\)$'
)


class XeroInvalid(Exception):
    """One document refused, with Xero's validation messages."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


def xero_date(day: date) -> str:
    """A date as Xero writes it in JSON: ``/Date(<ms since epoch>+0000)/``."""
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _uuid() -> str:
    return str(uuid.uuid4())


def _seed_accounts() -> list[dict[str, Any]]:
    """A small chart: two bank accounts, sales, shipping, fees, A/R, tax, gift cards, rounding."""
    rows = [  # code, name, type, class, system account
        ("090", "Stripe Clearing", "BANK", "ASSET", ""),
        ("091", "Business Bank Account", "BANK", "ASSET", ""),
        ("200", "Sales", "REVENUE", "REVENUE", ""),
        ("210", "Shipping Income", "REVENUE", "REVENUE", ""),
        ("404", "Bank Fees", "EXPENSE", "EXPENSE", ""),
        ("610", "Accounts Receivable", "CURRENT", "ASSET", "DEBTORS"),
        ("820", "Sales Tax", "CURRLIAB", "LIABILITY", "GST"),
        ("830", "Gift Cards Outstanding", "CURRLIAB", "LIABILITY", ""),
        ("860", "Rounding", "OVERHEADS", "EXPENSE", "ROUNDING"),
    ]
    return [
        {"AccountID": _uuid(), "Code": code, "Name": name, "Type": type_, "Class": class_, "Status": "ACTIVE",
         "EnablePaymentsToAccount": False, **({"SystemAccount": system} if system else {}),
         **({"BankAccountType": "BANK"} if type_ == "BANK" else {})}
        for code, name, type_, class_, system in rows
    ]  # fmt: skip


def _seed_tax_rates() -> list[dict[str, Any]]:
    """Three tax rates: 15 % output, zero rated, no tax."""
    rows = [("OUTPUT", "Sales Tax on Income", "15"), ("ZERORATEDOUTPUT", "Zero Rated Income", "0"),
            ("NONE", "No Tax", "0")]  # fmt: skip
    return [
        {"TaxType": t, "Name": n, "EffectiveRate": Decimal(r), "DisplayTaxRate": Decimal(r), "Status": "ACTIVE",
         "CanApplyToRevenue": True, "TaxComponents": [{"Name": n, "Rate": Decimal(r), "IsCompound": False}]}
        for t, n, r in rows
    ]  # fmt: skip


class Organisation:
    """One Xero organisation's lists and documents. Callers serialise access (the server's lock)."""

    def __init__(
        self,
        *,
        base_currency: str,
        tax_rounding: str = "line",
        currencies: tuple[str, ...] = (),
        accounts: list[dict[str, Any]] | None = None,
        tax_rates: list[dict[str, Any]] | None = None,
    ) -> None:
        self.base_currency = base_currency
        #: Currencies enabled in the organisation (multi-currency plans); the base is always there.
        self.currencies = [base_currency, *(c for c in currencies if c != base_currency)]
        self.tax_rounding = tax_rounding
        self.period_lock_date: date | None = None
        self.end_of_year_lock_date: date | None = None
        self.accounts = accounts if accounts is not None else _seed_accounts()
        self.tax_rates = tax_rates if tax_rates is not None else _seed_tax_rates()
        self.items = [{"ItemID": _uuid(), "Code": "SALES", "Name": "Sales", "IsSold": True}]
        self.contacts = [
            {"ContactID": _uuid(), "Name": "Web customers", "ContactStatus": "ACTIVE", "IsCustomer": True}
        ]
        self.documents: dict[str, list[dict[str, Any]]] = {name: [] for name in COLLECTIONS}
        self.organisation_id = _uuid()

    # -- reading -------------------------------------------------------------------------------

    def organisation(self) -> dict[str, Any]:
        """The ``Organisation`` entity, lock dates included when set."""
        row: dict[str, Any] = {"OrganisationID": self.organisation_id, "Name": "Sandbox Imports Ltd",
                               "BaseCurrency": self.base_currency, "Version": "GLOBAL", "OrganisationStatus": "ACTIVE"}  # fmt: skip
        if self.period_lock_date:
            row["PeriodLockDate"] = xero_date(self.period_lock_date)
        if self.end_of_year_lock_date:
            row["EndOfYearLockDate"] = xero_date(self.end_of_year_lock_date)
        return row

    def lists(self, name: str) -> list[dict[str, Any]]:
        """A list or document collection by its API name (``Accounts``, ``Invoices`` ...)."""
        if name == "Currencies":
            return [{"Code": c, "Description": c} for c in self.currencies]
        return {"Accounts": self.accounts, "TaxRates": self.tax_rates, "Items": self.items,
                "Contacts": self.contacts}.get(name) or self.documents.get(name, [])  # fmt: skip

    @staticmethod
    def where(rows: list[dict[str, Any]], clause: str) -> list[dict[str, Any]]:
        """Filter by a ``where`` of ``Field=="v"``, ``Field==true`` or ``Field.StartsWith("v")``
        clauses joined by AND; raises XeroInvalid for anything else."""
        for part in (p.strip() for p in re.split(r"\s+AND\s+", clause or "", flags=re.IGNORECASE)):
            if not part:
                continue
            match = CONDITION.match(part)
            if match is None:
                raise XeroInvalid(f"Unsupported where clause: {part}")
            if match[1]:
                field = match[1]
                wanted: Any = (
                    re.sub(r"\\(.)", r"\1", match[2]) if match[2] is not None else match[3] == "true"
                )
                rows = [
                    r
                    for r in rows
                    if (r.get(field) if isinstance(wanted, bool) else str(r.get(field, ""))) == wanted
                ]
            else:
                prefix = re.sub(r"\\(.)", r"\1", match[5])
                rows = [r for r in rows if str(r.get(match[4], "")).startswith(prefix)]
        return rows

    # -- references and rules ------------------------------------------------------------------

    def account(self, ref: Any, *, role: str = "Account") -> dict[str, Any]:
        """An active account by ``{"Code"}``/``{"AccountID"}`` (or a bare code)."""
        code, account_id = (ref.get("Code"), ref.get("AccountID")) if isinstance(ref, dict) else (ref, None)
        for row in self.accounts:
            if row["Status"] == "ACTIVE" and (
                (code and row["Code"] == code) or (account_id and row["AccountID"] == account_id)
            ):
                return row
        raise XeroInvalid(f"{role} code '{code or account_id}' is not a valid code for this document.")

    def _rate(self, tax_type: str) -> Decimal:
        for row in self.tax_rates:
            if row["TaxType"] == tax_type and row["Status"] == "ACTIVE":
                return _dec(row["EffectiveRate"]) / 100
        raise XeroInvalid(
            f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of transaction."
        )

    def _date(self, value: Any) -> date:
        """A document date, refused on or before either lock date with Xero's message."""
        try:
            day = date.fromisoformat(str(value)[:10])
        except ValueError:
            raise XeroInvalid("A valid Date must be specified") from None
        if self.end_of_year_lock_date and day <= self.end_of_year_lock_date:
            raise XeroInvalid(
                f"The document date cannot be before the end of year lock date, {self.end_of_year_lock_date:%d %b %Y}"
            )
        if self.period_lock_date and day <= self.period_lock_date:
            raise XeroInvalid(
                f"The document date cannot be before the period lock date, {self.period_lock_date:%d %b %Y}"
            )
        return day

    def _contact(self, ref: Any) -> dict[str, Any]:
        """The referenced contact; a new one is created for an unknown name, as Xero does."""
        if not isinstance(ref, dict) or not (ref.get("ContactID") or ref.get("Name")):
            raise XeroInvalid("A Contact must be specified for this type of transaction")
        for row in self.contacts:
            if row["ContactID"] == ref.get("ContactID") or (
                not ref.get("ContactID") and row["Name"] == ref.get("Name")
            ):
                return {"ContactID": row["ContactID"], "Name": row["Name"]}
        if ref.get("ContactID"):
            raise XeroInvalid("The contact with the specified ContactID could not be found")
        row = {"ContactID": _uuid(), "Name": str(ref["Name"]), "ContactStatus": "ACTIVE", "IsCustomer": True}
        self.contacts.append(row)
        return {"ContactID": row["ContactID"], "Name": row["Name"]}

    # -- creating ------------------------------------------------------------------------------

    def create(self, collection: str, item: Any, unitdp: int) -> dict[str, Any]:
        """Validate and store one document; raises XeroInvalid with Xero's messages."""
        if not isinstance(item, dict):
            raise XeroInvalid("The document must be a JSON object")
        creators: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
            "Invoices": self._sales_document,
            "CreditNotes": self._sales_document,
            "Payments": self._payment,
            "ManualJournals": self._journal,
            "BankTransfers": self._transfer,
            "BankTransactions": self._bank_transaction,
            "Contacts": self._new_contact,
        }
        row = creators[collection](dict(item), unitdp)
        row["StatusAttributeString"] = "OK"
        if collection == "Contacts":
            self.contacts.append(row)
        else:
            self.documents[collection].append(row)
        return row

    def _currency(self, doc: dict[str, Any]) -> str:
        """The document's currency, refused unless the organisation has it enabled."""
        currency = str(doc.setdefault("CurrencyCode", self.base_currency))
        if currency not in self.currencies:
            raise XeroInvalid(f"The currency {currency} is not enabled for this organisation.")
        if currency != self.base_currency and not doc.get("CurrencyRate"):
            doc["CurrencyRate"] = Decimal(1)  # Xero would use its daily rate
        return currency

    def _new_contact(self, contact: dict[str, Any], unitdp: int) -> dict[str, Any]:
        """A new customer contact: its name must be unique."""
        name = str(contact.get("Name") or "").strip()
        if not name:
            raise XeroInvalid("The contact name must be specified")
        if any(str(c.get("Name", "")).lower() == name.lower() for c in self.contacts):
            raise XeroInvalid(
                "The contact name "
                + name
                + " is already assigned to another contact. The contact name must be unique across all active contacts."
            )
        contact.update({"ContactID": _uuid(), "ContactStatus": "ACTIVE", "IsCustomer": True})
        return contact

    def _bank_transaction(self, txn: dict[str, Any], unitdp: int) -> dict[str, Any]:
        """A spend or receive money transaction on a bank account (no A/R, A/P or bank lines)."""
        if txn.get("Type") not in ("SPEND", "RECEIVE"):
            raise XeroInvalid("Only SPEND and RECEIVE bank transactions are supported by this sandbox")
        bank = self.account(txn.get("BankAccount"), role="Bank account")
        if bank["Type"] != "BANK":
            raise XeroInvalid("The BankAccount must be a bank account")
        day = self._date(txn.get("Date"))
        txn["Contact"] = self._contact(txn.get("Contact"))
        self._currency(txn)
        lines = txn.get("LineItems") or []
        if not lines:
            raise XeroInvalid("At least one line item must be specified")
        total = Decimal(0)
        for line in lines:
            account = self.account({"Code": line.get("AccountCode"), "AccountID": line.get("AccountID")})
            if account.get("SystemAccount") in ("DEBTORS", "CREDITORS") or account["Type"] == "BANK":
                raise XeroInvalid(
                    f"Account code '{account['Code']}' cannot be used on a bank transaction line"
                )
            amount = money.quantize(
                _dec(line.get("Quantity", 1)) * _dec(line.get("UnitAmount", 0)),
                bank.get("CurrencyCode") or self.base_currency,
            )
            line.update(
                {"LineAmount": amount, "LineItemID": _uuid(), "TaxType": line.get("TaxType") or "NONE"}
            )
            total += amount
        if total <= 0:
            raise XeroInvalid("The bank transaction total must be greater than zero")
        txn.update({"BankTransactionID": _uuid(), "Date": xero_date(day), "SubTotal": total, "TotalTax": Decimal(0),
                    "Total": total, "Status": "AUTHORISED",
                    "BankAccount": {"AccountID": bank["AccountID"], "Code": bank["Code"], "Name": bank["Name"]}})  # fmt: skip
        return txn

    def allocate(self, credit_note_id: str, allocations: Any) -> list[dict[str, Any]]:
        """Allocate a credit note to invoices of the same contact (``PUT CreditNotes/{id}/Allocations``)."""
        note = next((d for d in self.documents["CreditNotes"] if d["CreditNoteID"] == credit_note_id), None)
        if note is None:
            raise XeroInvalid("Credit note could not be found")
        made = []
        for allocation in allocations or []:
            invoice_id = (allocation.get("Invoice") or {}).get("InvoiceID")
            invoice = next((d for d in self.documents["Invoices"] if d["InvoiceID"] == invoice_id), None)
            if invoice is None:
                raise XeroInvalid("Invoice could not be found")
            if invoice["Contact"]["ContactID"] != note["Contact"]["ContactID"]:
                raise XeroInvalid("The credit note and the invoice must belong to the same contact")
            amount = _dec(allocation.get("Amount", 0))
            if amount <= 0 or amount > _dec(note["RemainingCredit"]) or amount > _dec(invoice["AmountDue"]):
                raise XeroInvalid("The allocation amount exceeds what is outstanding")
            note["RemainingCredit"] = _dec(note["RemainingCredit"]) - amount
            invoice["AmountDue"] = _dec(invoice["AmountDue"]) - amount
            invoice["AmountCredited"] = _dec(invoice["AmountCredited"]) + amount
            if invoice["AmountDue"] == 0:
                invoice["Status"] = "PAID"
            if note["RemainingCredit"] == 0:
                note["Status"] = "PAID"
            row = {"AllocationID": _uuid(), "Amount": amount, "Invoice": {"InvoiceID": invoice_id},
                   "Date": allocation.get("Date")}  # fmt: skip
            note.setdefault("Allocations", []).append(row)
            made.append(row)
        return made

    def _sales_document(self, doc: dict[str, Any], unitdp: int) -> dict[str, Any]:
        """Validate and total an invoice or credit note: number, contact, lines, accounts, tax."""
        credit = doc.get("Type") == "ACCRECCREDIT"
        if doc.get("Type") not in ("ACCREC", "ACCRECCREDIT"):
            raise XeroInvalid(
                "Only ACCREC invoices and ACCRECCREDIT credit notes are supported by this sandbox"
            )
        number_key = "CreditNoteNumber" if credit else "InvoiceNumber"
        collection = "CreditNotes" if credit else "Invoices"
        number = doc.get(number_key)
        day = self._date(doc.get("Date"))
        doc["Contact"] = self._contact(doc.get("Contact"))
        if number and any(
            o.get(number_key) == number and o.get("Status") != "DELETED" for o in self.documents[collection]
        ):
            raise XeroInvalid("Credit Note # must be unique." if credit else "Invoice # must be unique.")
        currency = self._currency(doc)
        kind = doc.get("LineAmountTypes") or "Exclusive"
        lines = doc.get("LineItems") or []
        if not lines:
            raise XeroInvalid("At least one line item must be specified")
        taxes: dict[str, list[Decimal]] = {}
        overridden = Decimal(0)
        for line in lines:
            if not line.get("Description") and not line.get("ItemCode"):
                raise XeroInvalid("The description field is mandatory for each line item.")
            self.account({"Code": line.get("AccountCode"), "AccountID": line.get("AccountID")})
            unit = _dec(line.get("UnitAmount", 0)).quantize(
                Decimal(1).scaleb(-unitdp), rounding=ROUND_HALF_UP
            )
            amount = money.quantize(_dec(line.get("Quantity", 1)) * unit, currency)
            line.update({"UnitAmount": unit, "LineAmount": amount, "LineItemID": _uuid()})
            tax_type = line.setdefault("TaxType", "NONE") if kind != "NoTax" else "NONE"
            rate = self._rate(tax_type)
            if "TaxAmount" in line:
                overridden += _dec(line["TaxAmount"])
                continue
            factor = rate / (1 + rate) if kind == "Inclusive" else rate
            taxes.setdefault(tax_type, []).append(amount * factor)
        if self.tax_rounding == "document":
            computed = sum((money.quantize(sum(v, Decimal(0)), currency) for v in taxes.values()), Decimal(0))
        else:
            computed = sum((money.quantize(x, currency) for v in taxes.values() for x in v), Decimal(0))
        tax = computed + overridden if kind != "NoTax" else Decimal(0)
        gross = sum((_dec(line["LineAmount"]) for line in lines), Decimal(0))
        total = gross if kind == "Inclusive" else gross + tax
        doc.update({"Date": xero_date(day), "DateString": f"{day.isoformat()}T00:00:00", "SubTotal": total - tax,
                    "TotalTax": tax, "Total": total, "Status": doc.get("Status") or "DRAFT", "Payments": []})  # fmt: skip
        if credit:
            doc.update({"CreditNoteID": _uuid(), "RemainingCredit": total, "AppliedAmount": Decimal(0)})
        else:
            doc.update(
                {
                    "InvoiceID": _uuid(),
                    "AmountDue": total,
                    "AmountPaid": Decimal(0),
                    "AmountCredited": Decimal(0),
                }
            )
        return doc

    def _payment(self, pay: dict[str, Any], unitdp: int) -> dict[str, Any]:
        """Apply a payment (or refund) to an authorised invoice or credit note into a bank account."""
        if pay.get("Invoice"):
            target, id_key, number_key, collection = pay["Invoice"], "InvoiceID", "InvoiceNumber", "Invoices"
        elif pay.get("CreditNote"):
            target, id_key, number_key, collection = (
                pay["CreditNote"],
                "CreditNoteID",
                "CreditNoteNumber",
                "CreditNotes",
            )
        else:
            raise XeroInvalid("An Invoice or CreditNote must be specified")
        document = next((d for d in self.documents[collection]
                         if d[id_key] == target.get(id_key) or (target.get(number_key) and d.get(number_key) == target.get(number_key))),
                        None)  # fmt: skip
        if document is None:
            raise XeroInvalid(f"{collection[:-1]} could not be found")
        if document["Status"] not in ("AUTHORISED",):
            raise XeroInvalid("Payment can only be made against Authorised documents")
        account = self.account(pay.get("Account"))
        if account["Type"] != "BANK" and not account.get("EnablePaymentsToAccount"):
            raise XeroInvalid("Payments can only be made to bank accounts or accounts enabled for payments")
        day = self._date(pay.get("Date"))
        amount = _dec(pay.get("Amount", 0))
        outstanding_key = "RemainingCredit" if collection == "CreditNotes" else "AmountDue"
        if amount <= 0:
            raise XeroInvalid("Payment amount must be greater than zero")
        if amount > _dec(document[outstanding_key]):
            raise XeroInvalid("Payment amount exceeds the amount outstanding on this document")
        payment_id = _uuid()
        document[outstanding_key] = _dec(document[outstanding_key]) - amount
        if collection == "Invoices":
            document["AmountPaid"] = _dec(document["AmountPaid"]) + amount
        document["Payments"].append({"PaymentID": payment_id, "Amount": amount, "Date": xero_date(day),
                                     "Reference": pay.get("Reference", "")})  # fmt: skip
        if document[outstanding_key] == 0:
            document["Status"] = "PAID"
        pay.update({"PaymentID": payment_id, "Date": xero_date(day), "Status": "AUTHORISED", "Account": {
            "AccountID": account["AccountID"], "Code": account["Code"]}})  # fmt: skip
        pay["PaymentType"] = "ARCREDITPAYMENT" if collection == "CreditNotes" else "ACCRECPAYMENT"
        return pay

    def _journal(self, journal: dict[str, Any], unitdp: int) -> dict[str, Any]:
        """Validate a manual journal: narration, accounts (no A/R or A/P), lines summing to zero."""
        if not journal.get("Narration"):
            raise XeroInvalid("Narration must not be empty")
        day = self._date(journal.get("Date"))
        lines = journal.get("JournalLines") or []
        if len(lines) < 2:
            raise XeroInvalid("Journal must have at least two lines")
        for line in lines:
            account = self.account({"Code": line.get("AccountCode"), "AccountID": line.get("AccountID")})
            if account.get("SystemAccount") in ("DEBTORS", "CREDITORS"):
                raise XeroInvalid(
                    f"Account code '{account['Code']}' is a system account and cannot be used in a manual journal"
                )
        debits = sum((_dec(ln["LineAmount"]) for ln in lines if _dec(ln["LineAmount"]) > 0), Decimal(0))
        credits = -sum((_dec(ln["LineAmount"]) for ln in lines if _dec(ln["LineAmount"]) < 0), Decimal(0))
        if debits != credits:
            raise XeroInvalid(f"The total debits ({debits}) must equal total credits ({credits})")
        journal.update(
            {"ManualJournalID": _uuid(), "Date": xero_date(day), "Status": journal.get("Status") or "DRAFT"}
        )
        return journal

    def _transfer(self, transfer: dict[str, Any], unitdp: int) -> dict[str, Any]:
        """Validate a transfer between two different bank accounts."""
        source = self.account(transfer.get("FromBankAccount"), role="From bank account")
        target = self.account(transfer.get("ToBankAccount"), role="To bank account")
        if source["Type"] != "BANK" or target["Type"] != "BANK":
            raise XeroInvalid("Bank transfers can only be made between bank accounts")
        if source["AccountID"] == target["AccountID"]:
            raise XeroInvalid("The From and To bank accounts must be different")
        amount = _dec(transfer.get("Amount", 0))
        if amount <= 0:
            raise XeroInvalid("The Amount must be greater than zero")
        day = self._date(transfer.get("Date"))
        transfer.update({"BankTransferID": _uuid(), "Date": xero_date(day), "Amount": amount,
                         "FromBankAccount": {"AccountID": source["AccountID"], "Code": source["Code"], "Name": source["Name"]},
                         "ToBankAccount": {"AccountID": target["AccountID"], "Code": target["Code"], "Name": target["Name"]},
                         "FromBankTransactionID": _uuid(), "ToBankTransactionID": _uuid()})  # fmt: skip
        return transfer
