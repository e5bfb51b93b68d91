"""A small read-only client for Squarespace's Commerce APIs over :class:`connectors.http.VendorHTTP`.

* **Headers**: ``Authorization: Bearer <API key or OAuth token>`` and a ``User-Agent`` naming the
  application: Squarespace rejects requests without one and throttles generic ones harder.
* **Rate limit**: 300 requests a minute per site. Over it, Squarespace answers 429 and cools the
  caller down for a minute, without a ``Retry-After``: we pace ourselves below the limit and, on a
  429, wait the cool-down (``cooldown_seconds``, 60 unless a test shortens it) before one retry.
* **Pagination**: ``{"pagination": {"hasNextPage", "nextPageCursor", "nextPageUrl"}}``; the first
  request carries the filters (``modifiedAfter`` and ``modifiedBefore`` go together), follow-ups
  only ``cursor``.
* **Errors**: ``{"type", "subtype", "message", "details", "contextId"}``: 401/403 ->
  :class:`AuthExpired`, 404 -> :class:`SquarespaceNotFound`, other 4xx -> :class:`Permanent`,
  5xx -> :class:`Retryable` (retried here a few times with jitter first).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited, Retryable, Uncertain
from connectors.http import RateLimit, VendorHTTP

__all__ = ["DEFAULT_BASE_URL", "RATE_LIMIT", "SquarespaceAPI", "SquarespaceNotFound"]

DEFAULT_BASE_URL = "https://api.squarespace.com"
#: 300 a minute is Squarespace's limit: keep a margin for the webhooks' follow-up reads.
RATE_LIMIT = RateLimit(per_second=4, per_minute=240)
_ATTEMPTS = 4


class SquarespaceNotFound(Permanent):
    """Squarespace answered 404 (an unknown order or document id)."""


class SquarespaceAPI:
    """Authenticated reads against one Squarespace site."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        connection_key: str,
        user_agent: str,
        rate_limit: RateLimit = RATE_LIMIT,
        cooldown_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = VendorHTTP(
            vendor="squarespace",
            base_url=base_url or DEFAULT_BASE_URL,
            connection_key=connection_key,
            rate_limit=rate_limit,
            default_headers={
                "Authorization": f"Bearer {api_key}",
                "User-Agent": user_agent,
                "Accept": "application/json",
            },
            # Squarespace's 429 carries no Retry-After: its documented cool-down is one minute.
            default_retry_after=cooldown_seconds,
            max_wait=max(30.0, cooldown_seconds + 5),
        )
        self._sleep = sleep

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET one resource or page and return its JSON object."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return self._send(path, params)
            except RateLimited as exc:
                if attempt == _ATTEMPTS:
                    raise
                self._sleep(exc.retry_after if exc.retry_after is not None else 60.0)
            except (Retryable, Uncertain) as exc:
                if attempt == _ATTEMPTS:
                    raise Retryable(
                        str(exc), vendor_code=exc.vendor_code, vendor_message=exc.vendor_message
                    ) from exc
                self._sleep(random.uniform(0, 0.2 * 2**attempt))  # jitter, not security
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(self, path: str, key: str, filters: Mapping[str, Any]) -> Iterator[list[Any]]:
        """Each page's ``key`` list, following ``nextPageCursor`` (alone, as Squarespace wants)."""
        params: Mapping[str, Any] = filters
        seen: set[str] = set()
        while True:
            page = self.get(path, params)
            items = page.get(key)
            if items is None:
                items = []
            if not isinstance(items, list):
                raise MalformedPayload(f"squarespace: {path} answered {key!r} that is not a list")
            yield items
            pagination = page.get("pagination") if isinstance(page.get("pagination"), Mapping) else {}
            assert isinstance(pagination, Mapping)
            cursor = pagination.get("nextPageCursor")
            if not pagination.get("hasNextPage") or not cursor:
                return
            if cursor in seen:  # a server handing back a cursor twice would loop forever
                raise MalformedPayload(f"squarespace: {path} repeated cursor {cursor!r}")
            seen.add(str(cursor))
            params = {"cursor": cursor}

    def _send(self, path: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        response = self.http.request("GET", path, params=params, raise_for_status=False)
        return _classify(response, f"GET {path}")


def _classify(response: requests.Response, what: str) -> dict[str, Any]:
    status = response.status_code
    code, message = _error(response)
    if status >= 500:
        raise Retryable(
            f"squarespace: server error {status} on {what}", vendor_code=code, vendor_message=message
        )
    if status in (401, 403):
        raise AuthExpired(
            f"squarespace: the API key was refused on {what}", vendor_code=code, vendor_message=message
        )
    if status == 404:
        raise SquarespaceNotFound(f"squarespace: not found: {what}", vendor_code=code, vendor_message=message)
    if status >= 400:
        raise Permanent(f"squarespace: {status} on {what}", vendor_code=code, vendor_message=message)
    try:
        data = json.loads(response.content or b"{}")
    except ValueError as exc:
        raise Retryable(f"squarespace: {what} answered {status} with a body that is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedPayload(f"squarespace: {what} did not answer a JSON object")
    return data


def _error(response: requests.Response) -> tuple[str, str]:
    """``(type[:subtype], message)`` of Squarespace's error object, or the HTTP status."""
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return str(response.status_code), response.text[:500]
    if isinstance(body, dict) and body.get("type"):
        code = str(body["type"]) + (f":{body['subtype']}" if body.get("subtype") else "")
        return code, str(body.get("message") or "")[:500]
    return str(response.status_code), response.reason or ""
