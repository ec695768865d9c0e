"""The database refuses changes to published plan versions and their rules.

``incentives.services`` already refuses them; these triggers make the
guarantee hold for any SQL run as any role:

* a rule may be inserted, updated or deleted only while its version is a
  draft (the version row is read ``FOR SHARE``, so a concurrent publish waits
  or is waited for);
* a published version may only be retired (status → retired with its date),
  and a published or retired version cannot be deleted; a retired version
  never changes. Clearing ``published_by`` when that user is erased stays
  possible.

Violations raise SQLSTATE 23001 (restrict_violation), an IntegrityError.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION incentives_rule_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_status text;
    new_status text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT status INTO old_status FROM incentives_planversion
            WHERE id = OLD.version_id FOR SHARE;
        IF old_status IN ('published', 'retired') THEN
            RAISE EXCEPTION 'commission rule % belongs to a % plan version and cannot change',
                OLD.id, old_status USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT status INTO new_status FROM incentives_planversion
            WHERE id = NEW.version_id FOR SHARE;
        IF new_status IN ('published', 'retired') THEN
            RAISE EXCEPTION 'rules cannot be added to a % plan version', new_status
                USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER incentives_rule_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON incentives_commissionrule
    FOR EACH ROW EXECUTE FUNCTION incentives_rule_immutable();

CREATE OR REPLACE FUNCTION incentives_version_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a % plan version cannot be deleted', OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
        OR NEW.plan_id IS DISTINCT FROM OLD.plan_id
        OR NEW.number IS DISTINCT FROM OLD.number
        OR NEW.effective_from IS DISTINCT FROM OLD.effective_from
        OR NEW.published_at IS DISTINCT FROM OLD.published_at
        OR NEW.based_on_id IS DISTINCT FROM OLD.based_on_id
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR (NEW.published_by_id IS DISTINCT FROM OLD.published_by_id
            AND NEW.published_by_id IS NOT NULL)
        OR (OLD.status = 'retired' AND (
            NEW.status IS DISTINCT FROM OLD.status
            OR NEW.retired_on IS DISTINCT FROM OLD.retired_on))
        OR (OLD.status = 'published' AND NEW.status = 'draft')
        OR (OLD.status = 'published' AND NEW.status = 'published'
            AND NEW.retired_on IS DISTINCT FROM OLD.retired_on)
    THEN
        RAISE EXCEPTION 'plan version % is % and cannot change (only retiring is allowed)',
            OLD.id, OLD.status USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER incentives_version_immutable
    BEFORE UPDATE OR DELETE ON incentives_planversion
    FOR EACH ROW EXECUTE FUNCTION incentives_version_immutable();
"""

REVERSE = r"""
DROP TRIGGER IF EXISTS incentives_version_immutable ON incentives_planversion;
DROP FUNCTION IF EXISTS incentives_version_immutable();
DROP TRIGGER IF EXISTS incentives_rule_immutable ON incentives_commissionrule;
DROP FUNCTION IF EXISTS incentives_rule_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("incentives", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
