"""Odoo faults, classified once into the connector taxonomy.

Odoo answers a refused call with the exception it raised: over XML-RPC a ``<fault>`` whose
``faultString`` holds the exception's text (often its whole traceback, last line
``odoo.exceptions.UserError: ...``); over JSON-RPC ``{"error": {"data": {"name":
"odoo.exceptions.UserError", "message": ...}}}``; over JSON-2 an HTTP status with ``{"name",
"message"}``. The class is taken from the exception name and the message:

==========================================================  ======================================
fault                                                       class
==========================================================  ======================================
``AccessDenied``, "Access Denied", "Invalid apikey", 401    :class:`AuthExpired`
"lock date" in the message                                  :class:`ClosedPeriod`
"unique sequence number"                                    :class:`DuplicateSequence` (Retryable:
                                                            two posts raced for one number)
serialization failure, "concurrent update"                  :class:`Retryable`
``UserError``, ``ValidationError``, ``AccessError``,        :class:`Permanent` with Odoo's message
``MissingError``, anything else
==========================================================  ======================================

A ``TypeError: cannot marshal None`` fault is not an error: Odoo ran (and committed) a method
that returned None and only failed to write the answer in XML-RPC. :func:`is_marshal_none` tells
the caller to treat it as success.
"""

from __future__ import annotations

import re

from connectors.base import AuthExpired, ClosedPeriod, ConnectorError, Permanent, Retryable

__all__ = ["DuplicateSequence", "classify_fault", "is_marshal_none", "last_line"]

LOCK_TEXT = re.compile(r"lock date|locked period|period is locked", re.IGNORECASE)
AUTH_TEXT = re.compile(r"AccessDenied|Access Denied|Invalid apikey|invalid api key|Session expired", re.I)
SEQUENCE_TEXT = re.compile(r"unique sequence number", re.IGNORECASE)
RETRY_TEXT = re.compile(r"could not serialize access|concurrent update|SerializationFailure", re.IGNORECASE)
NAME_TEXT = re.compile(r"(odoo\.exceptions\.\w+|\w+Error|AccessDenied)")


class DuplicateSequence(Retryable):
    """Two postings raced for the journal's next number: the move stays draft; try again."""


def is_marshal_none(text: str) -> bool:
    """True for the fault Odoo's XML-RPC layer gives after a method that returned None succeeded."""
    return "cannot marshal None" in text


def last_line(text: str) -> str:
    """The useful line of a traceback (the exception and its message)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else text


def classify_fault(name: str, message: str, *, status: int | None = None) -> ConnectorError:
    """The class of an Odoo fault from its exception ``name`` and ``message`` (and the HTTP status
    of a JSON-2 answer)."""
    text = last_line(message) if "Traceback" in message else message.strip()
    if not name:
        found = NAME_TEXT.search(text)
        name = found.group(1) if found else ""
    short = name.rsplit(".", 1)[-1]
    text = re.sub(r"^(odoo\.exceptions\.)?\w+(Error|Denied|Warning):\s*", "", text) or text
    kw = {"vendor_code": short or (str(status) if status else "fault"), "vendor_message": text}
    if short == "AccessDenied" or status == 401 or AUTH_TEXT.search(name + " " + text):
        return AuthExpired(f"odoo: credentials refused: {text}", **kw)
    if LOCK_TEXT.search(text):
        return ClosedPeriod(f"odoo: the period is locked: {text}", **kw)
    if SEQUENCE_TEXT.search(text):
        return DuplicateSequence(f"odoo: sequence clash: {text}", **kw)
    if RETRY_TEXT.search(text):
        return Retryable(f"odoo: concurrent update: {text}", **kw)
    return Permanent(f"odoo: refused: {text}", **kw)
