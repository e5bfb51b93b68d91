"""The Setup area, period close, recovery and alert screens through the Django test client, as
the people who use them (second factor verified for the roles that need it)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client

from connectors.sandbox.quickbooks import QuickBooksSandbox
from integrator.choices import EventStatus
from integrator.models import AuditEvent, Channel, InboundEvent, Job, LedgerConnection, PeriodClose
from integrator.services.people import first_admin_code
from reconciliation.services.runs import run_reconciliation
from tests.conftest import sale_event
from tests.oauth import consent_url
from tests.security.conftest import verified_client

pytestmark = pytest.mark.django_db


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_the_channel_wizard_shows_the_secret_once(ledger: Any, users: Any, post_event: Any) -> None:
    admin = verified_client(users["integration_admin"])
    page = admin.get("/setup/channels/new/")
    assert page.status_code == 200
    for name in ("Shopify", "Stripe", "Square", "Generic signed JSON", "Prysm POS"):
        assert name in page.content.decode()
    form = admin.get("/setup/channels/new/generic/")
    assert form.status_code == 200 and 'name="channel-slug"' in form.content.decode()
    response = admin.post("/setup/channels/new/generic/", {
        "channel-name": "Dakar pop-up", "channel-slug": "dakar", "channel-currency": "xof",
        "channel-timezone": "Africa/Dakar", "channel-posting_mode": "daily_summary",
        "channel-ledger_connection": str(ledger.pk),
    })  # fmt: skip
    channel = Channel.objects.get(slug="dakar")
    assert response.status_code == 302 and response["Location"] == f"/setup/channels/{channel.pk}/"
    first = admin.get(response["Location"]).content.decode()
    secret = re.search(r'id="signing-secret" value="([^"]+)"', first)
    assert secret and channel.secrets() == (secret.group(1),)
    assert "http://testserver/hooks/dakar/" in first and 'data-copy="webhook-url"' in first
    again = admin.get(response["Location"]).content.decode()
    assert "signing-secret" not in again and "stored, hidden" in again  # shown once, never again
    assert (
        post_event(
            "dakar", sale_event("D-1", currency="XOF", total="1000"), secret=secret.group(1)
        ).status_code
        == 202
    )

    rotated = admin.post(f"/setup/channels/{channel.pk}/rotate-secret/", {"grace_hours": "2"}, follow=True)
    new = re.search(r'id="signing-secret" value="([^"]+)"', rotated.content.decode())
    assert new and new.group(1) != secret.group(1)
    assert any("accepted until" in m for m in messages_of(rotated))
    tested = admin.post(f"/setup/channels/{channel.pk}/test/", follow=True)
    assert any("verifies" in m for m in messages_of(tested))
    assert "Last test" in tested.content.decode()
    admin.post(f"/setup/channels/{channel.pk}/disable/")
    channel.refresh_from_db()
    assert not channel.active


def test_the_wizard_says_what_is_wrong_next_to_each_field(ledger: Any, users: Any) -> None:
    admin = verified_client(users["integration_admin"])
    response = admin.post("/setup/channels/new/shopify/", {
        "channel-name": "Web", "channel-slug": "web", "channel-currency": "GBP", "channel-timezone": "Europe/London",
        "channel-posting_mode": "per_transaction", "channel-ledger_connection": str(ledger.pk),
        "setup-base_url": "not a url", "setup-access_token": "", "setup-webhook_secret": "s",
    })  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 200 and not Channel.objects.filter(slug="web").exists()
    assert "Enter a web address starting with https://" in page and "This is required." in page
    assert 'type="password"' in page and 'value="s"' not in page  # secrets are never echoed back


def test_roles_without_the_right_see_no_wizard(ledger: Any, users: Any) -> None:
    for role in ("finance_clerk", "finance_manager", "auditor"):
        client = verified_client(users[role])
        assert client.get("/setup/channels/new/").status_code == 403
        assert client.get("/setup/").status_code == 200
        assert "Add a channel" not in client.get("/setup/").content.decode()
    unverified = Client()
    unverified.force_login(users["integration_admin"])
    refused = unverified.post("/setup/channels/new/generic/", {"channel-name": "x"})
    assert refused.status_code == 302 and refused["Location"].startswith("/security/mfa/")


def test_a_quickbooks_connection_is_created_and_connected_through_its_consent_screen(users: Any) -> None:
    admin = verified_client(users["integration_admin"])
    with QuickBooksSandbox(home_currency="GBP") as qbo:
        response = admin.post("/setup/ledgers/new/quickbooks/", {
            "ledger-name": "QuickBooks UK", "ledger-functional_currency": "GBP", "ledger-lock_policy": "hold",
            "setup-base_url": qbo.url, "setup-client_id": "qbo-client", "setup-client_secret": "qbo-secret",
            "setup-authorize_url": qbo.url + qbo.AUTHORIZE_PATH, "setup-token_url": qbo.token_url,
        })  # fmt: skip
        conn = LedgerConnection.objects.get(name="QuickBooks UK")
        assert response["Location"] == f"/connections/ledgers/{conn.pk}/"
        page = admin.get(response["Location"]).content.decode()
        assert "Connect to QuickBooks Online" in page and "not yet: press Connect" in page
        consent = consent_url(admin.post(f"/connections/oauth/{conn.pk}/start/"))
        assert consent.startswith(qbo.url + qbo.AUTHORIZE_PATH)
        back = requests.get(consent, allow_redirects=False, timeout=10).headers["Location"]
        callback = urlsplit(back)
        assert parse_qs(callback.query)["realmId"] == [qbo.realm_id]
        done = admin.get(f"{callback.path}?{callback.query}", follow=True)
        assert any("is connected" in m for m in messages_of(done))
        tested = admin.post(f"/setup/ledgers/{conn.pk}/test/", follow=True)
        assert any(m.startswith("Connected to Sandbox Company_GB_1") for m in messages_of(tested))
    conn.refresh_from_db()
    assert conn.credentials["realm_id"] == qbo.realm_id and "qbo-secret" not in page


def test_the_first_administrator_needs_the_setup_code() -> None:
    client = Client()
    assert client.get("/login/")["Location"] == "/welcome/"
    assert client.get("/welcome/").status_code == 200
    form = {"username": "ama", "full_name": "Ama Mensah", "email": "ama@example.org",
            "password": "a-long-first-password-9"}  # fmt: skip
    wrong = client.post("/welcome/", {**form, "setup_code": "000-000-000"})
    assert wrong.status_code == 200 and "not the one printed by the server" in wrong.content.decode()
    assert not get_user_model().objects.exists()
    right = client.post("/welcome/", {**form, "setup_code": first_admin_code()})
    assert right["Location"] == "/security/mfa/enrol/"
    admin = get_user_model().objects.get()
    assert list(admin.groups.values_list("name", flat=True)) == ["integration_admin"]
    assert AuditEvent.objects.filter(action="user.first_admin_created").exists()
    assert Client().get("/welcome/")["Location"] == "/login/"  # once, never again


def test_people_are_added_with_their_roles(users: Any) -> None:
    admin = verified_client(users["integration_admin"])
    response = admin.post("/setup/people/new/", {"username": "kofi", "full_name": "Kofi Boateng",
                                                 "email": "kofi@example.org", "roles": ["finance_manager"],
                                                 "password": "another-long-password-7"})  # fmt: skip
    assert response.status_code == 302
    kofi = get_user_model().objects.get(username="kofi")
    assert list(kofi.groups.values_list("name", flat=True)) == ["finance_manager"]
    assert Client().login(username="kofi", password="another-long-password-7")
    row = AuditEvent.objects.get(action="user.created")
    assert "another-long-password-7" not in str(row.after) and row.actor_id == users["integration_admin"].pk
    refused = admin.post(
        f"/setup/people/{users['integration_admin'].pk}/",
        {"full_name": "x", "roles": ["auditor"], "active": "on"},
    )
    assert "cannot remove your own integration admin role" in refused.content.decode()
    assert verified_client(users["finance_manager"]).get("/setup/people/").status_code == 403


def test_the_close_screen_closes_and_reopens(channel: Any, ledger: Any, users: Any, post_event: Any) -> None:
    post_event("till", sale_event("S-1", occurred_at="2025-03-03T10:00:00+00:00"))
    manager = verified_client(users["finance_manager"])
    page = manager.get(f"/close/{ledger.pk}/2025/3/").content.decode()
    assert 'data-check="reconciliation"' in page and "1 day never reconciled" in page
    refused = manager.post(f"/close/{ledger.pk}/2025/3/", {"explain_reconciliation": ""})
    assert refused.status_code == 200 and not PeriodClose.objects.exists()
    run_reconciliation(start=date(2025, 3, 1), end=date(2025, 3, 31))
    closed = manager.post(f"/close/{ledger.pk}/2025/3/", {}, follow=True)
    assert any("March 2025 is closed" in m for m in messages_of(closed))
    clerk = verified_client(users["finance_clerk"])
    assert (
        clerk.post(f"/close/{ledger.pk}/2025/3/reopen/", {"reason": "late refund to book"}).status_code == 403
    )
    manager.post(f"/close/{ledger.pk}/2025/3/reopen/", {"reason": "A late refund must be booked in March."})
    ledger.refresh_from_db()
    assert ledger.lock_date == date(2025, 2, 28)
    index = manager.get("/close/?year=2025").content.decode()
    assert f'href="/close/{ledger.pk}/2025/3/"' in index and "reopened" in index


def test_the_inbox_reprocesses_one_or_many(
    channel: Any, users: Any, post_event: Any, django_capture_on_commit_callbacks: Any
) -> None:
    post_event("till", sale_event("Q-1", currency="XQZ"))
    post_event("till", sale_event("Q-2", currency="XQZ"))
    events = list(InboundEvent.objects.order_by("received_at"))
    assert {e.status for e in events} == {EventStatus.QUARANTINED}
    clerk = verified_client(users["finance_clerk"])
    page = clerk.get("/inbox/").content.decode()
    assert "Re-process selected" in page and f'value="{events[0].pk}"' in page
    one = clerk.post(f"/inbox/{events[0].pk}/reprocess/", {"filters": "status=quarantined"}, follow=True)
    assert any(m.startswith("Still quarantined") for m in messages_of(one))
    with django_capture_on_commit_callbacks(execute=True):
        bulk = clerk.post("/inbox/reprocess/", {"scope": "matching", "filters": "status=quarantined"})
    job = Job.objects.get(kind="reprocess")
    assert bulk["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.message == "0 recovered, 2 still failing, 0 skipped"
    assert verified_client(users["auditor"]).post(f"/inbox/{events[0].pk}/reprocess/").status_code == 403


def test_alert_settings_and_the_dashboard_panel(users: Any) -> None:
    from integrator.services.alerts import notify_inventory_threshold

    clerk = verified_client(users["finance_clerk"])
    notify_inventory_threshold("KENTE-12", "Dakar", 1, 5)
    assert "Low stock: KENTE-12 at Dakar" in clerk.get("/").content.decode()
    assert (
        clerk.post(
            "/settings/alerts/", {"email_address": "ama@example.org", "email_inventory": "on"}
        ).status_code
        == 302
    )
    assert "Low stock" not in clerk.get("/").content.decode()  # dashboard unticked for every kind
    assert "Low stock" in clerk.get("/alerts/").content.decode()
