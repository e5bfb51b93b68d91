"""A small read-only Stripe API client over :class:`connectors.http.VendorHTTP`.

Only GETs: retrieving one object and walking a list with Stripe's cursor pagination
(``limit`` <= 100, ``starting_after=<last id>`` while ``has_more``). Errors are classified the
Stripe way:

* 429 -> :class:`RateLimited` (VendorHTTP), waited out and retried a few times here: a GET is safe
  to repeat, and a back-fill of thousands of events should not restart from page one;
* 5xx -> :class:`Retryable`, unless Stripe says ``Stripe-Should-Retry: false`` (then Permanent);
* 401 -> :class:`AuthExpired` (the secret key was rolled or revoked: a person must enter a new one);
* other 4xx -> :class:`Permanent` with Stripe's ``error.code`` and ``error.message``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited, Retryable
from connectors.http import RateLimit, VendorHTTP

__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "LIVE_RATE_LIMIT", "PAGE_LIMIT", "StripeAPI"]

DEFAULT_BASE_URL = "https://api.stripe.com"
#: The API version our parsers and the contract tests (``stripe/spec3.yaml``) are written for.
API_VERSION = "2023-08-16"
#: Stripe's live-mode limit (test mode allows fewer; the sandbox enforces what it is told).
LIVE_RATE_LIMIT = RateLimit(per_second=100)
PAGE_LIMIT = 100  # Stripe's maximum page size
_ATTEMPTS = 4

Params = Sequence[tuple[str, object]]


class StripeAPI:
    """Authenticated GETs against one Stripe account (secret key as a Bearer token)."""

    def __init__(self, *, secret_key: str, base_url: str, connection_key: str) -> None:
        self.http = VendorHTTP(
            vendor="stripe",
            base_url=base_url or DEFAULT_BASE_URL,
            connection_key=connection_key,
            rate_limit=LIVE_RATE_LIMIT,
            default_headers={
                "Authorization": f"Bearer {secret_key}",
                "Stripe-Version": API_VERSION,
                "Accept": "application/json",
            },
        )

    def get(self, path: str, params: Params = ()) -> dict[str, Any]:
        """GET one resource (or one page) and return its JSON object."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return self._get_once(path, params)
            except RateLimited:
                # VendorHTTP has already blocked the limiter for Retry-After: the next acquire waits.
                if attempt == _ATTEMPTS:
                    raise
            except Retryable:
                if attempt == _ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.25 * 2**attempt))  # jitter, not security
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_once(self, path: str, params: Params) -> dict[str, Any]:
        # Stripe arrays repeat the key (``types[]=a&types[]=b``): encode the query ourselves.
        url = f"{path}?{urlencode(list(params))}" if params else path
        response = self.http.request("GET", url, raise_for_status=False)
        status = response.status_code
        error = _error_of(response.content)
        code = str(error.get("code") or error.get("type") or status)
        message = str(error.get("message") or response.reason or "")
        if status >= 500:
            if response.headers.get("Stripe-Should-Retry", "").lower() == "false":
                raise Permanent(f"stripe: {status} on GET {path}", vendor_code=code, vendor_message=message)
            raise Retryable(
                f"stripe: server error {status} on GET {path}", vendor_code=code, vendor_message=message
            )
        if status == 401:
            raise AuthExpired("stripe: the secret key was refused", vendor_code=code, vendor_message=message)
        if status >= 400:
            raise Permanent(f"stripe: {status} on GET {path}", vendor_code=code, vendor_message=message)
        try:
            # Floats (only exchange rates) stay floats: payloads are stored as JSON by the core, and
            # the parsers read them through str(), which gives back the digits Stripe sent.
            data = json.loads(response.content)
        except ValueError as exc:
            raise Retryable(f"stripe: GET {path} answered {status} with a body that is not JSON") from exc
        if not isinstance(data, dict):
            raise MalformedPayload(f"stripe: GET {path} did not answer a JSON object")
        return data

    def list_all(self, path: str, params: Params = ()) -> Iterator[list[dict[str, Any]]]:
        """Yield each page's ``data`` of a Stripe list, following ``starting_after`` while ``has_more``."""
        cursor = ""
        while True:
            page_params: list[tuple[str, object]] = [*params, ("limit", PAGE_LIMIT)]
            if cursor:
                page_params.append(("starting_after", cursor))
            page = self.get(path, page_params)
            items = page.get("data")
            if not isinstance(items, list):
                raise MalformedPayload(f"stripe: GET {path} is not a list object")
            yield items
            if not page.get("has_more") or not items:
                return
            cursor = str(items[-1].get("id", ""))
            if not cursor:
                raise MalformedPayload(f"stripe: GET {path} returned an item without id; cannot paginate")


def _error_of(content: bytes) -> Mapping[str, Any]:
    """Stripe's ``{"error": {"type", "code", "message", ...}}``, or ``{}``."""
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
