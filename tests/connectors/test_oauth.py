"""OAuth2Client against the sandboxes' authorization servers, over real HTTP on 127.0.0.1.

Refresh tokens rotate (QuickBooks sandbox: the old one dies at once; Xero: 30-minute grace), so
the client must refresh once per connection at a time, save before use, and re-read on
``invalid_grant``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors import auth
from connectors.auth import OAuth2Client, pkce_challenge
from connectors.base import AuthExpired, LedgerConfig, Retryable
from connectors.ledgers.quickbooks import QUICKBOOKS_OAUTH
from connectors.ledgers.xero import XERO_OAUTH
from connectors.sandbox.base import Fault
from connectors.sandbox.quickbooks import QuickBooksSandbox
from connectors.sandbox.xero import XeroSandbox


class Store:
    """What the core keeps: the connection's credentials row, written atomically."""

    def __init__(self, credentials: Mapping[str, Any]) -> None:
        self._lock = threading.Lock()
        self.credentials = dict(credentials)
        self.writes: list[dict[str, Any]] = []

    def save(self, new: Mapping[str, Any]) -> None:
        with self._lock:
            self.credentials = dict(new)
            self.writes.append(dict(new))

    def load(self) -> Mapping[str, Any]:
        with self._lock:
            return dict(self.credentials)


def expired(credentials: Mapping[str, Any]) -> dict[str, Any]:
    """The same tokens, with an access token that expires within the refresh margin."""
    return {**credentials, "expires_at": (datetime.now(UTC) + timedelta(minutes=2)).isoformat()}


def client_for(sandbox: QuickBooksSandbox | XeroSandbox, store: Store, key: str, **kw: Any) -> OAuth2Client:
    provider = QUICKBOOKS_OAUTH if isinstance(sandbox, QuickBooksSandbox) else XERO_OAUTH
    return OAuth2Client(
        provider,
        credentials=store.load(),
        save_credentials=store.save,
        load_credentials=store.load,
        lock_key=key,
        token_url=sandbox.token_url,
        authorize_url=sandbox.url + sandbox.AUTHORIZE_PATH,
        **kw,
    )


