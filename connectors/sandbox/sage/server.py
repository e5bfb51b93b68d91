"""The HTTP face of the Sage sandbox: OAuth endpoints, authentication, business, limits, idempotency.

Like Sage Business Cloud Accounting's API v3.1 it

* issues 5-minute access tokens and rotating refresh tokens, authenticating the app by the
  ``client_id``/``client_secret`` in the token request's form body;
* refuses a missing or expired bearer token (401) and an unknown ``X-Business`` (403) with Sage's
  ``[{"$severity", "$dataCode", "$message", "$source"}]`` error array; a refused document is 422
  with the same array;
* allows ``per_minute`` calls a minute per business (about 200 at Sage): 429 with ``Retry-After``;
* answers a resource whose ``idempotency_id`` it has already seen with the resource it created
  (optionally forgetting ids after ``idempotency_ttl`` seconds);
* serves lists as ``{"$items": [...], "$total", "$page", "$next"}`` (ids only unless
  ``attributes=all``), filtered by ``search``, ``contact_id``, ``from_date``/``to_date``,
  ``transaction_type_id`` and ``bank_account_id``.

:meth:`SageSandbox.requests_inside_retry_after` lists any API request that came inside a
Retry-After window the sandbox gave.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from connectors.jsonwire import dumps, loads
from connectors.sandbox.base import Request, Response, SandboxServer, route
from connectors.sandbox.quickbooks.oauth import OAuthTokenStore
from connectors.sandbox.sage.business import COLLECTIONS, WRAPPERS, Business, SageInvalid

__all__ = ["SageSandbox"]

API_PREFIX = "/v3.1/"


def _errors(status: int, code: str, message: str, source: str = "") -> Response:
    return Response(
        status, dumps([{"$severity": "error", "$dataCode": code, "$message": message, "$source": source}])
    )


class SageSandbox(SandboxServer):
    """One Sage business and its OAuth server; see the module docstring."""

    vendor = "sage"
    TOKEN_PATH = "/token"
    AUTHORIZE_PATH = "/oauth2/auth/central"

    def __init__(
        self,
        *,
        base_currency: str = "GBP",
        client_id: str = "sage-client",
        client_secret: str = "sage-secret",  # noqa: S107 - a fake server's fake secret
        access_lifetime: int = 300,
        per_minute: int | None = 200,
        retry_after: float = 1.0,
        idempotency_ttl: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(host, port, seed)
        self.business = Business(base_currency)
        self.tokens = OAuthTokenStore(client_id, client_secret, access_lifetime=access_lifetime,
                                      extra_fields={"scope": "full_access"}, client_auth="post")  # fmt: skip
        self.per_minute = per_minute
        self.retry_after = retry_after
        self.idempotency_ttl = idempotency_ttl
        self._seen: dict[str, tuple[float, str, str]] = {}  # idempotency_id -> (when, collection, id)
        self._minute: deque[float] = deque()
        self.retry_windows: list[tuple[float, float]] = []

    # -- helpers for tests and the demo --------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The API's base address (``base_url`` of the connection)."""
        return self.url + "/v3.1"

    def credentials(self) -> dict[str, Any]:
        """Fresh credentials of a connected business (tokens issued now)."""
        tokens = self.tokens.issue()
        expires = datetime.fromtimestamp(time.time() + int(tokens["expires_in"]), UTC)
        return {"client_id": self.tokens.client_id, "client_secret": self.tokens.client_secret,
                "business_id": self.business.id, "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"], "expires_at": expires.isoformat()}  # fmt: skip

    def ledger_settings(self) -> dict[str, Any]:
        """Connection settings pointing the OAuth client at this sandbox."""
        return {"token_url": self.url + self.TOKEN_PATH, "authorize_url": self.url + self.AUTHORIZE_PATH,
                "no_tax_rate_id": "GB_NO_TAX"}  # fmt: skip

    def documents(self, collection: str) -> list[dict[str, Any]]:
        """Stored resources of a collection, oldest first."""
        with self.lock:
            return [dict(row) for row in self.business.documents[collection]]

    def seed_chart(self, accounts: list[tuple[str, str, str]], tax_codes: list[tuple[str, str, str]]) -> None:
        """Replace the business's chart with ours (see :meth:`Business.seed_chart`)."""
        with self.lock:
            self.business.seed_chart(accounts, tax_codes)

    def set_lock_dates(self, lockdown: date | None = None, accounts_start: date | None = None) -> None:
        """Set the year-end lockdown date and the accounts start date."""
        with self.lock:
            self.business.lock(lockdown, accounts_start)

    def forget_idempotency_ids(self) -> None:
        """Forget every idempotency id seen."""
        with self.lock:
            self._seen.clear()

    def writes(self) -> list[Request]:
        """Every POST/PUT/DELETE to the API."""
        with self.lock:
            return [r for r in self.requests if r.path.startswith(API_PREFIX) and r.method != "GET"]

    def requests_inside_retry_after(self) -> list[Request]:
        """API requests that arrived while a 429's Retry-After window was still open."""
        with self.lock:
            windows = list(self.retry_windows)
            api = [r for r in self.requests if r.path.startswith(API_PREFIX)]
        return [r for r in api if any(start < r.received_at < end for start, end in windows)]

    # -- vendor flavour ------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Sage's error array for an injected or routing error."""
        code = {429: "TooManyRequests", 404: "RecordNotFound"}.get(status, "UnexpectedError")
        return [{"$severity": "error", "$dataCode": code, "$message": message, "$source": ""}]

    def rate_limit_headers(self, retry_after: float) -> dict[str, str]:
        """Headers of a 429; the window is recorded for :meth:`requests_inside_retry_after`."""
        now = time.time()
        with self.lock:
            self.retry_windows.append((now, now + retry_after))
        return super().rate_limit_headers(retry_after)

    # -- the gate ------------------------------------------------------------------------------

    def _call(self, req: Request) -> Response:
        """Authenticate, check the business and the limit, then route."""
        if not req.path.startswith(API_PREFIX):
            return super()._call(req)
        token = req.header("Authorization").removeprefix("Bearer ").strip()
        if not self.tokens.access_valid(token):
            return _errors(401, "Unauthorized", "The access token is invalid or has expired")
        if req.path != API_PREFIX + "businesses" and req.header("X-Business") != self.business.id:
            return _errors(403, "BusinessNotFound", "The business is not available to this user")
        now = time.time()
        with self.lock:
            while self._minute and self._minute[0] <= now - 60:
                self._minute.popleft()
            if self.per_minute is not None and len(self._minute) >= self.per_minute:
                wait = max(self.retry_after, 60 - (now - self._minute[0]))
                return Response(429, self.error_body(429, "Too many requests"), self.rate_limit_headers(wait))
            self._minute.append(now)
        return super()._call(req)

    # -- OAuth ---------------------------------------------------------------------------------

    @route("POST", TOKEN_PATH)
    def token(self, req: Request) -> Response:
        """The token endpoint (authorization_code and refresh_token grants)."""
        return self.tokens.handle(req)

    @route("GET", AUTHORIZE_PATH)
    def authorize(self, req: Request) -> Response:
        """The consent screen, already consented: redirect back with a code."""
        redirect = req.arg("redirect_uri")
        code = self.tokens.issue_code(redirect, req.arg("code_challenge"), req.arg("code_challenge_method"))
        query = urlencode({"code": code, "state": req.arg("state"), "country": "GB"})
        return Response(302, b"", {"Location": f"{redirect}?{query}"})

    # -- API -----------------------------------------------------------------------------------

    @route("GET", "/v3.1/businesses")
    def businesses(self, req: Request) -> Response:
        """The businesses of the user (one, the lead)."""
        row = {
            "id": self.business.id,
            "displayed_as": "Kente & Clay Ltd",
            "name": "Kente & Clay Ltd",
            "is_lead": True,
        }
        return Response(200, dumps({"$total": 1, "$page": 1, "$next": None, "$items": [row]}))

    @route("GET", "/v3.1/financial_settings")
    def financial_settings(self, req: Request) -> Response:
        """The business's base currency and lock dates."""
        with self.lock:
            return Response(200, dumps(self.business.financial_settings()))

    @route("POST", "/v3.1/{collection}")
    def create(self, req: Request) -> Response:
        """Create a resource; a repeated ``idempotency_id`` gets the resource already made."""
        collection = req.params["collection"]
        if collection not in COLLECTIONS:
            return _errors(404, "RecordNotFound", f"No route for {collection}")
        try:
            body = loads(req.body or b"null")
        except ValueError:
            return _errors(400, "InvalidJSON", "The request body is not valid JSON")
        data = body.get(WRAPPERS[collection]) if isinstance(body, dict) else None
        if not isinstance(data, dict):
            return _errors(422, "RecordInvalid", "is missing", WRAPPERS[collection])
        key = str(data.pop("idempotency_id", "") or "")
        with self.lock:  # one writer at a time: a repeated id must see the first resource
            seen = self._seen.get(key) if key else None
            if seen is not None and (
                self.idempotency_ttl is None or time.time() - seen[0] < self.idempotency_ttl
            ):
                row = self.business.get(seen[1], seen[2])
                if row is not None:
                    return Response(201, dumps(row))
            try:
                row = self.business.create(collection, data)
            except SageInvalid as exc:
                return Response(422, dumps(exc.items))
            if key:
                self._seen[key] = (time.time(), collection, row["id"])
            return Response(201, dumps(row))

    @route("GET", "/v3.1/{collection}")
    def list_collection(self, req: Request) -> Response:
        """A page of a collection, filtered as Sage filters it."""
        with self.lock:
            rows = [dict(r) for r in self.business.lists(req.params["collection"])]
        rows = [r for r in rows if self._matches(r, req)]
        per_page = min(int(req.arg("items_per_page", "20") or 20), 200)
        page = int(req.arg("page", "1") or 1)
        chunk = rows[(page - 1) * per_page : page * per_page]
        if req.arg("attributes") != "all":
            chunk = [
                {"id": r["id"], "displayed_as": r.get("displayed_as"), "$path": r.get("$path")} for r in chunk
            ]
        more = page * per_page < len(rows)
        return Response(200, dumps({"$total": len(rows), "$page": page, "$itemsPerPage": per_page,
                                    "$next": f"/{req.params['collection']}?page={page + 1}" if more else None,
                                    "$back": None, "$items": chunk}))  # fmt: skip

    @staticmethod
    def _matches(row: dict[str, Any], req: Request) -> bool:
        search = req.arg("search").lower()
        if search:
            fields = [
                row.get(k)
                for k in ("reference", "invoice_number", "credit_note_number", "name", "displayed_as")
            ]
            if not any(search in str(f or "").lower() for f in fields):
                return False
        day = str(row.get("date") or "")
        if req.arg("from_date") and day and day < req.arg("from_date"):
            return False
        if req.arg("to_date") and day and day > req.arg("to_date"):
            return False
        for name, field in (("contact_id", "contact"), ("transaction_type_id", "transaction_type"),
                            ("bank_account_id", "bank_account")):  # fmt: skip
            if req.arg(name) and (row.get(field) or {}).get("id") != req.arg(name):
                return False
        wanted = req.arg("contact_type_id")
        return not wanted or wanted in {t.get("id") for t in row.get("contact_types") or [{"id": wanted}]}

    @route("GET", "/v3.1/{collection}/{key}")
    def get_one(self, req: Request) -> Response:
        """One resource by its id."""
        with self.lock:
            row = self.business.get(req.params["collection"], req.params["key"])
        if row is None:
            return _errors(404, "RecordNotFound", "The record could not be found")
        return Response(200, dumps(row))
