"""Xero errors, classified once into the connector taxonomy.

Xero answers a refused document with HTTP 400 and the ``Error`` schema: ``{"ErrorNumber": 10,
"Type": "ValidationException", "Message": "A validation exception occurred", "Elements": [{...,
"ValidationErrors": [{"Message": "..."}]}]}``. With ``summarizeErrors=false`` it answers 200 and
marks each item instead (``HasErrors``/``StatusAttributeString: "ERROR"`` and its own
``ValidationErrors``). Authentication problems are 401 (expired or revoked token) and 403 (the
organisation disconnected the app) with a problem body (``Title``, ``Detail``); limits are 429
with ``Retry-After`` and ``X-Rate-Limit-Problem`` (``minute``, ``day``, ``concurrent``,
``appminute``).

=================================================  ===========================================
answer                                             class
=================================================  ===========================================
401, 403                                           :class:`AuthExpired`
429                                                :class:`RateLimited` (``retry_after``; the
                                                   problem in ``vendor_code``)
validation message "... must be unique"            :class:`DuplicateDocument` (look it up)
validation message about a lock date               :class:`ClosedPeriod`
other validation messages, 404, other 4xx          :class:`Permanent` with Xero's messages
5xx (503 "organisation offline" included)          :class:`Retryable`
=================================================  ===========================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.base import AuthExpired, ClosedPeriod, ConnectorError, Permanent, RateLimited, Retryable
from connectors.http import parse_retry_after

__all__ = ["DuplicateDocument", "classify_error", "classify_messages", "item_messages", "validation_messages"]

UNIQUE_TEXT = re.compile(r"must be unique", re.IGNORECASE)
LOCK_TEXT = re.compile(r"lock date|period lock|locked period", re.IGNORECASE)


class DuplicateDocument(Permanent):
    """Xero already holds a document with this number: resolve it by looking it up."""


def item_messages(item: Any) -> list[str]:
    """The validation messages of one document in an answer (empty when it has none)."""
    if not isinstance(item, Mapping):
        return []
    messages = [
        str(v.get("Message", "")) for v in item.get("ValidationErrors") or [] if isinstance(v, Mapping)
    ]
    for line in item.get("LineItems") or item.get("JournalLines") or []:
        messages.extend(item_messages(line))
    return [m for m in messages if m]


def validation_messages(body: Any) -> list[str]:
    """Every validation message of an ``Error`` body (falls back to its ``Message``)."""
    if not isinstance(body, Mapping):
        return []
    messages: list[str] = []
    for element in body.get("Elements") or []:
        messages.extend(item_messages(element))
    if not messages:
        for key in ("Message", "Detail", "Title"):
            if body.get(key):
                messages.append(str(body[key]))
                break
    return messages


def classify_messages(messages: Iterable[str], *, vendor_code: str = "ValidationException") -> ConnectorError:
    """The class of a refusal from its validation messages."""
    text = "; ".join(messages) or "Xero refused the document"
    kw = {"vendor_code": vendor_code, "vendor_message": text}
    if UNIQUE_TEXT.search(text):
        return DuplicateDocument(f"xero: duplicate number: {text}", **kw)
    if LOCK_TEXT.search(text):
        return ClosedPeriod(f"xero: the period is locked: {text}", **kw)
    return Permanent(f"xero: refused: {text}", **kw)


def classify_error(status: int, body: Any, headers: Mapping[str, str] | None = None) -> ConnectorError:
    """The taxonomy error for a Xero error answer (status, parsed body, response headers)."""
    headers = headers or {}
    messages = validation_messages(body)
    text = "; ".join(messages) or f"HTTP {status}"
    if status in (401, 403):
        return AuthExpired(
            f"xero: access refused ({status}); the connection may need re-authorisation: {text}",
            vendor_code=str(status),
            vendor_message=text,
        )
    if status == 429:
        problem = str(headers.get("X-Rate-Limit-Problem", ""))
        return RateLimited(
            f"xero: rate limited ({problem or 'unknown limit'})",
            retry_after=parse_retry_after(headers.get("Retry-After"), default=60.0),
            vendor_code=problem or "429",
            vendor_message=problem or text,
        )
    if status >= 500:
        return Retryable(f"xero: server error {status}: {text}", vendor_code=str(status), vendor_message=text)
    if isinstance(body, Mapping) and body.get("Type") == "ValidationException":
        return classify_messages(messages)
    kind = str(body.get("Type") or status) if isinstance(body, Mapping) else str(status)
    return Permanent(f"xero: refused ({kind}): {text}", vendor_code=kind, vendor_message=text)
