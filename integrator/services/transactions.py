"""Normalize and validate: canonical documents become Transactions, checked before journaling.

``upsert_transaction`` keys a document by (channel, kind, external_id). The same content again is a
no-op; changed content raises the revision; a document older than the stored one (an out-of-order
delivery) is ignored, so the final state does not depend on delivery order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, models, transaction

from integrator import money
from integrator.canonical import (
    CanonicalDocument,
    CashCount,
    Dispute,
    Invoice,
    LineItem,
    Payment,
    Payout,
    Refund,
    Sale,
    ShippingLine,
    document_from_dict,
    document_to_dict,
)
from integrator.choices import TransactionStatus
from integrator.models import (
    Channel,
    InboundEvent,
    Transaction,
    TransactionDiscount,
    TransactionLine,
    TransactionPayment,
    TransactionTaxLine,
)
from integrator.services.bulk import insert_all

__all__ = [
    "UpsertResult",
    "business_date",
    "content_hash",
    "document_of",
    "expected_total",
    "insert_new_transactions",
    "tax_total",
    "upsert_transaction",
    "validate_document",
]

ZERO = Decimal(0)
VOID_STATUSES = frozenset({"voided", "void", "cancelled", "canceled"})


@dataclass(frozen=True)
class UpsertResult:
    """The transaction and whether its content changed (a new transaction or a new revision)."""

    transaction: Transaction
    changed: bool


def _without_empty(value: object) -> object:
    """The value with empty fields (``""``, ``None``, ``[]``, ``{}``) left out, recursively, so a
    field added to the canonical shape with an empty default changes no stored hash."""
    if isinstance(value, dict):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ("", None, [], {})}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


# Fields that inform people but change nothing in the books: a delivery that differs only in
# them (Shopify's ``orders/updated`` whose financial status became ``partially_refunded``) is not a
# new revision, so the sale is never reversed and posted again for it.
_NOT_BOOKED = ("metadata", "source_updated_at", "discounts")


def content_hash(doc: CanonicalDocument, encoded: dict[str, Any] | None = None) -> str:
    """SHA-256 of the canonical JSON of what the books carry (what decides whether a delivery
    changes anything): informational fields and a sale's or invoice's workflow status are left out,
    except a void, which books differently. ``encoded`` is the document's ``document_to_dict``,
    when the caller has it already (it is not changed)."""
    data = dict(encoded) if encoded is not None else document_to_dict(doc)
    for name in _NOT_BOOKED:
        data.pop(name, None)
    if isinstance(doc, Sale | Invoice):
        data["status"] = "voided" if str(doc.status).lower() in VOID_STATUSES else ""
    return hashlib.sha256(json.dumps(_without_empty(data), sort_keys=True).encode()).hexdigest()


def business_date(doc: CanonicalDocument, channel: Channel) -> date:
    """The day the document belongs to in the channel's time zone."""
    return doc.occurred_at.astimezone(ZoneInfo(channel.timezone or "UTC")).date()


def tax_total(doc: CanonicalDocument) -> Decimal:
    """Total tax of a sale, refund or invoice (0 for other kinds)."""
    if isinstance(doc, Sale | Refund | Invoice):
        return sum((ln.tax() for ln in doc.lines), ZERO) + sum((s.tax() for s in doc.shipping), ZERO)
    return ZERO


def _doc_total(doc: CanonicalDocument) -> Decimal:
    if isinstance(doc, Sale | Refund | Invoice):
        return doc.total
    if isinstance(doc, CashCount):
        return doc.counted
    return doc.amount


def document_of(txn: Transaction) -> CanonicalDocument:
    """The canonical document stored on a transaction."""
    return document_from_dict(txn.document)


