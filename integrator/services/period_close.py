"""Closing a month of a ledger connection: checks, the lock date, reopening. All audited.

The close screen shows, for one connection and month, whether the books are ready to close:

* **no dead letters** - no posting of the connection dead-lettered in the period;
* **nothing held** - no transaction of its channels waiting for a mapping or invalid, and no
  posting held for a closed period;
* **everything in the ledger** - no posting still pending or uncertain, no sale still waiting
  for its daily summary;
* **payouts matched** - every payout of its channels matched to its bank deposit;
* **reconciliation run clean** - every day with transactions covered by a finished
  reconciliation run, and no open reconciliation exception.

Each check is green or explained: a finance manager may close with a failing check only by
writing why (the explanation is kept with the close). Closing sets the connection's own lock date
(``LedgerConnection.lock_date``) to the month's last day: from then on a document dated inside
is held (or moved, as the connection's policy says) instead of posted. Only a finance manager
(``integrator.reopen_periodclose``) reopens, with a reason; the lock date then goes back to the
day before the month, which reopens every later month too.

The checks cover everything not yet closed up to the month's end (from the day after the
current lock date), since locking a month locks every day before it.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrator.choices import PeriodCloseStatus, PostingState, TransactionKind, TransactionStatus
from integrator.models import Channel, LedgerConnection, PeriodClose, Posting, Transaction
from integrator.services import audit
from integrator.services.posting import ledger_target_for

__all__ = [
    "CLOSE_PERMISSION",
    "REOPEN_PERMISSION",
    "CloseCheck",
    "CloseRefused",
    "PeriodStatus",
    "close_period",
    "month_bounds",
    "period_status",
    "read_ledger_lock_date",
    "reopen_period",
]

CLOSE_PERMISSION = "integrator.add_periodclose"
REOPEN_PERMISSION = "integrator.reopen_periodclose"
MIN_EXPLANATION = 10  # characters: "ok" is not an explanation


class CloseRefused(Exception):
    """The period cannot be closed or reopened as asked; ``errors`` says why, per check or field."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {})


@dataclass
class CloseCheck:
    """One check of the close screen: green, or failing with what was found and where to look."""

    key: str
    label: str
    ok: bool
    count: int = 0
    detail: str = ""
    url: str = ""
    explanation: str = ""


