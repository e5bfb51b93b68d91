"""Setting up, closing periods and re-processing through /api/v1/: the same services, rights and
audit rows as the screens; credentials are write-only; a generated signing secret is returned once."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client

from connectors.sandbox.shopify import ShopifySandbox
from integrator.models import AuditEvent, Channel, InboundEvent, Job, LedgerConnection
from reconciliation.services.runs import run_reconciliation
from tests.api.mixins import ActionTests, assert_error, login_as
from tests.conftest import sale_event
from tests.security.conftest import bearer

pytestmark = pytest.mark.django_db


def post(client: Client, url: str, body: dict[str, Any] | None = None, **headers: Any) -> Any:
    return client.post(url, json.dumps(body or {}), content_type="application/json", **headers)


def test_platforms_list_every_installed_connector_with_its_fields(client: Client, users: Any) -> None:
    login_as(client, users["auditor"])
    rows = {(r["kind"], r["slug"]): r for r in client.get("/api/v1/platforms/").json()}
    assert {("source", "shopify"), ("source", "generic"), ("source", "prysm"), ("ledger", "quickbooks"),
            ("ledger", "builtin")} <= set(rows)  # fmt: skip
    shopify = rows[("source", "shopify")]
    assert (
        shopify["webhook_secret"] == "vendor" and rows[("source", "generic")]["webhook_secret"] == "generated"
    )
    token = next(f for f in shopify["fields"] if f["name"] == "access_token")
    assert token["write_only"] and token["store"] == "credentials" and token["required"]
    assert rows[("ledger", "quickbooks")]["uses_oauth"]


def test_a_generated_secret_is_returned_once_and_credentials_never(
    client: Client, ledger: Any, users: Any
) -> None:
    login_as(client, users["integration_admin"])
    created = post(client, "/api/v1/channels/", {"platform": "generic", "name": "Till", "slug": "pos",
                                                 "currency": "GBP", "ledger_connection": str(ledger.pk)})  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["webhook_secret"]
    assert Channel.objects.get(slug="pos").secrets() == (secret,)
    assert body["webhook_url"] == "http://testserver/hooks/pos/" and body["signing_secrets_accepted"] == 1
    again = client.get(f"/api/v1/channels/{body['id']}/").content.decode()
    assert secret not in again and "webhook_secret" not in again

    rotated = post(client, f"/api/v1/channels/{body['id']}/rotate-secret/", {"grace_hours": 1}).json()
    assert rotated["webhook_secret"] != secret and rotated["signing_secrets_accepted"] == 2
    assert rotated["previous_secrets_expire_at"]
    patched = client.patch(
        f"/api/v1/channels/{body['id']}/", {"setup": {"nope": 1}}, content_type="application/json"
    )
    assert "nope" in assert_error(patched, 400, "invalid")["details"]
    assert secret not in json.dumps(list(AuditEvent.objects.values("before", "after")), default=str)


def test_shopify_channel_is_tested_and_backfilled(client: Client, ledger: Any, users: Any,
                                                  django_capture_on_commit_callbacks: Any) -> None:  # fmt: skip
    login_as(client, users["integration_admin"])
    with ShopifySandbox() as shop:
        created = post(client, "/api/v1/channels/", {
            "platform": "shopify", "name": "Web", "slug": "web", "currency": "GBP", "ledger_connection": str(ledger.pk),
            "setup": {"base_url": shop.url, "access_token": shop.access_token, "webhook_secret": "s"},
        }).json()  # fmt: skip
        assert "webhook_secret" not in created and created["credential_keys"] == ["access_token"]
        assert "shpat" not in json.dumps(created)
        check = post(client, f"/api/v1/channels/{created['id']}/test/").json()
        assert check["ok"] and check["details"]["name"] == "Sankofa Imports"
        with django_capture_on_commit_callbacks(execute=True):
            job = post(client, f"/api/v1/channels/{created['id']}/backfill/", {"since": "2026-01-01"})
        assert job.status_code == 202
    assert Job.objects.get(pk=job.json()["id"]).status == "done"
    generic = post(client, "/api/v1/channels/", {"platform": "generic", "name": "T", "slug": "t", "currency": "GBP",
                                                 "ledger_connection": None}).json()  # fmt: skip
    refused = post(client, f"/api/v1/channels/{generic['id']}/backfill/", {"since": "2026-01-01"})
    assert "only sends webhooks" in assert_error(refused, 409, "conflict")["message"]


def test_channels_with_history_are_archived_not_deleted(
    client: Client, channel: Any, users: Any, post_event: Any
) -> None:
    post_event("till", sale_event("S-1"))
    login_as(client, users["integration_admin"])
    assert (
        "archive it instead"
        in assert_error(client.delete(f"/api/v1/channels/{channel.pk}/"), 409, "conflict")["message"]
    )
    archived = post(client, f"/api/v1/channels/{channel.pk}/archive/").json()
    assert archived["archived_at"] and archived["active"] is False
    restored = client.patch(
        f"/api/v1/channels/{channel.pk}/", {"active": True}, content_type="application/json"
    )
    assert restored.json()["active"] is True and restored.json()["archived_at"] is None
    disabled = client.patch(
        f"/api/v1/channels/{channel.pk}/", {"active": False}, content_type="application/json"
    )
    assert disabled.json()["active"] is False
    assert AuditEvent.objects.filter(action="channel.disabled", object_id=str(channel.pk)).exists()


def test_rights_and_tokens(client: Client, ledger: Any, users: Any) -> None:
    from integrator.security.tokens import create_token

    admin = users["integration_admin"]
    token = create_token(
        name="bot", owner=admin, scopes=["transactions:write", "postings:write"], actor=admin
    )
    body = {
        "platform": "generic",
        "name": "Till",
        "slug": "pos",
        "currency": "GBP",
        "ledger_connection": str(ledger.pk),
    }
    for role in ("finance_clerk", "finance_manager", "auditor"):
        login_as(client, users[role])
        assert_error(post(client, "/api/v1/channels/", body), 403, "permission_denied")
    # An integration admin without a verified second factor is refused before anything changes.
    unverified = Client()
    unverified.force_login(users["integration_admin"])
    assert_error(post(unverified, "/api/v1/channels/", body), 403, "mfa_required")
    # Tokens never change connections, whatever their scopes.
    assert_error(post(Client(), "/api/v1/channels/", body, **bearer(token)), 403, "permission_denied")
    assert not Channel.objects.filter(slug="pos").exists()


def test_period_close_through_the_api(
    client: Client, channel: Any, ledger: Any, users: Any, post_event: Any
) -> None:
    post_event("till", sale_event("S-1", occurred_at="2025-03-03T10:00:00+00:00"))
    login_as(client, users["finance_manager"])
    status = client.get(f"/api/v1/ledger-connections/{ledger.pk}/period/", {"month": "2025-03"}).json()
    assert status["ended"] and not status["ready"]
    failing = [c["key"] for c in status["checks"] if not c["ok"]]
    assert failing == ["reconciliation"]
    refused = post(client, f"/api/v1/ledger-connections/{ledger.pk}/close-period/", {"month": "2025-03"})
    assert "reconciliation" in assert_error(refused, 400, "invalid")["details"]["explanations"]
    run_reconciliation(start=date(2025, 3, 1), end=date(2025, 3, 31))
    closed = post(client, f"/api/v1/ledger-connections/{ledger.pk}/close-period/", {"month": "2025-03"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert client.get(f"/api/v1/ledger-connections/{ledger.pk}/").json()["lock_date"] == "2025-03-31"
    login_as(client, users["finance_clerk"])
    assert_error(post(client, f"/api/v1/ledger-connections/{ledger.pk}/reopen-period/",
                      {"month": "2025-03", "reason": "A late refund to book."}), 403, "permission_denied")  # fmt: skip
    login_as(client, users["finance_manager"])
    reopened = post(client, f"/api/v1/ledger-connections/{ledger.pk}/reopen-period/",
                    {"month": "2025-03", "reason": "A late refund to book."}).json()  # fmt: skip
    assert reopened["status"] == "reopened" and reopened["reopen_reason"] == "A late refund to book."
    assert LedgerConnection.objects.get(pk=ledger.pk).lock_date == date(2025, 2, 28)


class TestReprocessEvent(ActionTests):
    """POST /api/v1/inbound-events/{id}/reprocess/: clerks, managers, admins (and transactions:write tokens)."""

    url = "/api/v1/inbound-events/"
    model = InboundEvent
    action = "reprocess"
    audit_action = "inbound_event.reprocessed"

    def make(self, env: Any, count: int) -> list[Model]:
        for n in range(count):
            env.post(env.channel.slug, sale_event(f"Q-{InboundEvent.objects.count()}-{n}", currency="XQZ"))
        return list(InboundEvent.objects.order_by("-received_at")[:count])

    def make_actionable(self, env: Any) -> Model:
        event = self.make(env, 1)[0]
        assert event.status == "quarantined"
        return event

    def make_not_actionable(self, env: Any) -> Model:
        env.post(env.channel.slug, sale_event("OK-1"))
        return InboundEvent.objects.get(status="processed")


def test_bulk_reprocess_by_filters_is_a_job(client: Client, api_env: Any, users: Any,
                                            django_capture_on_commit_callbacks: Any) -> None:  # fmt: skip
    for n in range(3):
        api_env.post("till", sale_event(f"Q-{n}", currency="XQZ"))
    login_as(client, users["finance_manager"])
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(
            client,
            "/api/v1/inbound-events/reprocess/",
            {"filters": {"status": "quarantined", "channel": "till"}},
        )
    assert answer.status_code == 202 and answer.json()["total"] == 3
    job = Job.objects.get(pk=answer.json()["id"])
    assert job.status == "done" and job.message == "0 recovered, 3 still failing, 0 skipped"
    assert_error(post(client, "/api/v1/inbound-events/reprocess/", {}), 400, "invalid")
