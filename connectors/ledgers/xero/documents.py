"""PostingDocument -> Xero documents. Pure functions: no HTTP, no clock.

=================  ===================================================================
``sale``,          ``ACCREC`` invoice (``InvoiceNumber`` = our reference, ``AUTHORISED``) and
``invoice``        one payment per money account (clearing or bank lines) into that account; a
                   receivable line stays outstanding on the invoice.
``refund``         ``ACCRECCREDIT`` credit note (``CreditNoteNumber`` = our reference) and a
                   refund payment per money account.
``payout``         ``BankTransfer`` clearing -> bank when the payout is just that (``Reference``
                   = our reference); with fee lines a ``ManualJournal`` whose bank line is the
                   real deposit (setting ``payout_document``: ``auto``, ``transfer``, ``journal``).
anything else      ``ManualJournal`` (``LineAmount`` + for a debit, - for a credit; ``Narration``
                   starts with ``[<reference>]``, which is how it is looked up).
=================  ===================================================================

Fee and adjustment lines cannot sit on an invoice, so a sale carrying them becomes a journal.
Sales lines keep their own account (``AccountCode``), tax type (``TaxType`` = ``tax_code_ref`` or
``tax_code``) and item (``ItemCode``); a debit on a sales line (discount, gift card redeemed) is a
negative line.

Tax and the cent. Xero computes tax per line, rounded half away from zero (``tax_rounding``
``line``; ``document`` is available for organisations set to round on the total). For
tax-exclusive documents a difference between Xero's figure and ours goes on an explicit line to
``rounding_account_code`` with tax type ``no_tax_type``; without a rounding account our tax is
written on the lines as ``TaxAmount`` (Xero accepts an adjusted line tax). Tax-inclusive lines are
sent gross (our tax allocated to the lines of its code), so the total is exact whatever Xero's
split. ``UnitAmount`` has up to 4 decimals (the target sends ``unitdp=4``); when no unit price
with 4 decimals gives the line amount, the line is sent as quantity 1.

Currency. ``CurrencyRate`` is Xero's rate: units of the document currency per unit of the base
currency, i.e. the inverse of ``PostingDocument.exchange_rate`` (base units per document unit,
QuickBooks' convention), to 6 decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connectors.base import Permanent, PostingDocument, PostingLine
from integrator import money

__all__ = ["XeroDocument", "XeroPayment", "XeroSettings", "build_document", "narration_prefix"]

MONEY_ROLES = frozenset({"clearing", "bank"})
JOURNAL_ONLY_ROLES = frozenset({"fee", "adjustment"})
UNIT_PLACES = Decimal("0.0001")
RATE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class XeroSettings:
    """The connection settings the document builder reads (all optional)."""

    default_contact_id: str = ""
    default_contact_name: str = "Sales"
    rounding_account_code: str = ""
    no_tax_type: str = "NONE"
    tax_rounding: str = "line"  # line | document
    tax_mode: str = "codes"  # codes | none
    tax_rates: Mapping[str, str] | None = None  # TaxType -> rate as a fraction
    payout_document: str = "auto"  # auto | transfer | journal
    due_days: int = 0

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> XeroSettings:
        """Read the known keys of a connection's settings."""
        return cls(**{name: settings[name] for name in cls.__dataclass_fields__ if name in settings})


@dataclass(frozen=True)
class XeroPayment:
    """A payment (or refund) to apply to the invoice or credit note, into a money account."""

    account: dict[str, str]
    amount: Decimal
    reference: str


@dataclass(frozen=True)
class XeroDocument:
    """What a document becomes: ``kind`` (``Invoice``, ``CreditNote``, ``ManualJournal``,
    ``BankTransfer``), the collection it is PUT to, its body, the number it is looked up by, the
    total Xero will show and the payments to apply after it."""

    kind: str
    collection: str
    payload: dict[str, Any]
    number: str
    total: Decimal
    payments: tuple[XeroPayment, ...] = field(default=())

    @property
    def paid_total(self) -> Decimal:
        """What the payments add up to."""
        return sum((p.amount for p in self.payments), Decimal(0))


def narration_prefix(reference: str) -> str:
    """The start of a manual journal's Narration, by which it is found again."""
    return f"[{reference}]"


def _account(line: PostingLine) -> dict[str, str]:
    if line.account_code:
        return {"Code": line.account_code}
    if line.account_ref:
        return {"AccountID": line.account_ref}
    raise Permanent(f"{line.role} line has no Xero account code")


