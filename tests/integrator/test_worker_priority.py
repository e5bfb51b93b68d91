"""Workers yield the CPU to webhook receipt (issue 19): the cluster's processes run niced
(``Q_WORKER_NICE``) and so do the PostgreSQL backends serving them, where the server runs on this
machine and the cluster may renice them (``integrator.apps.lower_backend_priority``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings

from integrator.apps import lower_backend_priority

pytestmark = pytest.mark.django_db


def _backend_pid() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return int(cur.fetchone()[0])


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.postgres
def test_a_workers_local_backend_gets_the_workers_niceness() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    pid = _backend_pid()
    before = _niceness(pid)
    try:
        with override_settings(Q_WORKER_NICE=before + 5):
            reniced = lower_backend_priority(sender=None, connection=connection)
        if not reniced:
            assert os.geteuid() != 0, "root may renice any local backend"
            pytest.skip("this user may not renice the server's processes")
        assert _niceness(pid) == before + 5
        with override_settings(Q_WORKER_NICE=1):  # never raises the priority back
            assert lower_backend_priority(sender=None, connection=connection)
        assert _niceness(pid) == before + 5
    finally:
        if os.geteuid() == 0:
            os.setpriority(os.PRIO_PROCESS, pid, before)  # the test session's backend, as it was


def test_nothing_changes_where_the_database_is_not_a_local_postgresql() -> None:
    class Elsewhere:
        vendor = "postgresql"
        settings_dict = {"HOST": "db.internal"}

    assert lower_backend_priority(sender=None, connection=Elsewhere()) is False
    if connection.vendor == "sqlite":
        assert lower_backend_priority(sender=None, connection=connection) is False
