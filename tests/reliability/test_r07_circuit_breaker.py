"""R7: the ledger answers 503 for a while, then recovers; the circuit breaker keeps us polite.

The outbox runs in a tight loop over ``POSTINGS`` QuickBooks postings while the sandbox answers
every write with 503 until ``PROBES`` probes have failed after the circuit opened, then recovers
(the outage is measured in probes, not seconds, so the machine's speed cannot change the story): once as the sweep does it
(``run_outbox``, QuickBooks batches of up to 30), once as the per-posting tasks do it
(``send_posting`` for each due posting, one document per call). RELIABILITY.md's
"3 minutes" and "30 s" are shortened to ``PROBES`` periods and ``CIRCUIT_OPEN_SECONDS`` (the settings the
breaker reads), keeping their ratio's spirit: several open periods inside the outage.

Pass: the circuit opens within 10 failed calls; while it is open no two calls are closer together
than one open period (at most one probe per period); after recovery the backlog drains with 0
duplicates and the circuit is closed again.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from typing import Any

import pytest
from django.test import override_settings

from connectors.sandbox.base import Fault
from connectors.sandbox.quickbooks import QuickBooksSandbox
from integrator.choices import PostingState
from integrator.models import AuditEvent, Posting
from integrator.services.pipeline import process_received_events
from integrator.services.posting import circuit_state, due_posting_ids, run_outbox, send_posting
from tests.integrator.test_ledger_reliability import FAST_RETRIES, _deliver, _till
from tests.integrator.test_ledgers_e2e import _qbo_connection

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

POSTINGS = 60
PROBES = 4  # failed probes before the vendor recovers
OPEN_SECONDS = 1.5
HANG_SECONDS = 120  # bounds a hang only: a run's outage takes about 7 s
THRESHOLD = 5
WRITES = r"^/v3/company/[^/]+/(batch|salesreceipt)"
OPEN = (PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN)


def _one_by_one() -> None:
    for pk in due_posting_ids(100):
        send_posting(pk)


@pytest.mark.parametrize("mode", ["sweep", "tasks"])
@override_settings(
    **{**FAST_RETRIES, "CIRCUIT_OPEN_SECONDS": OPEN_SECONDS, "CIRCUIT_FAILURE_THRESHOLD": THRESHOLD}
)
def test_an_outage_opens_the_circuit_probes_sparingly_and_the_backlog_drains_after(
    client: Any, mode: str
) -> None:
    step = run_outbox if mode == "sweep" else _one_by_one
    states: list[tuple[float, str]] = []
    with QuickBooksSandbox(home_currency="GBP") as qbo:
        conn = _qbo_connection(qbo)
        _till(conn)
        _deliver(client, "till", POSTINGS)
        process_received_events()
        qbo.faults.rates((1.0, Fault("status", status=503)), only_paths=WRITES)
        # The outage lasts a number of probes (progress), not a number of seconds: however fast or
        # slow the machine, the circuit opens, PROBES probes fail one open period apart, then the
        # vendor recovers. Each probe claim moves circuit_open_until to its own time + one period,
        # so the distinct values seen after the circuit opened are the opening and one per probe.
        open_untils: list[datetime] = []
        outage_started = time.time()
        while len(open_untils) < 1 + PROBES:
            assert time.time() - outage_started < HANG_SECONDS, f"hang: {len(open_untils)} periods seen"
            step()
            conn.refresh_from_db()
            states.append((time.time(), circuit_state(conn)))
            if conn.circuit_open_until is not None and conn.circuit_open_until not in open_untils:
                open_untils.append(conn.circuit_open_until)
            time.sleep(0.02)
        outage = time.time() - outage_started
        during = qbo.requests_to("POST", WRITES)
        qbo.faults.clear()  # the vendor is back
        recovered = time.time()
        deadline = recovered + HANG_SECONDS
        while Posting.objects.filter(state__in=OPEN).exists() and time.time() < deadline:
            step()
            time.sleep(0.02)
        drained = time.time() - recovered
        receipts = qbo.documents("SalesReceipt")
    conn.refresh_from_db()

    opened = AuditEvent.objects.filter(action="connection.circuit_opened", object_id=str(conn.pk))
    assert opened.count() == 1  # it opened once and stayed open (probes failing) until recovery
    opened_at = opened.get().occurred_at.timestamp()
    before_open = [r for r in during if r.received_at <= opened_at]
    after_open = sorted(r.received_at for r in during if r.received_at > opened_at)
    assert 1 <= len(before_open) <= min(10, THRESHOLD)
    if mode == "tasks":
        assert len(before_open) == THRESHOLD  # one call, one failure
    # At most one probe a period, on the breaker's own clock (no slack for request latency: the
    # vendor's arrival times would measure the machine's load, not the breaker).
    periods = [(b - a).total_seconds() for a, b in itertools.pairwise(open_untils)]
    assert periods and min(periods) >= OPEN_SECONDS, periods
    # Each probe is one call, and k probes push circuit_open_until at least k periods past its
    # opening value, which is at least one period after the last failing call before it opened
    # (the vendor saw that call before the failure was counted). A bound from the breaker's own
    # values, whatever the sampling above missed on a loaded machine.
    last_failure = max(r.received_at for r in before_open)
    span = open_untils[-1].timestamp() - (last_failure + OPEN_SECONDS)
    assert PROBES <= len(after_open) <= span / OPEN_SECONDS + 1e-6, (len(after_open), span)
    assert {s for _, s in states} >= {"open"}
    gaps = periods

    assert not Posting.objects.filter(state__in=OPEN).exists(), f"backlog not drained in {drained:.1f} s"
    assert Posting.objects.filter(state=PostingState.POSTED).count() == POSTINGS
    assert len(receipts) == POSTINGS and len({r["DocNumber"] for r in receipts}) == POSTINGS
    assert circuit_state(conn) == "closed"
    print(
        f"R7 ({mode}): {len(during)} calls in a {outage:.1f} s outage ({len(before_open)} before the circuit opened, "
        f"then {len(after_open)} probes, gaps {', '.join(f'{g:.2f}' for g in gaps)} s); "
        f"{POSTINGS} postings drained {drained:.1f} s after recovery, {len(receipts)} documents; "
        f"opened at {datetime.fromtimestamp(opened_at).time()}"
    )
