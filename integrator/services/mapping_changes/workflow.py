"""Maker-checker changes to chart-of-accounts mappings.

A clerk drafts a change (rules to add, change or remove), sees the diff against the active version
and an impact preview, and submits it; from then on it is frozen. A finance manager who is not its
author approves or rejects it with a comment. These rules are enforced here, in the service layer,
so the screens and the API cannot get round them:

* the author can never approve (or reject) their own change; a clerk cannot approve at all;
* only a draft can be edited, and only by its author;
* two open changes touching the same rule are flagged (:func:`conflicting_changes`), and a change
  whose rules were changed by another approval since it was submitted is refused as stale;
* approval creates a new mapping version (``create_version`` + ``activate_version``) effective
  from the change's date: today or later, or a past date only with an explicit re-posting
  (:mod:`integrator.services.reposting`);
* a change may cover several channels of the same ledger (:func:`set_targets`): one request, one
  approval, one new version per mapping set, each checked for staleness on its own;
* every step writes the audit trail with before and after.

Rule identity, validation and diffs live in :mod:`.rules`; read-only helpers for the screens and
the API in :mod:`.review` (conflicts, impact preview, held transactions grouped by missing value).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from integrator.models import (
    Channel,
    LedgerAccount,
    LedgerConnection,
    MappingChangeItem,
    MappingChangeRequest,
    MappingChangeTarget,
    MappingSet,
    MappingVersion,
    TaxCode,
)
from integrator.models.mapping_changes import ChangeAction, ChangeStatus
from integrator.services import audit
from integrator.services.mapping_changes.rules import (
    ItemInvalid,
    MappingChangeError,
    active_rules,
    business_today,
    change_diff,
    check_item,
    current_version,
    proposed_rules,
    rule_key,
    rule_view,
    rules_of,
)
from integrator.services.mappings import activate_version, create_version

__all__ = [
    "APPROVE_PERMISSION",
    "approve_change",
    "draft_change",
    "mapping_set_for",
    "reject_change",
    "remove_item",
    "set_item",
    "set_targets",
    "submit_change",
    "update_change",
    "withdraw_change",
]

APPROVE_PERMISSION = "integrator.approve_mappingchangerequest"
#: Re-posting outcomes that leave a document as it was booked (no reason to hold the approval).
_UNAFFECTED = ("unchanged", "closed_period", "skipped")
SUBMIT_PERMISSION = "integrator.submit_mappingchangerequest"
ADD_PERMISSION = "integrator.add_mappingchangerequest"


def _user(actor: Any) -> Any:
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDenied("Sign in to change mappings.")
    return actor


def _require(actor: Any, perm: str, message: str) -> Any:
    user = _user(actor)
    if not user.has_perm(perm):
        raise PermissionDenied(message)
    return user


def _lock(change: MappingChangeRequest) -> MappingChangeRequest:
    return MappingChangeRequest.objects.select_for_update().get(pk=change.pk)


def _editable(change: MappingChangeRequest, actor: Any) -> MappingChangeRequest:
    """Lock the change and check that ``actor`` may edit it: a draft, by its author."""
    user = _require(actor, ADD_PERMISSION, "You may not draft mapping changes.")
    locked = _lock(change)
    if locked.status != ChangeStatus.DRAFT:
        raise MappingChangeError(
            f"this change is {locked.get_status_display().lower()}: it can no longer be edited"
        )
    if locked.author_id != user.pk:
        raise PermissionDenied("Only the author of a draft may edit it.")
    return locked


def _change_snapshot(change: MappingChangeRequest) -> dict[str, Any]:
    return audit.snapshot(change, ["title", "reason", "status", "effective_from", "review_comment"])


def _channels(targets: Any) -> list[str]:
    """The channel slugs of a change's other mapping sets, for the audit trail."""
    return sorted(t.mapping_set.channel.slug for t in targets)


# -- drafting -------------------------------------------------------------------------------------


