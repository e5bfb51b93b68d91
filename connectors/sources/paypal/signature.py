"""PayPal webhook signatures, verified as PayPal documents them.

Every delivery carries five headers: ``PAYPAL-TRANSMISSION-ID``, ``PAYPAL-TRANSMISSION-TIME``,
``PAYPAL-TRANSMISSION-SIG`` (base64), ``PAYPAL-CERT-URL`` and ``PAYPAL-AUTH-ALGO``
(``SHA256withRSA``). PayPal signs, with the private key of the certificate at the cert URL::

    <transmission id>|<transmission time>|<webhook id>|<CRC32 of the raw body, unsigned decimal>

The webhook id is the id PayPal gave the webhook subscription (not a secret, but it binds the
signature to *our* subscription: an event signed for another merchant's webhook does not verify).
A channel may list several ids (``webhook_secrets``, current first, plus ``settings["webhook_id"]``)
so a re-created subscription keeps working during the switch.

Local verification (:class:`CertificateVerifier`):

1. the cert URL must be PayPal's: ``https`` on one of PayPal's API hosts, path
   ``/v1/notifications/certs/...``, nothing else (no credentials, query or fragment). Any other URL
   is refused *before* anything is fetched, so a forged header cannot make us call an arbitrary
   address (server-side request forgery). Tests add their sandbox's origin through the channel's
   settings (``cert_url_origins``);
2. the certificate chain is fetched once (no redirects, short timeouts, a size cap), then validated:
   each certificate within its validity period, each signed by the next, the last one issued by a
   configured trust root (the public roots of ``certifi`` by default, the sandbox's own CA in
   tests), and the signing certificate's common name PayPal's (``messageverificationcerts`` under
   ``paypal.com``, the rule PayPal's SDKs apply). The validated public key is cached per URL until the
   certificate expires or a day passes, whichever is sooner;
3. the transmission time must be within the tolerance of our clock (replays are refused);
4. the signature must verify (RSA PKCS#1 v1.5, SHA-256) for one of the channel's webhook ids.

When the certificate cannot be had at all (PayPal's cert host unreachable, no trust root
configured), the channel may fall back to PayPal's own check, ``POST
/v1/notifications/verify-webhook-signature`` (:func:`verify_by_postback`), which needs the app's
client credentials. A signature that fails locally is never sent to the post-back: a failure is a
failure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from connectors.base import ConnectorError, MalformedPayload, SignatureInvalid, WebhookRequest
from connectors.http import VendorHTTP

from .api import PayPalAPI

__all__ = [
    "AUTH_ALGO",
    "DEFAULT_TOLERANCE",
    "PAYPAL_CERT_ORIGINS",
    "CertificateUnavailable",
    "CertificateVerifier",
    "Transmission",
    "check_cert_url",
    "clear_certificate_cache",
    "signed_message",
    "verify_by_postback",
]

AUTH_ALGO = "SHA256withRSA"
#: Seconds a transmission time may differ from our clock. PayPal re-signs every retry (a new
#: transmission id and time), so only a replayed delivery is ever this old.
DEFAULT_TOLERANCE = 600
#: The hosts PayPal serves webhook signing certificates from (live and sandbox).
PAYPAL_CERT_ORIGINS = frozenset(
    {
        "https://api.paypal.com",
        "https://api-m.paypal.com",
        "https://api.sandbox.paypal.com",
        "https://api-m.sandbox.paypal.com",
    }
)
CERT_PATH_PREFIX = "/v1/notifications/certs/"
MAX_CERT_BYTES = 64 * 1024  # a PEM chain is a few kilobytes
MAX_CHAIN = 5
CACHE_SECONDS = 86400.0
_FETCH_TIMEOUT = (3.0, 10.0)


class CertificateUnavailable(Exception):
    """The signing certificate could not be obtained (network, HTTP error, no trust root): local
    verification cannot be done, so the post-back fallback may be tried."""


@dataclass(frozen=True)
class Transmission:
    """The signature headers of one delivery."""

    transmission_id: str
    transmission_time: str
    signature: str
    cert_url: str
    auth_algo: str

    @classmethod
    def from_request(cls, request: WebhookRequest) -> Transmission:
        """Read the five headers; :class:`SignatureInvalid` names the first one missing."""
        values = {}
        for name in ("ID", "TIME", "SIG"):
            value = request.header(f"PAYPAL-TRANSMISSION-{name}").strip()
            if not value:
                raise SignatureInvalid(f"missing PAYPAL-TRANSMISSION-{name} header")
            values[name] = value
        cert_url = request.header("PAYPAL-CERT-URL").strip()
        if not cert_url:
            raise SignatureInvalid("missing PAYPAL-CERT-URL header")
        algo = request.header("PAYPAL-AUTH-ALGO").strip()
        if not algo:
            raise SignatureInvalid("missing PAYPAL-AUTH-ALGO header")
        return cls(values["ID"], values["TIME"], values["SIG"], cert_url, algo)

    def sent_at(self) -> datetime:
        """The transmission time as an aware datetime."""
        raw = self.transmission_time
        if raw.endswith(("Z", "z")):
            raw = raw[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise SignatureInvalid(
                f"PAYPAL-TRANSMISSION-TIME {self.transmission_time!r} is not a time"
            ) from exc
        if parsed.tzinfo is None:
            raise SignatureInvalid("PAYPAL-TRANSMISSION-TIME has no time zone")
        return parsed


def signed_message(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    """The string PayPal signs: ids, time and the body's CRC32 as an unsigned decimal."""
    crc = zlib.crc32(body) & 0xFFFFFFFF
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{crc}".encode()


