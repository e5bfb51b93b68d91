"""The balance check reads an entry's lines once, through their index, whatever the statistics say.

``integrator_check_entry_balanced`` (0002, both currencies since 0011) runs for every journal line
at commit. PL/pgSQL plans its queries once per database session and keeps the plans: after five
calls it may keep a generic plan, chosen for the table's size at that moment. Planned while
``integrator_journalline`` was empty or small (a new installation, the first back-fill, a benchmark
after ``VACUUM ANALYZE``), that plan is a sequential scan, and every later commit read the whole
table for each line it wrote, until autovacuum's next ``ANALYZE`` invalidated the plan. A batch of
50 sales then took milliseconds to commit at first and a third of a second at 60,000 lines, while
holding the audit chain's lock: the ingest benchmark's first cluster booked 108 sales/s against
the next one's 254 (docs/operations.md, "The balance check").

The function now runs with sequential scans off, so its kept plan uses the ``entry_id`` index from
the first call, and it reads the entry's lines in one query instead of three; what it accepts and
refuses, and its messages, are 0011's. A later ``CREATE OR REPLACE`` of the function must repeat
``SET enable_seqscan = off`` (``tests/integrator/test_postgres_invariants.py`` checks it).
"""

import importlib

from django.db import migrations

BALANCE_SQL = """
CREATE OR REPLACE FUNCTION integrator_check_entry_balanced() RETURNS trigger
SET enable_seqscan = off
AS $$
DECLARE
    entry uuid;
    totals record;
BEGIN
    IF TG_OP = 'DELETE' THEN entry := OLD.entry_id; ELSE entry := NEW.entry_id; END IF;
    SELECT SUM(functional_debit) AS fdr, SUM(functional_credit) AS fcr,
           COUNT(DISTINCT currency) AS currencies, MIN(currency) AS currency,
           SUM(debit) AS dr, SUM(credit) AS cr
      INTO totals
      FROM integrator_journalline WHERE entry_id = entry;
    IF totals.fdr <> totals.fcr THEN
        RAISE EXCEPTION 'journal entry % does not balance in its functional currency: debits % <> credits %',
            entry, totals.fdr, totals.fcr USING ERRCODE = '23514';
    END IF;
    IF totals.currencies = 1 AND totals.dr <> totals.cr THEN
        RAISE EXCEPTION 'journal entry % does not balance in %: debits % <> credits %',
            entry, totals.currency, totals.dr, totals.cr USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

#: 0011's function, restored on the way back (``CREATE OR REPLACE`` without ``SET`` clears it).
PREVIOUS_SQL = importlib.import_module("integrator.migrations.0011_balance_in_both_currencies").BALANCE_SQL


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("integrator", "0021_processing_wakeup")]

    operations = [migrations.RunPython(_on_postgres(BALANCE_SQL), _on_postgres(PREVIOUS_SQL))]
