"""PostingDocument -> QuickBooks Online entity. Pure functions: no HTTP, no clock.

Which entity a document becomes:

=================  ===================================================================
``sale``           ``SalesReceipt`` deposited to the clearing (or bank) account, when every
                   line fits a sales form; otherwise a ``JournalEntry``.
``invoice``        ``SalesReceipt`` when paid (clearing line), ``Invoice`` when it leaves a
                   receivable; otherwise a ``JournalEntry``.
``refund``         ``RefundReceipt`` paid from the clearing (or bank) account; otherwise a
                   ``JournalEntry``.
``payout``         ``Deposit`` into the bank line's account with the clearing account as a
                   positive line and fees as negative lines, so the deposit equals the real
                   bank deposit (setting ``payout_document: "journal"`` forces a journal).
anything else      ``JournalEntry`` (summary, reversal, dispute, payment, ...).
=================  ===================================================================

A line "fits a sales form" when it is not a fee, receivable or adjustment line and there is one
money account (the clearing or bank lines, all on the money side). Sales lines become
``SalesItemLineDetail`` lines with a signed amount (a discount or a gift-card redemption is a
negative line); their income account is the item's, so the mapping must pick items whose income
account is the journal's account. Tax lines are not sent: QuickBooks computes tax from the
``TaxCodeRef`` of each line.

Tax and the cent. The ledger's tax is predicted with its own rounding (``tax_rounding``:
``document`` - per tax code on the document's taxable total, QuickBooks' default - or ``line``).
For tax-exclusive documents a difference from our tax is put on an explicit non-taxable rounding
line (item ``rounding_item_ref``), so that QuickBooks' ``TotalAmt`` equals the money line; without
a rounding item the tax total is overridden (``TxnTaxDetail.TotalTax``). For tax-inclusive
documents each line is sent with its gross amount (``TaxInclusiveAmt``; our tax allocated to the
lines of its code, the remainder on the largest line), so the total is exact whatever QuickBooks'
split of tax.

Numbers. QuickBooks' ``DocNumber`` holds at most 21 characters: a longer reference becomes its
first 12 characters, ``-`` and 8 characters of the base-32 SHA-256 of the whole reference, which
is stable, so the look-up derives the same number; the full reference is in ``PrivateNote``.
``requestid`` holds at most 50 characters (36 for a batch): a longer or unusual key is replaced by
a prefix letter and a hex SHA-256 digest.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.base import Permanent, PostingDocument, PostingLine
from integrator import money

__all__ = [
    "DOC_NUMBER_MAX",
    "QboDocument",
    "QboSettings",
    "build_document",
    "doc_number",
    "request_id",
]

DOC_NUMBER_MAX = 21
MONEY_ROLES = frozenset({"clearing", "bank"})
JOURNAL_ONLY_ROLES = frozenset({"fee", "receivable", "adjustment"})
UNIT_PRICE_PLACES = Decimal("0.0000001")


def doc_number(reference: str) -> str:
    """The QuickBooks DocNumber of a reference: itself when it fits in 21 characters, else a
    stable 21-character abbreviation (see the module docstring)."""
    if len(reference) <= DOC_NUMBER_MAX:
        return reference
    digest = base64.b32encode(hashlib.sha256(reference.encode("utf-8")).digest()).decode("ascii")
    return f"{reference[:12]}-{digest[:8]}"


def request_id(key: str, limit: int = 50, prefix: str = "h") -> str:
    """A ``requestid`` for an idempotency key: the key itself when short and URL-plain, else a
    deterministic digest of it of at most ``limit`` characters."""
    if len(key) <= limit and re.fullmatch(r"[A-Za-z0-9._~-]+", key):
        return key
    return prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()[: limit - len(prefix)]


@dataclass(frozen=True)
class QboSettings:
    """The connection settings the document builder reads (all optional)."""

    default_customer_ref: str = ""
    default_item_ref: str = ""
    items: Mapping[str, str] | None = None  # role -> item id (shipping, tip, gift_card, ...)
    rounding_item_ref: str = ""
    non_taxable_tax_code_ref: str = "NON"
    tax_rounding: str = "document"  # document | line
    tax_mode: str = "codes"  # codes | none
    tax_rates: Mapping[str, str] | None = None  # tax code id -> rate as a fraction
    payout_document: str = "deposit"  # deposit | journal

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> QboSettings:
        """Read the known keys of a connection's settings."""
        known = {name: settings[name] for name in cls.__dataclass_fields__ if name in settings}
        return cls(**known)


@dataclass(frozen=True)
class QboDocument:
    """One QuickBooks entity to create: its name, JSON body, DocNumber and expected ``TotalAmt``."""

    entity: str
    payload: dict[str, Any]
    doc_number: str
    total: Decimal

    @property
    def endpoint(self) -> str:
        """The REST resource, e.g. ``salesreceipt``."""
        return self.entity.lower()


