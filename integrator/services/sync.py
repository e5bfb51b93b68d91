"""Back-fill: pull a channel's records since a date through the same inbox as webhooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

from integrator.models import Channel, Job
from integrator.services.channels import source_for
from integrator.services.ingest import store_pulled_record

__all__ = ["sync_channel"]


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
