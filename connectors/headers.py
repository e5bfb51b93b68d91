"""Strict readers for what arrives in webhook headers: unix timestamps and MAC strings.

Headers are attacker-controlled text. ``str.isdigit()`` is true for "²" or "٣" (and fullwidth digits), and ``int()``
then either fails (superscripts) or quietly accepts another script's digits; 5,000 digits exceed
Python's conversion limit, 40 digits overflow a float. Comparing a MAC held as ``str`` with
:func:`hmac.compare_digest` raises ``TypeError`` for non-ASCII text. Every such case must end as
:class:`~connectors.base.SignatureInvalid` (401), never as an exception (500), so every source reads
its timestamps and compares its digests through these two functions.
"""

from __future__ import annotations

import hmac
import re

from connectors.base import SignatureInvalid

__all__ = ["digests_equal", "unix_seconds"]

# Twelve digits reach the year 33658: anything longer is not a clock reading.
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


def unix_seconds(text: str, what: str) -> int:
    """Read ``text`` as unix seconds written in ASCII digits, or raise :class:`SignatureInvalid`."""
    if not isinstance(text, str) or _UNIX_SECONDS.fullmatch(text) is None:
        shown = text[:20] if isinstance(text, str) else type(text).__name__
        raise SignatureInvalid(f"{what} {shown!r} is not an integer unix time in ASCII digits")
    return int(text)


def digests_equal(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality of two MACs, whatever characters ``given`` holds.

    Both sides are compared as UTF-8 bytes (lone surrogates escaped), so non-ASCII text is simply
    unequal instead of raising.
    """
    left = expected if isinstance(expected, bytes) else expected.encode("utf-8", "surrogatepass")
    right = given if isinstance(given, bytes) else given.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(left, right)
