"""The balance trigger checks both currencies: every entry balances in the functional currency,
and an entry whose lines are all in one currency balances in it too (a payout that settles a
foreign clearing balance has lines in two currencies, which only the functional amounts can add)."""

from django.db import migrations

BALANCE_SQL = """
CREATE OR REPLACE FUNCTION integrator_check_entry_balanced() RETURNS trigger AS $$
DECLARE
    entry uuid;
    bad record;
    currencies integer;
BEGIN
    IF TG_OP = 'DELETE' THEN entry := OLD.entry_id; ELSE entry := NEW.entry_id; END IF;
    SELECT SUM(functional_debit) AS dr, SUM(functional_credit) AS cr INTO bad
      FROM integrator_journalline WHERE entry_id = entry HAVING SUM(functional_debit) <> SUM(functional_credit);
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance in its functional currency: debits % <> credits %',
            entry, bad.dr, bad.cr USING ERRCODE = '23514';
    END IF;
    SELECT COUNT(DISTINCT currency) INTO currencies FROM integrator_journalline WHERE entry_id = entry;
    IF currencies = 1 THEN
        SELECT currency, SUM(debit) AS dr, SUM(credit) AS cr INTO bad
          FROM integrator_journalline WHERE entry_id = entry
         GROUP BY currency HAVING SUM(debit) <> SUM(credit) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal entry % does not balance in %: debits % <> credits %',
                entry, bad.currency, bad.dr, bad.cr USING ERRCODE = '23514';
        END IF;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

PREVIOUS_SQL = """
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
"""


def _on_postgres(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("integrator", "0010_functional_amounts")]

    operations = [migrations.RunPython(_on_postgres(BALANCE_SQL), _on_postgres(PREVIOUS_SQL))]
