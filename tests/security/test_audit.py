"""The audit trail: append-only on PostgreSQL, tamper-evident (verify_audit, exported head), a
screen and CSV export for auditors; maker-checker: nobody approves their own mapping change."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from integrator.models import AuditEvent, IntegrationCall, LedgerAccount, MappingSet, Transaction
from integrator.services import audit, mapping_changes
from tests.conftest import is_postgres
from tests.security.conftest import verified_client


def _tamper(sql: str, params: list[Any]) -> None:
    """Edit the trail behind the application's back (on PostgreSQL as a superuser bypassing the
    trigger with replica mode): exactly the tampering verify_audit must catch."""
    with transaction.atomic(), connection.cursor() as cur:
        if is_postgres():
            cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, params)


@pytest.mark.postgres
def test_update_and_delete_on_the_audit_table_are_refused(booked: Transaction) -> None:
    row = AuditEvent.objects.order_by("id").first()
    assert row is not None
    for sql in ("UPDATE integrator_auditevent SET action = 'x' WHERE id = %s",
                "DELETE FROM integrator_auditevent WHERE id = %s"):  # fmt: skip
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(sql, [row.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).update(actor_label="someone else")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).delete()
    assert AuditEvent.objects.get(pk=row.pk).action == row.action


@pytest.mark.postgres
def test_the_documented_revoke_leaves_the_application_role_append_only(booked: Transaction) -> None:
    """The statements of docs/security.md, on a throwaway role: INSERT works, the rest is refused."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    statements = [s.strip() for s in docs.split("```sql")[1].split("```")[0].split(";") if s.strip()]
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("CREATE ROLE integrator_app NOLOGIN")  # rolled back with the test's transaction
        cur.execute("GRANT USAGE ON SCHEMA public TO integrator_app")
        for statement in statements:
            cur.execute(statement)
        cur.execute("SET LOCAL ROLE integrator_app")
        cur.execute("SELECT count(*) FROM integrator_auditevent")
        cur.execute("INSERT INTO integrator_auditevent (occurred_at, actor_label, action, object_type, object_id, "
                    "object_repr, request_id, prev_hash, row_hash) VALUES (now(), 'x', 'x', 'x', 'x', '', '', "
                    "'x', 'revoke-test')")  # fmt: skip
        assert cur.rowcount == 1
        for sql in ("UPDATE integrator_auditevent SET action = 'x'", "DELETE FROM integrator_auditevent",
                    "TRUNCATE integrator_auditevent"):  # fmt: skip
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                cur.execute(sql)
        cur.execute("RESET ROLE")
        transaction.set_rollback(True)


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor_label", "sомeone"),  # noqa: RUF001 - a homoglyph: reads the same, hashes differently
     ("after", '{"total": "144.01"}'), ("request_id", "req-forged"),
     ("object_id", "00000000")],
)  # fmt: skip
def test_a_changed_byte_in_any_column_is_detected(booked: Transaction, column: str, value: str) -> None:
    call_command("verify_audit", stdout=io.StringIO())
    row = AuditEvent.objects.order_by("id")[2]
    _tamper(f"UPDATE integrator_auditevent SET {column} = %s WHERE id = %s", [value, row.pk])
    with pytest.raises(CommandError, match=f"audit row {row.pk}: content does not match its hash"):
        call_command("verify_audit", stdout=io.StringIO())


def test_a_removed_row_is_detected(booked: Transaction) -> None:
    row = AuditEvent.objects.order_by("id")[1]
    _tamper("DELETE FROM integrator_auditevent WHERE id = %s", [row.pk])
    with pytest.raises(CommandError, match="prev_hash does not match"):
        call_command("verify_audit", stdout=io.StringIO())


def test_an_exported_head_catches_a_truncated_trail(booked: Transaction, tmp_path: Path) -> None:
    head_file = tmp_path / "head.json"
    call_command("export_audit_head", "--output", str(head_file), stdout=io.StringIO())
    head = json.loads(head_file.read_text())
    last = AuditEvent.objects.order_by("-id").first()
    assert last is not None and head["head_id"] == last.pk and head["head_hash"] == last.row_hash
    audit.record("test.later", object_type="x", object_id="1")  # the trail grows: still fine
    out = io.StringIO()
    call_command("export_audit_head", "--check", str(head_file), stdout=out)
    assert f"{head['rows']} rows intact" in out.getvalue()
    # Cut the tail off (the chain itself stays internally consistent: only the head shows it).
    _tamper("DELETE FROM integrator_auditevent WHERE id >= %s", [head["head_id"]])
    # The chain that is left is consistent, but shorter than the exported head: loud (issue 14).
    with pytest.raises(CommandError, match="SHORTER THAN ITS EXPORTED HEAD"):
        call_command("verify_audit", stdout=io.StringIO())
    with pytest.raises(CommandError, match="not in the trail"):
        call_command("export_audit_head", "--check", str(head_file), stdout=io.StringIO())


