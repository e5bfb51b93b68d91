"""The application as ``make run`` starts it, for tests that must see what a user sees.

``make run`` migrates an embedded SQLite *file* database under ``var/``, (optionally) loads the demo
and runs ``manage.py serve``: the development web server and a django-q2 worker (``qcluster``) on
the ORM broker, as two processes sharing that file. The test-suite defaults differ on exactly the
points that hid defects (an in-memory database whose connection never closes, tasks run inline), so
tests of those paths start the real thing with :class:`MakeRunApp`:

* its own ``INTEGRATOR_VAR_DIR`` (a temporary directory): a fresh file database, locks, logs;
* no ``DATABASE_URL`` or ``REDIS_URL``: SQLite file + ORM broker, as on a fresh clone;
* ``manage.py serve`` in its own process group, stopped with Ctrl-C (SIGINT) like a person would.

Assertions read the database file directly (read-only) with :meth:`MakeRunApp.query`; the test
process never writes to it, so nothing the test does can mask what the application does.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
#: Bounds hangs only: migrate takes about 5 s and the demo about 6 s on the shared 2-core machine.
COMMAND_TIMEOUT = 300
START_TIMEOUT = 120

__all__ = ["MakeRunApp", "Session", "free_port", "totp_now", "wait_for"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.3) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``
    seconds (a bound on hangs, never the condition under test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def totp_now(secret_b32: str) -> str:
    """The code an authenticator app shows for a base-32 key (what the person types)."""
    from base64 import b32decode

    from django_otp.oath import totp

    key = b32decode(secret_b32.strip().replace(" ", ""))
    return str(totp(key, step=30, t0=0, digits=6)).zfill(6)


class MakeRunApp:
    """``make run`` in a temporary directory: migrate, optionally the demo, then ``serve``."""

    def __init__(self, var_dir: Path, *, demo: bool = False, extra_env: dict[str, str] | None = None) -> None:
        self.var_dir = var_dir
        self.demo = demo
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "Q_REAL_CLUSTER")
        }
        self.env.update({"INTEGRATOR_VAR_DIR": str(var_dir), "Q_WORKERS": "1", "DJANGO_DEBUG": "1",
                         "PYTHONUNBUFFERED": "1", **(extra_env or {})})  # fmt: skip
        self.log_path = var_dir / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def database(self) -> Path:
        """The SQLite file both processes use."""
        return self.var_dir / "integrator.sqlite3"

    def manage(self, *args: str) -> str:
        """Run a management command against the app's database; its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
            timeout=COMMAND_TIMEOUT, capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout

    def start(self) -> MakeRunApp:
        """What ``make run`` does after installing."""
        self.manage("migrate", "--noinput", "-v0")
        if self.demo:
            self.manage("demo")
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--addr", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"make run stopped early:\n{self.output()}")
            try:
                return requests.get(f"{self.url}/login/", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(up, timeout=START_TIMEOUT, what="the web server of make run")
        return self

    def output(self) -> str:
        """What the web server and the worker printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def server_errors(self) -> list[str]:
        """Tracebacks the processes printed (a 500 leaves one in the development server's log)."""
        return re.findall(r"Traceback \(most recent call last\):.*?(?=\n\S|\Z)", self.output(), re.S)

    def stop(self) -> None:
        """Ctrl-C, as a person stops ``make run``."""
        if self.process is None or self.process.poll() is not None:
            self._close_log()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the app's database file."""
        uri = f"file:{self.database}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=20)) as db:
            return list(db.execute(sql, params).fetchall())

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The first column of the first row."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def session(self) -> Session:
        """A logged-out HTTP session against the app (cookies, CSRF)."""
        return Session(self.url)


class Session(requests.Session):
    """A browser-like HTTP session: CSRF cookie and header, Referer, same-origin."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def absolute(self, path: str) -> str:
        """``path`` on the app."""
        return path if path.startswith("http") else self.base + path

    def page(self, path: str) -> requests.Response:
        """GET a page."""
        return self.get(self.absolute(path), timeout=30)

    def send_form(self, path: str, data: dict[str, Any], **kw: Any) -> requests.Response:
        """POST a form as the browser would (CSRF token from the cookie, Referer on this site)."""
        if "csrftoken" not in self.cookies:
            self.page(path if not path.startswith("/api/") else "/login/")
        headers = {"X-CSRFToken": self.cookies.get("csrftoken", ""), "Referer": self.absolute(path)}
        return self.post(self.absolute(path), data=data, headers=headers, timeout=60, **kw)

    def send_json(self, path: str, body: dict[str, Any], method: str = "POST") -> requests.Response:
        """A JSON API call with the session's CSRF token."""
        if "csrftoken" not in self.cookies:
            self.page("/login/")
        headers = {"X-CSRFToken": self.cookies.get("csrftoken", ""), "Referer": self.absolute(path)}
        return self.request(method, self.absolute(path), json=body, headers=headers, timeout=60)

    def login(self, username: str, password: str) -> Session:
        """Log in through the login form."""
        self.page("/login/")
        response = self.send_form("/login/", {"username": username, "password": password})
        assert "/login/" not in response.url, f"login of {username} failed"
        return self

    def enrol_authenticator(self) -> str:
        """Set up an authenticator as the enrolment page asks (read the key shown for people who
        cannot scan, type the current code); returns the key."""
        page = self.page("/security/mfa/enrol/").text
        secret = re.search(r"<code>([A-Z2-7]+)</code>", page)
        assert secret, "the enrolment page shows the key"
        response = self.send_form("/security/mfa/enrol/", {"code": totp_now(secret.group(1)), "next": "/"})
        assert response.status_code == 200 and "backup" in response.text.lower(), response.text[:500]
        return secret.group(1)


@contextlib.contextmanager
def running_app(var_dir: Path, *, demo: bool = False) -> Iterator[MakeRunApp]:
    """Start ``make run`` in ``var_dir`` and stop it afterwards."""
    app = MakeRunApp(var_dir, demo=demo)
    try:
        yield app.start()
    finally:
        app.stop()
