"""One Business Central company as the API v2.0 shows it: the chart, VAT, customers, sales
documents, journals and the general ledger. Pure data and rules; the HTTP face is in ``server``.

Rules enforced as Business Central does:

* VAT is computed by the company, never taken from the caller: per document and tax code (VAT
  product posting group), line by line with the rounding remainder carried to the next line, so a
  code's VAT is the rounded VAT of its total base (the ``VAT Rounding`` of a sales document);
* a draft is changed with ``PATCH`` and the line's ``@odata.etag`` (``If-Match``); a stale etag is
  ``412 Request_EntityChanged``;
* posting (``Microsoft.NAV.post``) checks the posting date against the allowed range of the
  general ledger setup (``allowPostingFrom`` / ``allowPostingTo``) and writes general ledger
  entries; a posted document cannot be changed;
* a general journal posts all its lines, each document number balancing on its own;
* customer payment journal lines are applied to an invoice but not posted (API v2.0 has no post
  action for them).
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["BCError", "Company"]

ZERO = Decimal(0)
CENT = Decimal("0.01")
BLANK_DATE = "0001-01-01"
CATEGORY = {"asset": "Assets", "liability": "Liabilities", "equity": "Equity", "revenue": "Income",
            "expense": "Expense"}  # fmt: skip


class BCError(Exception):
    """A refusal in Business Central's terms: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _new_id() -> str:
    return str(uuid.uuid4())


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _etag(version: int) -> str:
    return 'W/"' + base64.b64encode(f"{version}".encode()).decode() + '"'


