"""NetSuite's error answers classified into the connector taxonomy.

REST answers ``{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode",
"o:errorPath"}]}``; SOAP answers a fault (``platformFaults:*Fault`` with ``code`` and ``message``)
or a ``writeResponse`` whose ``status/@isSuccess`` is false with ``statusDetail`` codes. The same
codes mean the same thing on both transports, so one table classifies both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectors.base import (
    AuthExpired,
    ClosedPeriod,
    ConnectorError,
    Permanent,
    RateLimited,
    Retryable,
    Uncertain,
)

__all__ = [
    "CONCURRENCY_CODES",
    "DuplicateRecord",
    "classify_codes",
    "classify_rest",
    "rest_details",
]

#: Too many requests at once for the account (REST 429, SOAP fault codes).
CONCURRENCY_CODES = frozenset(
    {
        "CONCURRENCY_LIMIT_EXCEEDED",
        "WS_REQUEST_BLOCKED",
        "WS_CONCUR_SESSION_DISALLWD",
        "SSS_REQUEST_LIMIT_EXCEEDED",
    }
)
AUTH_CODES = frozenset(
    {"INVALID_LOGIN", "INVALID_LOGIN_CREDENTIALS", "INVALID_LOGIN_ATTEMPT", "USER_ERROR_INVALID_TOKEN",
     "INVALID_TOKEN", "INSUFFICIENT_PERMISSION", "SESSION_TIMED_OUT"}
)  # fmt: skip
PERIOD_CODES = frozenset({"TRAN_PERIOD_CLOSED", "PERIOD_CLOSED", "INVALID_PERIOD"})
DUPLICATE_CODES = frozenset({"DUP_RCRD", "DUP_TRANS", "DUP_ENTITY", "UNIQUE_CUST_ID_REQD"})
RETRYABLE_CODES = frozenset({"UNEXPECTED_ERROR", "INTERNAL_ERROR", "SERVER_ERROR"})


class DuplicateRecord(Permanent):
    """The number or record exists already: resolved by looking the record up, never by renaming."""


def rest_details(body: Any) -> list[tuple[str, str]]:
    """``(o:errorCode, detail)`` pairs of a REST error body."""
    if not isinstance(body, Mapping):
        return []
    out = []
    for item in body.get("o:errorDetails") or []:
        if isinstance(item, Mapping):
            out.append((str(item.get("o:errorCode") or ""), str(item.get("detail") or "")))
    if not out and body.get("title"):
        out.append(("", str(body.get("title"))))
    return out


def classify_codes(
    details: Iterable[tuple[str, str]], *, status: int = 400, retry_after: float | None = None
) -> ConnectorError:
    """The error for NetSuite's ``(code, message)`` pairs (REST or SOAP)."""
    pairs = list(details) or [("", f"HTTP {status}")]
    code, message = pairs[0]
    text = "; ".join(f"{c}: {m}" if c else m for c, m in pairs)
    codes = {c for c, _ in pairs}
    kw = {"vendor_code": code, "vendor_message": text}
    if codes & CONCURRENCY_CODES or status == 429:
        return RateLimited(f"netsuite: too many requests ({code or status})", retry_after=retry_after, **kw)
    if codes & AUTH_CODES or status == 401:
        return AuthExpired(f"netsuite: not authorised ({code or status})", **kw)
    if codes & PERIOD_CODES:
        return ClosedPeriod(f"netsuite: {message}", **kw)
    if codes & DUPLICATE_CODES:
        return DuplicateRecord(f"netsuite: {message}", **kw)
    if codes & RETRYABLE_CODES or status >= 500:
        return Retryable(f"netsuite: server error ({code or status})", **kw)
    if status == 408:
        return Uncertain(f"netsuite: no answer in time ({code or status})", **kw)
    return Permanent(f"netsuite: {message}", **kw)


def classify_rest(status: int, body: Any, retry_after: float | None = None) -> ConnectorError:
    """The error of a REST answer (``o:errorDetails``)."""
    return classify_codes(rest_details(body), status=status, retry_after=retry_after)
