"""The ledger-target layer's plan -> Zoho Books documents. Pure functions: no HTTP, no clock.

================================  ===========================================================
plan (connectors.ledgers.common)  Zoho Books documents
================================  ===========================================================
receipt, invoice                  ``invoices`` (``invoice_number`` = the number, created with
                                  ``ignore_auto_number_generation=true``; ``reference_number``
                                  = our reference), marked sent, then one ``customerpayments``
                                  per money account, applied to it, into that account
credit note                       ``creditnotes``, then a refund per money account
                                  (``creditnotes/{id}/refunds``, ``from_account_id``); without
                                  money it is applied to the invoice it undoes
invoice on terms, order-to-invoice  a ``salesorders`` order with the same number and lines,
                                  confirmed, then the invoice billing its lines
                                  (``salesorder_item_id``), when the connection says so
customer payment                  ``customerpayments`` applied to the invoice it pays
bank deposit                      a ``banktransactions`` ``transfer_fund`` of the deposit from
                                  the clearing account to the bank, and one ``expenses`` per
                                  fee, paid through the clearing account
journal                           ``journals`` in the document's currency, published
================================  ===========================================================

Tax. Zoho Books takes no tax amount on a line: it computes the tax from the line's ``tax_id``,
per line or on the document total (an organisation setting). Where the shop rounded differently,
:func:`rounding_lines` adds two visible "Tax rounding" lines on the same account, ``+x`` with the
tax and ``-x`` without, chosen so that Zoho's tax of that code is exactly ours; revenue per
account is unchanged. Lines carry the item of their account (Zoho's invoice lines take an item,
and the item says the account), so the ledger reads back per account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    "ZohoDocument",
    "ZohoFacts",
    "ZohoPlan",
    "ZohoSettings",
    "ZohoSettlement",
    "render",
    "rounding_lines",
    "zoho_tax",
]

NUMBER_RULES = NumberRules(max_length=100)
ZERO = Decimal(0)
SEARCH_STEPS = 200


@dataclass(frozen=True)
class ZohoSettings:
    """The connection settings the renderer reads (all optional)."""

    walk_in_name: str = "Walk-in customer"
    payment_mode: str = "banktransfer"
    tax_rounding: str = "line"  # line | document: how the organisation computes tax
    payout_document: str = "auto"  # auto | journal
    due_days: int = 0
    #: B2B invoices go through a confirmed sales order that the invoice bills (order-to-invoice).
    order_to_invoice: bool = False

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> ZohoSettings:
        """Read the known keys of a connection's settings."""
        known = {name: settings[name] for name in cls.__dataclass_fields__ if name in settings}
        if "due_days" in known:
            known["due_days"] = int(known["due_days"] or 0)
        if "order_to_invoice" in known:
            known["order_to_invoice"] = str(known["order_to_invoice"]).lower() in ("1", "true", "yes", "on")
        return cls(**known)


@dataclass(frozen=True)
class ZohoFacts:
    """What the organisation holds, as the renderer needs it: account ids by our code, tax
    percentages by tax id, tax ids by name, currency ids by code, the base currency."""

    base_currency: str
    accounts: Mapping[str, Mapping[str, Any]]  # account_code -> chart row
    taxes: Mapping[str, Mapping[str, Any]]  # tax_id -> tax row
    currencies: Mapping[str, str]  # currency code -> currency_id

    def account_id(self, code: str, ref: str, role: str) -> str:
        """Zoho's ``account_id`` of a line (its stored ref, else found by code)."""
        if ref:
            return ref
        row = self.accounts.get(code)
        if row is None:
            raise Permanent(f"{role} line: account {code!r} is not in the Zoho Books chart of accounts")
        return str(row["account_id"])

    def tax_id(self, code: str, ref: str) -> str:
        """Zoho's ``tax_id`` of a tax code (its stored ref, else found by name)."""
        if ref and ref in self.taxes:
            return ref
        for tax_id, row in self.taxes.items():
            if code and row.get("tax_name") == code:
                return tax_id
        raise Permanent(f"tax code {code or ref!r} is not a tax of the Zoho Books organisation")

    def rate(self, tax_id: str) -> Decimal:
        """The tax's rate as a fraction."""
        return Decimal(str(self.taxes[tax_id].get("tax_percentage") or 0)) / 100

    def currency_id(self, code: str) -> str:
        """Zoho's ``currency_id`` of a currency the organisation holds."""
        found = self.currencies.get(money.normalize_currency(code))
        if not found:
            raise Permanent(f"currency {code} is not enabled in the Zoho Books organisation")
        return found


