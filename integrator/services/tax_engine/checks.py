"""Checking the tax a source sent against what the rules compute.

For a channel with a ``tax_jurisdiction`` setting (GH, NG, KE, ZA, GB), every sale, refund and
invoice revision is recomputed from its lines (each product's ``tax_class``; shipping follows the
goods) and compared with the tax the source charged. The result is kept as a
:class:`integrator.models.TaxCheck` (shown on the transaction's page); a difference beyond
rounding - one minor unit per taxed item - is reported with its reason, and the reconciliation
run raises it as an exception (:func:`check_tax`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Q

from integrator import money
from integrator.canonical import CanonicalDocument, Invoice, Refund, Sale
from integrator.models import Product, TaxCheck, Transaction
from integrator.services.tax_engine.engine import Item, TaxResult, compute
from integrator.services.transactions import tax_total

__all__ = ["check_tax", "check_transaction_tax", "document_items", "expected_tax"]

ZERO = Decimal(0)


def document_items(doc: Sale | Refund | Invoice) -> list[Item]:
    """The taxable items of a document: lines after discount (gift cards are not supplies) and
    shipping as delivery."""
    skus = {ln.sku for ln in doc.lines if ln.sku}
    classes = dict(Product.objects.filter(sku__in=skus).values_list("sku", "tax_class"))
    items = [
        Item(f"line:{i}", ln.gross(doc.currency) - ln.discount, classes.get(ln.sku, "standard"))
        for i, ln in enumerate(doc.lines)
        if ln.kind != "gift_card"
    ]
    items += [Item(f"ship:{i}", s.amount - s.discount, delivery=True) for i, s in enumerate(doc.shipping)]
    return items


def expected_tax(doc: Sale | Refund | Invoice, jurisdiction: str, on: date) -> TaxResult:
    """What the rules charge on the document."""
    return compute(
        document_items(doc), jurisdiction=jurisdiction, on=on, currency=doc.currency,
        inclusive=doc.prices_include_tax,
    )  # fmt: skip


def check_transaction_tax(txn: Transaction, doc: CanonicalDocument) -> TaxCheck | None:
    """Check one transaction revision's tax (inside the caller's transaction); None when its
    channel names no jurisdiction or the document carries no goods."""
    jurisdiction = str((txn.channel.settings or {}).get("tax_jurisdiction") or "")
    if not jurisdiction or not isinstance(doc, Sale | Refund | Invoice) or not doc.lines:
        return None
    stated = tax_total(doc)
    try:
        result = expected_tax(doc, jurisdiction, txn.business_date)
    except LookupError as exc:
        computed, reason, ok = ZERO, f"cannot check: {exc}", False
    else:
        computed = result.tax
        tolerance = money.quantum(doc.currency) * max(len(result.items), 1)
        ok = abs(stated - computed) <= tolerance
        codes = ", ".join(f"{code} {amount}" for code, amount in sorted(result.by_rule().items()))
        reason = (
            "" if ok else f"the source charged {stated} {doc.currency}, the rules give {computed} ({codes})"
        )
    check, _ = TaxCheck.objects.update_or_create(
        transaction=txn, revision=txn.revision,
        defaults={"stated": stated, "computed": computed, "difference": stated - computed,
                  "within_rounding": ok, "reason": reason[:255]},
    )  # fmt: skip
    return check


def check_tax(start: date, end: date) -> Any:
    """Reconciliation step: current revisions whose tax differs from the rules beyond rounding."""
    from reconciliation.choices import ExceptionKind
    from reconciliation.services.findings import CheckOutcome, Finding

    checks = TaxCheck.objects.filter(
        transaction__business_date__gte=start,
        transaction__business_date__lte=end,
        within_rounding=False,
    ).select_related("transaction__channel")
    findings = [
        Finding(
            key=f"tax:{c.transaction_id}",
            kind=ExceptionKind.AMOUNT_MISMATCH,
            day=c.transaction.business_date,
            currency=c.transaction.currency,
            amount=abs(c.difference),
            expected=c.computed,
            actual=c.stated,
            channel_id=c.transaction.channel_id,
            connection_id=c.transaction.channel.ledger_connection_id,
            transaction_id=c.transaction_id,
            explanation=f"Tax of {c.transaction.kind} {c.transaction.number or c.transaction.external_id}: {c.reason}.",
        )
        for c in checks
        if c.revision == c.transaction.revision
    ]
    return CheckOutcome(
        name="tax vs tax rules",
        scope=Q(kind=ExceptionKind.AMOUNT_MISMATCH, key__startswith="tax:", day__gte=start, day__lte=end),
        findings=findings,
        checked=TaxCheck.objects.filter(
            transaction__business_date__gte=start, transaction__business_date__lte=end
        ).count(),
    )
