"""Roles as groups with permissions, as the migrations grant them.

The groups and their permissions are created by data migrations (``integrator`` 0003 and 0004,
``reconciliation`` 0002, ``security`` 0002, ``integrator`` 0009). :func:`ensure_roles` replays those same grant
functions against the migration state, so a database flushed by a test run (or restored without
auth data) gets exactly the roles a migrated database has: one definition, no copy to drift.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any

from django.contrib.auth.models import Group

__all__ = ["ROLE_NAMES", "ensure_roles"]

ROLE_NAMES = ("finance_clerk", "finance_manager", "auditor", "integration_admin")

# (module of the migration, function) in migration order.
GRANTS = (
    ("integrator.migrations.0003_roles", "create_roles"),
    ("integrator.migrations.0004_mapping_changes", "grant"),
    ("reconciliation.migrations.0002_role_permissions", "grant"),
    ("integrator.security.migrations.0002_token_permissions", "grant"),
    ("integrator.migrations.0014_setup_close_alert_permissions", "grant"),
    ("integrator.migrations.0015_exchange_rate_permissions", "grant"),
    ("integrator.migrations.0018_inventory_permissions", "grant"),
)


@lru_cache(maxsize=1)
def _state_apps() -> Any:
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    return MigrationLoader(connection, ignore_no_migrations=True).project_state().apps


def ensure_roles() -> dict[str, Group]:
    """Make the role groups and their permissions exist (idempotent); return them by name."""
    if Group.objects.filter(name__in=ROLE_NAMES).count() < len(ROLE_NAMES):
        apps = _state_apps()
        for module_name, function in GRANTS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            getattr(module, function)(apps, None)
    return {g.name: g for g in Group.objects.filter(name__in=ROLE_NAMES)}
