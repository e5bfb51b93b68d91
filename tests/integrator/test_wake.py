"""Receipt wakes the workers instead of queueing a task per webhook (issue 19).

Through the webhook endpoint, with the ORM broker as ``make run`` uses it (tasks are queued in the
database, nobody consumes them here, and each queued task is then run as a worker would run it):
a burst of webhooks queues one task, that task books every row, a full batch wakes the next task,
a row that arrived while a task was queued is booked by that task, and a mark left by a task that
never ran goes stale instead of stranding the rows behind it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

from integrator import tasks
from integrator.choices import EventStatus
from integrator.models import InboundEvent, Wakeup
from integrator.services.wake import PROCESSING, STALE, TASK
from tests.conftest import sale_event, signed_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(monkeypatch: Any, settings: Any) -> None:
    """Queue tasks in the database as the embedded setup does; batches of 5 keep the test small."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")
    settings.PROCESS_BATCH_SIZE = 5


def _send(client: Client, number: str, capture: Any) -> None:
    body = json.dumps(sale_event(number)).encode()
    with capture(execute=True):
        response = client.post(
            "/hooks/till/", data=body, content_type="application/json", **signed_headers(body)
        )
    assert response.status_code == 202, response.content


def _queued() -> list[str]:
    """The functions of the tasks waiting in the ORM broker's queue."""
    return [task.func() for task in OrmQ.objects.all()]


def _run_queued() -> None:
    """Run the queued tasks as a worker would (each is taken off the queue first)."""
    for task in list(OrmQ.objects.all()):
        task.delete()
        getattr(tasks, task.func().rsplit(".", 1)[1])(*task.task["args"])


def _processed() -> int:
    return InboundEvent.objects.filter(status=EventStatus.PROCESSED).count()


def test_a_burst_of_webhooks_queues_one_task_that_books_them_all(
    channel: Any, broker: None, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    for i in range(4):
        _send(client, f"W-{i}", django_capture_on_commit_callbacks)
    assert _queued() == [TASK]  # four webhooks, one message
    assert Wakeup.objects.get(name=PROCESSING).woken_at is not None
    _run_queued()
    assert _processed() == 4
    assert Wakeup.objects.get(name=PROCESSING).woken_at is None  # cleared when the task started
    _send(client, "W-after", django_capture_on_commit_callbacks)
    assert _queued() == [TASK]  # nothing waits: the next webhook wakes the workers again


def test_a_full_batch_wakes_the_next_task_for_the_rows_behind_it(
    channel: Any, broker: None, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    for i in range(12):
        _send(client, f"F-{i}", django_capture_on_commit_callbacks)
    assert len(_queued()) == 1
    _run_queued()  # batches of 5, 5 and 2; the first full batch queued the next task
    assert _processed() == 12
    assert _queued() == [TASK]  # another worker would have shared the rows; it now finds none
    _run_queued()
    assert not OrmQ.objects.exists()


def test_a_task_stops_after_its_batches_and_the_task_it_woke_goes_on(
    channel: Any, broker: None, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.PROCESS_BATCHES_PER_TASK = 2
    client = Client()
    for i in range(12):
        _send(client, f"T-{i}", django_capture_on_commit_callbacks)
    _run_queued()
    assert _processed() == 10  # two batches of 5
    assert _queued() == [TASK]
    _run_queued()
    assert _processed() == 12


def test_a_row_received_while_a_task_is_queued_is_booked_by_that_task(
    channel: Any, broker: None, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    _send(client, "Q-1", django_capture_on_commit_callbacks)
    _send(client, "Q-2", django_capture_on_commit_callbacks)  # the task of Q-1 has not started yet
    assert len(_queued()) == 1
    _run_queued()
    assert _processed() == 2
    assert not OrmQ.objects.exists()


def test_a_mark_left_by_a_task_that_never_ran_goes_stale(
    channel: Any, broker: None, django_capture_on_commit_callbacks: Any
) -> None:
    Wakeup.objects.create(name=PROCESSING, woken_at=timezone.now())  # a task queued, then lost
    client = Client()
    _send(client, "L-1", django_capture_on_commit_callbacks)
    assert not OrmQ.objects.exists()  # it may still run: nothing queued yet
    Wakeup.objects.filter(name=PROCESSING).update(woken_at=timezone.now() - STALE - timedelta(seconds=1))
    _send(client, "L-2", django_capture_on_commit_callbacks)
    assert _queued() == [TASK]  # presumed lost: the workers are woken again
    _run_queued()
    assert _processed() == 2


def test_without_a_cluster_every_webhook_is_booked_before_it_is_answered(
    channel: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    """Inline (tests, the demo without workers): the task runs at once and takes every batch."""
    settings.PROCESS_BATCH_SIZE = 2
    InboundEvent.objects.bulk_create(
        InboundEvent(channel=channel, dedupe_key=f"old-{i}", event_type="sale.completed", body=json.dumps(sale_event(f"O-{i}")))
        for i in range(5)
    )  # fmt: skip
    _send(Client(), "I-1", django_capture_on_commit_callbacks)
    assert _processed() == 6
    assert Wakeup.objects.get(name=PROCESSING).woken_at is None


def test_with_batching_off_a_task_books_the_rows_one_at_a_time(
    channel: Any, broker: None, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.PROCESS_BATCH_SIZE = 1
    client = Client()
    for i in range(3):
        _send(client, f"B-{i}", django_capture_on_commit_callbacks)
    _run_queued()  # one row a batch; the task goes on to the next
    assert _processed() == 3
    assert _queued() == [TASK]  # woken after each full batch of one: the other worker's share


def test_a_broker_that_is_down_costs_a_wake_never_the_delivery(
    channel: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    """Redis refuses the message: the row is stored and the delivery acknowledged (the vendor
    would otherwise send it again for nothing); the next wake after the mark goes stale, or the
    sweep, books it."""
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:9/0")  # nothing listens there
    _send(Client(), "D-1", django_capture_on_commit_callbacks)
    assert InboundEvent.objects.get().status == EventStatus.RECEIVED
    assert any(
        "wake_processing" in r.getMessage() or "Error calling" in r.getMessage() for r in caplog.records
    )
    monkeypatch.setattr(Conf, "SYNC", True)  # the broker is back (here: inline)
    Wakeup.objects.filter(name=PROCESSING).update(woken_at=timezone.now() - STALE - timedelta(seconds=1))
    _send(Client(), "D-2", django_capture_on_commit_callbacks)
    assert _processed() == 2


def test_a_starting_worker_wakes_the_rows_a_stopped_cluster_left(
    channel: Any, broker: None, django_capture_on_commit_callbacks: Any
) -> None:
    """A cluster stopped after taking the queued task from the broker (never started) leaves a
    fresh mark and no task; a worker of the next cluster queues one as it starts (django-q's own
    ``post_spawn`` signal), not at the next webhook or the sweep. With nothing waiting, it queues
    nothing."""
    from django_q.signals import post_spawn

    client = Client()
    _send(client, "K-1", django_capture_on_commit_callbacks)
    _send(client, "K-2", django_capture_on_commit_callbacks)
    OrmQ.objects.all().delete()  # taken by the cluster that was stopped
    assert Wakeup.objects.get(name=PROCESSING).woken_at is not None  # still fresh
    post_spawn.send(sender="django_q", proc_name="Process-1:1")
    assert _queued() == [TASK]
    _run_queued()
    assert _processed() == 2
    post_spawn.send(sender="django_q", proc_name="Process-1:2")
    assert not OrmQ.objects.exists()
