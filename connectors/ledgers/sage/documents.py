"""The ledger-target layer's plan -> Sage Business Cloud Accounting (API v3.1) steps. Pure functions.

================================  ===========================================================
plan (connectors.ledgers.common)  Sage resources, in order (each one a *step*)
================================  ===========================================================
receipt, invoice                  ``sales_invoices`` (our number as ``reference``, our tax as
                                  ``tax_amount`` on every line), then one ``contact_payments``
                                  ``CUSTOMER_RECEIPT`` per money account, allocated to it
credit note                       ``sales_credit_notes``, then one ``CUSTOMER_REFUND`` per money
                                  account allocated to it; with no money moving and a known
                                  invoice, a ``contact_allocations`` setting the credit against
                                  the invoice (the two amounts sum to zero)
customer payment                  ``contact_payments`` ``CUSTOMER_RECEIPT`` allocated to its
                                  invoice
bank deposit                      ``bank_transfers`` of the deposit from the clearing bank
                                  account to the bank, and an ``other_payments``
                                  ``OTHER_PAYMENT`` from the clearing account for the fees
journal                           ``journals`` in the base currency (anything else)
================================  ===========================================================

Invoices, not Sage's quick entries: a quick entry holds one ledger account and one tax rate, and a
sale has several lines of several rates.

Exactly once. Each step carries ``idempotency_id``: 32 hex characters derived from the posting's
idempotency key and the step's name, the same on every attempt, so Sage keeps one resource per
step however often a step is sent. A payment names its invoice only once the invoice's id is known,
so the steps are rendered one at a time (:func:`step_body`).
"""

from __future__ import annotations

import hashlib
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
)

__all__ = [
    "NUMBER_RULES",
    "SageAccounts",
    "SageStep",
    "idempotency_id",
    "plan_steps",
    "step_body",
]

# Sage's ``reference`` on invoices and payments holds 25 characters.
NUMBER_RULES = NumberRules(max_length=25, allowed=r"[A-Za-z0-9#/._:\- ]+")
ZERO = Decimal(0)


