"""Money fixtures: tenant A (currency CNY) with finance, a tenant admin, a
channel manager and a partner admin; tenant B (MYR) with its own finance."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from prm.tenancy.models import Tenant
from tests.factories import MembershipFactory, PartnerFactory

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"


@dataclass
class MoneyWorld:
    tenant_a: Tenant
    tenant_b: Tenant
    finance: Membership
    tenant_admin: Membership
    manager: Membership
    partner_admin: Membership
    finance_b: Membership


@pytest.fixture
def money_world(tenant_a, tenant_b) -> MoneyWorld:
    with tenant_context(tenant_a):
        finance = MembershipFactory(role=Role.FINANCE, partner=None)
        tenant_admin = MembershipFactory(role=Role.TENANT_ADMIN, partner=None)
        manager = MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None)
        partner_admin = MembershipFactory(role=Role.PARTNER_ADMIN, partner=PartnerFactory())
    with tenant_context(tenant_b):
        finance_b = MembershipFactory(role=Role.FINANCE, partner=None)
    return MoneyWorld(
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        finance=finance,
        tenant_admin=tenant_admin,
        manager=manager,
        partner_admin=partner_admin,
        finance_b=finance_b,
    )
