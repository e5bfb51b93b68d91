"""The ledger-target layer's plan in Odoo's terms. Pure functions over :class:`OdooFacts`.

=========================  ==================================================================
plan                       Odoo records
=========================  ==================================================================
sales receipt / invoice    ``account.move`` ``out_invoice`` (our number in ``ref``), one
                           ``account.payment`` (inbound) per money account, each reconciled to it
credit note                ``out_refund``; money paid back as outbound payments reconciled to it,
                           or, with no money, the refund reconciled to the invoice it credits
customer payment           ``account.payment`` (inbound) reconciled to the invoice it pays
deposit, journal           ``account.move`` ``entry`` in the miscellaneous journal
=========================  ==================================================================

Tax. Lines go out net of tax (``price_unit`` = our net amount, quantity 1 unless the source's
quantity and unit price give it exactly) with the price-excluded version of the mapped tax, so
Odoo's base is ours; :attr:`OdooMove.taxes` holds our tax per tax, which the poster writes on the
draft's tax line where Odoo's own computation differs (per-document rounding, a rounded rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from connectors.ledgers.common import (
    BankDeposit,
    CustomerIdentity,
    CustomerPayment,
    JournalPlan,
    PlannedDocument,
    SalesDocument,
    SalesLine,
    deposit_as_journal,
)
from connectors.ledgers.common.numbers import NumberRules
from connectors.ledgers.odoo.facts import OdooFacts

__all__ = ["NUMBER_RULES", "OdooMove", "OdooPayment", "OdooPlan", "render"]

ZERO = Decimal(0)
#: ``ref`` is a free Char; a short number keeps Odoo's lists readable.
NUMBER_RULES = NumberRules(max_length=64, allowed=r"[A-Za-z0-9#/._:\- ]+")


@dataclass(frozen=True)
class OdooMove:
    """An ``account.move`` to create: ``values`` without the partner, which the poster resolves."""

    move_type: Literal["out_invoice", "out_refund", "entry"]
    ref: str
    values: dict[str, Any]
    #: Our tax per Odoo tax id, signed as Odoo's ``amount_currency`` (credit negative).
    taxes: dict[int, Decimal] = field(default_factory=dict)
    total: Decimal = ZERO
    partner_lines: tuple[int, ...] = ()  # entry lines (by position) that carry the customer


@dataclass(frozen=True)
class OdooPayment:
    """An ``account.payment`` to create (our reference in ``ref``/``memo``)."""

    reference: str
    journal_id: int
    amount: Decimal
    payment_type: Literal["inbound", "outbound"]
    currency_id: int
    date: str


@dataclass(frozen=True)
class OdooPlan:
    """What one posting becomes in Odoo."""

    planned: PlannedDocument
    customer: CustomerIdentity | None
    move: OdooMove | None
    payments: tuple[OdooPayment, ...] = ()
    #: The invoice a payment or a credit note is reconciled with: Odoo's id, or our number.
    reconcile_id: str = ""
    reconcile_number: str = ""


def _quantity_and_price(line: SalesLine) -> tuple[Decimal, Decimal]:
    if line.quantity and line.unit_price is not None and line.quantity * line.unit_price == line.amount:
        return line.quantity, line.unit_price
    return Decimal(1), line.amount


def _sales_move(plan: SalesDocument, facts: OdooFacts) -> OdooMove:
    """An invoice or credit note: net lines with the price-excluded tax, our tax per tax."""
    refund = plan.type == "credit_note"
    sign = Decimal(1) if refund else Decimal(-1)
    lines = []
    taxes: dict[int, Decimal] = {}
    for line in plan.lines:
        quantity, price = _quantity_and_price(line)
        tax_id = facts.sales_tax(line.tax_code_ref)
        vals: dict[str, Any] = {
            "name": line.description[:200] or line.role,
            "account_id": facts.account_id(line.account_code, line.account_ref),
            "quantity": quantity,
            "price_unit": price,
            "tax_ids": [(6, 0, [tax_id] if tax_id else [])],
        }
        lines.append((0, 0, vals))
        if tax_id:
            taxes[tax_id] = taxes.get(tax_id, ZERO) + sign * line.tax
    values: dict[str, Any] = {
        "move_type": "out_refund" if refund else "out_invoice",
        "ref": plan.number,
        "invoice_date": plan.date.isoformat(),
        "date": plan.date.isoformat(),
        "currency_id": facts.currency_ids.get(plan.currency) or _missing_currency(plan.currency),
        "narration": plan.memo or plan.reference,
        "payment_reference": plan.number,
        "invoice_line_ids": lines,
    }
    if plan.due_date:
        values["invoice_date_due"] = plan.due_date.isoformat()
    journal = facts.journal_of("sale")
    if journal:
        values["journal_id"] = journal
    return OdooMove(values["move_type"], plan.number, values, taxes, plan.total)


def _missing_currency(code: str) -> int:
    from connectors.base import Permanent

    raise Permanent(f"odoo: currency {code} is not active in Odoo; activate it (Accounting > Settings)",
                    vendor_code="currency")  # fmt: skip


def _entry(plan: JournalPlan, facts: OdooFacts) -> OdooMove:
    """A journal entry (in the company currency, or converted at the document's rate)."""
    lines: list[tuple[int, int, dict[str, Any]]] = []
    partner_lines = []
    foreign = plan.currency != facts.currency
    if foreign and not plan.exchange_rate:
        _missing_currency(f"{plan.currency} (no exchange rate on the document)")
    converted = _converted(plan, facts.places) if foreign else []
    for n, line in enumerate(plan.lines):
        vals: dict[str, Any] = {"name": line.description[:200] or line.role,
                                "account_id": facts.account_id(line.account_code, line.account_ref),
                                "debit": line.debit, "credit": line.credit}  # fmt: skip
        if foreign:
            vals.update(debit=max(converted[n], ZERO), credit=max(-converted[n], ZERO),
                        amount_currency=line.debit - line.credit,
                        currency_id=facts.currency_ids.get(plan.currency) or _missing_currency(plan.currency))  # fmt: skip
        lines.append((0, 0, vals))
        if line.role == "receivable":
            partner_lines.append(n)
    values: dict[str, Any] = {"move_type": "entry", "ref": plan.number, "date": plan.date.isoformat(),
                              "narration": plan.memo or plan.reference, "line_ids": lines}  # fmt: skip
    journal = facts.journal_of("general")
    if journal:
        values["journal_id"] = journal
    return OdooMove("entry", plan.number, values, {}, plan.total, tuple(partner_lines))


def _converted(plan: JournalPlan, places: int) -> list[Decimal]:
    """Each line's signed amount in the company currency at the document's rate, the rounding
    difference on the largest line so the entry balances."""
    rate = plan.exchange_rate or Decimal(1)
    quantum = Decimal(1).scaleb(-places)
    amounts = [((ln.debit - ln.credit) * rate).quantize(quantum) for ln in plan.lines]
    if amounts:
        largest = max(range(len(amounts)), key=lambda i: abs(amounts[i]))
        amounts[largest] -= sum(amounts, ZERO)
    return amounts


def render(planned: PlannedDocument, facts: OdooFacts) -> OdooPlan:
    """The Odoo records for a planned document (see the module docstring)."""
    if isinstance(planned, SalesDocument):
        move = _sales_move(planned, facts)
        payments = tuple(
            OdooPayment(
                reference=s.reference,
                journal_id=facts.money_journal(facts.account_id(s.account_code, s.account_ref)),
                amount=s.amount,
                payment_type="outbound" if planned.type == "credit_note" else "inbound",
                currency_id=move.values["currency_id"],
                date=planned.date.isoformat(),
            )
            for s in planned.settlements
            if s.amount
        )
        allocate = planned.type == "credit_note" and not payments
        return OdooPlan(planned, planned.customer, move, payments,
                        planned.related_remote_id if allocate else "", planned.related_number if allocate else "")  # fmt: skip
    if isinstance(planned, CustomerPayment):
        payment = OdooPayment(
            reference=planned.number,
            journal_id=facts.money_journal(facts.account_id(planned.account_code, planned.account_ref)),
            amount=planned.amount,
            payment_type="inbound",
            currency_id=facts.currency_ids.get(planned.currency) or _missing_currency(planned.currency),
            date=planned.date.isoformat(),
        )
        return OdooPlan(
            planned, planned.customer, None, (payment,), planned.invoice_remote_id, planned.invoice_number
        )
    journal = deposit_as_journal(planned) if isinstance(planned, BankDeposit) else planned
    return OdooPlan(planned, journal.customer, _entry(journal, facts))