def mapping_set_for(channel: Channel, connection: LedgerConnection, *, actor: Any) -> MappingSet:
    """The mapping set of (channel, connection), created (and audited) on first use."""
    with transaction.atomic():
        mapping_set, created = MappingSet.objects.get_or_create(channel=channel, connection=connection)
        if created:
            audit.record(
                "mapping_set.created", obj=mapping_set, after=audit.snapshot(mapping_set), actor=actor
            )
    return mapping_set


def draft_change(
    mapping_set: MappingSet,
    *,
    actor: Any,
    title: str,
    reason: str = "",
    effective_from: date | None = None,
    also: list[MappingSet] | None = None,
) -> MappingChangeRequest:
    """Start a draft change against the set's active version (effective today unless told);
    ``also`` lists other mapping sets of the same ledger the change covers too."""
    user = _require(actor, ADD_PERMISSION, "You may not draft mapping changes.")
    if not title.strip():
        raise ItemInvalid({"title": ["Give the change a short title."]})
    with transaction.atomic():
        change = MappingChangeRequest.objects.create(
            mapping_set=mapping_set,
            title=title.strip()[:200],
            reason=reason.strip(),
            effective_from=effective_from or business_today(mapping_set),
            base_version=current_version(mapping_set),
            author=user,
        )
        audit.record("mapping_change.drafted", obj=change, after=_change_snapshot(change), actor=user)
        if also:
            set_targets(change, mapping_sets=also, actor=user)
    return change


def set_targets(
    change: MappingChangeRequest, *, mapping_sets: list[MappingSet], actor: Any
) -> list[MappingChangeTarget]:
    """Choose the other channels a draft covers: mapping sets of the same ledger, whose rules the
    same items add, change or remove. Replaces the previous choice (author only, draft only)."""
    with transaction.atomic():
        locked = _editable(change, actor)
        connection_id = locked.mapping_set.connection_id
        wanted = {ms.pk: ms for ms in mapping_sets if ms.pk != locked.mapping_set_id}
        wrong = sorted(ms.channel.name for ms in wanted.values() if ms.connection_id != connection_id)
        if wrong:
            raise ItemInvalid(
                {"mapping_sets": [f"{', '.join(wrong)} post(s) to another ledger: its accounts differ."]}
            )
        current = list(locked.targets.select_related("mapping_set__channel"))
        before = _channels(current)
        locked.targets.exclude(mapping_set_id__in=list(wanted)).delete()
        have = {t.mapping_set_id for t in current}
        for pk, ms in wanted.items():
            if pk not in have:
                MappingChangeTarget.objects.create(change=locked, mapping_set=ms)
        targets = list(locked.targets.select_related("mapping_set__channel"))
        after = _channels(targets)
        if before != after:
            MappingChangeRequest.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
            audit.record(
                "mapping_change.channels_set",
                obj=locked,
                before={"also": before},
                after={"also": after},
                actor=actor,
            )
    return targets


def update_change(
    change: MappingChangeRequest,
    *,
    actor: Any,
    title: str | None = None,
    reason: str | None = None,
    effective_from: date | None = None,
) -> MappingChangeRequest:
    """Edit a draft's title, reason or effective date (author only, draft only)."""
    with transaction.atomic():
        locked = _editable(change, actor)
        before = _change_snapshot(locked)
        if title is not None:
            if not title.strip():
                raise ItemInvalid({"title": ["Give the change a short title."]})
            locked.title = title.strip()[:200]
        if reason is not None:
            locked.reason = reason.strip()
        if effective_from is not None:
            locked.effective_from = effective_from
        locked.save()
        audit.record(
            "mapping_change.edited", obj=locked, before=before, after=_change_snapshot(locked), actor=actor
        )
    return locked


