"""``manage.py serve``: the web server and a django-q2 worker together, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrator.services.demo import DEMO_USERS


class Command(BaseCommand):
    """Run ``runserver`` and ``qcluster`` as child processes; Ctrl-C (or SIGTERM) stops both."""

    help = "Start the web server and a background worker on the configured database and broker."

    def add_arguments(self, parser: CommandParser) -> None:
        """--addr host:port to listen on."""
        parser.add_argument("--addr", default=os.environ.get("INTEGRATOR_ADDR", "127.0.0.1:8000"))

    def _say_how_to_log_in(self, addr: str) -> None:
        """The demo logins, or, on an empty installation, where to create the first administrator."""
        from django.contrib.auth import get_user_model

        from integrator.services.people import first_admin_code, first_run_needed

        if first_run_needed():
            self.stdout.write(
                f"Nobody can log in yet: open http://{addr}/welcome/ and create the first administrator"
            )
            self.stdout.write(f"with the setup code {first_admin_code()} (also in var/first-admin-code.txt).")
            return
        demo = [u for u in DEMO_USERS if get_user_model().objects.filter(username=u).exists()]
        if demo:
            self.stdout.write("Log in as one of (demo data):")
            for username in demo:
                password, _role, name = DEMO_USERS[username]
                self.stdout.write(f"  {username:8} / {password:18} {name}")

    def handle(self, *args: Any, **options: Any) -> None:
        """Start both, print where to go, wait, stop both."""
        from integrator.tasks import ensure_schedules

        ensure_schedules()
        manage = [sys.executable, "manage.py"]
        web = subprocess.Popen([*manage, "runserver", options["addr"], "--noreload"])  # noqa: S603
        worker = subprocess.Popen([*manage, "qcluster"])  # noqa: S603
        children = [web, worker]
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        time.sleep(1.5)
        self.stdout.write(self.style.SUCCESS(f"\nThe integrator is running at http://{options['addr']}/"))
        self._say_how_to_log_in(options["addr"])
        self.stdout.write("API docs: /api/docs/   Press Ctrl-C to stop the web server and the worker.\n")
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.3)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.time() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()
        self.stdout.write("Stopped the web server and the worker.")
