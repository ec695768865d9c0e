"""A transaction's entries are all written by one statement: entries added
later to a transaction that already has entries are refused, even balanced
ones (a balanced pair added to a closed period's earning would hide a
movement inside it). A correction is a new transaction.

Replaces the function of the statement trigger from migration 0005: a touched
transaction must have exactly as many entries as the statement wrote for it.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_entries_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    offending record;
BEGIN
    SELECT t.tenant_id, t.id, count(*) AS total, touched.written INTO offending
      FROM (SELECT tenant_id, transaction_id, count(*) AS written
              FROM new_entries GROUP BY tenant_id, transaction_id) AS touched
      JOIN ledger_transaction t
        ON t.tenant_id = touched.tenant_id AND t.id = touched.transaction_id
      JOIN ledger_entry e ON e.tenant_id = t.tenant_id AND e.transaction_id = t.id
     GROUP BY t.tenant_id, t.id, t.currency, t.partner_id, touched.written
    HAVING count(*) <> touched.written
        OR count(*) < 2
        OR sum(e.amount) <> 0
        OR bool_or(e.currency <> t.currency)
        OR bool_or(e.partner_id IS DISTINCT FROM t.partner_id)
     ORDER BY t.id
     LIMIT 1;
    IF FOUND THEN
        IF offending.total <> offending.written THEN
            RAISE EXCEPTION 'ledger transaction % already has entries: post a correction '
                'as a new transaction', offending.id USING ERRCODE = 'check_violation';
        END IF;
        PERFORM ledger_check_transaction(offending.tenant_id, offending.id);
        RAISE EXCEPTION 'ledger transaction % is not valid', offending.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION ledger_entries_balanced() RETURNS trigger
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
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_fx_settlement")]

    operations = [migrations.RunSQL(sql=FUNCTION, reverse_sql=PREVIOUS)]
