"""The Connect button for Sage and FreshBooks: the OAuth flow against each sandbox stores the tokens
and the ids the connection posts with (Sage's lead business; FreshBooks' account and business), with
the app's credentials sent in the token request's form body."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.test import Client

from connectors import auth
from connectors.sandbox.freshbooks import FreshBooksSandbox
from connectors.sandbox.sage import SageSandbox
from integrator.models import LedgerConnection
from tests.oauth import consent_url


@pytest.fixture(autouse=True)
def local_oauth() -> Any:
    """Token requests stay in the test's process."""
    lock_factory, loader = auth.configured()
    auth.configure()
    yield
    auth.configure(lock_factory=lock_factory, credentials_loader=loader)


def _admin_client() -> Client:
    """A browser session of an integration admin, MFA-verified (connecting is privileged)."""
    from django.contrib.auth.models import User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from integrator.services.roles import ensure_roles

    admin = User.objects.create_user("ia", password="pw-ia-12345")
    admin.groups.add(ensure_roles()["integration_admin"])
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    client = Client()
    client.force_login(admin)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.mark.django_db(transaction=True)
def test_connect_button_runs_the_sage_oauth_flow_and_stores_the_lead_business() -> None:
    client = _admin_client()
    with SageSandbox() as sage:
        creds = sage.credentials()
        conn = LedgerConnection.objects.create(
            platform="sage", name="Sage", functional_currency="GBP", base_url=sage.api_url,
            credentials={"client_id": creds["client_id"], "client_secret": creds["client_secret"]},
            settings=sage.ledger_settings(),
        )  # fmt: skip
        start = consent_url(client.post(f"/connections/oauth/{conn.pk}/start/"))
        assert start.startswith(sage.url)
        assert "code_challenge" not in start  # Sage does not document PKCE
        consent = requests.get(start, allow_redirects=False, timeout=10)
        back = consent.headers["Location"]
        done = client.get("/" + back.split("://", 1)[1].split("/", 1)[1])
        assert done.status_code == 302
        token_call = next(r for r in sage.requests if r.path == "/token")
    conn.refresh_from_db()
    assert conn.credentials["business_id"] == sage.business.id and conn.credentials["access_token"]
    assert not conn.needs_reauth
    assert "client_secret=sage-secret" in token_call.body.decode() and not token_call.header("Authorization")


@pytest.mark.django_db(transaction=True)
def test_connect_button_runs_the_freshbooks_oauth_flow_and_stores_the_account() -> None:
    client = _admin_client()
    with FreshBooksSandbox() as fb:
        creds = fb.credentials()
        conn = LedgerConnection.objects.create(
            platform="freshbooks", name="FreshBooks", functional_currency="GBP", base_url=fb.url,
            credentials={"client_id": creds["client_id"], "client_secret": creds["client_secret"]},
            settings=fb.ledger_settings(),
        )  # fmt: skip
        start = consent_url(client.post(f"/connections/oauth/{conn.pk}/start/"))
        assert start.startswith(fb.url)
        consent = requests.get(start, allow_redirects=False, timeout=10)
        back = consent.headers["Location"]
        done = client.get("/" + back.split("://", 1)[1].split("/", 1)[1])
        assert done.status_code == 302
        token_call = next(r for r in fb.requests if r.path == "/auth/oauth/token")
    conn.refresh_from_db()
    assert conn.credentials["account_id"] == fb.account_id and conn.credentials["business_id"] == str(
        fb.business_id
    )
    assert conn.credentials["access_token"] and not conn.needs_reauth
    assert "client_secret=fb-secret" in token_call.body.decode() and not token_call.header("Authorization")