def _ref(value: str) -> dict[str, str]:
    return {"value": value}


def _account_ref(line: PostingLine) -> dict[str, str]:
    if not line.account_ref:
        raise Permanent(
            f"account {line.account_code or '?'} ({line.role}) has no QuickBooks id: "
            "refresh the chart of accounts on the connection page"
        )
    return _ref(line.account_ref)


def _lines(doc: PostingDocument) -> list[PostingLine]:
    """The non-zero lines, each with exactly one positive side."""
    lines = []
    for line in doc.lines:
        if line.debit < 0 or line.credit < 0 or (line.debit > 0 and line.credit > 0):
            raise Permanent(f"line {line.account_code} ({line.role}) must have one positive side")
        if line.debit or line.credit:
            lines.append(line)
    if not lines:
        raise Permanent(f"document {doc.reference} has no lines")
    return lines


def _header(doc: PostingDocument, home_currency: str) -> dict[str, Any]:
    """DocNumber, TxnDate, PrivateNote and, for a foreign currency, CurrencyRef and ExchangeRate."""
    header: dict[str, Any] = {
        "DocNumber": doc_number(doc.reference),
        "TxnDate": doc.date.isoformat(),
        "PrivateNote": f"{doc.reference}: {doc.memo}"[:4000] if doc.memo else doc.reference,
    }
    if money.normalize_currency(doc.currency) != money.normalize_currency(home_currency):
        header["CurrencyRef"] = _ref(money.normalize_currency(doc.currency))
        if doc.exchange_rate is not None:
            header["ExchangeRate"] = doc.exchange_rate
    return header


def build_document(doc: PostingDocument, *, home_currency: str, settings: QboSettings) -> QboDocument:
    """The QuickBooks entity for a document (see the module docstring). Raises Permanent for a
    document that cannot be sent as it is (no account id, no item, unbalanced)."""
    lines = _lines(doc)
    if sum((ln.debit for ln in lines), Decimal(0)) != sum((ln.credit for ln in lines), Decimal(0)):
        raise Permanent(f"document {doc.reference} does not balance")
    if doc.kind in ("sale", "invoice") and _fits_sales_form(lines, MONEY_ROLES, "debit"):
        return _sales_form(doc, lines, "SalesReceipt", MONEY_ROLES, home_currency, settings)
    if doc.kind == "invoice" and _fits_sales_form(lines, frozenset({"receivable"}), "debit"):
        return _sales_form(doc, lines, "Invoice", frozenset({"receivable"}), home_currency, settings)
    if doc.kind == "refund" and _fits_sales_form(lines, MONEY_ROLES, "credit"):
        return _sales_form(doc, lines, "RefundReceipt", MONEY_ROLES, home_currency, settings)
    if doc.kind == "payout" and settings.payout_document == "deposit" and _fits_deposit(lines):
        return _deposit(doc, lines, home_currency)
    return _journal(doc, lines, home_currency, settings)


# --------------------------------------------------------------------------------------------
# Sales forms: SalesReceipt, RefundReceipt, Invoice
# --------------------------------------------------------------------------------------------


def _fits_sales_form(lines: list[PostingLine], money_roles: frozenset[str], money_side: str) -> bool:
    """True when there is one money account on the money side and every other line can be an item line."""
    money_lines = [ln for ln in lines if ln.role in money_roles]
    if not money_lines or len({(ln.account_ref, ln.account_code) for ln in money_lines}) != 1:
        return False
    if any((ln.debit if money_side == "debit" else ln.credit) <= 0 for ln in money_lines):
        return False
    others = [ln for ln in lines if ln.role not in money_roles]
    forbidden = (JOURNAL_ONLY_ROLES | MONEY_ROLES) - money_roles
    return bool(others) and not any(ln.role in forbidden for ln in others)


def _signed(line: PostingLine, money_side: str) -> Decimal:
    """A line's amount as the sales form shows it: positive for what the customer pays for."""
    return line.credit - line.debit if money_side == "debit" else line.debit - line.credit


