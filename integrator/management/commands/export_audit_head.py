"""``manage.py export_audit_head``: print (or save) the audit chain's head, or check a saved one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.security.audit_head import HeadMismatch, chain_head, check_head, keep_last_head


class Command(BaseCommand):
    """Export the head for safekeeping outside the database; ``--check FILE`` verifies against it."""

    help = (
        "Print the audit chain's head (last row id and hash) as JSON, or write it to --output. "
        "Keep it outside the database; later, --check FILE proves no rows were removed up to it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Options."""
        parser.add_argument("--output", help="Write the head to this file instead of standard output.")
        parser.add_argument("--check", metavar="FILE", help="Verify the trail against a saved head.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Export or check."""
        if options["check"]:
            try:
                saved = json.loads(Path(options["check"]).read_text())
                rows = check_head(saved)
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"cannot read the saved head: {exc}") from exc
            except HeadMismatch as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(self.style.SUCCESS(f"saved head found: {rows} rows intact up to it"))
            return
        text = json.dumps(chain_head(), indent=2, sort_keys=True)
        keep_last_head(text)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n")
            self.stdout.write(self.style.SUCCESS(f"head written to {options['output']}"))
        else:
            self.stdout.write(text)
