"""People and organisations shared by the portal and account page tests.

Tenant A ("alpha") has partners X and Y plus a channel manager; tenant B
("bravo") has partner Z. Every request goes to the tenant's own host.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from prm.accounts.models import Membership, User
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from prm.tenancy.models import Tenant
from tests.factories import MembershipFactory, PartnerFactory, TierFactory, UserFactory

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    partner_x: object
    partner_y: object
    partner_z: object
    admin_x: Membership
    rep_x: Membership
    admin_y: Membership
    rep_y: Membership
    staff_a: Membership
    admin_z: Membership
    rep_z: Membership

    @property
    def admin_x_user(self) -> User:
        return self.admin_x.user


@pytest.fixture
def world(tenant_a, tenant_b) -> World:
    with tenant_context(tenant_a):
        gold = TierFactory(
            key="gold",
            name="Gold",
            rank=3,
            commission_rate_modifier=Decimal("25.50"),
            mdf_percentage=Decimal("4.00"),
        )
        partner_x = PartnerFactory(
            legal_name="Qiming Information Technology Co Ltd",
            country="CN",
            region="Shanghai",
            tier=gold,
            default_currency="CNY",
        )
        partner_y = PartnerFactory(legal_name="Yonder Systems Ltd", country="CN")
        admin_x = MembershipFactory(
            user=UserFactory(email="admin.x@example.com", full_name="Li Ming"),
            partner=partner_x,
            role=Role.PARTNER_ADMIN,
        )
        rep_x = MembershipFactory(
            user=UserFactory(email="rep.x@example.com", full_name="Wang Fang"),
            partner=partner_x,
            role=Role.PARTNER_REP,
        )
        admin_y = MembershipFactory(
            user=UserFactory(email="admin.y@example.com"),
            partner=partner_y,
            role=Role.PARTNER_ADMIN,
        )
        rep_y = MembershipFactory(
            user=UserFactory(email="rep.y@example.com"), partner=partner_y, role=Role.PARTNER_REP
        )
        staff_a = MembershipFactory(user=UserFactory(email="cm.a@example.com"), staff=True)
    with tenant_context(tenant_b):
        partner_z = PartnerFactory(legal_name="Zaman Teknologi Sdn Bhd")
        admin_z = MembershipFactory(
            user=UserFactory(email="admin.z@example.com"),
            partner=partner_z,
            role=Role.PARTNER_ADMIN,
        )
        rep_z = MembershipFactory(
            user=UserFactory(email="rep.z@example.com"), partner=partner_z, role=Role.PARTNER_REP
        )
    return World(
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        partner_x=partner_x,
        partner_y=partner_y,
        partner_z=partner_z,
        admin_x=admin_x,
        rep_x=rep_x,
        admin_y=admin_y,
        rep_y=rep_y,
        staff_a=staff_a,
        admin_z=admin_z,
        rep_z=rep_z,
    )


@pytest.fixture
def english(client):
    """Pin the language cookie so assertions can read English text."""
    client.cookies["django_language"] = "en"
    return client