def test_auditors_browse_filter_and_export_the_trail(booked: Transaction, users: Any) -> None:
    client = verified_client(users["auditor"])
    page = client.get("/security/audit/?action=posting.")
    html = page.content.decode()
    assert page.status_code == 200 and "posting.posted" in html and "channel.created" not in html
    assert client.get("/security/audit/?actor=nobody").context["page"].paginator.count == 0
    audit.record("test.formula", object_type="x", object_id="=HYPERLINK(1)")
    response = client.get("/security/audit/export.csv?object_type=x")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["test.formula"]
    assert rows[0]["object_id"] == "'=HYPERLINK(1)", "spreadsheet formulas are defused"
    assert len(rows[0]["row_hash"]) == 64 and len(rows[0]["prev_hash"]) == 64
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor == users["auditor"] and exported.after == {
        "filters": {"object_type": "x"},
        "rows": 1,
    }


def test_the_export_carries_what_is_needed_to_recompute_the_hashes(booked: Transaction, users: Any) -> None:
    response = verified_client(users["auditor"]).get("/security/audit/export.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    first = AuditEvent.objects.order_by("id").first()
    assert first is not None
    expected = audit.compute_hash(first.prev_hash, first)
    assert rows[0]["row_hash"] == expected and rows[0]["prev_hash"] == audit.GENESIS_HASH
    assert json.loads(rows[0]["after"]) == first.after


@pytest.fixture
def submitted_by_manager(channel: Any, users: Any, django_user_model: Any) -> Any:
    """A mapping change drafted and submitted by a finance manager."""
    from django.contrib.auth.models import Group

    author = users["finance_manager"]
    change = mapping_changes.draft_change(MappingSet.objects.get(), actor=author, title="Baskets to 4000")
    mapping_changes.set_item(change, actor=author, kind="revenue", match_field="sku", match_value="BASKET-2",
                             account=LedgerAccount.objects.get(code="4000"))  # fmt: skip
    mapping_changes.submit_change(change, actor=author)
    other = django_user_model.objects.create_user(username="second_manager", password="pw-second-1")
    other.groups.add(Group.objects.get(name="finance_manager"))
    return change, author, other


def test_nobody_approves_their_own_mapping_change(submitted_by_manager: Any) -> None:
    change, author, other = submitted_by_manager
    with pytest.raises(PermissionDenied):
        mapping_changes.approve_change(change, actor=author)
    screen = verified_client(author).post(f"/mappings/changes/{change.pk}/approve/", {"comment": "fine"})
    assert screen.status_code in (302, 403)
    api = verified_client(author).post(f"/api/v1/mapping-changes/{change.pk}/approve/", {"comment": "fine"})
    assert api.status_code == 403
    assert not AuditEvent.objects.filter(action__contains="approved").exists()
    ok = verified_client(other).post(f"/api/v1/mapping-changes/{change.pk}/approve/", {"comment": "checked"})
    assert ok.status_code == 200, ok.content
    approved = AuditEvent.objects.filter(action__contains="approved").get()
    assert approved.actor == other


def test_approving_needs_a_verified_second_factor(submitted_by_manager: Any) -> None:
    change, _author, other = submitted_by_manager
    client = Client()
    client.force_login(other)
    response = client.post(f"/api/v1/mapping-changes/{change.pk}/approve/", {"comment": "checked"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "mfa_required"
    assert not AuditEvent.objects.filter(action__contains="approved").exists()


def test_bulk_commands_write_their_own_audit_rows(booked: Transaction) -> None:
    call_command("purge_integration_log", stdout=io.StringIO())  # nothing old enough: nothing written
    assert not AuditEvent.objects.filter(action="integration_log.purged").exists()
    call = IntegrationCall.objects.create(vendor="x", method="GET", url="http://127.0.0.1/x")
    IntegrationCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=8 * 366))
    call_command("purge_integration_log", stdout=io.StringIO())
    purged = AuditEvent.objects.get(action="integration_log.purged")
    assert purged.actor_label == "purge_integration_log" and purged.after["deleted"] == 1
    call_command("verify_audit", stdout=io.StringIO())