def idempotency_id(key: str, step: str) -> str:
    """The 32-hex ``idempotency_id`` of one step of one posting (stable across attempts)."""
    return hashlib.sha256(f"{key}\n{step}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SageAccounts:
    """The business's ids the renderer needs: ledger account id and bank account id per our code."""

    ledger_ids: Mapping[str, str]
    bank_ids: Mapping[str, str]
    no_tax_rate_id: str = ""

    def ledger(self, code: str, ref: str = "") -> str:
        """Sage's ledger account id for our account (the stored ref, else found by nominal code)."""
        found = ref or self.ledger_ids.get(code, "")
        if not found:
            raise Permanent(f"sage: no ledger account with nominal code {code}: refresh the chart")
        return found

    def bank(self, code: str) -> str:
        """Sage's bank account id of the bank account whose ledger account has our code, or ''."""
        return self.bank_ids.get(code, "")


@dataclass(frozen=True)
class SageStep:
    """One resource to create: its collection (``sales_invoices``), wrapper (``sales_invoice``),
    name within the posting (``doc``, ``pay1``, ``alloc``, ``fees``) and the data it needs."""

    name: str
    collection: str
    wrapper: str
    reference: str
    amount: Decimal
    data: Mapping[str, Any]


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def plan_steps(plan: PlannedDocument, accounts: SageAccounts, contact_id: str) -> list[SageStep]:
    """The steps that post ``plan`` (see the module docstring); a payout whose accounts are not
    Sage bank accounts, or that moves money into the clearing account, becomes a journal."""
    if isinstance(plan, SalesDocument):
        return _sales_steps(plan, accounts, contact_id)
    if isinstance(plan, CustomerPayment):
        bank = accounts.bank(plan.account_code)
        if not bank:
            raise Permanent(f"sage: account {plan.account_code} is not a bank account in Sage")
        data = {"transaction_type_id": "CUSTOMER_RECEIPT", "contact_id": contact_id, "bank_account_id": bank,
                "date": plan.date.isoformat(), "total_amount": plan.amount, "reference": plan.number,
                "invoice_id": plan.invoice_remote_id}  # fmt: skip
        return [SageStep("doc", "contact_payments", "contact_payment", plan.number, plan.amount, data)]
    if isinstance(plan, BankDeposit):
        steps = _deposit_steps(plan, accounts)
        if steps:
            return steps
        plan = deposit_as_journal(plan)
    return [_journal_step(plan, accounts)]


def _sales_steps(plan: SalesDocument, accounts: SageAccounts, contact_id: str) -> list[SageStep]:
    credit = plan.type == "credit_note"
    lines = []
    for line in plan.lines:
        lines.append(
            {"description": line.description[:200], "ledger_account_id": accounts.ledger(line.account_code, line.account_ref),
             "quantity": Decimal(1), "unit_price": line.amount, "net_amount": line.amount,
             "tax_rate_id": line.tax_code_ref or line.tax_code or accounts.no_tax_rate_id,
             "tax_amount": line.tax, "total_amount": line.gross, "unit_price_includes_tax": False}
        )  # fmt: skip
    head: dict[str, Any] = {"contact_id": contact_id, "date": plan.date.isoformat(), "reference": plan.number,
                            "notes": (plan.memo or plan.reference)[:2000], "net_amount": plan.subtotal,
                            "tax_amount": plan.tax_total, "total_amount": plan.total}  # fmt: skip
    if credit:
        head["credit_note_lines"] = lines
    else:
        head["invoice_lines"] = lines
        if plan.due_date:
            head["due_date"] = plan.due_date.isoformat()
    steps = [
        SageStep(
            "doc",
            "sales_credit_notes" if credit else "sales_invoices",
            "sales_credit_note" if credit else "sales_invoice",
            plan.number,
            plan.total,
            head,
        )
    ]
    for n, settlement in enumerate(plan.settlements, start=1):
        bank = accounts.bank(settlement.account_code)
        if not bank:
            raise Permanent(f"sage: account {settlement.account_code} is not a bank account in Sage")
        data = {"transaction_type_id": "CUSTOMER_REFUND" if credit else "CUSTOMER_RECEIPT", "contact_id": contact_id,
                "bank_account_id": bank, "date": plan.date.isoformat(), "total_amount": settlement.amount,
                "reference": settlement.reference}  # fmt: skip
        steps.append(SageStep(f"pay{n}", "contact_payments", "contact_payment", settlement.reference,
                              settlement.amount, data))  # fmt: skip
    if credit and not plan.settlements and plan.related_remote_id:
        data = {"transaction_type_id": "CUSTOMER_ALLOCATION", "contact_id": contact_id, "date": plan.date.isoformat(),
                "invoice_id": plan.related_remote_id}  # fmt: skip
        steps.append(
            SageStep("alloc", "contact_allocations", "contact_allocation", plan.number, plan.total, data)
        )
    return steps


def _deposit_steps(plan: BankDeposit, accounts: SageAccounts) -> list[SageStep]:
    """A transfer of the deposit and an other payment of the fees, or [] when they cannot say it."""
    clearing = plan.from_clearing()
    fees = [ln for ln in plan.lines if ln.role not in ("clearing", "bank")]
    if clearing is None or plan.amount <= 0 or any(ln.amount >= 0 for ln in fees):
        return []
    source, target = accounts.bank(clearing.account_code), accounts.bank(plan.bank_code)
    if not source or not target:
        return []
    steps = [
        SageStep("doc", "bank_transfers", "bank_transfer", plan.number, plan.amount,
                 {"from_bank_account_id": source, "to_bank_account_id": target, "date": plan.date.isoformat(),
                  "amount": plan.amount, "reference": plan.number, "description": (plan.memo or "Payout")[:200]})
    ]  # fmt: skip
    if fees:
        total = sum((-ln.amount for ln in fees), ZERO)
        payment_lines = [{"ledger_account_id": accounts.ledger(ln.account_code, ln.account_ref), "total_amount": -ln.amount,
                          "net_amount": -ln.amount, "tax_amount": ZERO, "details": ln.description[:200],
                          "tax_rate_id": accounts.no_tax_rate_id} for ln in fees]  # fmt: skip
        steps.append(
            SageStep("fees", "other_payments", "other_payment", f"{plan.number}/fees", total,
                     {"transaction_type_id": "OTHER_PAYMENT", "date": plan.date.isoformat(), "total_amount": total,
                      "bank_account_id": source, "reference": f"{plan.number}/fees", "payment_lines": payment_lines})
        )  # fmt: skip
    return steps


def _journal_step(plan: JournalPlan, accounts: SageAccounts) -> SageStep:
    lines = [
        {"ledger_account_id": accounts.ledger(ln.account_code, ln.account_ref), "debit": _money(ln.debit),
         "credit": _money(ln.credit), "details": ln.description[:200]}
        for ln in plan.lines
    ]  # fmt: skip
    data = {"date": plan.date.isoformat(), "reference": plan.number,
            "description": (plan.memo or plan.reference)[:200], "journal_lines": lines}  # fmt: skip
    return SageStep("doc", "journals", "journal", plan.number, plan.total, data)


def step_body(step: SageStep, key: str, made: Mapping[str, str]) -> dict[str, Any]:
    """The JSON body of a step, with its ``idempotency_id``; ``made`` holds the ids of the steps
    already done (``doc`` -> the invoice or credit note a payment or allocation settles)."""
    data = dict(step.data)
    invoice_id = str(data.pop("invoice_id", "") or "")
    if step.collection == "contact_payments":
        artefact = made.get("doc", "") if step.name != "doc" else invoice_id
        if artefact:
            data["allocated_artefacts"] = [{"artefact_id": artefact, "amount": step.amount}]
    if step.collection == "contact_allocations":
        data["allocated_artefacts"] = [
            {"artefact_id": invoice_id, "amount": step.amount},
            {"artefact_id": made["doc"], "amount": -step.amount},
        ]
    data["idempotency_id"] = idempotency_id(key, step.name)
    return {step.wrapper: data}
