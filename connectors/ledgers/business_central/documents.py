"""The ledger-target layer's plan -> Business Central API v2.0 bodies. Pure functions.

================================  ===========================================================
plan (connectors.ledgers.common)  Business Central
================================  ===========================================================
receipt, invoice                  ``salesInvoices`` draft with ``salesInvoiceLines`` (deep
                                  insert, G/L account lines with their VAT code), VAT fitted
                                  to ours, ``Microsoft.NAV.post``; then one customer payment
                                  line per money account, applied to the invoice, in that
                                  account's customer payment journal
credit note                       ``salesCreditMemos`` the same way (``invoiceId`` when it
                                  credits a known invoice); refunds as payment lines
customer payment                  a customer payment line applied to its invoice
bank deposit, journal             general journal lines (``journals/journalLines``, debit
                                  positive) posted with ``Microsoft.NAV.post``
================================  ===========================================================

Business Central computes VAT itself and takes no VAT amount on a line; the target fits its VAT
to ours after the draft is made (``connectors.ledgers.common.taxfit``). The company posts in its
local currency here: the layer converts a foreign document into a local journal at the journal's
own functional amounts. ``externalDocumentNumber`` (35 characters) carries our reference: it is
how every document is found again; journal lines carry it too, and the ``documentNumber`` (20)
by which their general ledger entries are found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
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
    short_form,
)

__all__ = [
    "NUMBER_RULES",
    "BCJournal",
    "BCPayment",
    "BCSales",
    "BCSettings",
    "external_number",
    "journal_code_for",
    "render",
]

NUMBER_RULES = NumberRules(max_length=35)
ZERO = Decimal(0)


@dataclass(frozen=True)
class BCSettings:
    """The connection settings the renderer reads (all optional)."""

    no_tax_code: str = "NONE"
    journal_code: str = "INTEGRATOR"
    payment_journal_prefix: str = "PAY"
    order_to_invoice: bool = False
    walk_in_name: str = "Walk-in customer"
    due_days: int = 0
    #: Dimension defaults the company's sales documents carry (global dimensions 1 and 2).
    shortcut_dimension_1: str = ""
    shortcut_dimension_2: str = ""

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> BCSettings:
        """Read the known keys of a connection's settings."""
        known = {name: settings[name] for name in cls.__dataclass_fields__ if name in settings}
        if "due_days" in known:
            known["due_days"] = int(known["due_days"] or 0)
        if "order_to_invoice" in known:
            known["order_to_invoice"] = str(known["order_to_invoice"]).lower() in ("1", "true", "yes")
        return cls(**known)


def external_number(reference: str) -> str:
    """``externalDocumentNumber``: our reference, or its stable short form past 35 characters."""
    return reference if len(reference) <= 35 else short_form(reference, 35)


def journal_code_for(prefix: str, account: str) -> str:
    """The customer payment journal (10 characters) whose balancing account is ``account``."""
    code = f"{prefix}{account}".upper()
    return code if len(code) <= 10 else short_form(code, 10).upper()


@dataclass(frozen=True)
class BCPayment:
    """A customer payment line: ``amount`` signed for the customer's account (a payment received
    is negative, a refund positive), into (out of) the money account ``account``."""

    account: str
    amount: Decimal
    external: str
    date: str
    description: str
    applies_to: str = ""


@dataclass(frozen=True)
class BCSales:
    """A draft sales document: collection, body (the customer is added by the target), our tax
    per VAT code, the total Business Central must show, and the payments to apply once posted."""

    collection: str
    lines_key: str
    body: dict[str, Any]
    external: str
    taxes: dict[str, Decimal]
    total: Decimal
    payments: tuple[BCPayment, ...] = ()
    customer_key: str = ""


@dataclass(frozen=True)
class BCJournal:
    """General journal lines of one document number, posted together."""

    document_number: str
    external: str
    lines: tuple[dict[str, Any], ...]
    total: Decimal


