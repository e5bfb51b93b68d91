"""R9: the Redis broker loses its queue mid-run; PostgreSQL still knows what is left to do.

``EVENTS`` webhooks are stored and their processing queued on Redis (``REDIS_URL``, a database of
its own, ``/13``, so nothing else on the server is touched). Redis is flushed twice:

* before the cluster starts: every processing task receipt queued is gone, and a real ``qcluster``
  (one worker) starting on the emptied Redis takes up the waiting rows by itself
  (``integrator.services.wake.worker_started``);
* mid-run, by progress, never by the clock: once ``FLUSH_AFTER_PROCESSED`` events are processed,
  at the first moment Redis holds both the processing task that carries the rest of the inbox (its
  successor is queued only by the task before it, one batch per task) and ``send_posting`` tasks
  (``POSTING_TASK_BATCH=1``: one task per posting, none following up the others). The flush is a
  Redis transaction under ``WATCH``: had the worker taken anything from the queue between the look
  and the flush, the flush does not happen and the look is made again. So the flush strands inbox
  rows and postings on any machine, however fast its worker.

One worker, because a worker's processing task queues one successor, and two tasks running at once
could each queue one: a second chain could hold the rest in the worker's hands while the first
waits in Redis, and whether the flush strands rows would depend on the machine's speed.

Then the periodic sweeps are queued as the cluster's scheduler would queue them:
``retry_failed_events`` (inbox rows still ``received`` after its 5-minute grace: the stranded rows
are aged by 6 minutes instead of waiting) and ``sweep_outbox`` (due postings).

Pass: both flushes stranded work, and in the end every event is processed, every posting posted,
exactly one document per event (0 lost, 0 duplicates). Skipped when no Redis answers on
127.0.0.1:6379.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db.models import Count, Q
from django.db.models.functions import Now
from django.test import Client
from django.utils import timezone

from integrator.choices import EventStatus, PostingState
from integrator.models import BookEntry, InboundEvent, Posting
from tests.reliability.support import MANAGE, Proc, sale_body, signed_headers_for, subprocess_env, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/13"
QUEUE = "django_q:integrator:q"  # django-q's Redis list for the cluster named in Q_CLUSTER
EVENTS = 300
FLUSH_AFTER_PROCESSED = 80  # flush mid-run once this many events are processed
DEADLINE = 120
PROCESS_TASK = "integrator.tasks.process_waiting_events"
SEND_TASK = "integrator.tasks.send_posting"


def _redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


def _posted() -> int:
    return Posting.objects.filter(state=PostingState.POSTED).count()


def _unclaimed() -> int:
    """Inbox rows still to be processed that no task has claimed (or whose claim has lapsed)."""
    now = timezone.now()
    return (
        InboundEvent.objects.filter(status=EventStatus.RECEIVED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .count()
    )


def _flush_when_both_kinds_wait(broker: redis.Redis) -> Counter[str] | None:
    """Flush Redis at a moment its queue holds the processing task and posting tasks while inbox
    rows wait unclaimed; return the tasks lost, by function. ``None`` when no such moment comes
    before every event is processed.

    Under ``WATCH`` the queue is read, then flushed in a transaction that fails should the worker
    have taken a task meanwhile (the look is then made again). Only a processing task claims rows,
    and the one that carries the rest waited in Redis from the look to the flush, so the rows
    unclaimed at the look are still unclaimed when it is lost."""
    from django_q.signing import SignedPackage

    while InboundEvent.objects.exclude(status=EventStatus.PROCESSED).exists():
        with broker.pipeline() as pipe:
            try:
                pipe.watch(QUEUE)
                waiting = _unclaimed()
                queued = Counter(SignedPackage.loads(item)["func"] for item in pipe.lrange(QUEUE, 0, -1))
                if waiting and queued[PROCESS_TASK] and queued[SEND_TASK]:
                    pipe.multi()
                    pipe.flushdb()
                    pipe.execute()
                    return queued
                pipe.unwatch()
            except redis.WatchError:
                continue  # the worker took a task between the look and the flush: look again
        time.sleep(0.02)
    return None


def test_flushing_redis_mid_run_loses_nothing_and_doubles_nothing(channel: Any, monkeypatch: Any) -> None:
    from django_q.conf import Conf
    from django_q.tasks import async_task

    broker = _redis()
    broker.flushdb()
    # This process enqueues to the same Redis as the cluster (as the web process would).
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    client = Client()
    for i in range(EVENTS):
        body = sale_body(f"R9-{i:04d}")
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in signed_headers_for(body).items()}
        response = client.post("/hooks/till/", data=body, content_type="application/json", **headers)
        assert response.status_code == 202
    assert broker.llen(QUEUE) > 0  # the processing tasks wait in Redis
    broker.flushdb()  # ... and are lost before any worker runs
    assert _unclaimed() == EVENTS

    # One batch a task and one task per posting, so both kinds of task wait in Redis mid-run.
    env = subprocess_env(
        REDIS_URL=REDIS_URL, Q_WORKERS="1", POSTING_TASK_BATCH="1", PROCESS_BATCHES_PER_TASK="1"
    )
    cluster = Proc([*MANAGE, "qcluster"], env)
    try:
        started = time.monotonic()
        processed = InboundEvent.objects.filter(status=EventStatus.PROCESSED)
        # No sweep has run: the starting worker took up the rows whose tasks the first flush lost.
        assert wait_until(lambda: processed.count() >= FLUSH_AFTER_PROCESSED, 90, interval=0.1), (
            cluster.output()
        )
        lost = _flush_when_both_kinds_wait(broker)  # every queued task is lost
        assert lost is not None, "Redis never held both kinds of task while rows waited"
        flushed_at = (processed.count(), _posted())
        stranded_events = _unclaimed()
        stranded_postings = Posting.objects.filter(state=PostingState.PENDING).count()
        assert stranded_events > 0 and stranded_postings > 0, (lost, stranded_events, stranded_postings)

        # The sweeps, as the scheduler queues them. Stranded inbox rows are past the retry grace.
        InboundEvent.objects.filter(status=EventStatus.RECEIVED).update(
            received_at=Now() - timedelta(minutes=6)
        )
        async_task("integrator.tasks.retry_failed_events")

        def swept() -> bool:
            async_task("integrator.tasks.sweep_outbox")
            return _posted() == EVENTS

        done = wait_until(swept, DEADLINE, interval=2.0)
        elapsed = time.monotonic() - started
    finally:
        cluster.stop()
        broker.flushdb()
    assert done, f"{_posted()} of {EVENTS} posted: {cluster.output()}"
    assert InboundEvent.objects.filter(status=EventStatus.PROCESSED).count() == EVENTS
    assert BookEntry.objects.count() == EVENTS
    assert not BookEntry.objects.values("reference").annotate(n=Count("id")).filter(n__gt=1).exists()
    print(
        f"R9: {EVENTS} events; Redis flushed before the cluster started, then after {flushed_at[0]} "
        f"events and {flushed_at[1]} postings, losing {lost[PROCESS_TASK]} processing and "
        f"{lost[SEND_TASK]} posting tasks and stranding {stranded_events} inbox rows and "
        f"{stranded_postings} pending postings; all {EVENTS} posted once, {elapsed:.0f} s"
    )
