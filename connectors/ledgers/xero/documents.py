"""The ledger-target layer's plan -> Xero documents. Pure functions: no HTTP, no clock.

================================  ===========================================================
plan (connectors.ledgers.common)  Xero documents
================================  ===========================================================
receipt, invoice                  ``ACCREC`` invoice (``InvoiceNumber`` = the number, the
                                  customer, ``DueDate``), then one ``Payment`` per money
                                  account into that account (an invoice paid at once is PAID)
credit note                       ``ACCRECCREDIT`` credit note, then a refund ``Payment`` per
                                  money account; without money it is allocated to the invoice
                                  it credits (``Allocations``)
customer payment                  ``Payment`` against the invoice it pays
bank deposit                      ``BankTransfer`` of the deposit from the clearing bank account
                                  to the bank (the bank feed line matches it) and a ``SPEND``
                                  (or ``RECEIVE``) bank transaction on the clearing account for
                                  fees and adjustments
journal                           ``ManualJournal`` in the base currency (Xero's manual journals
                                  have no currency: the layer converts them) whose ``Narration``
                                  starts with ``[<reference>]``, which is how it is found again
================================  ===========================================================

Tax. Lines go out net of tax (``LineAmountTypes: Exclusive``), each with its tax type (a discount
line with its product's; an untaxed line with ``no_tax_type``) and ``TaxAmount`` = our tax on it,
so Xero records exactly our tax. ``UnitAmount`` has up to 4 decimals (the target sends
``unitdp=4``); when no 4-decimal unit price gives the line amount, the line is quantity 1.

Currency. ``CurrencyRate`` is Xero's rate: units of the document currency per unit of the base
currency, i.e. the inverse of the plan's rate (base units per document unit), to 6 decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.base import Permanent
from connectors.ledgers.common import (
    BankDeposit,
    CustomerPayment,
    JournalPlan,
    NumberRules,
    PlannedDocument,
    SalesDocument,
    SalesLine,
    deposit_as_journal,
)
from integrator import money

__all__ = [
    "NUMBER_RULES",
    "XeroDocument",
    "XeroPayment",
    "XeroPlan",
    "XeroSettings",
    "narration_prefix",
    "render",
]

NUMBER_RULES = NumberRules(max_length=255)
UNIT_PLACES = Decimal("0.0001")
RATE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class XeroSettings:
    """The connection settings the renderer reads (all optional)."""

    default_contact_id: str = ""
    walk_in_name: str = "Walk-in customer"
    no_tax_type: str = "NONE"
    tax_mode: str = "codes"  # codes | none
    payout_document: str = "auto"  # auto | journal
    due_days: int = 0

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> XeroSettings:
        """Read the known keys of a connection's settings."""
        known = {name: settings[name] for name in cls.__dataclass_fields__ if name in settings}
        if "due_days" in known:
            known["due_days"] = int(known["due_days"] or 0)
        return cls(**known)


@dataclass(frozen=True)
class XeroPayment:
    """A payment (or refund) to apply to the document, into (or out of) a money account."""

    account: dict[str, str]
    amount: Decimal
    reference: str


@dataclass(frozen=True)
class XeroDocument:
    """One Xero document: ``kind`` (``Invoice``, ``CreditNote``, ``Payment``, ``ManualJournal``,
    ``BankTransfer``, ``BankTransaction``), the collection it is PUT to, its body, the number it is
    found by and the total Xero will show."""

    kind: str
    collection: str
    payload: dict[str, Any]
    number: str
    total: Decimal


@dataclass(frozen=True)
class XeroPlan:
    """The main document, the payments to apply to it once it exists, an allocation (a credit
    note to its invoice) and further documents (a payout's fees) made after it."""

    plan: PlannedDocument
    main: XeroDocument
    payments: tuple[XeroPayment, ...] = ()
    allocation: tuple[str, Decimal] | None = None  # (invoice id, amount)
    extra: tuple[XeroDocument, ...] = field(default=())

    @property
    def paid_total(self) -> Decimal:
        """What the payments add up to."""
        return sum((p.amount for p in self.payments), Decimal(0))


