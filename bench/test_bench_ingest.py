"""Webhook receipt under the production server while the workers book (issue 19, item 3).

gunicorn (as docs/operations.md runs it) serves the application on the test database (PostgreSQL)
with ``DJANGO_DEBUG=0``; the load generator (``bench/loadgen.py``) runs as its own process, so its
CPU is not the server's. Phases, in one run:

1. saturation of a bare view in the same server that only inserts the raw body as an inbox row:
   the baseline;
2. saturation of the webhook endpoint (verify, identify, store, enqueue): the ratio to 1;
3. a steady ``RATE`` requests/s for ``STEADY_SECONDS`` with no worker running: p50 / p99;
4. the same steady load while a real django-q2 cluster of 2 workers books the backlog phases 2
   and 3 left (and the new sales) at full speed: p50 / p99, how many sales the workers booked
   meanwhile, and the backlog left when the load stopped (above 0: the workers were busy for the
   whole phase);
5. the same again with 1 worker, on what backlog is left, leaving a core to receipt on a two-core
   machine: the trade between receipt's p99 and booking speed when web and workers share a
   machine.

Figures go to the run's results table (bench/conftest.py). Correctness is asserted (no error, every
acknowledged sale stored once); speed is reported against the targets, not asserted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

from bench.conftest import BenchTable, limits_apply, settle_database, size
from integrator.choices import EventStatus
from integrator.models import InboundEvent
from tests.reliability.support import MANAGE, ROOT, Proc, free_port, http_ready, subprocess_env, wait_until

pytestmark = [pytest.mark.bench, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RATE = 100
SATURATE_SECONDS = size(3, 15)
STEADY_SECONDS = size(4, 60)
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 4


def production_env(**extra: str) -> dict[str, str]:
    """The environment of a production process on the test database: DEBUG off, the test run's
    secrets (the channel's signing secret is stored encrypted under them), no TLS redirect."""
    digest = hashlib.sha256(("field-encryption:" + settings.SECRET_KEY).encode()).digest()
    keys = ",".join(settings.FIELD_ENCRYPTION_KEYS) or base64.urlsafe_b64encode(digest).decode()
    return subprocess_env(
        DJANGO_DEBUG="0", SECRET_KEY=settings.SECRET_KEY, FIELD_ENCRYPTION_KEYS=keys, SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="127.0.0.1,localhost", **extra,
    )  # fmt: skip


def loadgen(mode: str, port: int, **options: Any) -> dict[str, Any]:
    """Run the load generator in its own process; its JSON result."""
    args = [sys.executable, "-m", "bench.loadgen", mode, "--port", str(port)]
    for key, value in options.items():
        args += [f"--{key}", str(value)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _booked() -> int:
    return InboundEvent.objects.filter(status=EventStatus.PROCESSED).count()


def test_receipt_stays_fast_while_workers_book(channel: Any, bench_table: BenchTable) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL): the production server's database")
    settle_database()
    port = free_port()
    env = production_env(DJANGO_SETTINGS_MODULE="bench.settings", DB_CONN_MAX_AGE="60")
    server = Proc(
        [sys.executable, "-m", "gunicorn", "integrator.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(GUNICORN_WORKERS), "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS),
         "--log-level", "warning"],
        env,
    )  # fmt: skip
    cluster: Proc | None = None
    busy: dict[int, dict[str, Any]] = {}
    booked: dict[int, float] = {}
    backlog: dict[int, int] = {}
    try:
        assert wait_until(http_ready(f"http://127.0.0.1:{port}/login/"), 60), server.output()
        bare = loadgen("saturate", port, path="/bench/insert/till/", seconds=SATURATE_SECONDS)
        hooks = loadgen("saturate", port, seconds=SATURATE_SECONDS, prefix="SAT")
        quiet = loadgen("steady", port, rate=RATE, seconds=STEADY_SECONDS, prefix="QUIET")
        for workers in (2, 1):
            cluster = Proc(
                [*MANAGE, "qcluster"], production_env(DB_CONN_MAX_AGE="60", Q_WORKERS=str(workers))
            )
            first = _booked()
            assert wait_until(lambda: _booked() > first, 120), cluster.output()  # noqa: B023 - used at once
            before = _booked()
            started = time.monotonic()
            busy[workers] = loadgen(
                "steady", port, rate=RATE, seconds=STEADY_SECONDS, prefix=f"BUSY{workers}"
            )
            booked[workers] = (_booked() - before) / (time.monotonic() - started)
            backlog[workers] = InboundEvent.objects.filter(status=EventStatus.RECEIVED).count()
            cluster.close()
            cluster = None
    finally:
        if cluster is not None:
            cluster.close()
        server.close()

    for phase in (bare, hooks, quiet, *busy.values()):
        assert phase["errors"] == 0, phase
    acknowledged = hooks["ok"] + quiet["ok"] + sum(phase["ok"] for phase in busy.values())
    assert InboundEvent.objects.filter(channel=channel).exclude(event_type="bench").count() == acknowledged
    assert not InboundEvent.objects.values("dedupe_key").annotate(n=Count("id")).filter(n__gt=1).exists()
    # At full size only: the small size's 4-second load may end before a batch commits.
    assert all(booked.values()) or not limits_apply(), (
        f"the workers booked nothing while the load ran: {booked}"
    )

    name = f"ingest (gunicorn {GUNICORN_WORKERS}x{GUNICORN_THREADS} threads)"
    bench_table.add(name, "saturation throughput", hooks["per_second"], "requests/s",
                    baseline=bare["per_second"], baseline_label="bare insert view", limit="ratio >= 0.5")  # fmt: skip
    bench_table.add(name, f"p50 at {RATE}/s, no worker", quiet["p50_ms"], "ms")
    bench_table.add(name, f"p99 at {RATE}/s, no worker", quiet["p99_ms"], "ms", limit="< 100 ms")
    for workers, phase in busy.items():
        who = f"{workers} worker{'s' if workers > 1 else ''} booking"
        bench_table.add(name, f"p50 at {RATE}/s, {who}", phase["p50_ms"], "ms")
        bench_table.add(name, f"p99 at {RATE}/s, {who}", phase["p99_ms"], "ms",
                        baseline=quiet["p99_ms"], baseline_label="no worker", limit="< 100 ms")  # fmt: skip
        bench_table.add(
            name, f"sales booked by {workers} worker(s) during the load", booked[workers], "sales/s"
        )
        bench_table.add(name, f"backlog left when the load stopped, {who}", float(backlog[workers]), "sales")
    errors = sum(p["errors"] for p in (bare, hooks, quiet, *busy.values()))
    bench_table.add(name, "errors", float(errors), "", limit="0")
