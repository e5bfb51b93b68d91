"""Benchmarks reuse the test fixtures."""

from tests.conftest import *  # noqa: F403
