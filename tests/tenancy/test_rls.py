"""Row-level security holds even for raw SQL, and the catalogue is audited."""

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from partners.models import PartnerOrganization
from prm.tenancy.context import TenantNotActive, tenant_context
from prm.tenancy.security import tenant_models
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db

PLATFORM_TABLES_WITH_TENANT_ID = {"tenancy_tenantdomain"}


def test_manager_raises_without_active_tenant(tenant_a):
    with tenant_context(tenant_a):
        PartnerFactory()
    with pytest.raises(TenantNotActive):
        list(PartnerOrganization.objects.all())


def test_raw_sql_without_tenant_sees_zero_rows_of_a_non_empty_table(tenant_a):
    with tenant_context(tenant_a):
        PartnerFactory()
        PartnerFactory()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM partners_partnerorganization")
            assert cursor.fetchone()[0] == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM partners_partnerorganization")
        assert cursor.fetchone()[0] == 0


def test_raw_sql_sees_only_the_active_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        PartnerFactory()
    with tenant_context(tenant_b):
        PartnerFactory()
        PartnerFactory()
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT tenant_id FROM partners_partnerorganization")
            assert [row[0] for row in cursor.fetchall()] == [tenant_b.pk]


def test_raw_sql_cannot_insert_a_row_for_another_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        partner = PartnerFactory()
    with tenant_context(tenant_b), transaction.atomic():
        with pytest.raises(Exception, match="row-level security"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO partners_partnertype (tenant_id, key, name, description) "
                    "VALUES (%s, 'sneaky', 'Sneaky', '')",
                    [tenant_a.pk],
                )
    assert partner.pk


def test_raw_sql_cannot_point_a_row_at_another_tenants_row(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        foreign_type = PartnerFactory().partner_type
    with tenant_context(tenant_b), pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO partners_partnerorganization (tenant_id, legal_name, "
                "display_name, country, region, industries, partner_type_id, status, "
                "default_currency, website, created_at) VALUES (%s, 'X', '', 'MY', '', "
                "'{}', %s, 'active', 'MYR', '', now())",
                [tenant_b.pk, foreign_type.pk],
            )
            # Composite foreign keys are deferred: they are checked at commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_orm_cannot_save_a_row_for_another_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        partner = PartnerFactory()
    with tenant_context(tenant_b), pytest.raises(ValueError, match="another tenant"):
        partner.legal_name = "Hijacked"
        partner.save()


def test_catalogue_every_tenant_table_has_forced_rls_and_a_policy():
    tables = {model._meta.db_table for model in tenant_models()}
    assert "partners_partnerorganization" in tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "  (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' "
            "  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
            "              AND a.attname = 'tenant_id' AND NOT a.attisdropped)"
        )
        rows = {name: (enabled, forced, policies) for name, enabled, forced, policies in cursor}
    assert tables <= set(rows)
    # Platform tables that carry a tenant_id on purpose (host resolution runs
    # before any tenant is known). Anything else with tenant_id must be RLS'd.
    for platform_table in PLATFORM_TABLES_WITH_TENANT_ID:
        rows.pop(platform_table)
    for table, (enabled, forced, policies) in rows.items():
        assert (enabled, forced, policies >= 1) == (True, True, True), table


def test_catalogue_app_role_is_not_super_not_bypassrls_and_owns_nothing():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == settings.APP_DB_ROLE
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
        )
        assert cursor.fetchone()[0] == 0


def test_tenant_context_does_not_survive_the_transaction(tenant_a):
    with tenant_context(tenant_a):
        PartnerFactory()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true)")
        assert cursor.fetchone()[0] in ("", None)


def test_widened_reads_never_widen_writes(tenant_a, tenant_b):
    """A user may *read* their own memberships in every tenant, but raw UPDATE
    and DELETE still reach only the active tenant's rows."""
    from prm.tenancy.context import user_context
    from tests.factories import MembershipFactory

    with tenant_context(tenant_a):
        mine_a = MembershipFactory()
    with tenant_context(tenant_b):
        mine_b = MembershipFactory(user=mine_a.user)
    with tenant_context(tenant_a), user_context(mine_a.user_id):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM accounts_membership WHERE user_id = %s", [mine_a.user_id]
            )
            assert cursor.fetchone()[0] == 2
            cursor.execute(
                "UPDATE accounts_membership SET is_active = false WHERE user_id = %s",
                [mine_a.user_id],
            )
            assert cursor.rowcount == 1
            cursor.execute("DELETE FROM accounts_membership WHERE user_id = %s", [mine_a.user_id])
            assert cursor.rowcount == 1
    with tenant_context(tenant_b):
        mine_b.refresh_from_db()
        assert mine_b.is_active


def test_catalogue_write_policies_are_strict_for_every_tenant_table():
    tables = {model._meta.db_table for model in tenant_models()}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, cmd, qual, with_check FROM pg_policies "
            "WHERE schemaname = 'public' AND cmd <> 'SELECT'"
        )
        writes = {table: (cmd, qual, check) for table, cmd, qual, check in cursor}
    assert set(writes) == tables
    for table, (cmd, qual, check) in writes.items():
        expected = (
            "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::bigint)"
        )
        assert (cmd, qual, check) == ("ALL", expected, expected), table
