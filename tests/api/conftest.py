"""Fixtures for the API tests: two tenants with the same shape of data.

Each ``World`` holds a tenant's catalogue, two partner organisations and one
membership per role (plus an admin of the second partner), and hands out API
clients that call on the tenant's host with a personal token, an API key or a
browser session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from partners.models import PartnerOrganization, PartnerType, Tier
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.accounts.services import create_api_key, create_user_token
from prm.tenancy.context import tenant_context
from prm.tenancy.models import Tenant
from tests.factories import (
    MembershipFactory,
    PartnerFactory,
    PartnerTypeFactory,
    TierFactory,
    UserFactory,
)


def host_of(tenant: Tenant) -> str:
    return f"{tenant.slug}.localhost"


def client_on(tenant: Tenant, *, token: str | None = None, api_key: str | None = None):
    """A client on the tenant's host. It picks English with the language cookie so
    assertions can read DRF's messages; without it the tenant's language applies."""
    client = APIClient(HTTP_HOST=host_of(tenant))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    if api_key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@dataclass
class World:
    tenant: Tenant
    reseller: PartnerType
    referral: PartnerType
    bronze: Tier
    gold: Tier
    partner: PartnerOrganization
    other_partner: PartnerOrganization
    members: dict[str, Membership] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return host_of(self.tenant)

    def client(self, who: str) -> APIClient:
        """A client calling as ``who`` (a role, or "other_partner_admin") with a token."""
        _token, key = create_user_token(user=self.members[who].user, name="tests")
        return client_on(self.tenant, token=key)

    def session_client(self, who: str) -> APIClient:
        client = client_on(self.tenant)
        client.force_login(self.members[who].user)
        return client

    def api_key(self, role: str = Role.CHANNEL_MANAGER) -> str:
        """A new API key of this tenant acting as ``role``; returns the key itself."""
        admin = self.members[Role.TENANT_ADMIN]
        with tenant_context(self.tenant):
            _api_key, key = create_api_key(
                name="CRM sync", role=role, actor=admin.user, membership=admin
            )
        return key

    def api_key_client(self, role: str = Role.CHANNEL_MANAGER) -> APIClient:
        return client_on(self.tenant, api_key=self.api_key(role))


def build_world(tenant: Tenant) -> World:
    slug = tenant.slug
    with tenant_context(tenant):
        reseller = PartnerTypeFactory(key="reseller", name="Reseller")
        referral = PartnerTypeFactory(key="referral", name="Referral")
        bronze = TierFactory(key="bronze", name="Bronze", rank=1)
        gold = TierFactory(key="gold", name="Gold", rank=3)
        partner = PartnerFactory(
            legal_name=f"{slug.title()} Resellers Ltd",
            partner_type=reseller,
            tier=bronze,
            country="CN",
            default_currency="CNY",
        )
        other_partner = PartnerFactory(
            legal_name=f"{slug.title()} Referrals Sdn Bhd",
            partner_type=referral,
            tier=gold,
            country="MY",
        )
        world = World(tenant, reseller, referral, bronze, gold, partner, other_partner)
        for role in (Role.TENANT_ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE):
            world.members[role] = MembershipFactory(
                user=UserFactory(email=f"{role}@{slug}.example.com"), role=role, partner=None
            )
        for role in (Role.PARTNER_ADMIN, Role.PARTNER_REP):
            world.members[role] = MembershipFactory(
                user=UserFactory(email=f"{role}@{slug}.example.com"), role=role, partner=partner
            )
        world.members["other_partner_admin"] = MembershipFactory(
            user=UserFactory(email=f"other-admin@{slug}.example.com"),
            role=Role.PARTNER_ADMIN,
            partner=other_partner,
        )
    return world


@pytest.fixture
def alpha(tenant_a) -> World:
    return build_world(tenant_a)


@pytest.fixture
def bravo(tenant_b) -> World:
    return build_world(tenant_b)