def _replace_lines(txn: Transaction, doc: CanonicalDocument, *, fresh: bool = False) -> None:
    """Store the document's lines, tax lines, discounts and tenders (replacing the previous
    revision's; a transaction just created has none, which saves four DELETEs per new sale)."""
    if not fresh:
        txn.lines.all().delete()
        txn.tax_lines.all().delete()
        txn.discounts.all().delete()
        txn.payments.all().delete()
    rows = _child_rows(txn, doc)
    for made in rows.values():
        insert_all(made)


def _child_rows(txn: Transaction, doc: CanonicalDocument) -> dict[type[models.Model], list[Any]]:
    """The unsaved rows of a transaction's lines, tax lines, discounts and tenders, by model."""
    lines: list[TransactionLine] = []
    taxes: list[TransactionTaxLine] = []
    discounts: list[TransactionDiscount] = []
    payments: list[TransactionPayment] = []
    if isinstance(doc, Sale | Refund | Invoice):
        lines = [
            TransactionLine(
                transaction=txn,
                position=i,
                line_id=ln.line_id[:120],
                sku=ln.sku[:80],
                name=ln.name[:255],
                category=ln.category[:80],
                kind=ln.kind,
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                discount=ln.discount,
                tax=ln.tax(),
            )
            for i, ln in enumerate(doc.lines)
        ]
        totals: dict[tuple[str, Decimal], Decimal] = {}
        taxed_items: list[LineItem | ShippingLine] = [*doc.lines, *doc.shipping]
        for taxed in taxed_items:
            for t in taxed.tax_lines:
                totals[(t.title, t.rate)] = totals.get((t.title, t.rate), ZERO) + t.amount
        taxes = [
            TransactionTaxLine(transaction=txn, title=title[:120], rate=rate, amount=amount)
            for (title, rate), amount in totals.items()
        ]
    if isinstance(doc, Sale | Invoice):
        discounts = [
            TransactionDiscount(transaction=txn, code=d.code[:120], amount=d.amount, target=d.target)
            for d in doc.discounts
        ]
    if isinstance(doc, Sale | Refund):
        payments = [
            TransactionPayment(
                transaction=txn,
                method=t.method[:60],
                gateway=t.gateway[:60],
                kind=t.kind,
                amount=t.amount,
                fee=t.fee,
                reference=t.reference[:120],
            )
            for t in doc.tenders
        ]
    return {
        TransactionLine: lines,
        TransactionTaxLine: taxes,
        TransactionDiscount: discounts,
        TransactionPayment: payments,
    }


def _fields(channel: Channel, doc: CanonicalDocument) -> tuple[dict[str, object], dict[str, object]]:
    """(the unique key, the stored fields) of a document's transaction."""
    encoded = document_to_dict(doc)
    fields = {
        "number": getattr(doc, "number", "")[:120] or doc.external_id[:120],
        "occurred_at": doc.occurred_at,
        "business_date": business_date(doc, channel),
        "currency": doc.currency,
        "total": _doc_total(doc),
        "tax_total": tax_total(doc),
        "document": encoded,
        "content_hash": content_hash(doc, encoded),
    }
    key = {"channel": channel, "kind": doc.kind, "external_id": doc.external_id[:120]}
    return key, fields


