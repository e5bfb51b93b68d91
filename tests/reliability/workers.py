"""Outbox worker processes for the crash recipes (R3, R9): start, kill -9, restart, drain.

A worker here is ``manage.py shell -c`` running :data:`WORKER_LOOP`: ``run_outbox`` over and over,
which is what the cluster's ``sweep_outbox`` does, without waiting a minute between sweeps. Each
pass recovers postings whose lease ran out (their worker died), then claims and sends due ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from integrator.choices import EntryKind
from integrator.models import Channel, LedgerAccount, Posting
from integrator.services.journal import create_entry
from integrator.services.posting import create_posting
from tests.reliability.support import MANAGE, Proc, subprocess_env

# Batches of 10 keep a batch's work well inside the 1 s lease the recipes use.
WORKER_LOOP = """
import time
from integrator.services.posting import run_outbox
from integrator.tasks import worker_name
while True:
    if not run_outbox(limit=10, worker=worker_name()):
        time.sleep(0.2)
"""


def start_worker(*, failpoint_probability: str = "", seed: int = 0, **env: str) -> Proc:
    """One outbox worker loop; with a probability, it dies (exit 137) right after that share of sends."""
    extra = {"POSTING_LEASE_SECONDS": "1", **env}
    if failpoint_probability:
        extra.update(
            INTEGRATOR_ALLOW_FAILPOINTS="1",
            INTEGRATOR_FAILPOINTS="after_send",
            INTEGRATOR_FAILPOINT_PROBABILITY=failpoint_probability,
            INTEGRATOR_FAILPOINT_SEED=str(seed),
        )
    return Proc([*MANAGE, "shell", "-c", WORKER_LOOP], subprocess_env(**extra))


def make_postings(
    channel: Channel,
    count: int,
    prefix: str,
    day: date = date(2026, 11, 20),
    *,
    codes: tuple[str, str] = ("1100", "4000"),
) -> list[Any]:
    """``count`` balanced two-line manual entries (card clearing 12.00 / sales 12.00 on the account
    ``codes``), each with its pending posting, created through the journal and outbox services in
    one transaction."""
    conn = channel.ledger_connection
    assert conn is not None
    accounts = {a.code: a.pk for a in LedgerAccount.objects.filter(connection=conn, code__in=codes)}
    clearing, sales = codes
    amount = Decimal("12.00")
    with transaction.atomic():
        for i in range(count):
            entry = create_entry(
                line_specs=[
                    {
                        "amount": amount,
                        "account_id": accounts[clearing],
                        "role": "clearing",
                        "description": "Card",
                    },
                    {
                        "amount": -amount,
                        "account_id": accounts[sales],
                        "role": "revenue",
                        "description": "Sale",
                    },
                ],
                reference=f"{prefix}/{i:05d}",
                date=day,
                currency="GBP",
                memo=f"{prefix} {i}",
                channel_id=channel.pk,
                connection_id=conn.pk,
                kind=EntryKind.MANUAL,
            )
            create_posting(entry)
    return list(
        Posting.objects.filter(entry__reference__startswith=f"{prefix}/").values_list("pk", flat=True)
    )


def all_final(open_states: tuple[str, ...]) -> Callable[[], bool]:
    """A check that no posting is left in one of ``open_states``."""

    def check() -> bool:
        return not Posting.objects.filter(state__in=open_states).exists()

    return check
