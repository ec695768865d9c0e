"""Partner organisations over the API: scope, filters, writes and tier changes."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from partners.models import PartnerOrganization, TierChange
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db

PARTNERS = "/api/v1/partners/"


def detail(partner) -> str:
    return f"{PARTNERS}{partner.pk}/"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def new_partner(world, **overrides) -> dict:
    data = {
        "legal_name": "Nusantara Cloud Sdn Bhd",
        "country": "MY",
        "partner_type": world.reseller.pk,
        "tier": world.bronze.pk,
        "default_currency": "MYR",
        "industries": ["retail", "logistics"],
    }
    data.update(overrides)
    return data


# --- reading ----------------------------------------------------------------


def test_staff_see_every_partner_and_partner_users_only_their_own(alpha):
    for role in (Role.TENANT_ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE):
        assert sorted(ids(alpha.client(role).get(PARTNERS))) == sorted(
            [alpha.partner.pk, alpha.other_partner.pk]
        )
    for role in (Role.PARTNER_ADMIN, Role.PARTNER_REP):
        assert ids(alpha.client(role).get(PARTNERS)) == [alpha.partner.pk]


def test_partner_detail_shape(alpha):
    body = alpha.client(Role.PARTNER_REP).get(detail(alpha.partner)).json()
    assert body["legal_name"] == alpha.partner.legal_name
    assert body["partner_type"] == {"id": alpha.reseller.pk, "key": "reseller", "name": "Reseller"}
    assert body["tier"] == {"id": alpha.bronze.pk, "key": "bronze", "name": "Bronze", "rank": 1}
    assert body["user_count"] == 2
    assert body["country"] == "CN"


def test_partner_user_gets_404_for_another_partner_in_the_same_tenant(alpha):
    for role in (Role.PARTNER_ADMIN, Role.PARTNER_REP):
        client = alpha.client(role)
        assert client.get(detail(alpha.other_partner)).status_code == 404
        assert client.get(f"{detail(alpha.other_partner)}tier-history/").status_code == 404
        assert client.get(detail(alpha.partner)).status_code == 200


def test_filters_by_status_tier_type_and_country(alpha):
    with tenant_context(alpha.tenant):
        exited = PartnerFactory(
            legal_name="Gone Ltd",
            status=PartnerOrganization.Status.EXITED,
            partner_type=alpha.reseller,
            tier=alpha.gold,
            country="SG",
        )
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert ids(client.get(PARTNERS, {"status": "exited"})) == [exited.pk]
    assert sorted(ids(client.get(PARTNERS, {"status": ["exited", "active"]}))) == sorted(
        [exited.pk, alpha.partner.pk, alpha.other_partner.pk]
    )
    assert ids(client.get(PARTNERS, {"tier": "bronze"})) == [alpha.partner.pk]
    assert sorted(ids(client.get(PARTNERS, {"tier": "gold"}))) == sorted(
        [exited.pk, alpha.other_partner.pk]
    )
    assert ids(client.get(PARTNERS, {"partner_type": "referral"})) == [alpha.other_partner.pk]
    assert ids(client.get(PARTNERS, {"country": "sg"})) == [exited.pk]
    assert ids(client.get(PARTNERS, {"tier": "gold", "partner_type": "reseller"})) == [exited.pk]
    assert client.get(PARTNERS, {"status": "dormant"}).status_code == 400


def test_filters_never_widen_a_partner_users_scope(alpha):
    client = alpha.client(Role.PARTNER_REP)
    assert ids(client.get(PARTNERS, {"tier": "gold"})) == []
    assert ids(client.get(PARTNERS, {"search": "Referrals"})) == []


def test_search_and_ordering(alpha):
    client = alpha.client(Role.FINANCE)
    assert ids(client.get(PARTNERS, {"search": "referrals"})) == [alpha.other_partner.pk]
    by_name = ids(client.get(PARTNERS, {"ordering": "legal_name"}))
    # "Alpha Referrals Sdn Bhd" sorts before "Alpha Resellers Ltd".
    assert by_name == [alpha.other_partner.pk, alpha.partner.pk]
    assert ids(client.get(PARTNERS, {"ordering": "-legal_name"})) == by_name[::-1]
    by_tier = ids(client.get(PARTNERS, {"ordering": "-tier__rank"}))
    assert by_tier == [alpha.other_partner.pk, alpha.partner.pk]


def test_pagination_with_page_size_and_its_cap(alpha):
    with tenant_context(alpha.tenant):
        PartnerOrganization.objects.bulk_create(
            PartnerOrganization(
                legal_name=f"Bulk {n:03} Ltd",
                country="MY",
                partner_type=alpha.reseller,
                tenant=alpha.tenant,
            )
            for n in range(205)
        )
    client = alpha.client(Role.CHANNEL_MANAGER)
    first = client.get(PARTNERS, {"page_size": 5}).json()
    assert first["count"] == 207
    assert len(first["results"]) == 5
    assert "page=2" in first["next"] and first["previous"] is None
    second = client.get(PARTNERS, {"page_size": 5, "page": 2}).json()
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in second["results"])
    assert len(client.get(PARTNERS).json()["results"]) == 50
    assert len(client.get(PARTNERS, {"page_size": 1000}).json()["results"]) == 200
    assert client.get(PARTNERS, {"page": 99}).status_code == 404


def test_partner_list_query_count_does_not_grow_with_rows(alpha, django_assert_max_num_queries):
    client = alpha.client(Role.CHANNEL_MANAGER)
    with tenant_context(alpha.tenant):
        PartnerFactory(partner_type=alpha.reseller, tier=alpha.gold)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(PARTNERS).json()["results"]) == 3
    with tenant_context(alpha.tenant):
        for _ in range(27):
            PartnerFactory()
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(PARTNERS).json()["results"]) == 30


def test_tier_history_query_count_does_not_grow_with_rows(alpha, django_assert_max_num_queries):
    client = alpha.client(Role.PARTNER_ADMIN)
    url = f"{detail(alpha.partner)}tier-history/"
    staff = alpha.members[Role.CHANNEL_MANAGER].user

    def add_changes(count):
        with tenant_context(alpha.tenant):
            for n in range(count):
                TierChange.objects.create(
                    partner=alpha.partner,
                    from_tier=alpha.bronze,
                    to_tier=alpha.gold,
                    changed_by=staff,
                    reason=f"review {n}",
                )

    add_changes(3)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(url).json()["results"]) == 3
    add_changes(27)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(url).json()["results"]) == 30


# --- creating and editing ---------------------------------------------------


def test_channel_manager_adds_a_partner_and_its_starting_tier_is_recorded(alpha):
    response = alpha.client(Role.CHANNEL_MANAGER).post(PARTNERS, new_partner(alpha), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tier"]["key"] == "bronze"
    assert body["status"] == "onboarding"
    assert body["industries"] == ["retail", "logistics"]
    with tenant_context(alpha.tenant):
        partner = PartnerOrganization.objects.get(pk=body["id"])
        assert partner.tenant_id == alpha.tenant.pk
        change = TierChange.objects.get(partner=partner)
        assert (change.from_tier, change.to_tier) == (None, alpha.bronze)
        assert change.changed_by == alpha.members[Role.CHANNEL_MANAGER].user
        assert AuditEvent.objects.filter(action="partner.created", object_id=str(partner.pk))


@pytest.mark.parametrize("role", [Role.FINANCE, Role.PARTNER_ADMIN, Role.PARTNER_REP])
def test_roles_without_partner_management_cannot_add_partners(alpha, role):
    response = alpha.client(role).post(PARTNERS, new_partner(alpha), format="json")
    assert response.status_code == 403
    with tenant_context(alpha.tenant):
        assert not PartnerOrganization.objects.filter(legal_name="Nusantara Cloud Sdn Bhd")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("country", "my"),
        ("country", "MYS"),
        ("country", "XX"),
        ("default_currency", "BTC"),
        ("legal_name", "   "),
        ("website", "not a url"),
        ("status", "dormant"),
    ],
)
def test_partner_fields_are_validated(alpha, field, value):
    response = alpha.client(Role.TENANT_ADMIN).post(
        PARTNERS, new_partner(alpha, **{field: value}), format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_duplicate_legal_name_is_a_conflict_on_that_field(alpha):
    response = alpha.client(Role.TENANT_ADMIN).post(
        PARTNERS, new_partner(alpha, legal_name=alpha.partner.legal_name), format="json"
    )
    assert response.status_code == 409
    assert response.json()["field"] == "legal_name"
    assert response.json()["code"] == "duplicate"


def test_same_legal_name_in_another_tenant_is_fine(alpha, bravo):
    response = alpha.client(Role.TENANT_ADMIN).post(
        PARTNERS, new_partner(alpha, legal_name=bravo.partner.legal_name), format="json"
    )
    assert response.status_code == 201


@pytest.mark.parametrize("field", ["partner_type", "tier"])
def test_another_tenants_type_or_tier_does_not_exist_here(alpha, bravo, field):
    foreign = {"partner_type": bravo.reseller.pk, "tier": bravo.gold.pk}[field]
    response = alpha.client(Role.TENANT_ADMIN).post(
        PARTNERS, new_partner(alpha, **{field: foreign}), format="json"
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()[field][0]
    with tenant_context(alpha.tenant):
        assert not PartnerOrganization.objects.filter(legal_name="Nusantara Cloud Sdn Bhd")


@pytest.mark.parametrize("column", ["partner_type_id", "tier_id"])
def test_database_refuses_a_reference_to_another_tenants_row(alpha, bravo, column):
    """Even past the API, the composite (tenant_id, id) foreign keys refuse it."""
    values = {"partner_type_id": alpha.reseller.pk, "tier_id": alpha.bronze.pk}
    values[column] = {"partner_type_id": bravo.reseller.pk, "tier_id": bravo.gold.pk}[column]
    with tenant_context(alpha.tenant):
        with pytest.raises(IntegrityError, match="tenant_fk"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO partners_partnerorganization (tenant_id, legal_name, "
                    "display_name, country, region, industries, partner_type_id, tier_id, "
                    "status, default_currency, website, created_at) VALUES (%s, 'Sneaky', '', "
                    "'MY', '', '{}', %s, %s, 'active', 'MYR', '', now())",
                    [alpha.tenant.pk, values["partner_type_id"], values["tier_id"]],
                )
                # The composite keys are deferred; check them now, not at commit.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        with pytest.raises(IntegrityError, match="tenant_fk"), transaction.atomic():
            PartnerOrganization.objects.create(legal_name="Sneaky ORM", country="MY", **values)
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        assert not PartnerOrganization.objects.filter(legal_name__startswith="Sneaky")


def test_editing_a_partner(alpha):
    client = alpha.client(Role.CHANNEL_MANAGER)
    response = client.patch(
        detail(alpha.partner),
        {"display_name": "Alpha Resellers", "partner_type": alpha.referral.pk},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["display_name"] == "Alpha Resellers"
    assert response.json()["partner_type"]["key"] == "referral"
    with tenant_context(alpha.tenant):
        event = AuditEvent.objects.get(action="partner.updated")
        assert event.data == {"fields": ["display_name", "partner_type"]}


def test_editing_cannot_change_the_tier_or_point_at_another_tenant(alpha, bravo):
    client = alpha.client(Role.CHANNEL_MANAGER)
    response = client.patch(detail(alpha.partner), {"tier": alpha.gold.pk}, format="json")
    assert response.status_code == 400
    assert "tier" in response.json()
    response = client.patch(detail(alpha.partner), {"partner_type": bravo.reseller.pk})
    assert response.status_code == 400
    assert "does not exist" in response.json()["partner_type"][0]
    with tenant_context(alpha.tenant):
        alpha.partner.refresh_from_db()
        assert alpha.partner.tier == alpha.bronze


@pytest.mark.parametrize("role", [Role.FINANCE, Role.PARTNER_ADMIN, Role.PARTNER_REP])
def test_roles_without_partner_management_cannot_edit(alpha, role):
    response = alpha.client(role).patch(detail(alpha.partner), {"display_name": "Mine now"})
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_full_update_with_put(alpha):
    payload = new_partner(alpha, legal_name="Alpha Renamed Ltd")
    payload.pop("tier")
    response = alpha.client(Role.TENANT_ADMIN).put(detail(alpha.partner), payload, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["legal_name"] == "Alpha Renamed Ltd"


# --- tiers ------------------------------------------------------------------


def test_channel_manager_assigns_a_tier_with_a_reason(alpha):
    url = f"{detail(alpha.partner)}assign-tier/"
    client = alpha.client(Role.CHANNEL_MANAGER)
    response = client.post(url, {"tier": alpha.gold.pk, "reason": "Passed 200K revenue"})
    assert response.status_code == 201, response.content
    assert response.json()["from_tier"]["key"] == "bronze"
    assert response.json()["to_tier"]["key"] == "gold"
    assert client.get(detail(alpha.partner)).json()["tier"]["key"] == "gold"
    history = alpha.client(Role.PARTNER_REP).get(f"{detail(alpha.partner)}tier-history/").json()
    assert [row["reason"] for row in history["results"]] == ["Passed 200K revenue"]
    assert history["results"][0]["changed_by"] == str(alpha.members[Role.CHANNEL_MANAGER].user)


@pytest.mark.parametrize("role", [Role.FINANCE, Role.PARTNER_ADMIN, Role.PARTNER_REP])
def test_other_roles_cannot_assign_tiers(alpha, role):
    response = alpha.client(role).post(
        f"{detail(alpha.partner)}assign-tier/", {"tier": alpha.gold.pk, "reason": "please"}
    )
    assert response.status_code == 403
    with tenant_context(alpha.tenant):
        alpha.partner.refresh_from_db()
        assert alpha.partner.tier == alpha.bronze


def test_assign_tier_errors(alpha, bravo):
    url = f"{detail(alpha.partner)}assign-tier/"
    client = alpha.client(Role.TENANT_ADMIN)
    response = client.post(url, {"tier": alpha.bronze.pk, "reason": "again"})
    assert response.status_code == 400
    assert response.json()["code"] == "same_tier"
    assert response.json()["field"] == "tier"
    response = client.post(url, {"tier": alpha.gold.pk, "reason": "   "})
    assert response.status_code == 400
    assert "reason" in response.json()
    response = client.post(url, {"tier": bravo.gold.pk, "reason": "sneaky"})
    assert response.status_code == 400
    assert "does not exist" in response.json()["tier"][0]
