"""Resolving exceptions: a person explains what happened; only a finance manager writes off."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from integrator.services import audit
from reconciliation.choices import ExceptionStatus
from reconciliation.models import ReconciliationException

__all__ = ["RESOLVE_PERMISSION", "WRITE_OFF_PERMISSION", "ResolutionRefused", "resolve_exception"]

RESOLVE_PERMISSION = "reconciliation.change_reconciliationexception"
WRITE_OFF_PERMISSION = "reconciliation.write_off_reconciliationexception"
_AUDITED = ["status", "resolution_note", "resolved_by", "resolved_at", "auto_resolved"]


class ResolutionRefused(ValueError):
    """The exception cannot be resolved this way (no note, already closed)."""


def resolve_exception(
    exception: ReconciliationException, *, note: str, write_off: bool = False, actor: Any
) -> ReconciliationException:
    """Close an open exception with a note. Writing off (accepting the difference in the books)
    needs the finance manager's write-off permission; resolving needs the change permission."""
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDenied("An exception is resolved by a signed-in person.")
    if not actor.has_perm(RESOLVE_PERMISSION):
        raise PermissionDenied("You may not resolve reconciliation exceptions.")
    if write_off and not actor.has_perm(WRITE_OFF_PERMISSION):
        raise PermissionDenied("Only a finance manager may write off a reconciliation exception.")
    note = (note or "").strip()
    if not note:
        raise ResolutionRefused("Say what happened: a note is required to resolve an exception.")
    with transaction.atomic():
        locked = ReconciliationException.objects.select_for_update().get(pk=exception.pk)
        if locked.status != ExceptionStatus.OPEN:
            raise ResolutionRefused(f"This exception is already {locked.get_status_display().lower()}.")
        before = audit.snapshot(locked, _AUDITED)
        locked.status = ExceptionStatus.WRITTEN_OFF if write_off else ExceptionStatus.RESOLVED
        locked.resolution_note = note
        locked.resolved_by = actor
        locked.resolved_at = timezone.now()
        locked.auto_resolved = False
        locked.save(update_fields=[*_AUDITED, "updated_at"])
        audit.record(
            "reconciliation_exception.written_off" if write_off else "reconciliation_exception.resolved",
            obj=locked,
            before=before,
            after={
                **audit.snapshot(locked, _AUDITED),
                "kind": locked.kind,
                "amount": locked.amount,
                "currency": locked.currency,
            },
            actor=actor,
        )
    return locked
