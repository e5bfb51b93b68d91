"""A read-only Lightspeed Retail (R-Series) API V3 client: OAuth bearer token, leaky bucket, cursor.

* **Auth.** ``Authorization: Bearer <access token>``; the token is short-lived and refreshed through
  :class:`connectors.auth.OAuth2Client` (one refresher at a time, the rotated refresh token saved
  through the channel before use). A 401 refreshes once and repeats the call.
* **Leaky bucket.** Every answer carries ``X-LS-API-Bucket-Level: <level>/<size>`` and
  ``X-LS-API-Drip-Rate: <units a second>``; a GET costs one unit. Before each request the client
  works out, from the last answer, whether one more unit would overflow the bucket and, if so,
  sleeps until enough has dripped out (keeping one unit spare for the shop's own tills). A 429
  anyway (another app of the account filled the bucket) is answered by waiting ``Retry-After``
  seconds and repeating the read.
* **Pagination.** Lists answer ``{"@attributes": {"next": <url>, "previous": <url>}, "<Type>":
  [...]}``; the ``next`` URL (carrying the ``after`` cursor) is followed as given until it is empty.
  ``limit`` is at most 100. A list with one element comes back as an object, not a list.
* **Errors** look like ``{"httpCode": "400", "httpMessage": "Bad Request", "message": "...",
  "errorClass": "..."}``: 401 -> :class:`AuthExpired` after the refresh, 404 -> :class:`LightspeedNotFound`,
  other 4xx -> :class:`Permanent` with Lightspeed's message, 5xx -> :class:`Retryable`.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from connectors.auth import OAuth2Client
from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited, Retryable, Uncertain
from connectors.http import RateLimit, VendorHTTP, parse_retry_after

__all__ = ["DEFAULT_BASE_URL", "PAGE_LIMIT", "Bucket", "LightspeedNotFound", "LightspeedRAPI", "as_list"]

DEFAULT_BASE_URL = "https://api.lightspeedapp.com"
PAGE_LIMIT = 100
_ATTEMPTS = 6
_MAX_INLINE_WAIT = 120.0


class LightspeedNotFound(Permanent):
    """Lightspeed answered 404 for a record."""


def as_list(value: Any) -> list[Any]:
    """A Lightspeed collection as a list: absent -> [], one object -> [object]."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    return [value]


