"""Retention of the integration log: calls older than the retention period are deleted, in batches,
with one audit row per batch (the rows are a financial record: 7 years by default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrator.models import IntegrationCall
from integrator.services import audit

__all__ = ["PurgeResult", "purge_integration_log", "retention_cutoff"]

_BATCH = 5000


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed (or would remove, in a dry run)."""

    cutoff: datetime
    deleted: int
    dry_run: bool


def retention_cutoff(days: int | None = None, *, now: datetime | None = None) -> datetime:
    """Calls created before this moment are past retention.

    ``days`` may lengthen the retention for one run, never shorten it below the configured
    ``INTEGRATION_LOG_RETENTION_DAYS`` (that would destroy records the business must keep).
    """
    minimum = int(settings.INTEGRATION_LOG_RETENTION_DAYS)
    days = minimum if days is None else days
    if days < minimum:
        raise ValueError(f"retention cannot be shorter than INTEGRATION_LOG_RETENTION_DAYS ({minimum} days)")
    return (now or timezone.now()) - timedelta(days=days)


def purge_integration_log(
    *, days: int | None = None, dry_run: bool = False, actor: Any = None
) -> PurgeResult:
    """Delete integration-log rows past retention, in batches, each audited with its count and cutoff."""
    cutoff = retention_cutoff(days)
    old = IntegrationCall.objects.filter(created_at__lt=cutoff)
    if dry_run:
        return PurgeResult(cutoff=cutoff, deleted=old.count(), dry_run=True)
    deleted = 0
    retention_days = int(settings.INTEGRATION_LOG_RETENTION_DAYS) if days is None else days
    while True:
        # Each batch commits with its own audit row: an interrupted purge leaves a true record.
        with transaction.atomic():
            ids = list(old.order_by("created_at").values_list("pk", flat=True)[:_BATCH])
            if not ids:
                break
            count, _ = IntegrationCall.objects.filter(pk__in=ids).delete()
            deleted += count
            audit.record(
                "integration_log.purged",
                object_type="integrator.IntegrationCall",
                after={"cutoff": cutoff.isoformat(), "deleted": count, "retention_days": retention_days},
                actor=actor,
                actor_label="" if actor is not None else "purge_integration_log",
            )
    return PurgeResult(cutoff=cutoff, deleted=deleted, dry_run=False)