def check_cert_url(url: str, extra_origins: Iterable[str] = ()) -> str:
    """Return ``url`` if it is a PayPal certificate URL, else raise :class:`SignatureInvalid`.

    Only exact origins are accepted (scheme, host and port): PayPal's HTTPS API hosts, plus any
    origin the channel's settings add for a sandbox. Nothing is ever fetched from another URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SignatureInvalid("PAYPAL-CERT-URL is not a URL") from exc
    if parts.username or parts.password or parts.query or parts.fragment:
        raise SignatureInvalid("PAYPAL-CERT-URL carries credentials, a query or a fragment")
    host = (parts.hostname or "").lower()
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port and port != default_port else "")
    allowed = set(PAYPAL_CERT_ORIGINS) | {o.rstrip("/").lower() for o in extra_origins if o}
    if origin not in allowed:
        raise SignatureInvalid(
            f"PAYPAL-CERT-URL host {host or '?'} is not PayPal's: refused without fetching"
        )
    if not parts.path.startswith(CERT_PATH_PREFIX) or ".." in parts.path:
        raise SignatureInvalid("PAYPAL-CERT-URL is not a PayPal certificate path")
    return url


def _is_paypal_signing_name(cert: x509.Certificate) -> bool:
    """The rule PayPal's SDKs apply: a common name ``messageverificationcerts...paypal.com``."""
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return any(
        isinstance(n, str) and n.startswith("messageverificationcerts") and n.endswith(".paypal.com")
        for n in names
    )


def _load_chain(pem: bytes) -> list[x509.Certificate]:
    """The PEM chain served at the cert URL; refused when empty, unreadable or too long."""
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise SignatureInvalid("the certificate at PAYPAL-CERT-URL is not a PEM certificate chain") from exc
    if not chain or len(chain) > MAX_CHAIN:
        raise SignatureInvalid("the certificate chain at PAYPAL-CERT-URL is empty or too long")
    return chain


