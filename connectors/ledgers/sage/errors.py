"""Sage Business Cloud Accounting errors, classified once into the connector taxonomy.

Sage answers a refused request with an array of ``{"$severity", "$dataCode", "$message",
"$source"}`` (HTTP 422 for validation, 400 for a malformed body, 401 for an expired or revoked
token, 403 for a business the user may not use, 404 for an unknown resource). Limits are 429 with
``Retry-After`` (handled by :class:`~connectors.http.VendorHTTP` before this module sees it).

=================================================  ===========================================
answer                                             class
=================================================  ===========================================
401                                                :class:`AuthExpired` (refreshed once first)
403                                                :class:`AuthExpired` (reconnect the business)
a message about the year-end lockdown date or a    :class:`ClosedPeriod`
date before the accounts start date
other 4xx                                          :class:`Permanent` with Sage's messages
5xx                                                :class:`Retryable`
=================================================  ===========================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connectors.base import AuthExpired, ClosedPeriod, ConnectorError, Permanent, Retryable

__all__ = ["classify_error", "error_items"]

LOCK_TEXT = re.compile(
    r"lockdown|locked|before .*accounts start date|start date of your accounts", re.IGNORECASE
)


def error_items(body: Any) -> list[dict[str, str]]:
    """The ``$``-keyed error objects of an answer (a bare array, or one wrapped in ``errors``)."""
    if isinstance(body, Mapping):
        body = body.get("errors") or body.get("$errors") or [body]
    if not isinstance(body, list):
        return []
    return [
        {k: str(v) for k, v in item.items()}
        for item in body
        if isinstance(item, Mapping) and ("$message" in item or "$dataCode" in item)
    ]


def classify_error(status: int, body: Any) -> ConnectorError:
    """The taxonomy error of a non-2xx answer."""
    items = error_items(body)
    message = "; ".join(
        f"{i.get('$source')}: {i.get('$message')}" if i.get("$source") else i.get("$message", "")
        for i in items
    )
    code = items[0].get("$dataCode", "") if items else str(status)
    text = message or f"HTTP {status}"
    if status >= 500:
        return Retryable(f"sage: server error {status}", vendor_code=code, vendor_message=text)
    if status in (401, 403):
        return AuthExpired(
            f"sage: not authorised ({text}); connect Sage again", vendor_code=code, vendor_message=text
        )
    if LOCK_TEXT.search(message):
        return ClosedPeriod(f"sage: {text}", vendor_code=code, vendor_message=text)
    return Permanent(f"sage: {text}", vendor_code=code, vendor_message=text)
