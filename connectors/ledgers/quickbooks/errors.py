"""QuickBooks Online errors: the ``Fault`` body, classified once into the connector taxonomy.

QuickBooks answers errors as ``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}],
"type": "ValidationFault"}, "time": ...}`` (the XSD's ``Fault``/``Error`` with attributes as plain
keys). Authentication faults come in lower case (``{"fault": {"error": [{"message", "detail",
"code"}], "type": "AUTHENTICATION"}}``); both spellings are read.

=====================================  ==========================================================
code / message                         class
=====================================  ==========================================================
HTTP 401, 3200, 3100, 3202             :class:`AuthExpired` (refresh once, then re-authorise)
5010 "Stale Object Error"              :class:`Retryable` (someone else changed it: read again)
6140, or 6210/6000 whose message says  :class:`DuplicateDocument` (a :class:`Permanent` the
"Duplicate Document Number"            target resolves by look-up, never by renaming)
6200, 6210 whose message says the      :class:`ClosedPeriod`
period / books are closed
610 "Object Not Found"                 :class:`Permanent`
6070 Amount is not Qty x UnitPrice     :class:`Permanent`
HTTP 5xx                               :class:`Retryable`
anything else                          :class:`Permanent`
=====================================  ==========================================================

The codes overlap across QuickBooks versions (6210 is a closed period in some answers and a
duplicate number in others), so the message decides where it can: that is why duplicates and
closed periods are matched on text as well as on code. ``vendor_code`` keeps the codes and
``vendor_message`` the vendor's own words (message and detail).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import AuthExpired, ClosedPeriod, ConnectorError, Permanent, Retryable

__all__ = ["DuplicateDocument", "QboError", "classify_fault", "parse_fault"]

AUTH_CODES = frozenset({"3200", "3100", "3202", "003200", "003100"})
DUPLICATE_TEXT = re.compile(r"duplicate (document|doc) ?number", re.IGNORECASE)
CLOSED_TEXT = re.compile(
    r"(period (has )?closed|closing date|books are closed|account period)", re.IGNORECASE
)


class DuplicateDocument(Permanent):
    """The ledger already holds a document with this number: resolve it by looking it up."""


@dataclass(frozen=True)
class QboError:
    """One ``Fault.Error`` entry."""

    code: str
    message: str
    detail: str = ""
    element: str = ""


def _get(node: Mapping[str, Any], name: str) -> Any:
    """A key in either spelling (``Fault`` or ``fault``)."""
    if name in node:
        return node[name]
    return node.get(name[0].lower() + name[1:])


def parse_fault(body: Any) -> tuple[str, list[QboError]]:
    """The fault type and its errors; ``("", [])`` when the body holds no fault."""
    if not isinstance(body, Mapping):
        return "", []
    fault = _get(body, "Fault")
    if not isinstance(fault, Mapping):
        return "", []
    errors = []
    for item in _get(fault, "Error") or []:
        if isinstance(item, Mapping):
            errors.append(
                QboError(
                    code=str(_get(item, "Code") or "").strip(),
                    message=str(_get(item, "Message") or ""),
                    detail=str(_get(item, "Detail") or ""),
                    element=str(_get(item, "Element") or ""),
                )
            )
    return str(_get(fault, "Type") or ""), errors


def classify_fault(status: int, body: Any, *, context: str = "quickbooks") -> ConnectorError:
    """The taxonomy error for a QuickBooks error answer (HTTP status and parsed body)."""
    fault_type, errors = parse_fault(body)
    codes = [e.code.lstrip("0") or e.code for e in errors]
    vendor_code = ",".join(codes) or str(status)
    vendor_message = "; ".join(
        f"{e.message} ({e.detail})" if e.detail and e.detail != e.message else e.message for e in errors
    ) or (str(body)[:500] if body else f"HTTP {status}")
    kw = {"vendor_code": vendor_code, "vendor_message": vendor_message}
    text = vendor_message
    if (
        status == 401
        or any(c in AUTH_CODES or c.zfill(6) in AUTH_CODES for c in codes)
        or (fault_type.upper() == "AUTHENTICATION")
    ):
        return AuthExpired(f"{context}: access refused (re-authorisation may be needed): {text}", **kw)
    if "5010" in codes or "stale object" in text.lower():
        return Retryable(f"{context}: stale object, read it again and retry: {text}", **kw)
    if "6140" in codes or DUPLICATE_TEXT.search(text):
        return DuplicateDocument(f"{context}: duplicate document number: {text}", **kw)
    if "6200" in codes or ("6210" in codes and CLOSED_TEXT.search(text)) or CLOSED_TEXT.search(text):
        return ClosedPeriod(f"{context}: the period is closed in QuickBooks: {text}", **kw)
    if status >= 500:
        return Retryable(f"{context}: server error {status}: {text}", **kw)
    if "610" in codes:
        return Permanent(f"{context}: a referenced object was not found: {text}", **kw)
    if "6070" in codes:
        return Permanent(f"{context}: a line amount is not quantity x unit price: {text}", **kw)
    return Permanent(f"{context}: refused ({vendor_code}): {text}", **kw)
