"""Console fixtures: staff and partner users of tenant A (alpha.localhost) and B."""

from __future__ import annotations

import pytest

from prm.accounts.roles import PARTNER_ROLES, Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory, TierFactory

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"
PLATFORM_HOST = "localhost"


@pytest.fixture
def make_member(tenant_a):
    """``make_member(role, tenant=tenant_a, partner=None)`` → an active membership."""

    def make(role: str, tenant=None, partner=None, **kwargs):
        with tenant_context(tenant or tenant_a):
            if role in PARTNER_ROLES:
                return MembershipFactory(role=role, partner=partner or PartnerFactory(), **kwargs)
            return MembershipFactory(role=role, partner=None, **kwargs)

    return make


@pytest.fixture
def login_as(client, make_member):
    """Sign the test client in with a new membership of that role; returns it."""

    def login(role: str, tenant=None, partner=None):
        membership = make_member(role, tenant=tenant, partner=partner)
        client.force_login(membership.user)
        return membership

    return login


@pytest.fixture
def tenant_admin(login_as):
    return login_as(Role.TENANT_ADMIN)


@pytest.fixture
def channel_manager(login_as):
    return login_as(Role.CHANNEL_MANAGER)


@pytest.fixture
def tiers(tenant_a):
    """Bronze (rank 1) and Gold (rank 3) in tenant A."""
    with tenant_context(tenant_a):
        return {
            "bronze": TierFactory(key="bronze", name="Bronze", rank=1),
            "gold": TierFactory(key="gold", name="Gold", rank=3),
        }