@dataclass(frozen=True)
class ZohoDocument:
    """One Zoho document: ``kind`` (``invoice``, ``creditnote``, ``customerpayment``, ``journal``,
    ``banktransaction``, ``expense``), the resource path it is POSTed to, its body, the list
    filter it is found by (``param`` = ``number``) and the total Zoho will show."""

    kind: str
    path: str
    payload: dict[str, Any]
    param: str
    number: str
    total: Decimal
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ZohoSettlement:
    """A payment into (invoice) or refund out of (credit note) a money account."""

    account_id: str
    amount: Decimal
    reference: str


@dataclass(frozen=True)
class ZohoPlan:
    """The main document, what completes it, and the tax Zoho must end up with per tax id."""

    plan: PlannedDocument
    main: ZohoDocument
    settlements: tuple[ZohoSettlement, ...] = ()
    application: tuple[str, Decimal] | None = None  # credit note -> (invoice id, amount)
    extra: tuple[ZohoDocument, ...] = ()
    mark_sent: bool = False
    expected_tax: Mapping[str, Decimal] = field(default_factory=dict)
    #: The sales order the invoice bills (order-to-invoice connections, B2B invoices only).
    order: ZohoDocument | None = None

    @property
    def settled_total(self) -> Decimal:
        """What the payments or refunds add up to."""
        return sum((s.amount for s in self.settlements), ZERO)


# --------------------------------------------------------------------------------------------
# Tax as Zoho computes it, and the rounding lines that make it ours
# --------------------------------------------------------------------------------------------


def _round(value: Decimal, currency: str) -> Decimal:
    return money.quantize(value, currency, ROUND_HALF_UP)


def zoho_tax(
    lines: list[tuple[Decimal, str]], rates: Mapping[str, Decimal], mode: str, currency: str
) -> dict[str, Decimal]:
    """Zoho's tax per tax id for lines ``(net amount, tax id)``: each line rounded (``line``) or
    each tax id's base rounded once (``document``)."""
    out: dict[str, Decimal] = {}
    if mode == "document":
        bases: dict[str, Decimal] = {}
        for amount, tax_id in lines:
            if tax_id:
                bases[tax_id] = bases.get(tax_id, ZERO) + amount
        return {t: _round(b * rates[t], currency) for t, b in bases.items()}
    for amount, tax_id in lines:
        if tax_id:
            out[tax_id] = out.get(tax_id, ZERO) + _round(amount * rates[tax_id], currency)
    return out


def _solve(target: Decimal, base: Decimal, rate: Decimal, currency: str) -> Decimal:
    """The smallest amount ``x`` (in the currency's unit) with round((base + x) * rate) = target."""
    unit = money.quantum(currency)
    start = _round(target / rate - base, currency)
    for step in range(SEARCH_STEPS):
        for candidate in (start + step * unit, start - step * unit):
            if candidate and _round((base + candidate) * rate, currency) == target:
                return candidate
    raise Permanent(f"no tax rounding line gives {target} at {rate:%}")


def rounding_lines(
    lines: list[tuple[Decimal, str]],
    ours: Mapping[str, Decimal],
    rates: Mapping[str, Decimal],
    mode: str,
    currency: str,
) -> dict[str, Decimal]:
    """Per tax id, the amount ``x`` of the "+x taxed, -x untaxed" pair that makes Zoho's tax of that
    id equal ours (ids whose tax already agrees are left out)."""
    computed = zoho_tax(lines, rates, mode, currency)
    out: dict[str, Decimal] = {}
    for tax_id, wanted in ours.items():
        have = computed.get(tax_id, ZERO)
        if have == wanted:
            continue
        rate = rates[tax_id]
        if not rate:
            raise Permanent(f"our tax {wanted} on a 0 % tax cannot be recorded by Zoho Books")
        if mode == "document":
            base = sum((a for a, t in lines if t == tax_id), ZERO)
            out[tax_id] = _solve(wanted, base, rate, currency)
        else:
            out[tax_id] = _solve(wanted - have, ZERO, rate, currency)
    return out


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _currency_fields(currency: str, rate: Decimal | None, facts: ZohoFacts) -> dict[str, Any]:
    if money.normalize_currency(currency) == money.normalize_currency(facts.base_currency):
        return {}
    fields: dict[str, Any] = {"currency_id": facts.currency_id(currency)}
    if rate:
        fields["exchange_rate"] = rate
    return fields


def _quantity_and_rate(line: SalesLine, currency: str) -> tuple[Decimal, Decimal]:
    """Quantity and a unit rate whose product is exactly the amount (else 1 x amount)."""
    qty, price = line.quantity, line.unit_price
    if qty and qty > 0 and price is not None and qty * price == line.amount:
        return qty, price
    return Decimal(1), line.amount


