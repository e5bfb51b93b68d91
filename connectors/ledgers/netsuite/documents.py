"""The ledger-target layer's plan -> NetSuite records. Pure functions: no HTTP, no clock.

================================  ===========================================================
plan (connectors.ledgers.common)  NetSuite record(s)
================================  ===========================================================
receipt                           ``cashSale`` paid into the money account (``undepFunds``
                                  false, ``account``)
invoice                           ``invoice`` (``dueDate``), then one ``customerPayment`` per
                                  money account applied to it (``apply`` sublist)
credit note                       ``creditMemo`` (applied to its invoice when it reverses one),
                                  then one ``customerRefund`` per money account paying the
                                  credit back (applied to the credit memo)
customer payment                  ``customerPayment`` applied to the invoice it pays
bank deposit (money in)           ``deposit``: clearing balances as ``other`` lines, fees and
                                  adjustments as ``cashBack`` lines, so the deposit is the real
                                  bank deposit
anything else                     ``journalEntry`` (receivable lines name their customer)
================================  ===========================================================

Order-to-invoice (the connection's ``order_to_invoice`` setting). An invoice becomes a
``salesOrder`` (external id ``<reference>``, approved: ``orderStatus`` B, the same item lines and
tax details) and the invoice billed from it (:func:`order_records`): the invoice carries our
number, dates, A/R account and tax details with the override, and NetSuite links it to the order
(``createdFrom``); its item lines are the order's.

Every record carries its ``externalId`` (our reference; a follower ``<reference>/pay/<n>`` or
``/refund/<n>``), which is what makes a re-send an upsert of the same record instead of a second
one, and the connection's subsidiary, department, class and location.

Tax (SuiteTax). A taxed line carries ``taxDetailsReference``; the ``taxDetails`` sublist holds one
row per such line with our tax code, base, rate and **our** tax amount, and ``taxDetailsOverride``
is true, so NetSuite records exactly our tax instead of recomputing it.

Revenue. NetSuite books a sales line to its *item's* income account, so every line uses the item
the target keeps for the line's income account (one non-inventory sale item per account).

Records are kept in a transport-neutral form (:class:`NsRecord`): fields, references
(:class:`Ref`) and sublists. :func:`rest_body` gives the REST JSON; the SOAP transport builds its
typed objects from the same record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

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
    "MAIN",
    "NUMBER_RULES",
    "NsPlan",
    "NsRecord",
    "NsRefs",
    "NsSettings",
    "Ref",
    "order_records",
    "render",
    "rest_body",
]

#: ``tranId`` holds 45 characters.
NUMBER_RULES = NumberRules(max_length=45)
#: The apply line of a follower names the main record by this placeholder until it has an id.
MAIN = "$main"
ZERO = Decimal(0)


@dataclass(frozen=True)
class Ref:
    """A reference to another record by its internal id."""

    id: str


@dataclass(frozen=True)
class NsRecord:
    """One NetSuite record to upsert: its type (REST name: ``cashSale``), external id, body
    fields and sublists (name -> rows)."""

    type: str
    external_id: str
    fields: Mapping[str, Any]
    sublists: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        """What the record comes to, as its read-back total is compared: item lines and tax for a
        sales record, ``payment`` / ``total`` for money records, the debits of a journal."""
        if self.type in ("cashSale", "invoice", "creditMemo", "salesOrder"):
            items = sum((Decimal(r["amount"]) for r in self.sublists.get("item", ())), ZERO)
            taxes = sum((Decimal(r["taxAmount"]) for r in self.sublists.get("taxDetails", ())), ZERO)
            return items + taxes
        if self.type == "journalEntry":
            return sum((Decimal(r.get("debit", 0)) for r in self.sublists.get("line", ())), ZERO)
        if self.type == "deposit":
            other = sum((Decimal(r["amount"]) for r in self.sublists.get("other", ())), ZERO)
            back = sum((Decimal(r["amount"]) for r in self.sublists.get("cashBack", ())), ZERO)
            return other - back
        return Decimal(self.fields.get("payment") or self.fields.get("total") or 0)

    def with_main(self, main_id: str) -> NsRecord:
        """This follower with its apply lines pointing at the main record's internal id."""
        apply = tuple(
            {**row, "doc": Ref(main_id)} if isinstance(row.get("doc"), Ref) and row["doc"].id == MAIN else row
            for row in self.sublists.get("apply", ())
        )
        return replace(self, sublists={**self.sublists, "apply": apply}) if apply else self


@dataclass(frozen=True)
class NsPlan:
    """The records of one posting: the main record, then followers applied to it."""

    plan: PlannedDocument
    main: NsRecord
    followers: tuple[NsRecord, ...] = ()


