"""Coalesced processing tasks (issue 19): receipt wakes the workers, it does not queue a task per row.

A worker's task processes every waiting inbox row (up to ``PROCESS_BATCH_SIZE`` at a time), so one
queued task serves every webhook that arrives before it starts. Receipt therefore queues the task
only when none is waiting, using one shared mark (:class:`~integrator.models.Wakeup`):

* receipt, once its inbox row has committed, reads the mark; if a task is queued and has not
  started (and is not ``STALE``), it queues nothing. Otherwise it sets the mark and queues the task
  (with the ORM broker, in one transaction, so the mark and the task row commit together);
* the task clears the mark *before* it claims rows.

Why no row is forgotten: a receipt that found the mark set read it after its own row committed, and
the task that will clear that mark has not cleared it yet; it claims rows only after clearing, so it
sees the row. Should the queued task never run (a lost Redis message, a cluster killed between
dequeue and start), the mark goes ``STALE`` and the next receipt queues another; the five-minute
sweep (``retry_failed_events``) takes whatever nothing woke for, and a worker that starts wakes the
workers when rows wait (:func:`worker_started`: a restarted cluster goes on at once). A second task
is harmless: rows are claimed with a lease, never twice.

Before this, each webhook queued its own task: at 100 webhooks/s the cluster dequeued, ran and
acknowledged 100 tasks a second (three commits each with the ORM broker), of which about two found
work, and recycled each worker every 500 tasks; that work competed with receipt for the CPU and the
WAL (``docs/operations.md``).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrator.models import Wakeup

__all__ = ["PROCESSING", "STALE", "processing_started", "wake_processing", "worker_started"]

log = logging.getLogger(__name__)

PROCESSING = "processing"
#: A queued task that has not started after this long is presumed lost: the next receipt queues another.
STALE = timedelta(seconds=5)
TASK = "integrator.tasks.process_waiting_events"


def _queue_shares_the_database() -> bool:
    """True when tasks are queued by the ORM broker in the inbox's own database (not inline)."""
    from django.db import DEFAULT_DB_ALIAS
    from django_q.conf import Conf

    return not Conf.SYNC and Conf.ORM == DEFAULT_DB_ALIAS


def _mark(now: datetime) -> bool:
    """Set the mark unless a fresh one is set; True when this call set it."""
    stale = Q(woken_at__isnull=True) | Q(woken_at__lt=now - STALE)
    if Wakeup.objects.filter(name=PROCESSING).filter(stale).update(woken_at=now):
        return True
    if Wakeup.objects.filter(name=PROCESSING).exists():
        return False  # a task is queued and will see the caller's rows
    try:
        with transaction.atomic():
            Wakeup.objects.create(name=PROCESSING, woken_at=now)
    except IntegrityError:
        return False  # another receipt created it a moment ago, and queued the task
    return True


def wake_processing(*, force: bool = False) -> bool:
    """Queue the task that processes waiting inbox rows, unless one is queued and not started yet
    (with ``force``, whatever the mark says). Call it after the rows it is for have committed.
    True when a task was queued."""
    from integrator.tasks import enqueue

    now = timezone.now()
    if not force:
        woken = Wakeup.objects.filter(name=PROCESSING).values_list("woken_at", flat=True)[:1]
        if woken and woken[0] is not None and woken[0] > now - STALE:
            return False  # one read, the usual case under load
    with_the_row = _queue_shares_the_database()
    with transaction.atomic() if with_the_row else nullcontext():
        if force:
            Wakeup.objects.update_or_create(name=PROCESSING, defaults={"woken_at": now})
        elif not _mark(now):
            return False
        if with_the_row:
            enqueue(TASK)  # the task row commits with the mark
    if not with_the_row:
        enqueue(TASK)  # Redis (after the mark committed) or inline, outside any transaction
    return True


def worker_started(sender: Any = None, **kwargs: Any) -> None:
    """A cluster's worker has started (django-q's ``post_spawn``): when inbox rows wait, wake the
    workers whatever the mark says. A cluster stopped while it held the queued task (taken from the
    broker, never started) leaves a fresh mark and no task: its successor would otherwise wait for
    the next webhook after the mark goes stale, or for the five-minute sweep."""
    from django_q.conf import Conf

    from integrator.choices import EventStatus
    from integrator.models import InboundEvent

    if Conf.SYNC:
        return  # tasks run inline (django-q sends the signal for each): no cluster has started
    try:
        if InboundEvent.objects.filter(status=EventStatus.RECEIVED).exists():
            wake_processing(force=True)
    except Exception:  # the worker must start whatever happens here; the sweep still runs
        log.exception("a starting worker could not wake processing")


def processing_started() -> None:
    """The task has started: clear the mark, so the next receipt queues a new task (call before
    claiming rows)."""
    Wakeup.objects.filter(name=PROCESSING).exclude(woken_at=None).update(woken_at=None)
