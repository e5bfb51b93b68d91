"""Reconciliation runs: start one (screens, API), execute it step by step with progress (worker,
command), idempotently.

A run covers a day or a period. Each check runs in its own transaction under the reconciliation
lock, then the run row's ``done``/``total`` move on, so a screen polling the row sees progress
and two runs never interleave their writes. Re-running the same day changes nothing that has not
changed: matches are made once (UNIQUE on both sides), exceptions are keyed (see ``findings``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrator.services import audit
from integrator.services.inventory.valuation import check_stock
from integrator.services.tax_engine.checks import check_tax
from reconciliation.choices import ExceptionStatus, RunKind, RunStatus
from reconciliation.models import ReconciliationException, ReconciliationRun
from reconciliation.services.checks import (
    check_channel_days,
    check_external_readback,
    check_invoices,
    check_unposted,
    reread_external_documents,
    unsettled_snapshot,
)
from reconciliation.services.clearing import LOOKBACK_DAYS, reconcile_payouts_and_clearing
from reconciliation.services.findings import CheckOutcome, apply_findings, serialise_reconciliation
from reconciliation.services.readback import check_ledger_readback

__all__ = ["STEPS", "create_run", "execute_run", "run_reconciliation", "start_run"]

log = logging.getLogger(__name__)

Report = Callable[[ReconciliationRun, str], None]
Step = Callable[[date, date, ReconciliationRun], CheckOutcome]


def _check(check: Callable[[date, date], CheckOutcome]) -> Step:
    """A read-only check as a run step (only the payouts step writes matches with the run)."""
    return lambda start, end, run: check(start, end)


EXTERNAL_READBACK = "Ledger read-back (QuickBooks, Xero and other external ledgers)"
#: Work a step needs done outside the run's database transaction first (vendor calls).
PREPARE: dict[str, Callable[[date, date], Any]] = {EXTERNAL_READBACK: reread_external_documents}

STEPS: list[tuple[str, Step]] = [
    ("Sales system vs ledger: unposted transactions", _check(check_unposted)),
    ("Sales system vs ledger: totals per channel-day", _check(check_channel_days)),
    ("Ledger read-back (built-in ledger)", _check(check_ledger_readback)),
    (EXTERNAL_READBACK, _check(check_external_readback)),
    # Also pairs cash and mobile-money takings with bank and wallet statement lines (clearing.py).
    ("Payouts vs bank deposits", reconcile_payouts_and_clearing),
    ("Invoices vs payments", _check(check_invoices)),
    ("Tax charged vs tax rules", _check(check_tax)),
    ("Stock value vs inventory account", _check(check_stock)),
]


def _period(day: date | None, start: date | None, end: date | None) -> tuple[date, date]:
    """The (start, end) of a day or a period, checked."""
    if day is not None:
        if start is not None or end is not None:
            raise ValueError("give a day or a period, not both")
        return day, day
    if start is None or end is None:
        raise ValueError("give a day, or both the start and the end of a period")
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    return start, end


def create_run(
    day: date | None = None, *, start: date | None = None, end: date | None = None, actor: Any = None
) -> ReconciliationRun:
    """Create a queued run row for a day or a period (audited)."""
    first, last = _period(day, start, end)
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            kind=RunKind.DAILY if first == last else RunKind.PERIOD,
            start=first,
            end=last,
            total=len(STEPS),
            message="Queued",
            started_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit.record("reconciliation.run_queued", obj=run, after={"start": first, "end": last}, actor=actor)
    return run


def start_run(
    day: date | None = None, *, start: date | None = None, end: date | None = None, actor: Any = None
) -> ReconciliationRun:
    """Queue a run for the worker (the screens and the API); it starts after this transaction commits."""
    with transaction.atomic():
        run = create_run(day, start=start, end=end, actor=actor)
        from integrator.tasks import enqueue

        transaction.on_commit(lambda: enqueue("reconciliation.tasks.execute_run", str(run.pk)))
    return run


def run_reconciliation(
    day: date | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    actor: Any = None,
    report: Report | None = None,
) -> ReconciliationRun:
    """Run every check now, in this process (the command; tests); returns the finished run."""
    run = create_run(day, start=start, end=end, actor=actor)
    return execute_run(run.pk, actor=actor, report=report)


def _progress(run: ReconciliationRun, report: Report | None, message: str, **fields: Any) -> None:
    fields["message"] = message[:1000]
    ReconciliationRun.objects.filter(pk=run.pk).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)
    if report is not None:
        report(run, message)


def execute_run(run_id: Any, *, actor: Any = None, report: Report | None = None) -> ReconciliationRun:
    """Execute a queued run: each check in its own transaction, progress after each (idempotent)."""
    run = ReconciliationRun.objects.select_related("started_by").get(pk=run_id)
    if run.status in (RunStatus.RUNNING, RunStatus.DONE):
        return run
    actor = actor if actor is not None else run.started_by
    _progress(
        run, report, "Starting", status=RunStatus.RUNNING, started_at=timezone.now(), done=0, total=len(STEPS)
    )
    totals = {"new": 0, "cleared": 0, "matches": 0, "checked": 0}
    summary: dict[str, Any] = {"checks": []}
    try:
        # Which posted transactions nothing posted, once for every check (the payouts step's cash
        # takings look back LOOKBACK_DAYS before the period).
        with unsettled_snapshot(run.start - timedelta(days=LOOKBACK_DAYS), run.end):
            for number, (title, step) in enumerate(STEPS, start=1):
                prepare = PREPARE.get(title)
                if prepare is not None:  # outside the transaction and the reconciliation lock
                    prepare(run.start, run.end)
                with transaction.atomic():
                    serialise_reconciliation()
                    outcome = step(run.start, run.end, run)
                    counts = apply_findings(run, outcome, actor=actor)
                matches = outcome.matches
                totals["new"] += counts["new"] + counts["reopened"]
                totals["cleared"] += counts["cleared"]
                totals["matches"] += matches
                if number == 1:  # the unposted-transactions check sees every transaction of the period
                    totals["checked"] = outcome.checked
                summary["checks"].append(
                    {"check": title, "checked": outcome.checked, "matches": matches, **counts}
                )
                summary.update(outcome.facts)
                words = f"{outcome.checked} checked, {counts['found']} exception(s), {counts['new']} new"
                if matches:
                    words += f", {matches} payout(s) matched"
                _progress(run, report, f"{title}: {words}", done=number)
    except Exception as exc:
        log.exception("reconciliation run %s failed", run.pk)
        _progress(
            run,
            report,
            f"Failed: {exc}",
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            summary=summary,
        )
        with transaction.atomic():
            audit.record("reconciliation.run_failed", obj=run, after={"error": str(exc)[:500]}, actor=actor)
        raise
    still_open = ReconciliationException.objects.filter(status=ExceptionStatus.OPEN, last_run=run).count()
    message = (
        f"Done: {totals['checked']} transactions checked, {totals['matches']} payouts matched, "
        f"{still_open} open exception(s) ({totals['new']} new, {totals['cleared']} cleared)."
    )
    with transaction.atomic():
        _progress(
            run,
            report,
            message,
            status=RunStatus.DONE,
            finished_at=timezone.now(),
            summary=summary,
            transactions_checked=totals["checked"],
            matches_made=totals["matches"],
            exceptions_new=totals["new"],
            exceptions_open=still_open,
            exceptions_cleared=totals["cleared"],
        )
        audit.record(
            "reconciliation.run_finished",
            obj=run,
            after={
                "start": run.start,
                "end": run.end,
                "checked": totals["checked"],
                "matched": totals["matches"],
                "open": still_open,
                "new": totals["new"],
                "cleared": totals["cleared"],
            },
            actor=actor,
        )
    return run
