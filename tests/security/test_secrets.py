"""Secrets at rest and in transit through our own output: never in plaintext in a database dump, the
logs, the integration log, the audit trail or API responses; key rotation re-encrypts everything."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from connectors.http import VendorHTTP
from integrator.crypto import reset_key_cache
from integrator.models import AuditEvent, Channel, IntegrationCall, LedgerConnection
from integrator.security.tokens import create_token
from integrator.services.channels import create_channel
from tests.conftest import sale_event
from tests.security.conftest import bearer

WEBHOOK_SECRET = "whsec_PLAINTEXT_webhook_4242"
API_KEY = "sk_live_PLAINTEXT_apikey_4242"
ACCESS_TOKEN = "at_PLAINTEXT_oauth_access_4242"
REFRESH_TOKEN = "rt_PLAINTEXT_oauth_refresh_4242"
CLIENT_SECRET = "cs_PLAINTEXT_client_secret_4242"


@pytest.fixture
def keys(settings: Any) -> Iterator[Any]:
    """Let a test change FIELD_ENCRYPTION_KEYS; the key cache is reset before and after."""
    reset_key_cache()
    yield settings
    reset_key_cache()


def _store_secrets(*, secret: str = WEBHOOK_SECRET) -> tuple[Channel, LedgerConnection]:
    conn = LedgerConnection.objects.create(
        platform="builtin",
        name="Books",
        functional_currency="GBP",
        credentials={
            "client_secret": CLIENT_SECRET,
            "access_token": ACCESS_TOKEN,
            "refresh_token": REFRESH_TOKEN,
        },
    )
    channel = create_channel(
        platform="generic", name="Till", slug="till", currency="GBP", ledger_connection=conn,
        webhook_secrets=[secret], credentials={"api_key": API_KEY}, timezone="Europe/London",
    )  # fmt: skip
    return channel, conn


class _VendorHandler(BaseHTTPRequestHandler):
    """A vendor that answers a token refresh with fresh tokens (secrets in its body)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "expires_in": 3600})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def test_no_plaintext_secret_in_a_database_dump_or_the_logs(
    users: Any, post_event: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _store_secrets(secret="test-secret-1")  # the secret post_event signs with
    token = create_token(name="BI", owner=users["auditor"])
    # Webhook (signed with the secret), API use with good and bad tokens, a vendor call carrying tokens.
    assert post_event("till", sale_event("S-SECRET")).status_code in (200, 202)
    post_event("till", sale_event("S-BAD"), secret="wrong-secret")
    assert Client().get("/api/v1/channels/", **bearer(token)).status_code == 200
    Client().get("/api/v1/channels/", **bearer(token.plaintext[:-3] + "xyz"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VendorHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        http = VendorHTTP(vendor="fakeoauth", base_url=f"http://127.0.0.1:{server.server_port}")
        http.request("POST", "/token", data={"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN,
                                            "client_secret": CLIENT_SECRET})  # fmt: skip
    finally:
        server.shutdown()
    assert IntegrationCall.objects.filter(vendor="fakeoauth").exists()

    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    dump = out.getvalue()
    assert '"model": "integrator.channel"' in dump and '"model": "security.apitoken"' in dump
    plaintexts = ["test-secret-1", API_KEY, ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET, token.plaintext]
    for plaintext in plaintexts:
        assert plaintext not in dump, f"{plaintext[:6]}... in the database dump"
        assert plaintext not in caplog.text, f"{plaintext[:6]}... in the logs"
    # And never in the audit trail or the API's answers either.
    trail = json.dumps(list(AuditEvent.objects.values("before", "after", "object_repr")))
    staff = Client()
    staff.force_login(users["integration_admin"])
    answers = (
        staff.get("/api/v1/channels/").content.decode()
        + staff.get("/api/v1/ledger-connections/").content.decode()
    )
    for plaintext in plaintexts:
        assert plaintext not in trail and plaintext not in answers


def _raw(table: str, column: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY {column}")
        return [r[0] for r in cur.fetchall()]


def test_key_rotation_reencrypts_everything_and_the_old_key_can_go(db: Any, keys: Any) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys.FIELD_ENCRYPTION_KEYS = [old]
    reset_key_cache()
    channel, conn = _store_secrets()
    before = _raw("integrator_channel", "credentials") + _raw("integrator_ledgerconnection", "credentials")
    assert all(Fernet(old.encode()).decrypt(v.encode()) for v in before)

    keys.FIELD_ENCRYPTION_KEYS = [new, old]
    with pytest.raises(CommandError, match="not under the first key"):
        call_command("rotate_keys", "--check", stdout=io.StringIO())
    out = io.StringIO()
    call_command("rotate_keys", stdout=out)
    assert "integrator.Channel.webhook_secrets: re-encrypted 1 of 1" in out.getvalue()
    call_command("rotate_keys", "--check", stdout=io.StringIO())
    after = _raw("integrator_channel", "credentials") + _raw("integrator_ledgerconnection", "credentials")
    assert set(after).isdisjoint(before)
    rotated = AuditEvent.objects.filter(action="keys.rotated")
    assert rotated.count() == 3 and all(ACCESS_TOKEN not in json.dumps(e.after) for e in rotated)

    keys.FIELD_ENCRYPTION_KEYS = [new]  # the old key is dropped
    reset_key_cache()
    assert Channel.objects.get(pk=channel.pk).secrets() == (WEBHOOK_SECRET,)
    assert LedgerConnection.objects.get(pk=conn.pk).credentials["refresh_token"] == REFRESH_TOKEN

    keys.FIELD_ENCRYPTION_KEYS = [old]  # and the old key alone no longer opens anything
    reset_key_cache()
    with pytest.raises(ImproperlyConfigured):
        Channel.objects.get(pk=channel.pk)


def test_rotation_reports_values_no_key_can_read(db: Any, keys: Any) -> None:
    keys.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    reset_key_cache()
    _store_secrets()
    keys.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the only key that could read them is lost
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_keys", stdout=io.StringIO())
