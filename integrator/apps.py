"""App configuration of the core domain."""

import os
import sys
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender: Any, **kwargs: Any) -> None:
    """After ``migrate`` the periodic sweeps exist, with or without the demo (tests make their own)."""
    from django.conf import settings

    if settings.TESTING:
        return
    from integrator.tasks import ensure_schedules

    ensure_schedules()


class IntegratorConfig(AppConfig):
    """The core: channels, ledgers, mappings, transactions, journals, postings, audit."""

    name = "integrator"
    verbose_name = "Integrator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Install the integration-log recorder for outbound vendor calls, the cross-process
        refresh lock and credential reader used by OAuth clients, and for a starting worker its
        wake (``integrator.services.wake.worker_started``) and its garbage collector
        (``integrator.services.collector``)."""
        from connectors import auth, http
        from integrator.services.credentials import connection_lock, load_connection_credentials
        from integrator.services.integration_log import record_call

        http.set_call_recorder(record_call)
        auth.configure(lock_factory=connection_lock, credentials_loader=load_connection_credentials)
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="integrator-schedules")
        _lower_worker_priority()
        from django_q.signals import post_spawn

        from integrator.services.collector import tune_worker_collector
        from integrator.services.wake import worker_started

        post_spawn.connect(worker_started, dispatch_uid="integrator-wake-on-worker-start")
        post_spawn.connect(tune_worker_collector, dispatch_uid="integrator-worker-collector")


def _lower_worker_priority() -> None:
    """In ``manage.py qcluster``, lower the process's CPU priority (``Q_WORKER_NICE``) before the
    cluster forks its workers, so they inherit it: the web process answers webhooks first."""
    from django.conf import settings

    if len(sys.argv) > 1 and sys.argv[1] == "qcluster" and settings.Q_WORKER_NICE > 0:
        os.nice(settings.Q_WORKER_NICE)
