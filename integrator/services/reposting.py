"""Re-posting after a mapping change that takes effect on a past date.

What the ledger has is never edited or deleted. For each document already journaled under the old
rules, dated on or after the new version's effective date and in an open period, re-posting makes:

* a **reversal** entry that exactly undoes the old entry (same accounts, sides swapped), and
* a **new** entry drafted under the new version,

both sent through the outbox like any other entry, so together they move the books by exactly the
difference the change intended. Documents in a closed period are left alone and reported.

In daily-summary mode an old entry that no summary has carried yet never reached the ledger: it is
only marked superseded and the new entry joins the day's summary; otherwise the reversal and the
new entry join the next summary of that day.

The flow is explicit: approving a past-dated change creates a :class:`RepostRequest` with a preview;
nothing is posted until someone allowed to execute re-postings runs :func:`execute_repost`, which
records a :class:`RepostResult` per document.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from integrator import money
from integrator.choices import EntryKind, MappingVersionStatus, PostingMode, RuleKind, TransactionStatus
from integrator.models import (
    JournalEntry,
    LedgerAccount,
    MappingChangeRequest,
    MappingRule,
    MappingSet,
    MappingVersion,
    RepostRequest,
    RepostResult,
    Transaction,
)
from integrator.models.mapping_changes import RepostOutcome, RepostStatus
from integrator.services import audit
from integrator.services.journal import (
    DraftLine,
    NeedsMapping,
    Unbalanced,
    apply_rate,
    create_entry,
    draft_lines,
    draft_specs,
    reversal_specs,
)
from integrator.services.mappings import RuleBook
from integrator.services.posting import create_posting
from integrator.services.transactions import document_of

__all__ = [
    "EXECUTE_PERMISSION",
    "RepostError",
    "RepostPlan",
    "affected_entries",
    "cancel_repost",
    "draft_under",
    "entry_net",
    "execute_repost",
    "lines_net",
    "lines_view",
    "net_delta",
    "plan_document",
    "preview_repost",
    "request_repost",
]

EXECUTE_PERMISSION = "integrator.execute_repostrequest"
ZERO = Decimal(0)
PREVIEW_LIMIT = 500
NetKey = tuple[Any, Any, str, str]  # (account_id, tax_code_id, item_ref, role)


class RepostError(Exception):
    """The re-posting cannot be done in its current state (already executed, cancelled ...)."""


# -- comparing journals -------------------------------------------------------------------------


def entry_net(entry: JournalEntry) -> dict[NetKey, Decimal]:
    """Signed amounts (debit positive) of an entry, per account, tax code, item and role."""
    net: dict[NetKey, Decimal] = defaultdict(lambda: ZERO)
    for ln in entry.lines.all():
        net[(ln.account_id, ln.tax_code_id, ln.item_ref, ln.role)] += ln.debit - ln.credit
    return dict(net)


def lines_net(lines: list[DraftLine]) -> dict[NetKey, Decimal]:
    """The same picture for draft lines, read through ``draft_specs`` so that it sees exactly what
    would be saved (tax codes, items)."""
    net: dict[NetKey, Decimal] = defaultdict(lambda: ZERO)
    for spec in draft_specs(lines):
        key = (spec["account_id"], spec["tax_code_id"], str(spec["item_ref"] or ""), str(spec["role"]))
        net[key] += Decimal(str(spec["amount"]))
    return dict(net)


def net_delta(old: dict[NetKey, Decimal], new: dict[NetKey, Decimal], currency: str) -> list[dict[str, Any]]:
    """New minus old per account (account codes, JSON-safe), leaving out accounts that net to zero."""
    by_account: dict[Any, Decimal] = defaultdict(lambda: ZERO)
    for key, amount in new.items():
        by_account[key[0]] += amount
    for key, amount in old.items():
        by_account[key[0]] -= amount
    codes = dict(LedgerAccount.objects.filter(pk__in=list(by_account)).values_list("pk", "code"))
    return sorted(
        (
            {"account": codes.get(pk, str(pk)), "amount": str(money.quantize(amount, currency))}
            for pk, amount in by_account.items()
            if amount
        ),
        key=lambda row: row["account"],
    )


def lines_view(net: dict[NetKey, Decimal], currency: str) -> list[dict[str, str]]:
    """Signed amounts as readable rows: account code, role, Dr/Cr and the amount in the currency."""
    codes = dict(LedgerAccount.objects.filter(pk__in=[k[0] for k in net]).values_list("pk", "code"))
    rows = []
    for (account_id, _tax, _item, role), amount in net.items():
        if amount:
            side = "Dr" if amount > 0 else "Cr"
            text = str(money.quantize(abs(amount), currency))
            rows.append({"account": codes.get(account_id, ""), "role": role, "side": side, "amount": text})
    return sorted(rows, key=lambda r: (r["account"], r["role"]))


def draft_under(
    txn: Transaction, version: MappingVersion, rules: dict[tuple[str, str, str], MappingRule]
) -> list[DraftLine]:
    """A transaction's journal lines under a version's rules (a fresh RuleBook per document: the
    book collects what is missing). Raises NeedsMapping or Unbalanced."""
    book = RuleBook(version=version, discount_mode=version.mapping_set.discount_mode, rules=rules)
    return draft_lines(document_of(txn), book)


# -- planning -------------------------------------------------------------------------------------


@dataclass
class RepostPlan:
    """What re-posting would do to one document (the preview row, and the plan executed)."""

    transaction: Transaction
    entry: JournalEntry
    outcome: str
    message: str = ""
    before: list[dict[str, str]] = field(default_factory=list)
    after: list[dict[str, str]] = field(default_factory=list)
    delta: list[dict[str, Any]] = field(default_factory=list)
    lines: list[DraftLine] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-safe row for the stored preview and the API."""
        return {
            "transaction": str(self.transaction.pk),
            "document": f"{self.transaction.kind} {self.transaction.number or self.transaction.external_id}",
            "entry": self.entry.reference,
            "date": self.entry.date.isoformat(),
            "currency": self.entry.currency,
            "outcome": self.outcome,
            "message": self.message,
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
        }


