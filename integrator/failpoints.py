"""Failpoints: crash injection for reliability tests, inert unless explicitly allowed.

``INTEGRATOR_ALLOW_FAILPOINTS=1`` and ``INTEGRATOR_FAILPOINTS=after_send`` make
``failpoint("after_send")`` kill the process on the spot (``os._exit``), exactly like ``kill -9``
between the vendor call and saving its result. Production never sets the first variable.
"""

from __future__ import annotations

import os

from django.conf import settings

__all__ = ["failpoint"]


def failpoint(name: str) -> None:
    """Die here if this failpoint is armed (tests only)."""
    if not settings.ALLOW_FAILPOINTS:
        return
    armed = {n.strip() for n in os.environ.get("INTEGRATOR_FAILPOINTS", "").split(",")}
    if name in armed:
        os._exit(137)
