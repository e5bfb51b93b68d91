"""A small PayPal REST client over :class:`connectors.http.VendorHTTP`: OAuth 2.0 client credentials,
GETs and the few POSTs the source needs, PayPal's error shape classified once.

Authentication: ``POST /v1/oauth2/token`` with HTTP Basic ``client_id:client_secret`` and
``grant_type=client_credentials`` returns a bearer token valid for ``expires_in`` seconds (about
nine hours). The token is cached per (API host, client id) for the whole process and renewed a
minute before it expires, or at once when PayPal answers 401 to a call made with it.

Errors arrive as ``{"name", "message", "debug_id", "details": [{"issue", "description", ...}]}``
(the OAuth endpoint answers ``{"error", "error_description"}`` instead):

* 429 ``RATE_LIMIT_REACHED`` -> :class:`RateLimited`; a GET is retried a few times after the wait
  (the shared limiter honours ``Retry-After``), so a long back-fill does not restart from page one;
* 5xx -> :class:`Retryable` (retried here with jitter, then raised);
* 401 twice in a row, or a refused client id/secret -> :class:`AuthExpired`;
* 403 ``NOT_AUTHORIZED`` (the app lacks a feature such as Transaction Search) and other 4xx ->
  :class:`Permanent` with PayPal's name, message and the first detail's issue.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests

from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited, Retryable
from connectors.http import RateLimit, VendorHTTP

__all__ = ["DEFAULT_BASE_URL", "RATE_LIMIT", "SANDBOX_BASE_URL", "PayPalAPI", "describe_error"]

DEFAULT_BASE_URL = "https://api-m.paypal.com"
SANDBOX_BASE_URL = "https://api-m.sandbox.paypal.com"
#: PayPal publishes no fixed request rate; it answers 429 when an app goes too fast. This is a
#: polite ceiling for one connection so a back-fill never provokes a block by itself.
RATE_LIMIT = RateLimit(per_second=10)
_ATTEMPTS = 4
_TOKEN_MARGIN = 60.0  # seconds before expiry at which a cached token is renewed

Params = Sequence[tuple[str, object]]


@dataclass
class _Token:
    """A bearer token and the monotonic time it expires."""

    value: str
    expires_at: float


_tokens: dict[tuple[str, str], _Token] = {}
_tokens_lock = threading.Lock()


def describe_error(body: Any, status: int) -> tuple[str, str]:
    """PayPal's error ``(name, message)`` from a decoded error body, in words for a person.

    The first detail's ``issue`` and ``description`` are appended: they say which field was wrong
    (``INVALID_PARAMETER_VALUE: end_date - start_date must be at most 31 days``)."""
    if not isinstance(body, Mapping):
        return str(status), f"HTTP {status}"
    if "error" in body and "name" not in body:  # the OAuth endpoint's shape
        return str(body.get("error") or status), str(body.get("error_description") or body.get("error"))
    name = str(body.get("name") or status)
    message = str(body.get("message") or f"HTTP {status}")
    details = body.get("details")
    if isinstance(details, list) and details and isinstance(details[0], Mapping):
        first = details[0]
        issue = str(first.get("issue") or "")
        description = str(first.get("description") or "")
        field = str(first.get("field") or "")
        extra = ": ".join(x for x in (issue, field, description) if x)
        if extra:
            message = f"{message} ({extra})"
    if body.get("debug_id"):
        message = f"{message} [debug_id {body['debug_id']}]"
    return name, message


def _decode(content: bytes) -> Any:
    try:
        return json.loads(content or b"{}", parse_float=Decimal)
    except ValueError:
        return None


class PayPalAPI:
    """Authenticated calls against one PayPal REST app (client credentials)."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str,
        connection_key: str,
        rate_limit: RateLimit = RATE_LIMIT,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.http = VendorHTTP(
            vendor="paypal",
            base_url=self.base_url,
            connection_key=connection_key,
            rate_limit=rate_limit,
            default_headers={"Accept": "application/json"},
        )

    # -- OAuth -------------------------------------------------------------------------------

    def access_token(self, *, renew: bool = False) -> str:
        """A valid bearer token: the cached one, or a new one from ``/v1/oauth2/token``."""
        key = (self.base_url, self.client_id)
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached is not None and not renew and cached.expires_at - _TOKEN_MARGIN > time.monotonic():
                return cached.value
        try:
            response = self.http.request(
                "POST",
                "/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": _basic(self.client_id, self._client_secret)},
                raise_for_status=False,
            )
        except requests.RequestException as exc:  # anything VendorHTTP did not classify
            raise Retryable(f"paypal: the token request failed ({type(exc).__name__})") from exc
        body = _decode(response.content)
        if response.status_code in (400, 401, 403):
            name, message = describe_error(body, response.status_code)
            raise AuthExpired(
                "PayPal refused the app's client id and secret: enter them again from the PayPal "
                "developer dashboard",
                vendor_code=name,
                vendor_message=message,
            )
        if response.status_code >= 500:
            raise Retryable(f"paypal: token endpoint answered {response.status_code}")
        if response.status_code >= 300 or not isinstance(body, Mapping) or not body.get("access_token"):
            raise Permanent(f"paypal: unexpected answer {response.status_code} from /v1/oauth2/token")
        expires_in = float(body.get("expires_in") or 0)
        token = _Token(str(body["access_token"]), time.monotonic() + expires_in)
        with _tokens_lock:
            _tokens[key] = token
        return token.value

    # -- calls -------------------------------------------------------------------------------

    def get(self, path: str, params: Params = ()) -> dict[str, Any]:
        """GET one resource or one page; safe to repeat, so retried on 429 and 5xx."""
        url = f"{path}?{urlencode(list(params))}" if params else path
        return self._call("GET", url, None)

    def post(self, path: str, body: bytes) -> dict[str, Any]:
        """POST a JSON body given as bytes (the caller builds it: the webhook post-back must carry
        the event exactly as received). Only read-only POSTs use this, so a retry is harmless."""
        return self._call("POST", path, body)

    def _call(self, method: str, url: str, body: bytes | None) -> dict[str, Any]:
        """One call with retries: 429 and 5xx waited out, a refused token renewed once."""
        renewed = False
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return self._once(method, url, body)
            except _TokenRefused:
                if renewed:
                    raise AuthExpired(
                        "PayPal refused a fresh access token: the app's credentials were revoked",
                        vendor_code="AUTHENTICATION_FAILURE",
                    ) from None
                renewed = True
                self.access_token(renew=True)
            except RateLimited:
                # VendorHTTP blocked the shared limiter for Retry-After: the next acquire waits.
                if attempt == _ATTEMPTS:
                    raise
            except Retryable:
                if attempt == _ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.25 * 2**attempt))  # jitter, not security
        raise Retryable(f"paypal: {method} {url} kept failing")  # pragma: no cover - loop always returns

    def _once(self, method: str, url: str, body: bytes | None) -> dict[str, Any]:
        """One HTTP exchange, classified into the error taxonomy."""
        headers = {"Authorization": f"Bearer {self.access_token()}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(method, url, data=body, headers=headers, raise_for_status=False)
        except requests.RequestException as exc:  # anything VendorHTTP did not classify
            raise Retryable(f"paypal: {method} {url.split('?')[0]} failed ({type(exc).__name__})") from exc
        status = response.status_code
        decoded = _decode(response.content)
        path = url.split("?")[0]
        if status == 401:
            raise _TokenRefused()
        if status >= 500:
            name, message = describe_error(decoded, status)
            raise Retryable(f"paypal: server error {status} on {method} {path}", vendor_code=name,
                            vendor_message=message)  # fmt: skip
        if status >= 400:
            name, message = describe_error(decoded, status)
            raise Permanent(f"paypal: {status} on {method} {path}", vendor_code=name, vendor_message=message)
        if status == 204:
            return {}
        if not isinstance(decoded, dict):
            raise MalformedPayload(f"paypal: {method} {path} did not answer a JSON object")
        return decoded


class _TokenRefused(Exception):
    """A 401 with a token we believed valid: renew once."""


def _basic(user: str, password: str) -> str:
    raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")
