"""The read-back check: what the ledger recorded, compared with our journal.

A posting is right when the ledger, read back, holds per account and per tax code what the journal
says, to the minor unit. Conventions shared by every target's ``read_back`` and the expected view
built here:

* amounts are signed, debit positive, in the currency the document was posted in;
* ``per_account`` leaves out tax (the ledger books tax to its own tax accounts), which is compared
  per tax code instead, keyed by the ledger's id of the code (``tax_code_ref``, else our code);
* accounts whose amounts net to zero (a receivable opened and paid in the same posting) are left
  out on both sides;
* ``total`` is the sum of the positive amounts (the document's size).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from connectors.base import LedgerView, PostingDocument
from connectors.ledgers.common.plan import JournalPlan, PlannedDocument, SalesDocument

__all__ = ["compare_views", "expected_view", "make_view"]

ZERO = Decimal(0)


def make_view(
    currency: str,
    accounts: Iterable[tuple[str, Decimal]],
    taxes: Iterable[tuple[str, Decimal]],
    documents: tuple[str, ...] = (),
) -> LedgerView:
    """A LedgerView from (account, signed amount) and (tax code, signed tax) pairs, summed."""
    per_account: dict[str, Decimal] = {}
    for code, amount in accounts:
        per_account[code] = per_account.get(code, ZERO) + amount
    per_tax: dict[str, Decimal] = {}
    for code, amount in taxes:
        per_tax[code] = per_tax.get(code, ZERO) + amount
    per_account = {k: v for k, v in per_account.items() if v}
    per_tax = {k: v for k, v in per_tax.items() if v}
    total = sum((v for v in per_account.values() if v > 0), ZERO) + sum(
        (v for v in per_tax.values() if v > 0), ZERO
    )
    return LedgerView(currency, per_account, per_tax, total, documents)


def expected_view(doc: PostingDocument, plan: PlannedDocument) -> LedgerView:
    """What the ledger should hold for ``doc`` posted as ``plan``: a sales document's tax per tax
    code (its other lines per account); any other document's lines per account, tax included (a
    journal, payment or deposit carries no tax codes)."""
    if isinstance(plan, SalesDocument):
        sign = -1 if plan.type != "credit_note" else 1
        return make_view(
            plan.currency,
            ((ln.account_code, ln.debit - ln.credit) for ln in doc.lines if ln.role != "tax"),
            ((t.tax_code_ref or t.tax_code, sign * t.amount) for t in plan.taxes if t.amount),
        )
    if isinstance(plan, JournalPlan):
        return make_view(plan.currency, ((ln.account_code, ln.debit - ln.credit) for ln in plan.lines), ())
    return make_view(plan.currency, ((ln.account_code, ln.debit - ln.credit) for ln in doc.lines), ())


def _fmt(amount: Decimal | None) -> str:
    return "nothing" if amount is None else f"{amount:,}"


def compare_views(expected: LedgerView, actual: LedgerView) -> list[str]:
    """The differences, in words (empty when the ledger holds exactly our journal)."""
    problems: list[str] = []
    if expected.currency != actual.currency:
        problems.append(f"currency: journal {expected.currency}, ledger {actual.currency}")
    for label, ours, theirs in (
        ("account", expected.per_account, actual.per_account),
        ("tax code", expected.per_tax_code, actual.per_tax_code),
    ):
        for key in sorted(set(ours) | set(theirs)):
            mine, other = _get(ours, key), _get(theirs, key)
            if mine != other:
                problems.append(
                    f"{label} {key}: journal {_fmt(mine)}, ledger {_fmt(other)} {expected.currency}"
                )
    if expected.total != actual.total:
        problems.append(f"total: journal {expected.total:,}, ledger {actual.total:,} {expected.currency}")
    return problems


def _get(values: Mapping[str, Decimal], key: str) -> Decimal | None:
    value = values.get(key)
    return value if value else None
