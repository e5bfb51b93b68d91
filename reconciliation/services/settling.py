"""Clearing "not in the ledger" exceptions on the event that settles them, not at the next run.

A reconciliation run opens an *unposted transaction* exception for a transaction that has not
reached the ledger: its posting is pending, its day's daily summary is not closed yet, and so on.
Left alone, such an exception would stay open until somebody reruns the checks, although the
transaction was posted a minute later. :func:`settle_exceptions` is called by the core where the
resolving event happens, inside the same database transaction:

* **a posting is posted** (``integrator.services.posting``): open exceptions of the transactions
  it carries (its own transaction, or every transaction of a daily summary) that are now in the
  ledger are resolved;
* **a day is closed** (``integrator.services.closing``): open exceptions of the transactions the
  new summary carries, which said the day was not closed, are resolved: the summary now carries
  them to the ledger. If that summary then fails to post, it is a dead letter on the postings
  screen, and the next run opens the exception again with the new reason.

Each resolution is automatic (``auto_resolved``, like a run's clearing), carries a note saying what
settled it, and is audited in one row per event. Exceptions a person resolved or wrote off are
never touched. The reconciliation lock is taken only when there is something to resolve, so a
posting with no open exception costs one indexed query.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from integrator.choices import EntryKind, TransactionStatus
from integrator.models import JournalEntry, Transaction
from integrator.services import audit
from reconciliation.choices import ExceptionKind, ExceptionStatus
from reconciliation.models import ReconciliationException
from reconciliation.services.checks import booked_filter
from reconciliation.services.findings import serialise_reconciliation

__all__ = ["DAY_CLOSED", "POSTED", "may_settle", "settle_exceptions"]

POSTED = "posted"
DAY_CLOSED = "day_closed"


def _carried(entry: JournalEntry) -> QuerySet[Transaction]:
    """The transactions an entry brings to the ledger: its own (a transaction entry), or every
    transaction whose current entry a daily summary carries."""
    if entry.kind == EntryKind.SUMMARY:
        return Transaction.objects.filter(
            journal_entries__summary=entry, journal_entries__kind=EntryKind.TRANSACTION
        )
    if entry.kind == EntryKind.TRANSACTION and entry.transaction_id is not None:
        return Transaction.objects.filter(pk=entry.transaction_id)
    return Transaction.objects.none()  # reversals and manual journals settle no transaction


def _note(entry: JournalEntry, event: str, detail: str) -> str:
    stamp = timezone.localtime().strftime("%d %b %Y %H:%M")
    if event == POSTED:
        where = f" as {detail}" if detail else ""
        return f"Posted to the ledger{where} with {entry.reference} on {stamp}: cleared automatically."
    return (
        f"The daily summary {entry.reference} was closed on {stamp} and carries this transaction to the "
        "ledger: cleared automatically (a failure to post it shows on the postings screen)."
    )


def may_settle(entries: list[JournalEntry]) -> list[JournalEntry]:
    """The entries of a batch that :func:`settle_exceptions` could have work for: every daily
    summary, and the transaction entries whose transaction has an open *unposted transaction*
    exception (found with one query for the batch, where asking per entry cost most of posting a
    batch of 500; issue 19)."""
    own = [e.transaction_id for e in entries if e.kind == EntryKind.TRANSACTION and e.transaction_id]
    flagged = (
        set(
            ReconciliationException.objects.filter(
                kind=ExceptionKind.UNPOSTED_TRANSACTION, status=ExceptionStatus.OPEN, transaction_id__in=own
            ).values_list("transaction_id", flat=True)
        )
        if own
        else set()
    )
    return [
        e
        for e in entries
        if e.kind == EntryKind.SUMMARY or (e.kind == EntryKind.TRANSACTION and e.transaction_id in flagged)
    ]


def settle_exceptions(entry: JournalEntry, *, event: str, detail: str = "") -> int:
    """Resolve the open *unposted transaction* exceptions that ``event`` settles for ``entry``
    (``POSTED``: the entry's posting reached the ledger, ``detail`` is the ledger's document
    number; ``DAY_CLOSED``: ``entry`` is the new daily summary). Call inside the caller's atomic
    block; returns how many exceptions were resolved."""
    carried = _carried(entry)
    if event == POSTED:
        settled = carried.filter(booked_filter())
    elif event == DAY_CLOSED:
        settled = carried.filter(status=TransactionStatus.SUMMARISED)
    else:
        raise ValueError(f"unknown settling event {event!r}")
    open_ = ReconciliationException.objects.filter(
        kind=ExceptionKind.UNPOSTED_TRANSACTION,
        status=ExceptionStatus.OPEN,
        transaction__in=settled.values("pk"),
    )
    if not open_.exists():
        return 0
    # A run applying its findings at this moment must not re-open what is settled here.
    serialise_reconciliation()
    keys = list(open_.values_list("key", flat=True))
    now = timezone.now()
    note = _note(entry, event, detail)
    resolved = ReconciliationException.objects.filter(key__in=keys, status=ExceptionStatus.OPEN).update(
        status=ExceptionStatus.RESOLVED,
        auto_resolved=True,
        resolution_note=note,
        resolved_at=now,
        updated_at=now,
    )
    after: dict[str, Any] = {"event": event, "entry": entry.reference, "resolved": resolved, "keys": keys}
    audit.record(
        "reconciliation_exception.auto_resolved",
        obj=entry,
        after=after | {"note": note},
        actor_label="system",
    )
    return resolved
