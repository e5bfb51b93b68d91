"""A small read-only Square API client over :class:`connectors.http.VendorHTTP`.

Every call carries ``Authorization: Bearer <access token>`` and the ``Square-Version`` our parsers
and contract tests are written for. We only read: ``GET`` one object or a cursor-paged list, and
``POST /v2/orders/search`` (a read, despite the verb).

Errors are classified the Square way, from the ``{"errors": [{"category", "code", "detail"}]}``
body Square sends with every failure:

* 429 -> :class:`RateLimited` (VendorHTTP blocks the connection for ``Retry-After``); reads are safe
  to repeat, so they are retried here a few times, and a back-fill of thousands of orders does not
  restart from page one;
* 5xx -> :class:`Retryable`, retried here too with jittered backoff;
* 401 (``UNAUTHORIZED``, ``ACCESS_TOKEN_EXPIRED``, ``ACCESS_TOKEN_REVOKED``) -> :class:`AuthExpired`;
* 404 -> :class:`SquareNotFound` (a :class:`Permanent`), so callers can fall back when an object
  is gone;
* other 4xx -> :class:`Permanent` with Square's code and detail.

Square's cursor pagination has one rule we must keep: the follow-up requests repeat the original
query unchanged and only add ``cursor`` (:meth:`SquareAPI.search_pages` sends the very same body
object on every page).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import requests

from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited, Retryable, Uncertain
from connectors.http import RateLimit, VendorHTTP

__all__ = [
    "DEFAULT_BASE_URL",
    "RATE_LIMIT",
    "SANDBOX_BASE_URL",
    "SQUARE_VERSION",
    "SquareAPI",
    "SquareNotFound",
]

DEFAULT_BASE_URL = "https://connect.squareup.com"
SANDBOX_BASE_URL = "https://connect.squareupsandbox.com"
#: The API version the parsers and the contract tests (``square/api.json``) are written for.
SQUARE_VERSION = "2025-08-20"
#: Square publishes no fixed quota and answers 429 when an application goes too fast; this keeps a
#: back-fill polite and leaves room for the webhooks' follow-up GETs.
RATE_LIMIT = RateLimit(per_second=10)
_ATTEMPTS = 5
#: Longest Retry-After we sit out inside one call; a longer one is handed to the worker's backoff.
_MAX_INLINE_WAIT = 60.0

T = TypeVar("T")


class SquareNotFound(Permanent):
    """Square answered 404 ``NOT_FOUND`` for an object (deleted, other account, wrong id)."""


class SquareAPI:
    """Authenticated reads against one Square seller account."""

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str,
        connection_key: str,
        square_version: str = SQUARE_VERSION,
        rate_limit: RateLimit = RATE_LIMIT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = VendorHTTP(
            vendor="square",
            base_url=base_url or DEFAULT_BASE_URL,
            connection_key=connection_key,
            rate_limit=rate_limit,
            default_headers={
                "Authorization": f"Bearer {access_token}",
                "Square-Version": square_version,
                "Accept": "application/json",
            },
        )
        self._sleep = sleep

    # -- single calls ------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET one resource or page and return its JSON object."""
        return self._retrying(lambda: self._send("GET", path, params=params))

    def search(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a search body (a read-only call)."""
        return self._retrying(lambda: self._send("POST", path, body=body))

    # -- paging ------------------------------------------------------------------------------

    def list_pages(self, path: str, items_key: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        """Yield each page's ``items_key`` list of a cursor-paged GET, following ``cursor``."""
        cursor = ""
        while True:
            page_params = dict(params)
            if cursor:
                page_params["cursor"] = cursor
            page = self.get(path, page_params)
            yield _items(page, items_key, path)
            cursor = _next_cursor(page, cursor, path)
            if not cursor:
                return

    def search_pages(self, path: str, items_key: str, query: Mapping[str, Any]) -> Iterator[list[Any]]:
        """Yield each page of a POST search, re-sending ``query`` unchanged plus the cursor.

        Square documents that a cursor is only valid with the query that produced it; the body is
        frozen once (a deep copy through JSON) so nothing a caller does between pages can alter it.
        """
        frozen = json.dumps(query, sort_keys=True)
        cursor = ""
        while True:
            body = json.loads(frozen)
            if cursor:
                body["cursor"] = cursor
            page = self.search(path, body)
            yield _items(page, items_key, path)
            cursor = _next_cursor(page, cursor, path)
            if not cursor:
                return

    # -- internals ---------------------------------------------------------------------------

    def _retrying(self, call: Callable[[], T]) -> T:
        """Repeat a read on 429 / 5xx / lost answer, honouring Retry-After; then give up upward."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return call()
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if attempt == _ATTEMPTS or wait > _MAX_INLINE_WAIT:
                    raise
                # VendorHTTP blocked the limiter too; sleeping here keeps a long wait from turning
                # into a "local rate limit" error on the next acquire.
                self._sleep(wait)
            except (Retryable, Uncertain) as exc:
                # Uncertain is only raised for a non-GET: our POST is a search, harmless to repeat.
                if attempt == _ATTEMPTS:
                    raise Retryable(
                        str(exc), vendor_code=exc.vendor_code, vendor_message=exc.vendor_message
                    ) from exc
                self._sleep(random.uniform(0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> dict[str, Any]:
        response = self.http.request(method, path, params=params, json_body=body, raise_for_status=False)
        return _classify(response, f"{method} {path}")


def _classify(response: requests.Response, what: str) -> dict[str, Any]:
    """Turn a Square answer into its JSON object or the right error of the taxonomy."""
    status = response.status_code
    code, detail = _first_error(response.content)
    code = code or str(status)
    detail = detail or response.reason or ""
    if status >= 500:
        raise Retryable(f"square: server error {status} on {what}", vendor_code=code, vendor_message=detail)
    if status == 401:
        raise AuthExpired(f"square: access token refused on {what}", vendor_code=code, vendor_message=detail)
    if status == 404:
        raise SquareNotFound(f"square: not found: {what}", vendor_code=code, vendor_message=detail)
    if status >= 400:
        raise Permanent(f"square: {status} on {what}", vendor_code=code, vendor_message=detail)
    try:
        data = json.loads(response.content or b"{}")
    except ValueError as exc:
        raise Retryable(f"square: {what} answered {status} with a body that is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedPayload(f"square: {what} did not answer a JSON object")
    return data


def _first_error(content: bytes) -> tuple[str, str]:
    """``(code, detail)`` of Square's first error, or empty strings."""
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        return "", ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("code") or ""), str(first.get("detail") or "")
    return "", ""


def _items(page: Mapping[str, Any], key: str, path: str) -> list[Any]:
    # Square leaves the key out entirely when a page (or the whole result) is empty.
    items = page.get(key, [])
    if not isinstance(items, list):
        raise MalformedPayload(f"square: {path} answered {key!r} that is not a list")
    return items


def _next_cursor(page: Mapping[str, Any], previous: str, path: str) -> str:
    cursor = page.get("cursor") or ""
    if not isinstance(cursor, str):
        raise MalformedPayload(f"square: {path} answered a cursor that is not a string")
    if cursor and cursor == previous:
        # A server handing back the same cursor would loop forever.
        raise MalformedPayload(f"square: {path} repeated cursor {cursor!r}")
    return cursor
