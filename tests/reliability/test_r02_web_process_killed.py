"""R2: the web process is killed with SIGKILL at random moments while 500 webhooks arrive.

The app runs as its own process (``manage.py runserver --noreload``) on the test database; four
sender threads deliver ``EVENTS`` distinct signed events the way a vendor does: anything that got
no 2xx (refused connection, connection dropped mid-request, timeout) is sent again later. A killer
thread SIGKILLs the server ``KILLS`` times at random moments of the traffic (after a random
number of acknowledged events, plus a random fraction of a second) and restarts it.

Pass: every acknowledged event is stored, every event is stored exactly once with the body sent,
no answer >= 500. RELIABILITY.md's 500 deliveries, unscaled.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from typing import Any

import pytest
import requests
from django.db.models import Count

from integrator.models import InboundEvent
from tests.reliability.support import (
    MANAGE,
    Proc,
    free_port,
    http_ready,
    sale_body,
    signed_headers_for,
    subprocess_env,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVENTS = 500
SENDERS = 4
KILLS = 6
DEADLINE = 600  # bounds a hang only: a run takes about 30 s (more than ten times that)


def _start_web(port: int) -> Proc:
    args = [*MANAGE, "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"]
    proc = Proc(args, subprocess_env())
    assert wait_until(http_ready(f"http://127.0.0.1:{port}/login/"), 120), proc.output()  # a hang bound
    return proc


def test_web_process_killed_during_500_deliveries_loses_and_doubles_nothing(channel: Any) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/till/"
    bodies = {f"R2-{i:04d}": sale_body(f"R2-{i:04d}") for i in range(EVENTS)}
    todo: deque[str] = deque(bodies)
    acked: dict[str, int] = {}
    failures: list[str] = []
    server_errors: list[tuple[str, int]] = []
    lock = threading.Lock()
    done = threading.Event()
    started = time.monotonic()

    def send() -> None:
        session = requests.Session()
        while not done.is_set() and time.monotonic() - started < DEADLINE:
            with lock:
                sale_id = todo.popleft() if todo else None
            if sale_id is None:
                with lock:
                    if len(acked) == EVENTS:
                        return
                time.sleep(0.05)
                continue
            body = bodies[sale_id]
            try:
                response = session.post(url, data=body, headers=signed_headers_for(body), timeout=(2, 10))
                status = response.status_code
            except requests.RequestException as exc:
                status, session = 0, requests.Session()  # the connection died with the server
                with lock:
                    failures.append(type(exc).__name__)
            with lock:
                if 200 <= status < 300:
                    acked[sale_id] = status
                    continue
                if status >= 500:
                    server_errors.append((sale_id, status))
                todo.append(sale_id)  # no 2xx: the sender will try again
            time.sleep(0.2)

    proc = _start_web(port)
    kills = 0
    rng = random.Random(2)
    senders = [threading.Thread(target=send, daemon=True) for _ in range(SENDERS)]
    try:
        for t in senders:
            t.start()
        # Random moments of the traffic, chosen by progress (so a faster machine gets them too):
        # after a random number of acknowledged events, plus a random fraction of a second.
        for point in sorted(rng.sample(range(20, EVENTS - 20), KILLS)):
            while time.monotonic() - started < DEADLINE:
                with lock:
                    if len(acked) >= point:
                        break
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
            proc.close()
            kills += 1
            proc = _start_web(port)
        for t in senders:
            t.join(timeout=max(1, DEADLINE - (time.monotonic() - started)))
    finally:
        done.set()
        proc.close()
    elapsed = time.monotonic() - started

    stored = dict(InboundEvent.objects.filter(channel=channel).values_list("dedupe_key", "body"))
    assert kills == KILLS, f"the deliveries finished after {kills} kills"
    assert failures, "no delivery was cut off: the kills missed the traffic"
    assert server_errors == []
    assert len(acked) == EVENTS, f"{EVENTS - len(acked)} events never acknowledged in {DEADLINE} s"
    assert {f"evt-{sale_id}" for sale_id in acked} <= set(stored)  # every acknowledged event is stored
    assert len(stored) == EVENTS
    assert not InboundEvent.objects.values("dedupe_key").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert all(stored[f"evt-{sale_id}"] == body.decode() for sale_id, body in bodies.items())
    duplicates = sum(1 for status in acked.values() if status == 200)
    print(
        f"R2: {EVENTS} events, {kills} SIGKILLs, {len(failures)} deliveries cut off and re-sent, "
        f"{duplicates} stored before the kill and acknowledged as duplicates on re-send, {elapsed:.0f} s"
    )
