"""The database sees exactly the tenant the application has active, per transaction."""

import pytest
from django.db import connection, transaction

from prm.tenancy.context import all_tenants, tenant_context, user_context
from tests.factories import MembershipFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def db_tenant() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT NULLIF(current_setting('app.tenant_id', true), '')")
        return cursor.fetchone()[0]


def test_switching_tenant_inside_one_transaction_follows_the_application(tenant_a, tenant_b):
    with transaction.atomic():
        with tenant_context(tenant_a):
            assert db_tenant() == str(tenant_a.pk)
        with tenant_context(tenant_b):
            assert db_tenant() == str(tenant_b.pk)
        assert db_tenant() is None


def test_savepoint_rollback_cannot_leave_the_database_on_a_stale_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_a), transaction.atomic():
        assert db_tenant() == str(tenant_a.pk)
        try:
            with transaction.atomic(), tenant_context(tenant_b):
                assert db_tenant() == str(tenant_b.pk)
                raise RuntimeError("roll back to the savepoint")
        except RuntimeError:
            pass
        # set_config(…, true) made inside the savepoint was undone by the rollback;
        # the backend notices and sets the active tenant again.
        assert db_tenant() == str(tenant_a.pk)


@pytest.mark.django_db(transaction=True)
def test_autocommit_statements_each_get_the_tenant_and_it_never_outlives_them(tenant_a):
    assert connection.get_autocommit()
    with tenant_context(tenant_a):
        partner = PartnerFactory()
        # Each autocommit statement runs in its own short transaction that
        # starts with set_config(…, true).
        assert db_tenant() == str(tenant_a.pk)
        assert type(partner).objects.filter(pk=partner.pk).exists()
    assert db_tenant() is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM partners_partnerorganization")
        assert cursor.fetchone()[0] == 0


def test_a_user_reads_their_own_memberships_in_every_tenant_and_nothing_else(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        mine_a = MembershipFactory()
        MembershipFactory()  # someone else in A
    with tenant_context(tenant_b):
        mine_b = MembershipFactory(user=mine_a.user)
        MembershipFactory()  # someone else in B
    user = mine_a.user
    with user_context(user.pk):
        found = {m.pk for m in type(mine_a).for_user_everywhere(user)}
    assert found == {mine_a.pk, mine_b.pk}
    # Without the user context the same escape hatch reads nothing at all.
    with all_tenants():
        assert list(type(mine_a).objects.filter(user=user)) == []
