"""Stripe webhook signatures: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=<hex>]``.

Stripe signs ``f"{t}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint's signing secret (the
whole ``whsec_...`` string) and sends the hex digest as ``v1``. While a secret is being rolled,
Stripe sends one ``v1`` per active secret, so any ``v1`` may match; on our side any of the
channel's configured secrets may match too (current first, then the previous ones). ``v0`` is a
test-mode signature with a different scheme and is ignored, as Stripe's own libraries do.

The timestamp guards against replays: it must be within ``tolerance`` seconds of the time we
received the request, in both directions (Stripe's libraries only refuse old timestamps; a
timestamp from the future is just as much a sign of a forged or replayed delivery).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.base import SignatureInvalid
from connectors.headers import digests_equal, unix_seconds

__all__ = ["DEFAULT_TOLERANCE", "ParsedSignature", "expected_signature", "parse_header", "verify"]

DEFAULT_TOLERANCE = 300  # seconds, Stripe's default


@dataclass(frozen=True)
class ParsedSignature:
    """The parts of a ``Stripe-Signature`` header we use."""

    timestamp: int
    v1: tuple[str, ...]


def parse_header(header: str) -> ParsedSignature:
    """Parse the header; :class:`SignatureInvalid` when it has no timestamp or no ``v1``."""
    if not header or not header.strip():
        raise SignatureInvalid("missing Stripe-Signature header")
    timestamps: list[str] = []
    v1: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureInvalid(f"malformed Stripe-Signature header: element {item.strip()!r} has no '='")
        if key == "t":
            timestamps.append(value.strip())
        elif key == "v1":
            v1.append(value.strip().lower())
    if len(timestamps) != 1:
        raise SignatureInvalid("malformed Stripe-Signature header: expected exactly one t=<timestamp>")
    timestamp = unix_seconds(timestamps[0], "malformed Stripe-Signature header: timestamp")
    if not v1:
        raise SignatureInvalid("malformed Stripe-Signature header: no v1 signature")
    return ParsedSignature(timestamp=timestamp, v1=tuple(v1))


def expected_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` under ``secret``."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(
    header: str,
    body: bytes,
    secrets: Iterable[str],
    received_at: datetime,
    tolerance: int = DEFAULT_TOLERANCE,
) -> ParsedSignature:
    """Raise :class:`SignatureInvalid` unless one ``v1`` matches one secret within the tolerance.

    Every comparison is constant-time (:func:`connectors.headers.digests_equal`); which candidate matched is not
    secret, so stopping at the first match leaks nothing about the expected digest.
    """
    parsed = parse_header(header)
    usable = [s for s in secrets if s]
    if not usable:
        raise SignatureInvalid("no webhook signing secret is configured for this channel")
    matched = any(
        digests_equal(expected_signature(secret, parsed.timestamp, body), candidate)
        for secret in usable
        for candidate in parsed.v1
    )
    if not matched:
        raise SignatureInvalid("no v1 signature matches the body under any configured signing secret")
    if received_at.tzinfo is None:  # the contract says aware; a naive one is read as UTC, not local
        received_at = received_at.replace(tzinfo=UTC)
    age = received_at.timestamp() - parsed.timestamp
    if age > tolerance:
        raise SignatureInvalid(
            f"signature timestamp is {age:.0f} s old (tolerance {tolerance} s): possible replay"
        )
    if age < -tolerance:
        raise SignatureInvalid(
            f"signature timestamp is {-age:.0f} s in the future (tolerance {tolerance} s): skew or forgery"
        )
    return parsed
