"""``manage.py close_day``: daily batch closure for daily-summary channels."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.models import Channel
from integrator.services.closing import close_day, close_past_days


class Command(BaseCommand):
    """Summarise a channel-day into one entry per currency and post it."""

    help = "Close a day for a daily-summary channel (or, with no arguments, every past open day)."

    def add_arguments(self, parser: CommandParser) -> None:
        """Channel slug and day (YYYY-MM-DD), both optional together."""
        parser.add_argument("channel", nargs="?", help="Channel slug")
        parser.add_argument("day", nargs="?", help="Day to close, YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        """Close and report the summaries made."""
        if not options["channel"]:
            self.stdout.write(f"closed {close_past_days()} summaries")
            return
        channel = Channel.objects.filter(slug=options["channel"]).first()
        if channel is None:
            raise CommandError(f"no channel {options['channel']!r}")
        if not options["day"]:
            raise CommandError("give the day to close as YYYY-MM-DD")
        try:
            made = close_day(channel, date.fromisoformat(options["day"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for entry in made:
            self.stdout.write(f"{entry.reference}: {entry.lines.count()} lines")
        if not made:
            self.stdout.write("nothing left to summarise for that day")