def _within(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``cert`` and the names chain."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def validate_chain(
    chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], now: datetime
) -> rsa.RSAPublicKey:
    """The signing certificate's public key once the chain is proven up to a trust root.

    Raises :class:`SignatureInvalid` for an expired certificate, a broken link, an untrusted root
    or a signing certificate that is not PayPal's."""
    leaf = chain[0]
    if not _is_paypal_signing_name(leaf):
        raise SignatureInvalid("the signing certificate is not issued to PayPal's message verification name")
    current = leaf
    intermediates = list(chain[1:])
    for _ in range(MAX_CHAIN + 1):
        if not _within(current, now):
            raise SignatureInvalid("a certificate of the PayPal chain is expired or not yet valid")
        for root in roots:
            if root.subject == current.issuer and _within(root, now) and _issued_by(current, root):
                key = leaf.public_key()
                if not isinstance(key, rsa.RSAPublicKey):
                    raise SignatureInvalid("the signing certificate does not carry an RSA key")
                return key
        issuer = next(
            (
                c
                for c in intermediates
                if c.subject == current.issuer and _is_ca(c) and _issued_by(current, c)
            ),
            None,
        )
        if issuer is None:
            raise SignatureInvalid("the PayPal certificate chain does not lead to a trusted root")
        intermediates.remove(issuer)
        current = issuer
    raise SignatureInvalid("the PayPal certificate chain is too long")


@dataclass
class _Cached:
    """A validated signing key and when it stops being trusted without a new fetch."""

    key: rsa.RSAPublicKey
    expires_at: float


_cache: dict[tuple[str, str], _Cached] = {}
_cache_lock = threading.Lock()


def clear_certificate_cache() -> None:
    """Forget every validated certificate (tests; a key compromise announced by PayPal)."""
    with _cache_lock:
        _cache.clear()


