"""Tokens never borrow a person (issue 14, item 3).

Probed: the token form offered every active user as owner, so an integration admin minted a token
owned by a manager and drafted a mapping change as that manager, and a superuser drafted a change
through a clerk's token and approved it himself. Now a token is owned by the person who creates it,
tokens minted for someone else before that stop working, and maker-checker compares people.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from integrator.models import AuditEvent, MappingChangeRequest
from integrator.security.models import ApiToken
from integrator.security.tokens import create_token, hash_token
from tests.security.conftest import bearer, verified_client


def test_the_form_has_no_owner_and_a_posted_owner_is_ignored(users: Any) -> None:
    admin, manager = users["integration_admin"], users["finance_manager"]
    client = verified_client(admin)
    assert 'name="owner"' not in client.get("/security/tokens/").content.decode()
    response = client.post(
        "/security/tokens/new/",
        {"name": "borrow", "owner": manager.pk, "scopes": ["mappings:write"], "expires_in_days": 5},
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="borrow")
    assert token.owner == admin and token.created_by == admin


def test_the_service_refuses_to_mint_a_token_for_someone_else(users: Any) -> None:
    with pytest.raises(ValueError, match="owned by the person who creates it"):
        create_token(name="x", owner=users["finance_manager"], actor=users["integration_admin"])
    assert not ApiToken.objects.exists()


def test_a_token_minted_for_someone_else_before_the_fix_no_longer_works(users: Any, channel: Any) -> None:
    """The superuser's probe: a clerk's token made by the superuser drafts as the clerk, and the
    superuser then approves 'someone else's' change. The old row is refused outright."""
    root = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    legacy = create_token(name="legacy", owner=users["finance_clerk"], scopes=["mappings:write"])
    ApiToken.objects.filter(pk=legacy.token.pk).update(created_by=root)  # as the old form allowed
    answer = Client().get("/api/v1/mapping-changes/", **bearer(legacy))
    assert answer.status_code in (401, 403)
    drafted = Client().post(
        "/api/v1/mapping-changes/",
        {"title": "borrowed", "channel": str(channel.pk)},
        content_type="application/json",
        **bearer(legacy),
    )
    assert drafted.status_code in (401, 403)
    assert not MappingChangeRequest.objects.exists()


def test_an_own_token_still_works(users: Any) -> None:
    clerk = users["finance_clerk"]
    own = create_token(name="mine", owner=clerk, actor=clerk)
    assert Client().get("/api/v1/channels/", **bearer(own)).status_code == 200
    assert ApiToken.objects.get().token_hash == hash_token(own.plaintext)


def test_an_admin_may_revoke_someone_elses_token(users: Any) -> None:
    clerk = users["finance_clerk"]
    own = create_token(name="clerk's", owner=clerk, actor=clerk)
    client = verified_client(users["integration_admin"])
    assert client.post(f"/security/tokens/{own.token.pk}/revoke/").status_code == 302
    assert ApiToken.objects.get().revoked_at is not None
    assert AuditEvent.objects.get(action="api_token.revoked").actor == users["integration_admin"]


def test_a_service_users_token_comes_from_the_command(users: Any) -> None:
    svc = get_user_model().objects.create_user("bi-service", password="unused-pw-0")
    out, err = StringIO(), StringIO()
    call_command("create_api_token", owner="bi-service", name="Power BI", stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert token.owner == svc and token.created_by is None and token.token_hash == hash_token(plaintext)
    assert AuditEvent.objects.get(action="api_token.created").actor_label == "system"
    assert plaintext not in err.getvalue()
