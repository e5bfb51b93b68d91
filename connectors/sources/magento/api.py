"""Magento's REST API as the connector uses it: authenticated GETs, ``searchCriteria`` pages,
429 handling and Magento's error shape.

* **Paths**: ``{base_url}/rest/{store_code}/V1/...`` (``/rest/V1/...`` without a store code; the
  sales repositories answer for every store whatever the code).
* **Errors**: Magento answers ``{"message": "...", "parameters": [...] | {...}}`` with the
  placeholders (``%1``, ``%fieldName``) to fill in; the filled-in message is what a person sees.
  401 is :class:`AuthExpired` (after one admin-token renewal), 429 is retried after its
  ``Retry-After`` (then :class:`RateLimited`), 5xx :class:`Retryable`, other 4xx
  :class:`Permanent`, 404 :class:`NotFound`.
* **Pages**: ``searchCriteria[pageSize]`` and ``[currentPage]``; Magento answers a page past the
  end with the last page again, so :meth:`MagentoAPI.search` stops on ``total_count`` (re-read on
  every page) and on a page that repeats the previous one.
* **Numbers** are decoded as Decimals, never floats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

from connectors.base import AuthExpired, MalformedPayload, Permanent, RateLimited
from connectors.http import RateLimit, VendorHTTP

from .auth import ADMIN_TOKEN_LIFETIME_MINUTES, AdminTokenCache, IntegrationKeys, auth_mode, oauth1_header

__all__ = ["Filter", "MagentoAPI", "NotFound", "magento_message"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
REQUESTS_PER_SECOND = 4  # our own pace: Magento publishes no quota, a hosted store's CDN answers 429


class NotFound(Permanent):
    """Magento has no such entity (404)."""


Filter = tuple[str, str, str]  # (field, value, condition_type)


def magento_message(body: Any) -> str:
    """Magento's error text with its parameters filled in (``%1`` or ``%name``)."""
    if not isinstance(body, Mapping):
        return str(body)[:500]
    message = str(body.get("message") or "")
    params = body.get("parameters")
    if isinstance(params, list):
        for i, value in enumerate(params, start=1):
            message = message.replace(f"%{i}", str(value))
    elif isinstance(params, Mapping):
        for name in sorted(params, key=len, reverse=True):  # %fieldName before %field
            message = message.replace(f"%{name}", str(params[name]))
    return re.sub(r"\s+", " ", message).strip()[:500]


def _json(response: requests.Response) -> Any:
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError as exc:
        raise MalformedPayload(
            f"magento: {response.request.method} {response.url} did not answer JSON"
        ) from exc


