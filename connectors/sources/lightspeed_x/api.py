"""A small read-only client of the Lightspeed X-Series API 2.0 over :class:`connectors.http.VendorHTTP`.

Every call carries ``Authorization: Bearer <token>`` (a personal token or an add-on's OAuth access
token). Bodies are read with ``parse_float=Decimal``: X-Series sends money as JSON numbers.

Paging. Collections (``/sales``, ``/outlets``, ``/registers``, ...) answer
``{"data": [...], "version": {"min": .., "max": ..}}`` in increasing ``version`` order; the next
page is asked for with ``after=<version.max>`` and an empty ``data`` ends the walk. Versions only
grow (every change of an object gives it a new, higher version), so a walk that starts after a
version misses nothing changed since.

Limits. The vendor allows 300 requests per register plus 50 in any 5 minutes and answers 429 with
``Retry-After`` when an application goes faster. :func:`rate_limit` turns that budget into a
steady per-minute pace for our limiter (a fifth of the 5-minute budget each minute, so no 5-minute
window can ever exceed it); a 429 still blocks the connection for ``Retry-After``, and reads are
retried here a few times before the error goes up to the worker.

Errors are classified from X-Series' ``{"error": "...", "details": ...}`` bodies: 401 ->
:class:`AuthExpired`, 404 -> :class:`XSeriesNotFound`, other 4xx -> :class:`Permanent` with the
vendor's message, 5xx -> :class:`Retryable`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import requests

from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited, Retryable, Uncertain
from connectors.http import RateLimit, VendorHTTP

__all__ = ["PAGE_SIZE", "XSeriesAPI", "XSeriesNotFound", "base_url_for", "rate_limit"]

#: Sales per page: small enough that progress moves on a big back-fill.
PAGE_SIZE = 200
_ATTEMPTS = 5
#: Longest Retry-After sat out inside one call; longer ones go to the worker's backoff.
_MAX_INLINE_WAIT = 60.0

T = TypeVar("T")


class XSeriesNotFound(Permanent):
    """X-Series answered 404 (an object that does not exist, or not for this account)."""


def rate_limit(registers: int) -> RateLimit:
    """Our pace for an account with ``registers`` registers: (300 x registers + 50) per 5 minutes,
    spread evenly (a fifth per minute)."""
    budget = 300 * max(1, registers) + 50
    return RateLimit(per_minute=max(1, budget // 5))


def base_url_for(domain_prefix: str) -> str:
    """The store's API host for a domain prefix (``kente`` -> https://kente.retail.lightspeed.app)."""
    return f"https://{domain_prefix}.retail.lightspeed.app"


class XSeriesAPI:
    """Authenticated reads against one X-Series store."""

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str,
        connection_key: str,
        registers: int = 1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = VendorHTTP(
            vendor="lightspeed_x",
            base_url=base_url,
            connection_key=connection_key,
            rate_limit=rate_limit(registers),
            default_headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        self._sleep = sleep

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET one resource or page under ``/api/2.0`` and return its JSON object."""
        return self._retrying(lambda: self._send(path, params))

    def version_pages(
        self,
        path: str,
        *,
        after: int = 0,
        page_size: int = PAGE_SIZE,
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[tuple[list[Any], int]]:
        """Yield (items, version.max) per page of a versioned collection, from ``after`` on."""
        cursor = after
        while True:
            query = {**(params or {}), "after": cursor, "page_size": page_size}
            page = self.get(path, query)
            items = page.get("data") or []
            if not isinstance(items, list):
                raise MalformedPayload(f"lightspeed_x: {path} answered data that is not a list")
            if not items:
                return
            top = _max_version(page, items)
            if top <= cursor:
                # A server handing back versions at or below the cursor would loop forever.
                raise MalformedPayload(f"lightspeed_x: {path} did not move past version {cursor}")
            yield items, top
            cursor = top

    # -- internals ---------------------------------------------------------------------------

    def _retrying(self, call: Callable[[], T]) -> T:
        """Repeat a read on 429 / 5xx / a lost answer, honouring Retry-After; then give up upward."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return call()
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if attempt == _ATTEMPTS or wait > _MAX_INLINE_WAIT:
                    raise
                self._sleep(wait)  # VendorHTTP also blocks the limiter until then
            except (Retryable, Uncertain) as exc:
                if attempt == _ATTEMPTS:
                    raise Retryable(
                        str(exc), vendor_code=exc.vendor_code, vendor_message=exc.vendor_message
                    ) from exc
                self._sleep(random.uniform(0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, path: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        full = path if path.startswith("/api/") else f"/api/2.0/{path.lstrip('/')}"
        response = self.http.request("GET", full, params=params, raise_for_status=False)
        return _classify(response, f"GET {full}")


def _max_version(page: Mapping[str, Any], items: list[Any]) -> int:
    version = page.get("version")
    if isinstance(version, Mapping) and version.get("max") is not None:
        return int(version["max"])
    found = [int(i["version"]) for i in items if isinstance(i, Mapping) and i.get("version") is not None]
    if not found:
        raise MalformedPayload("lightspeed_x: a page without versions cannot be followed")
    return max(found)


def _classify(response: requests.Response, what: str) -> dict[str, Any]:
    """An X-Series answer as its JSON object, or the right error of the taxonomy."""
    status = response.status_code
    message = _error_message(response.content) or response.reason or str(status)
    if status >= 500:
        raise Retryable(
            f"lightspeed_x: server error {status} on {what}", vendor_code=str(status), vendor_message=message
        )
    if status == 401:
        raise AuthExpired(
            f"lightspeed_x: the access token was refused on {what}", vendor_code="401", vendor_message=message
        )
    if status == 404:
        raise XSeriesNotFound(f"lightspeed_x: not found: {what}", vendor_code="404", vendor_message=message)
    if status >= 400:
        raise Permanent(f"lightspeed_x: {status} on {what}", vendor_code=str(status), vendor_message=message)
    try:
        data = json.loads(response.content or b"{}", parse_float=Decimal)
    except ValueError as exc:
        raise Retryable(f"lightspeed_x: {what} answered {status} with a body that is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedPayload(f"lightspeed_x: {what} did not answer a JSON object")
    return data


def _error_message(content: bytes) -> str:
    """X-Series' error text: ``{"error": "...", "details": "..."}``."""
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error, details = body.get("error"), body.get("details")
    parts = [str(p) for p in (error, details) if p]
    return ": ".join(parts)
