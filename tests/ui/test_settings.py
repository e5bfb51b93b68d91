"""Settings: the section the sidebar opens (two-factor authentication) leads to the API tokens."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_settings_link_to_the_api_tokens_and_back(users: Any) -> None:
    admin = users["integration_admin"]
    assert admin.has_perm("security.view_apitoken")
    client = _client(admin)
    settings = client.get("/security/mfa/").content.decode()
    tabs = re.search(r'<nav class="tabs" aria-label="Settings">(.*?)</nav>', settings, re.S)
    assert tabs is not None
    assert '<a href="/security/tokens/">API tokens</a>' in tabs.group(1)
    assert 'href="/security/mfa/" aria-current="page"' in tabs.group(1)
    tokens = client.get("/security/tokens/")
    assert tokens.status_code == 200
    html = tokens.content.decode()
    assert 'href="/security/tokens/" aria-current="page">API tokens</a>' in html
    assert '<a href="/security/mfa/">Two-factor authentication</a>' in html


def test_people_without_token_rights_are_told_who_manages_tokens(users: Any) -> None:
    clerk = users["finance_clerk"]
    assert not clerk.has_perm("security.view_apitoken")
    html = _client(clerk).get("/security/mfa/").content.decode()
    assert 'href="/security/tokens/"' not in html
    assert "API tokens for other tools are created by an integration admin" in html
