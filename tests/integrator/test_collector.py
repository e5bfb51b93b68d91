"""A worker process's garbage collector (issue 19; ``integrator.services.collector``).

A cluster's worker sets its collector as it starts (django-q's ``post_spawn``): the objects alive
at start set aside, and a young collection every ``WORKER_GC_THRESHOLD`` allocations. The web or
test process that sends the same signal (inline mode, the tests) keeps Python's default.
The cluster itself is exercised in ``test_e2e_worker.py``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from django_q.signals import post_spawn

from integrator.services.collector import tune_worker_collector, worker_collector


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """Whatever a test does to this process's collector is undone after it."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_signal_in_the_main_process_leaves_the_collector_alone(settings: Any) -> None:
    settings.WORKER_GC_THRESHOLD = 50_000
    before = gc.get_threshold()
    post_spawn.send(sender="django_q", proc_name="Process-1:1")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert tune_worker_collector(sender="django_q") is False


def test_a_worker_sets_its_threshold_and_sets_aside_what_it_loaded(settings: Any) -> None:
    settings.WORKER_GC_THRESHOLD = 40_000
    older = gc.get_threshold()[1:]
    assert tune_worker_collector() is True
    assert gc.get_threshold() == (40_000, *older)
    assert gc.get_freeze_count() > 10_000  # Django, the apps and the test machinery
    # Still on: a reference cycle made afterwards is freed.
    assert gc.isenabled()
    cycle: list[Any] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_zero_keeps_pythons_default(settings: Any) -> None:
    settings.WORKER_GC_THRESHOLD = 0
    before = gc.get_threshold()
    assert tune_worker_collector() is False
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_benchmarks_block_puts_everything_back(settings: Any) -> None:
    settings.WORKER_GC_THRESHOLD = 30_000
    before = gc.get_threshold()
    with worker_collector() as tuned:
        assert tuned is True
        assert gc.get_threshold()[0] == 30_000
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
