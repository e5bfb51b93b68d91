"""Database-enforced invariants on PostgreSQL (SQLite relies on the checks in the services).

* Every journal entry balances per currency: a DEFERRABLE INITIALLY DEFERRED constraint trigger on
  journal lines checks, at commit, that debits equal credits for each touched entry (django-hordak
  style), so even raw SQL cannot commit an unbalanced entry.
* The audit trail is append-only: a trigger refuses UPDATE and DELETE on it. TRUNCATE is left to
  privileges (docs/security.md shows the REVOKE for the application role), so that test
  databases can still be flushed.
"""

from django.db import migrations

BALANCE_SQL = """
CREATE OR REPLACE FUNCTION integrator_check_entry_balanced() RETURNS trigger AS $$
DECLARE
    entry uuid;
    bad record;
BEGIN
    IF TG_OP = 'DELETE' THEN entry := OLD.entry_id; ELSE entry := NEW.entry_id; END IF;
    SELECT currency, SUM(debit) AS dr, SUM(credit) AS cr INTO bad
      FROM integrator_journalline WHERE entry_id = entry
     GROUP BY currency HAVING SUM(debit) <> SUM(credit) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debits % <> credits %',
            entry, bad.currency, bad.dr, bad.cr USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER integrator_journal_balanced
    AFTER INSERT OR UPDATE OR DELETE ON integrator_journalline
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION integrator_check_entry_balanced();
"""

BALANCE_REVERSE = """
DROP TRIGGER IF EXISTS integrator_journal_balanced ON integrator_journalline;
DROP FUNCTION IF EXISTS integrator_check_entry_balanced();
"""

AUDIT_SQL = """
CREATE OR REPLACE FUNCTION integrator_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP USING ERRCODE = '42501';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER integrator_audit_no_update_delete
    BEFORE UPDATE OR DELETE ON integrator_auditevent
    FOR EACH ROW EXECUTE FUNCTION integrator_audit_append_only();
"""

AUDIT_REVERSE = """
DROP TRIGGER IF EXISTS integrator_audit_no_update_delete ON integrator_auditevent;
DROP FUNCTION IF EXISTS integrator_audit_append_only();
"""


def _on_postgres(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("integrator", "0001_initial")]

    operations = [
        migrations.RunPython(_on_postgres(BALANCE_SQL), _on_postgres(BALANCE_REVERSE)),
        migrations.RunPython(_on_postgres(AUDIT_SQL), _on_postgres(AUDIT_REVERSE)),
    ]