def narration_prefix(reference: str) -> str:
    """The start of a manual journal's Narration, by which it is found again."""
    return f"[{reference}]"


def _account(code: str, ref: str, role: str) -> dict[str, str]:
    if code:
        return {"Code": code}
    if ref:
        return {"AccountID": ref}
    raise Permanent(f"{role} line has no Xero account code")


def _line_account(code: str, ref: str, role: str) -> dict[str, str]:
    """``AccountCode`` (or ``AccountID`` when the account has no code) of a line item."""
    if code:
        return {"AccountCode": code}
    if ref:
        return {"AccountID": ref}
    raise Permanent(f"{role} line has no Xero account code")


def _currency_fields(currency: str, rate: Decimal | None, base: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"CurrencyCode": money.normalize_currency(currency)}
    foreign = fields["CurrencyCode"] != money.normalize_currency(base)
    if foreign and rate:
        fields["CurrencyRate"] = (1 / rate).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    return fields


def _quantity_and_unit(line: SalesLine, currency: str) -> tuple[Decimal, Decimal]:
    """Quantity and a 4-decimal UnitAmount whose product rounds to the amount (else 1 x amount)."""
    amount, qty, price = line.amount, line.quantity, line.unit_price
    if qty and qty > 0 and amount > 0:
        if (
            price is not None
            and price == price.quantize(UNIT_PLACES)
            and money.quantize(qty * price, currency) == amount
        ):
            return qty, price
        derived = (amount / qty).quantize(UNIT_PLACES, rounding=ROUND_HALF_UP)
        if money.quantize(qty * derived, currency) == amount:
            return qty, derived
    return Decimal(1), amount


def _sales(doc: SalesDocument, contact: dict[str, str], settings: XeroSettings, base: str) -> XeroPlan:
    """An invoice or credit note with its payments (or allocation)."""
    taxed = settings.tax_mode != "none"
    if doc.tax_total and not taxed:
        raise Permanent(f"document {doc.reference} carries tax but the connection's tax_mode is 'none'")
    credit = doc.type == "credit_note"
    items = []
    for line in doc.lines:
        qty, unit = _quantity_and_unit(line, doc.currency)
        tax_type = (
            (line.tax_code_ref or line.tax_code or settings.no_tax_type) if taxed else settings.no_tax_type
        )
        item: dict[str, Any] = {
            "Description": line.description[:4000],
            "Quantity": qty,
            "UnitAmount": unit,
            "TaxType": tax_type,
            **_line_account(line.account_code, line.account_ref, line.role),
        }
        if taxed:
            item["TaxAmount"] = line.tax
        if line.item_ref:
            item["ItemCode"] = line.item_ref
        items.append(item)
    payload: dict[str, Any] = {
        "Type": "ACCRECCREDIT" if credit else "ACCREC",
        "Contact": contact,
        "Date": doc.date.isoformat(),
        "LineAmountTypes": "Exclusive" if taxed else "NoTax",
        "Status": "AUTHORISED",
        "LineItems": items,
        **_currency_fields(doc.currency, doc.exchange_rate, base),
        ("CreditNoteNumber" if credit else "InvoiceNumber"): doc.number,
        "Reference": f"{doc.reference}: {doc.memo}"[:255] if doc.memo else doc.reference[:255],
    }
    if not credit:
        payload["DueDate"] = (doc.due_date or doc.date).isoformat()
    payments = tuple(
        XeroPayment(_account(s.account_code, s.account_ref, "money"), s.amount, s.reference)
        for s in doc.settlements
    )
    allocation = None
    if credit and not doc.settlements and doc.related_remote_id:
        allocation = (doc.related_remote_id, doc.total)
    kind = "CreditNote" if credit else "Invoice"
    main = XeroDocument(kind, "CreditNotes" if credit else "Invoices", payload, doc.number, doc.total)
    return XeroPlan(doc, main, payments, allocation)