@dataclass
class CertificateVerifier:
    """Local verification: allowed cert URL, validated chain, cached key, RSA-SHA256 signature.

    ``roots_pem`` holds the trust roots (PEM; ``certifi``'s bundle when empty). ``fetches`` counts
    the certificates actually downloaded, so tests can show the cache at work."""

    extra_origins: tuple[str, ...] = ()
    roots_pem: bytes = b""
    tolerance: int = DEFAULT_TOLERANCE
    session: requests.Session | None = None
    fetches: list[str] = field(default_factory=list)

    def _roots(self) -> list[x509.Certificate]:
        """The trust anchors: the channel's PEM, else the public roots of ``certifi``."""
        pem = self.roots_pem
        if not pem:
            try:
                import certifi

                with open(certifi.where(), "rb") as fh:
                    pem = fh.read()
            except (ImportError, OSError) as exc:
                raise CertificateUnavailable("no trust roots are available to check PayPal's chain") from exc
        try:
            return x509.load_pem_x509_certificates(pem)
        except ValueError as exc:
            raise CertificateUnavailable("the configured trust roots are not PEM certificates") from exc

    def public_key(self, cert_url: str, now: datetime) -> rsa.RSAPublicKey:
        """The validated key for a (checked) cert URL, from the cache or freshly fetched."""
        cache_key = (cert_url, hashlib.sha256(self.roots_pem).hexdigest())
        with _cache_lock:
            hit = _cache.get(cache_key)
            if hit is not None and hit.expires_at > time.monotonic():
                return hit.key
        pem = self._fetch(cert_url)
        chain = _load_chain(pem)
        key = validate_chain(chain, self._roots(), now)
        lifetime = min(CACHE_SECONDS, (chain[0].not_valid_after_utc - now).total_seconds())
        with _cache_lock:
            _cache[cache_key] = _Cached(key, time.monotonic() + max(lifetime, 0.0))
        return key

    def _fetch(self, url: str) -> bytes:
        """GET the chain once: no redirects, short timeouts, a size cap; "cannot tell" on failure."""
        parts = urlsplit(url)
        session = self.session or requests.Session()
        session.max_redirects = 0  # a redirect could lead anywhere: the allow-list covers one URL only
        client = VendorHTTP(
            vendor="paypal",
            base_url=f"{parts.scheme}://{parts.netloc}",
            connection_key=f"certs:{parts.netloc}",
            timeout=_FETCH_TIMEOUT,
            session=session,
        )
        self.fetches.append(url)
        try:
            response = client.request("GET", url, raise_for_status=False)
        except (ConnectorError, requests.RequestException) as exc:
            raise CertificateUnavailable(
                f"could not fetch PayPal's certificate ({type(exc).__name__})"
            ) from exc
        if response.status_code != 200:
            raise CertificateUnavailable(f"PayPal's certificate URL answered HTTP {response.status_code}")
        if len(response.content) > MAX_CERT_BYTES:
            raise SignatureInvalid("the document at PAYPAL-CERT-URL is too large to be a certificate chain")
        return bytes(response.content)

    def verify(
        self, request: WebhookRequest, webhook_ids: Sequence[str], *, check_time: bool = True
    ) -> Transmission:
        """Verify one delivery locally; :class:`CertificateUnavailable` means "cannot tell"."""
        transmission = Transmission.from_request(request)
        if transmission.auth_algo != AUTH_ALGO:
            raise SignatureInvalid(f"PAYPAL-AUTH-ALGO {transmission.auth_algo!r} is not {AUTH_ALGO}")
        if not webhook_ids:
            raise SignatureInvalid("no PayPal webhook id is configured for this channel")
        check_cert_url(transmission.cert_url, self.extra_origins)
        now = _aware(request.received_at)
        if check_time:
            check_transmission_time(transmission, now, self.tolerance)
        try:
            signature = base64.b64decode(transmission.signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SignatureInvalid("PAYPAL-TRANSMISSION-SIG is not base64") from exc
        key = self.public_key(transmission.cert_url, now)
        for webhook_id in webhook_ids:
            message = signed_message(
                transmission.transmission_id, transmission.transmission_time, webhook_id, request.body
            )
            try:
                key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                continue
            return transmission
        raise SignatureInvalid("the signature does not match the body for any configured webhook id")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def check_transmission_time(transmission: Transmission, now: datetime, tolerance: int) -> None:
    """Refuse a transmission time further than ``tolerance`` seconds from ``now`` either way."""
    age = (now - transmission.sent_at()).total_seconds()
    if age > tolerance:
        raise SignatureInvalid(
            f"transmission time is {age:.0f} s old (tolerance {tolerance} s): possible replay"
        )
    if age < -tolerance:
        raise SignatureInvalid(
            f"transmission time is {-age:.0f} s in the future (tolerance {tolerance} s): skew or forgery"
        )


def verify_by_postback(
    api: PayPalAPI, request: WebhookRequest, webhook_ids: Sequence[str], transmission: Transmission
) -> None:
    """Ask PayPal (``POST /v1/notifications/verify-webhook-signature``) whether the delivery is
    genuine, for each webhook id until one is confirmed; :class:`SignatureInvalid` otherwise.

    The event goes back byte for byte: the request body is assembled around the raw body, because
    re-serialising parsed JSON can change it (key order, number spelling) and PayPal checks the
    signature against what it sent."""
    try:
        json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureInvalid("the webhook body is not JSON") from exc
    for webhook_id in webhook_ids:
        fields = {
            "auth_algo": transmission.auth_algo,
            "cert_url": transmission.cert_url,
            "transmission_id": transmission.transmission_id,
            "transmission_sig": transmission.signature,
            "transmission_time": transmission.transmission_time,
            "webhook_id": webhook_id,
        }
        head = json.dumps(fields)[:-1].encode()
        body = head + b', "webhook_event": ' + request.body.strip() + b"}"
        try:
            answer: Mapping[str, object] = api.post("/v1/notifications/verify-webhook-signature", body)
        except ConnectorError as exc:
            raise SignatureInvalid(
                f"PayPal's verify-webhook-signature could not confirm the delivery: {exc.vendor_message}"
            ) from exc
        except MalformedPayload as exc:
            raise SignatureInvalid(
                f"PayPal's verify-webhook-signature answered something unreadable: {exc}"
            ) from exc
        if answer.get("verification_status") == "SUCCESS":
            return
    raise SignatureInvalid(
        "PayPal's verify-webhook-signature answered FAILURE for every configured webhook id"
    )