def _sales(
    doc: SalesDocument,
    customer_id: str,
    item_of: Callable[[str], str],
    facts: ZohoFacts,
    settings: ZohoSettings,
) -> ZohoPlan:
    """An invoice or credit note with its payments, refunds or application."""
    credit = doc.type == "credit_note"
    rows: list[dict[str, Any]] = []
    taxed: list[tuple[Decimal, str]] = []
    ours: dict[str, Decimal] = {}
    account_of_tax: dict[str, tuple[str, Decimal]] = {}
    for line in doc.lines:
        account_id = facts.account_id(line.account_code, line.account_ref, line.role)
        tax_id = (
            facts.tax_id(line.tax_code, line.tax_code_ref) if (line.tax_code or line.tax_code_ref) else ""
        )
        qty, rate = _quantity_and_rate(line, doc.currency)
        row: dict[str, Any] = {"item_id": item_of(account_id), "description": line.description[:2000],
                               "quantity": qty, "rate": rate}  # fmt: skip
        if credit:
            row["account_id"] = account_id
        if tax_id:
            row["tax_id"] = tax_id
            ours[tax_id] = ours.get(tax_id, ZERO) + line.tax
            largest = account_of_tax.get(tax_id)
            if largest is None or abs(line.amount) > abs(largest[1]):
                account_of_tax[tax_id] = (account_id, line.amount)
        elif line.tax:
            raise Permanent(f"document {doc.reference}: a {line.role} line carries tax but no tax code")
        rows.append(row)
        taxed.append((line.amount, tax_id))
    rates = {t: facts.rate(t) for t in ours}
    for tax_id, x in rounding_lines(taxed, ours, rates, settings.tax_rounding, doc.currency).items():
        account_id = account_of_tax[tax_id][0]
        pair = ({"tax_id": tax_id, "rate": x}, {"rate": -x})
        for extra in pair:
            row = {
                "item_id": item_of(account_id),
                "description": "Tax rounding",
                "quantity": Decimal(1),
                **extra,
            }
            if credit:
                row["account_id"] = account_id
            rows.append(row)
    reference = doc.reference[:100]
    payload: dict[str, Any] = {
        "customer_id": customer_id,
        "date": doc.date.isoformat(),
        "reference_number": reference,
        "is_inclusive_tax": False,
        "line_items": rows,
        **_currency_fields(doc.currency, doc.exchange_rate, facts),
    }
    if doc.memo:
        payload["notes"] = doc.memo[:5000]
    settlements = tuple(
        ZohoSettlement(facts.account_id(s.account_code, s.account_ref, "money"), s.amount, s.reference)
        for s in doc.settlements
    )
    expected = {t: v for t, v in ours.items() if v}
    if credit:
        payload["creditnote_number"] = doc.number
        main = ZohoDocument("creditnote", "creditnotes", payload, "creditnote_number", doc.number, doc.total,
                            {"ignore_auto_number_generation": "true"})  # fmt: skip
        application = None
        if not settlements and doc.related_remote_id:
            application = (doc.related_remote_id, doc.total)
        return ZohoPlan(doc, main, settlements, application, expected_tax=expected)
    order = None
    if settings.order_to_invoice and not settlements:
        # A B2B invoice on terms: the order is confirmed first and the invoice bills its lines.
        order_payload = {k: v for k, v in payload.items() if k != "is_inclusive_tax"}
        order_payload["salesorder_number"] = doc.number
        order = ZohoDocument("salesorder", "salesorders", order_payload, "salesorder_number", doc.number, doc.total,
                             {"ignore_auto_number_generation": "true"})  # fmt: skip
    payload["invoice_number"] = doc.number
    payload["due_date"] = (doc.due_date or doc.date).isoformat()
    main = ZohoDocument("invoice", "invoices", payload, "invoice_number", doc.number, doc.total,
                        {"ignore_auto_number_generation": "true"})  # fmt: skip
    return ZohoPlan(doc, main, settlements, mark_sent=True, expected_tax=expected, order=order)


def payment_body(
    customer_id: str, invoice_id: str, settlement: ZohoSettlement, date: str, mode: str, rate: Any = None
) -> dict[str, Any]:
    """A customer payment of ``settlement`` applied to the invoice."""
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "payment_mode": mode,
        "amount": settlement.amount,
        "date": date,
        "reference_number": settlement.reference,
        "account_id": settlement.account_id,
        "invoices": [{"invoice_id": invoice_id, "amount_applied": settlement.amount}],
    }
    if rate:
        body["exchange_rate"] = rate
    return body


