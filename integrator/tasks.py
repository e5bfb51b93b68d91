"""django-q2 entry points and schedules: thin wrappers over the services.

Work is enqueued only after the transaction that created it commits (``transaction.on_commit`` in
the services), so a worker always finds its row. The broker is only a hint: PostgreSQL is the
source of truth, and the scheduled sweeps (``sweep_outbox``, ``retry_failed_events``) re-claim
anything a lost message or a dead worker left behind.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

__all__ = [
    "backfill_channel",
    "check_alerts",
    "close_past_days",
    "enqueue",
    "ensure_schedules",
    "expire_webhook_secrets",
    "fetch_ledger_rate",
    "fetch_reference_rates",
    "process_inbound_event",
    "process_waiting_events",
    "pull_due_channels",
    "pull_stock_levels",
    "reprocess_events",
    "retry_failed_events",
    "revalue_month_end",
    "send_posting",
    "sweep_outbox",
    "verify_posting",
]

log = logging.getLogger(__name__)


def worker_name() -> str:
    """host:pid of this worker, recorded on posting attempts."""
    return f"{socket.gethostname()}:{os.getpid()}"


def enqueue(func: str, *args: Any) -> None:
    """Queue a task (runs inline when the cluster is in sync mode, as in tests).

    django-q2's ORM broker calls ``close_old_connections()`` before enqueueing whenever it is not
    inside a transaction, and with ``CONN_MAX_AGE=0`` (the default) that closes the caller's
    database connection. Enqueueing happens in ``on_commit`` callbacks, often while the caller still
    walks a cursor (``retry_held_transactions`` after a mapping approval): the next fetch then
    failed with "Cannot operate on a closed database" (issue 13). Enqueueing inside an atomic block
    keeps the caller's connection open; the queue row still commits at once. In sync mode the task
    runs inline and must not run inside a transaction (it calls vendors), so it is left as it was.
    """
    from django.db import transaction
    from django_q.conf import Conf
    from django_q.tasks import async_task

    if Conf.SYNC or not Conf.ORM:  # inline, or the Redis broker (which never touches our database)
        async_task(func, *args)
        return
    if transaction.get_connection(Conf.ORM).in_atomic_block:
        async_task(func, *args)  # already inside a transaction: the queue row commits with it
        return
    with transaction.atomic(using=Conf.ORM):
        async_task(func, *args)


def process_inbound_event(event_id: str) -> None:
    """normalize -> validate -> journal -> post for one inbox row, with up to
    ``PROCESS_BATCH_SIZE - 1`` other waiting rows in the same batch (issue 19); an unexpected error
    marks a row failed with a retry time rather than leaving it ``received``."""
    from integrator.services.pipeline import process_events_from as run

    run(event_id)


def process_waiting_events() -> int:
    """The task receipt queues when none is waiting (issue 19): process the waiting inbox rows,
    a batch of ``PROCESS_BATCH_SIZE`` at a time, waking another worker for the rows behind a full
    batch. ``process_inbound_event`` remains for tasks queued by an earlier version."""
    from integrator.services.pipeline import process_waiting_events as run

    return run()


def send_posting(posting_id: str) -> None:
    """Send one posting to its ledger, with other due postings of its connection in one batch
    where the ledger takes batches (issue 19)."""
    from integrator.services.posting import send_postings_from as run

    run(posting_id, worker=worker_name())


def verify_posting(posting_id: str) -> None:
    """Read a posted document back from its ledger and compare it with our journal."""
    from integrator.services.readback import verify_posting as run

    run(posting_id)


def fetch_ledger_rate(connection_id: str, currency: str, day: str) -> bool:
    """Ask a ledger for its own exchange rate; transactions waiting for it flow on."""
    from datetime import date

    from integrator.services.rates import fetch_ledger_rate as run

    return run(connection_id, currency, date.fromisoformat(day))


def fetch_reference_rates() -> object:
    """Fetch the daily reference rates where a URL is configured."""
    from integrator.services.rates import fetch_reference_rates as run

    return run()


def revalue_month_end() -> int:
    """Month-end revaluation of foreign balances (idempotent; runs daily, acts once a month)."""
    from datetime import date

    from integrator.services.revaluation import revalue_past_month_ends

    return revalue_past_month_ends(date.today())


def sweep_outbox() -> int:
    """Recover postings whose worker died and send every due posting."""
    from integrator.services.posting import run_outbox

    return run_outbox(worker=worker_name())


def retry_failed_events() -> int:
    """Re-process inbox rows that failed for a transient reason."""
    from integrator.services.pipeline import retry_failed_events as run

    return run()


def close_past_days() -> int:
    """Daily batch closure for daily-summary channels."""
    from integrator.services.closing import close_past_days as run

    return run()


def pull_due_channels() -> int:
    """Scheduled completeness pulls for channels whose vendor may drop webhooks."""
    from integrator.services.sync import sync_due_channels

    return sync_due_channels()


def pull_stock_levels() -> int:
    """Daily: read the stock levels of every channel with ``stock_locations`` (Shopify inventory
    levels, Square inventory counts) so the daily reconciliation compares fresh figures."""
    from integrator.services.inventory.source_pulls import pull_all_source_levels

    return pull_all_source_levels().recorded


def ensure_schedules() -> None:
    """Create the periodic sweeps once (idempotent)."""
    from django_q.models import Schedule

    for func, minutes in (
        ("integrator.tasks.sweep_outbox", 1),
        ("integrator.tasks.retry_failed_events", 5),
        ("integrator.tasks.close_past_days", 10),
        ("integrator.tasks.pull_due_channels", 1),
        ("integrator.tasks.fetch_reference_rates", 24 * 60),
        ("integrator.tasks.revalue_month_end", 24 * 60),
        ("integrator.tasks.pull_stock_levels", 24 * 60),
        ("integrator.tasks.check_alerts", 2),
        ("integrator.tasks.expire_webhook_secrets", 60),
        ("reconciliation.tasks.reconcile_yesterday", 60),
    ):
        Schedule.objects.update_or_create(
            func=func,
            defaults={"schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )


def backfill_channel(job_id: str, channel_id: str, since: str) -> None:
    """A back-fill a person started from a screen or the API (progress on its Job)."""
    from datetime import datetime

    from integrator.services.sync import run_backfill_job

    run_backfill_job(job_id, channel_id, datetime.fromisoformat(since))


def reprocess_events(job_id: str, ids: list[str], user_id: Any = None) -> None:
    """A bulk re-process of inbox events a person started (progress on its Job)."""
    from integrator.services.recovery import run_reprocess_job

    run_reprocess_job(job_id, ids, user_id)


def check_alerts() -> int:
    """Raise alerts for new causes (dead letters, re-authorisation, budgets, reconciliation)."""
    from integrator.services.alerts import check_alerts as run

    return run()


def expire_webhook_secrets() -> int:
    """Remove previous webhook secrets whose grace period has ended."""
    from integrator.services.channel_setup import expire_webhook_secrets as run

    return run()
