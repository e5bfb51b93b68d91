"""A query budget for the spine (issue 19): what one sale costs in database round trips.

N generic sales go through the public entry points, stage by stage, and each stage's queries are
counted: ingest (the webhook endpoint stores the inbox row), process (normalize, validate, journal,
create the posting) and post (the outbox sends to the built-in ledger). Each stage must stay within
``fixed + per_sale * N`` at batch size 1 and at a larger batch, so the cost of a sale never grows
with the size of the batch (an N+1 would break the larger run first).

Work the stages enqueue on commit (the broker messages) is not counted here: the test database
transaction never commits, so those callbacks do not run.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from integrator.choices import PostingState, TransactionStatus
from integrator.models import BookEntry, InboundEvent, Posting, Transaction
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.conftest import sale_event, signed_headers

pytestmark = pytest.mark.django_db

#: The larger batch: big enough that a per-batch cost is spread thin, small enough to stay fast
#: (``QUERY_BUDGET_BATCH=500`` measures the outbox's full batch).
BATCH = int(os.environ.get("QUERY_BUDGET_BATCH", "50"))

#: (fixed, per sale) queries for each stage, counted in a test transaction (so every inner atomic
#: block shows as a SAVEPOINT / RELEASE pair). Lower them when the spine gets cheaper.
#: Issue 19, before -> after (SQLite; batch 1 | batch 50, per sale):
#: ingest 4 | 4 -> 4 | 4; process 33 | 32.0 -> 27 | 24.1 -> (batched processing) 29 | 19.2 ->
#: (new transactions inserted per table for the batch) 27 | 8.4 -> (journaled per table for the
#: batch) 27 | 0.6; post 40 | 32.1 -> 35 | 1.7 -> (shared fields in one UPDATE) 35 | 0.7.
BUDGET = {
    "ingest": (0, 4),  # the channel, and the inbox row in its own savepoint
    # per batch: claim, one INSERT per table of new transactions, mark, one lock of the batch's
    # transactions, one INSERT each of entries, lines and postings, one UPDATE per status, one
    # audit append (a batch of 50: 30 in all, 0.6 a sale; 500 sales in batches of 50: 0.5)
    "process": (30, 1),
    "post": (40, 1),  # the outbox in batches: claim, lines, book, finish and audit per batch
}


def _count(stage: str, run: Any) -> int:
    """How many statements ``run`` sends to the database. ``CaptureQueriesContext`` keeps only the
    last 9,000 (``queries_limit``), which a stage of 500 sales exceeds, so the count comes from an
    execute wrapper; the capture cross-checks it while it is complete."""
    sent = 0

    def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal sent
        sent += 1
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(counter):
        run()
    if sent < connection.queries_limit:
        assert len(ctx.captured_queries) == sent, stage
    return sent


def _spine(n: int) -> dict[str, int]:
    """Drive ``n`` sales through ingest, process and post; the queries of each stage."""
    client = Client()
    bodies = [json.dumps(sale_event(f"Q-{n}-{i}")).encode() for i in range(n)]

    def ingest() -> None:
        for body in bodies:
            response = client.post(
                "/hooks/till/", data=body, content_type="application/json", **signed_headers(body)
            )
            assert response.status_code == 202

    counts = {"ingest": _count("ingest", ingest)}
    counts["process"] = _count("process", process_received_events)
    counts["post"] = _count("post", lambda: run_outbox(limit=n * 2))
    assert InboundEvent.objects.count() == n
    assert Transaction.objects.filter(status=TransactionStatus.POSTED).count() == n
    assert Posting.objects.filter(state=PostingState.POSTED).count() == n
    assert BookEntry.objects.count() == n
    return counts


@pytest.mark.parametrize("n", [1, BATCH])
def test_queries_per_sale_stay_within_budget(channel: Any, n: int) -> None:
    counts = _spine(n)
    print(
        f"\nqueries for {n} sale(s): " + ", ".join(f"{k} {v} ({v / n:.1f}/sale)" for k, v in counts.items())
    )
    for stage, used in counts.items():
        fixed, per_sale = BUDGET[stage]
        assert used <= fixed + per_sale * n, f"{stage}: {used} queries for {n} sales"