def refund_body(settlement: ZohoSettlement, date: str, mode: str, rate: Any = None) -> dict[str, Any]:
    """A credit-note refund of ``settlement`` out of its money account."""
    body: dict[str, Any] = {
        "date": date,
        "refund_mode": mode,
        "reference_number": settlement.reference,
        "amount": settlement.amount,
        "from_account_id": settlement.account_id,
    }
    if rate:
        body["exchange_rate"] = str(rate)
    return body


def _payment(doc: CustomerPayment, customer_id: str, facts: ZohoFacts, settings: ZohoSettings) -> ZohoPlan:
    """A customer payment applied to the invoice it pays."""
    if not doc.invoice_remote_id:
        raise Permanent(f"payment {doc.reference} pays no invoice that Zoho Books holds")
    settlement = ZohoSettlement(
        facts.account_id(doc.account_code, doc.account_ref, "money"), doc.amount, doc.number
    )
    body = payment_body(customer_id, doc.invoice_remote_id, settlement, doc.date.isoformat(),
                        settings.payment_mode, doc.exchange_rate)  # fmt: skip
    return ZohoPlan(doc, ZohoDocument("customerpayment", "customerpayments", body, "reference_number",
                                      doc.number, doc.amount))  # fmt: skip


def _deposit(doc: BankDeposit, facts: ZohoFacts) -> ZohoPlan | None:
    """A transfer of the deposit from the clearing account to the bank and an expense per fee paid
    through the clearing account; None for any other payout (a journal says it)."""
    clearing = doc.from_clearing()
    others = [ln for ln in doc.lines if ln.role not in ("clearing", "bank")]
    if clearing is None or doc.amount <= 0 or any(ln.amount >= 0 for ln in others):
        return None
    source = facts.account_id(clearing.account_code, clearing.account_ref, "clearing")
    currency = _currency_fields(doc.currency, doc.exchange_rate, facts)
    transfer = {
        "transaction_type": "transfer_fund",
        "from_account_id": source,
        "to_account_id": facts.account_id(doc.bank_code, doc.bank_ref, "bank"),
        "amount": doc.amount,
        "date": doc.date.isoformat(),
        "reference_number": doc.number[:100],
        "description": (doc.memo or "Payout")[:100],
        **currency,
    }
    main = ZohoDocument("banktransaction", "banktransactions", transfer, "reference_number", doc.number[:100],
                        doc.amount)  # fmt: skip
    extra = []
    for n, line in enumerate(others, start=1):
        number = f"{doc.number[:90]}/fee{n}"
        body = {
            "account_id": facts.account_id(line.account_code, line.account_ref, line.role),
            "paid_through_account_id": source,
            "date": doc.date.isoformat(),
            "amount": -line.amount,
            "reference_number": number,
            "description": line.description[:100],
            **currency,
        }
        extra.append(ZohoDocument("expense", "expenses", body, "reference_number", number, -line.amount))
    return ZohoPlan(doc, main, extra=tuple(extra))


def _journal(doc: JournalPlan, facts: ZohoFacts) -> ZohoPlan:
    """A published journal in the document's currency; ``reference_number`` = our reference."""
    payload: dict[str, Any] = {
        "journal_date": doc.date.isoformat(),
        "reference_number": doc.reference[:100],
        "notes": (doc.memo or doc.reference)[:500],
        "status": "published",
        "line_items": [
            {
                "account_id": facts.account_id(ln.account_code, ln.account_ref, ln.role),
                "description": ln.description[:500],
                "amount": ln.debit or ln.credit,
                "debit_or_credit": "debit" if ln.debit else "credit",
            }
            for ln in doc.lines
        ],
        **_currency_fields(doc.currency, doc.exchange_rate, facts),
    }
    return ZohoPlan(doc, ZohoDocument("journal", "journals", payload, "reference_number", doc.reference[:100],
                                      doc.total))  # fmt: skip


def render(
    plan: PlannedDocument,
    *,
    customer_id: str,
    item_of: Callable[[str], str],
    facts: ZohoFacts,
    settings: ZohoSettings,
) -> ZohoPlan:
    """The Zoho Books documents for a planned document (see the module docstring)."""
    if isinstance(plan, SalesDocument):
        return _sales(plan, customer_id, item_of, facts, settings)
    if isinstance(plan, CustomerPayment):
        return _payment(plan, customer_id, facts, settings)
    if isinstance(plan, BankDeposit):
        deposit = _deposit(plan, facts) if settings.payout_document != "journal" else None
        return deposit if deposit is not None else _journal(deposit_as_journal(plan), facts)
    return _journal(plan, facts)
