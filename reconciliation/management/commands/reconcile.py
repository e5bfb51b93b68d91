"""``manage.py reconcile --day YYYY-MM-DD`` (or ``--start``/``--end``): run the daily checks now."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from reconciliation.choices import ExceptionStatus, RunStatus
from reconciliation.models import ReconciliationException, ReconciliationRun
from reconciliation.services.runs import run_reconciliation


def _date(raw: str, option: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"{option} {raw!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    """Reconcile sales systems, ledger and bank for a day or a period, printing progress."""

    help = (
        "Reconcile a day (default: yesterday) or a period: unposted transactions, sales system vs "
        "ledger totals per channel-day, ledger read-back, payouts vs bank deposits, unpaid invoices."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """--day, or --start and --end."""
        parser.add_argument("--day", help="YYYY-MM-DD (default: yesterday)")
        parser.add_argument("--start", help="first day of a period (YYYY-MM-DD)")
        parser.add_argument("--end", help="last day of a period (YYYY-MM-DD)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the checks and print each step, then a summary and the open exceptions."""
        day: date | None
        start: date | None
        end: date | None
        if options["start"] or options["end"]:
            if options["day"] or not (options["start"] and options["end"]):
                raise CommandError("give --day, or both --start and --end")
            day, start, end = None, _date(options["start"], "--start"), _date(options["end"], "--end")
        else:
            day = (
                _date(options["day"], "--day")
                if options["day"]
                else timezone.now().date() - timedelta(days=1)
            )
            start = end = None

        def report(run: ReconciliationRun, message: str) -> None:
            if run.status == RunStatus.RUNNING:  # the summary below says how it ended
                self.stdout.write(f"  [{run.done}/{run.total}] {message}")

        try:
            run = run_reconciliation(day, start=start, end=end, report=report)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Reconciliation of {run.label}: {run.message}"))
        open_rows = ReconciliationException.objects.filter(
            last_run=run, status=ExceptionStatus.OPEN
        ).order_by("kind", "day")
        for row in open_rows[:50]:
            self.stdout.write(f"  - [{row.kind}] {row.explanation}")
        if run.exceptions_open > 50:
            self.stdout.write(f"  ... and {run.exceptions_open - 50} more on the exceptions screen")