@pytest.fixture(autouse=True)
def process_local_oauth():
    """Connector tests run without the database: the core's installed credential reader and
    lock (integrator.apps) are set aside for the test and put back afterwards."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


@pytest.fixture
def qbo():
    with QuickBooksSandbox() as server:
        yield server


@pytest.fixture
def xero():
    with XeroSandbox() as server:
        yield server


def test_authorization_code_flow_with_pkce_saves_the_first_token_set(xero):
    store = Store({"client_id": "xero-client", "client_secret": "xero-secret"})
    client = client_for(xero, store, "oauth:pkce")
    url, verifier = client.authorization_url(
        "state-123", "https://integrator.test/callback", ["accounting.transactions"]
    )
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge"] == [pkce_challenge(verifier)] and query["code_challenge_method"] == [
        "S256"
    ]
    assert 43 <= len(verifier) <= 128 and query["state"] == ["state-123"]
    answer = requests.get(url, allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    saved = client.exchange_code(
        code, "https://integrator.test/callback", verifier, extra={"tenant_id": "t-1"}
    )
    assert store.credentials == saved and saved["tenant_id"] == "t-1"
    assert xero.tokens.access_valid(saved["access_token"])
    assert client.access_token() == saved["access_token"]


def test_a_wrong_pkce_verifier_is_refused(xero):
    store = Store({"client_id": "xero-client", "client_secret": "xero-secret"})
    client = client_for(xero, store, "oauth:pkce-bad")
    url, _verifier = client.authorization_url("s", "https://integrator.test/cb")
    code = parse_qs(urlsplit(requests.get(url, allow_redirects=False, timeout=5).headers["Location"]).query)[
        "code"
    ][0]
    with pytest.raises(AuthExpired, match="connect again"):
        client.exchange_code(code, "https://integrator.test/cb", "not-the-verifier")
    assert store.writes == []


def test_quickbooks_flow_without_pkce_returns_the_realm(qbo):
    store = Store({"client_id": "qbo-client", "client_secret": "qbo-secret"})
    client = client_for(qbo, store, "oauth:qbo-code")
    url, verifier = client.authorization_url("s", "https://integrator.test/cb")
    assert (
        verifier == ""
        and "code_challenge" not in url
        and "com.intuit.quickbooks.accounting" in parse_qs(urlsplit(url).query)["scope"][0]
    )
    location = parse_qs(
        urlsplit(requests.get(url, allow_redirects=False, timeout=5).headers["Location"]).query
    )
    saved = client.exchange_code(
        location["code"][0], "https://integrator.test/cb", extra={"realm_id": location["realmId"][0]}
    )
    assert saved["realm_id"] == qbo.realm_id and "refresh_expires_at" in saved


def test_a_fresh_token_needs_no_call_and_an_expiring_one_is_refreshed_and_saved_first(qbo):
    store = Store(qbo.credentials())
    client = client_for(qbo, store, "oauth:fresh")
    assert client.access_token() == store.credentials["access_token"]
    assert qbo.tokens.calls == []
    store.credentials = expired(store.credentials)
    old_refresh = store.credentials["refresh_token"]
    client = client_for(qbo, store, "oauth:fresh")
    token = client.access_token()
    assert len(store.writes) == 1 and store.writes[0]["access_token"] == token
    assert store.writes[0]["refresh_token"] != old_refresh  # rotated, and the newest one is stored
    assert store.writes[0]["realm_id"] == qbo.realm_id  # the connector's own keys are carried over


def test_twenty_workers_needing_a_refresh_at_once_make_exactly_one_refresh_call(qbo):
    qbo.tokens.delay = 0.2  # a slow token endpoint widens the race
    store = Store(expired(qbo.credentials()))
    clients = [client_for(qbo, store, "oauth:race") for _ in range(20)]
    barrier = threading.Barrier(20)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def work(client: OAuth2Client) -> None:
        barrier.wait()
        try:
            tokens.append(client.access_token())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert qbo.tokens.count("refresh_token") == 1
    assert qbo.tokens.count("refresh_token", "invalid_grant") == 0
    assert len(set(tokens)) == 1 and len(tokens) == 20 and len(store.writes) == 1


def test_the_core_lock_factory_is_used_for_the_refresh(qbo):
    taken: list[str] = []
    lock = threading.Lock()

    @contextmanager
    def database_lock(key: str) -> Iterator[None]:
        with lock:
            taken.append(key)
            yield

    store = Store(expired(qbo.credentials()))
    client_for(qbo, store, "oauth:quickbooks:conn-7", lock_factory=database_lock).access_token()
    assert taken == ["oauth:quickbooks:conn-7"]


def test_invalid_grant_rereads_the_credentials_another_process_rotated(qbo):
    original = expired(qbo.credentials())
    store = Store(original)
    other_process = client_for(qbo, Store(original), "oauth:elsewhere")
    other_process.access_token()  # rotates without our lock, e.g. a process without the shared lock
    store.credentials = dict(other_process.credentials)  # ... and stored the new set
    ours = OAuth2Client(QUICKBOOKS_OAUTH, credentials=original, save_credentials=store.save,
                        load_credentials=_stale_then(original, store), lock_key="oauth:stale", token_url=qbo.token_url)  # fmt: skip
    assert ours.access_token() == other_process.credentials["access_token"]
    assert qbo.tokens.count("refresh_token", "invalid_grant") == 1  # one spent token tried, no more


def _stale_then(stale: Mapping[str, Any], store: Store):
    """A loader whose first read is stale (a replica lagging), then the truth."""
    reads = iter([stale])

    def load() -> Mapping[str, Any]:
        return next(reads, None) or store.load()

    return load


def test_a_refused_refresh_raises_auth_expired_saying_reauthorisation_is_needed(qbo):
    store = Store(expired(qbo.credentials()))
    qbo.tokens.revoke_refresh_tokens()
    with pytest.raises(AuthExpired, match="must be re-authorised") as caught:
        client_for(qbo, store, "oauth:revoked").access_token()
    assert caught.value.vendor_code == "invalid_grant" and store.writes == []


def test_quickbooks_old_refresh_token_is_dead_after_use(qbo):
    original = expired(qbo.credentials())
    client_for(qbo, Store(original), "oauth:first").access_token()
    with pytest.raises(AuthExpired):
        client_for(qbo, Store(original), "oauth:second").access_token()


def test_xero_lost_token_answer_is_retried_within_the_grace_window(xero):
    store = Store(expired(xero.credentials()))
    xero.faults.next(Fault("drop_after_commit"))
    token = client_for(xero, store, "oauth:lost").access_token()
    assert xero.tokens.count("refresh_token", "ok") == 2  # the lost one and the retry
    assert store.writes[-1]["access_token"] == token and xero.tokens.access_valid(token)


def test_quickbooks_lost_token_answer_without_grace_asks_for_reauthorisation(qbo):
    store = Store(expired(qbo.credentials()))
    qbo.faults.next(Fault("drop_after_commit"))
    with pytest.raises(AuthExpired):
        client_for(qbo, store, "oauth:lost-qbo").access_token()


def test_a_token_set_that_cannot_be_saved_is_not_used_and_is_saved_first_next_time(qbo):
    store = Store(expired(qbo.credentials()))
    failures = iter([True])

    def flaky_save(new: Mapping[str, Any]) -> None:
        if next(failures, False):
            raise OSError("database unavailable")
        store.save(new)

    client = OAuth2Client(QUICKBOOKS_OAUTH, credentials=store.load(), save_credentials=flaky_save,
                          load_credentials=store.load, lock_key="oauth:flaky", token_url=qbo.token_url)  # fmt: skip
    with pytest.raises(Retryable, match="could not store"):
        client.access_token()
    token = client.access_token()
    assert qbo.tokens.count("refresh_token") == 1  # the kept token set was stored, not refreshed again
    assert store.writes[0]["access_token"] == token


def test_refresh_after_a_401_uses_the_token_another_worker_already_got(qbo):
    store = Store(qbo.credentials())
    rejected = store.credentials["access_token"]
    worker_a, worker_b = client_for(qbo, store, "oauth:401"), client_for(qbo, store, "oauth:401")
    first = worker_a.refresh(rejected)
    assert worker_b.refresh(rejected) == first
    assert qbo.tokens.count("refresh_token") == 1


def test_configure_installs_the_core_loader_and_lock(qbo):
    store = Store(expired(qbo.credentials()))
    keys: list[str] = []

    @contextmanager
    def lock(key: str) -> Iterator[None]:
        keys.append(key)
        yield

    previous = auth.configured()
    auth.configure(lock_factory=lock, credentials_loader=lambda connection_id: store.load())
    try:
        config = LedgerConfig(connection_id="conn-42", platform="quickbooks", functional_currency="USD",
                              credentials=store.load(), settings=qbo.ledger_settings(), save_credentials=store.save)  # fmt: skip
        client = OAuth2Client.from_config(QUICKBOOKS_OAUTH, config)
        client.access_token()
    finally:
        auth.configure(lock_factory=previous[0], credentials_loader=previous[1])
    assert keys == ["oauth:quickbooks:conn-42"] and len(store.writes) == 1
