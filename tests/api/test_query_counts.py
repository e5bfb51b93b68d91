"""Query-count baselines: every API list endpoint costs the same number of SQL queries with 10 rows
as with 100 (no N+1 as data grows). The screens' baselines are in tests/ui/test_query_counts.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tests.api import factories as f
from tests.api.queries import assert_flat


def make_postings_with_attempts(env: Any, n: int) -> None:
    f.make_postings(env.channel, n, attempts=2)


MAKERS: dict[str, Callable[[Any, int], Any]] = {
    "channels": lambda env, n: f.extra_channels(env.ledger, n),
    "ledger-connections": lambda env, n: f.extra_connections(n),
    "accounts": lambda env, n: f.extra_accounts(env.ledger, n),
    "tax-codes": lambda env, n: f.extra_tax_codes(env.ledger, n),
    "transactions": lambda env, n: f.make_transactions(env.channel, n),
    "journal-entries": make_postings_with_attempts,
    "postings": make_postings_with_attempts,
    "inbound-events": lambda env, n: f.make_events(env.channel, n),
    "jobs": lambda env, n: f.make_jobs(n),
    "audit-events": lambda env, n: f.make_audit_events(n),
}


@pytest.mark.parametrize("resource", sorted(MAKERS))
def test_api_list_query_count_does_not_grow(resource: str, client: Client, api_env: Any, users: Any) -> None:
    client.force_login(users["auditor"])
    assert_flat(client, f"/api/v1/{resource}/?page_size=200", lambda n: MAKERS[resource](api_env, n))
