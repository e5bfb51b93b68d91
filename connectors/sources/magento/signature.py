"""Adobe Commerce webhook signatures: RSA-SHA256 with the key pair the store generates.

With signature verification enabled (Stores > Configuration > Adobe Services > Webhooks >
Digital Signature Configuration), Commerce signs every webhook with its private key and sends the
base64 signature in ``x-adobe-commerce-webhook-signature``; the merchant copies the public key
(PEM) into the channel. Adobe's documentation and its reference verifiers check the signature
over the **base64 encoding of the request body** (RSASSA-PKCS1-v1_5, SHA-256). A signature over
the raw body bytes is accepted too, because some senders (and Adobe's own App Builder samples
that read the body undecoded) sign those: either way only the holder of the private key can
produce it, so accepting both forms admits no forgery.

Every public key configured on the channel is tried (current first, then the previous one while
the merchant regenerates the pair), so a rotation loses no delivery.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.base import SignatureInvalid

__all__ = ["SIGNATURE_HEADER", "load_public_keys", "sign", "verify"]

SIGNATURE_HEADER = "x-adobe-commerce-webhook-signature"
#: RSA keys shorter than this are refused (Commerce generates 2048-bit pairs).
MIN_KEY_BITS = 2048


def load_public_keys(pems: Iterable[str]) -> list[rsa.RSAPublicKey]:
    """The channel's PEM public keys; entries that are not RSA public keys are skipped (the
    setup check reports them), so one bad entry never locks out the good ones."""
    keys = []
    for pem in pems:
        text = (pem or "").strip()
        if not text:
            continue
        if "BEGIN" not in text:  # pasted without its armour (Commerce shows it with it)
            text = f"-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----"
        try:
            key = serialization.load_pem_public_key(text.encode())
        except (ValueError, UnsupportedAlgorithm):
            continue
        if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_KEY_BITS:
            keys.append(key)
    return keys


def _verifies(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def verify(header_value: str, body: bytes, public_keys: Iterable[str]) -> None:
    """Raise :class:`SignatureInvalid` unless ``header_value`` is a signature of ``body`` by the
    private key of one of ``public_keys`` (module docstring)."""
    provided = (header_value or "").strip()
    if not provided:
        raise SignatureInvalid(f"magento: missing {SIGNATURE_HEADER} (is signature verification enabled?)")
    try:
        signature = base64.b64decode(provided, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"magento: {SIGNATURE_HEADER} is not base64") from exc
    keys = load_public_keys(public_keys)
    if not keys:
        raise SignatureInvalid("magento: no Adobe Commerce webhook public key configured on the channel")
    messages = (base64.b64encode(body), body)
    # Every key and both forms are tried, so the time taken does not tell which one matched.
    matched = False
    for key in keys:
        for message in messages:
            matched |= _verifies(key, signature, message)
    if not matched:
        raise SignatureInvalid("magento: webhook signature does not match the configured public key(s)")


def sign(body: bytes, private_key: rsa.RSAPrivateKey, *, over_base64: bool = True) -> str:
    """Sign a body as Adobe Commerce does (for the sandbox and tests): base64 of RSA-SHA256 over
    the base64 of the body (or over the raw body with ``over_base64=False``)."""
    message = base64.b64encode(body) if over_base64 else body
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()
