"""The integration log: every outbound vendor call, redacted, kept for the retention period."""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction

from connectors.http import CallRecord

__all__ = ["record_call"]

log = logging.getLogger(__name__)


def record_call(call: CallRecord) -> None:
    """Store one call record. Never raises: losing a log row must not fail a posting."""
    from integrator.models import IntegrationCall

    try:
        # A savepoint: a row the database refuses (a vendor's answer holding NaN, a lone surrogate
        # or a NUL that JSON columns reject) must not break a transaction around the call.
        with transaction.atomic():
            IntegrationCall.objects.create(
                vendor=call.vendor,
                connection_key=call.connection_key[:80],
                method=call.method,
                url=call.url[:500],
                status=call.status,
                duration_ms=call.duration_ms,
                idempotency_key=call.idempotency_key[:128],
                request_body=call.request_body,
                response_body=call.response_body,
                error=call.error,
            )
    except (DatabaseError, ValueError):  # ValueError: a lone surrogate the driver cannot encode
        # %r: the URL may hold the lone surrogate that was refused; a log line must stay encodable.
        log.exception("could not store integration call %s %r", call.method, call.url)
    except RuntimeError:
        # No database in this context (a connector used outside Django's DB access, e.g. in a
        # database-free test): the call is not lost for the caller, only for the log.
        log.debug("integration call %s %r not stored: no database access", call.method, call.url)
