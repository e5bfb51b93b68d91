"""The ledger-target layer's plan -> QuickBooks Online entities. Pure functions: no HTTP, no clock.

================================  ===========================================================
plan (connectors.ledgers.common)  QuickBooks entity
================================  ===========================================================
receipt                           ``SalesReceipt`` deposited to the money account
invoice                           ``Invoice`` (customer, ``DueDate``), then one ``Payment`` per
                                  money account linked to it (``LinkedTxn``), so an invoice paid
                                  at once is closed and one paid later stays open
credit note with one settlement   ``RefundReceipt`` paid from the money account
credit note without settlement    ``CreditMemo`` (the customer's credit)
customer payment                  ``Payment`` linked to the invoice it pays (``LinkedTxn``)
bank deposit                      ``Deposit`` into the bank: clearing in (+), fees out (-), so the
                                  deposit is the real bank deposit
journal                           ``JournalEntry`` (A/R lines name their customer)
================================  ===========================================================

Revenue. QuickBooks books a sales line to its *item's* income account, whatever the line says, so
every line's item must carry the mapped account: the target finds or creates one item per income
account (:class:`QboRefs.items`) and refuses, before sending, a mapped item whose income account
differs from the mapping (:func:`check_items`).

Tax. Lines go out net of tax (``GlobalTaxCalculation: TaxExcluded``), each with its tax code (a
discount line with the code of the line it reduces; an untaxed line with the connection's
``non_taxable_tax_code_ref``), and ``TxnTaxDetail`` states our tax per tax rate (``TaxLine``), so
QuickBooks records our tax to the cent instead of recomputing it.

Numbers: ``DocNumber`` and ``PaymentRefNum`` hold 21 characters (the layer's short form beyond);
the full reference is in ``PrivateNote``. ``requestid`` holds at most 50 characters (36 in a
batch): a longer or unusual key is replaced by a prefix letter and a hex SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import re
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
    allocate,
    deposit_as_journal,
)
from integrator import money

__all__ = [
    "DOC_NUMBER_MAX",
    "NUMBER_RULES",
    "QboEntity",
    "QboPlan",
    "QboRefs",
    "QboSettings",
    "check_items",
    "render",
    "request_id",
]

DOC_NUMBER_MAX = 21
NUMBER_RULES = NumberRules(max_length=DOC_NUMBER_MAX, allowed=r"[A-Za-z0-9#/._:\-]+")
UNIT_PRICE_PLACES = Decimal("0.0000001")


def request_id(key: str, limit: int = 50, prefix: str = "h") -> str:
    """A ``requestid`` for an idempotency key: the key itself when short and URL-plain, else a
    deterministic digest of it of at most ``limit`` characters."""
    if len(key) <= limit and re.fullmatch(r"[A-Za-z0-9._~-]+", key):
        return key
    return prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()[: limit - len(prefix)]


@dataclass(frozen=True)
class QboSettings:
    """The connection settings the renderer reads (all optional)."""

    default_customer_ref: str = ""
    walk_in_name: str = "Walk-in customer"
    non_taxable_tax_code_ref: str = ""
    tax_mode: str = "codes"  # codes | none
    payout_document: str = "deposit"  # deposit | journal
    due_days: int = 0
    item_prefix: str = "Integrator"

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> QboSettings:
        """Read the known keys of a connection's settings."""
        known = {name: settings[name] for name in cls.__dataclass_fields__ if name in settings}
        if "due_days" in known:
            known["due_days"] = int(known["due_days"] or 0)
        return cls(**known)


