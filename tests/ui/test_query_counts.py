"""Query-count baselines of the screens: each list page (and its exports), the dashboard and the
search cost the same number of SQL queries with 10 rows as with 100."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from integrator.choices import PostingState
from tests.api import factories as f
from tests.api.queries import assert_flat


def _make_postings(env: Any, n: int) -> None:
    f.make_postings(env.channel, n, attempts=2)


def _make_dead(env: Any, n: int) -> None:
    f.make_postings(env.channel, n, state=PostingState.DEAD)


SCREENS: dict[str, Callable[[Any, int], Any]] = {
    "/transactions/": lambda env, n: f.make_transactions(env.channel, n),
    "/transactions/?export=csv": lambda env, n: f.make_transactions(env.channel, n),
    "/transactions/?export=xlsx": lambda env, n: f.make_transactions(env.channel, n),
    "/journal/": _make_postings,
    "/journal/?export=csv": _make_postings,
    "/inbox/": lambda env, n: f.make_events(env.channel, n),
    "/postings/": _make_postings,
    "/postings/?state=dead&export=xlsx": _make_dead,
    "/jobs/": lambda env, n: f.make_jobs(n),
    "/": _make_postings,
    "/connections/": lambda env, n: f.extra_channels(env.ledger, n),
    "/search/?q=till&all=1": _make_postings,
}


@pytest.mark.parametrize("url", list(SCREENS))
def test_screen_query_count_does_not_grow(url: str, client: Client, api_env: Any, users: Any) -> None:
    client.force_login(users["auditor"])
    sep = "&" if "?" in url else "?"
    assert_flat(client, f"{url}{sep}per_page=250", lambda n: SCREENS[url](api_env, n))
