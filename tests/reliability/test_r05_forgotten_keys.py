"""R5: the QuickBooks sandbox forgets idempotency keys after 1 s while answers are lost after commit.

A re-send with the same ``requestid`` more than a second later is a new request to this sandbox,
so only a look-up by reference (DocNumber) before re-sending keeps an uncertain outcome from
becoming a second document. ``POSTINGS`` (200, scaled from R4's 500 of
``tests/integrator/test_ledger_reliability.py`` to keep the run short) go out one by one, as the
per-posting ``send_posting`` tasks send them (R4's test covers batches), while 15 % of the writes
commit and then drop the connection, 10 % answer 500 and 5 % 429. The circuit breaker's open
period is shortened to keep the run short.

The sandbox's own request limits are off here: when its limiter refuses a request (429) that the
fault plan has chosen to drop, it records a Retry-After window that the client never saw, and the
next requests count as "inside a window" although nobody could have known (a sandbox artefact).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import pytest
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.quickbooks import QboLimits, QuickBooksSandbox
from integrator.choices import PostingState
from integrator.models import Posting, PostingAttempt
from integrator.services.pipeline import process_received_events
from integrator.services.posting import due_posting_ids, recover_stale_postings, send_posting
from tests.integrator.test_ledger_reliability import FAST_RETRIES, _deliver, _till
from tests.integrator.test_ledgers_e2e import _qbo_connection

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

POSTINGS = 200
WRITES = r"^/v3/company/[^/]+/(batch|salesreceipt)"
TTL = 1.0
OPEN = (PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN)
SETTINGS = {**FAST_RETRIES, "CIRCUIT_OPEN_SECONDS": 0.2}


def _drain_one_by_one(limit_seconds: float) -> None:
    """What the per-posting tasks and the sweep do, one posting per call, until all are final."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        recover_stale_postings()
        for pk in due_posting_ids(50):
            send_posting(pk)
        if not Posting.objects.filter(state__in=OPEN).exists():
            return
        time.sleep(0.05)
    raise AssertionError("postings did not settle in time")


@override_settings(**SETTINGS)
def test_a_lost_answer_is_looked_up_not_resent_after_the_key_is_forgotten(client: Any) -> None:
    with QuickBooksSandbox(home_currency="GBP", idempotency_ttl=TTL) as qbo:
        conn = _qbo_connection(qbo)
        _till(conn)
        _deliver(client, "till", 1)
        process_received_events()
        posting = Posting.objects.get()
        qbo.faults.rates(only_paths=WRITES)
        qbo.faults.next(Fault("drop_after_commit"))
        send_posting(posting.pk)
        posting.refresh_from_db()
        assert posting.state == PostingState.UNCERTAIN  # QuickBooks has it; we could not know
        time.sleep(TTL + 0.3)  # the sandbox has forgotten the request id by now
        Posting.objects.filter(pk=posting.pk).update(next_attempt_at=posting.updated_at)
        send_posting(posting.pk)
        creates = qbo.requests_to("POST", WRITES)
        receipts = qbo.documents("SalesReceipt")
    posting.refresh_from_db()
    assert posting.state == PostingState.POSTED and posting.remote_id == receipts[0]["Id"]
    assert len(receipts) == 1
    assert len(creates) == 1  # never re-sent: the look-up found it
    assert posting.attempt_rows.order_by("-number").first().outcome == "found by look-up"


@override_settings(**SETTINGS)
def test_200_postings_with_forgotten_keys_and_lost_answers_give_no_duplicates(client: Any) -> None:
    no_limits = QboLimits(per_second=None, per_minute=None, concurrent=None, batch_per_minute=None)
    with QuickBooksSandbox(
        home_currency="GBP", retry_after=1.0, idempotency_ttl=TTL, limits=no_limits, seed=5
    ) as qbo:
        conn = _qbo_connection(qbo)
        _till(conn)
        _deliver(client, "till", POSTINGS)
        process_received_events()
        qbo.faults.rates(
            (0.15, Fault("drop_after_commit")),
            (0.10, Fault("status", status=500)),
            (0.05, Fault("rate_limit", retry_after=1.0)),
            only_paths=WRITES,
            seed=17,
        )
        started = time.monotonic()
        _drain_one_by_one(limit_seconds=150)
        elapsed = time.monotonic() - started
        receipts = qbo.documents("SalesReceipt")
        creates = qbo.requests_to("POST", WRITES)
        inside = qbo.requests_inside_retry_after()
    numbers = [r["DocNumber"] for r in receipts]
    assert len(receipts) == POSTINGS, f"{len(receipts)} documents for {POSTINGS} postings"
    assert len(set(numbers)) == POSTINGS  # 0 duplicates
    assert Posting.objects.filter(state=PostingState.POSTED).count() == POSTINGS  # 0 lost
    assert inside == []
    looked_up = PostingAttempt.objects.filter(action="lookup", outcome="found by look-up").count()
    uncertain = PostingAttempt.objects.filter(error_class="Uncertain").count()
    # Every lost answer was resolved by a look-up, none by a blind re-send.
    assert looked_up == uncertain >= 1
    # Re-sends of one request id more than TTL after its first use: the sandbox saw them as new.
    first_seen: dict[str, float] = {}
    late: defaultdict[str, int] = defaultdict(int)
    for r in creates:
        key = r.query.get("requestid", [""])[0]
        first_seen.setdefault(key, r.received_at)
        if r.received_at - first_seen[key] > TTL:
            late[key] += 1
    print(
        f"R5: {POSTINGS} postings in {elapsed:.1f} s, {len(creates)} write calls, {uncertain} uncertain "
        f"outcomes, {looked_up} resolved by look-up, {sum(late.values())} re-sends of a request id "
        f"after the sandbox forgot it, {len(receipts)} documents"
    )