def _next_version_date(version: MappingVersion) -> date | None:
    return (
        MappingVersion.objects.filter(
            mapping_set_id=version.mapping_set_id,
            status=MappingVersionStatus.ACTIVE,
            effective_from__gt=version.effective_from,
        )
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )


def affected_entries(mapping_set: MappingSet, version: MappingVersion) -> QuerySet[JournalEntry]:
    """Current transaction entries of the set's channel made by another version, dated where
    ``version`` is now in force (from its effective date up to the next version's)."""
    qs = (
        JournalEntry.objects.filter(
            channel_id=mapping_set.channel_id,
            connection_id=mapping_set.connection_id,
            kind=EntryKind.TRANSACTION,
            superseded=False,
            transaction__isnull=False,
            date__gte=version.effective_from,
        )
        .exclude(mapping_version=version)
        .select_related("transaction")
        .prefetch_related("lines")
        .order_by("date", "created_at")
    )
    until = _next_version_date(version)
    if until is not None:
        qs = qs.filter(date__lt=until)
    return qs


def _rules_of(version: MappingVersion) -> dict[tuple[str, str, str], MappingRule]:
    return RuleBook.load(version).rules


def plan_document(
    entry: JournalEntry,
    version: MappingVersion,
    rules: dict[tuple[str, str, str], MappingRule],
    lock: date | None,
) -> RepostPlan:
    """Decide what re-posting does to one entry: re-post, leave unchanged, or why it cannot."""
    txn = entry.transaction
    assert txn is not None
    old = entry_net(entry)
    plan = RepostPlan(
        transaction=txn, entry=entry, outcome=RepostOutcome.REPOSTED, before=lines_view(old, entry.currency)
    )
    if lock is not None and entry.date <= lock:
        plan.outcome = RepostOutcome.CLOSED_PERIOD
        plan.message = f"dated {entry.date}, in a period closed up to {lock}"
        return plan
    if entry.transaction_revision != txn.revision:
        plan.outcome = RepostOutcome.SKIPPED
        plan.message = "the document changed since this entry; the pipeline re-journals it"
        return plan
    try:
        lines = draft_under(txn, version, rules)
    except NeedsMapping as exc:
        plan.outcome = RepostOutcome.NEEDS_MAPPING
        plan.message = "; ".join(exc.missing)
        return plan
    except Unbalanced as exc:
        plan.outcome = RepostOutcome.FAILED
        plan.message = str(exc)
        return plan
    new = lines_net(lines)
    plan.after = lines_view(new, entry.currency)
    plan.delta = net_delta(old, new, entry.currency)
    plan.lines = lines
    if not plan.delta and {k: v for k, v in old.items() if v} == {k: v for k, v in new.items() if v}:
        plan.outcome = RepostOutcome.UNCHANGED
        plan.message = "same accounts and amounts under the new rules"
    return plan