@dataclass(frozen=True)
class NsSettings:
    """A connection's NetSuite settings: the subsidiary and segment defaults every posting carries."""

    subsidiary_id: str = "1"
    department_id: str = ""
    class_id: str = ""
    location_id: str = ""
    walk_in_name: str = "Walk-in customer"
    due_days: int = 0
    payout_document: str = "auto"  # auto | journal
    #: Invoices go through sales orders (an order, then the invoice billed from it).
    order_to_invoice: bool = False

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> NsSettings:
        """Settings from a connection's ``settings`` JSON."""
        return cls(
            subsidiary_id=str(settings.get("subsidiary_id") or "1"),
            department_id=str(settings.get("department_id") or ""),
            class_id=str(settings.get("class_id") or ""),
            location_id=str(settings.get("location_id") or ""),
            walk_in_name=str(settings.get("walk_in_name") or "Walk-in customer"),
            due_days=int(settings.get("due_days") or 0),
            payout_document=str(settings.get("payout_document") or "auto"),
            order_to_invoice=str(settings.get("order_to_invoice", "")).lower() in ("1", "true", "yes", "on"),
        )

    def segments(self) -> dict[str, Ref]:
        """Department, class and location references (those set)."""
        out = {}
        for name, value in (("department", self.department_id), ("class", self.class_id),
                            ("location", self.location_id)):  # fmt: skip
            if value:
                out[name] = Ref(value)
        return out


@dataclass(frozen=True)
class NsRefs:
    """Ids the rendering needs, resolved by the target: the customer, the item of each income
    account (by the account's internal id), the receivable account."""

    customer_id: str = ""
    items: Mapping[str, str] = field(default_factory=dict)
    #: The invoice a credit memo reverses (empty when it reverses a cash sale or nothing).
    related_invoice_id: str = ""
    #: ISO code -> the currency record's internal id.
    currencies: Mapping[str, str] = field(default_factory=dict)
    receivable_id: str = ""


def _header(plan: PlannedDocument, refs: NsRefs, settings: NsSettings, memo: str) -> dict[str, Any]:
    """Fields every transaction carries: date, currency, rate, subsidiary and segments, memo."""
    out: dict[str, Any] = {
        "tranDate": plan.date,
        "currency": Ref(refs.currencies.get(plan.currency, plan.currency)),
        "subsidiary": Ref(settings.subsidiary_id),
        **settings.segments(),
        "memo": memo[:999],
    }
    if plan.exchange_rate is not None:
        out["exchangeRate"] = plan.exchange_rate
    return out


def _sales(doc: SalesDocument, refs: NsRefs, settings: NsSettings) -> NsPlan:
    record_type = {"receipt": "cashSale", "invoice": "invoice", "credit_note": "creditMemo"}[doc.type]
    fields = _header(doc, refs, settings, doc.memo or doc.reference)
    fields.update(entity=Ref(refs.customer_id), tranId=doc.number, taxDetailsOverride=True)
    items: list[dict[str, Any]] = []
    taxes: list[dict[str, Any]] = []
    for n, line in enumerate(doc.lines, start=1):
        row: dict[str, Any] = {
            "item": Ref(refs.items[line.account_ref]),
            "description": line.description[:999],
            "quantity": Decimal(1),
            "rate": line.amount,
            "amount": line.amount,
            **settings.segments(),
        }
        if line.tax_code_ref:
            reference = f"L{n}"
            row["taxDetailsReference"] = reference
            taxes.append({
                "taxDetailsReference": reference,
                "lineType": "Item",
                "lineName": line.description[:99],
                "taxCode": Ref(line.tax_code_ref),
                "netAmount": line.amount,
                "taxBasis": line.amount,
                "taxRate": (line.tax_rate or ZERO) * 100,
                "taxAmount": line.tax,
            })  # fmt: skip
        items.append(row)
    if doc.type == "receipt":
        settlement = doc.settlements[0]
        fields.update(undepFunds=False, account=Ref(settlement.account_ref))
    elif refs.receivable_id:
        fields["account"] = Ref(refs.receivable_id)
    if doc.type == "invoice" and doc.due_date:
        fields["dueDate"] = doc.due_date
    followers: list[NsRecord] = []
    if doc.type == "credit_note" and refs.related_invoice_id and not doc.settlements:
        # A credit memo that reverses an invoice (no money back) is applied to it, so it closes.
        fields["apply"] = True
    if doc.type != "receipt":
        kind, name = ("customerPayment", "pay") if doc.type == "invoice" else ("customerRefund", "refund")
        for n, settlement in enumerate(doc.settlements, start=1):
            follow = _header(doc, refs, settings, f"{doc.reference} {settlement.reference}")
            follow.update({"customer": Ref(refs.customer_id), "account": Ref(settlement.account_ref),
                           ("payment" if kind == "customerPayment" else "total"): settlement.amount,
                           "tranId": settlement.reference[:45]})  # fmt: skip
            followers.append(
                NsRecord(
                    kind,
                    f"{doc.reference}/{name}/{n}",
                    follow,
                    {"apply": ({"doc": Ref(MAIN), "apply": True, "amount": settlement.amount},)},
                )
            )
    sublists: dict[str, tuple[Mapping[str, Any], ...]] = {"item": tuple(items), "taxDetails": tuple(taxes)}
    if fields.pop("apply", False):
        sublists["apply"] = ({"doc": Ref(refs.related_invoice_id), "apply": True, "amount": doc.total},)
    return NsPlan(doc, NsRecord(record_type, doc.reference, fields, sublists), tuple(followers))


