"""The database keeps closed payout periods and their statements as they were.

``incentives.payouts`` already refuses these changes; the triggers make the
guarantees hold for any SQL run as any role:

* payout periods of a tenant never overlap; a closed period never re-opens,
  never changes and is never deleted;
* statement lines never change and are never deleted;
* a statement is never deleted, and after it is written only its payment
  fields change, once: status "closed" → "paid" with the date, reference,
  who marked it and the ledger payment.

Violations raise SQLSTATE 23001 (restrict_violation), an IntegrityError.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION incentives_period_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'closed' THEN
            RAISE EXCEPTION 'payout period % is closed and cannot be deleted', OLD.id
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status = 'closed' THEN
        RAISE EXCEPTION 'payout period % is closed and cannot change', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM incentives_payoutperiod p
        WHERE p.tenant_id = NEW.tenant_id AND p.id <> NEW.id
          AND p.start <= NEW."end" AND NEW.start <= p."end"
    ) THEN
        RAISE EXCEPTION 'payout period % – % overlaps another period', NEW.start, NEW."end"
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER incentives_period_guard
    BEFORE INSERT OR UPDATE OR DELETE ON incentives_payoutperiod
    FOR EACH ROW EXECUTE FUNCTION incentives_period_guard();

CREATE OR REPLACE FUNCTION incentives_statement_line_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'statement lines cannot be changed or deleted'
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER incentives_statement_line_immutable
    BEFORE UPDATE OR DELETE ON incentives_statementline
    FOR EACH ROW EXECUTE FUNCTION incentives_statement_line_immutable();

CREATE OR REPLACE FUNCTION incentives_statement_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'statement % cannot be deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
        OR NEW.period_id IS DISTINCT FROM OLD.period_id
        OR NEW.partner_id IS DISTINCT FROM OLD.partner_id
        OR NEW.currency IS DISTINCT FROM OLD.currency
        OR NEW.opening_balance IS DISTINCT FROM OLD.opening_balance
        OR NEW.earned_total IS DISTINCT FROM OLD.earned_total
        OR NEW.clawed_back_total IS DISTINCT FROM OLD.clawed_back_total
        OR NEW.adjustments_total IS DISTINCT FROM OLD.adjustments_total
        OR NEW.closing_amount IS DISTINCT FROM OLD.closing_amount
        OR NEW.payable_amount IS DISTINCT FROM OLD.payable_amount
        OR NEW.carried_forward IS DISTINCT FROM OLD.carried_forward
        OR NEW.hold_reason IS DISTINCT FROM OLD.hold_reason
        OR NEW.blockers IS DISTINCT FROM OLD.blockers
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
    THEN
        RAISE EXCEPTION 'statement % is closed: only its payment can be recorded', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status = 'paid' OR (NEW.status IS DISTINCT FROM OLD.status
        AND NOT (OLD.status = 'closed' AND NEW.status = 'paid'))
        OR (NEW.status <> 'paid' AND (
            NEW.paid_on IS DISTINCT FROM OLD.paid_on
            OR NEW.payment_reference IS DISTINCT FROM OLD.payment_reference
            OR NEW.paid_by_id IS DISTINCT FROM OLD.paid_by_id
            OR NEW.payment_transaction_id IS DISTINCT FROM OLD.payment_transaction_id))
    THEN
        RAISE EXCEPTION 'statement % can only be marked paid, once, from closed', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER incentives_statement_guard
    BEFORE UPDATE OR DELETE ON incentives_statement
    FOR EACH ROW EXECUTE FUNCTION incentives_statement_guard();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS incentives_statement_guard ON incentives_statement;
DROP FUNCTION IF EXISTS incentives_statement_guard();
DROP TRIGGER IF EXISTS incentives_statement_line_immutable ON incentives_statementline;
DROP FUNCTION IF EXISTS incentives_statement_line_immutable();
DROP TRIGGER IF EXISTS incentives_period_guard ON incentives_payoutperiod;
DROP FUNCTION IF EXISTS incentives_period_guard();
"""


class Migration(migrations.Migration):
    dependencies = [("incentives", "0004_payouts")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