@dataclass
class PeriodStatus:
    """A month of a connection: its checks, its lock dates and its close record."""

    connection: LedgerConnection
    period_start: date
    period_end: date
    covers_from: date | None
    checks: list[CloseCheck] = field(default_factory=list)
    record: PeriodClose | None = None

    @property
    def closed(self) -> bool:
        """The month is inside our lock date."""
        lock = self.connection.lock_date
        return lock is not None and lock >= self.period_end

    @property
    def ended(self) -> bool:
        """The month is over (only an ended month can be closed)."""
        return self.period_end < timezone.localdate()

    @property
    def ready(self) -> bool:
        """Every check is green."""
        return all(c.ok for c in self.checks)

    @property
    def label(self) -> str:
        """``November 2026``."""
        return f"{calendar.month_name[self.period_start.month]} {self.period_start.year}"


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First and last day of a month."""
    if not 1 <= month <= 12 or not 1900 < year < 3000:
        raise CloseRefused("Choose a month between January and December.")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _in_range(field_name: str, start: date | None, end: date) -> Q:
    query = Q(**{f"{field_name}__lte": end})
    if start is not None:
        query &= Q(**{f"{field_name}__gte": start})
    return query


def _link(base: str, start: date | None, end: date, name: str) -> str:
    """A list screen filtered to the checked days (``?..._after=&..._before=``)."""
    after = f"&{name}_after={start.isoformat()}" if start else ""
    return f"{base}{after}&{name}_before={end.isoformat()}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def close_checks(conn: LedgerConnection, start: date | None, end: date) -> list[CloseCheck]:
    """The checks over ``start`` (None: from the beginning) to ``end`` (a fixed number of queries)."""
    from reconciliation.choices import ExceptionStatus, RunStatus
    from reconciliation.models import ReconciliationException, ReconciliationRun

    channels = Channel.objects.filter(ledger_connection=conn)
    postings = Posting.objects.filter(connection=conn).filter(_in_range("posting_date", start, end))
    txns = Transaction.objects.filter(channel__in=channels).filter(_in_range("business_date", start, end))
    pid = f"?connection_id={conn.pk}"

    dead = postings.filter(state=PostingState.DEAD).count()
    held_txns = txns.filter(
        status__in=[TransactionStatus.NEEDS_MAPPING, TransactionStatus.INVALID, TransactionStatus.RECEIVED]
    ).count()
    held_postings = postings.filter(state=PostingState.HELD).count()
    waiting_postings = postings.filter(
        state__in=[PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN]
    ).count()
    waiting_summary = txns.filter(status=TransactionStatus.SUMMARISED).count()
    payouts = txns.filter(kind=TransactionKind.PAYOUT)
    unmatched = payouts.filter(bank_match__isnull=True).count()
    open_exceptions = (
        ReconciliationException.objects.filter(status=ExceptionStatus.OPEN)
        .filter(Q(connection=conn) | Q(channel__in=channels))
        .filter(_in_range("day", start, end))
        .count()
    )
    days = set(txns.values_list("business_date", flat=True).distinct())
    runs = ReconciliationRun.objects.filter(status=RunStatus.DONE, start__lte=end)
    if start is not None:
        runs = runs.filter(end__gte=start)
    for run_start, run_end in runs.values_list("start", "end"):
        days = {d for d in days if not run_start <= d <= run_end}
    unreconciled = sorted(days)

    held_detail = ", ".join(
        part for part in (
            _plural(held_txns, "transaction") + " waiting for a mapping or invalid" if held_txns else "",
            _plural(held_postings, "posting") + " held for a closed period" if held_postings else "",
        ) if part
    )  # fmt: skip
    waiting_detail = ", ".join(
        part for part in (
            _plural(waiting_postings, "posting") + " not yet in the ledger" if waiting_postings else "",
            _plural(waiting_summary, "sale") + " waiting for the daily summary" if waiting_summary else "",
        ) if part
    )  # fmt: skip
    recon_parts = []
    if unreconciled:
        first, last = unreconciled[0], unreconciled[-1]
        span = f"{first:%d %b}" if first == last else f"{first:%d %b} to {last:%d %b}"
        recon_parts.append(f"{_plural(len(unreconciled), 'day')} never reconciled ({span})")
    if open_exceptions:
        recon_parts.append(f"{_plural(open_exceptions, 'open exception')}")
    return [
        CloseCheck("dead_letters", "No dead letters", dead == 0, dead,
                   f"{_plural(dead, 'posting')} dead-lettered" if dead else "No posting failed for good.",
                   _link(f"/postings/{pid}&state=dead", start, end, "posting_date")),
        CloseCheck("held", "Nothing held", held_txns + held_postings == 0, held_txns + held_postings,
                   held_detail or "No transaction or posting is held.",
                   _link("/transactions/?status=needs_mapping&status=invalid&status=received"
                         + "".join(f"&channel_id={c.pk}" for c in channels), start, end, "business_date")),
        CloseCheck("in_ledger", "Everything in the ledger", waiting_postings + waiting_summary == 0,
                   waiting_postings + waiting_summary, waiting_detail or "Every document reached the ledger.",
                   _link(f"/postings/{pid}&state=pending&state=uncertain", start, end, "posting_date")),
        CloseCheck("payouts_matched", "Payouts matched to the bank", unmatched == 0, unmatched,
                   f"{_plural(unmatched, 'payout')} not matched to a bank deposit" if unmatched
                   else ("Every payout is matched." if payouts.exists() else "No payouts in the period."),
                   "/reconciliation/exceptions/"),
        CloseCheck("reconciliation", "Reconciliation run clean", not recon_parts,
                   len(unreconciled) + open_exceptions,
                   "; ".join(recon_parts) or "Every day was reconciled, with no open exception.",
                   "/reconciliation/"),
    ]  # fmt: skip


def _record(conn: LedgerConnection, start: date, end: date) -> PeriodClose | None:
    return (
        PeriodClose.objects.filter(connection=conn, period_start=start, period_end=end)
        .select_related("closed_by", "reopened_by")
        .first()
    )


def period_status(conn: LedgerConnection, year: int, month: int) -> PeriodStatus:
    """What the close screen shows for one month."""
    start, end = month_bounds(year, month)
    lock = conn.lock_date
    covers_from = lock + timedelta(days=1) if lock is not None and lock < end else (start if lock else None)
    status = PeriodStatus(conn, start, end, covers_from, record=_record(conn, start, end))
    status.checks = close_checks(conn, covers_from, end)
    return status


def close_period(
    conn: LedgerConnection,
    year: int,
    month: int,
    *,
    explanations: Mapping[str, str] | None = None,
    actor: Any,
) -> PeriodClose:
    """Close a month: every check green or explained; our lock date becomes its last day."""
    if not getattr(actor, "has_perm", lambda _p: False)(CLOSE_PERMISSION):
        raise PermissionDenied("Only a finance manager closes a period.")
    explanations = {k: str(v).strip() for k, v in (explanations or {}).items() if str(v).strip()}
    start, end = month_bounds(year, month)
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=conn.pk)
        if locked.lock_date is not None and locked.lock_date >= end:
            raise CloseRefused(
                f"{start:%B %Y} is already closed (books closed to {locked.lock_date:%d %b %Y})."
            )
        if end >= timezone.localdate():
            raise CloseRefused(
                f"{start:%B %Y} has not ended yet: close it from {end + timedelta(days=1):%d %b %Y}."
            )
        covers_from = locked.lock_date + timedelta(days=1) if locked.lock_date else None
        checks = close_checks(locked, covers_from, end)
        errors = {}
        for check in checks:
            if check.ok:
                continue
            text = explanations.get(check.key, "")
            if len(text) < MIN_EXPLANATION:
                errors[check.key] = (
                    f"{check.label}: {check.detail}. Fix it, or explain why the month can close."
                )
            check.explanation = text
        if errors:
            raise CloseRefused("Some checks are not green and not explained.", errors)
        before = {"lock_date": locked.lock_date.isoformat() if locked.lock_date else None}
        record = PeriodClose.objects.create(
            connection=locked, period_start=start, period_end=end, checks=[asdict(c) for c in checks],
            previous_lock_date=locked.lock_date, closed_by=actor, closed_at=timezone.now(),
        )  # fmt: skip
        locked.lock_date = end
        locked.save(update_fields=["lock_date", "updated_at"])
        audit.record(
            "period.closed",
            obj=locked,
            before=before,
            after={"lock_date": end.isoformat(), "period": f"{start:%Y-%m}", "close": str(record.pk),
                   "explained": {c.key: c.explanation for c in checks if not c.ok}},
            actor=actor,
        )  # fmt: skip
    return record


def reopen_period(conn: LedgerConnection, year: int, month: int, *, reason: str, actor: Any) -> PeriodClose:
    """Reopen a closed month (finance managers only, with a reason): the lock date goes back to
    the day before it, so it and every later month are open again; their close records say so."""
    if not getattr(actor, "has_perm", lambda _p: False)(REOPEN_PERMISSION):
        raise PermissionDenied("Only a finance manager reopens a closed period.")
    reason = reason.strip()
    if len(reason) < MIN_EXPLANATION:
        raise CloseRefused("Say why the period is reopened.", {"reason": "Say why the period is reopened."})
    start, end = month_bounds(year, month)
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=conn.pk)
        if locked.lock_date is None or locked.lock_date < start:
            raise CloseRefused(f"{start:%B %Y} is not closed.")
        new_lock = start - timedelta(days=1)
        before = {"lock_date": locked.lock_date.isoformat()}
        now = timezone.now()
        later = PeriodClose.objects.filter(
            connection=locked, status=PeriodCloseStatus.CLOSED, period_end__gte=start
        ).order_by("period_start")
        reopened: list[PeriodClose] = []
        for row in later:
            row.status = PeriodCloseStatus.REOPENED
            row.reopened_by, row.reopened_at = actor, now
            row.reopen_reason = (
                reason if row.period_start == start else f"Reopened with {start:%B %Y}: {reason}"
            )
            row.save(update_fields=["status", "reopened_by", "reopened_at", "reopen_reason", "updated_at"])
            reopened.append(row)
        locked.lock_date = new_lock
        locked.save(update_fields=["lock_date", "updated_at"])
        audit.record(
            "period.reopened",
            obj=locked,
            before=before,
            after={"lock_date": new_lock.isoformat(), "period": f"{start:%Y-%m}", "reason": reason,
                   "closes_reopened": [str(r.pk) for r in reopened]},
            actor=actor,
        )  # fmt: skip
    record = next((r for r in reopened if r.period_start == start), None)
    return (
        record
        or _record(locked, start, end)
        or PeriodClose(connection=locked, period_start=start, period_end=end)
    )


def read_ledger_lock_date(conn: LedgerConnection, *, actor: Any = None) -> date | None:
    """Read the ledger's own lock date through its connector (outside any transaction) and keep
    it as ``remote_lock_date``; documents on or before the later of the two dates are held."""
    found = ledger_target_for(conn).fetch_lock_date()
    with transaction.atomic():
        locked = LedgerConnection.objects.select_for_update().get(pk=conn.pk)
        before = {
            "remote_lock_date": locked.remote_lock_date.isoformat() if locked.remote_lock_date else None
        }
        locked.remote_lock_date = found
        locked.save(update_fields=["remote_lock_date", "updated_at"])
        audit.record("connection.ledger_lock_date_read", obj=locked, before=before,
                     after={"remote_lock_date": found.isoformat() if found else None}, actor=actor)  # fmt: skip
    return found
