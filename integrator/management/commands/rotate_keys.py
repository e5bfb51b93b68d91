"""``manage.py rotate_keys``: re-encrypt every stored secret under the first FIELD_ENCRYPTION_KEYS key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.security.keys import key_usage, rotate_all


class Command(BaseCommand):
    """Rotate, or check that nothing still needs an old key."""

    help = (
        "Re-encrypt every encrypted field (credentials, OAuth tokens, webhook secrets) under the first "
        "key of FIELD_ENCRYPTION_KEYS. With --check, report values the first key cannot read (must be 0 "
        "before an old key is removed from the list)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Options."""
        parser.add_argument("--check", action="store_true", help="Only report; change nothing.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be re-encrypted.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Rotate or check, one line per encrypted column."""
        if options["check"]:
            reports = key_usage()
            for r in reports:
                self.stdout.write(
                    f"{r.model}.{r.field}: {r.rows} values, {r.not_primary} need an old key, "
                    f"{r.unreadable} unreadable"
                )
            if any(r.not_primary or r.unreadable for r in reports):
                raise CommandError("some values are not under the first key: run rotate_keys first")
            self.stdout.write(self.style.SUCCESS("every value is under the first key: old keys can go"))
            return
        reports = rotate_all(dry_run=options["dry_run"])
        for r in reports:
            verb = "would re-encrypt" if options["dry_run"] else "re-encrypted"
            self.stdout.write(f"{r.model}.{r.field}: {verb} {r.rotated} of {r.rows}")
        unreadable = sum(r.unreadable for r in reports)
        if unreadable:
            raise CommandError(f"{unreadable} values could not be decrypted with any configured key")
        self.stdout.write(self.style.SUCCESS("done"))
