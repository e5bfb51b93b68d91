"""Back-fill: pull a channel's records since a date through the same inbox as webhooks.

A person starts a back-fill from the channel's page or the API (:func:`start_backfill`): the Job row
exists at once, so the page can show its progress bar while the worker pulls (:func:`sync_channel`
with that job); the ``sync`` command runs the same pull in the foreground.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.base import UnknownPlatform, sales_source_class
from integrator.models import Channel, Job
from integrator.services import audit
from integrator.services.channels import source_for
from integrator.services.ingest import store_pulled_record

__all__ = ["BackfillRefused", "run_backfill_job", "start_backfill", "sync_channel", "sync_due_channels"]

log = logging.getLogger(__name__)


class BackfillRefused(Exception):
    """The back-fill cannot start; the message says why, in words for the person."""


def _job_for(channel: Channel, since: datetime) -> Job:
    return Job.objects.create(kind="sync", description=f"Back-fill {channel.name} since {since:%Y-%m-%d}")


def start_backfill(channel: Channel, since: datetime, *, actor: Any = None) -> Job:
    """Queue a back-fill of ``channel`` from ``since`` for the worker; the Job is returned at once
    (its page shows the progress bar). Audited; refused for a source that cannot pull or a channel
    that is disabled."""
    if not channel.active:
        raise BackfillRefused(f"{channel.name} is disabled: enable it before back-filling.")
    try:
        can_pull = "pull" in sales_source_class(channel.platform).capabilities
    except UnknownPlatform as exc:
        raise BackfillRefused(f"{channel.platform} has no connector installed.") from exc
    if not can_pull:
        raise BackfillRefused(f"{channel.name} cannot be back-filled: its platform only sends webhooks.")
    if since > timezone.now():
        raise BackfillRefused("Choose a start date in the past.")
    with transaction.atomic():
        job = _job_for(channel, since)
        audit.record("channel.backfill_started", obj=channel, after={"since": since.isoformat(), "job": str(job.pk)},
                     actor=actor)  # fmt: skip
        from integrator.tasks import enqueue

        transaction.on_commit(
            lambda: enqueue(
                "integrator.tasks.backfill_channel", str(job.pk), str(channel.pk), since.isoformat()
            )
        )
    return job


def run_backfill_job(job_id: str, channel_id: str, since: datetime) -> Job:
    """The worker's half of :func:`start_backfill`: pull into the job that is already shown."""
    job = Job.objects.get(pk=job_id)
    channel = Channel.objects.get(pk=channel_id)
    try:
        return sync_channel(channel, since, job=job)
    except Exception:
        log.exception("back-fill of %s failed", channel.slug)
        job.refresh_from_db()
        return job


def sync_channel(
    channel: Channel, since: datetime, *, report: Callable[[Job], None] | None = None, job: Job | None = None
) -> Job:
    """Pull records changed since ``since``; each becomes an InboundEvent (dedupe makes re-runs
    harmless, and a pulled order plus its webhook end as one Transaction). Progress is kept on a
    Job row (for the screens; ``job`` when one was created already) and passed to ``report`` (for
    the command)."""
    job = job or _job_for(channel, since)
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
        said = getattr(exc, "vendor_message", "") or str(exc)
        Job.objects.filter(pk=job.pk).update(
            status="failed", message=f"Stopped: {said}"[:500], finished_at=timezone.now()
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