def set_item(
    change: MappingChangeRequest,
    *,
    actor: Any,
    kind: str,
    match_field: str,
    match_value: str = "",
    action: str | None = None,
    account: LedgerAccount | None = None,
    tax_code: TaxCode | None = None,
    item_ref: str = "",
) -> MappingChangeItem:
    """Add or replace the draft's item for one rule (validated; author only, draft only)."""
    with transaction.atomic():
        locked = _editable(change, actor)
        check = check_item(
            locked,
            action=action,
            kind=kind,
            match_field=match_field,
            match_value=match_value,
            account=account,
            tax_code=tax_code,
            item_ref=item_ref,
        )
        if not check.ok:
            raise ItemInvalid(check.errors)
        value = (match_value or "").strip()
        existing = next(
            (
                i
                for i in locked.items.select_related("account", "tax_code")
                if rule_key(i.kind, i.match_field, i.match_value) == rule_key(kind, match_field, value)
            ),
            None,
        )
        before = rule_view(existing) | {"action": existing.action} if existing else None
        item = existing or MappingChangeItem(change=locked)
        item.action = check.action
        item.kind, item.match_field, item.match_value = kind, match_field, value
        removing = check.action == ChangeAction.REMOVE
        item.account = None if removing else account
        item.tax_code = None if removing else tax_code
        item.item_ref = "" if removing else item_ref
        item.save()
        MappingChangeRequest.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
        audit.record(
            "mapping_change.item_set",
            obj=locked,
            before=before,
            after=rule_view(item) | {"action": item.action},
            actor=actor,
        )
    return item


def remove_item(change: MappingChangeRequest, item: MappingChangeItem, *, actor: Any) -> None:
    """Drop an item from a draft (author only, draft only)."""
    with transaction.atomic():
        locked = _editable(change, actor)
        item = locked.items.select_related("account", "tax_code").get(pk=item.pk)
        before = rule_view(item) | {"action": item.action}
        item.delete()
        audit.record("mapping_change.item_removed", obj=locked, before=before, after=None, actor=actor)


# -- submission and decision ---------------------------------------------------------------------


def submit_change(change: MappingChangeRequest, *, actor: Any) -> MappingChangeRequest:
    """Freeze a draft and send it for approval, with the diff taken now."""
    _require(actor, SUBMIT_PERMISSION, "You may not submit mapping changes.")
    with transaction.atomic():
        locked = _editable(change, actor)
        base = active_rules(locked)
        diff = change_diff(locked, base)
        if not diff:
            raise MappingChangeError("the change has no items: add, change or remove at least one rule")
        problems = [r["problem"] for r in diff if r["problem"]]
        if problems:
            raise MappingChangeError("the change no longer fits the active version: " + "; ".join(problems))
        targets = list(locked.targets.select_related("mapping_set__channel"))
        for target in targets:
            target.diff = change_diff(locked, rules_of(target.mapping_set), upsert=True)
            target.base_version = current_version(target.mapping_set)
            problems += [
                f"{target.mapping_set.channel.name}: {r['problem']}" for r in target.diff if r["problem"]
            ]
        if problems:
            raise MappingChangeError("the change does not fit every channel: " + "; ".join(problems))
        for target in targets:
            target.save(update_fields=["diff", "base_version"])
        before = _change_snapshot(locked)
        locked.status = ChangeStatus.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.diff = diff
        locked.base_version = current_version(locked.mapping_set)
        locked.save()
        audit.record(
            "mapping_change.submitted",
            obj=locked,
            before=before,
            after=_change_snapshot(locked)
            | {"diff": diff, "also": {t.mapping_set.channel.slug: t.diff for t in targets}},
            actor=actor,
        )
    return locked


def _target(view: dict[str, str] | None) -> tuple[str, str, str] | None:
    """What a rule maps to (account, tax code, item), ignoring names that a chart refresh may change."""
    return None if view is None else (view["account"], view["tax_code"], view["item_ref"])