#: Fields a sales order does not have (they belong to the invoice billed from it).
_INVOICE_ONLY = ("account", "dueDate")


def order_records(plan: NsPlan) -> tuple[NsRecord, NsRecord]:
    """The ``salesOrder`` of an invoice's plan and the invoice to bill from it: the order holds
    the lines and tax details (approved, so it can be billed); the invoice body the transform or
    ``initialize`` is completed with holds our number, dates, A/R account, memo and tax details
    with the override, no item lines (NetSuite copies the order's)."""
    invoice = plan.main
    if invoice.type != "invoice":
        raise ValueError(f"only an invoice goes through a sales order, not a {invoice.type}")
    fields = {k: v for k, v in invoice.fields.items() if k not in _INVOICE_ONLY}
    fields["orderStatus"] = Ref("B")  # Pending Fulfillment: approved
    order = NsRecord("salesOrder", invoice.external_id, fields, dict(invoice.sublists))
    billed = {k: v for k, v in invoice.fields.items() if k not in ("entity", "currency", "subsidiary")}
    bill = NsRecord(
        "invoice", invoice.external_id, billed, {"taxDetails": invoice.sublists.get("taxDetails", ())}
    )
    return order, bill


def _payment(doc: CustomerPayment, refs: NsRefs, settings: NsSettings) -> NsPlan:
    fields = _header(doc, refs, settings, doc.memo or doc.reference)
    fields.update(customer=Ref(refs.customer_id), account=Ref(doc.account_ref), payment=doc.amount,
                  tranId=doc.number)  # fmt: skip
    sublists: dict[str, tuple[Mapping[str, Any], ...]] = {}
    if doc.invoice_remote_id:
        sublists["apply"] = ({"doc": Ref(doc.invoice_remote_id), "apply": True, "amount": doc.amount},)
    return NsPlan(doc, NsRecord("customerPayment", doc.reference, fields, sublists))


def _deposit(doc: BankDeposit, refs: NsRefs, settings: NsSettings) -> NsPlan:
    fields = _header(doc, refs, settings, doc.memo or doc.reference)
    fields.update(account=Ref(doc.bank_ref), tranId=doc.number)
    other = tuple(
        {
            "account": Ref(ln.account_ref),
            "amount": ln.amount,
            "memo": ln.description[:999],
            **settings.segments(),
        }
        for ln in doc.lines
        if ln.amount > 0
    )
    back = tuple(
        {
            "account": Ref(ln.account_ref),
            "amount": -ln.amount,
            "memo": ln.description[:999],
            **settings.segments(),
        }
        for ln in doc.lines
        if ln.amount < 0
    )
    return NsPlan(doc, NsRecord("deposit", doc.reference, fields, {"other": other, "cashBack": back}))


def _journal(doc: JournalPlan, refs: NsRefs, settings: NsSettings) -> NsPlan:
    fields = _header(doc, refs, settings, doc.memo or doc.reference)
    fields["tranId"] = doc.number
    lines = []
    for ln in doc.lines:
        row: dict[str, Any] = {
            "account": Ref(ln.account_ref),
            "memo": ln.description[:999],
            **settings.segments(),
        }
        row["debit" if ln.debit else "credit"] = ln.debit or ln.credit
        if ln.role == "receivable" and refs.customer_id:
            row["entity"] = Ref(refs.customer_id)
        lines.append(row)
    return NsPlan(doc, NsRecord("journalEntry", doc.reference, fields, {"line": tuple(lines)}))


def render(planned: PlannedDocument, refs: NsRefs, settings: NsSettings) -> NsPlan:
    """The NetSuite records for a planned document (see the module docstring)."""
    if isinstance(planned, SalesDocument):
        return _sales(planned, refs, settings)
    if isinstance(planned, CustomerPayment):
        return _payment(planned, refs, settings)
    if isinstance(planned, BankDeposit):
        if planned.amount > 0 and settings.payout_document != "journal":
            return _deposit(planned, refs, settings)
        return _journal(deposit_as_journal(planned), refs, settings)
    return _journal(planned, refs, settings)


def _rest_value(value: Any) -> Any:
    if isinstance(value, Ref):
        return {"id": value.id}
    if isinstance(value, date):
        return value.isoformat()
    return value


def rest_body(record: NsRecord) -> dict[str, Any]:
    """The REST JSON body of a record (``externalId`` included; sublists as ``{"items": [...]}``)."""
    body: dict[str, Any] = {k: _rest_value(v) for k, v in record.fields.items()}
    body["externalId"] = record.external_id
    for name, rows in record.sublists.items():
        body[name] = {"items": [{k: _rest_value(v) for k, v in row.items()} for row in rows]}
    return body
