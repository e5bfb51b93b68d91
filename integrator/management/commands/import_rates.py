"""``manage.py import_rates FILE``: import the ECB's euro reference rates (XML or CSV)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.services.rates import fetch_reference_rates, import_reference_rates


class Command(BaseCommand):
    """Import reference rates from a file (or fetch them from REFERENCE_RATES_URL); idempotent,
    audited; transactions waiting for a rate are booked once one covers their day."""

    help = (
        "Import the ECB's euro reference rates from FILE (eurofxref-daily.xml, eurofxref-hist.xml, "
        "eurofxref.csv or eurofxref-hist.csv), or with --fetch from the configured REFERENCE_RATES_URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """FILE or --fetch."""
        parser.add_argument("file", nargs="?", help="The ECB file to import.")
        parser.add_argument("--fetch", action="store_true", help="Fetch from REFERENCE_RATES_URL instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Import and report."""
        if options["fetch"]:
            result = fetch_reference_rates()
            if result is None:
                raise CommandError("REFERENCE_RATES_URL is not set: give a file instead")
        else:
            if not options["file"]:
                raise CommandError("give the ECB file to import, or --fetch")
            path = Path(options["file"])
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            try:
                result = import_reference_rates(path.read_bytes(), provider="ECB")
            except ValueError as exc:
                raise CommandError(f"{path}: {exc}; nothing was imported") from exc
        self.stdout.write(
            f"{result['rates']} rates for {result['days']} days: {result['new']} new, {result['unchanged']} already held"
        )
