"""OAuth 2.0 for ledger connectors: authorization code (+ PKCE), refresh-token rotation, one refresher.

QuickBooks Online and Xero (and later Sage, Zoho, FreshBooks) hand out short-lived access tokens
and *rotating* refresh tokens: every refresh returns a new refresh token and the old one dies (Xero
keeps it alive for a 30-minute grace window, for a client that lost the answer). Two workers that
refresh at the same time therefore race: the loser sends a refresh token the winner already spent
and gets ``invalid_grant``, and a connection whose newest refresh token was never stored is lost
until someone re-authorises it. :class:`OAuth2Client` prevents both:

* **One refresher at a time per connection.** The refresh runs under ``lock_factory(key)`` (a
  process-local lock by default; the core installs a database lock with :func:`configure`).
* **Re-read before refreshing.** Inside the lock the client re-reads the stored credentials with
  ``load_credentials()``; when another worker refreshed meanwhile, it uses that token and sends
  nothing.
* **Save before use.** A new token set is passed to ``LedgerConfig.save_credentials`` (atomic in
  the core) *before* the access token is handed out. If saving fails the tokens are kept aside and
  saving is retried before anything else, and the caller gets :class:`Retryable`.
* **invalid_grant is re-checked once.** The stored credentials are read again (someone outside our
  lock may have rotated them); only when they are unchanged does the client give up with
  :class:`AuthExpired`, whose message says the connection must be re-authorised.
* **A lost token answer is retried once** with the same refresh token: Xero still accepts it during
  its grace window.

Credentials are a JSON-able mapping: ``client_id``, ``client_secret``, ``access_token``,
``refresh_token``, ``expires_at`` (ISO-8601, UTC) and optionally ``refresh_expires_at``, plus the
connector's own keys (``realm_id``, ``tenant_id``) which are carried over untouched.

Token endpoints are called through :class:`~connectors.http.VendorHTTP` (form-encoded body, HTTP
Basic client authentication), so every call has a timeout and is logged with secrets redacted.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from connectors.base import AuthExpired, LedgerConfig, Retryable, Uncertain
from connectors.http import RateLimit, VendorHTTP

__all__ = [
    "LockFactory",
    "OAuth2Client",
    "OAuth2Provider",
    "OAuthError",
    "configure",
    "configured",
    "pkce_challenge",
    "process_lock",
]

LockFactory = Callable[[str], AbstractContextManager[Any]]
CredentialsLoader = Callable[[str], Mapping[str, Any]]

DEFAULT_REFRESH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class OAuth2Provider:
    """A vendor's OAuth 2.0 endpoints and habits. ``pkce`` says whether the vendor documents PKCE
    (S256) for the authorization-code flow; ``default_scopes`` are asked for when none are given;
    ``client_auth`` is how the token endpoint authenticates the app: ``basic`` (HTTP Basic, RFC 6749
    section 2.3.1) or ``post`` (``client_id`` and ``client_secret`` in the form body, as Sage and
    FreshBooks document)."""

    name: str
    authorize_url: str
    token_url: str
    pkce: bool = True
    default_scopes: tuple[str, ...] = ()
    client_auth: str = "basic"

    #: Keys of the token answer kept in the credentials besides the tokens (Zoho's ``api_domain``).
    answer_fields: tuple[str, ...] = ()
    #: Extra query parameters of the consent URL (Zoho: ``access_type=offline``, ``prompt=consent``).
    authorize_params: tuple[tuple[str, str], ...] = ()


class OAuthError(Exception):
    """An OAuth error answer of a token endpoint (RFC 6749 section 5.2): ``error`` is the code."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status


# --------------------------------------------------------------------------------------------
# Locks and credential loading installed by the core
# --------------------------------------------------------------------------------------------

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()
# The newest credentials each client of this process saved, per lock key: the default loader, so two
# clients of one connection in one process never refresh with a spent token even without a database.
_latest_saved: dict[str, Mapping[str, Any]] = {}
_defaults: dict[str, Any] = {"lock_factory": None, "credentials_loader": None}


