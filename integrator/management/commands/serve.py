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

    def handle(self, *args: Any, **options: Any) -> None:
        """Start both, print where to go, wait, stop both."""
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
        self.stdout.write("Log in as one of (demo data):")
        for username, (password, _role, name) in DEMO_USERS.items():
            self.stdout.write(f"  {username:8} / {password:18} {name}")
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