def preview_repost(mapping_set: MappingSet, version: MappingVersion) -> list[RepostPlan]:
    """What executing a re-posting for ``version`` would do, document by document (read only)."""
    rules = _rules_of(version)
    lock = mapping_set.connection.effective_lock_date()
    return [
        plan_document(e, version, rules, lock) for e in affected_entries(mapping_set, version)[:PREVIEW_LIMIT]
    ]


def _preview_json(plans: list[RepostPlan]) -> dict[str, Any]:
    counts: dict[str, int] = defaultdict(int)
    for p in plans:
        counts[p.outcome] += 1
    return {
        "counts": dict(counts),
        "documents": [p.as_json() for p in plans],
        "taken_at": timezone.now().isoformat(),
    }


# -- the flow -------------------------------------------------------------------------------------


def request_repost(
    mapping_set: MappingSet,
    version: MappingVersion,
    *,
    actor: Any,
    change: MappingChangeRequest | None = None,
    plans: list[RepostPlan] | None = None,
) -> RepostRequest:
    """Record an approved re-posting for ``version`` with its preview (nothing is posted yet);
    ``plans`` is the preview when the caller has just computed it."""
    if plans is None:
        plans = preview_repost(mapping_set, version)
    with transaction.atomic():
        repost = RepostRequest.objects.create(
            mapping_set=mapping_set,
            change=change,
            version=version,
            since=version.effective_from,
            preview=_preview_json(plans),
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit.record(
            "repost.requested",
            obj=repost,
            after={
                "version": version.number,
                "since": version.effective_from,
                "counts": repost.preview["counts"],
            },
            actor=actor,
        )
    return repost


def _repost_one(
    repost: RepostRequest, entry_id: Any, rules: dict[tuple[str, str, str], MappingRule], actor: Any
) -> RepostResult | None:
    """Re-post one document in its own transaction: reversal + new entry, or the reason not to
    (None when its journal is the same under the new rules: nothing to report)."""
    version = repost.version
    mapping_set = repost.mapping_set
    with transaction.atomic():
        entry = JournalEntry.objects.select_for_update().get(pk=entry_id)
        assert entry.transaction_id is not None  # affected_entries selects transaction entries only
        txn = Transaction.objects.select_for_update().get(pk=entry.transaction_id)
        entry = JournalEntry.objects.select_related("transaction", "connection", "channel").get(pk=entry_id)
        if entry.superseded:
            plan = RepostPlan(
                transaction=txn,
                entry=entry,
                outcome=RepostOutcome.SKIPPED,
                message="already replaced since the preview",
            )
        else:
            plan = plan_document(entry, version, rules, mapping_set.connection.effective_lock_date())
        if plan.outcome == RepostOutcome.UNCHANGED:
            return None
        result = RepostResult(
            repost=repost,
            transaction=txn,
            original_entry=entry,
            outcome=plan.outcome,
            message=plan.message,
            delta=plan.delta,
        )
        if plan.outcome != RepostOutcome.REPOSTED:
            result.save()
            return result
        channel = entry.channel
        summary_mode = channel.posting_mode == PostingMode.DAILY_SUMMARY
        if not (summary_mode and entry.summary_id is None):
            result.reversal_entry = create_entry(
                line_specs=reversal_specs(entry),
                reference=f"{entry.reference}/rev-v{version.number}",
                date=entry.date,
                currency=entry.currency,
                memo=f"Reversal of {entry.reference}: mapping version {version.number} applies from {version.effective_from}",
                channel_id=entry.channel_id,
                connection_id=entry.connection_id,
                kind=EntryKind.REVERSAL,
                txn=txn,
                mapping_version_id=entry.mapping_version_id,
                reverses=entry,
                location=entry.location,
                register=entry.register,
                number=f"{entry.number or entry.reference}-R{version.number}",
                functional_currency=entry.functional_currency,
                exchange_rate=entry.exchange_rate,
                rate_source=entry.rate_source,
                rate_provider=entry.rate_provider,
                rate_date=entry.rate_date,
            )
        JournalEntry.objects.filter(pk=entry.pk).update(superseded=True)
        root = re.sub(r"/v\d+$", "", entry.reference)
        number_root = re.sub(r"-V\d+$", "", entry.number or entry.reference)
        # The same transaction on the same day: it keeps the rate it was first booked at.
        rate = entry.exchange_rate if entry.exchange_rate is not None else Decimal(1)
        lines = apply_rate(
            plan.lines, rate, entry.currency, entry.functional_currency or entry.currency,
            fx_rule=RuleBook(version=version, discount_mode=version.mapping_set.discount_mode, rules=rules).find(
                RuleKind.FX_REALISED
            ),
        )  # fmt: skip
        result.new_entry = create_entry(
            line_specs=draft_specs(lines),
            reference=f"{root}/v{version.number}",
            date=entry.date,
            currency=entry.currency,
            memo=f"{entry.memo} (re-posted under mapping version {version.number})",
            channel_id=entry.channel_id,
            connection_id=entry.connection_id,
            txn=txn,
            mapping_version_id=version.pk,
            location=entry.location,
            register=entry.register,
            number=f"{number_root}-V{version.number}",
            functional_currency=entry.functional_currency,
            exchange_rate=entry.exchange_rate,
            rate_source=entry.rate_source,
            rate_provider=entry.rate_provider,
            rate_date=entry.rate_date,
        )
        if not summary_mode:
            if result.reversal_entry is not None:
                create_posting(result.reversal_entry)
            create_posting(result.new_entry)
        before_status = txn.status
        status = TransactionStatus.SUMMARISED if summary_mode else TransactionStatus.JOURNALED
        Transaction.objects.filter(pk=txn.pk).update(status=status, updated_at=timezone.now())
        result.save()
        audit.record(
            "journal.reposted",
            obj=result.new_entry,
            before={"entry": entry.reference, "lines": plan.before, "status": before_status},
            after={
                "entry": result.new_entry.reference,
                "reversal": result.reversal_entry.reference if result.reversal_entry else None,
                "lines": plan.after,
                "delta": plan.delta,
                "status": status,
                "version": version.number,
            },
            actor=actor,
        )
    return result


def execute_repost(repost: RepostRequest, *, actor: Any) -> RepostRequest:
    """Execute an approved re-posting: one result per affected document (each in its own
    transaction, so one failure does not hold back the others). Postings go out after commit."""
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(EXECUTE_PERMISSION):
        raise PermissionDenied("Only a finance manager may execute a re-posting.")
    with transaction.atomic():
        locked = RepostRequest.objects.select_for_update().get(pk=repost.pk)
        if locked.status != RepostStatus.PENDING:
            raise RepostError(f"this re-posting is {locked.get_status_display().lower()}")
        # Claim it first: a second click finds it done and posts nothing twice.
        RepostRequest.objects.filter(pk=locked.pk).update(
            status=RepostStatus.DONE, executed_by=actor, executed_at=timezone.now()
        )
    locked = RepostRequest.objects.select_related("version__mapping_set", "mapping_set__connection").get(
        pk=repost.pk
    )
    rules = _rules_of(locked.version)
    entry_ids = list(affected_entries(locked.mapping_set, locked.version).values_list("pk", flat=True))
    results: list[RepostResult] = []
    unchanged = 0
    for entry_id in entry_ids:
        try:
            result = _repost_one(locked, entry_id, rules, actor)
            if result is None:
                unchanged += 1
            else:
                results.append(result)
        except Exception as exc:  # one document's failure is reported, the others go ahead
            entry = JournalEntry.objects.get(pk=entry_id)
            assert entry.transaction_id is not None
            results.append(
                RepostResult.objects.create(
                    repost=locked,
                    transaction_id=entry.transaction_id,
                    original_entry=entry,
                    outcome=RepostOutcome.FAILED,
                    message=f"{type(exc).__name__}: {exc}"[:2000],
                )
            )
    counts: dict[str, int] = defaultdict(int)
    for r in results:
        counts[r.outcome] += 1
    with transaction.atomic():
        audit.record(
            "repost.executed",
            obj=locked,
            before={"status": RepostStatus.PENDING},
            after={"status": RepostStatus.DONE, "counts": dict(counts), "unchanged": unchanged},
            actor=actor,
        )
    locked.refresh_from_db()
    return locked


def cancel_repost(repost: RepostRequest, *, actor: Any, comment: str = "") -> RepostRequest:
    """Cancel a pending re-posting (the version stays in force for new documents)."""
    if not getattr(actor, "is_authenticated", False) or not actor.has_perm(EXECUTE_PERMISSION):
        raise PermissionDenied("Only a finance manager may cancel a re-posting.")
    with transaction.atomic():
        locked = RepostRequest.objects.select_for_update().get(pk=repost.pk)
        if locked.status != RepostStatus.PENDING:
            raise RepostError(f"this re-posting is {locked.get_status_display().lower()}")
        locked.status = RepostStatus.CANCELLED
        locked.save(update_fields=["status"])
        audit.record(
            "repost.cancelled",
            obj=locked,
            before={"status": RepostStatus.PENDING},
            after={"status": RepostStatus.CANCELLED, "comment": comment},
            actor=actor,
        )
    return locked
