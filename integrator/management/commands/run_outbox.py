"""``manage.py run_outbox``: recover stale postings and send every due posting once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from integrator.tasks import worker_name


class Command(BaseCommand):
    """What the worker's sweep does, on demand."""

    help = "Process received inbox rows, recover postings left 'sending' by a dead worker, send due postings."

    def add_arguments(self, parser: CommandParser) -> None:
        """--limit caps the postings sent in this run."""
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run one sweep and report."""
        events = process_received_events()
        sent = run_outbox(limit=options["limit"], worker=worker_name())
        self.stdout.write(f"processed {events} events, sent or resolved {sent} postings")