def upsert_transaction(channel: Channel, doc: CanonicalDocument, event: InboundEvent | None) -> UpsertResult:
    """Insert or update the transaction for a canonical document (call inside a transaction)."""
    key, fields = _fields(channel, doc)
    digest = fields["content_hash"]
    existing = Transaction.objects.select_for_update().filter(**key).first()
    if existing is None:
        try:
            with transaction.atomic():
                txn = Transaction.objects.create(**key, **fields)
        except IntegrityError:
            # Another worker created it a moment ago: take the row lock and treat as an update.
            existing = Transaction.objects.select_for_update().get(**key)
        else:
            _replace_lines(txn, doc, fresh=True)
            if event is not None:
                txn.events.add(event)
            return UpsertResult(txn, True)
    if event is not None:
        existing.events.add(event)
    if existing.content_hash == digest:
        return UpsertResult(existing, False)
    # A version without its own update time counts as of the time it happened, so a late
    # "completed" event can never overwrite a later "updated" one. Compared as instants, not text.
    stored_text = existing.document.get("source_updated_at") or existing.document.get("occurred_at")
    stored_updated = datetime.fromisoformat(stored_text) if stored_text else None
    new_updated = getattr(doc, "source_updated_at", None) or doc.occurred_at
    if stored_updated is not None and new_updated < stored_updated:
        # Stale: an older version of the document arrived after a newer one.
        return UpsertResult(existing, False)
    for name, value in fields.items():
        setattr(existing, name, value)
    existing.revision += 1
    existing.status = TransactionStatus.RECEIVED
    existing.status_reasons = []
    existing.save()
    _replace_lines(existing, doc)
    return UpsertResult(existing, True)


def insert_new_transactions(
    batch: list[tuple[InboundEvent, list[CanonicalDocument]]],
) -> tuple[dict[object, list[Transaction]], list[tuple[InboundEvent, list[CanonicalDocument]]]]:
    """Store, with one INSERT per table, the events of a batch whose every document is a
    transaction not stored yet (call inside a transaction; issue 19). Returns (the new transactions
    by event id, the events left for :func:`upsert_transaction`: a document already stored, or one
    whose key another event of the batch shares, keeps its order there).

    Raises :class:`IntegrityError` if another worker stored one of them meanwhile: the caller
    rolls the block back and upserts those events one by one."""
    keyed: list[
        tuple[InboundEvent, list[tuple[dict[str, object], dict[str, object], CanonicalDocument]]]
    ] = []
    seen: dict[tuple[object, str, str], int] = {}
    for event, docs in batch:
        entries = []
        for doc in docs:
            key, fields = _fields(event.channel, doc)
            entries.append((key, fields, doc))
            ident = (event.channel_id, doc.kind, doc.external_id[:120])
            seen[ident] = seen.get(ident, 0) + 1
        keyed.append((event, entries))
    stored = set(
        Transaction.objects.filter(
            channel_id__in={e.channel_id for e, _ in batch},
            external_id__in={ident[2] for ident in seen},
        ).values_list("channel_id", "kind", "external_id")
    )
    fresh: dict[object, list[Transaction]] = {}
    rest: list[tuple[InboundEvent, list[CanonicalDocument]]] = []
    made: list[Transaction] = []
    children: dict[type[models.Model], list[Any]] = {}
    links = []
    through = Transaction.events.through
    for event, entries in keyed:
        idents = [(event.channel_id, doc.kind, doc.external_id[:120]) for _, _, doc in entries]
        if any(i in stored or seen[i] > 1 for i in idents):
            rest.append((event, [doc for _, _, doc in entries]))
            continue
        txns = []
        for key, fields, doc in entries:
            txn = Transaction(**key, **fields)
            txns.append(txn)
            for model, rows in _child_rows(txn, doc).items():
                children.setdefault(model, []).extend(rows)
            links.append(through(transaction_id=txn.pk, inboundevent_id=event.pk))
        made.extend(txns)
        fresh[event.pk] = txns
    if made:
        insert_all(made)
        for rows in children.values():
            insert_all(rows)
        insert_all(links)
    return fresh, rest


def expected_total(doc: Sale | Refund | Invoice) -> Decimal:
    """What the lines, shipping, tax and tips add up to (before any rounding difference)."""
    cur = doc.currency
    total = sum((ln.gross(cur) - ln.discount for ln in doc.lines), ZERO)
    total += sum((s.amount - s.discount for s in doc.shipping), ZERO)
    if not doc.prices_include_tax:
        total += tax_total(doc)
    if isinstance(doc, Sale):
        total += doc.tips
    if isinstance(doc, Refund):
        total += doc.adjustment
    return money.quantize(total, cur)


