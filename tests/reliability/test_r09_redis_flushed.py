"""R9: the Redis broker loses its queue mid-run; PostgreSQL still knows what is left to do.

``EVENTS`` webhooks are stored and their processing queued on Redis (``REDIS_URL``, a database of
its own, ``/13``, so nothing else on the server is touched); a real ``qcluster`` (two workers) on
the same Redis processes them in batches and queues one ``send_posting`` per posting, each sending
its own posting (``POSTING_TASK_BATCH=1``: with batches, any one surviving task would send every
due posting, and the flush could strand none). While that runs, the Redis database is flushed:
every queued task is gone. Then the periodic sweeps are queued as the
cluster's scheduler would queue them: ``retry_failed_events`` (inbox rows still ``received`` after
its 5-minute grace: the stranded rows are aged by 6 minutes instead of waiting) and
``sweep_outbox`` (due postings).

Pass: some work was stranded by the flush, and in the end every event is processed, every posting
posted, exactly one document per event (0 lost, 0 duplicates). Skipped when no Redis answers on
127.0.0.1:6379.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db.models import Count
from django.db.models.functions import Now
from django.test import Client

from integrator.choices import EventStatus, PostingState
from integrator.models import BookEntry, InboundEvent, Posting
from tests.reliability.support import MANAGE, Proc, sale_body, signed_headers_for, subprocess_env, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/13"
EVENTS = 300
FLUSH_AFTER_PROCESSED = 80  # flush once this many events are processed: both kinds of task still queued
DEADLINE = 120


def _redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


def _posted() -> int:
    return Posting.objects.filter(state=PostingState.POSTED).count()


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
    assert broker.dbsize() > 0  # the processing tasks wait in Redis

    # One batch a task: each task's successor waits in Redis, so the flush strands inbox rows too
    # (a task taking its batches in turn would book all 300 before the flush could lose anything).
    env = subprocess_env(
        REDIS_URL=REDIS_URL, Q_WORKERS="2", POSTING_TASK_BATCH="1", PROCESS_BATCHES_PER_TASK="1"
    )
    cluster = Proc([*MANAGE, "qcluster"], env)
    try:
        started = time.monotonic()
        processed = InboundEvent.objects.filter(status=EventStatus.PROCESSED)
        assert wait_until(lambda: processed.count() >= FLUSH_AFTER_PROCESSED, 90, interval=0.1), (
            cluster.output()
        )
        broker.flushdb()  # every queued task is lost
        flushed_at = (processed.count(), _posted())
        time.sleep(3)  # let the tasks already in the workers' hands finish
        stranded_events = InboundEvent.objects.filter(status=EventStatus.RECEIVED).count()
        stranded_postings = Posting.objects.filter(state=PostingState.PENDING).count()
        assert stranded_events > 0 and stranded_postings > 0, "the flush stranded too little"
        assert _posted() < EVENTS

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
        f"R9: {EVENTS} events; Redis flushed after {flushed_at[0]} events and {flushed_at[1]} postings, "
        f"stranding {stranded_events} "
        f"inbox rows and {stranded_postings} pending postings; all {EVENTS} posted once, {elapsed:.0f} s"
    )
