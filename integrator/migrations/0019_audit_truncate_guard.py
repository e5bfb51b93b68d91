"""Refuse TRUNCATE of the audit trail on PostgreSQL (issue 14, item 5).

The row trigger of 0002 refuses UPDATE and DELETE, but TRUNCATE fires no row trigger: a role with
the TRUNCATE privilege emptied the trail and ``verify_audit`` then reported "intact: 0 rows". A
statement trigger now refuses it for every role except superusers. A superuser can drop or disable
any trigger (or run with ``session_replication_role = replica``), so the trigger could not stop one
anyway; exempting them keeps ``flush`` (how the test suite resets PostgreSQL) working. Against a
superuser the defence is the exported head, which ``verify_audit`` now checks (docs/security.md).
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION integrator_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: TRUNCATE refused' USING ERRCODE = '42501';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER integrator_audit_no_truncate
    BEFORE TRUNCATE ON integrator_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION integrator_audit_no_truncate();
"""

REVERSE = """
DROP TRIGGER IF EXISTS integrator_audit_no_truncate ON integrator_auditevent;
DROP FUNCTION IF EXISTS integrator_audit_no_truncate();
"""


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("integrator", "0018_inventory_permissions")]

    operations = [migrations.RunPython(_on_postgres(SQL), _on_postgres(REVERSE))]
