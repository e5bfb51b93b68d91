"""``manage.py import_statement FILE --account ACCOUNT``: import a bank statement from a path.

For operators: no size cap (the screens and the API refuse files over
``STATEMENT_UPLOAD_MAX_BYTES``), the file streamed from disk, a progress line per batch of lines
and the throughput at the end. Importing the same file again imports nothing.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reconciliation.choices import StatementFormat
from reconciliation.importers import StatementRejected
from reconciliation.models import BankAccount
from reconciliation.services.statements import ImportProgress, describe_size, import_statement


def _account(ref: str) -> BankAccount:
    """A bank account by id, else by its (unique) name."""
    try:
        return BankAccount.objects.get(pk=uuid.UUID(ref))
    except (ValueError, BankAccount.DoesNotExist):
        pass
    matches = list(BankAccount.objects.filter(name=ref)[:2])
    if len(matches) != 1:
        known = ", ".join(f"{a.name} ({a.pk})" for a in BankAccount.objects.all()[:20]) or "none"
        what = "several bank accounts are" if matches else "no bank account is"
        raise CommandError(f"{what} called {ref!r}: give the account's id (known: {known})")
    return matches[0]


class Command(BaseCommand):
    """Import one statement file (CSV, OFX or CAMT.053) into a bank account, streaming."""

    help = (
        "Import a bank statement file (CSV, OFX or CAMT.053) into a bank account, with no size "
        "limit: the file is read in pieces, lines are stored in batches, progress is printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The file, the account, optionally the format."""
        parser.add_argument("path", help="the statement file")
        parser.add_argument("--account", required=True, help="the bank account's id or name")
        parser.add_argument(
            "--format", choices=list(StatementFormat.values), help="default: detected from the file"
        )
        parser.add_argument("--quiet", action="store_true", help="print only the summary")

    def handle(self, *args: Any, **options: Any) -> None:
        """Import and print a progress line per batch, then the summary."""
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        account = _account(options["account"])

        def progress(state: ImportProgress) -> None:
            if not options["quiet"]:
                self.stdout.write(f"  {state.text} ({state.seconds:.0f} s)")

        with path.open("rb") as stream:
            try:
                result = import_statement(
                    account,
                    stream,
                    filename=path.name,
                    fmt=options["format"],
                    max_bytes=None,
                    progress=progress,
                )
            except StatementRejected as exc:
                raise CommandError(f"refused: {exc.describe(10)}") from exc
        if result.duplicate_of is not None:
            self.stdout.write(
                f"{path.name} was already imported on {result.duplicate_of.created_at:%Y-%m-%d %H:%M} "
                f"(statement {result.duplicate_of.pk}): nothing imported."
            )
            return
        assert result.statement is not None
        self.stdout.write(
            self.style.SUCCESS(
                f"statement {result.statement.pk}: {result.line_count:,} lines read from "
                f"{describe_size(result.size)} ({result.format}), {result.new_count:,} imported, "
                f"{result.duplicate_count:,} already known, {result.error_count:,} errors; "
                f"{result.seconds:.1f} s, {result.lines_per_second:,.0f} lines/s"
            )
        )
