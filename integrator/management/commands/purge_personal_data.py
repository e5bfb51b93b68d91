"""``manage.py purge_personal_data``: pseudonymise customers in records past PERSONAL_DATA_RETENTION_DAYS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from integrator.security.personal_data import pseudonymise_before


class Command(BaseCommand):
    """Customer names and e-mails become pseudonyms; phones, addresses and IPs are removed."""

    help = (
        "Pseudonymise personal data (customer name and e-mail in transactions; names, e-mails, phones, "
        "addresses and IPs in raw payloads and the integration log) older than "
        f"PERSONAL_DATA_RETENTION_DAYS (now {settings.PERSONAL_DATA_RETENTION_DAYS} days). Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Options."""
        parser.add_argument("--days", type=int, help="Use this many days instead of the setting.")
        parser.add_argument("--dry-run", action="store_true", help="Only count.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Pseudonymise and report per table."""
        days = options["days"] if options["days"] is not None else settings.PERSONAL_DATA_RETENTION_DAYS
        if days < 0:
            raise CommandError("--days cannot be negative")
        result = pseudonymise_before(timezone.now() - timedelta(days=days), dry_run=options["dry_run"])
        verb = "would change" if result.dry_run else "changed"
        for label, count in result.changed.items():
            self.stdout.write(f"{label}: {verb} {count} rows older than {result.cutoff:%Y-%m-%d}")
