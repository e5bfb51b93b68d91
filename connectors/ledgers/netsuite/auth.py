"""NetSuite authentication: token-based authentication (OAuth 1.0a, HMAC-SHA256), the SOAP token
passport, and the per-account OAuth 2.0 provider.

TBA (REST). Every request carries ``Authorization: OAuth realm="<ACCOUNT>", oauth_consumer_key=..,
oauth_token=.., oauth_signature_method="HMAC-SHA256", oauth_timestamp=.., oauth_nonce=..,
oauth_version="1.0", oauth_signature=..``. The signature base string is
``METHOD&enc(url without query)&enc(sorted, encoded parameters)`` where the parameters are the
``oauth_*`` fields and the query parameters; ``realm`` is **not** part of it. The key is
``enc(consumer_secret)&enc(token_secret)``.

Token passport (SOAP). ``<tokenPassport>`` holds account, consumer key, token, nonce, timestamp
and a signature over ``account&consumerKey&token&nonce&timestamp`` with the same key.

Account ids: a sandbox account is ``123456_SB1`` in the realm and the passport, ``123456-sb1`` in
host names (lower case, ``_`` as ``-``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from connectors.auth import OAuth2Provider

__all__ = [
    "TbaCredentials",
    "TokenPassport",
    "account_host",
    "netsuite_oauth2_provider",
    "oauth1_base_string",
    "oauth1_header",
    "parse_oauth1_header",
    "percent",
    "token_passport",
]


def percent(value: str) -> str:
    """RFC 3986 percent-encoding as OAuth 1.0a requires (only unreserved characters stay)."""
    return quote(value, safe="-._~")


def account_host(account_id: str) -> str:
    """The account id as NetSuite writes it in host names (``123456_SB1`` -> ``123456-sb1``)."""
    return account_id.lower().replace("_", "-")


@dataclass(frozen=True)
class TbaCredentials:
    """An integration record's consumer key/secret and an access token's id/secret."""

    account_id: str
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str

    @property
    def signing_key(self) -> bytes:
        """``enc(consumer_secret)&enc(token_secret)``."""
        return f"{percent(self.consumer_secret)}&{percent(self.token_secret)}".encode()


def oauth1_base_string(method: str, url: str, oauth_params: dict[str, str]) -> str:
    """The signature base string: method, URL without query, and every parameter (the ``oauth_*``
    fields and the query's), sorted by encoded name then value. ``realm`` is never included."""
    parts = urlsplit(url)
    base_url = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    pairs = [(percent(k), percent(v)) for k, v in oauth_params.items() if k != "realm"]
    pairs += [(percent(k), percent(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    normalized = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    return "&".join((method.upper(), percent(base_url), percent(normalized)))


def _sign(key: bytes, message: str) -> str:
    return base64.b64encode(hmac.new(key, message.encode(), hashlib.sha256).digest()).decode()


def oauth1_header(
    creds: TbaCredentials, method: str, url: str, *, nonce: str = "", timestamp: int | None = None
) -> str:
    """The ``Authorization`` header of one REST request (a fresh nonce and timestamp each call)."""
    params = {
        "oauth_consumer_key": creds.consumer_key,
        "oauth_token": creds.token_id,
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_version": "1.0",
    }
    params["oauth_signature"] = _sign(creds.signing_key, oauth1_base_string(method, url, params))
    fields = [f'realm="{creds.account_id}"'] + [f'{k}="{percent(v)}"' for k, v in params.items()]
    return "OAuth " + ", ".join(fields)


def parse_oauth1_header(header: str) -> dict[str, str]:
    """The fields of an ``OAuth ...`` header, decoded (for the sandbox's verification)."""
    from urllib.parse import unquote

    if not header.startswith("OAuth "):
        return {}
    out: dict[str, str] = {}
    for part in header[6:].split(","):
        name, _, value = part.strip().partition("=")
        out[name] = unquote(value.strip('"'))
    return out


def verify_oauth1(fields: dict[str, str], creds: TbaCredentials, method: str, url: str) -> bool:
    """Whether a request's header fields carry the right signature for ``creds``."""
    params = {k: v for k, v in fields.items() if k not in ("realm", "oauth_signature")}
    expected = _sign(creds.signing_key, oauth1_base_string(method, url, params))
    return hmac.compare_digest(expected, fields.get("oauth_signature", ""))


@dataclass(frozen=True)
class TokenPassport:
    """The fields of a SOAP ``tokenPassport``."""

    account: str
    consumer_key: str
    token: str
    nonce: str
    timestamp: int
    signature: str
    algorithm: str = "HMAC-SHA256"


def passport_signature(creds: TbaCredentials, nonce: str, timestamp: int) -> str:
    """HMAC-SHA256 over ``account&consumerKey&token&nonce&timestamp``."""
    message = "&".join((creds.account_id, creds.consumer_key, creds.token_id, nonce, str(timestamp)))
    return _sign(creds.signing_key, message)


def token_passport(creds: TbaCredentials, *, nonce: str = "", timestamp: int | None = None) -> TokenPassport:
    """A fresh passport for one SOAP call."""
    nonce = nonce or secrets.token_hex(16)
    stamp = int(time.time()) if timestamp is None else timestamp
    return TokenPassport(
        creds.account_id,
        creds.consumer_key,
        creds.token_id,
        nonce,
        stamp,
        passport_signature(creds, nonce, stamp),
    )


def netsuite_oauth2_provider(
    account_id: str, *, authorize_url: str = "", token_url: str = ""
) -> OAuth2Provider:
    """NetSuite's OAuth 2.0 endpoints are per account (authorization code grant, scopes
    ``rest_webservices``); a sandbox server passes its own addresses."""
    host = account_host(account_id or "account")
    return OAuth2Provider(
        name="netsuite",
        authorize_url=authorize_url or f"https://{host}.app.netsuite.com/app/login/oauth2/authorize.nl",
        token_url=token_url
        or f"https://{host}.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token",
        pkce=True,
        default_scopes=("rest_webservices",),
    )