def _decider(change: MappingChangeRequest, actor: Any, verb: str) -> Any:
    """The checker: holds the approve permission and is not the author."""
    user = _require(actor, APPROVE_PERMISSION, f"Only a finance manager may {verb} mapping changes.")
    if change.author_id == user.pk:
        raise PermissionDenied(f"You cannot {verb} your own change: another finance manager must.")
    return user


def _stale_problems(
    change: MappingChangeRequest, mapping_set: MappingSet, submitted: list[dict[str, Any]], *, upsert: bool
) -> tuple[dict[Any, Any], list[dict[str, Any]], list[str]]:
    """The set's active rules, the diff now, and why the change no longer fits the set: a rule it
    touches was changed by another approval since submission, or a later version overrides it."""
    latest = current_version(mapping_set)
    problems = []
    if latest is not None and latest.effective_from > change.effective_from:
        problems.append(
            f"version {latest.number} of {mapping_set.channel.name} takes effect on {latest.effective_from}, "
            f"after this change's date {change.effective_from}: the change would be overridden from then on"
        )
    base = rules_of(mapping_set)
    diff = change_diff(change, base, upsert=upsert)
    problems += [r["problem"] for r in diff if r["problem"]]
    frozen = {
        (r["kind"], r["match_field"], r["match_value"].lower()): _target(r["before"]) for r in submitted
    }
    for row in diff:
        if frozen.get((row["kind"], row["match_field"], row["match_value"].lower())) != _target(
            row["before"]
        ):
            problems.append(
                f"{row['kind']} {row['match_field']}={row['match_value'] or '*'} changed since submission"
                + (f" ({mapping_set.channel.name})" if upsert else "")
            )
    return base, diff, problems


def approve_change(
    change: MappingChangeRequest,
    *,
    actor: Any,
    comment: str = "",
    confirm_reposting: bool = False,
) -> MappingChangeRequest:
    """Approve a submitted change: a new active version effective from the change's date, for its
    own mapping set and for every other channel it covers (all or none).

    A past date needs ``confirm_reposting`` when documents already journaled from that date would
    change: they are then listed in a pending :class:`~integrator.models.RepostRequest` per set for
    explicit execution (nothing is posted by the approval itself).
    Held transactions are retried once the approval commits.
    """
    from integrator.services.reposting import preview_repost, request_repost

    user = _decider(change, actor, "approve")
    with transaction.atomic():
        locked = _lock(change)
        targets = list(locked.targets.select_related("mapping_set__channel"))
        # One approval per set at a time; sets are locked in one order so two approvals never wait
        # for each other.
        set_ids = sorted({str(locked.mapping_set_id), *(str(t.mapping_set_id) for t in targets)})
        list(MappingSet.objects.select_for_update().filter(pk__in=set_ids).order_by("pk").values_list("pk"))
        _decider(locked, user, "approve")
        if locked.status != ChangeStatus.SUBMITTED:
            raise MappingChangeError(f"only a submitted change can be approved; this one is {locked.status}")
        sets: list[tuple[MappingSet, MappingChangeTarget | None, list[dict[str, Any]], bool]] = [
            (locked.mapping_set, None, locked.diff, False),
            *[(t.mapping_set, t, t.diff, True) for t in targets],
        ]
        checked = []
        problems: list[str] = []
        for mapping_set, target, submitted, upsert in sets:
            base, diff, found = _stale_problems(locked, mapping_set, submitted, upsert=upsert)
            checked.append((mapping_set, target, base, diff))
            problems += found
        if problems:
            if any(p.startswith("version ") for p in problems) and len(sets) == 1:
                raise MappingChangeError(problems[0])
            raise MappingChangeError("stale change, ask the author to draft it again: " + "; ".join(problems))
        before = _change_snapshot(locked) | {"rules": [r["before"] for r in checked[0][3]]}
        made: list[
            tuple[MappingSet, MappingChangeTarget | None, MappingVersion, list[Any], list[dict[str, Any]]]
        ] = []
        for mapping_set, target, base, diff in checked:
            version = create_version(
                mapping_set,
                effective_from=locked.effective_from,
                rules=proposed_rules(locked, base),
                actor=user,
                note=f"{locked.title}. {locked.reason}".strip(),
            )
            # The version was drafted by the change's author; the approver is recorded on activation.
            MappingVersion.objects.filter(pk=version.pk).update(created_by=locked.author)
            plans: list[Any] = []
            if locked.effective_from < business_today(mapping_set):
                # Documents already booked from the past date whose journal would change need the
                # re-posting flow; if none would change, the past date alters nothing that was posted.
                plans = [p for p in preview_repost(mapping_set, version) if p.outcome not in _UNAFFECTED]
            made.append((mapping_set, target, version, plans, diff))
        to_repost = sum(len(plans) for *_, plans, _ in made)
        if to_repost and not confirm_reposting:
            raise MappingChangeError(
                f"the change takes effect on {locked.effective_from}, in the past, and {to_repost} "
                "document(s) booked since then would be journaled differently: approve it with "
                "re-posting (a reversal and a new entry for each), or reject it"
            )
        versions = {}
        active = []
        for mapping_set, target, version, plans, diff in made:
            version = activate_version(version, actor=user)
            active.append(version)
            versions[mapping_set.channel.slug] = version.number
            if target is not None:
                target.version = version
                target.diff = diff
                if plans:
                    target.repost = request_repost(mapping_set, version, actor=user, plans=plans)
                target.save(update_fields=["version", "diff", "repost"])
        own_set, _, _, own_plans, own_diff = made[0]
        own_version = active[0]
        locked.status = ChangeStatus.APPROVED
        locked.reviewer = user
        locked.review_comment = comment.strip()
        locked.decided_at = timezone.now()
        locked.version = own_version
        locked.diff = own_diff
        locked.save()
        audit.record(
            "mapping_change.approved",
            obj=locked,
            before=before,
            after=_change_snapshot(locked)
            | {
                "version": own_version.number,
                "rules": [r["after"] for r in own_diff],
                "reposting": to_repost,
                "versions": versions,
            },
            actor=user,
        )
        if own_plans:
            request_repost(own_set, own_version, actor=user, change=locked, plans=own_plans)
    return locked


