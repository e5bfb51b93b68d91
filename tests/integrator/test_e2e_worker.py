"""End to end with real processes: the django-q2 cluster, and `make run`'s server + worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client

from integrator.choices import PostingState
from integrator.models import BookEntry, Posting
from tests.conftest import sale_event, signed_headers

ROOT = Path(settings.BASE_DIR)


def cluster_output(cluster: subprocess.Popen[bytes]) -> str:
    """What the cluster printed so far (for a failed assertion), without waiting for more."""
    import select

    out = cluster.stdout
    if out is None or not select.select([out], [], [], 0)[0]:
        return ""
    return os.read(out.fileno(), 65536).decode(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_real_qcluster_books_a_webhook_on_postgresql(channel: Any, monkeypatch: Any) -> None:
    """A webhook is booked by a real cluster's worker, which runs with the worker's garbage
    collector."""
    from django_q.conf import Conf
    from django_q.tasks import async_task, result

    monkeypatch.setattr(Conf, "SYNC", False)  # this process only enqueues; the cluster does the work
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        "Q_WORKERS": "1",
        "Q_SAVE_LIMIT": "100",  # keep successful tasks' results: the test reads two
    }
    env.pop("REDIS_URL", None)
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = json.dumps(sale_event("S-Q1")).encode()
        response = Client().post(
            "/hooks/till/", data=body, content_type="application/json", **signed_headers(body)
        )
        assert response.status_code == 202
        deadline = time.time() + 90
        while time.time() < deadline:
            if Posting.objects.filter(state=PostingState.POSTED).exists():
                break
            time.sleep(0.5)
        assert Posting.objects.get().state == PostingState.POSTED
        assert BookEntry.objects.count() == 1
        # The worker set its garbage collector as it started (integrator.services.collector).
        threshold = result(async_task("gc.get_threshold"), wait=30_000)
        frozen = result(async_task("gc.get_freeze_count"), wait=30_000)
        assert threshold is not None and threshold[0] == settings.WORKER_GC_THRESHOLD, cluster_output(cluster)
        assert frozen > 10_000  # what the worker had loaded when it started, set aside
    finally:
        cluster.send_signal(signal.SIGINT)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()


@pytest.mark.slow
def test_make_run_brings_up_the_demo_and_stops_cleanly(tmp_path: Path) -> None:
    """What `make run` does after installing: migrate, demo, serve (web + worker), Ctrl-C."""
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update({"INTEGRATOR_VAR_DIR": str(tmp_path), "Q_WORKERS": "1"})
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    demo = subprocess.run(
        [*manage, "demo"], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True, text=True
    )
    assert "manager" in demo.stdout and "Demo ready" in demo.stdout
    serve = subprocess.Popen(
        [*manage, "serve", "--addr", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        posted = 0
        while time.time() < deadline:
            try:
                ok = requests.get(f"http://127.0.0.1:{port}/login/", timeout=2).status_code == 200
            except requests.ConnectionError:
                ok = False
            if ok:
                with sqlite3.connect(tmp_path / "integrator.sqlite3", timeout=10) as db:
                    posted = db.execute(
                        "select count(*) from integrator_posting where state='posted'"
                    ).fetchone()[0]
                if posted >= 40:
                    break
            time.sleep(1)
        assert posted >= 40, "the worker did not book the demo's sales"
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        out, _ = serve.communicate(timeout=60)
    assert "running at http://127.0.0.1" in out
    assert "Stopped the web server and the worker." in out
