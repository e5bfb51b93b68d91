"""A contract-faithful fake of a Magento 2 / Adobe Commerce store's admin REST API.

What it enforces and does, as Magento documents it (``shared/specs/magento``):

* **Authentication**: integration requests signed with OAuth 1.0a (HMAC-SHA256, timestamps
  within 10 minutes, nonces never reused), integration tokens as bearer only when the store allows it, and admin
  tokens from ``POST /V1/integration/admin/token`` (refused when two-factor sign-in is on;
  :meth:`MagentoSandbox.expire_admin_tokens` ends their 4 hours at once). Refusals are 401 with
  Magento's ``{"message", "parameters"}`` body.
* **Search**: ``searchCriteria`` with ``filter_groups`` (AND between groups, OR inside one;
  ``eq``, ``neq``, ``gt``, ``gteq``, ``lt``, ``lteq``, ``in``, ``nin``, ``like``, ``from``/``to``,
  ``null``, ``notnull``; snake or camel case), ``sortOrders``, ``pageSize`` and ``currentPage``.
  A page past the end answers the last page again, as Magento does. ``searchCriteria`` is
  required (400 otherwise).
* **Entities**: ``GET /V1/orders/{id}``, ``/V1/creditmemo/{id}``, ``/V1/invoices/{id}`` (404 with
  Magento's message), ``GET /V1/store/storeConfigs``; every path also under ``/rest/{store}/``.
* **Faults**: the base :class:`~connectors.sandbox.base.FaultPlan`; an injected 429 carries
  ``Retry-After`` and a Magento-shaped body.
* **Webhooks out**: :meth:`MagentoSandbox.send_webhook` posts an Adobe Commerce webhook
  (``{"eventName", "data": {...}}``) signed with the store's RSA key pair.
"""

from __future__ import annotations

import base64
import fnmatch
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, unquote

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.jsonwire import dumps
from connectors.sources.magento.auth import IntegrationKeys, oauth1_signature
from connectors.sources.magento.signature import SIGNATURE_HEADER, sign

from .base import Request, Response, SandboxServer, route

__all__ = ["DEFAULT_INTEGRATION", "MagentoSandbox", "generate_key_pair"]

Item = dict[str, Any]

DEFAULT_INTEGRATION = IntegrationKeys(
    consumer_key="ck_sandbox_6f1c",
    consumer_secret="cs_sandbox_93b2",
    access_token="at_sandbox_4d7e",
    access_token_secret="ats_sandbox_08aa",
)
NOT_AUTHORIZED = {
    "message": "The consumer isn't authorized to access %resources.",
    "parameters": {"resources": "Magento_Sales::actions_view"},
}
BAD_SIGN_IN = {
    "message": "The account sign-in was incorrect or your account is disabled temporarily. "
    "Please wait and try again later."
}
NOT_FOUND = {"message": "The entity that was requested doesn't exist. Verify the entity and try again."}
TWO_FACTOR = {
    "message": "Please use the 2fa provider-specific endpoints to obtain a token.",
    "parameters": [],
}
#: The condition types Magento's search understands.
CONDITIONS = frozenset(
    {
        "eq",
        "neq",
        "gt",
        "gteq",
        "moreq",
        "from",
        "lt",
        "lteq",
        "to",
        "in",
        "nin",
        "like",
        "nlike",
        "null",
        "notnull",
    }
)
#: How old an OAuth timestamp may be (Magento allows 600 seconds).
OAUTH_WINDOW_SECONDS = 600


