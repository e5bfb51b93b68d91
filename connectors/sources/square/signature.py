"""Square's webhook signature: base64 HMAC-SHA256(signature key, notification URL + raw body).

Square signs the notification URL exactly as it was registered in the Developer Console,
concatenated with the raw request body. The URL is compared byte for byte: a trailing slash, an
``http`` for ``https``, a different host or port (a reverse proxy in front of us) all change the
signature. That is why the URL to check against is the registered one
(``settings["notification_url"]``) whenever it is configured, and the URL our server saw only as a
fallback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from connectors.base import SignatureInvalid

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "x-square-hmacsha256-signature"


def sign(signature_key: str, notification_url: str, body: bytes) -> str:
    """The value Square puts in ``x-square-hmacsha256-signature`` for this URL and body."""
    digest = hmac.new(
        signature_key.encode("utf-8"), notification_url.encode("utf-8") + body, hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(signature: str, notification_url: str, body: bytes, keys: Iterable[str]) -> None:
    """Raise :class:`SignatureInvalid` unless one of ``keys`` produced ``signature``.

    Every key is tried (current first, then the previous one during a rotation) and compared in
    constant time, so timing reveals neither which key nor how many bytes matched.
    """
    if not signature:
        raise SignatureInvalid(f"square: missing {SIGNATURE_HEADER} header")
    if not notification_url:
        raise SignatureInvalid("square: no notification URL to verify the signature against")
    candidates = [k for k in keys if k]
    if not candidates:
        raise SignatureInvalid("square: no webhook signature key configured for this channel")
    given = signature.strip().encode("ascii", errors="replace")
    matched = False
    for key in candidates:
        expected = sign(key, notification_url, body).encode("ascii")
        # No early exit: every configured key costs the same time whatever matches.
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureInvalid("square: signature does not match the notification URL and body")
