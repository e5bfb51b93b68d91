"""Setting up channels and ledger connections through the services: the wizard's and the API's
common ground. Webhooks go through the real endpoint; vendors are the sandboxes over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.sandbox.quickbooks import QuickBooksSandbox
from connectors.sandbox.shopify import ShopifySandbox, generate_orders, sign_webhook
from integrator.choices import EventStatus, PostingMode
from integrator.models import AuditEvent, Channel, InboundEvent, Job, LedgerConnection
from integrator.services import channel_setup as setup
from integrator.services import ledger_setup
from integrator.services.setup_fields import SetupInvalid, ledger_platforms, source_platforms
from integrator.services.sync import BackfillRefused, start_backfill
from tests.conftest import sale_event

pytestmark = pytest.mark.django_db


def details(slug: str = "pos", **kw: Any) -> setup.ChannelDetails:
    values = {"name": f"Till {slug}", "slug": slug, "currency": "GBP", "timezone": "Europe/London",
              "posting_mode": PostingMode.PER_TRANSACTION, "ledger_connection": None, **kw}  # fmt: skip
    return setup.ChannelDetails(**values)


def audit_text() -> str:
    return json.dumps(list(AuditEvent.objects.values("before", "after")), default=str)


def test_the_wizard_offers_every_platform_whose_connector_imports() -> None:
    sources = {p.slug: p for p in source_platforms()}
    assert {"generic", "prysm", "shopify", "stripe", "square"} <= set(sources)
    assert sources["generic"].we_issue_secret and not sources["shopify"].we_issue_secret
    assert sources["shopify"].can_pull and not sources["generic"].can_pull
    ledgers = {p.slug: p for p in ledger_platforms()}
    assert {"builtin", "quickbooks", "xero"} <= set(ledgers)
    assert ledgers["quickbooks"].uses_oauth and not ledgers["builtin"].uses_oauth


def test_a_generic_channel_gets_a_generated_secret_that_signs_its_webhooks(
    ledger: Any, post_event: Any
) -> None:
    channel, secret = setup.set_up_channel("generic", details(ledger_connection=ledger), {}, actor=None)
    assert secret.startswith("whsec_") and len(secret) > 40
    assert channel.secrets() == (secret,)
    assert post_event("pos", sale_event("G-1"), secret=secret).status_code == 202
    assert post_event("pos", sale_event("G-2"), secret="not-the-secret").status_code == 401
    assert {"channel.created", "channel.set_up"} <= set(AuditEvent.objects.values_list("action", flat=True))
    assert secret not in audit_text()


def test_a_shopify_channel_takes_the_vendors_secret_and_write_only_credentials(ledger: Any) -> None:
    raw = {"base_url": "https://sankofa.myshopify.com/", "access_token": "shpat_secret_token",
           "webhook_secret": "shopify-app-secret", "pull_payouts": "off"}  # fmt: skip
    channel, generated = setup.set_up_channel("shopify", details("web", ledger_connection=ledger), raw)
    assert generated == ""
    channel.refresh_from_db()
    assert channel.base_url == "https://sankofa.myshopify.com"
    assert channel.credentials == {"access_token": "shpat_secret_token"}
    assert channel.settings == {"api_version": "2024-10", "pull_payouts": False}
    assert channel.secrets() == ("shopify-app-secret",)
    text = audit_text()
    assert "shpat_secret_token" not in text and "shopify-app-secret" not in text and "access_token" in text


def test_what_is_wrong_is_said_for_every_field_at_once(ledger: Any) -> None:
    setup.set_up_channel("generic", details("taken"), {})
    with pytest.raises(SetupInvalid) as caught:
        setup.set_up_channel(
            "shopify",
            details("taken", currency="GBX", timezone="Mars/Olympus"),
            {"base_url": "shop", "tokn": "x"},
        )
    errors = caught.value.errors
    assert set(errors) == {
        "slug",
        "currency",
        "timezone",
        "base_url",
        "tokn",
        "access_token",
        "webhook_secret",
    }
    assert errors["base_url"] == "Enter a web address starting with https://"
    assert errors["access_token"] == "This is required."


def test_rotation_keeps_the_old_secret_for_the_grace_period_then_refuses_it(
    ledger: Any, post_event: Any
) -> None:
    channel, old = setup.set_up_channel("generic", details(ledger_connection=ledger), {})
    channel, new = setup.rotate_webhook_secret(channel, grace=timedelta(hours=1))
    assert new != old and channel.secrets() == (new, old)
    assert post_event("pos", sale_event("R-1"), secret=old).status_code == 202  # within the grace period
    assert post_event("pos", sale_event("R-2"), secret=new).status_code == 202
    # After the grace period the old secret is refused on read, and the scheduled task tidies it away.
    later = channel.previous_secrets_expire_at + timedelta(seconds=1)  # type: ignore[operator]
    assert Channel.objects.get(pk=channel.pk).secrets(now=later) == (new,)
    assert setup.expire_webhook_secrets(now=later) == 1
    channel.refresh_from_db()
    assert channel.webhook_secrets == [new] and channel.previous_secrets_expire_at is None
    assert post_event("pos", sale_event("R-3"), secret=old).status_code == 401
    rotated = AuditEvent.objects.get(action="channel.webhook_secret_rotated")
    assert rotated.after["secrets"] == 2 and rotated.after["previous_valid_until"]
    assert new not in audit_text() and old not in audit_text()


def test_rotation_with_no_grace_refuses_the_old_secret_at_once(ledger: Any, post_event: Any) -> None:
    channel, old = setup.set_up_channel("generic", details(ledger_connection=ledger), {})
    setup.rotate_webhook_secret(channel, grace=timedelta(0))
    assert post_event("pos", sale_event("Z-1"), secret=old).status_code == 401


def test_a_vendor_secret_is_rotated_by_pasting_the_new_one(ledger: Any) -> None:
    raw = {"base_url": "https://s.myshopify.com", "access_token": "t", "webhook_secret": "first"}
    channel, _ = setup.set_up_channel("shopify", details("web"), raw)
    with pytest.raises(SetupInvalid):
        setup.rotate_webhook_secret(channel)  # Shopify issues the secret: nothing to generate
    channel, generated = setup.rotate_webhook_secret(channel, new_secret="second")
    assert generated == "" and channel.secrets() == ("second", "first")


def test_editing_keeps_blank_secrets_and_refuses_what_would_rewrite_history(
    ledger: Any, post_event: Any
) -> None:
    raw = {"base_url": "https://s.myshopify.com", "access_token": "tok-1", "webhook_secret": "whs"}
    channel, _ = setup.set_up_channel("shopify", details("web", ledger_connection=ledger), raw)
    channel = setup.update_channel(
        channel, details={"name": "Web shop"}, raw_setup={"access_token": "", "api_version": ""}
    )
    assert channel.name == "Web shop" and channel.credentials == {"access_token": "tok-1"}
    assert "api_version" not in channel.settings
    channel = setup.update_channel(channel, raw_setup={"access_token": "tok-2"})
    assert channel.credentials == {"access_token": "tok-2"}
    updated = AuditEvent.objects.filter(action="channel.updated").latest("id")
    assert updated.after["credential_keys_changed"] == ["access_token"] and "tok-2" not in audit_text()

    generic, secret = setup.set_up_channel("generic", details("pos", ledger_connection=ledger), {})
    assert post_event("pos", sale_event("H-1"), secret=secret).status_code == 202
    with pytest.raises(SetupInvalid) as caught:
        setup.update_channel(generic, details={"slug": "pos-2", "currency": "EUR"})
    assert set(caught.value.errors) == {"slug", "currency"}


def test_disable_refuses_webhooks_archive_keeps_history_delete_only_when_empty(
    ledger: Any, post_event: Any
) -> None:
    channel, secret = setup.set_up_channel("generic", details(ledger_connection=ledger), {})
    setup.set_channel_active(channel, False)
    assert post_event("pos", sale_event("D-1"), secret=secret).status_code == 404
    setup.set_channel_active(channel, True)
    assert post_event("pos", sale_event("D-2"), secret=secret).status_code == 202
    with pytest.raises(SetupInvalid) as caught:
        setup.delete_channel(channel)
    assert "archive it instead" in caught.value.errors["channel"]
    archived = setup.archive_channel(channel)
    assert not archived.active and archived.archived_at is not None
    assert InboundEvent.objects.filter(channel=channel).count() == 1

    spare, _ = setup.set_up_channel("generic", details("spare"), {})
    setup.delete_channel(spare)
    assert not Channel.objects.filter(slug="spare").exists()
    assert AuditEvent.objects.filter(action="channel.deleted", object_id=str(spare.pk)).exists()


def test_test_connection_calls_shopify_and_is_audited(ledger: Any) -> None:
    with ShopifySandbox() as shop:
        raw = {"base_url": shop.url, "access_token": shop.access_token, "webhook_secret": "s"}
        channel, _ = setup.set_up_channel("shopify", details("web", ledger_connection=ledger), raw)
        check = setup.test_channel(channel)
    assert check.ok and "Sankofa Imports" in check.message
    row = AuditEvent.objects.get(action="channel.connection_tested")
    assert row.after["ok"] is True and row.after["message"] == check.message


def test_backfill_from_a_date_fills_the_inbox_with_progress(
    ledger: Any, django_capture_on_commit_callbacks: Any
) -> None:
    orders = generate_orders(30, start=datetime(2026, 10, 1, tzinfo=UTC))
    with ShopifySandbox(orders=orders) as shop:
        raw = {"base_url": shop.url, "access_token": shop.access_token, "webhook_secret": "s",
               "pull_payouts": False}  # fmt: skip
        channel, _ = setup.set_up_channel("shopify", details("web", ledger_connection=ledger), raw)
        with django_capture_on_commit_callbacks(execute=True):
            job = start_backfill(channel, datetime(2026, 9, 1, tzinfo=UTC))
        job.refresh_from_db()
    assert job.status == "done", job.message
    assert job.message == "30 new records, 0 already known" and job.done >= 30
    assert InboundEvent.objects.filter(channel=channel, source="pull").count() == 30
    assert AuditEvent.objects.filter(action="channel.backfill_started", object_id=str(channel.pk)).exists()
    generic, _ = setup.set_up_channel("generic", details("pos"), {})
    with pytest.raises(BackfillRefused, match="only sends webhooks"):
        start_backfill(generic, timezone.now() - timedelta(days=1))
    assert Job.objects.count() == 1


def test_ledger_connections_are_set_up_tested_and_archived(ledger: Any) -> None:
    with QuickBooksSandbox(home_currency="GBP") as qbo:
        raw = {
            "base_url": qbo.url,
            "client_id": "qbo-client",
            "client_secret": "qbo-secret",
            **qbo.ledger_settings(),
        }
        conn = ledger_setup.set_up_ledger_connection(
            "quickbooks", name="QBO", functional_currency="gbp", raw_setup=raw
        )
        assert conn.functional_currency == "GBP" and conn.base_url == qbo.url
        assert conn.credentials == {"client_id": "qbo-client", "client_secret": "qbo-secret"}
        assert qbo.ledger_settings().items() <= conn.settings.items()
        assert conn.settings["tax_rounding"] == "document" and conn.settings["payout_document"] == "deposit"
        check = ledger_setup.test_ledger_connection(conn)
        assert not check.ok and "Not connected yet" in check.message  # the Connect button comes next
        LedgerConnection.objects.filter(pk=conn.pk).update(
            credentials={**conn.credentials, **qbo.credentials()}
        )
        conn.refresh_from_db()
        check = ledger_setup.test_ledger_connection(conn)
        assert check.ok, check.message
    assert "qbo-secret" not in audit_text()
    with pytest.raises(SetupInvalid, match="Channels still post to it"):
        setup.set_up_channel("generic", details("pos", ledger_connection=ledger), {})
        ledger_setup.archive_ledger_connection(ledger)
    archived = ledger_setup.archive_ledger_connection(conn)
    assert archived.archived_at is not None and not archived.active
    with pytest.raises(SetupInvalid):
        setup.set_up_channel("generic", details("other", ledger_connection=archived), {})
    ledger_setup.delete_ledger_connection(conn)
    assert not LedgerConnection.objects.filter(pk=conn.pk).exists()


def test_a_disabled_ledger_sends_nothing_until_enabled(ledger: Any, channel: Any, post_event: Any) -> None:
    from integrator.models import Posting
    from integrator.services.posting import run_outbox

    ledger_setup.set_ledger_connection_active(ledger, False)
    assert post_event("till", sale_event("L-1")).status_code == 202
    run_outbox(worker="test")
    assert Posting.objects.get().state == "pending"
    ledger_setup.set_ledger_connection_active(ledger, True)
    run_outbox(worker="test")
    assert Posting.objects.get().state == "posted"


def test_shopify_webhook_signature_uses_the_stored_secret(ledger: Any, client: Any) -> None:
    raw = {"base_url": "https://s.myshopify.com", "access_token": "t", "webhook_secret": "app-secret"}
    setup.set_up_channel("shopify", details("web", ledger_connection=ledger), raw)
    body = json.dumps({"id": 1}).encode()
    headers = {"HTTP_X_SHOPIFY_HMAC_SHA256": sign_webhook(body, "app-secret"), "HTTP_X_SHOPIFY_TOPIC": "orders/paid",
               "HTTP_X_SHOPIFY_EVENT_ID": "e-1", "HTTP_X_SHOPIFY_WEBHOOK_ID": "w-1"}  # fmt: skip
    response = client.post("/hooks/web/", data=body, content_type="application/json", **headers)
    assert response.status_code in (200, 202)
    assert InboundEvent.objects.get().status in (
        EventStatus.RECEIVED,
        EventStatus.QUARANTINED,
        EventStatus.PROCESSED,
    )
