"""Entries are checked once per statement that writes them, not once per row.

Before: a deferred row trigger on every entry and on every transaction called
``ledger_check_transaction`` at commit, so a two-entry transaction was checked
three times. Now:

* ``ledger_entries_balanced`` is a statement-level trigger with a transition
  table: at the end of every INSERT into ``ledger_entry`` it checks, in one
  set-based query, every transaction the statement wrote entries for — at
  least two entries, all in the transaction's currency and naming its
  partner, summing to zero. A transaction's entries are therefore written in
  one statement (``post_many`` does), and an entry added later to any
  transaction, committed or not, must leave it balanced on its own. On a
  failure it calls ``ledger_check_transaction`` for the first offending
  transaction, which raises the same readable errors as before.
* ``ledger_transaction_balanced`` (deferred, per transaction row) stays: at
  commit it checks each new transaction in full, which catches a transaction
  that never got entries.

An entry written before its transaction (the foreign key is deferred) is
checked by the transaction's own trigger at commit.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_balanced();

CREATE FUNCTION ledger_entries_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    offending record;
BEGIN
    SELECT t.tenant_id, t.id INTO offending
      FROM (SELECT DISTINCT tenant_id, transaction_id FROM new_entries) AS touched
      JOIN ledger_transaction t
        ON t.tenant_id = touched.tenant_id AND t.id = touched.transaction_id
      JOIN ledger_entry e ON e.tenant_id = t.tenant_id AND e.transaction_id = t.id
     GROUP BY t.tenant_id, t.id, t.currency, t.partner_id
    HAVING count(*) < 2
        OR sum(e.amount) <> 0
        OR bool_or(e.currency <> t.currency)
        OR bool_or(e.partner_id IS DISTINCT FROM t.partner_id)
     ORDER BY t.id
     LIMIT 1;
    IF FOUND THEN
        PERFORM ledger_check_transaction(offending.tenant_id, offending.id);
        RAISE EXCEPTION 'ledger transaction % is not valid', offending.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_entries_balanced
    AFTER INSERT ON ledger_entry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_balanced();
"""

REVERSE = """
DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entries_balanced();

CREATE FUNCTION ledger_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_check_transaction(NEW.tenant_id, NEW.transaction_id);
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT OR UPDATE ON ledger_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_period_source")]

    operations = [migrations.RunSQL(sql=FORWARD, reverse_sql=REVERSE)]
