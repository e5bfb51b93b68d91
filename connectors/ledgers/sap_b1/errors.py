"""SAP Business One Service Layer errors, classified once into the connector taxonomy.

The Service Layer answers ``{"error": {"code": -4013, "message": {"lang": "en-us", "value":
"..."}}}`` in version 1 (OData v3) and ``{"error": {"code": "-4013", "message": "..."}}`` in
version 2 (OData v4); both are read.

======================================  ====================================================
answer                                  class
======================================  ====================================================
401 with code 301 (session timed out)   :class:`SessionExpired` (log in again, send again)
401, 403 otherwise (login refused)      :class:`AuthExpired`
429                                     :class:`RateLimited` (``Retry-After``)
code -4013 (posting period locked)      :class:`ClosedPeriod`
code -2035 (entry already exists)       :class:`DuplicateDocument` (look it up)
5xx                                     :class:`Retryable`
other 4xx                               :class:`Permanent` with the Service Layer's text
======================================  ====================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import AuthExpired, ClosedPeriod, ConnectorError, Permanent, RateLimited, Retryable
from connectors.http import parse_retry_after

__all__ = ["DuplicateDocument", "SessionExpired", "classify_error", "error_of"]


class DuplicateDocument(Permanent):
    """The company already holds the entry: resolve by looking it up, never by renaming."""


class SessionExpired(AuthExpired):
    """The B1SESSION timed out: log in again and send the request again (it was not run)."""


def error_of(body: Any) -> tuple[str, str]:
    """(code, message) of an error body of either version."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return "", ""
    message = error.get("message")
    if isinstance(message, Mapping):
        message = message.get("value")
    return str(error.get("code", "")), str(message or "")


def classify_error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ConnectorError:
    """The taxonomy error for a Service Layer error answer."""
    code, message = error_of(body)
    message = message or f"HTTP {status}"
    kw = {"vendor_code": code or str(status), "vendor_message": message}
    if status == 401 and code == "301":
        return SessionExpired(f"sap b1: session timed out: {message}", **kw)
    if status in (401, 403):
        return AuthExpired(f"sap b1: access refused ({status}): {message}", **kw)
    if status == 429:
        retry = parse_retry_after((headers or {}).get("Retry-After"), default=60.0)
        return RateLimited(f"sap b1: rate limited: {message}", retry_after=retry, **kw)
    if status >= 500:
        return Retryable(f"sap b1: server error {status}: {message}", **kw)
    if code == "-4013":
        return ClosedPeriod(f"sap b1: the posting period is locked: {message}", **kw)
    if code == "-2035":
        return DuplicateDocument(f"sap b1: already exists: {message}", **kw)
    return Permanent(f"sap b1: refused ({code or status}): {message}", **kw)
