"""The sandbox's own certificate authority: a root, an intermediate and a signing certificate
issued, as PayPal's is, to ``messageverificationcerts.sandbox.paypal.com``.

A channel that trusts :attr:`TestPKI.root_pem` (its ``cert_trust_roots_pem`` setting) accepts
webhooks the sandbox signs, exactly as a live channel trusts the public roots behind PayPal's
certificate. :func:`rogue_pki` makes the certificates a forger could make: the right name, but a
root nobody trusts (or no root at all).

RSA key generation costs tens of milliseconds, so :func:`default_pki` builds one authority per
process and every sandbox shares it.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

__all__ = ["SIGNING_NAME", "TestPKI", "default_pki", "make_pki", "rogue_pki"]

SIGNING_NAME = "messageverificationcerts.sandbox.paypal.com"


@dataclass(frozen=True)
class TestPKI:
    """A root, an intermediate and a leaf, with the leaf's private key for signing."""

    root: x509.Certificate
    intermediate: x509.Certificate | None
    leaf: x509.Certificate
    leaf_key: rsa.RSAPrivateKey

    @property
    def root_pem(self) -> str:
        """The trust anchor, as a channel setting holds it."""
        return self.root.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def chain_pem(self) -> bytes:
        """What the cert URL serves: the signing certificate, then its issuers (not the root)."""
        parts = [self.leaf] + ([self.intermediate] if self.intermediate is not None else [])
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in parts)

    @property
    def cert_id(self) -> str:
        """An id for the cert URL, as PayPal's ``CERT-360caa42-...`` ids."""
        serial = f"{self.leaf.serial_number:032x}"
        return f"CERT-{serial[:8]}-{serial[8:16]}-{serial[16:24]}"

    def sign(self, message: bytes) -> str:
        """Base64 RSA PKCS#1 v1.5 signature over SHA-256, as ``PAYPAL-TRANSMISSION-SIG``."""
        signature = self.leaf_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode("ascii")


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    """The subject or issuer name of a sandbox certificate."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Integrator PayPal sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    public_key: rsa.RSAPublicKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
    not_after: datetime,
) -> x509.Certificate:
    """An X.509 certificate signed by ``issuer_key``; a leaf names itself in its SAN too."""
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(
    *,
    signing_name: str = SIGNING_NAME,
    with_intermediate: bool = True,
    leaf_not_after: datetime | None = None,
) -> TestPKI:
    """A fresh authority and signing certificate (``leaf_not_after`` in the past makes an expired one)."""
    far = datetime.now(UTC) + timedelta(days=365)
    root_key = _key()
    root = _certificate("Integrator Sandbox Root CA", root_key.public_key(), _name("Integrator Sandbox Root CA"),
                        root_key, ca=True, not_after=far)  # fmt: skip
    issuer_name, issuer_key = root.subject, root_key
    intermediate = None
    if with_intermediate:
        inter_key = _key()
        intermediate = _certificate(
            "Integrator Sandbox Intermediate CA",
            inter_key.public_key(),
            root.subject,
            root_key,
            ca=True,
            not_after=far,
        )
        issuer_name, issuer_key = intermediate.subject, inter_key
    leaf_key = _key()
    leaf = _certificate(
        signing_name,
        leaf_key.public_key(),
        issuer_name,
        issuer_key,
        ca=False,
        not_after=leaf_not_after or far,
    )
    return TestPKI(root=root, intermediate=intermediate, leaf=leaf, leaf_key=leaf_key)


def rogue_pki() -> TestPKI:
    """A forger's chain: PayPal's signing name, issued by a root no channel trusts."""
    return make_pki()


_default: TestPKI | None = None
_default_lock = threading.Lock()


def default_pki() -> TestPKI:
    """The process-wide sandbox authority (built on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = make_pki()
        return _default