def reject_change(change: MappingChangeRequest, *, actor: Any, comment: str) -> MappingChangeRequest:
    """Reject a submitted change with a reason (a finance manager other than the author)."""
    user = _decider(change, actor, "reject")
    if not comment.strip():
        raise ItemInvalid({"comment": ["Say why the change is rejected."]})
    with transaction.atomic():
        locked = _lock(change)
        _decider(locked, user, "reject")
        if locked.status != ChangeStatus.SUBMITTED:
            raise MappingChangeError(f"only a submitted change can be rejected; this one is {locked.status}")
        before = _change_snapshot(locked)
        locked.status = ChangeStatus.REJECTED
        locked.reviewer = user
        locked.review_comment = comment.strip()
        locked.decided_at = timezone.now()
        locked.save()
        audit.record(
            "mapping_change.rejected",
            obj=locked,
            before=before,
            after=_change_snapshot(locked) | {"diff": locked.diff},
            actor=user,
        )
    return locked


def withdraw_change(change: MappingChangeRequest, *, actor: Any) -> MappingChangeRequest:
    """The author takes back a draft or submitted change (it can then never be approved)."""
    user = _user(actor)
    with transaction.atomic():
        locked = _lock(change)
        if locked.author_id != user.pk:
            raise PermissionDenied("Only the author may withdraw a change.")
        if not locked.is_open:
            raise MappingChangeError(f"this change is already {locked.status}")
        before = _change_snapshot(locked)
        locked.status = ChangeStatus.WITHDRAWN
        locked.decided_at = timezone.now()
        locked.save()
        audit.record(
            "mapping_change.withdrawn", obj=locked, before=before, after=_change_snapshot(locked), actor=user
        )
    return locked