@dataclass(frozen=True)
class QboRefs:
    """What the target resolved in the company before rendering: the customer, the item of each
    income account, each tax code's rates (rate id, percent) and the item income accounts."""

    customer_ref: str = ""
    items: Mapping[str, str] = field(default_factory=dict)
    tax_rates: Mapping[str, tuple[tuple[str, Decimal], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class QboEntity:
    """One entity to create: its name, body, the number it is found by and its expected total."""

    entity: str
    payload: dict[str, Any]
    number: str
    total: Decimal
    number_field: str = "DocNumber"

    @property
    def endpoint(self) -> str:
        """The REST resource, e.g. ``salesreceipt``."""
        return self.entity.lower()


@dataclass(frozen=True)
class QboPlan:
    """The main entity and the payments to link to it once it exists (``LinkedTxn`` is filled in
    with the main entity's id at send time)."""

    plan: PlannedDocument
    main: QboEntity
    payments: tuple[QboEntity, ...] = ()

    @property
    def paid_total(self) -> Decimal:
        """What the linked payments add up to."""
        return sum((p.total for p in self.payments), Decimal(0))


def _ref(value: str) -> dict[str, str]:
    return {"value": value}


def _account_ref(ref: str, code: str, role: str) -> dict[str, str]:
    if not ref:
        raise Permanent(
            f"account {code or '?'} ({role}) has no QuickBooks id: refresh the chart of accounts on the "
            "connection page"
        )
    return _ref(ref)


def _header(number: str, reference: str, day: Any, memo: str, currency: str, rate: Decimal | None,
            home_currency: str) -> dict[str, Any]:  # fmt: skip
    """DocNumber, TxnDate, PrivateNote and, for a foreign currency, CurrencyRef and ExchangeRate."""
    header: dict[str, Any] = {
        "DocNumber": number,
        "TxnDate": day.isoformat(),
        "PrivateNote": f"{reference}: {memo}"[:4000] if memo else reference,
    }
    if money.normalize_currency(currency) != money.normalize_currency(home_currency):
        header["CurrencyRef"] = _ref(money.normalize_currency(currency))
        if rate is not None:
            header["ExchangeRate"] = rate
    return header


def _qty_and_price(line: SalesLine, currency: str) -> tuple[Decimal, Decimal]:
    """Qty and UnitPrice whose product rounds to the line amount (QuickBooks error 6070 otherwise)."""
    amount, qty, price = line.amount, line.quantity, line.unit_price
    if qty and qty > 0 and amount > 0:
        if price is not None and money.quantize(qty * price, currency) == amount:
            return qty, price
        derived = (amount / qty).quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
        if money.quantize(qty * derived, currency) == amount:
            return qty, derived
    return Decimal(1), amount


def check_items(doc: SalesDocument, item_accounts: Mapping[str, str]) -> None:
    """Refuse a mapped item whose income account is not the line's mapped account: QuickBooks would
    book the revenue to the item's account and the books would differ from the journal."""
    for line in doc.lines:
        if not line.item_ref:
            continue
        income = item_accounts.get(line.item_ref)
        if income is None:
            raise Permanent(
                f"QuickBooks item {line.item_ref} (mapped for {line.description!r}) does not exist"
            )
        if income != line.account_ref:
            raise Permanent(
                f"QuickBooks item {line.item_ref} books to income account {income}, but the mapping says "
                f"{line.account_code} for {line.description!r}: fix the item or the mapping before posting",
                vendor_code="item_account_mismatch",
            )


def _tax_detail(doc: SalesDocument, refs: QboRefs) -> dict[str, Any]:
    """``TxnTaxDetail`` with our tax per rate (a compound code's tax split by the rates' percents)."""
    tax_lines = []
    for tax in doc.taxes:
        code = tax.tax_code_ref
        rates = refs.tax_rates.get(code) or ()
        if not rates:
            if tax.amount:
                raise Permanent(
                    f"QuickBooks tax code {code or tax.tax_code} has no sales tax rate to carry {tax.amount}"
                )
            continue
        parts = allocate(tax.amount, [percent or Decimal(1) for _, percent in rates], doc.currency)
        for (rate_id, percent), part in zip(rates, parts, strict=True):
            tax_lines.append(
                {
                    "Amount": part,
                    "DetailType": "TaxLineDetail",
                    "TaxLineDetail": {
                        "TaxRateRef": _ref(rate_id),
                        "PercentBased": True,
                        "TaxPercent": percent,
                        "NetAmountTaxable": tax.base,
                    },
                }
            )
    return {"TotalTax": doc.tax_total, "TaxLine": tax_lines}


def _sales_lines(doc: SalesDocument, refs: QboRefs, settings: QboSettings) -> list[dict[str, Any]]:
    taxed = settings.tax_mode != "none"
    out = []
    for line in doc.lines:
        item = line.item_ref or refs.items.get(line.account_ref, "")
        if not item:
            raise Permanent(
                f"{line.role} line {line.account_code} has no QuickBooks item for its income account"
            )
        qty, price = _qty_and_price(line, doc.currency)
        detail: dict[str, Any] = {"ItemRef": _ref(item), "Qty": qty, "UnitPrice": price}
        if taxed:
            code = line.tax_code_ref or settings.non_taxable_tax_code_ref
            if not code:
                raise Permanent(
                    f"{line.role} line {line.account_code} has no tax code: map one, or set the connection's "
                    "non-taxable tax code (non_taxable_tax_code_ref)"
                )
            detail["TaxCodeRef"] = _ref(code)
        out.append(
            {
                "Description": line.description[:4000],
                "Amount": line.amount,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": detail,
            }
        )
    return out


def _sales(doc: SalesDocument, refs: QboRefs, settings: QboSettings, home: str) -> QboPlan:
    """SalesReceipt, Invoice (+ payments), RefundReceipt or CreditMemo."""
    if settings.tax_mode == "none" and doc.tax_total:
        raise Permanent(f"document {doc.reference} carries tax but the connection's tax_mode is 'none'")
    if doc.total < 0:
        raise Permanent(f"document {doc.reference} comes to {doc.total}: QuickBooks refuses a negative total")
    if doc.type == "receipt":
        entity = "SalesReceipt"
    elif doc.type == "invoice":
        entity = "Invoice"
    elif doc.settlements:
        entity = "RefundReceipt"
    else:
        entity = "CreditMemo"
    if entity == "RefundReceipt" and len(doc.settlements) != 1:
        raise Permanent(f"credit note {doc.reference} is repaid into {len(doc.settlements)} accounts")
    body = _header(doc.number, doc.reference, doc.date, doc.memo, doc.currency, doc.exchange_rate, home)
    body["Line"] = _sales_lines(doc, refs, settings)
    if settings.tax_mode == "none":
        body["GlobalTaxCalculation"] = "NotApplicable"
    else:
        body["GlobalTaxCalculation"] = "TaxExcluded"
        body["TxnTaxDetail"] = _tax_detail(doc, refs)
    if not refs.customer_ref:
        raise Permanent(f"document {doc.reference} needs a QuickBooks customer")
    body["CustomerRef"] = _ref(refs.customer_ref)
    if entity in ("SalesReceipt", "RefundReceipt"):
        settlement = doc.settlements[0]
        body["DepositToAccountRef"] = _account_ref(settlement.account_ref, settlement.account_code, "money")
    if entity == "Invoice" and doc.due_date is not None:
        body["DueDate"] = doc.due_date.isoformat()
    main = QboEntity(entity, body, doc.number, doc.total)
    payments: list[QboEntity] = []
    if entity == "Invoice":
        for n, settlement in enumerate(doc.settlements, start=1):
            number = _payment_number(settlement.reference)
            payments.append(
                QboEntity(
                    "Payment",
                    {
                        "CustomerRef": _ref(refs.customer_ref),
                        "TotalAmt": settlement.amount,
                        "TxnDate": doc.date.isoformat(),
                        "PaymentRefNum": number,
                        "PrivateNote": f"{doc.reference}: settlement {n}",
                        "DepositToAccountRef": _account_ref(
                            settlement.account_ref, settlement.account_code, "money"
                        ),
                        "Line": [
                            {"Amount": settlement.amount, "LinkedTxn": [{"TxnId": "", "TxnType": "Invoice"}]}
                        ],
                        **_currency(doc.currency, doc.exchange_rate, home),
                    },
                    number,
                    settlement.amount,
                    number_field="PaymentRefNum",
                )
            )
    return QboPlan(doc, main, tuple(payments))


def _payment_number(reference: str) -> str:
    from connectors.ledgers.common import short_form

    return reference if len(reference) <= DOC_NUMBER_MAX else short_form(reference, DOC_NUMBER_MAX)


def _currency(currency: str, rate: Decimal | None, home: str) -> dict[str, Any]:
    if money.normalize_currency(currency) == money.normalize_currency(home):
        return {}
    fields: dict[str, Any] = {"CurrencyRef": _ref(money.normalize_currency(currency))}
    if rate is not None:
        fields["ExchangeRate"] = rate
    return fields


def _payment(doc: CustomerPayment, refs: QboRefs, home: str) -> QboPlan:
    """A Payment linked to the invoice it pays (unapplied when the invoice is unknown)."""
    if not refs.customer_ref:
        raise Permanent(f"payment {doc.reference} needs a QuickBooks customer")
    line: dict[str, Any] = {"Amount": doc.amount}
    if doc.invoice_remote_id:
        line["LinkedTxn"] = [{"TxnId": doc.invoice_remote_id, "TxnType": "Invoice"}]
    number = _payment_number(doc.number)
    body = {
        "CustomerRef": _ref(refs.customer_ref),
        "TotalAmt": doc.amount,
        "TxnDate": doc.date.isoformat(),
        "PaymentRefNum": number,
        "PrivateNote": f"{doc.reference}: {doc.memo}"[:4000] if doc.memo else doc.reference,
        "DepositToAccountRef": _account_ref(doc.account_ref, doc.account_code, "money"),
        "Line": [line] if doc.invoice_remote_id else [],
        **_currency(doc.currency, doc.exchange_rate, home),
    }
    return QboPlan(doc, QboEntity("Payment", body, number, doc.amount, number_field="PaymentRefNum"))


def _deposit(doc: BankDeposit, home: str) -> QboPlan:
    """A Deposit into the bank: clearing in as positive lines, fees and adjustments negative."""
    body = _header(doc.number, doc.reference, doc.date, doc.memo, doc.currency, doc.exchange_rate, home)
    body["DepositToAccountRef"] = _account_ref(doc.bank_ref, doc.bank_code, "bank")
    body["Line"] = [
        {
            "Description": line.description[:4000],
            "Amount": line.amount,
            "DetailType": "DepositLineDetail",
            "DepositLineDetail": {"AccountRef": _account_ref(line.account_ref, line.account_code, line.role)},
        }
        for line in doc.lines
    ]
    return QboPlan(doc, QboEntity("Deposit", body, doc.number, doc.amount))


def _journal(doc: JournalPlan, refs: QboRefs, home: str) -> QboPlan:
    """A JournalEntry line per plan line; A/R lines carry their customer."""
    body = _header(doc.number, doc.reference, doc.date, doc.memo, doc.currency, doc.exchange_rate, home)
    out = []
    for line in doc.lines:
        detail: dict[str, Any] = {
            "PostingType": "Debit" if line.debit > 0 else "Credit",
            "AccountRef": _account_ref(line.account_ref, line.account_code, line.role),
        }
        if line.role == "receivable":
            # QuickBooks refuses an A/R journal line without its customer.
            if not refs.customer_ref:
                raise Permanent(f"receivable line of {doc.reference} needs a customer")
            detail["Entity"] = {"Type": "Customer", "EntityRef": _ref(refs.customer_ref)}
        out.append(
            {
                "Description": line.description[:4000],
                "Amount": line.debit or line.credit,
                "DetailType": "JournalEntryLineDetail",
                "JournalEntryLineDetail": detail,
            }
        )
    body["Line"] = out
    return QboPlan(doc, QboEntity("JournalEntry", body, doc.number, doc.total))


def render(plan: PlannedDocument, refs: QboRefs, settings: QboSettings, *, home_currency: str) -> QboPlan:
    """The QuickBooks entities for a planned document (see the module docstring)."""
    if isinstance(plan, SalesDocument):
        return _sales(plan, refs, settings, home_currency)
    if isinstance(plan, CustomerPayment):
        return _payment(plan, refs, home_currency)
    if isinstance(plan, BankDeposit):
        if settings.payout_document == "deposit" and plan.amount >= 0:
            return _deposit(plan, home_currency)
        return _journal(deposit_as_journal(plan), refs, home_currency)
    return _journal(plan, refs, home_currency)
