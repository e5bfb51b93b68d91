"""API tokens: shown once, stored hashed, scoped, never more than their owner, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from integrator.models import AuditEvent, MappingSet, Posting, Transaction
from integrator.security.models import ApiToken
from integrator.security.tokens import create_token, hash_token, revoke_token
from integrator.services import mapping_changes
from tests.security.conftest import api_message, bearer, verified_client


def test_a_token_is_shown_once_and_stored_only_as_a_hash(users: Any, api_owner: Any) -> None:
    new = create_token(name="BI", owner=users["integration_admin"], actor=users["integration_admin"])
    row = ApiToken.objects.get()
    assert new.plaintext.startswith(row.prefix + "_") and len(new.plaintext) > 40
    assert row.token_hash == hash_token(new.plaintext) and new.plaintext not in str(row.__dict__)
    assert row.scopes == ["read"], "read-only unless write scopes are given"
    assert timedelta(days=89) < row.expires_at - timezone.now() <= timedelta(days=90)
    created = AuditEvent.objects.get(action="api_token.created")
    assert created.after["prefix"] == row.prefix and new.plaintext not in str(created.after)
    assert created.actor == users["integration_admin"]


def test_unknown_scopes_too_long_lives_and_inactive_owners_are_refused(users: Any, api_owner: Any) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        create_token(name="x", owner=api_owner, scopes=["admin:write"])
    with pytest.raises(ValueError, match="at most"):
        create_token(name="x", owner=api_owner, expires_at=timezone.now() + timedelta(days=400))
    api_owner.is_active = False
    api_owner.save()
    with pytest.raises(ValueError, match="active user"):
        create_token(name="x", owner=api_owner)


def test_read_only_token_reads_as_its_owner_and_cannot_write(booked: Transaction, tokens: Any) -> None:
    client = Client()
    listing = client.get("/api/v1/transactions/", **bearer(tokens["ro"]))
    assert listing.status_code == 200 and listing.json()["results"][0]["external_id"] == "S-SEC-1"
    posting = Posting.objects.get()
    refused = client.post(f"/api/v1/postings/{posting.pk}/retry/", **bearer(tokens["ro"]))
    assert refused.status_code == 403 and "postings:write" in api_message(refused)
    assert not AuditEvent.objects.filter(action="posting.replayed").exists()
    assert ApiToken.objects.get(pk=tokens["ro"].token.pk).last_used_at is not None


def test_write_scope_opens_only_its_own_resource(booked: Transaction, tokens: Any) -> None:
    client = Client()
    posting = Posting.objects.get()
    retried = client.post(f"/api/v1/postings/{posting.pk}/retry/", **bearer(tokens["w"]))
    assert retried.status_code == 409, "got through: a posted posting simply cannot be replayed"
    other = client.post(f"/api/v1/transactions/{booked.pk}/retry/", **bearer(tokens["w"]))
    assert other.status_code == 403 and "transactions:write" in api_message(other)


def test_a_token_never_exceeds_its_owner(booked: Transaction, users: Any) -> None:
    """An auditor's token with postings:write still cannot retry: the auditor cannot."""
    token = create_token(name="x", owner=users["auditor"], scopes=["postings:write"])
    response = Client().post(f"/api/v1/postings/{Posting.objects.get().pk}/retry/", **bearer(token.plaintext))
    assert response.status_code == 403


def test_approvals_need_a_person_even_with_the_mapping_scope(channel: Any, users: Any) -> None:
    clerk, manager = users["finance_clerk"], users["finance_manager"]
    change = mapping_changes.draft_change(MappingSet.objects.get(), actor=clerk, title="t")
    token = create_token(name="x", owner=manager, scopes=["mappings:write"])
    response = Client().post(f"/api/v1/mapping-changes/{change.pk}/approve/", **bearer(token.plaintext))
    assert response.status_code == 403 and "person" in api_message(response)


def test_expired_and_revoked_tokens_stop_working(tokens: Any, users: Any, channel: Any) -> None:
    client = Client()
    assert client.get("/api/v1/channels/", **bearer(tokens["ro"])).status_code == 200
    revoke_token(tokens["ro"].token, actor=users["integration_admin"])
    assert client.get("/api/v1/channels/", **bearer(tokens["ro"])).status_code == 403
    revoked = AuditEvent.objects.get(action="api_token.revoked")
    assert revoked.before["revoked_at"] is None and revoked.after["revoked_at"]
    ApiToken.objects.filter(pk=tokens["w"].token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/channels/", **bearer(tokens["w"])).status_code == 403
    assert client.get("/api/v1/channels/", **bearer("itk_madeupXX_" + "x" * 43)).status_code == 403
    assert client.get("/api/v1/channels/", HTTP_AUTHORIZATION="Bearer").status_code == 403


def test_tokens_open_the_api_only_not_the_screens(tokens: Any) -> None:
    response = Client().get("/", **bearer(tokens["ro"]))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_admin_creates_a_token_on_screen_and_sees_it_once(users: Any, api_owner: Any) -> None:
    client = verified_client(users["integration_admin"])
    response = client.post(
        "/security/tokens/new/",
        {"name": "Power BI", "owner": api_owner.pk, "scopes": ["postings:write"], "expires_in_days": 30},
    )
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    plaintext = response.context["plaintext"]
    assert plaintext in response.content.decode()
    token = ApiToken.objects.get(name="Power BI")
    assert token.scopes == ["postings:write", "read"] and token.created_by == users["integration_admin"]
    listing = client.get("/security/tokens/").content.decode()
    assert token.prefix in listing and plaintext not in listing
    assert client.post(f"/security/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client().get("/api/v1/channels/", **bearer(plaintext)).status_code == 403


def test_only_integration_admins_manage_tokens(users: Any, api_owner: Any) -> None:
    for role in ("finance_clerk", "finance_manager", "auditor"):
        client = verified_client(users[role])
        response = client.post(
            "/security/tokens/new/", {"name": "x", "owner": api_owner.pk, "expires_in_days": 1}
        )
        assert response.status_code == 403, role
    assert verified_client(users["auditor"]).get("/security/tokens/").status_code == 200
    assert verified_client(users["finance_clerk"]).get("/security/tokens/").status_code == 403
    assert not ApiToken.objects.exists()


def test_an_unverified_admin_is_sent_to_the_second_factor_first(users: Any, api_owner: Any) -> None:
    client = Client()
    client.force_login(users["integration_admin"])
    response = client.post(
        "/security/tokens/new/", {"name": "x", "owner": api_owner.pk, "expires_in_days": 1}
    )
    assert response.status_code == 302 and response["Location"].startswith("/security/mfa/enrol/")
    assert not ApiToken.objects.exists()


def test_a_staff_user_token_owner_must_be_active(users: Any) -> None:
    """A token of a user who is later deactivated stops working."""
    user = get_user_model().objects.create_user(username="temp", password="x-unused-1")
    user.groups.add(Group.objects.get(name="auditor"))
    token = create_token(name="x", owner=user)
    assert Client().get("/api/v1/channels/", **bearer(token.plaintext)).status_code == 200
    user.is_active = False
    user.save()
    assert Client().get("/api/v1/channels/", **bearer(token.plaintext)).status_code == 403