def _qty_and_price(line: PostingLine, amount: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """Qty and UnitPrice whose product rounds to ``amount`` (QuickBooks error 6070 otherwise)."""
    qty, price = line.quantity, line.unit_price
    if qty and qty > 0 and amount > 0:
        if price is not None and money.quantize(qty * price, currency) == amount:
            return qty, price
        derived = (amount / qty).quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
        if money.quantize(qty * derived, currency) == amount:
            return qty, derived
    return Decimal(1), amount


def _rate_of(code: str, lines: list[PostingLine], settings: QboSettings) -> Decimal | None:
    """A tax code's rate: from the lines that use it, else from ``settings.tax_rates``."""
    for line in lines:
        if line.tax_code_ref == code and line.tax_rate is not None:
            return line.tax_rate
    configured = (settings.tax_rates or {}).get(code)
    return Decimal(str(configured)) if configured not in (None, "") else None


def _ledger_tax(
    amounts_by_code: dict[str, list[Decimal]], rates: dict[str, Decimal], per_line: bool, currency: str
) -> Decimal:
    """The tax QuickBooks computes on tax-exclusive amounts, with its rounding (half up, per tax
    code on the document's total, or per line)."""
    total = Decimal(0)
    for code, amounts in amounts_by_code.items():
        if per_line:
            total += sum((money.quantize(a * rates[code], currency) for a in amounts), Decimal(0))
        else:
            total += money.quantize(sum(amounts, Decimal(0)) * rates[code], currency)
    return total


def _gross_amounts(
    amounts: list[Decimal], by_code: dict[str, list[int]], tax_by_code: dict[str, Decimal], currency: str
) -> list[Decimal]:
    """Tax-inclusive line amounts: our tax of each code spread over its lines in proportion to
    their amounts, the remainder on the largest line, so the gross lines add up exactly."""
    gross = list(amounts)
    for code, indexes in by_code.items():
        base = sum((amounts[i] for i in indexes), Decimal(0))
        share = tax_by_code[code]
        parts = {
            i: money.quantize(share * amounts[i] / base, currency) if base else Decimal(0) for i in indexes
        }
        largest = max(indexes, key=lambda i: abs(amounts[i]))
        parts[largest] += share - sum(parts.values(), Decimal(0))
        for i in indexes:
            gross[i] = amounts[i] + parts[i]
    return gross


def _sales_form(
    doc: PostingDocument,
    lines: list[PostingLine],
    entity: str,
    money_roles: frozenset[str],
    home_currency: str,
    settings: QboSettings,
) -> QboDocument:
    """A SalesReceipt, RefundReceipt or Invoice whose TotalAmt equals the money line(s)."""
    currency = doc.currency
    side = "credit" if entity == "RefundReceipt" else "debit"
    money_lines = [ln for ln in lines if ln.role in money_roles]
    tax_lines = [ln for ln in lines if ln.role == "tax"]
    sales = [ln for ln in lines if ln.role not in money_roles and ln.role != "tax"]
    expected_total = sum((_signed(ln, side) for ln in money_lines), Decimal(0)) * -1
    taxed = settings.tax_mode != "none"
    non_taxable = settings.non_taxable_tax_code_ref

    def code_of(line: PostingLine) -> str:
        return line.tax_code_ref or non_taxable

    our_tax = sum((_signed(ln, side) for ln in tax_lines), Decimal(0))
    if not taxed and our_tax:
        raise Permanent(f"document {doc.reference} carries tax but the connection's tax_mode is 'none'")
    amounts = [_signed(ln, side) for ln in sales]
    rates: dict[str, Decimal] = {}
    by_code: dict[str, list[int]] = {}
    for index, line in enumerate(sales):
        code = code_of(line)
        if taxed and code != non_taxable:
            by_code.setdefault(code, []).append(index)
            rate = _rate_of(code, lines, settings)
            if rate is not None:
                rates[code] = rate
    unknown_rate = any(code not in rates for code in by_code)
    if our_tax and not by_code:
        raise Permanent(f"document {doc.reference} carries tax but none of its lines has a tax code")

    # Our tax per code (a tax line without a known code belongs to the code with the largest base).
    tax_by_code: dict[str, Decimal] = {code: Decimal(0) for code in by_code}
    bases = {code: abs(sum((amounts[i] for i in idx), Decimal(0))) for code, idx in by_code.items()}
    for line in tax_lines:
        code = line.tax_code_ref if line.tax_code_ref in tax_by_code else max(bases, key=bases.__getitem__)
        tax_by_code[code] += _signed(line, side)

    gross = _gross_amounts(amounts, by_code, tax_by_code, currency) if doc.prices_include_tax else amounts

    body: dict[str, Any] = _header(doc, home_currency)
    out_lines: list[dict[str, Any]] = []
    for index, line in enumerate(sales):
        amount = amounts[index]
        item = line.item_ref or (settings.items or {}).get(line.role, "") or settings.default_item_ref
        if not item:
            raise Permanent(
                f"{line.role} line {line.account_code} needs a QuickBooks item: map it or set default_item_ref"
            )
        qty, price = _qty_and_price(line, amount, currency)
        detail: dict[str, Any] = {"ItemRef": _ref(item), "Qty": qty, "UnitPrice": price}
        if taxed:
            detail["TaxCodeRef"] = _ref(code_of(line))
            if doc.prices_include_tax:
                detail["TaxInclusiveAmt"] = gross[index]
        out_lines.append(
            {
                "Description": (line.description or line.role)[:4000],
                "Amount": amount,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": detail,
            }
        )

    taxable = {code: [gross[i] for i in idx] for code, idx in by_code.items()}
    if doc.prices_include_tax or not taxed:
        ledger_total = sum(gross, Decimal(0))
    elif unknown_rate:
        # Without the rates the ledger's figure cannot be predicted: state ours.
        body["TxnTaxDetail"] = {"TotalTax": our_tax}
        ledger_total = sum(amounts, Decimal(0)) + our_tax
    else:
        ledger_tax = _ledger_tax(taxable, rates, settings.tax_rounding == "line", currency)
        difference = our_tax - ledger_tax
        tolerance = money.quantum(currency) * (len(sales) + 1)
        if abs(difference) > tolerance:
            raise Permanent(
                f"document {doc.reference}: tax {our_tax} differs from QuickBooks' {ledger_tax} by more than "
                "rounding; check the tax code mapping"
            )
        if difference and settings.rounding_item_ref:
            out_lines.append(_rounding_line(difference, settings))
        elif difference:
            body["TxnTaxDetail"] = {"TotalTax": our_tax}
        ledger_total = sum(amounts, Decimal(0)) + our_tax
    if ledger_total != expected_total:
        raise Permanent(
            f"document {doc.reference}: lines add up to {ledger_total}, the money line is {expected_total}"
        )

    body["Line"] = out_lines
    if taxed:
        body["GlobalTaxCalculation"] = "TaxInclusive" if doc.prices_include_tax else "TaxExcluded"
    else:
        body["GlobalTaxCalculation"] = "NotApplicable"
    customer = doc.customer_ref or settings.default_customer_ref
    if customer:
        body["CustomerRef"] = _ref(customer)
    elif entity == "Invoice":
        raise Permanent(f"invoice {doc.reference} needs a customer: set customer_ref or default_customer_ref")
    if entity != "Invoice":
        body["DepositToAccountRef"] = _account_ref(money_lines[0])
    return QboDocument(entity, body, body["DocNumber"], expected_total)


def _rounding_line(difference: Decimal, settings: QboSettings) -> dict[str, Any]:
    """A non-taxable line carrying the cent by which QuickBooks' tax differs from ours."""
    return {
        "Description": "Tax rounding",
        "Amount": difference,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {
            "ItemRef": _ref(settings.rounding_item_ref),
            "Qty": Decimal(1),
            "UnitPrice": difference,
            "TaxCodeRef": _ref(settings.non_taxable_tax_code_ref),
        },
    }


# --------------------------------------------------------------------------------------------
# Deposit and JournalEntry
# --------------------------------------------------------------------------------------------


def _fits_deposit(lines: list[PostingLine]) -> bool:
    bank = [ln for ln in lines if ln.role == "bank"]
    return len(bank) == 1 and bank[0].debit > 0 and len(lines) > 1


def _deposit(doc: PostingDocument, lines: list[PostingLine], home_currency: str) -> QboDocument:
    """A Deposit into the bank line's account: credits as positive lines, debits (fees) negative."""
    bank = next(ln for ln in lines if ln.role == "bank")
    body = _header(doc, home_currency)
    body["DepositToAccountRef"] = _account_ref(bank)
    body["Line"] = [
        {
            "Description": (line.description or line.role)[:4000],
            "Amount": line.credit - line.debit,  # clearing in (+), fees out (-)
            "DetailType": "DepositLineDetail",
            "DepositLineDetail": {"AccountRef": _account_ref(line)},
        }
        for line in lines
        if line is not bank
    ]
    return QboDocument("Deposit", body, body["DocNumber"], bank.debit)


def _journal(
    doc: PostingDocument, lines: list[PostingLine], home_currency: str, settings: QboSettings
) -> QboDocument:
    """A JournalEntry line per posting line; A/R lines carry their customer."""
    body = _header(doc, home_currency)
    out = []
    for line in lines:
        detail: dict[str, Any] = {
            "PostingType": "Debit" if line.debit > 0 else "Credit",
            "AccountRef": _account_ref(line),
        }
        if line.role == "receivable":
            # QuickBooks refuses an A/R journal line without its customer.
            customer = doc.customer_ref or settings.default_customer_ref
            if not customer:
                raise Permanent(f"receivable line of {doc.reference} needs a customer (customer_ref)")
            detail["Entity"] = {"Type": "Customer", "EntityRef": _ref(customer)}
        out.append(
            {
                "Description": (line.description or line.role)[:4000],
                "Amount": line.debit or line.credit,
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": detail,
            }
        )
    body["Line"] = out
    return QboDocument("JournalEntry", body, body["DocNumber"], sum((ln.debit for ln in lines), Decimal(0)))
