"""Partners in the console: tenant isolation, query counts, tier assignment through the service."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from partners.models import PartnerOrganization, PartnerType, Tier, TierChange
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.console.conftest import HOST_A, HOST_B
from tests.factories import PartnerFactory, PartnerTypeFactory, TierFactory

pytestmark = pytest.mark.django_db


def change_url(partner) -> str:
    return reverse("admin:partners_partnerorganization_change", args=[partner.pk])


def assign_url(partner) -> str:
    return reverse("admin:partners_partnerorganization_assign_tier", args=[partner.pk])


@pytest.fixture
def partner_b(tenant_b):
    with tenant_context(tenant_b):
        return PartnerFactory(legal_name="Bravo Only Partner Sdn Bhd")


@pytest.fixture
def partner_a(tenant_a, tiers):
    with tenant_context(tenant_a):
        return PartnerFactory(legal_name="Alpha Partner Ltd", tier=tiers["bronze"])


# --- cross-tenant ------------------------------------------------------------


@pytest.mark.parametrize(
    "url_for",
    [
        change_url,
        assign_url,
        lambda p: reverse("admin:partners_partnerorganization_history", args=[p.pk]),
    ],
    ids=["change", "assign-tier", "history"],
)
def test_tenant_b_partner_is_a_404_on_tenant_a_console(
    client, channel_manager, partner_a, partner_b, url_for
):
    assert client.get(url_for(partner_a), HTTP_HOST=HOST_A).status_code == 200
    response = client.get(url_for(partner_b), HTTP_HOST=HOST_A)
    assert response.status_code == 404
    assert partner_b.legal_name not in response.content.decode()


def test_assigning_a_tier_to_tenant_b_partner_from_tenant_a_is_a_404(
    client, channel_manager, partner_b, tiers
):
    response = client.post(
        assign_url(partner_b),
        {"tier": tiers["gold"].pk, "reason": "sneaky"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 404
    with tenant_context(partner_b.tenant):
        assert not TierChange.objects.exists()


def test_tenant_a_changelist_never_shows_tenant_b_partners(
    client, channel_manager, partner_a, partner_b
):
    response = client.get(
        reverse("admin:partners_partnerorganization_changelist"), HTTP_HOST=HOST_A
    )
    html = response.content.decode()
    assert partner_a.legal_name in html
    assert partner_b.legal_name not in html


def test_tenant_b_tier_cannot_be_chosen_on_tenant_a(client, channel_manager, partner_a, tenant_b):
    with tenant_context(tenant_b):
        foreign_tier = TierFactory(key="foreign", rank=9)
    response = client.post(
        assign_url(partner_a), {"tier": foreign_tier.pk, "reason": "try"}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    assert "tier" in response.context["form"].errors
    with tenant_context(partner_a.tenant):
        assert not TierChange.objects.exists()


def test_changelist_links_point_at_the_tenants_own_rows_on_tenant_b_host(
    client, login_as, tenant_b, partner_a, partner_b
):
    login_as(Role.CHANNEL_MANAGER, tenant=tenant_b)
    assert client.get(change_url(partner_b), HTTP_HOST=HOST_B).status_code == 200
    assert client.get(change_url(partner_a), HTTP_HOST=HOST_B).status_code == 404


# --- query counts ------------------------------------------------------------


def _changelist_queries(client) -> int:
    url = reverse("admin:partners_partnerorganization_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    return len(queries)


def test_partner_changelist_query_count_does_not_grow_with_partners(
    client, channel_manager, tenant_a, django_assert_max_num_queries
):
    with tenant_context(tenant_a):
        kinds = [PartnerTypeFactory() for _ in range(2)]
        ladder = [TierFactory() for _ in range(2)]
        for i in range(3):
            PartnerFactory(partner_type=kinds[i % 2], tier=ladder[i % 2])
    few = _changelist_queries(client)
    with tenant_context(tenant_a):
        for i in range(30):
            PartnerFactory(partner_type=kinds[i % 2], tier=ladder[i % 2])
    many = _changelist_queries(client)
    assert many == few
    with django_assert_max_num_queries(few):
        client.get(reverse("admin:partners_partnerorganization_changelist"), HTTP_HOST=HOST_A)


def test_partner_change_page_query_count_does_not_grow_with_tier_history(
    client, channel_manager, partner_a, tiers
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(change_url(partner_a), HTTP_HOST=HOST_A).status_code == 200
        return len(captured)

    with tenant_context(partner_a.tenant):
        TierChange.objects.create(
            partner=partner_a, to_tier=tiers["bronze"], changed_by=None, reason="start"
        )
    one = queries()
    with tenant_context(partner_a.tenant):
        for i in range(10):
            TierChange.objects.create(
                partner=partner_a,
                from_tier=tiers["bronze"],
                to_tier=tiers["gold"],
                changed_by=channel_manager.user,
                reason=f"step {i}",
            )
    assert queries() == one


# --- tier assignment -----------------------------------------------------------


def test_assigning_a_tier_in_the_console_records_who_and_why(
    client, channel_manager, partner_a, tiers
):
    response = client.post(
        assign_url(partner_a),
        {"tier": tiers["gold"].pk, "reason": "Closed three enterprise deals"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    assert response["Location"] == change_url(partner_a)
    with tenant_context(partner_a.tenant):
        partner_a.refresh_from_db()
        assert partner_a.tier == tiers["gold"]
        change = TierChange.objects.get(partner=partner_a)
        assert change.from_tier == tiers["bronze"]
        assert change.to_tier == tiers["gold"]
        assert change.changed_by == channel_manager.user
        assert change.reason == "Closed three enterprise deals"
        assert AuditEvent.objects.filter(action="partner.tier_assigned").count() == 1
    assert LogEntry.objects.count() == 0
    page = client.get(change_url(partner_a), HTTP_HOST=HOST_A).content.decode()
    assert "Closed three enterprise deals" in page  # the read-only tier history inline


def test_tier_assignment_requires_a_reason(client, channel_manager, partner_a, tiers):
    response = client.post(
        assign_url(partner_a), {"tier": tiers["gold"].pk, "reason": "  "}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    with tenant_context(partner_a.tenant):
        assert not TierChange.objects.exists()


def test_finance_cannot_assign_tiers(client, login_as, partner_a, tiers):
    login_as(Role.FINANCE)
    assert client.get(assign_url(partner_a), HTTP_HOST=HOST_A).status_code == 403
    response = client.post(
        assign_url(partner_a), {"tier": tiers["gold"].pk, "reason": "x"}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 403
    page = client.get(change_url(partner_a), HTTP_HOST=HOST_A).content.decode()
    assert assign_url(partner_a) not in page


def test_change_page_offers_assign_tier_to_channel_managers(client, channel_manager, partner_a):
    page = client.get(change_url(partner_a), HTTP_HOST=HOST_A).content.decode()
    assert assign_url(partner_a) in page


def _partner_form(partner, **overrides) -> dict:
    data = {
        "legal_name": partner.legal_name,
        "display_name": partner.display_name,
        "partner_type": partner.partner_type_id,
        "status": partner.status,
        "country": partner.country,
        "region": partner.region,
        "industries": ",".join(partner.industries),
        "default_currency": partner.default_currency,
        "website": partner.website,
        "tier_changes-TOTAL_FORMS": "0",
        "tier_changes-INITIAL_FORMS": "0",
        "tier_changes-MIN_NUM_FORMS": "0",
        "tier_changes-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_tier_field_is_read_only_in_the_partner_form(client, channel_manager, partner_a, tiers):
    response = client.post(
        change_url(partner_a),
        _partner_form(partner_a, region="Selangor", tier=tiers["gold"].pk),
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    with tenant_context(partner_a.tenant):
        partner_a.refresh_from_db()
        assert partner_a.region == "Selangor"
        assert partner_a.tier == tiers["bronze"]
        assert not TierChange.objects.exists()
        event = AuditEvent.objects.get(action="partner.updated")
        assert event.actor == channel_manager.user
        assert event.data["fields"] == ["region"]
    assert LogEntry.objects.count() == 0


def test_adding_a_partner_goes_through_the_service(client, channel_manager, tenant_a):
    with tenant_context(tenant_a):
        kind = PartnerTypeFactory()
    response = client.post(
        reverse("admin:partners_partnerorganization_add"),
        {
            "legal_name": "Nusantara Digital Sdn Bhd",
            "display_name": "Nusantara",
            "partner_type": kind.pk,
            "status": "onboarding",
            "country": "MY",
            "region": "",
            "industries": "Retail,Logistics",
            "default_currency": "MYR",
            "website": "",
            "tier_changes-TOTAL_FORMS": "0",
            "tier_changes-INITIAL_FORMS": "0",
            "tier_changes-MIN_NUM_FORMS": "0",
            "tier_changes-MAX_NUM_FORMS": "0",
        },
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:partners_partnerorganization_changelist")
    with tenant_context(tenant_a):
        partner = PartnerOrganization.objects.get(legal_name="Nusantara Digital Sdn Bhd")
        assert partner.industries == ["Retail", "Logistics"]
        assert partner.tier is None
        event = AuditEvent.objects.get(action="partner.created")
        assert event.object_id == str(partner.pk)
    assert LogEntry.objects.count() == 0


def test_duplicate_legal_name_is_a_form_error_not_a_500(client, channel_manager, partner_a):
    response = client.post(
        reverse("admin:partners_partnerorganization_add"),
        _partner_form(partner_a),
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors


def test_same_legal_name_is_fine_in_another_tenant(client, login_as, tenant_b, partner_a):
    login_as(Role.CHANNEL_MANAGER, tenant=tenant_b)
    with tenant_context(tenant_b):
        kind = PartnerTypeFactory()
    response = client.post(
        reverse("admin:partners_partnerorganization_add"),
        _partner_form(partner_a, partner_type=kind.pk),
        HTTP_HOST=HOST_B,
    )
    assert response.status_code == 302
    with tenant_context(tenant_b):
        assert PartnerOrganization.objects.filter(legal_name=partner_a.legal_name).exists()


def test_object_history_lists_the_tenants_audit_events(client, channel_manager, partner_a, tiers):
    client.post(
        assign_url(partner_a), {"tier": tiers["gold"].pk, "reason": "Growth"}, HTTP_HOST=HOST_A
    )
    response = client.get(
        reverse("admin:partners_partnerorganization_history", args=[partner_a.pk]),
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 200
    assert "partner.tier_assigned" in response.content.decode()


# --- the program catalogue (tenant admins) -----------------------------------------


def test_tenant_admin_creates_a_tier_through_the_service(client, tenant_admin, tenant_a):
    response = client.post(
        reverse("admin:partners_tier_add"),
        {
            "key": "diamond",
            "name": "Diamond",
            "rank": "5",
            "commission_rate_modifier": "32.50",
            "mdf_percentage": "6.00",
            "benefits": "",
        },
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        tier = Tier.objects.get(key="diamond")
        assert str(tier.commission_rate_modifier) == "32.50"
        assert AuditEvent.objects.filter(action="tier.created", object_id=str(tier.pk)).exists()
    assert LogEntry.objects.count() == 0


def test_duplicate_tier_key_is_a_form_error_within_the_tenant_only(
    client, tenant_admin, tiers, tenant_b
):
    data = {
        "key": "gold",
        "name": "Gold again",
        "rank": "7",
        "commission_rate_modifier": "1",
        "mdf_percentage": "1",
        "benefits": "",
    }
    response = client.post(reverse("admin:partners_tier_add"), data, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    with tenant_context(tenant_b):
        assert not Tier.objects.filter(key="gold").exists()


def test_a_tier_in_use_cannot_be_deleted(client, tenant_admin, partner_a, tiers):
    url = reverse("admin:partners_tier_delete", args=[tiers["bronze"].pk])
    response = client.post(url, {"post": "yes"}, HTTP_HOST=HOST_A)
    assert response.status_code in (200, 302)
    with tenant_context(partner_a.tenant):
        assert Tier.objects.filter(pk=tiers["bronze"].pk).exists()


def test_an_unused_partner_type_is_deleted_through_the_service(client, tenant_admin, tenant_a):
    with tenant_context(tenant_a):
        kind = PartnerTypeFactory(key="unused")
    url = reverse("admin:partners_partnertype_delete", args=[kind.pk])
    response = client.post(url, {"post": "yes"}, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(tenant_a):
        assert not PartnerType.objects.filter(pk=kind.pk).exists()
        assert AuditEvent.objects.filter(action="partner_type.deleted").exists()
    assert LogEntry.objects.count() == 0
