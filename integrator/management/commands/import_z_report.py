"""``manage.py import_z_report <channel-slug> <file> [--preview]``: import a till's Z report file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.models import Channel
from integrator.services import z_reports as svc


class Command(BaseCommand):
    """Preview or import a Z report CSV / XLSX with the till's saved column mapping (audited)."""

    help = (
        "Import a Prysm till's end-of-day Z report (CSV or XLSX) with the till's column mapping. A file "
        "with any bad row imports nothing; a report already imported is never booked twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Channel slug, file, --preview, --format, --user, --json."""
        parser.add_argument("channel", help="the till's channel slug")
        parser.add_argument("file", help="path of the CSV or XLSX file")
        parser.add_argument(
            "--preview", action="store_true", help="say what would be imported; import nothing"
        )
        parser.add_argument("--format", choices=["csv", "xlsx"], help="when the file name does not say it")
        parser.add_argument("--user", help="act as this user (their permissions apply; the audit names them)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the preview or import and print what happened, row problems included."""
        channel = Channel.objects.filter(slug=options["channel"]).first()
        if channel is None:
            raise CommandError(f"no channel {options['channel']!r}")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no file {path}")
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"no user {options['user']!r}")
        content = path.read_bytes()
        try:
            if options["preview"]:
                result = svc.preview_z_report(
                    channel, content, filename=path.name, fmt=options["format"], actor=actor
                )
            else:
                result = svc.import_z_report(
                    channel, content, filename=path.name, fmt=options["format"], actor=actor,
                    actor_label="" if actor else "manage.py import_z_report",
                )  # fmt: skip
        except (svc.ZReportRejected, PermissionDenied) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), indent=2))
        else:
            self._print(result)
        if not result.ok:
            raise CommandError(f"{len(result.errors)} problem(s): nothing was imported")

    def _print(self, result: svc.ZReportImport) -> None:
        for line in result.reports:
            tenders = ", ".join(f"{m} {v}" for m, v in line.tenders.items())
            self.stdout.write(
                f"  report {line.number} of {line.day} {line.register}: sales {line.sales} {line.currency}, "
                f"tenders {tenders or '-'} [{line.status}]"
            )
        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(warning))
        for error in result.errors:
            where = f"row {error.row} (line {error.line})" if error.row else "file"
            self.stdout.write(self.style.ERROR(f"  {where}: {'; '.join(error.messages)}"))
        if result.ok:
            verb = "imported" if result.imported else "would import"
            self.stdout.write(
                self.style.SUCCESS(f"{verb} {result.new} report(s); {result.already} already imported")
            )
