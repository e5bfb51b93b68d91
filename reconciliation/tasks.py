"""django-q2 entry points of reconciliation: thin wrappers over the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

__all__ = ["execute_run", "reconcile_yesterday"]


def execute_run(run_id: str) -> None:
    """Execute a queued reconciliation run."""
    from reconciliation.services.runs import execute_run as run

    run(run_id)


def reconcile_yesterday() -> Any:
    """Reconcile yesterday (UTC), for a daily schedule."""
    from django.utils import timezone

    from reconciliation.services.runs import run_reconciliation

    return run_reconciliation(timezone.now().date() - timedelta(days=1)).pk
