"""A small read-only Clover REST client over :class:`connectors.http.VendorHTTP`.

Every call carries ``Authorization: Bearer <token>`` (a merchant's OAuth access token or API token)
and reads one merchant: ``/v3/merchants/{mId}/...``. Clover's limits (its "API usage and rate
limits" page) are 50 requests a second per app and 16 per token, with 5 requests in flight per
token; we pace ourselves below the per-token figures. Clover answers 429 when a limit is hit, with a
``Retry-After`` only for the concurrency limits, so a 429 without one is waited out with a doubling
pause (1 s, 2 s, 4 s ...), as Clover's guidance says.

Errors are classified from Clover's ``{"message": "..."}`` bodies:

* 429 -> retried here (reads are safe to repeat), then :class:`RateLimited`;
* 5xx -> :class:`Retryable`, retried here with jittered backoff;
* 401 -> :class:`AuthExpired` (token revoked or the app uninstalled);
* 404 -> :class:`CloverNotFound` (a deleted order answers 404);
* other 4xx -> :class:`Permanent` with Clover's message (e.g. a filter window over 90 days).

Lists are paged with ``limit`` (at most 1000) and ``offset``; a page shorter than ``limit`` is the
last. Orders and payments must be read in windows of at most 90 days (``filter=modifiedTime>=..``
and ``filter=modifiedTime<=..``): Clover refuses wider or unfiltered reads.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import requests

from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited, Retryable, Uncertain
from connectors.http import RateLimit, VendorHTTP

__all__ = ["DEFAULT_BASE_URL", "PAGE_LIMIT", "RATE_LIMIT", "CloverAPI", "CloverNotFound"]

DEFAULT_BASE_URL = "https://api.clover.com"
#: Per-token limits: 16 requests a second, 5 in flight.
RATE_LIMIT = RateLimit(per_second=16, concurrent=5)
#: Clover's largest page.
PAGE_LIMIT = 1000
_ATTEMPTS = 6
_MAX_INLINE_WAIT = 60.0

T = TypeVar("T")


class CloverNotFound(Permanent):
    """Clover answered 404: the object was deleted, or belongs to another merchant."""


class CloverAPI:
    """Authenticated reads against one Clover merchant."""

    def __init__(
        self,
        *,
        access_token: str,
        merchant_id: str,
        base_url: str,
        connection_key: str,
        rate_limit: RateLimit = RATE_LIMIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.merchant_id = merchant_id
        self.http = VendorHTTP(
            vendor="clover",
            base_url=base_url or DEFAULT_BASE_URL,
            connection_key=connection_key,
            rate_limit=rate_limit,
            default_headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            # No Retry-After means "pause 1 s, then double" (Clover's guidance, done in _retrying);
            # the connection must not be blocked for VendorHTTP's generic 60 s meanwhile.
            default_retry_after=0.0,
        )
        self._sleep = sleep

    def path(self, resource: str) -> str:
        """``/v3/merchants/{mId}/<resource>``."""
        return f"/v3/merchants/{self.merchant_id}/{resource.lstrip('/')}"

    def get(self, resource: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None) -> Any:
        """GET one merchant resource and return its JSON."""
        return self._retrying(lambda: self._send(self.path(resource), params))

    def pages(
        self, resource: str, params: Sequence[tuple[str, Any]], *, limit: int = 100
    ) -> Iterator[list[Any]]:
        """Yield the ``elements`` of each page of a list, following ``offset`` until a short page.

        ``params`` is a list of pairs because Clover repeats ``filter`` (one per condition)."""
        if not 1 <= limit <= PAGE_LIMIT:
            raise ValueError(f"clover: page limit must be 1..{PAGE_LIMIT}")
        offset = 0
        while True:
            page = self.get(resource, [*params, ("limit", limit), ("offset", offset)])
            elements = page.get("elements", []) if isinstance(page, Mapping) else None
            if not isinstance(elements, list):
                raise MalformedPayload(f"clover: {resource} answered without an elements list")
            yield elements
            if len(elements) < limit:
                return
            offset += len(elements)

    # -- internals ---------------------------------------------------------------------------

    def _retrying(self, call: Callable[[], T]) -> T:
        """Repeat a read on 429 / 5xx / lost answer; Clover's doubling pause when no Retry-After."""
        pause = 1.0
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return call()
            except RateLimited as exc:
                wait = exc.retry_after or pause  # 0 / None: the 429 carried no Retry-After
                pause *= 2
                if attempt == _ATTEMPTS or wait > _MAX_INLINE_WAIT:
                    raise
                self._sleep(wait)
            except (Retryable, Uncertain) as exc:
                if attempt == _ATTEMPTS:
                    raise Retryable(
                        str(exc), vendor_code=exc.vendor_code, vendor_message=exc.vendor_message
                    ) from exc
                self._sleep(random.uniform(0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, path: str, params: Any) -> Any:
        response = self.http.request("GET", path, params=params, raise_for_status=False)
        return _classify(response, f"GET {path}")


def _classify(response: requests.Response, what: str) -> Any:
    """Clover's answer as JSON, or the right error of the taxonomy."""
    status = response.status_code
    message = _message(response.content) or response.reason or ""
    if status >= 500:
        raise Retryable(
            f"clover: server error {status} on {what}", vendor_code=str(status), vendor_message=message
        )
    if status == 401:
        raise AuthExpired(
            f"clover: the access token was refused on {what}; connect the merchant again",
            vendor_code="401",
            vendor_message=message,
        )
    if status == 404:
        raise CloverNotFound(f"clover: not found: {what}", vendor_code="404", vendor_message=message)
    if status >= 400:
        raise Permanent(
            f"clover: {status} on {what}: {message}", vendor_code=str(status), vendor_message=message
        )
    try:
        return json.loads(response.content or b"{}")
    except ValueError as exc:
        raise Retryable(f"clover: {what} answered {status} with a body that is not JSON") from exc


def _message(content: bytes) -> str:
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        return str(body.get("message") or "")
    return ""
