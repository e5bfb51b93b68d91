"""Ingest: the first stage of the spine. Store the vendor's event in the inbox, exactly once.

A webhook is answered 2xx only after its InboundEvent row is committed; a duplicate delivery (the
same dedupe key) is answered 200 and creates no new work. Once the row commits the workers
are woken (``integrator.services.wake``): one queued task serves every row that arrives before it
starts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from connectors.base import PulledRecord, WebhookEnvelope
from integrator.models import Channel, InboundEvent
from integrator.services.event_checks import storable_text
from integrator.services.wake import wake_processing

__all__ = ["IngestResult", "store_event", "store_pulled_record"]

log = logging.getLogger(__name__)

# Headers worth keeping with the raw body (never authorisation material).
_KEPT_HEADERS = ("content-type", "user-agent", "x-request-id")
_KEPT_PREFIXES = ("x-shopify-", "x-wc-", "x-square-", "x-integrator-", "square-", "paypal-", "x-clover-")
_DROPPED = ("authorization", "cookie", "x-clover-auth")


@dataclass(frozen=True)
class IngestResult:
    """The stored event and whether this delivery created it."""

    event: InboundEvent
    created: bool


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {}
    for key, value in headers.items():
        lower = key.lower()
        if lower in _DROPPED:
            continue
        if lower in _KEPT_HEADERS or lower.startswith(_KEPT_PREFIXES) or "signature" in lower:
            kept[lower] = value
    return kept


def store_event(
    channel: Channel,
    envelope: WebhookEnvelope,
    body: str,
    headers: Mapping[str, str],
    *,
    source: str = "webhook",
) -> IngestResult:
    """Insert the inbox row (idempotent on (channel, dedupe key)) and, once it commits, wake the
    workers: a task is queued only if none is waiting to start (``integrator.services.wake``), and
    that task processes every waiting row, this one included.

    Concurrent deliveries of the same event race on the UNIQUE constraint: exactly one insert wins;
    the others see IntegrityError, count the delivery and return the stored row. The dedupe key
    and event type are stored with any lone surrogate or NUL escaped (a signed event whose id is
    ``"\\ud800"`` is still stored, and its re-deliveries still deduplicate; issue 14).
    """
    dedupe_key = storable_text(envelope.dedupe_key)[:200]
    event_type = storable_text(envelope.event_type)[:80]
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                channel=channel,
                dedupe_key=dedupe_key,
                event_type=event_type,
                source=source,
                headers=_kept_headers(headers),
                body=body,
            )
    except IntegrityError:
        with transaction.atomic():
            InboundEvent.objects.filter(channel=channel, dedupe_key=dedupe_key).update(
                deliveries=F("deliveries") + 1
            )
        existing = InboundEvent.objects.get(channel=channel, dedupe_key=dedupe_key)
        return IngestResult(existing, False)
    # After the commit, never with it: a receipt that finds a task already queued relies on that
    # task claiming rows only after this row committed. Registered outside the insert's own block:
    # when work runs inline (tests, the demo), an error while processing must never be mistaken for
    # the insert's duplicate-key error. Robust: the row is stored, so a wake that fails (the broker
    # down, a locked SQLite file) is logged and the delivery still acknowledged; the next webhook's
    # wake or the five-minute sweep processes the row.
    transaction.on_commit(wake_processing, robust=True)
    return IngestResult(event, True)


def store_pulled_record(channel: Channel, record: PulledRecord) -> IngestResult:
    """Store a record fetched by a pull (back-fill) through the same inbox as webhooks."""
    body = json.dumps(record.payload, sort_keys=True, default=str)
    envelope = WebhookEnvelope(dedupe_key=record.dedupe_key, event_type=record.event_type)
    return store_event(channel, envelope, body, {}, source="pull")


def event_payload(event: InboundEvent) -> Any:
    """The stored body parsed as JSON."""
    return json.loads(event.body)