class Bucket:
    """What the last answer said of the account's leaky bucket, and how long to wait before a call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.level = 0.0
        self.size = 0.0
        self.drip = 1.0
        self.seen_at = 0.0
        self.waited = 0.0  # total seconds waited for the bucket (progress messages, tests)

    def update(self, headers: Mapping[str, str]) -> None:
        """Read ``X-LS-API-Bucket-Level`` and ``X-LS-API-Drip-Rate`` of an answer."""
        level = headers.get("X-LS-API-Bucket-Level") or ""
        if "/" in level:
            try:
                used, size = (float(x) for x in level.split("/", 1))
            except ValueError:
                return
            self.level, self.size, self.seen_at = used, size, self.clock()
        with contextlib.suppress(ValueError):
            self.drip = float(headers.get("X-LS-API-Drip-Rate") or self.drip) or 1.0

    def wait_before(self, cost: float = 1.0) -> float:
        """Seconds to wait so that ``cost`` more units fit, keeping one unit spare."""
        if not self.size:
            return 0.0
        drained = (self.clock() - self.seen_at) * self.drip
        level = max(0.0, self.level - drained)
        overflow = level + cost - (self.size - 1)
        return max(0.0, overflow / self.drip)


class LightspeedRAPI:
    """Authenticated reads against one Lightspeed Retail account."""

    def __init__(
        self,
        *,
        oauth: OAuth2Client,
        account_id: str,
        base_url: str,
        connection_key: str,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.oauth = oauth
        self.account_id = account_id
        self.http = VendorHTTP(
            vendor="lightspeed_r",
            base_url=base_url or DEFAULT_BASE_URL,
            connection_key=connection_key,
            rate_limit=RateLimit(),  # the bucket below paces us; VendorHTTP only honours Retry-After
            default_headers={"Accept": "application/json"},
            default_retry_after=1.0,
        )
        self.bucket = Bucket(clock)
        self._sleep = sleep
        self.rate_limited = 0  # 429 answers seen

    def path(self, resource: str) -> str:
        """``/API/V3/Account/{accountID}/<resource>``."""
        return f"/API/V3/Account/{self.account_id}/{resource.lstrip('/')}"

    def get(self, resource_or_url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET one resource (or a ``next`` URL as given) and return its JSON object."""
        target = resource_or_url if resource_or_url.startswith("http") else self.path(resource_or_url)
        return self._retrying(target, params)

    def pages(self, resource: str, params: Mapping[str, Any], key: str) -> Iterator[list[Any]]:
        """Yield each page's ``key`` records, following ``@attributes.next``."""
        query = {**params, "limit": min(int(params.get("limit", PAGE_LIMIT)), PAGE_LIMIT)}
        page = self.get(resource, query)
        seen: set[str] = set()
        while True:
            yield as_list(page.get(key))
            attrs = page.get("@attributes")
            following = str(attrs.get("next") or "") if isinstance(attrs, Mapping) else ""
            if not following:
                return
            if following in seen:
                raise MalformedPayload(f"lightspeed_r: {resource} repeated the page {following}")
            seen.add(following)
            page = self.get(following)

    # -- internals ---------------------------------------------------------------------------

    def _retrying(self, target: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        refreshed = False
        for attempt in range(1, _ATTEMPTS + 1):
            wait = self.bucket.wait_before()
            if wait > 0:
                self.bucket.waited += wait
                self._sleep(wait)
            try:
                return self._send(target, params)
            except _Unauthorized as exc:
                if refreshed:
                    raise AuthExpired(
                        "lightspeed_r: the access token was refused after a refresh; connect the account again",
                        vendor_code="401",
                        vendor_message=exc.message,
                    ) from None
                self.oauth.refresh(exc.token)
                refreshed = True
            except RateLimited as exc:
                self.rate_limited += 1
                pause = exc.retry_after if exc.retry_after else 1.0
                if attempt == _ATTEMPTS or pause > _MAX_INLINE_WAIT:
                    raise
                self._sleep(pause)
            except (Retryable, Uncertain) as exc:
                if attempt == _ATTEMPTS:
                    raise Retryable(
                        str(exc), vendor_code=exc.vendor_code, vendor_message=exc.vendor_message
                    ) from exc
                self._sleep(random.uniform(0, 0.2 * 2**attempt))
        raise Retryable(f"lightspeed_r: GET {target} kept failing")

    def _send(self, target: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        token = self.oauth.access_token()
        try:
            response = self.http.request(
                "GET",
                target,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                raise_for_status=False,
            )
        except RateLimited:
            raise
        self.bucket.update(response.headers)
        if response.status_code == 429:  # pragma: no cover - VendorHTTP raises RateLimited first
            raise RateLimited(
                "lightspeed_r: 429", retry_after=parse_retry_after(response.headers.get("Retry-After"))
            )
        return _classify(response, f"GET {target.split('?')[0]}", token)


class _Unauthorized(Exception):
    def __init__(self, token: str, message: str) -> None:
        super().__init__(message)
        self.token, self.message = token, message


def _classify(response: requests.Response, what: str, token: str) -> dict[str, Any]:
    status = response.status_code
    message = _message(response.content) or response.reason or ""
    if status >= 500:
        raise Retryable(
            f"lightspeed_r: server error {status} on {what}", vendor_code=str(status), vendor_message=message
        )
    if status == 401:
        raise _Unauthorized(token, message)
    if status == 404:
        raise LightspeedNotFound(
            f"lightspeed_r: not found: {what}", vendor_code="404", vendor_message=message
        )
    if status >= 400:
        raise Permanent(
            f"lightspeed_r: {status} on {what}: {message}", vendor_code=str(status), vendor_message=message
        )
    try:
        data = json.loads(response.content or b"{}")
    except ValueError as exc:
        raise Retryable(f"lightspeed_r: {what} answered {status} with a body that is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedPayload(f"lightspeed_r: {what} did not answer a JSON object")
    return data


def _message(content: bytes) -> str:
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        return str(body.get("message") or body.get("httpMessage") or "")
    return ""