def _line_account(line: PostingLine) -> dict[str, str]:
    """``AccountCode`` (or ``AccountID`` when the account has no code) of a line item or journal line."""
    if line.account_code:
        return {"AccountCode": line.account_code}
    if line.account_ref:
        return {"AccountID": line.account_ref}
    raise Permanent(f"{line.role} line has no Xero account code")


def _lines(doc: PostingDocument) -> list[PostingLine]:
    """The non-zero lines, each with one positive side; the document must balance."""
    lines = [ln for ln in doc.lines if ln.debit or ln.credit]
    for line in lines:
        if line.debit < 0 or line.credit < 0 or (line.debit > 0 and line.credit > 0):
            raise Permanent(f"line {line.account_code} ({line.role}) must have one positive side")
    if not lines:
        raise Permanent(f"document {doc.reference} has no lines")
    if sum((ln.debit for ln in lines), Decimal(0)) != sum((ln.credit for ln in lines), Decimal(0)):
        raise Permanent(f"document {doc.reference} does not balance")
    return lines


def _currency_fields(doc: PostingDocument, home_currency: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"CurrencyCode": money.normalize_currency(doc.currency)}
    foreign = fields["CurrencyCode"] != money.normalize_currency(home_currency)
    if foreign and doc.exchange_rate:
        fields["CurrencyRate"] = (1 / doc.exchange_rate).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    return fields


def build_document(doc: PostingDocument, *, home_currency: str, settings: XeroSettings) -> XeroDocument:
    """The Xero document for a PostingDocument (see the module docstring). Raises Permanent for a
    document that cannot be sent as it is."""
    lines = _lines(doc)
    if doc.kind in ("sale", "invoice") and _fits_sales_form(lines, "debit"):
        return _sales_form(doc, lines, "Invoice", home_currency, settings)
    if doc.kind == "refund" and _fits_sales_form(lines, "credit"):
        return _sales_form(doc, lines, "CreditNote", home_currency, settings)
    if doc.kind == "payout" and settings.payout_document != "journal" and _fits_transfer(lines):
        return _transfer(doc, lines)
    return _journal(doc, lines, home_currency)


# --------------------------------------------------------------------------------------------
# Invoices and credit notes
# --------------------------------------------------------------------------------------------


def _fits_sales_form(lines: list[PostingLine], money_side: str) -> bool:
    """True when every line can sit on an invoice / credit note (no fee or adjustment line)."""
    settlement = MONEY_ROLES | ({"receivable"} if money_side == "debit" else set())
    money_lines = [ln for ln in lines if ln.role in settlement]
    if not money_lines or any((ln.debit if money_side == "debit" else ln.credit) <= 0 for ln in money_lines):
        return False
    others = [ln for ln in lines if ln.role not in settlement]
    return bool(others) and not any(ln.role in JOURNAL_ONLY_ROLES | {"receivable"} for ln in others)


def _signed(line: PostingLine, money_side: str) -> Decimal:
    return line.credit - line.debit if money_side == "debit" else line.debit - line.credit


