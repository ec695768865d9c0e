"""Tiers and partner types: every member reads them, program managers change them."""

from __future__ import annotations

import pytest

from partners.models import PartnerType, Tier
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context

pytestmark = pytest.mark.django_db

TIERS = "/api/v1/tiers/"
TYPES = "/api/v1/partner-types/"
ALL_ROLES = [
    Role.TENANT_ADMIN,
    Role.CHANNEL_MANAGER,
    Role.FINANCE,
    Role.PARTNER_ADMIN,
    Role.PARTNER_REP,
]
NOT_PROGRAM_MANAGERS = [Role.CHANNEL_MANAGER, Role.FINANCE, Role.PARTNER_ADMIN, Role.PARTNER_REP]

SILVER = {
    "key": "silver",
    "name": "Silver",
    "rank": 2,
    "commission_rate_modifier": "22.50",
    "mdf_percentage": "4.00",
    "benefits": "More MDF",
}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_member_reads_the_tier_ladder_and_partner_types(alpha, bravo, role):
    client = alpha.client(role)
    tiers = client.get(TIERS).json()["results"]
    assert [t["key"] for t in tiers] == ["bronze", "gold"]
    assert tiers[0]["commission_rate_modifier"] == "20.00"
    types = client.get(TYPES).json()["results"]
    assert [t["key"] for t in types] == ["referral", "reseller"]
    assert client.get(f"{TIERS}{alpha.gold.pk}/").json()["name"] == "Gold"


def test_tenant_admin_manages_the_tier_ladder(alpha):
    client = alpha.client(Role.TENANT_ADMIN)
    response = client.post(TIERS, SILVER)
    assert response.status_code == 201, response.content
    silver_id = response.json()["id"]
    assert [t["key"] for t in client.get(TIERS).json()["results"]] == ["bronze", "silver", "gold"]

    response = client.patch(f"{TIERS}{silver_id}/", {"commission_rate_modifier": "25.00"})
    assert response.status_code == 200
    assert response.json()["commission_rate_modifier"] == "25.00"

    assert client.delete(f"{TIERS}{silver_id}/").status_code == 204
    with tenant_context(alpha.tenant):
        assert not Tier.objects.filter(pk=silver_id).exists()
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"tier.created", "tier.updated", "tier.deleted"} <= actions


@pytest.mark.parametrize("role", NOT_PROGRAM_MANAGERS)
def test_only_the_tenant_admin_changes_the_catalogue(alpha, role):
    client = alpha.client(role)
    assert client.post(TIERS, SILVER).status_code == 403
    assert client.patch(f"{TIERS}{alpha.gold.pk}/", {"name": "Golden"}).status_code == 403
    assert client.delete(f"{TIERS}{alpha.gold.pk}/").status_code == 403
    assert client.post(TYPES, {"key": "msp", "name": "MSP"}).status_code == 403
    assert client.patch(f"{TYPES}{alpha.reseller.pk}/", {"name": "VAR"}).status_code == 403
    assert client.delete(f"{TYPES}{alpha.referral.pk}/").status_code == 403
    with tenant_context(alpha.tenant):
        assert Tier.objects.get(pk=alpha.gold.pk).name == "Gold"
        assert PartnerType.objects.count() == 2


def test_tier_rules(alpha):
    client = alpha.client(Role.TENANT_ADMIN)
    response = client.post(TIERS, {**SILVER, "rank": 1})
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["field"]) == ("duplicate", "rank")
    response = client.post(TIERS, {**SILVER, "key": "gold"})
    assert (response.status_code, response.json()["field"]) == (409, "key")
    response = client.post(TIERS, {**SILVER, "commission_rate_modifier": "120"})
    assert response.status_code == 400
    assert "commission_rate_modifier" in response.json()


def test_tiers_and_types_in_use_cannot_be_deleted(alpha):
    client = alpha.client(Role.TENANT_ADMIN)
    response = client.delete(f"{TIERS}{alpha.gold.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "in_use"
    assert client.delete(f"{TYPES}{alpha.reseller.pk}/").status_code == 409
    with tenant_context(alpha.tenant):
        assert Tier.objects.filter(pk=alpha.gold.pk).exists()


def test_tenant_admin_manages_partner_types(alpha, bravo):
    client = alpha.client(Role.TENANT_ADMIN)
    response = client.post(TYPES, {"key": "msp", "name": "MSP / VAR"})
    assert response.status_code == 201
    assert client.post(TYPES, {"key": "msp", "name": "Again"}).status_code == 409
    # Keys are unique per tenant only.
    assert (
        bravo.client(Role.TENANT_ADMIN).post(TYPES, {"key": "msp", "name": "MSP"}).status_code
        == 201
    )
    response = client.put(
        f"{TYPES}{alpha.reseller.pk}/", {"key": "reseller", "name": "Reseller (VAR)"}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Reseller (VAR)"
