"""Database guarantees of the ledger: balanced at commit, never updated or deleted.

* ``ledger_check_transaction(tenant_id, id)`` raises (SQLSTATE 23514, an
  IntegrityError in Django) unless the transaction has at least two entries,
  every entry has the transaction's currency and partner, and the entries sum
  to zero per currency. Deferred constraint triggers call it at commit for
  every transaction row and every entry row written (the transaction's own
  trigger catches one that never got entries). Each check runs on the final
  state: the check queued by the last entry written fires after it, even when
  a session forces earlier checks with ``SET CONSTRAINTS … IMMEDIATE``.
* Row triggers refuse UPDATE and DELETE on both tables for every role (the
  application role has no such privilege either). TRUNCATE fires no row
  trigger; only the test database grants it to the application role, so the
  test suite can still empty tables between transactional tests.

The check runs with the caller's rights under row-level security, reading as
the tenant of the row that queued it (``app.tenant_id`` is switched for the
check and restored after): a session that moved on to another tenant, or to
none, before committing still has every transaction it wrote checked.
Entries of one transaction always share its tenant (composite foreign key).
"""

from django.db import migrations

CHECK_FUNCTION = """
CREATE FUNCTION ledger_check_transaction(tx_tenant bigint, tx_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    active_tenant text := current_setting('app.tenant_id', true);
    tx_currency varchar;
    tx_partner bigint;
    entry_count integer;
    wrong_currency integer;
    wrong_partner integer;
    total numeric;
    unbalanced record;
BEGIN
    -- Read as the row's own tenant, whatever tenant the session has moved on
    -- to by commit time; the previous setting is restored below.
    IF active_tenant IS DISTINCT FROM tx_tenant::text THEN
        PERFORM set_config('app.tenant_id', tx_tenant::text, true);
    END IF;
    SELECT currency, partner_id INTO tx_currency, tx_partner
    FROM ledger_transaction WHERE tenant_id = tx_tenant AND id = tx_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger transaction % of tenant % does not exist', tx_id, tx_tenant
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*),
           count(*) FILTER (WHERE e.currency <> tx_currency),
           count(*) FILTER (WHERE e.partner_id IS DISTINCT FROM tx_partner),
           coalesce(sum(e.amount), 0)
      INTO entry_count, wrong_currency, wrong_partner, total
      FROM ledger_entry e WHERE e.tenant_id = tx_tenant AND e.transaction_id = tx_id;
    IF entry_count < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; at least two are required',
            tx_id, entry_count USING ERRCODE = 'check_violation';
    END IF;
    IF wrong_currency > 0 THEN
        SELECT e.currency, sum(e.amount) AS total INTO unbalanced
          FROM ledger_entry e WHERE e.tenant_id = tx_tenant AND e.transaction_id = tx_id
         GROUP BY e.currency HAVING sum(e.amount) <> 0 ORDER BY e.currency LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'ledger transaction % does not balance: its % entries sum to %',
                tx_id, unbalanced.currency, unbalanced.total USING ERRCODE = 'check_violation';
        END IF;
        RAISE EXCEPTION 'ledger transaction % is in %, but % of its entries are not',
            tx_id, tx_currency, wrong_currency USING ERRCODE = 'check_violation';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its % entries sum to %',
            tx_id, tx_currency, total USING ERRCODE = 'check_violation';
    END IF;
    IF wrong_partner > 0 THEN
        RAISE EXCEPTION 'ledger transaction %: % entries name another partner than it does',
            tx_id, wrong_partner USING ERRCODE = 'check_violation';
    END IF;
    IF active_tenant IS DISTINCT FROM tx_tenant::text THEN
        PERFORM set_config('app.tenant_id', coalesce(active_tenant, ''), true);
    END IF;
END;
$$;

CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_check_transaction(NEW.tenant_id, NEW.id);
    RETURN NULL;
END;
$$;

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

CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT OR UPDATE ON ledger_transaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused; post a correction instead',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_transaction_append_only
    BEFORE UPDATE OR DELETE ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

REVERSE = """
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON ledger_transaction;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;
DROP TRIGGER IF EXISTS ledger_entry_balanced ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_transaction_balanced();
DROP FUNCTION IF EXISTS ledger_entry_balanced();
DROP FUNCTION IF EXISTS ledger_check_transaction(bigint, bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(sql=CHECK_FUNCTION, reverse_sql=REVERSE)]
