"""Business Central errors, classified once into the connector taxonomy.

Business Central answers ``{"error": {"code": "...", "message": "..."}}`` (inside a ``$batch``
too, per request).

===============================================  ==========================================
answer                                           class
===============================================  ==========================================
401, 403                                         :class:`AuthExpired`
429                                              :class:`RateLimited` (``Retry-After``)
412 ``Request_EntityChanged``                    :class:`EntityChanged` (re-read, try again)
``Internal_EntityWithSameKeyExists``             :class:`DuplicateDocument` (look it up)
"... not within your range of allowed posting
dates"                                           :class:`ClosedPeriod`
5xx, 424 (a failed dependency in a batch)        :class:`Retryable`
other 4xx                                        :class:`Permanent` with Business Central's text
===============================================  ==========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.base import AuthExpired, ClosedPeriod, ConnectorError, Permanent, RateLimited, Retryable
from connectors.http import parse_retry_after

__all__ = ["DuplicateDocument", "EntityChanged", "classify_error"]

DATE_RANGE = re.compile(r"not within your range of allowed posting dates", re.IGNORECASE)


class DuplicateDocument(Permanent):
    """Business Central already holds the record: resolve by looking it up, never by renaming."""


class EntityChanged(Retryable):
    """The row changed since it was read (a stale etag): read it again and retry."""


def classify_error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ConnectorError:
    """The taxonomy error for an error answer (status, parsed body, headers)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    code = str(error.get("code") or status) if isinstance(error, Mapping) else str(status)
    message = str(error.get("message") or "") if isinstance(error, Mapping) else ""
    message = message or f"HTTP {status}"
    kw = {"vendor_code": code, "vendor_message": message}
    if status in (401, 403):
        return AuthExpired(f"business central: access refused ({status}): {message}", **kw)
    if status == 429:
        retry = parse_retry_after((headers or {}).get("Retry-After"), default=60.0)
        return RateLimited(f"business central: rate limited: {message}", retry_after=retry, **kw)
    if status == 412 or code == "Request_EntityChanged":
        return EntityChanged(f"business central: the record changed: {message}", **kw)
    if status >= 500 or status == 424:
        return Retryable(f"business central: server error {status}: {message}", **kw)
    if code == "Internal_EntityWithSameKeyExists":
        return DuplicateDocument(f"business central: already exists: {message}", **kw)
    if DATE_RANGE.search(message):
        return ClosedPeriod(f"business central: {message}", **kw)
    return Permanent(f"business central: refused ({code}): {message}", **kw)