def generate_key_pair() -> tuple[rsa.RSAPrivateKey, str]:
    """A 2048-bit RSA pair as Commerce's "Regenerate key pair" makes: the private key and the
    public key in PEM, as the admin shows it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, pem.decode()


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _compare(left: Any, right: str) -> int | None:
    """-1, 0 or 1 comparing a stored value with a filter value: numerically when both are numbers,
    as text otherwise (Magento's timestamps compare correctly as text)."""
    if left is None:
        return None
    a, b = _number(left), _number(right)
    if a is not None and b is not None and not isinstance(left, str | bool):
        return (a > b) - (a < b)
    sa = str(left)
    return (sa > right) - (sa < right)


def _matches(item: Mapping[str, Any], field: str, value: str, condition: str) -> bool:
    """Whether one stored object passes one ``searchCriteria`` filter (ValueError: unknown type)."""
    stored = item.get(field)
    cmp = _compare(stored, value)
    options = [x.strip() for x in value.split(",")]
    checks = {
        "eq": lambda: cmp == 0,
        "neq": lambda: cmp is not None and cmp != 0,
        "gt": lambda: cmp is not None and cmp > 0,
        "gteq": lambda: cmp is not None and cmp >= 0,
        "moreq": lambda: cmp is not None and cmp >= 0,
        "from": lambda: cmp is not None and cmp >= 0,
        "lt": lambda: cmp is not None and cmp < 0,
        "lteq": lambda: cmp is not None and cmp <= 0,
        "to": lambda: cmp is not None and cmp <= 0,
        "in": lambda: any(_compare(stored, o) == 0 for o in options),
        "nin": lambda: not any(_compare(stored, o) == 0 for o in options),
        "like": lambda: stored is not None and fnmatch.fnmatchcase(str(stored), value.replace("%", "*")),
        "nlike": lambda: stored is None or not fnmatch.fnmatchcase(str(stored), value.replace("%", "*")),
        "null": lambda: stored is None,
        "notnull": lambda: stored is not None,
    }
    check = checks.get(condition or "eq")
    if check is None:
        raise ValueError(condition)
    return bool(check())


def _sort_key(field: str) -> Callable[[Mapping[str, Any]], tuple[bool, Decimal, str]]:
    """Sort on a field: numbers numerically, text as text, missing values last."""

    def key(item: Mapping[str, Any]) -> tuple[bool, Decimal, str]:
        value = item.get(field)
        return value is None, _number(value) or Decimal(0), str(value)

    return key


class MagentoSandbox(SandboxServer):
    """Fake Magento store. Give it orders, credit memos and invoices in the REST shapes
    (``sales-data-*-interface``) and point a MagentoSource's ``base_url`` at :attr:`url`."""

    vendor = "magento"

    def __init__(
        self,
        *,
        orders: Iterable[Item] = (),
        creditmemos: Iterable[Item] = (),
        invoices: Iterable[Item] = (),
        integration: IntegrationKeys = DEFAULT_INTEGRATION,
        allow_bearer_integration: bool = False,
        admin_users: Mapping[str, str] | None = None,
        two_factor: bool = False,
        base_currency: str = "GBP",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        """A store holding the given objects; ``admin_users`` maps user names to passwords;
        ``allow_bearer_integration`` and ``two_factor`` are the store settings of the same name."""
        super().__init__(host=host, port=port, seed=seed)
        self.integration = integration
        self.allow_bearer_integration = allow_bearer_integration
        self.admin_users = dict(admin_users or {"api-reader": "sandbox-pass-1"})
        self.two_factor = two_factor
        self.base_currency = base_currency
        self.admin_tokens: dict[str, bool] = {}  # token -> still valid
        self.token_requests = 0
        self.used_nonces: set[str] = set()
        self.collections: dict[str, dict[int, Item]] = {"orders": {}, "creditmemos": {}, "invoices": {}}
        self.private_key, self.public_key_pem = generate_key_pair()
        self.sent_webhooks: list[dict[str, Any]] = []
        for order in orders:
            self.put("orders", order)
        for memo in creditmemos:
            self.put("creditmemos", memo)
        for invoice in invoices:
            self.put("invoices", invoice)

    # -- data --------------------------------------------------------------------------------

    def put(self, collection: str, obj: Item) -> None:
        """Add or replace an order, credit memo or invoice (keyed by ``entity_id``)."""
        with self.lock:
            self.collections[collection][int(obj["entity_id"])] = dict(obj)

    def expire_admin_tokens(self) -> None:
        """Every admin token issued so far has lived its 4 hours."""
        with self.lock:
            self.admin_tokens = dict.fromkeys(self.admin_tokens, False)

    # -- Magento flavour ---------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Magento's error shape."""
        if status == 429:
            return {"message": "Too many requests. Please try again later.", "parameters": []}
        return {"message": message, "parameters": []}

    def _json(self, status: int, body: Any) -> Response:
        return Response(status, dumps(body))

    # -- authentication ----------------------------------------------------------------------

    def _oauth_ok(self, req: Request, header: str) -> bool:
        """Whether an ``Authorization: OAuth ...`` header is a valid, fresh, unused signature of
        this request by the store's integration (RFC 5849, HMAC-SHA256)."""
        fields = dict(
            (k.strip(), unquote(v.strip().strip('"')))
            for k, _, v in (part.partition("=") for part in header[len("OAuth ") :].split(","))
        )
        keys = self.integration
        if (
            fields.get("oauth_consumer_key") != keys.consumer_key
            or fields.get("oauth_token") != keys.access_token
        ):
            return False
        if fields.get("oauth_signature_method") != "HMAC-SHA256":
            return False  # Magento also takes HMAC-SHA1; the connector always signs with SHA-256
        try:
            stamp = int(fields.get("oauth_timestamp", ""))
        except ValueError:
            return False
        if abs(time.time() - stamp) > OAUTH_WINDOW_SECONDS:
            return False
        query = [(k, v) for k, vals in req.query.items() for v in vals]
        oauth = [(k, v) for k, v in fields.items() if k.startswith("oauth_") and k != "oauth_signature"]
        expected = oauth1_signature(
            req.method, f"{self.url}{req.path}", query + oauth, keys.consumer_secret, keys.access_token_secret
        )
        if not hmac.compare_digest(expected, fields.get("oauth_signature", "")):
            return False
        nonce = fields.get("oauth_nonce", "")
        with self.lock:
            if not nonce or nonce in self.used_nonces:
                return False
            self.used_nonces.add(nonce)
        return True

    def _admit(self, req: Request) -> Response | None:
        """None for an authenticated request, else Magento's 401."""
        header = req.header("Authorization")
        if header.startswith("OAuth ") and self._oauth_ok(req, header):
            return None
        if header.startswith("Bearer "):
            token = header[len("Bearer ") :].strip()
            with self.lock:
                if self.admin_tokens.get(token):
                    return None
            if self.allow_bearer_integration and hmac.compare_digest(token, self.integration.access_token):
                return None
        return self._json(401, NOT_AUTHORIZED)

    @route("POST", "/rest/V1/integration/admin/token")
    @route("POST", "/rest/{store}/V1/integration/admin/token")
    def admin_token(self, req: Request) -> Response:
        """``POST /V1/integration/admin/token``: a JSON string token for a known admin user."""
        with self.lock:
            self.token_requests += 1
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return self._json(400, {"message": "Decoding error.", "parameters": []})
        if not isinstance(body, dict) or not body.get("username") or not body.get("password"):
            return self._json(
                400,
                {
                    "message": '"%fieldName" is required. Enter and try again.',
                    "parameters": {"fieldName": "username"},
                },
            )
        password = self.admin_users.get(str(body["username"]))
        if password is None or not hmac.compare_digest(password, str(body["password"])):
            return self._json(401, BAD_SIGN_IN)
        if self.two_factor:
            return self._json(401, TWO_FACTOR)
        token = secrets.token_hex(16)
        with self.lock:
            self.admin_tokens[token] = True
        return self._json(200, token)

    # -- search ------------------------------------------------------------------------------

    @staticmethod
    def _criteria(req: Request) -> dict[str, Any] | None:
        """The ``searchCriteria`` query parameters as nested dicts (snake or camel case)."""
        found = False
        groups: dict[int, dict[int, dict[str, str]]] = {}
        sorts: dict[int, dict[str, str]] = {}
        page_size = current = None
        for key, values in req.query.items():
            if not key.startswith("searchCriteria"):
                continue
            found = True
            parts = [p.rstrip("]") for p in key[len("searchCriteria") :].split("[") if p]
            parts = [
                "filter_groups"
                if p == "filterGroups"
                else "condition_type"
                if p == "conditionType"
                else "sort_orders"
                if p == "sortOrders"
                else p
                for p in parts
            ]
            value = values[0]
            if parts[:1] == ["filter_groups"] and len(parts) == 5 and parts[2] == "filters":
                groups.setdefault(int(parts[1]), {}).setdefault(int(parts[3]), {})[parts[4]] = value
            elif parts[:1] == ["sort_orders"] and len(parts) == 3:
                sorts.setdefault(int(parts[1]), {})[parts[2]] = value
            elif parts == ["pageSize"] or parts == ["page_size"]:
                page_size = int(value)
            elif parts == ["currentPage"] or parts == ["current_page"]:
                current = int(value)
        if not found:
            return None
        return {"groups": groups, "sorts": sorts, "page_size": page_size, "current_page": current}

    def _search(self, req: Request, collection: str) -> Response:
        """A ``searchCriteria`` search of a collection (module docstring), Magento's result shape."""
        denied = self._admit(req)
        if denied:
            return denied
        try:
            criteria = self._criteria(req)
        except ValueError:
            return self._json(400, {"message": "Invalid search criteria.", "parameters": []})
        if criteria is None:
            return self._json(
                400,
                {
                    "message": '"%fieldName" is required. Enter and try again.',
                    "parameters": {"fieldName": "searchCriteria"},
                },
            )
        unknown = [
            f.get("condition_type", "eq")
            for group in criteria["groups"].values()
            for f in group.values()
            if f.get("condition_type", "eq") not in CONDITIONS
        ]
        if unknown:
            return self._json(400, {"message": 'Invalid condition type "%1".', "parameters": [unknown[0]]})
        with self.lock:
            items = list(self.collections[collection].values())
        try:
            for group in criteria["groups"].values():
                items = [
                    it
                    for it in items
                    if any(
                        _matches(it, f.get("field", ""), f.get("value", ""), f.get("condition_type", "eq"))
                        for f in group.values()
                    )
                ]
        except ValueError as exc:
            return self._json(400, {"message": 'Invalid condition type "%1".', "parameters": [str(exc)]})
        sorts = [criteria["sorts"][i] for i in sorted(criteria["sorts"])] or [{"field": "entity_id"}]
        for sort in reversed(sorts):
            field = sort.get("field", "entity_id")
            # Magento sorts descending unless told otherwise.
            items.sort(key=_sort_key(field), reverse=sort.get("direction", "DESC").upper() == "DESC")
        total = len(items)
        size, current = criteria["page_size"], criteria["current_page"] or 1
        page_items = items
        if size:
            last_page = max(1, -(-total // size))
            current = min(max(1, current), last_page)  # past the end: the last page again
            page_items = items[(current - 1) * size : current * size]
        body = {
            "items": page_items,
            "search_criteria": {
                "filter_groups": [
                    {"filters": [criteria["groups"][g][f] for f in sorted(criteria["groups"][g])]}
                    for g in sorted(criteria["groups"])
                ],
                "sort_orders": [criteria["sorts"][i] for i in sorted(criteria["sorts"])],
                **({"page_size": size} if size else {}),
                "current_page": current,
            },
            "total_count": total,
        }
        return self._json(200, body)

    def _entity(self, req: Request, collection: str) -> Response:
        """One object by id, or Magento's 404."""
        denied = self._admit(req)
        if denied:
            return denied
        ref = req.params["id"]
        with self.lock:
            found = self.collections[collection].get(int(ref)) if ref.isdigit() else None
        return self._json(200, found) if found is not None else self._json(404, NOT_FOUND)

    @route("GET", "/rest/V1/orders")
    @route("GET", "/rest/{store}/V1/orders")
    def list_orders(self, req: Request) -> Response:
        """``GET /V1/orders`` (``sales-data-order-search-result-interface``)."""
        return self._search(req, "orders")

    @route("GET", "/rest/V1/orders/{id}")
    @route("GET", "/rest/{store}/V1/orders/{id}")
    def get_order(self, req: Request) -> Response:
        """``GET /V1/orders/{id}``."""
        return self._entity(req, "orders")

    @route("GET", "/rest/V1/creditmemos")
    @route("GET", "/rest/{store}/V1/creditmemos")
    def list_creditmemos(self, req: Request) -> Response:
        """``GET /V1/creditmemos``."""
        return self._search(req, "creditmemos")

    @route("GET", "/rest/V1/creditmemo/{id}")
    @route("GET", "/rest/{store}/V1/creditmemo/{id}")
    def get_creditmemo(self, req: Request) -> Response:
        """``GET /V1/creditmemo/{id}``."""
        return self._entity(req, "creditmemos")

    @route("GET", "/rest/V1/invoices")
    @route("GET", "/rest/{store}/V1/invoices")
    def list_invoices(self, req: Request) -> Response:
        """``GET /V1/invoices``."""
        return self._search(req, "invoices")

    @route("GET", "/rest/V1/invoices/{id}")
    @route("GET", "/rest/{store}/V1/invoices/{id}")
    def get_invoice(self, req: Request) -> Response:
        """``GET /V1/invoices/{id}``."""
        return self._entity(req, "invoices")

    @route("GET", "/rest/V1/store/storeConfigs")
    @route("GET", "/rest/{store}/V1/store/storeConfigs")
    def store_configs(self, req: Request) -> Response:
        """``GET /V1/store/storeConfigs``: one default store view."""
        denied = self._admit(req)
        if denied:
            return denied
        config = {
            "id": 1,
            "code": "default",
            "website_id": 1,
            "locale": "en_GB",
            "base_currency_code": self.base_currency,
            "default_display_currency_code": self.base_currency,
            "timezone": "Europe/London",
            "weight_unit": "kgs",
            "base_url": f"{self.url}/",
            "base_link_url": f"{self.url}/",
            "base_static_url": f"{self.url}/static/",
            "base_media_url": f"{self.url}/media/",
            "secure_base_url": f"{self.url}/",
            "secure_base_link_url": f"{self.url}/",
            "secure_base_static_url": f"{self.url}/static/",
            "secure_base_media_url": f"{self.url}/media/",
        }
        return self._json(200, [config])

    # -- webhooks out ------------------------------------------------------------------------

    def webhook_body(self, event_name: str, kind: str, obj: Mapping[str, Any]) -> bytes:
        """The default payload of an observer webhook: ``{"eventName", "data": {kind: obj}}``."""
        return dumps({"eventName": event_name, "data": {kind: obj}})

    def send_webhook(
        self,
        url: str,
        event_name: str,
        kind: str,
        obj: Mapping[str, Any],
        *,
        private_key: rsa.RSAPrivateKey | None = None,
        over_base64: bool = True,
        body: bytes | None = None,
        signed_body: bytes | None = None,
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST an Adobe Commerce webhook signed with the store's private key (or ``private_key``).
        ``signed_body`` signs other bytes than those sent (to forge a tampered delivery)."""
        payload = body if body is not None else self.webhook_body(event_name, kind, obj)
        signature = sign(
            signed_body if signed_body is not None else payload,
            private_key or self.private_key,
            over_base64=over_base64,
        )
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
        response = requests.post(url, data=payload, headers=headers, timeout=timeout)
        with self.lock:
            self.sent_webhooks.append({"event": event_name, "status": response.status_code})
        return response

    @staticmethod
    def parse_query(raw: str) -> list[tuple[str, str]]:
        """Query parameters of a raw query string (for tests that inspect requests)."""
        return parse_qsl(raw, keep_blank_values=True)

    @staticmethod
    def public_key_b64(pem: str) -> str:
        """The PEM body without its armour (how some admins paste it)."""
        lines = [ln for ln in pem.strip().splitlines() if not ln.startswith("-----")]
        return base64.b64encode(base64.b64decode("".join(lines))).decode()
