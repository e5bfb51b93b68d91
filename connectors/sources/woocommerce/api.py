"""A small read-only client for WooCommerce's REST API v3 over :class:`connectors.http.VendorHTTP`.

* **Authentication**: the REST API key pair (consumer key ``ck_...`` and secret ``cs_...``) as HTTP
  Basic auth, which WooCommerce accepts over HTTPS. Some hosts strip the ``Authorization`` header;
  for them ``query_string_auth`` sends the pair as ``consumer_key``/``consumer_secret`` query
  parameters instead (also HTTPS only; the integration log never records query strings).
* **Pagination**: ``page`` and ``per_page`` (at most 100), with the totals in the ``X-WP-Total``
  and ``X-WP-TotalPages`` answer headers. Lists are read in ascending ``id`` order: new orders are
  appended at the end, so a list that grows while we page through it never shifts a page.
* **Errors** come as ``{"code", "message", "data": {"status"}}``: 401/403 -> :class:`AuthExpired`,
  404 -> :class:`WooNotFound`, other 4xx -> :class:`Permanent`; 429 (WooCommerce itself has no rate
  limit, but hosts and firewalls in front of it answer 429 with ``Retry-After``) and 5xx are
  retried here a few times, honouring ``Retry-After``, then handed to the worker's backoff.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.auth import HTTPBasicAuth

from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited, Retryable, Uncertain
from connectors.http import RateLimit, VendorHTTP

__all__ = ["API_PREFIX", "MAX_PER_PAGE", "Page", "WooAPI", "WooNotFound"]

API_PREFIX = "/wp-json/wc/v3"
#: WooCommerce refuses ``per_page`` above 100.
MAX_PER_PAGE = 100
_ATTEMPTS = 5
#: Longest Retry-After sat out inside one call; a longer one goes back to the worker's backoff.
_MAX_INLINE_WAIT = 120.0


class WooNotFound(Permanent):
    """WooCommerce answered 404 (an order deleted for good, a wrong id)."""


@dataclass(frozen=True)
class Page:
    """One page of a list: its items and WooCommerce's totals (None when a header is missing)."""

    items: list[Any]
    number: int
    total_pages: int | None
    total: int | None


class WooAPI:
    """Authenticated reads against one WooCommerce store."""

    def __init__(
        self,
        *,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        connection_key: str,
        rate_limit: RateLimit,
        query_string_auth: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = VendorHTTP(
            vendor="woocommerce",
            base_url=base_url,
            connection_key=connection_key,
            rate_limit=rate_limit,
            default_headers={"Accept": "application/json"},
        )
        if query_string_auth:
            self._auth_params = {"consumer_key": consumer_key, "consumer_secret": consumer_secret}
        else:
            self._auth_params = {}
            self.http.session.auth = HTTPBasicAuth(consumer_key, consumer_secret)
        self._sleep = sleep

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, Mapping[str, str]]:
        """GET ``/wp-json/wc/v3<path>``: the decoded JSON and the answer's headers."""
        return self._retrying(lambda: self._send(path, params))

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[Page]:
        """Every page of a list, following ``page`` until ``X-WP-TotalPages`` (or a short page)."""
        per_page = int(params.get("per_page") or 10)
        number = 1
        while True:
            data, headers = self.get(path, {**params, "page": number})
            if not isinstance(data, list):
                raise MalformedPayload(f"woocommerce: {path} did not answer a list")
            total_pages = _int_header(headers, "X-WP-TotalPages")
            yield Page(data, number, total_pages, _int_header(headers, "X-WP-Total"))
            done = number >= total_pages if total_pages is not None else len(data) < per_page
            if done or not data:
                return
            number += 1

    # -- internals ---------------------------------------------------------------------------

    def _retrying(self, call: Callable[[], tuple[Any, Mapping[str, str]]]) -> tuple[Any, Mapping[str, str]]:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return call()
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if attempt == _ATTEMPTS or wait > _MAX_INLINE_WAIT:
                    raise
                # VendorHTTP has blocked the connection's limiter for the same time; sleeping here
                # keeps the next acquire from failing as a "local rate limit".
                self._sleep(wait)
            except (Retryable, Uncertain) as exc:
                if attempt == _ATTEMPTS:
                    raise Retryable(
                        str(exc), vendor_code=exc.vendor_code, vendor_message=exc.vendor_message
                    ) from exc
                self._sleep(random.uniform(0, 0.2 * 2**attempt))  # jitter, not security
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, path: str, params: Mapping[str, Any] | None) -> tuple[Any, Mapping[str, str]]:
        query = {**(params or {}), **self._auth_params}
        response = self.http.request("GET", API_PREFIX + path, params=query, raise_for_status=False)
        return _classify(response, f"GET {path}"), response.headers


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers.get(name, ""))
    except ValueError:
        return None


def _classify(response: requests.Response, what: str) -> Any:
    """Turn a WooCommerce answer into its JSON or the right error of the taxonomy."""
    status = response.status_code
    code, message = _error(response)
    if status >= 500:
        raise Retryable(
            f"woocommerce: server error {status} on {what}", vendor_code=code, vendor_message=message
        )
    if status in (401, 403):
        raise AuthExpired(
            f"woocommerce: the store refused the API keys on {what}", vendor_code=code, vendor_message=message
        )
    if status == 404:
        raise WooNotFound(f"woocommerce: not found: {what}", vendor_code=code, vendor_message=message)
    if status >= 400:
        raise Permanent(f"woocommerce: {status} on {what}", vendor_code=code, vendor_message=message)
    try:
        return json.loads(response.content or b"null")
    except ValueError as exc:
        # A caching plugin or a maintenance page answering 200 with HTML: try again later.
        raise Retryable(f"woocommerce: {what} answered {status} with a body that is not JSON") from exc


def _error(response: requests.Response) -> tuple[str, str]:
    """``(code, message)`` of a WooCommerce error body, falling back to the HTTP status."""
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return str(response.status_code), response.text[:500]
    if isinstance(body, dict) and ("code" in body or "message" in body):
        return str(body.get("code") or response.status_code), str(body.get("message") or "")[:500]
    return str(response.status_code), response.reason or ""
