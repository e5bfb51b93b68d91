"""Helpers for query-count baselines."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

__all__ = ["assert_flat", "count_queries"]


def count_queries(client: Client, url: str) -> int:
    """Queries one GET costs (its body fully read), asserting it succeeded."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, (url, body[:300])
    return len(ctx.captured_queries)


def assert_flat(client: Client, url: str, grow: Callable[[int], Any]) -> tuple[int, int]:
    """Same number of queries with 10 rows and with 100 rows."""
    grow(10)
    small = count_queries(client, url)
    grow(90)
    large = count_queries(client, url)
    assert small == large, f"{url}: {small} queries with 10 rows, {large} with 100"
    return small, large
