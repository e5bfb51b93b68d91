"""Failpoints: crash injection for reliability tests, inert unless explicitly allowed.

``INTEGRATOR_ALLOW_FAILPOINTS=1`` and ``INTEGRATOR_FAILPOINTS=after_send`` make
``failpoint("after_send")`` kill the process on the spot (``os._exit``), exactly like ``kill -9``
between the vendor call and saving its result. Production never sets the first variable.

Probability mode: with ``INTEGRATOR_FAILPOINT_PROBABILITY=0.02`` as well, an armed failpoint kills
the process on only 2 % of its passes, drawn from a generator seeded by
``INTEGRATOR_FAILPOINT_SEED`` (default 0), so a test that restarts a worker many times gets deaths
at reproducible, varied moments (give each restart its own seed).
"""

from __future__ import annotations

import os
import random

from django.conf import settings

__all__ = ["failpoint"]

# One generator per process and seed: re-reading the environment on every pass keeps the
# failpoint easy to arm from a test, the cache keeps the draws a single reproducible sequence.
_generators: dict[str, random.Random] = {}


def _fires() -> bool:
    """Whether an armed failpoint fires on this pass (always, unless a probability is set)."""
    raw = os.environ.get("INTEGRATOR_FAILPOINT_PROBABILITY", "").strip()
    if not raw:
        return True
    probability = float(raw)
    seed = os.environ.get("INTEGRATOR_FAILPOINT_SEED", "0").strip() or "0"
    generator = _generators.setdefault(seed, random.Random(seed))
    return generator.random() < probability


def failpoint(name: str) -> None:
    """Die here if this failpoint is armed (tests only)."""
    if not settings.ALLOW_FAILPOINTS:
        return
    armed = {n.strip() for n in os.environ.get("INTEGRATOR_FAILPOINTS", "").split(",")}
    if name in armed and _fires():
        os._exit(137)
