"""PostingDocument -> the vendor-neutral document a ledger should hold. Pure functions.

Every accounting target renders the same plan in its own terms, so the rules that decide what the
books record live here once:

=====================  ======================================================================
plan                   when
=====================  ======================================================================
:class:`SalesDocument` a sale, invoice, refund, daily summary or reversal whose lines are all
                       sales lines (revenue, returns, discount, shipping, gift card, tip,
                       rounding) plus tax and the money (clearing, bank) or receivable lines
                       that settle it. ``type`` is ``receipt`` (paid at once into one money
                       account), ``invoice`` (a receivable stays open, or several money
                       accounts pay it), ``credit_note`` (money going back, or a reversal).
:class:`CustomerPayment` a payment of an invoice (money line against the receivable).
:class:`BankDeposit`   a payout: the clearing balance moved to the bank, fees and adjustments
                       taken from it, so the bank line is the real deposit.
:class:`JournalPlan`   anything else (disputes, drawer counts, payouts of several currencies).
=====================  ======================================================================

Tax. Every sales line carries its tax code (a discount line carries the code of the line it
reduces, so the ledger never taxes the full price) and its share of **our** tax: the journal's tax
lines are allocated to the lines of their code in proportion to their amounts, the remainder on
the largest line. Targets send these amounts explicitly where the vendor accepts them, so the
ledger records exactly our tax.

Currency. A document is planned in its own currency with its exchange rate when the target can
hold that currency; otherwise (Xero manual journals, a ledger without multi-currency) every line is
converted with the journal's own functional amounts, which balance by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from connectors.base import Permanent, PostingDocument, PostingLine
from connectors.ledgers.common.customers import CustomerIdentity, customer_identity
from connectors.ledgers.common.numbers import NumberRules, document_number
from integrator import money

__all__ = [
    "MONEY_ROLES",
    "SALES_ROLES",
    "BankDeposit",
    "CustomerPayment",
    "DepositLine",
    "JournalLinePlan",
    "JournalPlan",
    "PlanOptions",
    "PlannedDocument",
    "SalesDocument",
    "SalesLine",
    "Settlement",
    "TaxTotal",
    "allocate",
    "deposit_as_journal",
    "plan_document",
]

ZERO = Decimal(0)
MONEY_ROLES = frozenset({"clearing", "bank"})
SALES_ROLES = frozenset({"revenue", "returns", "discount", "shipping", "gift_card", "tip", "rounding"})
SALES_KINDS = frozenset({"sale", "invoice", "refund", "summary", "reversal"})


@dataclass(frozen=True)
class PlanOptions:
    """What the target can hold, from its capabilities and the connection's settings."""

    functional_currency: str
    #: Currencies the ledger holds documents in (empty: only the functional currency).
    currencies: frozenset[str] = frozenset()
    #: Whether manual journals may be in a foreign currency (Xero: no; QuickBooks: yes).
    foreign_journals: bool = True
    #: Whether a receipt may be deposited into one money account only (QuickBooks SalesReceipt):
    #: a sale paid into several becomes an invoice with one payment per account.
    receipt_single_account: bool = True
    #: Whether money going back may come from one account only (QuickBooks RefundReceipt): a credit
    #: note repaid from several becomes a journal.
    refund_single_account: bool = False
    numbers: NumberRules = field(default_factory=NumberRules)
    walk_in_name: str = "Walk-in customer"
    default_due_days: int = 0


@dataclass(frozen=True)
class SalesLine:
    """One line of an invoice, receipt or credit note, signed as the customer sees it: positive for
    what the customer pays for (or is credited for, on a credit note), negative for a discount or a
    gift card redeemed. ``amount`` is net of tax; ``tax`` is our tax on it."""

    role: str
    account_code: str
    account_ref: str
    description: str
    amount: Decimal
    tax: Decimal
    tax_code: str
    tax_code_ref: str
    tax_rate: Decimal | None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    item_ref: str = ""

    @property
    def gross(self) -> Decimal:
        """Amount with its tax."""
        return self.amount + self.tax


@dataclass(frozen=True)
class TaxTotal:
    """Our tax of one code on the document: the taxable base and the tax (signed like the lines)."""

    tax_code: str
    tax_code_ref: str
    rate: Decimal | None
    base: Decimal
    amount: Decimal
    account_code: str
    account_ref: str


