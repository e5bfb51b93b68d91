"""The garbage collector of a worker process (issue 19).

A worker's batch makes many short-lived container objects: for 50 sales, their documents, the
model instances of their transactions, journal entries, lines, postings, attempts and ledger
rows, and the querysets that read them back. CPython starts a young-generation collection every
700 net allocations of such objects; most of a batch's objects are still alive then (the batch
holds them), so each is walked again and again as it is promoted, and every hundred young
collections may walk the whole heap, which in a Django process is a few hundred thousand objects
loaded at start (modules, URL patterns, model and field metadata) that will never be garbage.
Measured on the spine benchmark (PostgreSQL, 9,000 sales in one process, the collector's own time
taken from ``gc.callbacks``): 5.2 s with Python's default, about a fifth of the work; 3.4 s with a
young collection every 2,000 allocations, 1.8 s every 5,000 or 10,000, and more again beyond
(2.1 s at 20,000, 2.4 s at 50,000: a larger young generation no longer fits the CPU's caches).

:func:`tune_worker_collector` keeps the collector on (reference cycles are still freed) and makes
it cheaper: the objects alive when the worker starts are moved out of its sight
(:func:`gc.freeze`), and a young collection waits for ``WORKER_GC_THRESHOLD`` allocations
(default 10,000) instead of 700. What that costs is the cyclic garbage of one such period, well
under a megabyte, held a little longer. A cluster's worker calls it when it starts
(``post_spawn``, :mod:`integrator.apps`); the web process keeps Python's default, since a
webhook's receipt makes few objects. ``WORKER_GC_THRESHOLD=0`` leaves the default everywhere.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

__all__ = ["tune_worker_collector", "worker_collector"]


def tune_worker_collector(sender: Any = None, **kwargs: Any) -> bool:
    """Set this process's collector as a worker's (see the module); returns whether it changed
    anything. Connected to django-q's ``post_spawn``, which a cluster's worker process sends once
    when it starts; the signal is also sent in a web or test process (inline mode,
    ``Q_CLUSTER['sync']``, sends it before every task; tests send it), and there, in the main
    process, it does nothing. Called directly (no ``sender``), it applies to the calling process."""
    if sender is not None and multiprocessing.current_process().name == "MainProcess":
        return False
    threshold = settings.WORKER_GC_THRESHOLD
    if threshold <= 0:
        return False
    gc.collect()  # what start-up left as garbage is freed before the rest is set aside
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
    return True


@contextmanager
def worker_collector() -> Iterator[bool]:
    """Within the block, this process's collector is a worker's; afterwards its threshold is as
    it was and, unless the process had set objects aside before, nothing is set aside (for a
    benchmark that measures a worker's work in its own process)."""
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        yield tune_worker_collector()
    finally:
        if not frozen:
            gc.unfreeze()
        gc.set_threshold(*before)
