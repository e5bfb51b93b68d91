"""When a daily-summary transaction will reach the ledger, in words.

In daily-summary mode a journaled transaction has no posting of its own: it waits for the daily
close of its channel-day (``integrator.services.closing``), which the worker runs on a schedule
(``integrator.tasks.close_past_days``, every few minutes) for every day that is over in the
channel's time zone. A sale mapped late, after its day was closed, joins the next summary of that
day at the next close. :func:`close_note` says which of these applies and when, so nobody wonders
why a "waiting" sale does not move.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, QuerySet

from integrator.choices import EntryKind, PostingMode, TransactionStatus
from integrator.models import JournalEntry, Transaction

__all__ = ["CLOSE_TASK", "awaiting_close", "close_note", "next_close_run"]

CLOSE_TASK = "integrator.tasks.close_past_days"
#: How late a scheduled close may be before the note says the worker seems to be stopped.
OVERDUE = timedelta(minutes=15)


def next_close_run() -> datetime | None:
    """When the scheduler next runs the daily close (None when no worker set the schedule up)."""
    from django_q.models import Schedule

    return (
        Schedule.objects.filter(func=CLOSE_TASK)
        .order_by("next_run")
        .values_list("next_run", flat=True)
        .first()
    )


def awaiting_close(transactions: QuerySet[Transaction]) -> QuerySet[Transaction]:
    """Annotate ``awaiting_close``: the transaction's current entry waits for a daily summary."""
    waiting = JournalEntry.objects.filter(
        transaction=OuterRef("pk"),
        transaction_revision=OuterRef("revision"),
        kind=EntryKind.TRANSACTION,
        superseded=False,
        summary__isnull=True,
    )
    return transactions.annotate(awaiting_close=Exists(waiting))


def _at(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M on %d %b %Y")


def close_note(txn: Transaction, *, now: datetime, next_run: datetime | None) -> str:
    """When ``txn`` (a daily-summary transaction waiting for its day's close) will be posted."""
    channel = txn.channel
    if channel.posting_mode != PostingMode.DAILY_SUMMARY or txn.status != TransactionStatus.SUMMARISED:
        return ""
    tz_name = channel.timezone or "UTC"
    tz = ZoneInfo(tz_name)
    day: date = txn.business_date
    today = now.astimezone(tz).date()
    if day >= today:
        day_ends = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        return (
            f"Posted with the daily summary of {day:%d %b %Y}: at the first daily close after its day ends, "
            f"after {_at(day_ends, tz)} ({tz_name})."
        )
    if next_run is None:
        return (
            f"Its day, {day:%d %b %Y}, is over: it is posted with that day's next daily summary, at the next "
            "daily close (the worker runs it every few minutes; or run manage.py close_day)."
        )
    if next_run < now - OVERDUE:
        return (
            f"Its day, {day:%d %b %Y}, is over, but the daily close was due at {_at(next_run, tz)} ({tz_name}) "
            "and has not run: check that the worker is running, or run manage.py close_day."
        )
    return (
        f"Its day, {day:%d %b %Y}, is over: it is posted with that day's next daily summary, at the next "
        f"daily close after {_at(max(next_run, now), tz)} ({tz_name})."
    )
