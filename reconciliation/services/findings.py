"""Turning what a check found into exceptions, idempotently.

Each check returns its findings and the scope it covered (kinds and days). :func:`apply_findings`
then, in batches of bulk statements over the findings as the check streams them:

* opens an exception for each new finding (``key`` is UNIQUE, so never twice);
* refreshes the open exception of a finding seen before (amounts and words may have changed);
* re-opens one that a run had cleared, if the difference is back;
* leaves alone one a person resolved or wrote off (their decision stands);
* clears open exceptions in the scope that the check no longer finds (``auto_resolved``).

One audit row per check lists what it opened, re-opened and cleared.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import islice
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from integrator.services import audit
from reconciliation.choices import ExceptionStatus
from reconciliation.models import ReconciliationException, ReconciliationRun

__all__ = [
    "RUN_SETTINGS",
    "CheckOutcome",
    "Finding",
    "apply_findings",
    "apply_run_settings",
    "serialise_reconciliation",
]

_LOCK_ID = 0x5EC0C11E  # serialises reconciliation writers on PostgreSQL
_CHUNK = 500
_REFRESHED = [
    "explanation",
    "amount",
    "expected",
    "actual",
    "currency",
    "day",
    "channel",
    "connection",
    "transaction",
    "posting",
    "bank_line",
    "last_run",
    "updated_at",
]


@dataclass(frozen=True)
class Finding:
    """A difference found by a check, before it is stored as an exception."""

    key: str
    kind: str
    day: date
    explanation: str
    currency: str = ""
    amount: Decimal | None = None
    expected: Decimal | None = None
    actual: Decimal | None = None
    channel_id: Any = None
    connection_id: Any = None
    transaction_id: Any = None
    posting_id: Any = None
    bank_line_id: Any = None

    def fields(self) -> dict[str, Any]:
        """Model field values (everything but the key)."""
        return {
            "kind": self.kind,
            "day": self.day,
            "explanation": self.explanation,
            "currency": self.currency,
            "amount": self.amount,
            "expected": self.expected,
            "actual": self.actual,
            "channel_id": self.channel_id,
            "connection_id": self.connection_id,
            "transaction_id": self.transaction_id,
            "posting_id": self.posting_id,
            "bank_line_id": self.bank_line_id,
        }


@dataclass
class CheckOutcome:
    """Findings of one check, the exception scope it covered, and facts for the run summary."""

    name: str
    scope: Q
    #: A list, or an iterator that streams them (consumed once, by :func:`apply_findings`).
    findings: Iterable[Finding] = field(default_factory=list)
    checked: int = 0
    matches: int = 0
    facts: dict[str, Any] = field(default_factory=dict)


#: The session settings of a run's transactions on PostgreSQL (``SET LOCAL``), see
#: :func:`serialise_reconciliation`; the benchmark runs its baseline query under the same.
#: ``cursor_tuple_fraction``: the checks read every row of their streaming cursors, so plan for
#: all of them, not for a fast first 10 % (nested loops where a hash join is the right plan).
#: ``jit``: a check's statement joins half a dozen tables over a million rows, so its cost passes
#: the JIT thresholds and PostgreSQL compiles it, in every parallel worker, for seconds (4 s of an
#: 8.7 s statement at 1,000,000 transactions), more than the compiled code saves.
#: ``parallel_setup_cost`` and ``parallel_tuple_cost`` (defaults 1000 and 0.1, tuned for short
#: queries beside each other): a run is one long job whose statements scan and join whole tables,
#: so let PostgreSQL share them between its parallel workers. Measured on two cores at 1,000,000
#: transactions (committed, vacuumed books): the read-back's statement 30 s serial, 16 s parallel.
RUN_SETTINGS = {
    "cursor_tuple_fraction": "1.0",
    "jit": "off",
    "parallel_setup_cost": "100",
    "parallel_tuple_cost": "0.01",
}


def apply_run_settings() -> None:
    """``SET LOCAL`` each of :data:`RUN_SETTINGS` for the current transaction (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        for name, value in RUN_SETTINGS.items():
            cur.execute("SELECT set_config(%s, %s, true)", [name, value])


def serialise_reconciliation() -> None:
    """Take the reconciliation lock for the current transaction (PostgreSQL; SQLite has one writer),
    and apply the run's session settings to it (:data:`RUN_SETTINGS`)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_ID])
        apply_run_settings()


def _chunks(items: Iterable[Any]) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``_CHUNK`` (consumed lazily)."""
    it = iter(items)
    while chunk := list(islice(it, _CHUNK)):
        yield chunk


def _insert_new(findings: list[Finding], run: ReconciliationRun, now: Any) -> None:
    """Open an exception for each of ``findings`` (none is stored yet), in one statement.

    On PostgreSQL the rows go through ``COPY``, each column's value taken from the finding or the
    model's own default (a new id, ``created_at`` and ``updated_at`` now): a first run over a month
    opens thousands of exceptions, and a model instance per row plus ``bulk_create`` quoting every
    value is Python work per row (about 1 s of the benchmark's run, which opens 10,107; within its
    noise). Elsewhere ``bulk_create``.
    """
    if not findings:
        return
    if connection.vendor != "postgresql":
        ReconciliationException.objects.bulk_create(
            [ReconciliationException(key=f.key, first_run=run, last_run=run, **f.fields()) for f in findings],
            batch_size=_CHUNK,
        )
        return
    model = ReconciliationException._meta
    fields = model.concrete_fields
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    runs = {"first_run_id": run.pk, "last_run_id": run.pk}
    with (
        connection.cursor() as cur,
        cur.cursor.copy(f"COPY {model.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for finding in findings:
            values = {"key": finding.key, **runs, **finding.fields()}  # attribute names, as the columns
            copy.write_row(tuple(_column_value(f, values, now) for f in fields))


def _column_value(field: Any, values: dict[str, Any], now: Any) -> Any:
    """A column's value for :func:`_insert_new`: the finding's, else the model's default."""
    if field.attname in values:
        return values[field.attname]
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    return field.get_default()


def apply_findings(run: ReconciliationRun, outcome: CheckOutcome, *, actor: Any = None) -> dict[str, int]:
    """Store one check's findings as exceptions (call inside the step's transaction).

    The findings are consumed in batches of ``_CHUNK`` (a check may stream them): per batch one
    look-up of the exceptions already keyed, one bulk insert and one bulk update. Only the keys
    seen stay in memory, to clear the exceptions of the scope that were not found again.
    """
    now = timezone.now()
    seen: set[str] = set()
    created: list[str] = []
    reopened: list[str] = []
    still_open = 0
    for batch in _chunks(outcome.findings):
        found = {f.key: f for f in batch}
        again = {key for key in found if key in seen}  # a key found twice counts once, as before
        seen.update(found)
        existing = {e.key: e for e in ReconciliationException.objects.filter(key__in=list(found))}
        new = [f for key, f in found.items() if key not in existing]
        _insert_new(new, run, now)
        created.extend(f.key for f in new)
        refreshed: list[ReconciliationException] = []
        unchanged: list[Any] = []
        for key, exc in existing.items():
            if exc.status != ExceptionStatus.OPEN and not exc.auto_resolved:
                continue  # a person resolved it: their decision stands
            fields = found[key].fields()
            if exc.status == ExceptionStatus.OPEN and all(getattr(exc, n) == v for n, v in fields.items()):
                # Found again just as it was (most of a re-run): only its last run moves, in one
                # UPDATE for the batch rather than a row in the bulk update's CASE per field.
                unchanged.append(exc.pk)
                if key not in again:
                    still_open += 1
                continue
            for name, value in fields.items():
                setattr(exc, name, value)
            exc.last_run = run
            exc.updated_at = now
            if exc.status != ExceptionStatus.OPEN:
                exc.status, exc.auto_resolved, exc.resolution_note, exc.resolved_at = (
                    ExceptionStatus.OPEN,
                    False,
                    "",
                    None,
                )
                reopened.append(key)
            elif key not in again:
                still_open += 1
            refreshed.append(exc)
        ReconciliationException.objects.bulk_update(
            refreshed,
            [*_REFRESHED, "status", "auto_resolved", "resolution_note", "resolved_at"],
            batch_size=_CHUNK,
        )
        if unchanged:
            ReconciliationException.objects.filter(pk__in=unchanged).update(last_run=run, updated_at=now)
    # Read first, then write: SQLite gives no isolation between a cursor and writes to its table.
    stale = [
        (pk, key)
        for pk, key in ReconciliationException.objects.filter(outcome.scope, status=ExceptionStatus.OPEN)
        .values_list("pk", "key")
        .iterator(chunk_size=_CHUNK)
        if key not in seen
    ]
    for ids in _chunks(pk for pk, _ in stale):
        ReconciliationException.objects.filter(pk__in=ids, status=ExceptionStatus.OPEN).update(
            status=ExceptionStatus.RESOLVED,
            auto_resolved=True,
            resolution_note=f"No longer found by the reconciliation of {run.label}.",
            resolved_at=now,
            last_run=run,
            updated_at=now,
        )
    counts = {
        "found": len(seen),
        "new": len(created),
        "reopened": len(reopened),
        "still_open": still_open,
        "cleared": len(stale),
    }
    if created or reopened or stale:
        audit.record(
            "reconciliation.check",
            obj=run,
            after={
                "check": outcome.name,
                **counts,
                "opened": created,
                "reopened_keys": reopened,
                "cleared_keys": [key for _, key in stale],
            },
            actor=actor,
        )
    return counts