@dataclass
class Company:
    """The company's data. ``receivable_account`` is the customers' posting group account;
    ``vat_accounts`` maps a tax code to its output VAT account."""

    name: str = "CRONUS UK Ltd."
    currency: str = "GBP"
    receivable_account: str = "1200"
    unique_external_numbers: bool = False
    id: str = field(default_factory=_new_id)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    tax_groups: list[dict[str, Any]] = field(default_factory=list)
    rates: dict[str, Decimal] = field(default_factory=dict)
    vat_accounts: dict[str, str] = field(default_factory=dict)
    customers: list[dict[str, Any]] = field(default_factory=list)
    documents: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"salesInvoices": [], "salesCreditMemos": [], "salesOrders": []})  # fmt: skip
    journals: list[dict[str, Any]] = field(default_factory=list)
    journal_lines: list[dict[str, Any]] = field(default_factory=list)
    payment_journals: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    allow_from: date | None = None
    allow_to: date | None = None
    counters: dict[str, int] = field(default_factory=dict)

    # -- chart -----------------------------------------------------------------------------------

    def seed(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]]) -> None:
        """Our chart: accounts (number, name, type) and VAT codes (code, name, rate as a fraction);
        a ``NONE`` code at 0 % is added for untaxed lines. A code's VAT goes to the first liability
        account whose name mentions VAT or TVA (else 2100)."""
        self.accounts = [
            {"id": _new_id(), "number": n, "displayName": name, "category": CATEGORY[kind], "subCategory": "",
             "blocked": False, "accountType": "Posting", "directPosting": True, "netChange": ZERO}
            for n, name, kind in accounts
        ]  # fmt: skip
        self.tax_groups = [
            {"id": _new_id(), "code": c, "displayName": n, "taxType": "VAT"} for c, n, _ in tax_codes
        ]
        self.tax_groups.append({"id": _new_id(), "code": "NONE", "displayName": "No VAT", "taxType": "VAT"})
        self.rates = {c: Decimal(r) for c, _, r in tax_codes} | {"NONE": ZERO}
        vat = {a["displayName"].split("(")[-1].rstrip(")").lower(): a["number"] for a in self.accounts
               if a["category"] == "Liabilities" and re.search(r"VAT|TVA", a["displayName"])}  # fmt: skip
        default = next(iter(vat.values()), "2100")
        for code, _, _ in tax_codes:
            self.vat_accounts[code] = (
                vat.get("senegal", default) if code.startswith("SN") else vat.get("uk", default)
            )

    def _next(self, series: str) -> str:
        self.counters[series] = self.counters.get(series, 1000) + 1
        return f"{series}{self.counters[series]}"

    def account(self, number: str) -> dict[str, Any]:
        """An account by number; 400 when there is none."""
        for row in self.accounts:
            if row["number"] == number:
                return row
        raise BCError(400, "Internal_RecordNotFound", f"The G/L Account does not exist. Identification fields and values: No.='{number}'")  # fmt: skip

    # -- customers -------------------------------------------------------------------------------

    def add_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new customer with the next number."""
        if not body.get("displayName"):
            raise BCError(400, "Internal_InvalidTableRelation", "displayName must have a value")
        row = {"id": _new_id(), "number": body.get("number") or self._next("C"), "displayName": body["displayName"],
               "type": body.get("type", "Company"), "email": body.get("email", ""), "currencyCode": "",
               "taxRegistrationNumber": body.get("taxRegistrationNumber", ""), "blocked": " ", "balanceDue": ZERO}  # fmt: skip
        if any(c["number"] == row["number"] for c in self.customers):
            raise BCError(400, "Internal_EntityWithSameKeyExists", f"The record in table Customer already exists. Identification fields and values: No.='{row['number']}'")  # fmt: skip
        self.customers.append(row)
        return row

    def customer(self, customer_id: str) -> dict[str, Any]:
        """A customer by id or number."""
        for row in self.customers:
            if customer_id in (row["id"], row["number"]):
                return row
        raise BCError(400, "Internal_RecordNotFound", f"The Customer does not exist. Identification fields and values: Id='{customer_id}'")  # fmt: skip

    # -- sales documents -------------------------------------------------------------------------

    def add_document(self, collection: str, body: dict[str, Any], lines_key: str) -> dict[str, Any]:
        """A draft sales document with its lines (deep insert)."""
        customer = self.customer(str(body.get("customerId") or body.get("customerNumber") or ""))
        external = str(body.get("externalDocumentNumber") or "")
        if len(external) > 35:
            raise BCError(400, "Internal_StringLengthExceeded", "externalDocumentNumber is longer than 35")
        if (
            self.unique_external_numbers
            and external
            and any(
                d["externalDocumentNumber"] == external and d["status"] != "Canceled"
                for d in self.documents[collection]
            )
        ):
            raise BCError(400, "Internal_EntityWithSameKeyExists", f"The record already exists. External Document No.='{external}'")  # fmt: skip
        if body.get("currencyCode") not in (None, "", self.currency):
            raise BCError(400, "Application_DialogException", "This company posts in its local currency only")
        date_key = {"salesInvoices": "invoiceDate", "salesCreditMemos": "creditMemoDate", "salesOrders": "orderDate"}[collection]  # fmt: skip
        day = str(body.get(date_key) or body.get("postingDate") or date.today().isoformat())
        doc = {"id": _new_id(), "number": self._next({"salesInvoices": "D-INV", "salesCreditMemos": "D-CM", "salesOrders": "SO"}[collection]),
               "externalDocumentNumber": external, date_key: day, "postingDate": str(body.get("postingDate") or day),
               "customerId": customer["id"], "customerNumber": customer["number"], "customerName": customer["displayName"],
               "currencyCode": self.currency, "pricesIncludeTax": False, "status": "Draft", "_lines": [], "_version": 1}  # fmt: skip
        if collection == "salesInvoices":
            doc["dueDate"] = str(body.get("dueDate") or day)
        for key in ("shortcutDimension1Code", "shortcutDimension2Code"):
            if body.get(key):
                doc[key] = str(body[key])[:20]
        if collection == "salesCreditMemos" and body.get("invoiceId"):
            doc["invoiceId"] = body["invoiceId"]
        for line in body.get(lines_key) or []:
            self._add_line(doc, line)
        self._totals(doc)
        self.documents[collection].append(doc)
        return doc

    def _add_line(self, doc: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """A G/L account line of a draft, refusing read-only properties (VAT is computed)."""
        if body.get("lineType", "Item") != "Account":
            raise BCError(
                400,
                "Application_DialogException",
                "This company sells on G/L account lines (lineType Account)",
            )
        account = self.account(str(body.get("lineObjectNumber") or ""))
        code = str(body.get("taxCode") or "")
        if code not in self.rates:
            raise BCError(
                400, "Internal_RecordNotFound", f"The VAT Product Posting Group does not exist. Code='{code}'"
            )
        for key in ("totalTaxAmount", "amountIncludingTax", "taxPercent"):
            if key in body:
                raise BCError(400, "BadRequest_InvalidToken", f"The property '{key}' is read-only")
        line = {"id": _new_id(), "documentId": doc["id"], "sequence": 10000 * (len(doc["_lines"]) + 1),
                "lineType": "Account", "lineObjectNumber": account["number"], "accountId": account["id"],
                "description": str(body.get("description") or account["displayName"])[:100],
                "quantity": Decimal(str(body.get("quantity", 1))), "unitPrice": Decimal(str(body.get("unitPrice", 0))),
                "taxCode": code, "taxPercent": self.rates[code] * 100, "_version": 1}  # fmt: skip
        doc["_lines"].append(line)
        return line

    def _totals(self, doc: dict[str, Any]) -> None:
        """Line amounts and VAT: per tax code, the remainder of each line's rounding carried on."""
        carried: dict[str, Decimal] = {}
        for line in doc["_lines"]:
            amount = _round(line["quantity"] * line["unitPrice"])
            code = line["taxCode"]
            before = carried.get(code, ZERO)
            exact = before + amount * self.rates[code]
            vat = _round(exact) - _round(before)
            carried[code] = exact
            line.update(amountExcludingTax=amount, totalTaxAmount=vat, amountIncludingTax=amount + vat,
                        netAmount=amount, netTaxAmount=vat, netAmountIncludingTax=amount + vat)  # fmt: skip
        net = sum((ln["amountExcludingTax"] for ln in doc["_lines"]), ZERO)
        vat_total = sum((ln["totalTaxAmount"] for ln in doc["_lines"]), ZERO)
        doc.update(
            totalAmountExcludingTax=net, totalTaxAmount=vat_total, totalAmountIncludingTax=net + vat_total
        )

    def find_document(self, collection: str, doc_id: str) -> dict[str, Any]:
        """A sales document by id."""
        for doc in self.documents[collection]:
            if doc["id"] == doc_id:
                return doc
        raise BCError(404, "Internal_RecordNotFound", f"The sales document {doc_id} does not exist")

    def find_line(self, collection: str, line_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A line and its document, by the line's id."""
        for doc in self.documents[collection]:
            for line in doc["_lines"]:
                if line["id"] == line_id:
                    return doc, line
        raise BCError(404, "Internal_RecordNotFound", f"The line {line_id} does not exist")

    def add_line(self, collection: str, doc_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new line on a draft."""
        doc = self.find_document(collection, doc_id)
        self._draft(doc)
        line = self._add_line(doc, body)
        self._totals(doc)
        return line

    def patch_line(
        self, collection: str, line_id: str, body: dict[str, Any], if_match: str
    ) -> dict[str, Any]:
        """Change a draft's line; the etag must be the line's current one."""
        doc, line = self.find_line(collection, line_id)
        self._draft(doc)
        if not if_match:
            raise BCError(400, "Internal_ConcurrencyTokenRequired", "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.")  # fmt: skip
        if if_match not in ("*", _etag(line["_version"])):
            raise BCError(412, "Request_EntityChanged", "Another user has already changed the record.")
        for key, value in body.items():
            if key in ("quantity", "unitPrice"):
                line[key] = Decimal(str(value))
            elif key == "taxCode":
                if value not in self.rates:
                    raise BCError(400, "Internal_RecordNotFound", f"The VAT Product Posting Group does not exist. Code='{value}'")  # fmt: skip
                line["taxCode"], line["taxPercent"] = value, self.rates[value] * 100
            elif key == "description":
                line["description"] = str(value)[:100]
            else:
                raise BCError(400, "BadRequest_InvalidToken", f"The property '{key}' cannot be changed here")
        line["_version"] += 1
        self._totals(doc)
        return line

    @staticmethod
    def _draft(doc: dict[str, Any]) -> None:
        if doc["status"] != "Draft":
            raise BCError(400, "Application_DialogException", f"Status must be equal to 'Open' in Sales Header: Document Type=Invoice, No.={doc['number']}.")  # fmt: skip

    def check_date(self, day: str) -> None:
        """Refuse a posting date outside the allowed range of the general ledger setup."""
        when = date.fromisoformat(day)
        if (self.allow_from and when < self.allow_from) or (self.allow_to and when > self.allow_to):
            raise BCError(400, "Application_DialogException", "Posting Date is not within your range of allowed posting dates.")  # fmt: skip

    def post_document(self, collection: str, doc_id: str) -> None:
        """Post a draft invoice or credit memo: general ledger entries, a posted number."""
        doc = self.find_document(collection, doc_id)
        self._draft(doc)
        if not doc["_lines"]:
            raise BCError(400, "Application_DialogException", "There is nothing to post.")
        self.check_date(doc["postingDate"])
        credit = collection == "salesCreditMemos"
        doc["number"] = self._next("PSCM" if credit else "PSI")
        sign = Decimal(1) if credit else Decimal(-1)  # revenue: credit on an invoice
        entries: list[tuple[str, Decimal]] = []
        vat: dict[str, Decimal] = {}
        for line in doc["_lines"]:
            entries.append((line["lineObjectNumber"], sign * line["amountExcludingTax"]))
            if line["totalTaxAmount"]:
                account = self.vat_accounts.get(line["taxCode"], "2100")
                vat[account] = vat.get(account, ZERO) + sign * line["totalTaxAmount"]
        entries += list(vat.items())
        entries.append((self.receivable_account, -sign * doc["totalAmountIncludingTax"]))
        self._entries(doc["number"], doc["postingDate"], "Credit Memo" if credit else "Invoice", entries)
        doc["status"] = "Open"
        if not credit:  # only an invoice shows what is left to pay
            doc["remainingAmount"] = doc["totalAmountIncludingTax"]

    def _entries(self, number: str, day: str, kind: str, entries: list[tuple[str, Decimal]]) -> None:
        """General ledger entries of a posted document (zero amounts left out)."""
        for account, amount in entries:
            if not amount:
                continue
            self.ledger.append({"id": _new_id(), "entryNumber": len(self.ledger) + 1, "postingDate": day,
                                "documentNumber": number, "documentType": kind, "accountId": self.account(account)["id"],
                                "accountNumber": account, "description": "", "debitAmount": max(amount, ZERO),
                                "creditAmount": max(-amount, ZERO), "additionalCurrencyDebitAmount": ZERO,
                                "additionalCurrencyCreditAmount": ZERO})  # fmt: skip

    # -- journals --------------------------------------------------------------------------------

    def add_journal(self, body: dict[str, Any], payment: bool) -> dict[str, Any]:
        """A general journal batch or a customer payment journal (code unique, at most 10)."""
        code = str(body.get("code") or "")
        rows = self.payment_journals if payment else self.journals
        if not code or len(code) > 10:
            raise BCError(400, "Internal_StringLengthExceeded", "code must have 1 to 10 characters")
        if any(j["code"] == code for j in rows):
            raise BCError(400, "Internal_EntityWithSameKeyExists", f"The record in table Gen. Journal Batch already exists. Identification fields and values: Name='{code}'")  # fmt: skip
        balancing = str(body.get("balancingAccountNumber") or "")
        row = {"id": _new_id(), "code": code, "displayName": str(body.get("displayName") or code),
               "balancingAccountNumber": balancing, "balancingAccountId": self.account(balancing)["id"] if balancing else ZERO_GUID}  # fmt: skip
        if not payment:
            row["templateDisplayName"] = "GENERAL"
        rows.append(row)
        return row

    def add_journal_line(self, journal_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A general journal line (G/L account lines; amount signed, debit positive)."""
        journal = next((j for j in self.journals if j["id"] == journal_id), None)
        if journal is None:
            raise BCError(404, "Internal_RecordNotFound", f"The journal {journal_id} does not exist")
        if body.get("accountType", "G/L Account") != "G/L Account":
            raise BCError(400, "Application_DialogException", "Only G/L Account lines are accepted here")
        number = str(body.get("documentNumber") or "")
        if len(number) > 20:
            raise BCError(400, "Internal_StringLengthExceeded", "documentNumber is longer than 20")
        account = self.account(str(body.get("accountNumber") or ""))
        row = {"id": _new_id(), "journalId": journal_id, "journalDisplayName": journal["code"],
               "lineNumber": 10000 * (1 + sum(1 for ln in self.journal_lines if ln["journalId"] == journal_id)),
               "accountType": "G/L Account", "accountId": account["id"], "accountNumber": account["number"],
               "postingDate": str(body.get("postingDate") or date.today().isoformat()), "documentNumber": number,
               "externalDocumentNumber": str(body.get("externalDocumentNumber") or "")[:35],
               "amount": Decimal(str(body.get("amount", 0))), "description": str(body.get("description") or "")[:100],
               "comment": "", "taxCode": "", "balanceAccountType": "G/L Account", "balancingAccountNumber": "",
               "balancingAccountId": ZERO_GUID}  # fmt: skip
        self.journal_lines.append(row)
        return row

    def post_journal(self, journal_id: str) -> None:
        """Post every line of the journal; each document number must balance."""
        lines = [ln for ln in self.journal_lines if ln["journalId"] == journal_id]
        if not lines:
            raise BCError(400, "Application_DialogException", "There is nothing to post.")
        per_doc: dict[str, Decimal] = {}
        for line in lines:
            self.check_date(line["postingDate"])
            per_doc[line["documentNumber"]] = per_doc.get(line["documentNumber"], ZERO) + line["amount"]
        for number, total in per_doc.items():
            if total:
                raise BCError(
                    400, "Application_DialogException", f"Document No. {number} is out of balance by {total}."
                )
        for line in lines:
            self._entries(
                line["documentNumber"], line["postingDate"], " ", [(line["accountNumber"], line["amount"])]
            )
        self.journal_lines = [ln for ln in self.journal_lines if ln["journalId"] != journal_id]

    def add_payment(self, journal_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A customer payment line applied to an invoice (signed as BC's journal: a payment received
        is negative, a refund paid out positive)."""
        journal = next((j for j in self.payment_journals if j["id"] == journal_id), None)
        if journal is None:
            raise BCError(
                404, "Internal_RecordNotFound", f"The customer payment journal {journal_id} does not exist"
            )
        customer = self.customer(str(body.get("customerId") or body.get("customerNumber") or ""))
        applies = str(body.get("appliesToInvoiceId") or "")
        invoice = self.find_document("salesInvoices", applies) if applies else None
        if invoice is not None and invoice["status"] not in ("Open", "Paid"):
            raise BCError(400, "Application_DialogException", "The invoice to apply to is not posted")
        day = str(body.get("postingDate") or date.today().isoformat())
        self.check_date(day)
        external = str(body.get("externalDocumentNumber") or "")
        if (
            self.unique_external_numbers
            and external
            and any(p["externalDocumentNumber"] == external for p in self.payments)
        ):
            raise BCError(400, "Internal_EntityWithSameKeyExists", f"The record already exists. External Document No.='{external}'")  # fmt: skip
        row = {"id": _new_id(), "journalId": journal_id, "journalDisplayName": journal["code"],
               "lineNumber": 10000 * (1 + sum(1 for p in self.payments if p["journalId"] == journal_id)),
               "customerId": customer["id"], "customerNumber": customer["number"], "postingDate": day,
               "documentNumber": str(body.get("documentNumber") or "")[:20],
               "externalDocumentNumber": str(body.get("externalDocumentNumber") or "")[:35],
               "amount": Decimal(str(body.get("amount", 0))), "appliesToInvoiceId": applies or ZERO_GUID,
               "appliesToInvoiceNumber": invoice["number"] if invoice else "", "description": str(body.get("description") or "")[:100],
               "comment": ""}  # fmt: skip
        self.payments.append(row)
        if invoice is not None:
            invoice["remainingAmount"] = invoice.get("remainingAmount", ZERO) + row["amount"]
            if invoice["remainingAmount"] <= 0:
                invoice["status"] = "Paid"
        return row

    def setup(self) -> dict[str, Any]:
        """The general ledger setup row."""
        return {"id": ZERO_GUID, "allowPostingFrom": self.allow_from.isoformat() if self.allow_from else BLANK_DATE,
                "allowPostingTo": self.allow_to.isoformat() if self.allow_to else BLANK_DATE,
                "additionalReportingCurrency": "", "localCurrencyCode": self.currency, "localCurrencySymbol": "£",
                "allowQueryFromConsolidation": False, "shortcutDimension1Code": "", "shortcutDimension2Code": ""}  # fmt: skip


ZERO_GUID = "00000000-0000-0000-0000-000000000000"


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A row without its private fields, with its etag."""
    out = {k: v for k, v in row.items() if not k.startswith("_")}
    out["@odata.etag"] = _etag(int(row.get("_version", 1)))
    return out
