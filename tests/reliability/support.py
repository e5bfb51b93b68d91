"""Helpers shared by the reliability recipes (RELIABILITY.md): real processes, real HTTP, loopback only.

* :class:`Proc` runs a ``manage.py`` command from the venv in its own session (so ``kill -9``
  reaches the whole process) with its output in a file (a full pipe must never stall it).
* :func:`subprocess_env` points a subprocess at the database the test is using.
* :func:`sale_body` / :func:`signed_headers_for` build generic signed webhooks as a till sends them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.db import connection

from connectors.sources.generic import sign
from tests.conftest import SECRET, sale_event

ROOT = Path(settings.BASE_DIR)
MANAGE = [sys.executable, "manage.py"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url() -> str:
    """The URL of the database this test runs against (the test database, not the dev one)."""
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess working on the test database (no Redis unless given)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PYTEST_CURRENT_TEST")}
    env.update({"DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class Proc:
    """One subprocess in its own session, output captured to a temporary file."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.log = tempfile.NamedTemporaryFile(prefix="reliability-", suffix=".log", delete=False)  # noqa: SIM115
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL the process and everything it started; wait for it."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Ask the process to stop; kill it if it does not."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout=timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill9()

    def output(self, tail: int = 4000) -> str:
        """The last characters of what the process wrote."""
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-tail:]

    def close(self) -> None:
        """Stop the process and remove its log."""
        self.kill9()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def http_ready(url: str) -> Callable[[], bool]:
    """A check that ``url`` answers at all (any status)."""

    def check() -> bool:
        try:
            requests.get(url, timeout=1)
        except requests.RequestException:
            return False
        return True

    return check


def sale_body(sale_id: str, *, total: str = "144.00", **kw: Any) -> bytes:
    """The raw body of a generic ``sale.completed`` event (conftest's default sale of 144.00)."""
    return json.dumps(sale_event(sale_id, total=total, **kw)).encode()


def signed_headers_for(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """HTTP headers of a generic signed webhook, as a till sends them over the wire."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Integrator-Timestamp": ts,
        "X-Integrator-Signature": sign(secret, ts, body),
    }
