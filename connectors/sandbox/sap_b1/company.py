"""One SAP Business One company database as the Service Layer shows it: chart, VAT groups,
business partners, marketing documents, payments, journal entries and posting periods. Pure data
and rules; the HTTP face is in ``server``.

Rules enforced as SAP Business One does:

* a document line of a service document carries a G/L account, a line total and a VAT group; its
  VAT is the caller's ``TaxTotal`` when given (local currency), else the line total at the
  group's rate rounded per line; ``VatSum`` and ``DocTotal`` are computed;
* a copied document (``BaseType`` 17 = a sales order) closes the order it copies;
* a payment applied to invoices (``PaymentInvoices``) raises their ``PaidToDate`` and closes them
  when paid; a journal entry must balance;
* posting periods: a locked period refuses everything, one "unlocked except sales" refuses sales
  documents, one being closed refuses everything, a date outside every period is refused: all
  with error ``-4013``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["B1Error", "Company"]

ZERO = Decimal(0)
CENT = Decimal("0.01")
SALES_SETS = ("Invoices", "CreditNotes", "Orders")
ACCOUNT_TYPES = {"revenue": "at_Revenues", "expense": "at_Expenses"}


class B1Error(Exception):
    """A refusal in SAP Business One's terms: status, numeric code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


@dataclass
class Company:
    """The company database. ``receivable_account`` is the customers' control account."""

    name: str = "OEC Computers UK"
    currency: str = "GBP"
    receivable_account: str = "1200"
    unique_references: bool = False
    accounts: list[dict[str, Any]] = field(default_factory=list)
    vat_groups: list[dict[str, Any]] = field(default_factory=list)
    partners: list[dict[str, Any]] = field(default_factory=list)
    documents: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"Invoices": [], "CreditNotes": [], "Orders": []}
    )
    payments: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"IncomingPayments": [], "VendorPayments": []}
    )
    journals: list[dict[str, Any]] = field(default_factory=list)
    periods: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def seed(
        self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]], year: int = 2026
    ) -> None:
        """Our chart (code, name, type), VAT groups (code, name, rate as a fraction; ``NONE`` added
        at 0 %) and twelve monthly posting periods of ``year``, all unlocked."""
        self.accounts = [{"Code": c, "Name": n, "AccountType": ACCOUNT_TYPES.get(k, "at_Other"), "ActiveAccount": "tYES",
                          "Balance": ZERO} for c, n, k in accounts]  # fmt: skip
        tax_account = {"SN": next((c for c, n, _ in accounts if "TVA" in n), "2100")}
        uk = next((c for c, n, _ in accounts if "VAT" in n), "2100")
        self.vat_groups = [{"Code": c, "Name": n, "Category": "bovcOutputTax", "TaxAccount": tax_account.get(c[:2], uk),
                            "Inactive": "tNO", "VatGroups_Lines": [{"Effectivefrom": f"{year - 5}-01-01", "Rate": Decimal(r) * 100}]}
                           for c, n, r in tax_codes]  # fmt: skip
        self.vat_groups.append({"Code": "NONE", "Name": "No VAT", "Category": "bovcOutputTax", "TaxAccount": uk, "Inactive": "tNO",
                                "VatGroups_Lines": [{"Effectivefrom": f"{year - 5}-01-01", "Rate": ZERO}]})  # fmt: skip
        self.periods = []
        for month in range(1, 13):
            start = date(year, month, 1)
            end = (date(year + (month == 12), month % 12 + 1, 1)) - timedelta(days=1)
            self.periods.append({"AbsoluteEntry": month, "PeriodCode": f"{year}-{month:02d}", "PeriodName": f"{year}-{month:02d}",
                                 "PostingDateFrom": start.isoformat(), "PostingDateTo": end.isoformat(), "Locked": "tNO",
                                 "PeriodStatus": "ltUnlocked"})  # fmt: skip

    def set_period_status(self, day: date, status: str) -> None:
        """Set the status of the period holding ``day`` (ltUnlocked, ltUnlockedExceptSales,
        ltPeriodClosing, ltLocked)."""
        for period in self.periods:
            if _day(period["PostingDateFrom"]) <= day <= _day(period["PostingDateTo"]):
                period["PeriodStatus"], period["Locked"] = status, "tYES" if status == "ltLocked" else "tNO"

    def _next(self, series: str) -> int:
        self.counters[series] = self.counters.get(series, 0) + 1
        return self.counters[series]

    def check_period(self, day: str, sales: bool) -> None:
        """Refuse a date in a period that does not take this kind of posting."""
        when = _day(day)
        period = next(
            (p for p in self.periods if _day(p["PostingDateFrom"]) <= when <= _day(p["PostingDateTo"])), None
        )
        status = period["PeriodStatus"] if period else "missing"
        if (
            status == "ltLocked"
            or status == "ltPeriodClosing"
            or status == "missing"
            or (sales and status == "ltUnlockedExceptSales")
        ):
            raise B1Error(
                400,
                -4013,
                f"Period is locked or closed for this posting date ({day}); change the date  [{status}]",
            )

    def account(self, code: str) -> dict[str, Any]:
        """An account by code."""
        for row in self.accounts:
            if row["Code"] == code:
                return row
        raise B1Error(400, -5002, f"Invalid account code '{code}'")

    def rate(self, group: str) -> Decimal:
        """A VAT group's rate as a fraction."""
        for row in self.vat_groups:
            if row["Code"] == group:
                return Decimal(str(row["VatGroups_Lines"][-1]["Rate"])) / 100
        raise B1Error(400, -5002, f"Invalid VAT group '{group}'")

    # -- business partners -----------------------------------------------------------------------

    def add_partner(self, body: dict[str, Any]) -> dict[str, Any]:
        """A customer (``CardCode`` given or numbered)."""
        code = str(body.get("CardCode") or f"C{self._next('C'):05d}")
        if any(p["CardCode"] == code for p in self.partners):
            raise B1Error(
                400,
                -2035,
                f"This entry already exists in the following tables: Business Partner (OCRD) [{code}]",
            )
        if not body.get("CardName"):
            raise B1Error(400, -5002, "CardName is missing")
        row = {"CardCode": code, "CardName": str(body["CardName"])[:100], "CardType": body.get("CardType", "cCustomer"),
               "EmailAddress": body.get("EmailAddress", ""), "FederalTaxID": body.get("FederalTaxID", ""),
               "Currency": self.currency, "DebitorAccount": self.receivable_account, "CurrentAccountBalance": ZERO}  # fmt: skip
        self.partners.append(row)
        return row

    def partner(self, code: str) -> dict[str, Any]:
        """A business partner by CardCode."""
        for row in self.partners:
            if row["CardCode"] == code:
                return row
        raise B1Error(400, -2028, f"No matching records found (ODBC -2028) [CardCode '{code}']")

    # -- documents ---------------------------------------------------------------------------------

    def add_document(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """A marketing document with its lines."""
        partner = self.partner(str(body.get("CardCode") or ""))
        reference = str(body.get("NumAtCard") or "")
        if len(reference) > 100:
            raise B1Error(400, -5002, "NumAtCard is longer than 100 characters")
        if self.unique_references and reference and any(d["NumAtCard"] == reference and d["Cancelled"] == "tNO"
                                                        for d in self.documents[collection]):  # fmt: skip
            raise B1Error(
                400, -2035, f"This entry already exists in the following tables  [NumAtCard '{reference}']"
            )
        currency = str(body.get("DocCurrency") or self.currency)
        if currency != self.currency:
            raise B1Error(400, -5002, f"This company holds documents in {self.currency} here")
        day = str(body.get("DocDate") or date.today().isoformat())[:10]
        self.check_period(day, sales=True)
        entry = self._next(collection)
        doc = {"DocEntry": entry, "DocNum": entry, "DocType": body.get("DocType", "dDocument_Items"), "DocDate": day,
               "DocDueDate": str(body.get("DocDueDate") or day)[:10], "TaxDate": str(body.get("TaxDate") or day)[:10],
               "CardCode": partner["CardCode"], "CardName": partner["CardName"], "NumAtCard": reference, "DocCurrency": currency,
               "DocRate": Decimal(1), "Comments": str(body.get("Comments") or "")[:254], "PaidToDate": ZERO,
               "DocumentStatus": "bost_Open", "Cancelled": "tNO", "DocumentLines": []}  # fmt: skip
        if doc["DocType"] != "dDocument_Service":
            raise B1Error(400, -5002, "This company takes service documents (DocType dDocument_Service) here")
        for n, line in enumerate(body.get("DocumentLines") or []):
            doc["DocumentLines"].append(self._line(n, line))
        if not doc["DocumentLines"]:
            raise B1Error(400, -5002, "The document has no lines")
        net = sum((ln["LineTotal"] for ln in doc["DocumentLines"]), ZERO)
        doc["VatSum"] = sum((ln["TaxTotal"] for ln in doc["DocumentLines"]), ZERO)
        doc["DocTotal"] = net + doc["VatSum"]
        self.documents[collection].append(doc)
        return doc

    def _line(self, n: int, body: dict[str, Any]) -> dict[str, Any]:
        """A service line: account, total, VAT group and VAT (given or computed); a copy closes its order."""
        account = self.account(str(body.get("AccountCode") or ""))
        group = str(body.get("VatGroup") or "")
        rate = self.rate(group)
        total = Decimal(str(body.get("LineTotal", 0)))
        tax = Decimal(str(body["TaxTotal"])) if body.get("TaxTotal") is not None else _round(total * rate)
        line = {"LineNum": n, "ItemDescription": str(body.get("ItemDescription") or "")[:100], "AccountCode": account["Code"],
                "LineTotal": total, "VatGroup": group, "TaxTotal": tax, "TaxPercentagePerRow": rate * 100,
                "BaseType": int(body.get("BaseType", -1)), "BaseEntry": body.get("BaseEntry"), "BaseLine": body.get("BaseLine"),
                "CostingCode": str(body.get("CostingCode") or ""), "ProjectCode": str(body.get("ProjectCode") or "")}  # fmt: skip
        if line["BaseType"] == 17:
            order = self.document("Orders", int(line["BaseEntry"]))
            if order["DocumentStatus"] != "bost_Open":
                raise B1Error(400, -5002, f"The order {order['DocEntry']} is already closed")
            order["DocumentStatus"] = "bost_Close"
        return line

    def document(self, collection: str, entry: int) -> dict[str, Any]:
        """A document by DocEntry."""
        for doc in self.documents[collection]:
            if doc["DocEntry"] == entry:
                return doc
        raise B1Error(404, -2028, "No matching records found (ODBC -2028)")

    # -- payments and journal entries ----------------------------------------------------------------

    def add_payment(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """An incoming (or, to a customer, outgoing) payment by transfer, applied to documents."""
        partner = self.partner(str(body.get("CardCode") or ""))
        account = self.account(str(body.get("TransferAccount") or ""))
        day = str(body.get("DocDate") or date.today().isoformat())[:10]
        self.check_period(day, sales=False)
        remarks = str(body.get("Remarks") or "")
        if (
            self.unique_references
            and remarks
            and any(p["Remarks"] == remarks for p in self.payments[collection])
        ):
            raise B1Error(
                400, -2035, f"This entry already exists in the following tables  [Remarks '{remarks}']"
            )
        amount = Decimal(str(body.get("TransferSum", 0)))
        applied = []
        for n, item in enumerate(body.get("PaymentInvoices") or []):
            kind = item.get("InvoiceType", "it_Invoice")
            doc = self.document("Invoices" if kind == "it_Invoice" else "CreditNotes", int(item["DocEntry"]))
            paid = Decimal(str(item.get("SumApplied", 0)))
            if doc["PaidToDate"] + paid > doc["DocTotal"]:
                raise B1Error(
                    400, -5002, f"The amount applied exceeds what is open on document {doc['DocEntry']}"
                )
            doc["PaidToDate"] += paid
            if doc["PaidToDate"] == doc["DocTotal"]:
                doc["DocumentStatus"] = "bost_Close"
            applied.append(
                {"LineNum": n, "DocEntry": doc["DocEntry"], "SumApplied": paid, "InvoiceType": kind}
            )
        if sum((a["SumApplied"] for a in applied), ZERO) > amount:
            raise B1Error(400, -5002, "The amounts applied exceed the payment")
        entry = self._next(collection)
        row = {"DocEntry": entry, "DocNum": entry, "DocType": body.get("DocType", "rCustomer"), "DocDate": day,
               "CardCode": partner["CardCode"], "CardName": partner["CardName"], "DocCurrency": self.currency,
               "TransferAccount": account["Code"], "TransferSum": amount, "TransferDate": day,
               "TransferReference": str(body.get("TransferReference") or "")[:27], "Remarks": remarks[:254],
               "JournalRemarks": str(body.get("JournalRemarks") or "")[:50], "ControlAccount": self.receivable_account,
               "PaymentInvoices": applied}  # fmt: skip
        self.payments[collection].append(row)
        return row

    def add_journal(self, body: dict[str, Any]) -> dict[str, Any]:
        """A balancing journal entry."""
        day = str(body.get("ReferenceDate") or date.today().isoformat())[:10]
        self.check_period(day, sales=False)
        reference = str(body.get("Reference") or "")
        if self.unique_references and reference and any(j["Reference"] == reference for j in self.journals):
            raise B1Error(
                400, -2035, f"This entry already exists in the following tables  [Reference '{reference}']"
            )
        lines = []
        for n, line in enumerate(body.get("JournalEntryLines") or []):
            self.account(str(line.get("AccountCode") or ""))
            lines.append({"Line_ID": n, "AccountCode": line["AccountCode"], "Debit": Decimal(str(line.get("Debit", 0))),
                          "Credit": Decimal(str(line.get("Credit", 0))), "LineMemo": str(line.get("LineMemo") or "")[:50],
                          "ShortName": line.get("ShortName") or line["AccountCode"], "CostingCode": str(line.get("CostingCode") or ""),
                          "ProjectCode": str(line.get("ProjectCode") or "")})  # fmt: skip
        if not lines or sum((ln["Debit"] - ln["Credit"] for ln in lines), ZERO):
            raise B1Error(400, -5002, "Unbalanced transaction")
        entry = self._next("JE")
        row = {"JdtNum": entry, "ReferenceDate": day, "DueDate": day, "TaxDate": day, "Memo": str(body.get("Memo") or "")[:50],
               "Reference": reference[:100], "Reference2": str(body.get("Reference2") or "")[:100], "JournalEntryLines": lines}  # fmt: skip
        self.journals.append(row)
        return row
