"""The fake OAuth 2.0 authorization server of the ledger sandboxes (QuickBooks, Xero).

Refresh tokens rotate: the first use of a refresh token spends it, and it stays usable for
``refresh_grace`` seconds more (Xero keeps the previous token for 30 minutes, for a client that
lost the answer; QuickBooks' sandbox here kills it at once). Authorization codes honour PKCE
(S256). Every token request is recorded in ``calls`` so tests can count refreshes and
``invalid_grant`` answers.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from connectors.sandbox.base import Request, Response

__all__ = ["OAuthTokenStore"]


class OAuthTokenStore:
    """Access and refresh tokens of a fake authorization server, with rotation.

    A refresh token is spent by its first use; it stays usable for ``refresh_grace`` seconds more
    (Xero: 30 minutes, for a client that lost the answer; QuickBooks sandbox default: 0).
    ``calls`` records every token request as ``(grant_type, outcome)``.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        access_lifetime: int = 3600,
        refresh_grace: float = 0.0,
        delay: float = 0.0,
        extra_fields: Mapping[str, Any] | None = None,
        client_auth: str = "basic",
    ) -> None:
        self.client_id = client_id
        self.client_auth = client_auth  # basic: HTTP Basic; post: client_id/client_secret in the form
        self.client_secret = client_secret
        self.access_lifetime = access_lifetime
        self.refresh_grace = refresh_grace
        self.delay = delay
        self.extra_fields = dict(extra_fields or {})
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}
        self._refresh: dict[str, float | None] = {}  # token -> dies at (None: not spent yet)
        self._codes: dict[str, dict[str, str]] = {}
        self.calls: list[tuple[str, str]] = []

    def issue(self) -> dict[str, Any]:
        """A fresh token set (for seeding a connection's credentials in tests)."""
        with self._lock:
            return self._new_tokens()

    def _new_tokens(self) -> dict[str, Any]:
        """Issue an access token and an unspent refresh token."""
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._access[access] = time.time() + self.access_lifetime
        self._refresh[refresh] = None
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.access_lifetime,
            **self.extra_fields,
        }

    def issue_code(self, redirect_uri: str, code_challenge: str = "", method: str = "") -> str:
        """An authorization code, as the consent screen would give it."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {"redirect_uri": redirect_uri, "challenge": code_challenge, "method": method}
        return code

    def access_valid(self, token: str) -> bool:
        """True for a known access token that has not expired."""
        with self._lock:
            expires = self._access.get(token)
        return expires is not None and time.time() < expires

    def expire_access_tokens(self) -> None:
        """Make every access token expired (the next API call answers 401)."""
        with self._lock:
            for token in self._access:
                self._access[token] = 0.0

    def revoke_refresh_tokens(self) -> None:
        """Kill every refresh token (the user disconnected the app): refreshes get invalid_grant."""
        with self._lock:
            for token in self._refresh:
                self._refresh[token] = 0.0

    def count(self, grant_type: str, outcome: str = "") -> int:
        """Token requests of a grant type (and outcome: ``ok`` or an OAuth error code)."""
        with self._lock:
            return sum(1 for g, o in self.calls if g == grant_type and (not outcome or o == outcome))

    def handle(self, req: Request) -> Response:
        """Answer one token-endpoint request (form-encoded, HTTP Basic client authentication)."""
        if self.delay:
            time.sleep(self.delay)
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8")).items()}
        grant = form.get("grant_type", "")
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if self.client_auth == "post":
            authenticated = (form.get("client_id"), form.get("client_secret")) == (
                self.client_id,
                self.client_secret,
            )
        else:
            authenticated = req.header("Authorization") == f"Basic {expected}"
        with self._lock:
            if not authenticated:
                self.calls.append((grant, "invalid_client"))
                return Response(401, {"error": "invalid_client"})
            if grant == "authorization_code":
                answer = self._code_grant(form)
            elif grant == "refresh_token":
                answer = self._refresh_grant(form.get("refresh_token", ""))
            else:
                answer = {"error": "unsupported_grant_type"}
            self.calls.append((grant, str(answer.get("error", "ok"))))
        return Response(400 if "error" in answer else 200, answer, {"Cache-Control": "no-store"})

    def _code_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Trade a code once, for the same redirect URI, checking PKCE when it was asked for."""
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or code["redirect_uri"] != form.get("redirect_uri"):
            return {"error": "invalid_grant"}
        if code["challenge"]:
            verifier = form.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if code["method"] != "S256" or digest != code["challenge"]:
                return {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        return self._new_tokens()

    def _refresh_grant(self, token: str) -> dict[str, Any]:
        """Rotate: spend the refresh token (usable for the grace window) and issue a new set."""
        now = time.time()
        if token not in self._refresh:
            return {"error": "invalid_grant"}
        dies_at = self._refresh[token]
        if dies_at is not None and now >= dies_at:
            return {"error": "invalid_grant"}
        if dies_at is None:
            self._refresh[token] = now + self.refresh_grace
        return self._new_tokens()


# --------------------------------------------------------------------------------------------
# The company
