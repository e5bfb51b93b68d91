"""Connecting Zoho Books: the Connect button's OAuth flow with Zoho's data-centre callback.

Zoho sends the user back with ``code``, ``location`` and ``accounts-server``; the code is traded
at that accounts server only if it is one of Zoho's (or the test server the connection names),
with the client's id and secret in the form body; the API domain of the token answer is stored
and checked; refresh tokens do not rotate and one refresher runs at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client

from connectors import auth
from connectors.base import AuthExpired, LedgerConfig
from connectors.ledgers.zoho_books import ZohoBooksTarget, api_base_url, token_url_for
from connectors.sandbox.zoho_books import ZohoBooksSandbox
from integrator.models import LedgerConnection
from tests.oauth import consent_url


@pytest.fixture(autouse=True)
def process_local_oauth():
    """Token refreshes stay in the test's process."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


def _admin_client() -> Client:
    from django.contrib.auth.models import User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from integrator.services.roles import ensure_roles

    admin = User.objects.create_user("zoho-admin", password="pw-zoho-12345")
    admin.groups.add(ensure_roles()["integration_admin"])
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client = Client()
    client.force_login(admin)
    session = client.session
    session["otp_device_id"] = device.persistent_id  # connecting is privileged: an MFA-verified session
    session.save()
    return client


def _connection(zoho: ZohoBooksSandbox) -> LedgerConnection:
    return LedgerConnection.objects.create(
        platform="zoho_books", name="Zoho Books", functional_currency="USD", base_url=zoho.url,
        credentials={"client_id": zoho.tokens.client_id, "client_secret": zoho.tokens.client_secret},
        settings=zoho.ledger_settings(),
    )  # fmt: skip


def _consent(client: Client, conn: LedgerConnection, zoho: ZohoBooksSandbox) -> str:
    start = consent_url(client.post(f"/connections/oauth/{conn.pk}/start/"))
    assert start.startswith(zoho.url + "/oauth/v2/auth")
    query = parse_qs(urlsplit(start).query)
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert "code_challenge" not in query and "ZohoBooks.invoices.ALL" in query["scope"][0]
    consent = requests.get(start, allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    return consent.headers["Location"]


@pytest.mark.django_db(transaction=True)
def test_connect_trades_the_code_at_the_named_accounts_server_and_picks_the_organisation(
    live_server: Any,
) -> None:
    client = _admin_client()
    with ZohoBooksSandbox() as zoho:
        conn = _connection(zoho)
        back = _consent(client, conn, zoho)
        assert parse_qs(urlsplit(back).query)["accounts-server"] == [zoho.url]
        done = client.get("/" + back.split("://", 1)[1].split("/", 1)[1])
        assert done.status_code == 302
        token_calls = zoho.requests_to("POST", "/oauth/v2/token")
    conn.refresh_from_db()
    creds = conn.credentials or {}
    assert (
        creds["accounts_server"] == zoho.url and creds["location"] == "us" and creds["api_domain"] == zoho.url
    )
    assert creds["tenant_id"] == zoho.organization_id and creds["refresh_token"] and not conn.needs_reauth
    [call] = token_calls
    assert "client_secret=" in call.body.decode() and not call.header("Authorization")


@pytest.mark.django_db(transaction=True)
def test_a_callback_naming_a_foreign_accounts_server_is_refused_before_any_token_request(
    live_server: Any,
) -> None:
    client = _admin_client()
    with ZohoBooksSandbox() as zoho:
        conn = _connection(zoho)
        back = _consent(client, conn, zoho).replace("127.0.0.1", "evil.example", 1)
        forged = back.replace(
            "accounts-server=http%3A%2F%2F127.0.0.1", "accounts-server=https%3A%2F%2Faccounts.evil.example"
        )
        done = client.get("/" + forged.split("://", 1)[1].split("/", 1)[1], follow=True)
        assert b"not a Zoho accounts server" in done.content
        assert zoho.tokens.count("authorization_code") == 0
    conn.refresh_from_db()
    assert not (conn.credentials or {}).get("refresh_token")


def test_only_zohos_data_centres_are_trusted():
    assert token_url_for("https://accounts.zoho.eu", {}) == "https://accounts.zoho.eu/oauth/v2/token"
    assert token_url_for("https://accounts.zoho.com.au/", {}) == "https://accounts.zoho.com.au/oauth/v2/token"
    for bad in (
        "https://accounts.zoho.eu.evil.example",
        "http://accounts.zoho.com",
        "",
        "javascript:alert(1)",
    ):
        with pytest.raises(AuthExpired):
            token_url_for(bad, {})
    assert api_base_url({"api_domain": "https://www.zohoapis.in"}, "") == "https://www.zohoapis.in/books/v3"
    with pytest.raises(AuthExpired):
        api_base_url({"api_domain": "https://www.zohoapis.evil.example"}, "")


def test_a_tampered_api_domain_is_refused_before_any_call():
    config = LedgerConfig(connection_id="zoho-tampered", platform="zoho_books", functional_currency="USD",
                          credentials={"api_domain": "https://attacker.example", "tenant_id": "1"})  # fmt: skip
    with pytest.raises(AuthExpired, match="not Zoho's"):
        ZohoBooksTarget(config)


def test_twenty_workers_needing_a_refresh_make_one_refresh_call_and_keep_the_refresh_token():
    with ZohoBooksSandbox(pause=1.0) as zoho:
        credentials = zoho.credentials()
        saved: list[Mapping[str, Any]] = []
        targets = [
            ZohoBooksTarget(LedgerConfig(connection_id="zoho-r14", platform="zoho_books", functional_currency="USD",
                                         base_url=zoho.url, credentials=credentials,
                                         settings=zoho.ledger_settings(), save_credentials=saved.append))
            for _ in range(20)
        ]  # fmt: skip
        zoho.tokens.expire_access_tokens()
        errors: list[Exception] = []

        def work(target: ZohoBooksTarget) -> None:
            try:
                target.fetch_tax_codes()
            except Exception as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert (
            zoho.tokens.count("refresh_token") == 1
            and zoho.tokens.count("refresh_token", "invalid_code") == 0
        )
        assert saved[-1]["refresh_token"] == credentials["refresh_token"]  # Zoho's refresh token stays
        assert saved[-1]["api_domain"] == zoho.url
