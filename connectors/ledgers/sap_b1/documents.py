"""The ledger-target layer's plan -> SAP Business One Service Layer bodies. Pure functions.

================================  ===========================================================
plan (connectors.ledgers.common)  SAP Business One
================================  ===========================================================
receipt, invoice                  A/R invoice (``Invoices``, a service document: lines with a
                                  G/L account, line total, VAT group and our VAT in
                                  ``TaxTotal``), then one incoming payment per money account
                                  (bank transfer to that account) applied to it
invoice on terms, order-to-       sales order (``Orders``) copied to an A/R invoice (lines with
invoice connection                ``BaseType`` 17, ``BaseEntry``, ``BaseLine``)
credit note                       A/R credit memo (``CreditNotes``); money paid back as an
                                  outgoing payment to the customer (``VendorPayments``,
                                  ``rCustomer``) applied to it
customer payment                  incoming payment applied to its invoice
bank deposit, journal             journal entry (``JournalEntries``)
================================  ===========================================================

Our reference is how everything is found again: ``NumAtCard`` of documents, ``Remarks`` of
payments, ``Reference`` of journal entries. The company holds documents in its local currency
here: the layer converts foreign documents into local journal entries at the journal's own
functional amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    deposit_as_journal,
    short_form,
)

__all__ = [
    "NUMBER_RULES",
    "B1Journal",
    "B1Payment",
    "B1Rendered",
    "B1Sales",
    "B1Settings",
    "reference_of",
    "render",
]

NUMBER_RULES = NumberRules(max_length=100)


@dataclass(frozen=True)
class B1Settings:
    """The connection settings the renderer reads (all optional)."""

    no_tax_group: str = "NONE"
    order_to_invoice: bool = False
    walk_in_name: str = "Walk-in customer"
    due_days: int = 0
    #: Defaults every line carries: a distribution rule (department) and a project.
    costing_code: str = ""
    project_code: str = ""

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> B1Settings:
        """Read the known keys of a connection's settings."""
        known = {name: settings[name] for name in cls.__dataclass_fields__ if name in settings}
        if "due_days" in known:
            known["due_days"] = int(known["due_days"] or 0)
        if "order_to_invoice" in known:
            known["order_to_invoice"] = str(known["order_to_invoice"]).lower() in ("1", "true", "yes")
        return cls(**known)


def reference_of(reference: str, length: int = 100) -> str:
    """Our reference as the field takes it (its stable short form when longer)."""
    return reference if len(reference) <= length else short_form(reference, length)


@dataclass(frozen=True)
class B1Payment:
    """A payment by transfer into (``IncomingPayments``) or out of (``VendorPayments``) a money
    account, applied to the document it settles."""

    collection: str
    account: str
    amount: Decimal
    reference: str
    date: str
    invoice_type: str = "it_Invoice"
    applies_to: int | None = None


@dataclass(frozen=True)
class B1Sales:
    """A marketing document (the customer's CardCode is added by the target)."""

    collection: str
    body: dict[str, Any]
    reference: str
    total: Decimal
    payments: tuple[B1Payment, ...] = ()
    via_order: bool = False


@dataclass(frozen=True)
class B1Journal:
    """A journal entry."""

    body: dict[str, Any]
    reference: str
    total: Decimal


@dataclass(frozen=True)
class B1Rendered:
    """What a planned document becomes."""

    plan: PlannedDocument
    sales: B1Sales | None = None
    journal: B1Journal | None = None
    payment: B1Payment | None = None


def _defaults(settings: B1Settings) -> dict[str, str]:
    """The dimension defaults of a line."""
    out = {}
    if settings.costing_code:
        out["CostingCode"] = settings.costing_code
    if settings.project_code:
        out["ProjectCode"] = settings.project_code
    return out


def _sales(doc: SalesDocument, settings: B1Settings) -> B1Sales:
    """A marketing document with our VAT on every line and the payments that settle it."""
    credit = doc.type == "credit_note"
    reference = reference_of(doc.reference)
    lines = [
        {"ItemDescription": line.description[:100], "AccountCode": line.account_code, "LineTotal": line.amount,
         "VatGroup": line.tax_code_ref or line.tax_code or settings.no_tax_group, "TaxTotal": line.tax, **_defaults(settings)}
        for line in doc.lines
    ]  # fmt: skip
    body: dict[str, Any] = {
        "DocType": "dDocument_Service",
        "DocDate": doc.date.isoformat(),
        "DocDueDate": (doc.due_date or doc.date).isoformat(),
        "TaxDate": doc.date.isoformat(),
        "NumAtCard": reference,
        "Comments": f"{doc.number} {doc.memo}".strip()[:254],
        "DocumentLines": lines,
    }
    payments = tuple(
        B1Payment("VendorPayments" if credit else "IncomingPayments", s.account_code, s.amount, reference_of(s.reference, 254),
                  doc.date.isoformat(), "it_CredItnote" if credit else "it_Invoice")
        for s in doc.settlements
    )  # fmt: skip
    via_order = settings.order_to_invoice and doc.type == "invoice" and not doc.settlements
    return B1Sales("CreditNotes" if credit else "Invoices", body, reference, doc.total, payments, via_order)


def _journal(doc: JournalPlan, settings: B1Settings) -> B1Journal:
    """A journal entry carrying our reference."""
    reference = reference_of(doc.reference)
    body = {
        "ReferenceDate": doc.date.isoformat(),
        "TaxDate": doc.date.isoformat(),
        "DueDate": doc.date.isoformat(),
        "Memo": (doc.memo or doc.reference)[:50],
        "Reference": reference,
        "JournalEntryLines": [
            {"AccountCode": line.account_code, "Debit": line.debit, "Credit": line.credit, "LineMemo": line.description[:50],
             **_defaults(settings)}
            for line in doc.lines if line.debit or line.credit
        ],
    }  # fmt: skip
    return B1Journal(body, reference, doc.total)


def render(plan: PlannedDocument, settings: B1Settings, *, local_currency: str) -> B1Rendered:
    """What ``plan`` becomes in SAP Business One (see the module docstring)."""
    currency = getattr(plan, "currency", local_currency)
    if currency != local_currency:
        raise Permanent(
            f"document {plan.reference}: the company holds documents in {local_currency} here, not {currency}"
        )
    if isinstance(plan, SalesDocument):
        return B1Rendered(plan, sales=_sales(plan, settings))
    if isinstance(plan, CustomerPayment):
        applies = int(plan.invoice_remote_id) if plan.invoice_remote_id.isdigit() else None
        payment = B1Payment("IncomingPayments", plan.account_code, plan.amount, reference_of(plan.reference, 254),
                            plan.date.isoformat(), "it_Invoice", applies)  # fmt: skip
        return B1Rendered(plan, payment=payment)
    if isinstance(plan, BankDeposit):
        return B1Rendered(plan, journal=_journal(deposit_as_journal(plan), settings))
    return B1Rendered(plan, journal=_journal(plan, settings))
