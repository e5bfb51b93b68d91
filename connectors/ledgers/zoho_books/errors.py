"""Zoho Books errors, classified once into the connector taxonomy.

Every Zoho Books answer is the envelope ``{"code": <int>, "message": "..."}`` (plus the resource on
success). **Code 0 is success; any other code is an error, even when the HTTP status is 200.**

=================================================  ===========================================
answer                                             class
=================================================  ===========================================
401, or code 57 / 14 (not authorised, bad token)   :class:`AuthExpired`
429, or a message about too many requests or the   :class:`RateLimited` (a day's allowance:
day's API limit                                    ``vendor_code="day"``, paused until tomorrow)
message "... already exists" (a number)            :class:`DuplicateDocument` (look it up)
message about transaction locking / lock date      :class:`ClosedPeriod`
5xx                                                :class:`Retryable`
anything else (400, 404, code != 0 with 200)       :class:`Permanent` with Zoho's code and message
=================================================  ===========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.base import AuthExpired, ClosedPeriod, ConnectorError, Permanent, RateLimited, Retryable

__all__ = ["DAY_SECONDS", "DuplicateDocument", "classify_error", "is_success"]

DAY_SECONDS = 86400.0
AUTH_CODES = frozenset({14, 57})
DUPLICATE_TEXT = re.compile(r"already exists|already been (created|used)|must be unique", re.IGNORECASE)
LOCK_TEXT = re.compile(r"transaction lock|locked|lock date", re.IGNORECASE)
LIMIT_TEXT = re.compile(r"too many requests|rate limit|api (call )?limit", re.IGNORECASE)
DAY_TEXT = re.compile(r"\bday\b|daily|per day|today", re.IGNORECASE)


class DuplicateDocument(Permanent):
    """Zoho already holds a document with this number: resolve it by looking it up."""


def _code(body: Any) -> int | None:
    if not isinstance(body, Mapping) or "code" not in body:
        return None
    try:
        return int(body["code"])
    except (TypeError, ValueError):
        return None


def is_success(status: int, body: Any) -> bool:
    """True only for a 2xx answer whose envelope says ``code: 0``."""
    return status < 300 and _code(body) == 0


def classify_error(status: int, body: Any, *, pause: float = 60.0) -> ConnectorError:
    """The taxonomy error for a Zoho answer that is not a success (status, parsed body).
    ``pause`` is how long to wait after a per-minute 429 (Zoho sends no Retry-After)."""
    code = _code(body)
    message = str(body.get("message") or "") if isinstance(body, Mapping) else ""
    text = message or f"HTTP {status}"
    kw = {"vendor_code": str(code if code is not None else status), "vendor_message": text}
    if status == 401 or code in AUTH_CODES:
        return AuthExpired(
            f"zoho_books: access refused; the connection may need re-authorisation: {text}", **kw
        )
    if status == 429 or LIMIT_TEXT.search(message):
        if DAY_TEXT.search(message):
            return RateLimited(f"zoho_books: the day's API allowance is used up: {text}", retry_after=DAY_SECONDS,
                               vendor_code="day", vendor_message=text)  # fmt: skip
        return RateLimited(f"zoho_books: rate limited: {text}", retry_after=pause, vendor_code="minute",
                           vendor_message=text)  # fmt: skip
    if status >= 500:
        return Retryable(f"zoho_books: server error {status}: {text}", **kw)
    if DUPLICATE_TEXT.search(message):
        return DuplicateDocument(f"zoho_books: duplicate number: {text}", **kw)
    if LOCK_TEXT.search(message):
        return ClosedPeriod(f"zoho_books: the period is locked: {text}", **kw)
    return Permanent(f"zoho_books: refused (code {kw['vendor_code']}): {text}", **kw)
