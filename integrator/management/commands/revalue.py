"""``manage.py revalue --date D``: revalue open foreign-currency balances at a period end."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.models import LedgerConnection
from integrator.services.revaluation import month_ends_due, revalue_connection


class Command(BaseCommand):
    """Restate receivables, clearing and other monetary foreign balances at the period-end rate,
    with an automatic reversal the next day (idempotent: a second run for the day makes nothing)."""

    help = (
        "Revalue open foreign-currency balances (receivables, clearing, bank, amounts owed) of every ledger "
        "connection (or one) at a period end, booking the unrealised exchange difference and its reversal "
        "the next day. Without --date, the last month end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """--date and --connection."""
        parser.add_argument("--date", help="Period end (YYYY-MM-DD); default: the last month end.")
        parser.add_argument("--connection", help="A ledger connection id or name (default: all).")

    def handle(self, *args: Any, **options: Any) -> None:
        """Revalue and report per channel."""
        try:
            as_of = date.fromisoformat(options["date"]) if options["date"] else month_ends_due(date.today())
        except ValueError as exc:
            raise CommandError(f"--date: {exc}") from exc
        connections = LedgerConnection.objects.filter(active=True)
        if options["connection"]:
            wanted = options["connection"]
            connections = (
                connections.filter(pk=wanted) if len(wanted) == 36 else connections.filter(name=wanted)
            )
            if not connections.exists():
                raise CommandError(f"no active ledger connection {wanted!r}")
        failed = False
        for connection in connections:
            for result in revalue_connection(connection, as_of):
                if result.missing_rates:
                    failed = True
                    self.stderr.write(
                        f"{connection.name} / {result.channel}: {'; '.join(result.missing_rates)}"
                    )
                elif result.entry is not None:
                    difference = sum((r - b for _, _, _, b, r in result.lines), start=0)
                    self.stdout.write(
                        f"{connection.name} / {result.channel}: {result.entry.reference} "
                        f"({len(result.lines)} balances, difference {difference} {connection.functional_currency}), "
                        f"reversed on {result.reversal.date if result.reversal else '-'}"
                    )
                else:
                    self.stdout.write(f"{connection.name} / {result.channel}: nothing to revalue at {as_of}")
        if failed:
            raise CommandError(
                "some balances have no period-end rate: import the reference rates or enter one"
            )
