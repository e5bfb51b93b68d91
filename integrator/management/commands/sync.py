"""``manage.py sync <channel-slug> --since DATE``: back-fill from the vendor's API."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from integrator.models import Channel, Job
from integrator.services.sync import sync_channel


class Command(BaseCommand):
    """Pull orders, refunds and payouts changed since a date, with a progress line."""

    help = "Back-fill a channel from its vendor's API (pagination and rate limits respected)."

    def add_arguments(self, parser: CommandParser) -> None:
        """Channel slug and --since (YYYY-MM-DD or ISO datetime)."""
        parser.add_argument("channel")
        parser.add_argument("--since", required=True, help="YYYY-MM-DD or an ISO date-time")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the back-fill and print progress."""
        channel = Channel.objects.filter(slug=options["channel"]).first()
        if channel is None:
            raise CommandError(f"no channel {options['channel']!r}")
        raw = options["since"]
        try:
            since = (
                datetime.fromisoformat(raw)
                if "T" in raw
                else datetime.combine(datetime.fromisoformat(raw).date(), time.min)
            )
        except ValueError as exc:
            raise CommandError(f"--since {raw!r} is not a date") from exc
        if timezone.is_naive(since):
            since = timezone.make_aware(since, timezone.get_current_timezone())

        def report(job: Job) -> None:
            total = f"/{job.total}" if job.total else ""
            pct = f" {job.percent}%" if job.percent is not None else ""
            self.stdout.write(f"\r  {job.done}{total}{pct} {job.message}"[:160], ending="")
            self.stdout.flush()

        try:
            job = sync_channel(channel, since, report=report)
        except NotImplementedError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"{channel.name}: {job.message}"))
