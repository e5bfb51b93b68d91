"""Recovery: re-process inbox events set aside as unreadable (quarantined) or failed, after the
cause was fixed (a mapping approved, a rate entered, a connector corrected). Audited, exactly once.

Exactly once, because:

* an event is claimed by a compare-and-set of its status (quarantined/failed -> received): two
  people (or a person and the scheduled retry) re-processing the same event cannot both claim it;
* processing goes through the ordinary spine (:func:`integrator.services.pipeline.process_inbound_event`),
  whose upsert of ``(channel, kind, external_id)`` and content hash never makes a second
  Transaction, and whose postings are unique per journal entry: re-processing an event that was
  already booked changes nothing.

The same service serves the inbox screen (one event, or the ones ticked), the API and
``manage.py reprocess``; a bulk re-process from a screen runs in the worker with a progress bar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from integrator.choices import EventStatus
from integrator.models import InboundEvent, Job, Transaction
from integrator.services import audit

__all__ = [
    "REPROCESSABLE",
    "ReprocessOutcome",
    "ReprocessSummary",
    "reprocess_event",
    "reprocess_events",
    "run_reprocess_job",
    "start_bulk_reprocess",
]

log = logging.getLogger(__name__)
REPROCESSABLE = (EventStatus.QUARANTINED, EventStatus.FAILED)
#: A bulk re-process from a screen or the API handles at most this many events per request.
MAX_BULK = 5000


@dataclass(frozen=True)
class ReprocessOutcome:
    """What re-processing one event did: its status before and after, and the transactions it
    now stands behind (the same ones when it had been booked already)."""

    event_id: str
    before: str
    after: str
    error: str = ""
    transactions: tuple[str, ...] = ()
    skipped: str = ""

    @property
    def recovered(self) -> bool:
        """The event now reads (processed, or nothing for the books)."""
        return self.after in (EventStatus.PROCESSED, EventStatus.IGNORED)


@dataclass
class ReprocessSummary:
    """Counts of a bulk re-process, for the screen, the API answer and the command."""

    recovered: int = 0
    still_failing: int = 0
    skipped: int = 0
    outcomes: list[ReprocessOutcome] = field(default_factory=list)

    def add(self, outcome: ReprocessOutcome) -> None:
        """Count one outcome."""
        self.outcomes.append(outcome)
        if outcome.skipped:
            self.skipped += 1
        elif outcome.recovered:
            self.recovered += 1
        else:
            self.still_failing += 1

    @property
    def text(self) -> str:
        """``3 recovered, 1 still failing, 0 skipped``."""
        return f"{self.recovered} recovered, {self.still_failing} still failing, {self.skipped} skipped"


def reprocess_event(
    event: InboundEvent | Any, *, actor: Any = None, actor_label: str = ""
) -> ReprocessOutcome:
    """Re-process one quarantined or failed event through the spine; audited with its before and
    after. An event in any other state is left alone (``skipped`` says why)."""
    pk = event.pk if isinstance(event, InboundEvent) else event
    row = InboundEvent.objects.filter(pk=pk).values("status", "error").first()
    if row is None:
        return ReprocessOutcome(str(pk), "", "", skipped="no such event")
    before = {"status": row["status"], "error": row["error"][:500]}
    if row["status"] not in REPROCESSABLE:
        return ReprocessOutcome(
            str(pk), row["status"], row["status"], skipped=f"the event is {row['status']}"
        )
    with transaction.atomic():
        claimed = InboundEvent.objects.filter(pk=pk, status=row["status"]).update(status=EventStatus.RECEIVED)
        if claimed:
            audit.record("inbound_event.reprocess_started", object_type="integrator.InboundEvent", object_id=str(pk),
                         before=before, after={"status": EventStatus.RECEIVED}, actor=actor, actor_label=actor_label)  # fmt: skip
    if not claimed:  # someone else re-processed it between our read and our claim
        return ReprocessOutcome(str(pk), row["status"], row["status"], skipped="re-processed by someone else")
    from integrator.services.pipeline import process_inbound_event

    try:
        process_inbound_event(pk)
    except Exception as exc:  # keep the event visible as failed, never stuck in "received"
        log.exception("re-processing event %s failed", pk)
        InboundEvent.objects.filter(pk=pk, status=EventStatus.RECEIVED).update(
            status=EventStatus.FAILED, error=f"re-processing failed: {type(exc).__name__}: {exc}"[:4000],
            processed_at=timezone.now(),
        )  # fmt: skip
    after = InboundEvent.objects.filter(pk=pk).values("status", "error").get()
    txns = tuple(str(t) for t in Transaction.objects.filter(events=pk).values_list("pk", flat=True))
    audit.record(
        "inbound_event.reprocessed",
        object_type="integrator.InboundEvent",
        object_id=str(pk),
        before=before,
        after={"status": after["status"], "error": after["error"][:500], "transactions": list(txns)},
        actor=actor,
        actor_label=actor_label,
    )
    return ReprocessOutcome(str(pk), before["status"], after["status"], after["error"], txns)


def reprocess_events(
    events: QuerySet[InboundEvent] | Iterable[Any],
    *,
    actor: Any = None,
    actor_label: str = "",
    progress: Callable[[int, int, str], None] | None = None,
) -> ReprocessSummary:
    """Re-process many events (ids or a queryset), oldest first; ``progress(done, total, text)``."""
    if isinstance(events, QuerySet):
        ids = list(
            events.filter(status__in=REPROCESSABLE).order_by("received_at").values_list("pk", flat=True)
        )
    else:
        ids = list(events)
    summary = ReprocessSummary()
    for done, pk in enumerate(ids, start=1):
        summary.add(reprocess_event(pk, actor=actor, actor_label=actor_label))
        if progress is not None:
            progress(done, len(ids), summary.text)
    return summary


def start_bulk_reprocess(ids: list[Any], *, actor: Any = None) -> Job:
    """Queue a bulk re-process for the worker; the Job (with its progress bar) is returned at once."""
    ids = [str(pk) for pk in ids][:MAX_BULK]
    with transaction.atomic():
        job = Job.objects.create(
            kind="reprocess", description=f"Re-process {len(ids)} inbox events", total=len(ids)
        )
        audit.record("inbound_event.bulk_reprocess_started", object_type="integrator.Job", object_id=str(job.pk),
                     after={"events": len(ids)}, actor=actor)  # fmt: skip
        from integrator.tasks import enqueue

        user_id = getattr(actor, "pk", None)
        transaction.on_commit(lambda: enqueue("integrator.tasks.reprocess_events", str(job.pk), ids, user_id))
    return job


def run_reprocess_job(job_id: str, ids: list[str], user_id: Any = None) -> Job:
    """The worker's half of :func:`start_bulk_reprocess` (the person who started it is the actor)."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None

    def progress(done: int, total: int, text: str) -> None:
        Job.objects.filter(pk=job_id).update(done=done, total=total, message=text[:500])

    try:
        summary = reprocess_events(ids, actor=actor, progress=progress)
    except Exception as exc:
        log.exception("bulk re-process %s failed", job_id)
        Job.objects.filter(pk=job_id).update(status="failed", message=f"Stopped: {exc}"[:500],
                                             finished_at=timezone.now())  # fmt: skip
    else:
        Job.objects.filter(pk=job_id).update(status="done", message=summary.text, finished_at=timezone.now())
    return Job.objects.get(pk=job_id)