@dataclass(frozen=True)
class BCRendered:
    """What a planned document becomes."""

    plan: PlannedDocument
    sales: BCSales | None = None
    journal: BCJournal | None = None
    payment: BCPayment | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _line(line: SalesLine, settings: BCSettings) -> dict[str, Any]:
    """A G/L account line: quantity x unit price giving the line's amount exactly."""
    amount, qty, price = line.amount, line.quantity, line.unit_price
    if not (qty and price is not None and qty > 0 and qty * price == amount):
        qty, price = (Decimal(1), amount) if amount >= 0 else (Decimal(-1), -amount)
    return {
        "lineType": "Account",
        "lineObjectNumber": line.account_code,
        "description": line.description[:100],
        "quantity": qty,
        "unitPrice": price,
        "taxCode": line.tax_code_ref or line.tax_code or settings.no_tax_code,
    }


def _sales(doc: SalesDocument, settings: BCSettings) -> BCSales:
    """A draft invoice, credit memo or order, our VAT per code and the payments to apply once posted."""
    credit = doc.type == "credit_note"
    order = settings.order_to_invoice and doc.type == "invoice" and not doc.settlements
    collection = "salesCreditMemos" if credit else "salesOrders" if order else "salesInvoices"
    lines_key = {"salesCreditMemos": "salesCreditMemoLines", "salesOrders": "salesOrderLines"}.get(
        collection, "salesInvoiceLines"
    )
    external = external_number(doc.reference)
    date_key = {"salesCreditMemos": "creditMemoDate", "salesOrders": "orderDate"}.get(
        collection, "invoiceDate"
    )
    body: dict[str, Any] = {
        "externalDocumentNumber": external,
        date_key: doc.date.isoformat(),
        "postingDate": doc.date.isoformat(),
        lines_key: [_line(line, settings) for line in doc.lines],
    }
    if collection == "salesInvoices":
        body["dueDate"] = (doc.due_date or doc.date).isoformat()
    if settings.shortcut_dimension_1:
        body["shortcutDimension1Code"] = settings.shortcut_dimension_1
    if settings.shortcut_dimension_2:
        body["shortcutDimension2Code"] = settings.shortcut_dimension_2
    if credit and doc.related_remote_id:
        body["invoiceId"] = doc.related_remote_id
    taxes: dict[str, Decimal] = {}
    for tax in doc.taxes:
        code = tax.tax_code_ref or tax.tax_code or settings.no_tax_code
        taxes[code] = taxes.get(code, ZERO) + tax.amount
    sign = Decimal(1) if credit else Decimal(-1)
    payments = tuple(
        BCPayment(
            account=s.account_code,
            amount=sign * s.amount,
            external=external_number(s.reference),
            date=doc.date.isoformat(),
            description=f"{doc.number} {'refund' if credit else 'payment'}"[:100],
        )
        for s in doc.settlements
    )
    return BCSales(collection, lines_key, body, external, taxes, doc.total, payments, doc.customer.key)


def _journal(doc: JournalPlan) -> BCJournal:
    """General journal lines of one document number (debit positive), with our reference."""
    external = external_number(doc.reference)
    number = doc.reference if len(doc.reference) <= 20 else short_form(doc.reference, 20)
    lines = tuple(
        {
            "accountType": "G/L Account",
            "accountNumber": line.account_code,
            "postingDate": doc.date.isoformat(),
            "documentNumber": number,
            "externalDocumentNumber": external,
            "amount": line.debit - line.credit,
            "description": (line.description or doc.memo or doc.reference)[:100],
        }
        for line in doc.lines
        if line.debit or line.credit
    )
    return BCJournal(number, external, lines, doc.total)


def render(plan: PlannedDocument, settings: BCSettings, *, local_currency: str) -> BCRendered:
    """What ``plan`` becomes in Business Central (see the module docstring)."""
    currency = getattr(plan, "currency", local_currency)
    if currency != local_currency:
        raise Permanent(
            f"document {plan.reference}: Business Central posts in {local_currency} here, not {currency}"
        )
    if isinstance(plan, SalesDocument):
        return BCRendered(plan, sales=_sales(plan, settings))
    if isinstance(plan, CustomerPayment):
        payment = BCPayment(plan.account_code, -plan.amount, external_number(plan.reference), plan.date.isoformat(),
                            f"{plan.number} payment"[:100], plan.invoice_remote_id)  # fmt: skip
        return BCRendered(plan, payment=payment)
    if isinstance(plan, BankDeposit):
        return BCRendered(plan, journal=_journal(deposit_as_journal(plan)))
    return BCRendered(plan, journal=_journal(plan))
