"""Lightspeed X-Series (Vend) webhook signatures.

A delivery carries ``X-Signature: signature=<mac>, algorithm=HMAC-SHA256``. The MAC is an
HMAC-SHA256 of the raw request body (the whole form-encoded body, as sent), keyed with the
add-on's OAuth client secret.

What the vendor material available to us says and does not say (see docs/platforms/lightspeed_x.md,
"Signature"): the header name, its ``signature=..,algorithm=HMAC-SHA256`` layout and the
form-encoded body with a ``payload`` field are documented; the key (the add-on's client secret)
and the encoding of the MAC are not stated in the OpenAPI, the Postman collection or the pages we
could read. We therefore accept the MAC in lower- or upper-case hex *or* in base64: both are
encodings of the same 32 bytes, so accepting either lets in nothing a forger could make without
the secret. We sign in hex (what the sandbox sends).

Every configured secret is tried (current first, then the previous ones during a rotation) and
compared in constant time, with no early exit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

from connectors.base import SignatureInvalid

__all__ = ["ALGORITHM", "SIGNATURE_HEADER", "parse_header", "sign", "signature_header", "verify"]

SIGNATURE_HEADER = "X-Signature"
ALGORITHM = "HMAC-SHA256"


def sign(secret: str, body: bytes) -> str:
    """The lower-case hex HMAC-SHA256 of ``body`` with ``secret``."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes) -> str:
    """The whole ``X-Signature`` value for a body, laid out as the vendor lays it out."""
    return f"signature={sign(secret, body)}, algorithm={ALGORITHM}"


def parse_header(value: str) -> dict[str, str]:
    """``signature=..., algorithm=...`` as a dict (keys lower-cased, spaces around parts ignored)."""
    parts: dict[str, str] = {}
    for piece in value.split(","):
        key, sep, val = piece.strip().partition("=")
        if sep:
            parts[key.strip().lower()] = val.strip()
    return parts


def _digest_of(given: str) -> bytes | None:
    """The 32 MAC bytes the header states, read as hex or base64, or None if it is neither."""
    text = given.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def verify(header: str, body: bytes, secrets: Iterable[str]) -> None:
    """Raise :class:`SignatureInvalid` unless one of ``secrets`` made the MAC in ``header``."""
    if not header:
        raise SignatureInvalid(f"lightspeed_x: missing {SIGNATURE_HEADER} header")
    parts = parse_header(header)
    algorithm = parts.get("algorithm", "")
    if algorithm.upper() != ALGORITHM:
        raise SignatureInvalid(f"lightspeed_x: unsupported signature algorithm {algorithm!r}")
    given = _digest_of(parts.get("signature", ""))
    if given is None:
        raise SignatureInvalid("lightspeed_x: the signature is neither hex nor base64 of 32 bytes")
    candidates = [s for s in secrets if s]
    if not candidates:
        raise SignatureInvalid("lightspeed_x: no webhook secret (add-on client secret) configured")
    matched = False
    for secret in candidates:
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
        # No early exit: every configured secret costs the same whatever matches.
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise SignatureInvalid("lightspeed_x: signature does not match the body")