@dataclass(frozen=True)
class Settlement:
    """Money paid into (or, on a credit note, out of) one money account: ``reference`` is
    ``<number>/<n>`` so a retry can tell which settlements the ledger already holds."""

    account_code: str
    account_ref: str
    amount: Decimal
    reference: str


@dataclass(frozen=True)
class SalesDocument:
    """An invoice, receipt or credit note with its lines, tax and settlements."""

    type: Literal["receipt", "invoice", "credit_note"]
    number: str
    reference: str
    date: date
    due_date: dt.date | None
    currency: str
    exchange_rate: Decimal | None
    customer: CustomerIdentity
    lines: tuple[SalesLine, ...]
    taxes: tuple[TaxTotal, ...]
    settlements: tuple[Settlement, ...]
    tax_inclusive: bool
    memo: str
    related_remote_id: str = ""
    related_number: str = ""

    @property
    def subtotal(self) -> Decimal:
        """Sum of the lines net of tax."""
        return sum((ln.amount for ln in self.lines), ZERO)

    @property
    def tax_total(self) -> Decimal:
        """Sum of our tax."""
        return sum((t.amount for t in self.taxes), ZERO)

    @property
    def total(self) -> Decimal:
        """What the document comes to, tax included."""
        return self.subtotal + self.tax_total

    @property
    def paid(self) -> Decimal:
        """What the settlements add up to."""
        return sum((s.amount for s in self.settlements), ZERO)


@dataclass(frozen=True)
class CustomerPayment:
    """A customer's payment into a money account, applied to the invoice it pays (when known)."""

    number: str
    reference: str
    date: date
    currency: str
    exchange_rate: Decimal | None
    customer: CustomerIdentity
    account_code: str
    account_ref: str
    amount: Decimal
    invoice_remote_id: str
    invoice_number: str
    memo: str


@dataclass(frozen=True)
class DepositLine:
    """A line of a deposit: money in from a clearing account (positive) or out to fees and
    adjustments (negative)."""

    role: str
    account_code: str
    account_ref: str
    amount: Decimal
    description: str


@dataclass(frozen=True)
class BankDeposit:
    """A payout: ``amount`` reaches (or, negative, leaves) the bank account; the lines explain it."""

    number: str
    reference: str
    date: date
    currency: str
    exchange_rate: Decimal | None
    bank_code: str
    bank_ref: str
    amount: Decimal
    lines: tuple[DepositLine, ...]
    memo: str

    def from_clearing(self) -> DepositLine | None:
        """The single clearing line when the deposit moves one clearing account's money."""
        clearing = [ln for ln in self.lines if ln.role in MONEY_ROLES]
        accounts = {(ln.account_code, ln.account_ref) for ln in clearing}
        if len(accounts) != 1:
            return None
        first = clearing[0]
        total = sum((ln.amount for ln in clearing), ZERO)
        return DepositLine(first.role, first.account_code, first.account_ref, total, first.description)


@dataclass(frozen=True)
class JournalLinePlan:
    """A journal line: one positive side, optional tax code, optional customer (A/R lines)."""

    role: str
    account_code: str
    account_ref: str
    debit: Decimal
    credit: Decimal
    description: str
    tax_code: str = ""
    tax_code_ref: str = ""


@dataclass(frozen=True)
class JournalPlan:
    """A journal; ``converted`` when it was turned into the functional currency for the target."""

    number: str
    reference: str
    date: date
    currency: str
    exchange_rate: Decimal | None
    lines: tuple[JournalLinePlan, ...]
    memo: str
    customer: CustomerIdentity | None
    converted: bool = False

    @property
    def total(self) -> Decimal:
        """The debit side."""
        return sum((ln.debit for ln in self.lines), ZERO)


