"""Fixtures of the security tests: verified sessions, API tokens, a small booked world."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from integrator.models import Transaction
from integrator.security.tokens import NewToken, create_token
from tests.conftest import sale_event


def totp_now(device: TOTPDevice) -> str:
    """The code an authenticator app would show now for ``device``."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def verified_client(user: Any) -> Client:
    """A logged-in client whose session is verified with a confirmed TOTP device."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test phone", confirmed=True
    )
    client = Client()
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def api_owner(db: Any) -> Any:
    """A service user in the finance clerk group: what the test tokens act as."""
    user = get_user_model().objects.create_user(username="api-client", password="unused-pw-0")
    user.groups.add(Group.objects.get(name="finance_clerk"))
    return user


@pytest.fixture
def tokens(api_owner: Any, users: dict[str, Any]) -> dict[str, NewToken]:
    """A read-only token and one with postings:write for the service user (as `manage.py
    create_api_token` makes them: nobody mints a token for someone else in the browser)."""
    return {
        "ro": create_token(name="BI read", owner=api_owner),
        "w": create_token(name="Retry bot", owner=api_owner, scopes=["postings:write"]),
    }


def api_message(response: Any) -> str:
    """The message of an API error body (``{"error": {"message": ...}}``)."""
    body = response.json()
    return str(body.get("error", {}).get("message") or body.get("detail", ""))


def bearer(token: NewToken | str) -> dict[str, str]:
    """Test-client headers carrying a bearer token."""
    plaintext = token if isinstance(token, str) else token.plaintext
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


@pytest.fixture
def booked(channel: Any, post_event: Any) -> Transaction:
    """One sale, journaled and posted to the built-in ledger."""
    post_event("till", sale_event("S-SEC-1"))
    return Transaction.objects.get()