def _rounding_tolerance(doc: Sale | Refund | Invoice) -> Decimal:
    """Per-line rounding may differ from per-document rounding by up to one unit per taxed line."""
    taxed = sum(1 for ln in doc.lines if ln.tax_lines) + sum(1 for s in doc.shipping if s.tax_lines)
    return money.quantum(doc.currency) * max(1, taxed)


def _amount_problems(doc: CanonicalDocument) -> list[str]:
    problems: list[str] = []
    cur = doc.currency

    def check(label: str, value: Decimal | None, *, allow_negative: bool = False) -> None:
        if value is None:
            return
        try:
            money.parse_amount(value, cur)
        except money.InvalidAmount:
            problems.append(f"{label} {value} has more decimals than {cur} allows")
            return
        if value < 0 and not allow_negative:
            problems.append(f"{label} {value} is negative")

    if isinstance(doc, Sale | Refund | Invoice):
        check("total", doc.total)
        for s in doc.shipping:
            check("shipping", s.amount)
            check("shipping discount", s.discount)
    if isinstance(doc, Sale | Invoice):
        for d in doc.discounts:
            check(f"discount {d.code}", d.amount)
    if isinstance(doc, Sale | Refund):
        for tender in doc.tenders:
            check(f"tender {tender.method}", tender.amount)
    if isinstance(doc, Sale):
        check("tips", doc.tips)
        for ln in doc.lines:
            check(f"line {ln.sku or ln.name} discount", ln.discount)
            if ln.quantity <= 0:
                problems.append(f"line {ln.sku or ln.name} has quantity {ln.quantity}")
            for t in ln.tax_lines:
                check(f"tax {t.title}", t.amount)
    elif isinstance(doc, Payment | Dispute):
        check("amount", doc.amount)
        check("fee", doc.fee)
    elif isinstance(doc, Payout):
        check("amount", doc.amount, allow_negative=True)
    elif isinstance(doc, CashCount):
        check("expected cash", doc.expected)
        check("counted cash", doc.counted)
        check("float change", doc.float_change, allow_negative=True)
    return problems


def validate_document(doc: CanonicalDocument, *, sale_known: bool = True) -> list[str]:
    """Reasons the document cannot be journaled, in words a finance clerk understands ([] if valid)."""
    reasons: list[str] = []
    if not doc.external_id:
        reasons.append("missing field: external id")
    if doc.occurred_at is None or doc.occurred_at.tzinfo is None:
        reasons.append("missing field: a timezone-aware date and time")
    if not money.is_known_currency(doc.currency):
        return [*reasons, f"unknown currency {doc.currency!r}"]
    reasons.extend(_amount_problems(doc))
    if isinstance(doc, Sale | Refund | Invoice):
        if not doc.lines and not doc.shipping and not (isinstance(doc, Refund) and doc.adjustment):
            reasons.append("missing field: no lines")
        if not reasons:
            computed = expected_total(doc)
            if abs(computed - doc.total) > _rounding_tolerance(doc):
                reasons.append(
                    f"totals do not add up: lines, shipping and tax come to {computed} {doc.currency}, "
                    f"the document says {doc.total} {doc.currency}"
                )
        if isinstance(doc, Sale | Refund) and doc.tenders:
            paid = sum((t.amount for t in doc.tenders), ZERO)
            if paid > doc.total:
                reasons.append(f"tenders {paid} exceed the total {doc.total} {doc.currency}")
    if isinstance(doc, Refund):
        if not doc.sale_external_id:
            reasons.append("missing field: the sale this refund belongs to")
        elif not sale_known:
            reasons.append(f"refund of an unknown sale {doc.sale_external_id}")
    if isinstance(doc, Payout) and doc.items:
        net = sum((i.net for i in doc.items), ZERO)
        if net != doc.amount:
            reasons.append(f"payout items net to {net}, the payout says {doc.amount} {doc.currency}")
    return reasons