@contextmanager
def process_lock(key: str) -> Iterator[None]:
    """The default ``lock_factory``: a threading lock per key, shared by the whole process."""
    with _process_locks_guard:
        lock = _process_locks.setdefault(key, threading.Lock())
    with lock:
        yield


def configure(
    *, lock_factory: LockFactory | None = None, credentials_loader: CredentialsLoader | None = None
) -> None:
    """Install the core's lock and credential reader for every :class:`OAuth2Client`.

    ``lock_factory(key)`` returns a context manager holding a lock shared by all workers (a
    database advisory lock); ``credentials_loader(connection_id)`` returns the connection's stored,
    decrypted credentials. Either may be ``None`` to go back to the process-local default.
    """
    _defaults["lock_factory"] = lock_factory
    _defaults["credentials_loader"] = credentials_loader


def configured() -> tuple[LockFactory | None, CredentialsLoader | None]:
    """The installed ``(lock_factory, credentials_loader)`` (tests save and restore them)."""
    return _defaults["lock_factory"], _defaults["credentials_loader"]


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _parse_instant(value: Any) -> datetime | None:
    """``expires_at`` as stored: ISO-8601 text (preferred) or epoch seconds."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class OAuth2Client:
    """Tokens of one ledger connection. See the module docstring for the guarantees.

    ``credentials`` is the stored token set at construction; ``save_credentials(new)`` persists a
    new one atomically; ``load_credentials()`` re-reads the stored set (defaults: the installed
    loader, else the newest set saved in this process, else ``credentials``); ``lock_key`` names
    the connection's refresh lock.
    """

    def __init__(
        self,
        provider: OAuth2Provider,
        *,
        credentials: Mapping[str, Any],
        save_credentials: Callable[[Mapping[str, Any]], None] | None = None,
        load_credentials: Callable[[], Mapping[str, Any]] | None = None,
        lock_factory: LockFactory | None = None,
        lock_key: str = "",
        token_url: str = "",
        authorize_url: str = "",
        pkce: bool | None = None,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], datetime] = _utcnow,
        http: VendorHTTP | None = None,
    ) -> None:
        self.provider = provider
        self.lock_key = lock_key or f"oauth:{provider.name}:{credentials.get('client_id', '')}"
        self.token_url = token_url or provider.token_url
        self.authorize_url = authorize_url or provider.authorize_url
        self.pkce = provider.pkce if pkce is None else pkce
        self.refresh_margin = refresh_margin
        self.clock = clock
        self._credentials: dict[str, Any] = dict(credentials)
        self._save = save_credentials
        self._load = load_credentials
        self._lock_factory = lock_factory
        self._unsaved: dict[str, Any] | None = None
        self.http = http or VendorHTTP(
            vendor=f"{provider.name}-oauth",
            base_url=self.token_url,
            connection_key=self.lock_key,
            rate_limit=RateLimit(),
        )

    @classmethod
    def from_config(
        cls,
        provider: OAuth2Provider,
        config: LedgerConfig,
        *,
        load_credentials: Callable[[], Mapping[str, Any]] | None = None,
        lock_factory: LockFactory | None = None,
    ) -> OAuth2Client:
        """The client of a ledger connection. ``settings`` may override ``token_url``,
        ``authorize_url`` and ``oauth_pkce`` (sandbox hosts, tests)."""
        settings = config.settings
        loader = load_credentials
        installed: CredentialsLoader | None = _defaults["credentials_loader"]
        if loader is None and installed is not None:
            connection_id = config.connection_id

            def loader() -> Mapping[str, Any]:
                return installed(connection_id)

        pkce = settings.get("oauth_pkce")
        return cls(
            provider,
            credentials=config.credentials,
            save_credentials=config.save_credentials,
            load_credentials=loader,
            lock_factory=lock_factory,
            lock_key=f"oauth:{provider.name}:{config.connection_id}",
            token_url=str(settings.get("token_url") or ""),
            authorize_url=str(settings.get("authorize_url") or ""),
            pkce=None if pkce is None else bool(pkce),
        )

    # -- reading -------------------------------------------------------------------------------

    @property
    def credentials(self) -> Mapping[str, Any]:
        """The token set in use (a copy)."""
        return dict(self._credentials)

    def expires_at(self, credentials: Mapping[str, Any] | None = None) -> datetime | None:
        """When the access token expires (None when unknown)."""
        return _parse_instant((credentials or self._credentials).get("expires_at"))

    def _is_fresh(self, credentials: Mapping[str, Any]) -> bool:
        expires = self.expires_at(credentials)
        if not credentials.get("access_token") or expires is None:
            return False
        return self.clock() < expires - self.refresh_margin

    # -- authorization-code flow ---------------------------------------------------------------

    def authorization_url(
        self, state: str, redirect_uri: str, scopes: list[str] | tuple[str, ...] | None = None
    ) -> tuple[str, str]:
        """The URL to send the user to, and the PKCE ``code_verifier`` to keep with ``state``
        (empty when the vendor does not take PKCE). Pass both back to :meth:`exchange_code`."""
        params = {
            "response_type": "code",
            "client_id": str(self._credentials.get("client_id", "")),
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes or self.provider.default_scopes),
            "state": state,
        }
        params.update(dict(self.provider.authorize_params))
        verifier = ""
        if self.pkce:
            verifier = secrets.token_urlsafe(64)[:96]  # 43..128 characters (RFC 7636 section 4.1)
            params["code_challenge"] = pkce_challenge(verifier)
            params["code_challenge_method"] = "S256"
        separator = "&" if "?" in self.authorize_url else "?"
        return f"{self.authorize_url}{separator}{urlencode(params)}", verifier

    def exchange_code(
        self,
        code: str,
        redirect_uri: str,
        code_verifier: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        """Trade an authorization code for the first token set; saves and returns it.

        ``extra`` is merged into the stored credentials (QuickBooks' ``realm_id`` from the
        callback, Xero's ``tenant_id`` chosen from ``/connections``).
        """
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        try:
            answer = self._token_request(form)
        except OAuthError as exc:
            raise AuthExpired(
                f"{self.provider.name}: the authorisation code was refused ({exc.error}); connect again",
                vendor_code=exc.error,
                vendor_message=exc.description or exc.error,
            ) from exc
        base = {**self._credentials, **dict(extra or {})}
        new = self._merge(base, answer)
        self._store(new)
        return dict(new)

    # -- access tokens ------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token, refreshed first when it expires within ``refresh_margin``."""
        if self._unsaved is None and self._is_fresh(self._credentials):
            return str(self._credentials["access_token"])
        return str(self._refresh_locked(rejected=None)["access_token"])

    def refresh(self, rejected_access_token: str | None = None) -> str:
        """Refresh now because the vendor refused ``rejected_access_token`` (HTTP 401).

        If the stored access token already differs from the rejected one, another worker refreshed
        and that token is returned without calling the vendor. Raises :class:`AuthExpired` when the
        vendor refuses the refresh token.
        """
        rejected = rejected_access_token or str(self._credentials.get("access_token", ""))
        return str(self._refresh_locked(rejected=rejected)["access_token"])

    def _lock(self) -> AbstractContextManager[Any]:
        factory: LockFactory = self._lock_factory or _defaults["lock_factory"] or process_lock
        return factory(self.lock_key)

    def _reload(self) -> dict[str, Any]:
        if self._load is not None:
            return dict(self._load())
        latest = _latest_saved.get(self.lock_key)
        return dict(latest) if latest is not None else dict(self._credentials)

    def _refresh_locked(self, rejected: str | None) -> Mapping[str, Any]:
        """Refresh under the connection's lock, unless the re-read shows someone else already did."""
        with self._lock():
            if self._unsaved is not None:
                # A rotated token set we could not store yet: store it before anything else.
                self._store(self._unsaved)
            stored = self._reload()
            stored_token = str(stored.get("access_token", ""))
            someone_else_refreshed = rejected is not None and bool(stored_token) and stored_token != rejected
            if self._is_fresh(stored) and (rejected is None or someone_else_refreshed):
                self._credentials = stored
                return stored
            return self._refresh_with(stored, reread_on_invalid_grant=True)

    def _refresh_with(self, stored: dict[str, Any], *, reread_on_invalid_grant: bool) -> Mapping[str, Any]:
        """Spend ``stored``'s refresh token; on invalid_grant re-read once; store the new set."""
        refresh_token = str(stored.get("refresh_token") or "")
        if not refresh_token:
            raise AuthExpired(
                f"{self.provider.name}: no refresh token is stored; the connection must be re-authorised"
            )
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        try:
            try:
                answer = self._token_request(form)
            except Uncertain:
                # The answer was lost: the vendor may have rotated the token already. Xero accepts
                # the previous refresh token for 30 minutes, so one immediate retry is safe.
                answer = self._token_request(form)
        except Uncertain as exc:
            raise Retryable(f"{self.provider.name}: token refresh got no answer twice") from exc
        except OAuthError as exc:
            if exc.error == "invalid_grant" and reread_on_invalid_grant:
                again = self._reload()
                if again.get("refresh_token") and again.get("refresh_token") != refresh_token:
                    # Rotated by someone else after our first read: theirs is the newest.
                    self._credentials = again
                    if self._is_fresh(again):
                        return again
                    return self._refresh_with(again, reread_on_invalid_grant=False)
            raise AuthExpired(
                f"{self.provider.name}: the token refresh was refused ({exc.error}); "
                "the connection must be re-authorised",
                vendor_code=exc.error,
                vendor_message=exc.description or exc.error,
            ) from exc
        new = self._merge(stored, answer)
        self._store(new)
        return new

    # -- plumbing ------------------------------------------------------------------------------

    def _merge(self, base: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
        """The stored credentials after a token answer (unknown keys of ``base`` carried over)."""
        now = self.clock()
        new = dict(base)
        new["access_token"] = str(answer["access_token"])
        if answer.get("refresh_token"):
            new["refresh_token"] = str(answer["refresh_token"])
        expires_in = int(answer.get("expires_in") or 3600)
        new["expires_at"] = (now + timedelta(seconds=expires_in)).isoformat()
        if answer.get("x_refresh_token_expires_in"):
            seconds = int(answer["x_refresh_token_expires_in"])
            new["refresh_expires_at"] = (now + timedelta(seconds=seconds)).isoformat()
        for key in self.provider.answer_fields:
            if answer.get(key):
                new[key] = str(answer[key])
        new["token_obtained_at"] = now.isoformat()
        return new

    def _store(self, new: Mapping[str, Any]) -> None:
        """Persist first, then use: a token set that is not stored is never handed out."""
        if self._save is not None:
            try:
                self._save(dict(new))
            except Exception as exc:
                self._unsaved = dict(new)
                raise Retryable(f"{self.provider.name}: could not store the rotated tokens: {exc}") from exc
        self._unsaved = None
        self._credentials = dict(new)
        _latest_saved[self.lock_key] = dict(new)

    def _token_request(self, form: Mapping[str, str]) -> Mapping[str, Any]:
        """POST the token endpoint; returns the JSON answer or raises OAuthError / the taxonomy."""
        client_id = str(self._credentials.get("client_id", ""))
        client_secret = str(self._credentials.get("client_secret", ""))
        headers = {"Accept": "application/json"}
        payload = dict(form)
        if self.provider.client_auth == "post":
            payload.update(client_id=client_id, client_secret=client_secret)
        else:
            basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {basic}"
        response = self.http.request("POST", self.token_url, data=payload, headers=headers)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and isinstance(body, Mapping) and body.get("access_token"):
            return body
        if isinstance(body, Mapping) and body.get("error"):
            raise OAuthError(
                str(body["error"]), str(body.get("error_description") or ""), response.status_code
            )
        if response.status_code >= 400:
            error = "invalid_client" if response.status_code == 401 else "invalid_request"
            raise OAuthError(error, response.text[:300], response.status_code)
        raise Retryable(f"{self.provider.name}: the token endpoint answered without a token")