def _payment(doc: CustomerPayment, base: str) -> XeroPlan:
    """A payment against the invoice it pays."""
    if not doc.invoice_remote_id:
        raise Permanent(
            f"payment {doc.reference} pays no invoice that Xero holds; Xero takes a customer's money only "
            "against an invoice (or as a prepayment entered in Xero)"
        )
    payload: dict[str, Any] = {
        "Invoice": {"InvoiceID": doc.invoice_remote_id},
        "Account": _account(doc.account_code, doc.account_ref, "money"),
        "Date": doc.date.isoformat(),
        "Amount": doc.amount,
        "Reference": doc.number,
    }
    if doc.exchange_rate:
        payload["CurrencyRate"] = (1 / doc.exchange_rate).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    return XeroPlan(doc, XeroDocument("Payment", "Payments", payload, doc.number, doc.amount))


def _deposit(doc: BankDeposit, base: str) -> XeroPlan | None:
    """A transfer from the clearing bank account to the bank, and a spend (receive) of the fees and
    adjustments on the clearing account; None when the payout is not one clearing account's."""
    clearing = doc.from_clearing()
    if clearing is None or not doc.amount:
        return None
    source = _account(clearing.account_code, clearing.account_ref, "clearing")
    bank = _account(doc.bank_code, doc.bank_ref, "bank")
    transfer = {
        "FromBankAccount": source if doc.amount > 0 else bank,
        "ToBankAccount": bank if doc.amount > 0 else source,
        "Amount": abs(doc.amount),
        "Date": doc.date.isoformat(),
        "Reference": doc.number,
    }
    main = XeroDocument("BankTransfer", "BankTransfers", transfer, doc.number, abs(doc.amount))
    others = [ln for ln in doc.lines if ln.role not in ("clearing", "bank")]
    extra: list[XeroDocument] = []
    for sign, kind in ((-1, "SPEND"), (1, "RECEIVE")):
        lines = [ln for ln in others if ln.amount * sign > 0]
        if not lines:
            continue
        number = f"{doc.number}/{kind.lower()}"
        body = {
            "Type": kind,
            "BankAccount": source,
            "Date": doc.date.isoformat(),
            "Reference": number,
            "LineAmountTypes": "NoTax",
            "Contact": {"Name": "Payout fees and adjustments"},
            "Status": "AUTHORISED",
            "LineItems": [
                {"Description": ln.description[:4000], "Quantity": Decimal(1), "UnitAmount": abs(ln.amount),
                 **_line_account(ln.account_code, ln.account_ref, ln.role)}
                for ln in lines
            ],
            **_currency_fields(doc.currency, doc.exchange_rate, base),
        }  # fmt: skip
        total = sum((abs(ln.amount) for ln in lines), Decimal(0))
        extra.append(XeroDocument("BankTransaction", "BankTransactions", body, number, total))
    return XeroPlan(doc, main, extra=tuple(extra))


def _journal(doc: JournalPlan, base: str) -> XeroPlan:
    """A posted manual journal: + for a debit, - for a credit, narration ``[<reference>] memo``."""
    if money.normalize_currency(doc.currency) != money.normalize_currency(base):
        raise Permanent(f"document {doc.reference}: Xero manual journals must be in {base}")
    narration = f"{narration_prefix(doc.reference)} {doc.memo}".strip()
    payload = {
        "Narration": narration[:4000],
        "Date": doc.date.isoformat(),
        "LineAmountTypes": "NoTax",
        "Status": "POSTED",
        "JournalLines": [
            {
                "LineAmount": line.debit - line.credit,
                "Description": line.description[:4000],
                **_line_account(line.account_code, line.account_ref, line.role),
            }
            for line in doc.lines
        ],
    }
    return XeroPlan(doc, XeroDocument("ManualJournal", "ManualJournals", payload, doc.reference, doc.total))


def render(
    plan: PlannedDocument, contact: dict[str, str], settings: XeroSettings, *, base_currency: str
) -> XeroPlan:
    """The Xero documents for a planned document (see the module docstring)."""
    if isinstance(plan, SalesDocument):
        return _sales(plan, contact, settings, base_currency)
    if isinstance(plan, CustomerPayment):
        return _payment(plan, base_currency)
    if isinstance(plan, BankDeposit):
        deposit = _deposit(plan, base_currency) if settings.payout_document != "journal" else None
        if deposit is not None:
            return deposit
        return _journal(deposit_as_journal(plan), base_currency)
    return _journal(plan, base_currency)
