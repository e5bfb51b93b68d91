"""R13: hostile webhook bodies, validly signed, against ``POST /hooks/<slug>/``.

``CASES`` deliveries from a seeded generator (``tests/reliability/malformed.py``): bad JSON, bodies
over 1 MiB, deep nesting, invalid UTF-8, NUL, 1e308 and other huge numbers, negative or 3-decimal
amounts in GBP, unknown currencies, wrong types, bad dates, missing or wrong signatures. Each one
runs the whole spine (ingest, then processing on commit, as the worker would).

Pass: 0 answers >= 500 and 0 crashes while processing; every oversized body 413; every other
refusal 4xx and logged on ``integrator.security``; whatever was stored is quarantined with a reason
or held as an invalid transaction with its reasons; nothing reaches the journal or the ledger.
RELIABILITY.md's 10,000 inputs are scaled to ``CASES`` (1,600: about 40 s on SQLite and 60 s on
PostgreSQL on this 2-core machine; the full 10,000 take about 10 minutes and passed with seed 99);
``R13_CASES`` and ``R13_SEED`` in the environment change the count and the seed.

The 413 is also checked over a real socket: the server answers from the declared
``Content-Length`` alone, without waiting for a body that never comes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from typing import Any

import pytest

from integrator.choices import EventStatus, TransactionStatus
from integrator.models import BookEntry, InboundEvent, JournalEntry, Transaction
from tests.conftest import SECRET, signed_headers
from tests.reliability.malformed import LIMIT, malformed_cases

pytestmark = [pytest.mark.slow]

# The full 10,000 of RELIABILITY.md take several minutes here: R13_CASES=10000 runs them.
CASES = int(os.environ.get("R13_CASES", "1600"))
SEED = int(os.environ.get("R13_SEED", "13"))
HANG_SECONDS = 60  # bounds a hang only


def _headers(case: Any) -> dict[str, str]:
    if case.signature == "missing":
        return {}
    return signed_headers(case.body, secret=SECRET if case.signature == "valid" else "not-the-secret")


@pytest.mark.django_db
def test_malformed_inputs_never_give_a_500_and_never_reach_the_books(
    channel: Any, client: Any, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING)
    statuses: Counter[tuple[str, int]] = Counter()
    crashes: list[tuple[str, str]] = []
    stored: dict[str, str] = {}
    started = time.monotonic()
    for case in malformed_cases(CASES, SEED):
        try:
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(
                    "/hooks/till/", data=case.body, content_type="application/json", **_headers(case)
                )
        except Exception as exc:  # processing after commit blew up: the worker would crash here
            crashes.append((case.kind, f"{type(exc).__name__}: {str(exc)[:200]}"))
            continue
        statuses[(case.kind, response.status_code)] += 1
        if response.status_code == 202:
            stored[response.json()["event"]] = case.kind
    elapsed = time.monotonic() - started

    assert crashes == []
    assert [k for k in statuses if k[1] >= 500] == []
    assert {status for (kind, status) in statuses if kind == "oversized"} == {413}
    assert {status for (kind, status) in statuses if kind == "signature"} == {401}
    assert {status for (kind, status) in statuses if kind not in ("oversized", "signature")} <= {400, 202}
    refused = sum(n for (_, status), n in statuses.items() if 400 <= status < 500)
    security = [
        r for r in caplog.records if r.name == "integrator.security" and "webhook refused" in r.getMessage()
    ]
    assert len(security) == refused  # every refusal is logged

    events = InboundEvent.objects.filter(pk__in=list(stored))
    assert events.count() == len(stored)
    unfinished = events.exclude(status__in=[EventStatus.QUARANTINED, EventStatus.PROCESSED])
    assert not unfinished.exists(), list(unfinished.values_list("status", "error")[:5])
    assert all(e for e in events.filter(status=EventStatus.QUARANTINED).values_list("error", flat=True))
    held = Transaction.objects.filter(events__in=events.filter(status=EventStatus.PROCESSED)).distinct()
    # A stored hostile input may be held as invalid, never become a transaction fit for the books.
    accepted = [
        (stored[str(e.pk)], e.body[:600])
        for t in held.exclude(status=TransactionStatus.INVALID)
        for e in t.events.all()
    ]
    assert accepted == [], "\n".join(k + ": " + b[b.index('"data"') :] for k, b in accepted)
    assert all(held.values_list("status_reasons", flat=True))
    assert JournalEntry.objects.count() == 0
    assert BookEntry.objects.count() == 0
    by_kind = Counter(kind for kind, _ in statuses.elements())
    outcome = Counter(events.values_list("status", flat=True))
    print(
        f"R13: {CASES} inputs in {elapsed:.1f} s: {dict(sorted(by_kind.items()))}; answers "
        f"{dict(Counter(s for _, s in statuses.elements()))}; stored {len(stored)}: {dict(outcome)}, "
        f"invalid transactions {held.count()}"
    )


@pytest.mark.django_db(transaction=True)
def test_an_oversized_body_is_refused_from_its_declared_length_before_it_is_read(
    channel: Any, live_server: Any
) -> None:
    host, port = live_server.url.removeprefix("http://").split(":")
    declared = LIMIT + 1
    head = (
        f"POST /hooks/till/ HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    # The body never comes, so any answer at all was given before reading it: that is the proof,
    # not how fast it came (a 5 s limit failed on a loaded machine). The timeout only bounds a hang
    # (a server waiting for the body), at far more than ten times the usual few milliseconds.
    with socket.create_connection((host, int(port)), timeout=HANG_SECONDS) as sock:
        sock.sendall(head + b'{"id": "evt-big", ')  # ... and nothing more: the rest never comes
        answer = sock.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert InboundEvent.objects.count() == 0
