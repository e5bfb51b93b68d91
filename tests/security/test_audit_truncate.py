"""TRUNCATE cannot empty the audit trail unnoticed (issue 14, item 5).

Probed: TRUNCATE emptied ``integrator_auditevent`` (the trigger covered only UPDATE and DELETE) and
``verify_audit`` then said "intact: 0 rows". Now a statement trigger refuses TRUNCATE to every
non-superuser role, even one holding the TRUNCATE privilege, and ``verify_audit`` compares the chain
with the last exported head, so even a superuser's TRUNCATE fails it loudly.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from integrator.models import AuditEvent
from integrator.services import audit


def _trail(rows: int = 3) -> None:
    for i in range(rows):
        audit.record("test.row", object_type="x", object_id=str(i))


@pytest.mark.postgres
def test_truncate_is_refused_even_to_a_role_holding_the_privilege(db: Any) -> None:
    _trail()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred FK checks pending before TRUNCATE
        cur.execute("CREATE ROLE integrator_truncater NOLOGIN")  # rolled back with the test
        cur.execute("GRANT USAGE ON SCHEMA public TO integrator_truncater")
        cur.execute("GRANT ALL PRIVILEGES ON integrator_auditevent TO integrator_truncater")
        cur.execute("SET LOCAL ROLE integrator_truncater")
        with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"), transaction.atomic():
            cur.execute("TRUNCATE integrator_auditevent")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cur.execute("TRUNCATE integrator_auditevent CASCADE")
        cur.execute("RESET ROLE")
    assert AuditEvent.objects.count() == 3


@pytest.mark.postgres
def test_the_truncate_trigger_is_installed(db: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'integrator_auditevent'::regclass AND NOT tgisinternal"
        )
        names = {row[0] for row in cur.fetchall()}
    assert {"integrator_audit_no_truncate", "integrator_audit_no_update_delete"} <= names


def test_verify_audit_fails_loudly_on_an_emptied_trail_after_a_head_was_exported(db: Any) -> None:
    _trail()
    call_command("export_audit_head", stdout=io.StringIO())
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "reaches the head exported at" in out.getvalue()
    # What a superuser (or SQLite, which has no trigger) can still do: empty the table.
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute("TRUNCATE integrator_auditevent")  # the test role is a superuser
        else:
            cur.execute("DELETE FROM integrator_auditevent")
    assert not AuditEvent.objects.exists()
    with pytest.raises(CommandError, match=r"SHORTER THAN ITS EXPORTED HEAD: 0 rows now, \d+ when"):
        call_command("verify_audit", stdout=io.StringIO())


def test_verify_audit_without_an_exported_head_checks_the_chain_alone(db: Any) -> None:
    _trail()
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert "audit chain intact" in out.getvalue() and "exported" not in out.getvalue()
