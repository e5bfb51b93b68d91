"""``manage.py purge_integration_log``: delete integration-log rows past their retention period."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.security.retention import purge_integration_log


class Command(BaseCommand):
    """Retention: INTEGRATION_LOG_RETENTION_DAYS (default 7 years); --days may only lengthen it."""

    help = (
        "Delete outbound vendor call records older than INTEGRATION_LOG_RETENTION_DAYS "
        f"(now {settings.INTEGRATION_LOG_RETENTION_DAYS} days). Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Options."""
        parser.add_argument("--days", type=int, help="Keep this many days (not fewer than the setting).")
        parser.add_argument("--dry-run", action="store_true", help="Only count.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Purge and report."""
        try:
            result = purge_integration_log(days=options["days"], dry_run=options["dry_run"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "would delete" if result.dry_run else "deleted"
        self.stdout.write(f"{verb} {result.deleted} integration log rows older than {result.cutoff:%Y-%m-%d}")