def _quantity_and_unit(line: PostingLine, amount: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """Quantity and a 4-decimal UnitAmount whose product rounds to ``amount`` (else 1 x amount)."""
    qty, price = line.quantity, line.unit_price
    if qty and qty > 0:
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


def _tax_type(line: PostingLine, settings: XeroSettings) -> str:
    return line.tax_code_ref or line.tax_code or settings.no_tax_type


def _rate(tax_type: str, lines: list[PostingLine], settings: XeroSettings) -> Decimal | None:
    for line in lines:
        if _tax_type(line, settings) == tax_type and line.tax_rate is not None:
            return line.tax_rate
    configured = (settings.tax_rates or {}).get(tax_type)
    return Decimal(str(configured)) if configured not in (None, "") else None


def _allocate(share: Decimal, amounts: list[Decimal], currency: str) -> list[Decimal]:
    """``share`` spread over ``amounts`` in proportion, the remainder on the largest amount."""
    base = sum(amounts, Decimal(0))
    parts = [money.quantize(share * a / base, currency) if base else Decimal(0) for a in amounts]
    largest = max(range(len(amounts)), key=lambda i: abs(amounts[i]))
    parts[largest] += share - sum(parts, Decimal(0))
    return parts


def _xero_tax(
    by_type: dict[str, list[int]],
    amounts: list[Decimal],
    rates: dict[str, Decimal],
    per_line: bool,
    currency: str,
) -> Decimal:
    """The tax Xero computes on tax-exclusive lines (half away from zero, per line or on the total)."""
    total = Decimal(0)
    for tax_type, indexes in by_type.items():
        values = [amounts[i] * rates[tax_type] for i in indexes]
        if per_line:
            total += sum((money.quantize(v, currency) for v in values), Decimal(0))
        else:
            total += money.quantize(sum(values, Decimal(0)), currency)
    return total


def _reconcile_tax(
    doc: PostingDocument,
    items: list[dict[str, Any]],
    lines: list[PostingLine],
    by_type: dict[str, list[int]],
    amounts: list[Decimal],
    line_tax: list[Decimal],
    our_tax: Decimal,
    settings: XeroSettings,
) -> None:
    """Make Xero's total equal ours: a rounding line for a cent's difference, or our tax written on
    the lines when there is no rounding account or Xero's figure cannot be predicted."""
    rates = {t: _rate(t, lines, settings) for t in by_type}
    known = {t: r for t, r in rates.items() if r is not None}
    if len(known) < len(rates):
        for index in (i for idx in by_type.values() for i in idx):
            items[index]["TaxAmount"] = line_tax[index]
        return
    predicted = _xero_tax(by_type, amounts, known, settings.tax_rounding != "document", doc.currency)
    difference = our_tax - predicted
    if abs(difference) > money.quantum(doc.currency) * (len(amounts) + 1):
        raise Permanent(
            f"document {doc.reference}: tax {our_tax} differs from Xero's {predicted} by more than rounding; "
            "check the tax type mapping"
        )
    if difference and settings.rounding_account_code:
        rounding = {"Description": "Tax rounding", "Quantity": Decimal(1), "UnitAmount": difference}
        items.append(
            {**rounding, "AccountCode": settings.rounding_account_code, "TaxType": settings.no_tax_type}
        )
    elif difference:
        for index in (i for idx in by_type.values() for i in idx):
            items[index]["TaxAmount"] = line_tax[index]


def _sales_form(
    doc: PostingDocument, lines: list[PostingLine], kind: str, home_currency: str, settings: XeroSettings
) -> XeroDocument:
    """An ACCREC invoice or ACCRECCREDIT credit note with the payments of its money lines."""
    side = "credit" if kind == "CreditNote" else "debit"
    currency = doc.currency
    settlement = MONEY_ROLES | ({"receivable"} if kind == "Invoice" else set())
    money_lines = [ln for ln in lines if ln.role in settlement]
    tax_lines = [ln for ln in lines if ln.role == "tax"]
    sales = [ln for ln in lines if ln.role not in settlement and ln.role != "tax"]
    total = -sum((_signed(ln, side) for ln in money_lines), Decimal(0))
    our_tax = sum((_signed(ln, side) for ln in tax_lines), Decimal(0))
    taxed = settings.tax_mode != "none"
    if our_tax and not taxed:
        raise Permanent(f"document {doc.reference} carries tax but the connection's tax_mode is 'none'")
    amounts = [_signed(ln, side) for ln in sales]
    by_type: dict[str, list[int]] = {}
    for index, line in enumerate(sales):
        if taxed and _tax_type(line, settings) != settings.no_tax_type:
            by_type.setdefault(_tax_type(line, settings), []).append(index)
    if our_tax and not by_type:
        raise Permanent(f"document {doc.reference} carries tax but none of its lines has a tax type")
    bases = {t: abs(sum((amounts[i] for i in idx), Decimal(0))) for t, idx in by_type.items()}
    tax_by_type = dict.fromkeys(by_type, Decimal(0))
    for line in tax_lines:
        key = _tax_type(line, settings)
        tax_by_type[key if key in tax_by_type else max(bases, key=bases.__getitem__)] += _signed(line, side)
    line_tax = [Decimal(0)] * len(sales)
    for tax_type, indexes in by_type.items():
        for i, part in zip(
            indexes, _allocate(tax_by_type[tax_type], [amounts[i] for i in indexes], currency), strict=True
        ):
            line_tax[i] = part

    inclusive = doc.prices_include_tax and taxed
    shown = [amounts[i] + line_tax[i] for i in range(len(sales))] if inclusive else amounts
    items: list[dict[str, Any]] = []
    for index, line in enumerate(sales):
        qty, unit = _quantity_and_unit(line, shown[index], currency)
        item: dict[str, Any] = {
            "Description": (line.description or line.role)[:4000],
            "Quantity": qty,
            "UnitAmount": unit,
            "TaxType": _tax_type(line, settings) if taxed else settings.no_tax_type,
            **_line_account(line),
        }
        if line.item_ref:
            item["ItemCode"] = line.item_ref
        items.append(item)

    if taxed and not inclusive and by_type:
        _reconcile_tax(doc, items, lines, by_type, amounts, line_tax, our_tax, settings)

    contact = doc.customer_ref or settings.default_contact_id
    payload: dict[str, Any] = {
        "Type": "ACCREC" if kind == "Invoice" else "ACCRECCREDIT",
        "Contact": {"ContactID": contact}
        if contact
        else {"Name": doc.customer_name or settings.default_contact_name},
        "Date": doc.date.isoformat(),
        "LineAmountTypes": ("Inclusive" if inclusive else "Exclusive") if taxed else "NoTax",
        "Status": "AUTHORISED",
        "LineItems": items,
        **_currency_fields(doc, home_currency),
    }
    number_key = "InvoiceNumber" if kind == "Invoice" else "CreditNoteNumber"
    payload[number_key] = doc.reference
    if kind == "Invoice":
        payload["DueDate"] = (doc.date + timedelta(days=int(settings.due_days))).isoformat()
    if doc.memo:
        payload["Reference"] = doc.memo[:255]
    payments = _payments(doc, [ln for ln in money_lines if ln.role in MONEY_ROLES], side)
    collection = "Invoices" if kind == "Invoice" else "CreditNotes"
    return XeroDocument(kind, collection, payload, doc.reference, total, payments)


def _payments(doc: PostingDocument, money_lines: list[PostingLine], side: str) -> tuple[XeroPayment, ...]:
    """One payment per money account, referenced ``<reference>/<n>`` so a retry can tell which
    payments Xero already holds."""
    by_account: dict[tuple[str, str], Decimal] = {}
    first: dict[tuple[str, str], PostingLine] = {}
    for line in money_lines:
        key = (line.account_code, line.account_ref)
        by_account[key] = by_account.get(key, Decimal(0)) - _signed(line, side)
        first.setdefault(key, line)
    return tuple(
        XeroPayment(_account(first[key]), amount, f"{doc.reference}/{n}")
        for n, (key, amount) in enumerate(by_account.items(), start=1)
    )


# --------------------------------------------------------------------------------------------
# Bank transfers and manual journals
# --------------------------------------------------------------------------------------------


def _fits_transfer(lines: list[PostingLine]) -> bool:
    if len(lines) != 2:
        return False
    bank = [ln for ln in lines if ln.role == "bank" and ln.debit > 0]
    source = [ln for ln in lines if ln.role in MONEY_ROLES and ln.credit > 0]
    return len(bank) == 1 and len(source) == 1


def _transfer(doc: PostingDocument, lines: list[PostingLine]) -> XeroDocument:
    """A bank transfer from the money account credited to the bank account debited."""
    bank = next(ln for ln in lines if ln.debit > 0)
    source = next(ln for ln in lines if ln.credit > 0)
    payload = {
        "FromBankAccount": _account(source),
        "ToBankAccount": _account(bank),
        "Amount": bank.debit,
        "Date": doc.date.isoformat(),
        "Reference": doc.reference,
    }
    return XeroDocument("BankTransfer", "BankTransfers", payload, doc.reference, bank.debit)


def _journal(doc: PostingDocument, lines: list[PostingLine], home_currency: str) -> XeroDocument:
    """A posted manual journal: + for a debit, - for a credit, narration ``[<reference>] memo``."""
    if money.normalize_currency(doc.currency) != money.normalize_currency(home_currency):
        # Xero manual journals are in the base currency only.
        raise Permanent(f"document {doc.reference}: Xero manual journals must be in {home_currency}")
    narration = f"{narration_prefix(doc.reference)} {doc.memo}".strip()
    payload = {
        "Narration": narration[:4000],
        "Date": doc.date.isoformat(),
        "LineAmountTypes": "NoTax",
        "Status": "POSTED",
        "JournalLines": [
            {
                "LineAmount": line.debit - line.credit,
                "Description": (line.description or line.role)[:4000],
                **_line_account(line),
            }
            for line in lines
        ],
    }
    total = sum((ln.debit for ln in lines), Decimal(0))
    return XeroDocument("ManualJournal", "ManualJournals", payload, doc.reference, total)
