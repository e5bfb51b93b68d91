"""Read-only views of mapping changes for the reviewer: conflicts, impact preview, held transactions.

Nothing here writes: the impact preview drafts journals with a :class:`RuleBook` built from the
proposed rules in memory (unsaved rule objects), through the same ``draft_lines`` the pipeline uses,
so what the preview shows is what the approved version will do.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q

from integrator.choices import EntryKind, TransactionStatus
from integrator.models import (
    JournalEntry,
    MappingChangeRequest,
    MappingRule,
    MappingSet,
    MappingVersion,
    Transaction,
)
from integrator.models.mapping_changes import ChangeStatus
from integrator.services.journal import NeedsMapping, Unbalanced
from integrator.services.mapping_changes.rules import (
    RuleKey,
    business_today,
    change_sets,
    current_version,
    proposed_rules,
    rule_key,
    rules_of,
)
from integrator.services.reposting import draft_under, entry_net, lines_net, lines_view, net_delta

__all__ = [
    "HeldGroup",
    "ImpactPreview",
    "JournalChange",
    "conflicting_changes",
    "held_groups",
    "impact_preview",
    "proposed_book_rules",
]

ZERO = Decimal(0)


def conflicting_changes(change: MappingChangeRequest) -> list[dict[str, Any]]:
    """Other open changes of the same mapping set that touch one of this change's rules.

    Both may be fine on their own, but whichever is approved second would be judged against rules
    its author never saw: the reviewer is warned, and approval of a stale change is refused.
    """
    mine = {rule_key(i.kind, i.match_field, i.match_value) for i in change.items.all()}
    if not mine:
        return []
    my_sets = [ms.pk for ms in change_sets(change)]
    others = (
        MappingChangeRequest.objects.filter(
            Q(mapping_set_id__in=my_sets) | Q(targets__mapping_set_id__in=my_sets),
            status__in=[ChangeStatus.DRAFT, ChangeStatus.SUBMITTED],
        )
        .exclude(pk=change.pk)
        .distinct()
        .select_related("author")
        .prefetch_related("items")
    )
    found = []
    for other in others:
        shared = sorted(mine & {rule_key(i.kind, i.match_field, i.match_value) for i in other.items.all()})
        if shared:
            found.append(
                {
                    "change": other,
                    "rules": [f"{k} {f}={v or '*'}" for k, f, v in shared],
                }
            )
    return found


def proposed_book_rules(
    change: MappingChangeRequest, mapping_set: MappingSet | None = None
) -> tuple[MappingVersion, dict[RuleKey, MappingRule]]:
    """An unsaved version and its rules as the change would make them for ``mapping_set`` (its own
    set unless told), indexed like RuleBook."""
    mapping_set = mapping_set or change.mapping_set
    current = current_version(mapping_set)
    version = MappingVersion(
        mapping_set=mapping_set,
        number=current.number + 1 if current else 1,
        effective_from=change.effective_from,
    )
    rules = {}
    for spec in proposed_rules(change, rules_of(mapping_set)):
        rule = MappingRule(version=version, **spec)
        rules[(rule.kind, rule.match_field, rule.match_value.lower())] = rule
    return version, rules


@dataclass
class JournalChange:
    """How one transaction's journal would change: account-level before, after and difference."""

    transaction: Transaction
    before: list[dict[str, str]]
    after: list[dict[str, str]]
    delta: list[dict[str, Any]]
    note: str = ""


@dataclass
class ImpactPreview:
    """What approving the change would do to held and recent transactions."""

    effective_from: date
    held_total: int = 0
    held_resolved: int = 0
    held_before_date: int = 0
    held_earliest: date | None = None
    held_still_missing: dict[str, int] = field(default_factory=dict)
    recent_since: date | None = None
    recent_checked: int = 0
    recent_affected: int = 0
    recent_unmappable: int = 0
    needs_reposting: bool = False
    samples: list[JournalChange] = field(default_factory=list)


def impact_preview(
    change: MappingChangeRequest, *, recent_days: int = 30, limit: int = 200, samples: int = 20
) -> ImpactPreview:
    """Held and recent transactions under the proposed rules (nothing is saved), over every channel
    the change covers.

    * Held (``needs_mapping``) transactions dated from the effective date: how many the change
      would release, and what would still be missing.
    * Recent journaled transactions (the last ``recent_days`` days, or from a past effective date):
      how many journals would differ, with examples of before and after per account.
    """
    today = min(business_today(ms) for ms in change_sets(change))
    preview = ImpactPreview(
        effective_from=change.effective_from, needs_reposting=change.effective_from < today
    )
    preview.recent_since = min(change.effective_from, today - timedelta(days=recent_days))
    missing: dict[str, int] = defaultdict(int)
    for mapping_set in change_sets(change):
        _held_impact(change, mapping_set, preview, missing, limit)
        _recent_impact(mapping_set, change, preview, limit, samples)
    preview.held_still_missing = dict(sorted(missing.items(), key=lambda kv: -kv[1]))
    return preview


