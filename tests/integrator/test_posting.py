"""The outbox: one key per posting, uncertain outcomes resolved by look-up, dead letters, replay."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from connectors.ledgers.builtin import BuiltinLedger
from integrator.choices import PostingState
from integrator.models import BookEntry, LedgerAccount, LedgerConnection, Posting, PostingAttempt
from integrator.services.posting import (
    backoff_seconds,
    build_posting_document,
    ledger_config,
    recover_stale_postings,
    replay_posting,
    run_outbox,
    send_posting,
)
from tests.conftest import sale_event


@pytest.fixture
def pending_posting(channel: Any, client: Any) -> Posting:
    """A journaled sale whose posting has not been sent (webhook stored, processed, not posted)."""
    import json

    from tests.conftest import signed_headers

    body = json.dumps(sale_event("S-100")).encode()
    client.post("/hooks/till/", data=body, content_type="application/json", **signed_headers(body))
    from integrator.services.pipeline import process_received_events

    process_received_events()  # on_commit callbacks do not run in this test: posting stays pending
    posting = Posting.objects.get()
    assert posting.state == PostingState.PENDING
    return posting


def test_backoff_has_full_jitter_and_honours_retry_after() -> None:
    delays = [backoff_seconds(5) for _ in range(200)]
    ceiling = min(settings.POSTING_BACKOFF_CAP_SECONDS, settings.POSTING_BACKOFF_BASE_SECONDS * 16)
    assert all(0 <= d <= ceiling for d in delays)
    assert len({round(d, 3) for d in delays}) > 150  # jittered, not a fixed schedule
    assert all(backoff_seconds(1, retry_after=60) >= 60 for _ in range(20))


def test_the_idempotency_key_is_fixed_for_the_postings_life(pending_posting: Posting) -> None:
    key = pending_posting.idempotency_key
    assert len(key) == 32
    send_posting(pending_posting.pk)
    pending_posting.refresh_from_db()
    assert pending_posting.idempotency_key == key
    assert BookEntry.objects.get().idempotency_key == key


def test_worker_dying_after_send_leaves_it_uncertain_and_lookup_resolves_it(pending_posting: Posting) -> None:
    """In-process version of the crash: the document reached the ledger, the result was never saved."""
    doc = build_posting_document(pending_posting)
    BuiltinLedger(ledger_config(pending_posting.connection)).post(doc)  # the call that 'succeeded'
    Posting.objects.filter(pk=pending_posting.pk).update(
        state=PostingState.SENDING, attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert recover_stale_postings() == 1
    pending_posting.refresh_from_db()
    assert pending_posting.state == PostingState.UNCERTAIN
    send_posting(pending_posting.pk)
    pending_posting.refresh_from_db()
    assert pending_posting.state == PostingState.POSTED
    assert BookEntry.objects.count() == 1
    last = PostingAttempt.objects.filter(posting=pending_posting).order_by("-number").first()
    assert last.action == "lookup" and last.outcome == "found by look-up"


def test_a_claimed_posting_cannot_be_claimed_twice(pending_posting: Posting) -> None:
    Posting.objects.filter(pk=pending_posting.pk).update(
        state=PostingState.SENDING, lease_until=timezone.now() + timedelta(minutes=2)
    )
    assert send_posting(pending_posting.pk) is None
    assert run_outbox() == 0
    assert BookEntry.objects.count() == 0


def test_permanent_error_dead_letters_without_retry_and_replay_gives_one_document(
    pending_posting: Posting,
) -> None:
    LedgerAccount.objects.filter(code="4000").update(active=False)
    send_posting(pending_posting.pk)
    pending_posting.refresh_from_db()
    assert pending_posting.state == PostingState.DEAD
    assert pending_posting.attempts == 1
    assert "unknown or inactive account(s): 4000" in pending_posting.last_error
    assert run_outbox() == 0  # never retried on its own
    LedgerAccount.objects.filter(code="4000").update(active=True)
    replay_posting(pending_posting)
    run_outbox()
    run_outbox()
    pending_posting.refresh_from_db()
    assert pending_posting.state == PostingState.POSTED
    assert BookEntry.objects.count() == 1
    with pytest.raises(ValueError, match="only dead-lettered or held"):
        replay_posting(pending_posting)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_killed_between_send_and_record_is_resolved_without_a_second_document(
    channel: Any, monkeypatch: Any
) -> None:
    """kill -9 for real: a worker process dies right after the ledger accepted the document."""
    import json

    from django.test import Client
    from django_q.conf import Conf

    from integrator.services.pipeline import process_received_events
    from tests.conftest import signed_headers

    monkeypatch.setattr(Conf, "SYNC", False)  # enqueue to the broker; nobody consumes it here
    body = json.dumps(sale_event("S-200")).encode()
    Client().post("/hooks/till/", data=body, content_type="application/json", **signed_headers(body))
    process_received_events()
    posting = Posting.objects.get()
    assert posting.state == PostingState.PENDING
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        "INTEGRATOR_ALLOW_FAILPOINTS": "1",
        "INTEGRATOR_FAILPOINTS": "after_send",
        "POSTING_LEASE_SECONDS": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "run_outbox"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 137, result.stderr.decode()[-2000:]
    posting.refresh_from_db()
    assert posting.state == PostingState.SENDING  # the worker died holding it
    assert BookEntry.objects.count() == 1  # ... after the ledger had taken the document
    Posting.objects.filter(pk=posting.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    run_outbox()
    posting.refresh_from_db()
    assert posting.state == PostingState.POSTED
    assert BookEntry.objects.count() == 1
    assert posting.attempt_rows.order_by("-number").first().outcome == "found by look-up"


@pytest.mark.django_db
def test_circuit_opens_after_consecutive_failures_and_lets_one_probe_through(
    channel: Any, settings: Any
) -> None:
    """A ledger that is down is not hammered: after the threshold, one probe per open period."""
    from connectors.sandbox.quickbooks import QuickBooksSandbox
    from integrator.services.posting import circuit_state
    from tests.integrator.test_ledger_reliability import _deliver, _till
    from tests.integrator.test_ledgers_e2e import _qbo_connection

    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_OPEN_SECONDS = 60
    settings.POSTING_BACKOFF_BASE_SECONDS = 0
    settings.POSTING_BACKOFF_CAP_SECONDS = 0
    from django.test import Client

    from connectors.sandbox.base import Fault
    from integrator.services.pipeline import process_received_events

    with QuickBooksSandbox(home_currency="GBP") as qbo:
        conn = _qbo_connection(qbo)
        _till(conn, slug="down")
        _deliver(Client(), "down", 8)
        process_received_events()
        qbo.faults.rates(
            (1.0, Fault("status", status=503)), only_paths=r"^/v3/company/[^/]+/(batch|salesreceipt)"
        )
        for pk in Posting.objects.values_list("pk", flat=True):
            send_posting(pk)
        calls = len(qbo.requests_to("POST", r"^/v3/company/[^/]+/(batch|salesreceipt)"))
        conn.refresh_from_db()
        assert circuit_state(conn) == "open"
        assert calls == 3  # the threshold, then nothing while open
        # The period ends: exactly one probe goes out, the vendor has recovered, the circuit closes.
        LedgerConnection.objects.filter(pk=conn.pk).update(circuit_open_until=timezone.now())
        qbo.faults.clear()
        Posting.objects.update(next_attempt_at=timezone.now())
        run_outbox()
        conn.refresh_from_db()
        assert circuit_state(conn) == "closed"
        run_outbox()
        assert Posting.objects.filter(state=PostingState.POSTED).count() == 8
        assert len(qbo.documents("SalesReceipt")) == 8