PlannedDocument = SalesDocument | CustomerPayment | BankDeposit | JournalPlan


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def allocate(share: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """``share`` spread over ``weights`` in proportion, rounded to the currency, the remainder on the
    largest weight, so the parts add up to ``share`` exactly."""
    if not weights:
        return []
    base = sum(weights, ZERO)
    parts = [money.quantize(share * w / base, currency) if base else ZERO for w in weights]
    largest = max(range(len(weights)), key=lambda i: abs(weights[i]))
    parts[largest] += share - sum(parts, ZERO)
    return parts


def _checked_lines(doc: PostingDocument) -> list[PostingLine]:
    """The non-zero lines, each with one positive side; the document must balance."""
    lines = [ln for ln in doc.lines if ln.debit or ln.credit]
    for line in lines:
        if line.debit < 0 or line.credit < 0 or (line.debit > 0 and line.credit > 0):
            raise Permanent(
                f"line {line.account_code} ({line.role}) of {doc.reference} must have one positive side"
            )
    if not lines:
        raise Permanent(f"document {doc.reference} has no lines")
    single_currency = len({ln.currency or doc.currency for ln in lines}) == 1
    if single_currency and sum((ln.debit for ln in lines), ZERO) != sum((ln.credit for ln in lines), ZERO):
        raise Permanent(f"document {doc.reference} does not balance")
    return lines


def _in_functional(doc: PostingDocument, lines: list[PostingLine]) -> list[PostingLine]:
    """The lines with their functional amounts as their amounts (for a target that cannot hold the
    document's currency). The journal's functional amounts balance, so the converted lines do."""
    converted = []
    for line in lines:
        debit, credit = line.functional()
        converted.append(
            PostingLine(
                account_code=line.account_code,
                debit=debit,
                credit=credit,
                role=line.role,
                description=line.description,
                tax_code=line.tax_code,
                tax_rate=line.tax_rate,
                item_ref=line.item_ref,
                quantity=line.quantity,
                unit_price=None,
                account_ref=line.account_ref,
                tax_code_ref=line.tax_code_ref,
            )
        )
    if sum((ln.debit for ln in converted), ZERO) != sum((ln.credit for ln in converted), ZERO):
        raise Permanent(f"document {doc.reference} does not balance in {doc.functional_currency}")
    return [ln for ln in converted if ln.debit or ln.credit]


def _holds_currency(currency: str, options: PlanOptions) -> bool:
    cur = money.normalize_currency(currency)
    return cur == money.normalize_currency(options.functional_currency) or cur in options.currencies


def _multi_currency(doc: PostingDocument, lines: Iterable[PostingLine]) -> bool:
    return any(ln.currency and ln.currency != doc.currency for ln in lines)


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def plan_document(doc: PostingDocument, options: PlanOptions) -> PlannedDocument:
    """The document the ledger should hold for ``doc`` (see the module docstring). Raises
    :class:`Permanent` for a document that cannot be sent as it is."""
    lines = _checked_lines(doc)
    number = document_number(doc, options.numbers)
    foreign_ok = _holds_currency(doc.currency, options) and not _multi_currency(doc, lines)
    if doc.kind in SALES_KINDS and foreign_ok:
        sales = _sales_document(doc, lines, number, options)
        if sales is not None:
            return sales
    if doc.kind == "payment" and foreign_ok:
        payment = _customer_payment(doc, lines, number, options)
        if payment is not None:
            return payment
    if doc.kind == "payout" and foreign_ok:
        deposit = _bank_deposit(doc, lines, number)
        if deposit is not None:
            return deposit
    return _journal(doc, lines, number, options)


def _rate(doc: PostingDocument, options: PlanOptions) -> Decimal | None:
    """The exchange rate to send: only for a document in a currency other than the functional one."""
    if money.normalize_currency(doc.currency) == money.normalize_currency(options.functional_currency):
        return None
    return doc.exchange_rate


def _sales_document(
    doc: PostingDocument, lines: list[PostingLine], number: str, options: PlanOptions
) -> SalesDocument | None:
    """An invoice, receipt or credit note, or None when some line cannot sit on one."""
    settling = [ln for ln in lines if ln.role in MONEY_ROLES | {"receivable"}]
    taxes = [ln for ln in lines if ln.role == "tax"]
    sales = [ln for ln in lines if ln.role not in MONEY_ROLES | {"receivable", "tax"}]
    if not sales or not settling or any(ln.role not in SALES_ROLES for ln in sales):
        return None
    debit_side = sum((ln.debit - ln.credit for ln in settling), ZERO) > 0
    if any((ln.debit if debit_side else ln.credit) <= 0 for ln in settling):
        return None  # money moving both ways: a journal says it better
    receivable = [ln for ln in settling if ln.role == "receivable"]
    money_lines = [ln for ln in settling if ln.role in MONEY_ROLES]

    def signed(line: PostingLine) -> Decimal:
        # Positive for what the customer is charged (invoice) or credited (credit note).
        return line.credit - line.debit if debit_side else line.debit - line.credit

    currency = doc.currency
    amounts = [signed(ln) for ln in sales]
    by_code: dict[str, list[int]] = {}
    for index, line in enumerate(sales):
        code = line.tax_code_ref or line.tax_code
        if code:
            by_code.setdefault(code, []).append(index)
    tax_by_code: dict[str, Decimal] = {}
    tax_line_of: dict[str, PostingLine] = {}
    for line in taxes:
        code = line.tax_code_ref or line.tax_code
        if code not in by_code:
            if not by_code:
                raise Permanent(f"document {doc.reference} carries tax but none of its lines has a tax code")
            # A tax line whose code no sales line carries belongs to the largest taxed base.
            code = max(by_code, key=lambda c: abs(sum((amounts[i] for i in by_code[c]), ZERO)))
        tax_by_code[code] = tax_by_code.get(code, ZERO) + signed(line)
        tax_line_of.setdefault(code, line)
    line_tax = [ZERO] * len(sales)
    for code, indexes in by_code.items():
        share = tax_by_code.get(code, ZERO)
        for i, part in zip(indexes, allocate(share, [amounts[i] for i in indexes], currency), strict=True):
            line_tax[i] = part
    out_lines = tuple(
        SalesLine(
            role=ln.role,
            account_code=ln.account_code,
            account_ref=ln.account_ref,
            description=ln.description or ln.role,
            amount=amounts[i],
            tax=line_tax[i],
            tax_code=ln.tax_code,
            tax_code_ref=ln.tax_code_ref,
            tax_rate=ln.tax_rate,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            item_ref=ln.item_ref,
        )
        for i, ln in enumerate(sales)
    )
    tax_totals = []
    for code, indexes in by_code.items():
        first = sales[indexes[0]]
        tax_line = tax_line_of.get(code)
        tax_totals.append(
            TaxTotal(
                tax_code=first.tax_code,
                tax_code_ref=first.tax_code_ref,
                rate=first.tax_rate
                if first.tax_rate is not None
                else (tax_line.tax_rate if tax_line else None),
                base=sum((amounts[i] for i in indexes), ZERO),
                amount=tax_by_code.get(code, ZERO),
                account_code=tax_line.account_code if tax_line else "",
                account_ref=tax_line.account_ref if tax_line else "",
            )
        )
    settlements: list[Settlement] = []
    by_account: dict[tuple[str, str], Decimal] = {}
    for line in money_lines:
        key = (line.account_code, line.account_ref)
        by_account[key] = by_account.get(key, ZERO) + (
            line.debit - line.credit if debit_side else line.credit - line.debit
        )
    for n, ((code, ref), amount) in enumerate(by_account.items(), start=1):
        settlements.append(Settlement(code, ref, amount, f"{number}/{n}"))
    if not debit_side and len(settlements) > 1 and options.refund_single_account:
        return None
    if receivable or (len(settlements) > 1 and options.receipt_single_account):
        kind: Literal["receipt", "invoice", "credit_note"] = "invoice" if debit_side else "credit_note"
    else:
        kind = "receipt" if debit_side else "credit_note"
    sales_total = sum(amounts, ZERO) + sum(tax_by_code.values(), ZERO)
    settled = sum((s.amount for s in settlements), ZERO) + sum((signed(ln) * -1 for ln in receivable), ZERO)
    if sales_total != settled:
        raise Permanent(f"document {doc.reference}: lines come to {sales_total}, the settlement to {settled}")
    due = doc.due_date
    if kind == "invoice" and due is None and options.default_due_days:
        from datetime import timedelta

        due = doc.date + timedelta(days=options.default_due_days)
    return SalesDocument(
        type=kind,
        number=number,
        reference=doc.reference,
        date=doc.date,
        due_date=due if kind == "invoice" else None,
        currency=currency,
        exchange_rate=_rate(doc, options),
        customer=customer_identity(doc.customer, walk_in_name=options.walk_in_name),
        lines=out_lines,
        taxes=tuple(tax_totals),
        settlements=tuple(settlements),
        tax_inclusive=doc.prices_include_tax,
        memo=doc.memo,
        related_remote_id=doc.related_remote_id,
        related_number=doc.related_number,
    )


def _customer_payment(
    doc: PostingDocument, lines: list[PostingLine], number: str, options: PlanOptions
) -> CustomerPayment | None:
    """A payment: one money line in, the receivable out. None for any other shape."""
    money_lines = [ln for ln in lines if ln.role in MONEY_ROLES and ln.debit > 0]
    receivable = [ln for ln in lines if ln.role == "receivable" and ln.credit > 0]
    if len(money_lines) != 1 or not receivable or len(money_lines) + len(receivable) != len(lines):
        return None
    line = money_lines[0]
    return CustomerPayment(
        number=number,
        reference=doc.reference,
        date=doc.date,
        currency=doc.currency,
        exchange_rate=_rate(doc, options),
        customer=customer_identity(doc.customer, walk_in_name=options.walk_in_name),
        account_code=line.account_code,
        account_ref=line.account_ref,
        amount=line.debit,
        invoice_remote_id=doc.related_remote_id,
        invoice_number=doc.related_number,
        memo=doc.memo,
    )


def _bank_deposit(doc: PostingDocument, lines: list[PostingLine], number: str) -> BankDeposit | None:
    """A payout with exactly one bank line; every other line moves money into or out of it."""
    bank = [ln for ln in lines if ln.role == "bank"]
    if len(bank) != 1:
        return None
    allowed = MONEY_ROLES | {"fee", "adjustment", "fx"}
    others = [ln for ln in lines if ln is not bank[0]]
    if not others or any(ln.role not in allowed for ln in others):
        return None
    deposit = bank[0].debit - bank[0].credit
    out = tuple(
        DepositLine(
            role=ln.role,
            account_code=ln.account_code,
            account_ref=ln.account_ref,
            amount=ln.credit - ln.debit,
            description=ln.description or ln.role,
        )
        for ln in others
    )
    return BankDeposit(
        number=number,
        reference=doc.reference,
        date=doc.date,
        currency=doc.currency,
        exchange_rate=doc.exchange_rate
        if money.normalize_currency(doc.currency)
        != money.normalize_currency(doc.functional_currency or doc.currency)
        else None,
        bank_code=bank[0].account_code,
        bank_ref=bank[0].account_ref,
        amount=deposit,
        lines=out,
        memo=doc.memo,
    )


def _journal(
    doc: PostingDocument, lines: list[PostingLine], number: str, options: PlanOptions
) -> JournalPlan:
    """A journal in the document's currency, or converted to the functional currency when the
    target cannot hold the document's currency in a journal."""
    functional = options.functional_currency
    foreign = money.normalize_currency(doc.currency) != money.normalize_currency(functional)
    convert = _multi_currency(doc, lines) or (
        foreign and (not options.foreign_journals or not _holds_currency(doc.currency, options))
    )
    if convert:
        lines = _in_functional(doc, lines)
    customer = customer_identity(doc.customer, walk_in_name=options.walk_in_name)
    return JournalPlan(
        number=number,
        reference=doc.reference,
        date=doc.date,
        currency=functional if convert else doc.currency,
        exchange_rate=None if convert else _rate(doc, options),
        lines=tuple(
            JournalLinePlan(
                role=ln.role,
                account_code=ln.account_code,
                account_ref=ln.account_ref,
                debit=ln.debit,
                credit=ln.credit,
                description=ln.description or ln.role,
                tax_code=ln.tax_code,
                tax_code_ref=ln.tax_code_ref,
            )
            for ln in lines
        ),
        memo=doc.memo,
        customer=customer,
        converted=convert,
    )


def deposit_as_journal(doc: BankDeposit) -> JournalPlan:
    """A payout that cannot be a Deposit (money leaving the bank, or settings say journal)."""
    lines = [
        JournalLinePlan(
            "bank", doc.bank_code, doc.bank_ref, max(doc.amount, Decimal(0)), max(-doc.amount, Decimal(0)),
            "Payout",
        )
    ]  # fmt: skip
    for line in doc.lines:
        lines.append(
            JournalLinePlan(
                line.role,
                line.account_code,
                line.account_ref,
                max(-line.amount, Decimal(0)),
                max(line.amount, Decimal(0)),
                line.description,
            )
        )
    return JournalPlan(doc.number, doc.reference, doc.date, doc.currency, doc.exchange_rate,
                       tuple(ln for ln in lines if ln.debit or ln.credit), doc.memo, None)  # fmt: skip