class MagentoAPI:
    """One store's REST API for one channel (see the module docstring)."""

    rate_limit_retries = 3

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, Any],
        connection_key: str,
        store_code: str = "",
        requests_per_second: int = REQUESTS_PER_SECOND,
        admin_token_lifetime_minutes: int = ADMIN_TOKEN_LIFETIME_MINUTES,
    ) -> None:
        """A client for the store at ``base_url`` with the channel's credentials (auth.py says
        which way they authenticate); ``connection_key`` names the channel's rate limiter."""
        if not base_url:
            raise Permanent("magento: the channel has no store URL")
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.mode = auth_mode(credentials)
        if self.mode == "none":
            raise AuthExpired("magento: the channel has no integration or admin credentials")
        self.store_code = store_code.strip("/")
        self.token_lifetime = float(admin_token_lifetime_minutes) * 60
        self.http = VendorHTTP(
            vendor="magento",
            base_url=self.base_url,
            connection_key=connection_key,
            rate_limit=RateLimit(per_second=max(1, requests_per_second)),
            default_headers={"Accept": "application/json"},
        )
        username = str(credentials.get("admin_username") or "")
        self._token_key = f"{self.base_url}|{username}"

    # -- paths and auth ----------------------------------------------------------------------

    def path(self, resource: str) -> str:
        """``/rest[/{store}]/V1/{resource}``."""
        prefix = f"/rest/{quote(self.store_code, safe='')}" if self.store_code else "/rest"
        return f"{prefix}/V1/{resource.lstrip('/')}"

    def _admin_token(self) -> str:
        """The store's admin token: the shared cached one, else a fresh sign-in."""
        token = AdminTokenCache.get(self._token_key, self.token_lifetime)
        if token:
            return token
        body = {
            "username": str(self.credentials.get("admin_username")),
            "password": str(self.credentials.get("admin_password")),
        }
        response = self.http.request(
            "POST", self.path("integration/admin/token"), json_body=body, secret_response=True
        )
        if response.status_code != 200:
            message = magento_message(_safe_json(response))
            raise AuthExpired(
                f"magento: the admin sign-in was refused ({response.status_code})",
                vendor_code=str(response.status_code),
                vendor_message=message,
            )
        token = _json(response)
        if not isinstance(token, str) or not token:
            raise MalformedPayload("magento: the admin token endpoint did not answer a token")
        AdminTokenCache.put(self._token_key, token)
        return token

    def _auth_headers(self, method: str, url: str, params: Mapping[str, Any] | None) -> dict[str, str]:
        """The ``Authorization`` header of one request in the channel's way (auth.py)."""
        if self.mode == "oauth1":
            c = self.credentials
            keys = IntegrationKeys(
                str(c["consumer_key"]),
                str(c["consumer_secret"]),
                str(c["access_token"]),
                str(c["access_token_secret"]),
            )
            return {"Authorization": oauth1_header(method, url, params, keys)}
        if self.mode == "admin":
            return {"Authorization": f"Bearer {self._admin_token()}"}
        return {"Authorization": f"Bearer {self.credentials['access_token']}"}

    # -- requests ----------------------------------------------------------------------------

    def get(self, resource: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET one resource as JSON (Decimals), classified as the module docstring says."""
        path = self.path(resource)
        renewed = False
        attempt = 0
        while True:
            headers = self._auth_headers("GET", self.http.url(path), params)
            try:
                response = self.http.request("GET", path, params=params, headers=headers)
            except RateLimited:
                attempt += 1
                if attempt > self.rate_limit_retries:
                    raise
                continue  # VendorHTTP blocked this connection for the Retry-After: the next try waits
            if response.status_code == 401 and self.mode == "admin" and not renewed:
                AdminTokenCache.forget(self._token_key, headers["Authorization"].removeprefix("Bearer "))
                renewed = True
                continue
            return self._checked(response)

    @staticmethod
    def _checked(response: requests.Response) -> Any:
        """The JSON of a successful answer, or the error taxonomy with Magento's message."""
        status = response.status_code
        if status < 300:
            return _json(response)
        message = magento_message(_safe_json(response))
        code = str(status)
        if status == 401:
            raise AuthExpired(
                "magento: the store refused our credentials", vendor_code=code, vendor_message=message
            )
        if status == 404:
            raise NotFound("magento: not found", vendor_code=code, vendor_message=message)
        raise Permanent(f"magento: HTTP {status}", vendor_code=code, vendor_message=message)

    def entity(self, resource: str, entity_id: str) -> Mapping[str, Any]:
        """One order, credit memo or invoice by id (``orders/{id}``, ``creditmemo/{id}`` ...)."""
        found = self.get(f"{resource}/{quote(str(entity_id), safe='')}")
        if not isinstance(found, Mapping):
            raise MalformedPayload(f"magento: {resource}/{entity_id} is not an object")
        return found

    @staticmethod
    def criteria(
        filters: list[Filter],
        *,
        page_size: int,
        page: int,
        sort: tuple[tuple[str, str], ...] = (("entity_id", "ASC"),),
    ) -> dict[str, str]:
        """``searchCriteria`` query parameters: each filter its own group (AND), then the sort
        order and the page."""
        params: dict[str, str] = {}
        for group, (field, value, condition) in enumerate(filters):
            stem = f"searchCriteria[filter_groups][{group}][filters][0]"
            params[f"{stem}[field]"] = field
            params[f"{stem}[value]"] = value
            params[f"{stem}[condition_type]"] = condition
        for i, (field, direction) in enumerate(sort):
            params[f"searchCriteria[sortOrders][{i}][field]"] = field
            params[f"searchCriteria[sortOrders][{i}][direction]"] = direction
        params["searchCriteria[pageSize]"] = str(page_size)
        params["searchCriteria[currentPage]"] = str(page)
        return params

    def search(
        self, resource: str, filters: list[Filter], *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[tuple[list[Mapping[str, Any]], int]]:
        """Yield ``(items, total_count)`` page by page (module docstring)."""
        page, seen, previous_ids = 1, 0, None
        while True:
            body = self.get(resource, self.criteria(filters, page_size=page_size, page=page))
            if not isinstance(body, Mapping) or not isinstance(body.get("items", []), list):
                raise MalformedPayload(f"magento: {resource} search did not answer a search result")
            items = [i for i in body.get("items") or [] if isinstance(i, Mapping)]
            total = body.get("total_count")
            total = int(total) if isinstance(total, int | Decimal) else None
            ids = [str(i.get("entity_id")) for i in items]
            if not items or ids == previous_ids:
                return  # past the end: Magento repeated its last page
            yield items, total if total is not None else seen + len(items)
            seen += len(items)
            if len(items) < page_size or (total is not None and seen >= total):
                return
            previous_ids, page = ids, page + 1


def _safe_json(response: requests.Response) -> Any:
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError:
        return response.text[:500]
