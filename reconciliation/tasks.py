"""django-q2 entry points of reconciliation: thin wrappers over the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

__all__ = ["execute_run", "import_statement_job", "reconcile_yesterday"]


def execute_run(run_id: str) -> None:
    """Execute a queued reconciliation run."""
    from reconciliation.services.runs import execute_run as run

    run(run_id)


def import_statement_job(
    job_id: str, path: str, account_id: str, filename: str, fmt: str = "", user_id: Any = None
) -> None:
    """Import a large uploaded statement with progress on its Job (services.statement_jobs)."""
    from reconciliation.services.statement_jobs import run_statement_import

    run_statement_import(job_id, path, account_id, filename, fmt, user_id)


def reconcile_yesterday() -> Any:
    """Reconcile yesterday (UTC), for a daily schedule."""
    from django.utils import timezone

    from reconciliation.services.runs import run_reconciliation

    return run_reconciliation(timezone.now().date() - timedelta(days=1)).pk