def _held_impact(
    change: MappingChangeRequest,
    mapping_set: MappingSet,
    preview: ImpactPreview,
    missing: dict[str, int],
    limit: int,
) -> None:
    """Count the set's held transactions the change would release, and what would still miss."""
    version, rules = proposed_book_rules(change, mapping_set)
    held = Transaction.objects.filter(
        channel_id=mapping_set.channel_id, status=TransactionStatus.NEEDS_MAPPING
    )
    preview.held_total += held.count()
    for txn in held.order_by("-business_date")[:limit]:
        if preview.held_earliest is None or txn.business_date < preview.held_earliest:
            preview.held_earliest = txn.business_date
        if txn.business_date < change.effective_from:
            preview.held_before_date += 1
            continue
        try:
            draft_under(txn, version, rules)
            preview.held_resolved += 1
        except NeedsMapping as exc:
            for reason in exc.missing:
                missing[reason] += 1
        except Unbalanced as exc:
            missing[str(exc)] += 1


def _recent_impact(
    mapping_set: MappingSet, change: MappingChangeRequest, preview: ImpactPreview, limit: int, samples: int
) -> None:
    """Compare the set's recent journals with what the proposed rules would make."""
    version, rules = proposed_book_rules(change, mapping_set)
    entries = (
        JournalEntry.objects.filter(
            channel_id=mapping_set.channel_id,
            connection_id=mapping_set.connection_id,
            kind=EntryKind.TRANSACTION,
            superseded=False,
            transaction__isnull=False,
            date__gte=preview.recent_since,
        )
        .filter(
            Q(
                transaction__status__in=[
                    TransactionStatus.JOURNALED,
                    TransactionStatus.SUMMARISED,
                    TransactionStatus.POSTED,
                    TransactionStatus.FAILED,
                ]
            )
        )
        .select_related("transaction")
        .prefetch_related("lines")
        .order_by("-date", "-created_at")[:limit]
    )
    for entry in entries:
        assert entry.transaction is not None
        txn = entry.transaction
        preview.recent_checked += 1
        old = entry_net(entry)
        try:
            new = lines_net(draft_under(txn, version, rules))
        except (NeedsMapping, Unbalanced) as exc:
            preview.recent_unmappable += 1
            if len(preview.samples) < samples:
                preview.samples.append(
                    JournalChange(txn, lines_view(old, entry.currency), [], [], note=str(exc))
                )
            continue
        delta = net_delta(old, new, entry.currency)
        if delta or {k: v for k, v in old.items() if v} != {k: v for k, v in new.items() if v}:
            preview.recent_affected += 1
            if len(preview.samples) < samples:
                before, after = lines_view(old, entry.currency), lines_view(new, entry.currency)
                preview.samples.append(JournalChange(txn, before, after, delta))


@dataclass
class HeldGroup:
    """Held transactions sharing one missing value, with their totals per currency."""

    reason: str
    count: int
    totals: dict[str, Decimal]
    channels: list[str]
    transaction_ids: list[Any]


def held_groups(*, channel_id: Any = None, limit_ids: int = 50) -> list[HeldGroup]:
    """Transactions held as ``needs_mapping``, grouped by what is missing ("SKU KENTE-12 has no
    revenue account"), biggest group first. A transaction missing two values is in both groups."""
    held = Transaction.objects.filter(status=TransactionStatus.NEEDS_MAPPING).select_related("channel")
    if channel_id is not None:
        held = held.filter(channel_id=channel_id)
    groups: dict[str, dict[str, Any]] = {}
    for pk, reasons, currency, total, channel_name in held.values_list(
        "pk", "status_reasons", "currency", "total", "channel__name"
    ):
        for reason in reasons or ["no reason recorded"]:
            g = groups.setdefault(
                reason, {"count": 0, "totals": defaultdict(lambda: ZERO), "channels": set(), "ids": []}
            )
            g["count"] += 1
            g["totals"][currency] += total
            g["channels"].add(channel_name)
            if len(g["ids"]) < limit_ids:
                g["ids"].append(pk)
    return sorted(
        (
            HeldGroup(
                reason=reason,
                count=g["count"],
                totals=dict(sorted(g["totals"].items())),
                channels=sorted(g["channels"]),
                transaction_ids=g["ids"],
            )
            for reason, g in groups.items()
        ),
        key=lambda h: (-h.count, h.reason),
    )
