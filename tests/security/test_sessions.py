"""Login throttling well before 100 failures, session inactivity timeout and absolute lifetime."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from integrator.security.middleware import SEEN_KEY, STARTED_KEY


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1") -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_the_login_form_works(users: Any) -> None:
    client = Client()
    response = _login(client, "auditor", "pw-auditor")
    assert response.status_code == 302 and client.get("/").status_code == 200


def test_an_account_is_locked_after_a_few_failures_from_anywhere(
    users: Any, caplog: pytest.LogCaptureFixture
) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    assert limit <= 10, "well before 100 failures"
    client = Client()
    caplog.set_level(logging.WARNING, logger="integrator.security")
    for attempt in range(limit):
        # Each attempt from another address: spraying from many IPs does not help.
        response = _login(client, "finance_manager", f"guess-{attempt}", ip=f"10.0.1.{attempt}")
        assert response.status_code in (200, 429)
    locked = _login(client, "finance_manager", "pw-finance_manager", ip="10.0.2.1")
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session
    assert "login locked out" in caplog.text and "pw-finance_manager" not in caplog.text
    assert _login(Client(), "auditor", "pw-auditor", ip="10.0.2.2").status_code == 302, "others unaffected"


def test_an_address_is_locked_after_failures_on_many_accounts(users: Any) -> None:
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"nobody-{attempt}", "guess", ip="10.0.3.3")
    assert _login(client, "auditor", "pw-auditor", ip="10.0.3.3").status_code == 429


def test_an_idle_session_ends(users: Any) -> None:
    client = Client()
    client.force_login(users["auditor"])
    assert client.get("/").status_code == 200
    session = client.session
    session[SEEN_KEY] = time.time() - settings.SESSION_IDLE_TIMEOUT - 5
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


def test_a_busy_session_still_ends_at_its_absolute_lifetime(users: Any) -> None:
    client = Client()
    client.force_login(users["auditor"])
    session = client.session
    session[STARTED_KEY] = time.time() - settings.SESSION_ABSOLUTE_TIMEOUT - 5
    session[SEEN_KEY] = time.time()
    session.save()
    assert client.get("/")["Location"].startswith("/login/")


def test_activity_keeps_a_session_alive(users: Any) -> None:
    client = Client()
    client.force_login(users["auditor"])
    session = client.session
    session[SEEN_KEY] = time.time() - settings.SESSION_IDLE_TIMEOUT + 60
    session.save()
    assert client.get("/").status_code == 200
    assert client.session[SEEN_KEY] > time.time() - 5


def test_session_limits_are_sane() -> None:
    assert settings.SESSION_IDLE_TIMEOUT <= 3600
    assert settings.SESSION_ABSOLUTE_TIMEOUT <= 12 * 3600
    assert settings.SESSION_COOKIE_HTTPONLY and settings.SESSION_COOKIE_SAMESITE == "Lax"
