"""How we authenticate to Magento's REST API: three ways, chosen by what the channel holds.

1. **Integration, OAuth 1.0a** (``consumer_key``, ``consumer_secret``, ``access_token``,
   ``access_token_secret``: the four values Magento shows when an integration is activated).
   Every request is signed (HMAC-SHA256, RFC 5849). This works on every Magento 2.4 without
   changing its configuration, so it is the recommended way.
2. **Integration token as a bearer** (``access_token`` alone): Magento 2.4.4+ refuses it unless
   the store enables "Allow OAuth Access Tokens to be used as standalone Bearer tokens".
3. **Admin user** (``admin_username``, ``admin_password``): ``POST /V1/integration/admin/token``
   gives a bearer token that lives 4 hours by default (``admin_token_lifetime_minutes``). The
   token is shared by every source of the same store in this process and renewed 10 minutes
   before it expires; a 401 renews it once. Stores with two-factor authentication refuse this
   endpoint: use an integration instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

__all__ = [
    "AdminTokenCache",
    "IntegrationKeys",
    "auth_mode",
    "oauth1_header",
    "oauth1_signature",
    "percent_encode",
]

ADMIN_TOKEN_LIFETIME_MINUTES = 240
RENEW_MARGIN_SECONDS = 600.0


def auth_mode(credentials: Mapping[str, Any]) -> str:
    """``oauth1``, ``admin``, ``bearer`` or ``none``, from which credentials are present."""
    if all(
        credentials.get(k) for k in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    ):
        return "oauth1"
    if credentials.get("admin_username") and credentials.get("admin_password"):
        return "admin"
    if credentials.get("access_token"):
        return "bearer"
    return "none"


def percent_encode(value: str) -> str:
    """RFC 5849 section 3.6: unreserved characters stay, everything else is %XX (UTF-8)."""
    return quote(value, safe="-._~")


def _normalized_parameters(params: list[tuple[str, str]]) -> str:
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    netloc = host if port is None or default else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path}"


def oauth1_signature(
    method: str, url: str, params: list[tuple[str, str]], consumer_secret: str, token_secret: str
) -> str:
    """The HMAC-SHA256 signature of a request: the base string is the method, the URL without
    its query, and every query and ``oauth_*`` parameter (RFC 5849 section 3.4)."""
    base = "&".join(
        (method.upper(), percent_encode(_base_url(url)), percent_encode(_normalized_parameters(params)))
    )
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class IntegrationKeys:
    """The four values of an activated Magento integration."""

    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str


def oauth1_header(
    method: str,
    url: str,
    query: Mapping[str, Any] | list[tuple[str, str]] | None,
    keys: IntegrationKeys,
    *,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """The ``Authorization: OAuth ...`` header for one request. ``url`` may already carry a query
    (its parameters are signed too); ``query`` is what the client will add to it."""
    params = list(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    items = query.items() if isinstance(query, Mapping) else (query or [])
    params += [(str(k), str(v)) for k, v in items]
    oauth = {
        "oauth_consumer_key": keys.consumer_key,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_token": keys.access_token,
        "oauth_version": "1.0",
    }
    signature = oauth1_signature(
        method, url, params + list(oauth.items()), keys.consumer_secret, keys.access_token_secret
    )
    oauth["oauth_signature"] = signature
    return "OAuth " + ", ".join(f'{k}="{percent_encode(v)}"' for k, v in oauth.items())


class AdminTokenCache:
    """Admin bearer tokens per store and user, shared in the process (module docstring).

    ``clock`` is injectable so tests can move time forward by hours without waiting."""

    _tokens: dict[str, tuple[str, float]] = {}
    _lock = threading.Lock()
    clock: Callable[[], float] = staticmethod(time.monotonic)

    @classmethod
    def get(cls, key: str, lifetime_seconds: float) -> str | None:
        """A cached token that still has more than the renewal margin to live, else None."""
        with cls._lock:
            found = cls._tokens.get(key)
            if found is None:
                return None
            token, obtained = found
            if cls.clock() - obtained >= max(lifetime_seconds - RENEW_MARGIN_SECONDS, 0):
                del cls._tokens[key]
                return None
            return token

    @classmethod
    def put(cls, key: str, token: str) -> None:
        """Remember a fresh token."""
        with cls._lock:
            cls._tokens[key] = (token, cls.clock())

    @classmethod
    def forget(cls, key: str, token: str | None = None) -> None:
        """Drop a token Magento refused (only that one, if another thread already renewed it)."""
        with cls._lock:
            found = cls._tokens.get(key)
            if found is not None and (token is None or found[0] == token):
                del cls._tokens[key]

    @classmethod
    def clear(cls) -> None:
        """Forget every token (tests)."""
        with cls._lock:
            cls._tokens.clear()
