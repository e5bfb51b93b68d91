"""The ledger-target layer's plan -> FreshBooks documents, and what FreshBooks books for them. Pure.

FreshBooks' invoices carry no ledger account: FreshBooks books every invoice line to its sales
account, the invoice total to its accounts receivable, and a payment to its payments account. The
connection names those three accounts (our codes, ``sales_account``, ``receivable_account``,
``payments_account``). So a sale is posted as

1. an **invoice** (``invoice_number`` = our number, one line per journal line, qty 1 at the line's
   net amount, ``taxName1`` / ``taxAmount1`` = the tax's name and *percentage*);
2. a **payment** per money account (``note`` = ``<number>/<n>``), into FreshBooks' payments account;
3. an **adjustment journal entry** named ``<number>/adj`` that moves exactly the difference between
   what FreshBooks booked (:func:`booked_by_freshbooks`) and our journal to the journal's accounts
   (revenue lines from the sales account to their own accounts, the money from the payments
   account to the clearing account). Nothing is moved when there is no difference.

Anything else (a credit note, a payout, a dispute) is one journal entry named by our number.

Tax. ``taxAmount1`` is a percentage and FreshBooks computes each line's tax itself, rounded to the
cent. Where its result differs from our tax, the line is split into a taxed part whose tax rounds
to ours and an untaxed ``(rounding)`` remainder (24.99 VAT-inclusive at 20 %: net 20.83 and our tax
4.16, but 20 % of 20.83 is 4.17; so 20.80 taxed, whose tax is 4.16, and 0.03 untaxed), so the
ledger's tax is exactly ours and the net is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.base import Permanent
from connectors.ledgers.common import (
    BankDeposit,
    CustomerPayment,
    JournalLinePlan,
    JournalPlan,
    NumberRules,
    PlannedDocument,
    SalesDocument,
    deposit_as_journal,
)

__all__ = [
    "NUMBER_RULES",
    "FreshBooksAccounts",
    "FreshBooksPlan",
    "adjustment_lines",
    "booked_by_freshbooks",
    "freshbooks_tax",
    "invoice_lines",
    "journal_body",
    "plan_freshbooks",
    "split_for_tax",
]

NUMBER_RULES = NumberRules(max_length=30, allowed=r"[A-Za-z0-9#/._\-]+")
CENT = Decimal("0.01")
ZERO = Decimal(0)


def freshbooks_tax(amount: Decimal, percentage: Decimal) -> Decimal:
    """The tax FreshBooks computes on a line: ``amount`` x ``percentage`` %, to the cent."""
    return (amount * percentage / 100).quantize(CENT, ROUND_HALF_UP)


def split_for_tax(amount: Decimal, tax: Decimal, percentage: Decimal) -> tuple[Decimal, Decimal]:
    """(taxed part, untaxed remainder) of a line so that FreshBooks' tax on the taxed part is our
    ``tax``: (amount, 0) when it already is. The remainder is negative when our tax is more than
    the rate gives on the whole line (a penny of a document's tax allocated to it). Raises
    Permanent when no part gives our tax."""
    if freshbooks_tax(amount, percentage) == tax:
        return amount, ZERO
    if not percentage:
        raise Permanent(f"freshbooks: tax {tax} on a line whose tax rate is 0 cannot be sent")
    guess = (tax * 100 / percentage).quantize(CENT, ROUND_HALF_UP)
    for step in range(0, 200):
        for candidate in (guess - step * CENT, guess + step * CENT):
            if freshbooks_tax(candidate, percentage) == tax:
                return candidate, amount - candidate
    raise Permanent(f"freshbooks: no part of {amount} carries tax {tax} at {percentage} %")


@dataclass(frozen=True)
class FreshBooksAccounts:
    """Our codes of the accounts FreshBooks books to, and the journal-entry sub-account id per code."""

    sales: str
    receivable: str
    payments: str
    sub_accounts: Mapping[str, str]
    tax_names: Mapping[str, tuple[str, Decimal]]  # our tax code ref -> (FreshBooks tax name, percentage)

    def sub_account(self, code: str) -> str:
        """FreshBooks' sub-account id for a journal line on our account."""
        found = self.sub_accounts.get(code, "")
        if not found:
            raise Permanent(f"freshbooks: no account numbered {code}: refresh the chart")
        return found


@dataclass(frozen=True)
class FreshBooksPlan:
    """What to create: an invoice (with its payments and adjustment), a payment, or a journal."""

    kind: str  # invoice | payment | journal
    number: str
    date: str
    currency: str
    invoice: Mapping[str, Any] | None
    payments: tuple[tuple[str, Decimal], ...]  # (note, amount)
    invoice_id: str  # for a payment: the invoice it pays
    journal: JournalPlan | None
    #: What our journal holds per account (tax excluded), for the adjustment.
    expected: Mapping[str, Decimal]


def invoice_lines(plan: SalesDocument, accounts: FreshBooksAccounts) -> list[dict[str, Any]]:
    """Invoice lines (qty 1 at the net amount), each split where FreshBooks' tax would differ."""
    lines: list[dict[str, Any]] = []
    for line in plan.lines:
        ref = line.tax_code_ref or line.tax_code
        name, percentage = accounts.tax_names.get(ref, ("", ZERO)) if ref else ("", ZERO)
        if line.tax and not name:
            raise Permanent(f"freshbooks: tax code {ref!r} is not a FreshBooks tax: refresh the chart")
        taxed, rest = split_for_tax(line.amount, line.tax, percentage) if name else (ZERO, line.amount)
        base = {"name": line.description[:100] or line.role, "qty": Decimal(1)}
        if name and (taxed or line.tax):
            lines.append({**base, "unit_cost": {"amount": taxed, "code": plan.currency}, "taxName1": name,
                          "taxAmount1": percentage})  # fmt: skip
        if rest:
            suffix = " (rounding)" if name else ""
            lines.append({**base, "name": (line.description[:88] or line.role) + suffix,
                          "unit_cost": {"amount": rest, "code": plan.currency}})  # fmt: skip
    return lines


def plan_freshbooks(
    plan: PlannedDocument, accounts: FreshBooksAccounts, customer_id: str, expected: Mapping[str, Decimal]
) -> FreshBooksPlan:
    """The FreshBooks plan of a layer plan (see the module docstring)."""
    if isinstance(plan, SalesDocument) and plan.type != "credit_note":
        invoice: dict[str, Any] = {"customerid": customer_id, "create_date": plan.date.isoformat(), "invoice_number": plan.number,
                   "currency_code": plan.currency, "notes": (plan.memo or plan.reference)[:500],
                   "lines": invoice_lines(plan, accounts)}  # fmt: skip
        if plan.due_date:
            invoice["due_offset_days"] = (plan.due_date - plan.date).days
        payments = tuple((s.reference, s.amount) for s in plan.settlements)
        return FreshBooksPlan("invoice", plan.number, plan.date.isoformat(), plan.currency, invoice, payments, "",
                              None, expected)  # fmt: skip
    if isinstance(plan, CustomerPayment) and plan.invoice_remote_id:
        return FreshBooksPlan("payment", plan.number, plan.date.isoformat(), plan.currency, None,
                              ((plan.number, plan.amount),), plan.invoice_remote_id, None, expected)  # fmt: skip
    if isinstance(plan, CustomerPayment):
        # A payment of no known invoice: the money against receivables, as a journal entry.
        lines = tuple(JournalLinePlan("payment", code, "", max(a, ZERO), max(-a, ZERO), plan.memo or plan.number)
                      for code, a in expected.items())  # fmt: skip
        plan = JournalPlan(
            plan.number, plan.reference, plan.date, plan.currency, None, lines, plan.memo, None
        )
    if isinstance(plan, BankDeposit):
        plan = deposit_as_journal(plan)
    if not isinstance(plan, JournalPlan):
        raise Permanent(f"freshbooks: {type(plan).__name__} has no FreshBooks form")
    return FreshBooksPlan(
        "journal", plan.number, plan.date.isoformat(), plan.currency, None, (), "", plan, expected
    )


def booked_by_freshbooks(
    accounts: FreshBooksAccounts,
    invoice_lines_net: Iterable[Decimal],
    invoice_total: Decimal,
    payments: Iterable[Decimal],
    paid_invoice: bool,
) -> dict[str, Decimal]:
    """What FreshBooks books (debit positive, tax left out) for an invoice's net lines and total
    and the payments on it; for a payment alone (``paid_invoice`` False and no lines), the payment
    against receivables."""
    booked: dict[str, Decimal] = {}

    def add(code: str, amount: Decimal) -> None:
        booked[code] = booked.get(code, ZERO) + amount

    for net in invoice_lines_net:
        add(accounts.sales, -net)
    if paid_invoice:
        add(accounts.receivable, invoice_total)
    for amount in payments:
        add(accounts.payments, amount)
        add(accounts.receivable, -amount)
    return {k: v for k, v in booked.items() if v}


def adjustment_lines(
    expected: Mapping[str, Decimal], booked: Mapping[str, Decimal]
) -> list[tuple[str, Decimal]]:
    """(account, signed amount) moving FreshBooks' booking to our journal; [] when they agree."""
    codes = sorted(set(expected) | set(booked))
    moves = [(code, expected.get(code, ZERO) - booked.get(code, ZERO)) for code in codes]
    moves = [(code, amount) for code, amount in moves if amount]
    if sum((a for _, a in moves), ZERO) != 0:
        raise Permanent("freshbooks: the adjustment does not balance (tax differs from the journal)")
    return moves


def journal_body(
    name: str,
    day: str,
    currency: str,
    description: str,
    lines: Iterable[tuple[str, Decimal]],
    accounts: FreshBooksAccounts,
) -> dict[str, Any]:
    """A ``journal_entry`` body from (account, signed amount) lines."""
    details = []
    for code, amount in lines:
        side = "debit" if amount > 0 else "credit"
        details.append(
            {"sub_accountid": accounts.sub_account(code), side: abs(amount), "description": f"{name} {code}"}
        )
    return {"journal_entry": {"name": name, "user_entered_date": day, "currency_code": currency,
                              "description": description[:500] or name, "details": details}}  # fmt: skip
