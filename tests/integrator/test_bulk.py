"""``update_each``: many rows' own values in one ``UPDATE ... FROM (VALUES ...)`` (issue 19), stored
exactly as ``save()`` stores them: text, JSON (objects, lists, null, text that looks like JSON),
dates and UUIDs, on SQLite and, with ``DATABASE_URL``, PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.base import WebhookEnvelope
from integrator.models import Posting, PostingAttempt
from integrator.services import bulk
from integrator.services.ingest import store_event
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.conftest import sale_event

pytestmark = pytest.mark.django_db


def _postings(channel: Any, n: int) -> list[Posting]:
    for i in range(n):
        body = json.dumps(sale_event(f"U-{i}"))
        store_event(channel, WebhookEnvelope(dedupe_key=f"u-{i}", event_type="sale.completed"), body, {})
    process_received_events()
    run_outbox(limit=n)
    return list(Posting.objects.order_by("created_at"))


def test_each_row_gets_its_own_values_in_one_statement(channel: Any, monkeypatch: Any) -> None:
    postings = _postings(channel, 5)
    others = {p.pk: (p.remote_id, p.posting_date) for p in postings}
    for i, posting in enumerate(postings[:3]):
        posting.remote_id = f"R-{i}'; DROP TABLE x; --"
        posting.posting_date = date(2026, 12, i + 1)
    attempts = list(PostingAttempt.objects.filter(posting__in=postings[:4]).order_by("started_at"))
    answers: list[Any] = [None, {"a": [1, "2.50", None]}, ["x", {"y": True}], '{"looks": "like json"}']
    for attempt, answer in zip(attempts, answers, strict=True):
        attempt.response = answer
    monkeypatch.setattr(bulk, "BATCH", 2)  # three rows in two statements

    with CaptureQueriesContext(connection) as ctx:
        assert bulk.update_each(postings[:3], ["remote_id", "posting_date"]) == 3
    assert len(ctx.captured_queries) == 2
    assert bulk.update_each(attempts, ["response"]) == 4
    assert bulk.update_each([], ["response"]) == 0

    stored = {p.pk: p for p in Posting.objects.all()}
    for i, posting in enumerate(postings):
        fresh = stored[posting.pk]
        if i < 3:
            assert (fresh.remote_id, fresh.posting_date) == (
                f"R-{i}'; DROP TABLE x; --",
                date(2026, 12, i + 1),
            )
        else:
            assert (fresh.remote_id, fresh.posting_date) == others[posting.pk]  # untouched
    for attempt, answer in zip(attempts, answers, strict=True):
        attempt.refresh_from_db()
        assert attempt.response == answer
