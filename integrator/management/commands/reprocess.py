"""``manage.py reprocess``: re-process quarantined or failed inbox events after a fix.

Examples::

    manage.py reprocess --id 3f1c...              # one event
    manage.py reprocess --status quarantined --channel web-shop --since 2026-11-01
    manage.py reprocess --status failed --dry-run # how many would be re-processed

Each event is claimed, processed through the ordinary spine and audited (actor
"manage.py reprocess"); an event booked already is never booked twice.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from integrator.models import InboundEvent
from integrator.services.recovery import REPROCESSABLE, reprocess_events

ACTOR = "manage.py reprocess"


class Command(BaseCommand):
    """Select events by id, status, channel and date; re-process them with a progress line."""

    help = "Re-process quarantined or failed inbox events (after a mapping, rate or connector fix)."

    def add_arguments(self, parser: CommandParser) -> None:
        """--id (repeatable), --status, --channel, --event-type, --since, --until, --dry-run."""
        parser.add_argument("--id", action="append", default=[], help="An event id (repeat for several).")
        parser.add_argument("--status", choices=[str(s) for s in REPROCESSABLE], action="append", default=[],
                            help="quarantined or failed (default: both).")  # fmt: skip
        parser.add_argument("--channel", help="Channel slug.")
        parser.add_argument("--event-type", help="Only events of this type (e.g. refunds/create).")
        parser.add_argument("--since", help="Received on or after this day (YYYY-MM-DD).")
        parser.add_argument("--until", help="Received on or before this day (YYYY-MM-DD).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Only say how many events would be re-processed."
        )

    @staticmethod
    def _day(raw: str, end: bool) -> datetime:
        try:
            day = datetime.fromisoformat(raw).date()
        except ValueError as exc:
            raise CommandError(f"{raw!r} is not a date (YYYY-MM-DD)") from exc
        return timezone.make_aware(datetime.combine(day, time.max if end else time.min))

    def handle(self, *args: Any, **options: Any) -> None:
        """Select, then re-process (or count)."""
        events = InboundEvent.objects.filter(status__in=options["status"] or list(REPROCESSABLE))
        if options["id"]:
            events = events.filter(pk__in=options["id"])
        if options["channel"]:
            events = events.filter(channel__slug=options["channel"])
        if options["event_type"]:
            events = events.filter(event_type=options["event_type"])
        if options["since"]:
            events = events.filter(received_at__gte=self._day(options["since"], end=False))
        if options["until"]:
            events = events.filter(received_at__lte=self._day(options["until"], end=True))
        count = events.count()
        if options["dry_run"]:
            self.stdout.write(f"{count} event{'s' if count != 1 else ''} would be re-processed.")
            return

        def progress(done: int, total: int, text: str) -> None:
            self.stdout.write(f"\r  {done}/{total} {text}"[:160], ending="")
            self.stdout.flush()

        summary = reprocess_events(events, actor_label=ACTOR, progress=progress)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Re-processed {count} events: {summary.text}."))
        for outcome in summary.outcomes:
            if not outcome.recovered and not outcome.skipped:
                self.stdout.write(f"  {outcome.event_id}: still {outcome.after}: {outcome.error[:200]}")
