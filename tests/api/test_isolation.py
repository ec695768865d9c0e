"""Nothing of another tenant, and nothing of another partner, is reachable: 404.

Every detail URL (and every action on one) is requested as a partner user and
as staff of tenant A, on A's host, for tenant B's objects — and, for partner
users, for the other partner organisation's objects in A.
"""

from __future__ import annotations

import pytest

from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context

pytestmark = pytest.mark.django_db

CALLERS = [Role.PARTNER_ADMIN, Role.PARTNER_REP, Role.TENANT_ADMIN, Role.CHANNEL_MANAGER]


def partner_urls(partner, tier) -> list[tuple[str, str, dict]]:
    base = f"/api/v1/partners/{partner.pk}/"
    return [
        ("get", base, {}),
        ("patch", base, {"display_name": "Taken over"}),
        ("put", base, {"legal_name": "Taken over", "country": "MY", "partner_type": 1}),
        ("post", f"{base}assign-tier/", {"tier": tier.pk, "reason": "sneaky"}),
        ("get", f"{base}tier-history/", {}),
    ]


def user_urls(membership) -> list[tuple[str, str, dict]]:
    base = f"/api/v1/users/{membership.pk}/"
    return [
        ("get", base, {}),
        ("post", f"{base}deactivate/", {}),
        ("post", f"{base}reactivate/", {}),
        ("post", f"{base}role/", {"role": "partner_admin"}),
    ]


def catalogue_urls(world) -> list[tuple[str, str, dict]]:
    urls = []
    for base in (f"/api/v1/tiers/{world.gold.pk}/", f"/api/v1/partner-types/{world.reseller.pk}/"):
        urls += [("get", base, {}), ("patch", base, {"name": "x"}), ("delete", base, {})]
    return urls


def assert_all_404(client, urls):
    for method, path, data in urls:
        response = getattr(client, method)(path, data, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("role", CALLERS)
def test_tenant_b_objects_are_404_on_tenant_a(alpha, bravo, role):
    client = alpha.client(role)
    urls = partner_urls(bravo.partner, alpha.gold) + partner_urls(bravo.other_partner, alpha.gold)
    for membership in bravo.members.values():
        urls += user_urls(membership)
    urls += catalogue_urls(bravo)
    assert_all_404(client, urls)


def test_tenant_b_objects_are_404_for_an_api_key_of_tenant_a(alpha, bravo):
    client = alpha.api_key_client(Role.TENANT_ADMIN)
    urls = partner_urls(bravo.partner, alpha.gold) + catalogue_urls(bravo)
    for membership in bravo.members.values():
        urls += user_urls(membership)
    assert_all_404(client, urls)


def test_tenant_b_rows_never_appear_in_tenant_a_lists(alpha, bravo):
    client = alpha.client(Role.TENANT_ADMIN)
    bravo_partners = {bravo.partner.pk, bravo.other_partner.pk}
    listed = {row["id"] for row in client.get("/api/v1/partners/").json()["results"]}
    assert listed and not listed & bravo_partners
    users = {row["id"] for row in client.get("/api/v1/users/").json()["results"]}
    assert users and not users & {m.pk for m in bravo.members.values()}
    tiers = {row["id"] for row in client.get("/api/v1/tiers/").json()["results"]}
    assert tiers == {alpha.bronze.pk, alpha.gold.pk}


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.PARTNER_REP])
def test_another_partners_objects_are_404_for_partner_users(alpha, role):
    client = alpha.client(role)
    urls = partner_urls(alpha.other_partner, alpha.gold)
    urls += user_urls(alpha.members["other_partner_admin"])
    assert_all_404(client, urls)
    with tenant_context(alpha.tenant):
        alpha.other_partner.refresh_from_db()
        assert alpha.other_partner.display_name == ""
