"""Back-fill: pull a channel's records since a date through the same inbox as webhooks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from connectors.base import UnknownPlatform, sales_source_class
from integrator.models import Channel, Job
from integrator.services.channels import source_for
from integrator.services.ingest import store_pulled_record

__all__ = ["sync_channel", "sync_due_channels"]

log = logging.getLogger(__name__)


def sync_channel(channel: Channel, since: datetime, *, report: Callable[[Job], None] | None = None) -> Job:
    """Pull records changed since ``since``; each becomes an InboundEvent (dedupe makes re-runs
    harmless, and a pulled order plus its webhook end as one Transaction). Progress is kept on a
    Job row (for the screens) and passed to ``report`` (for the command)."""
    job = Job.objects.create(kind="sync", description=f"Back-fill {channel.name} since {since:%Y-%m-%d}")
    source = source_for(channel)
    stored = duplicates = 0

    def progress(done: int, total: int | None, message: str) -> None:
        Job.objects.filter(pk=job.pk).update(done=done, total=total, message=message[:500])
        job.done, job.total, job.message = done, total, message
        if report is not None:
            report(job)

    try:
        for record in source.pull(since, progress):
            if store_pulled_record(channel, record).created:
                stored += 1
            else:
                duplicates += 1
    except Exception as exc:
        Job.objects.filter(pk=job.pk).update(
            status="failed", message=f"{exc}"[:500], finished_at=timezone.now()
        )
        raise
    Channel.objects.filter(pk=channel.pk).update(last_synced_at=timezone.now())
    summary = f"{stored} new records, {duplicates} already known"
    Job.objects.filter(pk=job.pk).update(status="done", message=summary, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def sync_due_channels(now: datetime | None = None) -> int:
    """Scheduled completeness pulls (run every minute by the scheduler).

    A channel whose source sets ``scheduled_pull_minutes`` is pulled when its last pull is that old,
    from the last pull less the source's ``pull_overlap``: a webhook the vendor never delivered (or
    delivered while the hook was disabled) is booked by the pull, once, since the inbox dedupes.
    Claiming is a compare-and-set on ``last_synced_at``, so two schedulers never pull the same
    channel at once; a failed pull puts the mark back, so the next run covers the same window.
    Returns how many channels were pulled.
    """
    now = now or timezone.now()
    pulled = 0
    for channel in Channel.objects.filter(active=True).order_by("last_synced_at"):
        try:
            source_class = sales_source_class(channel.platform)
        except UnknownPlatform:
            continue
        minutes = source_class.scheduled_pull_minutes
        if not minutes or "pull" not in source_class.capabilities:
            continue
        last = channel.last_synced_at
        if last is not None and now - last < timedelta(minutes=minutes):
            continue
        if not Channel.objects.filter(pk=channel.pk, last_synced_at=last).update(last_synced_at=now):
            continue  # another scheduler took it
        since = (last or channel.created_at) - source_class.pull_overlap
        try:
            sync_channel(channel, since)
        except Exception:
            log.exception("scheduled pull of %s failed; the next run covers the same window", channel.slug)
            Channel.objects.filter(pk=channel.pk, last_synced_at=now).update(last_synced_at=last)
            continue
        pulled += 1
    return pulled
