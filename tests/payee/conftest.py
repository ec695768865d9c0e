"""Payee fixtures: tenant A with partners X and Y (an admin and a rep each),
finance, a tenant admin and a channel manager; tenant B with partner Z."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from prm.tenancy.models import Tenant
from tests.factories import MembershipFactory, PartnerFactory

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"
ACCOUNT = "5140 1234 5678 9012"
ACCOUNT_COMPACT = "5140123456789012"
TAX_ID = "91310000MA1FL4XQ7K"


@dataclass
class PayeeWorld:
    tenant_a: Tenant
    tenant_b: Tenant
    partner_x: PartnerOrganization
    partner_y: PartnerOrganization
    partner_z: PartnerOrganization
    admin_x: Membership
    rep_x: Membership
    admin_y: Membership
    admin_z: Membership
    finance: Membership
    finance_b: Membership
    tenant_admin: Membership
    manager: Membership


@pytest.fixture
def payee_world(tenant_a, tenant_b) -> PayeeWorld:
    with tenant_context(tenant_a):
        partner_x = PartnerFactory(legal_name="Qiming Information Technology Co Ltd", country="CN")
        partner_y = PartnerFactory(legal_name="Yonder Systems Ltd", country="CN")
        members = {
            "admin_x": MembershipFactory(role=Role.PARTNER_ADMIN, partner=partner_x),
            "rep_x": MembershipFactory(role=Role.PARTNER_REP, partner=partner_x),
            "admin_y": MembershipFactory(role=Role.PARTNER_ADMIN, partner=partner_y),
            "finance": MembershipFactory(role=Role.FINANCE, partner=None),
            "tenant_admin": MembershipFactory(role=Role.TENANT_ADMIN, partner=None),
            "manager": MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
        }
    with tenant_context(tenant_b):
        partner_z = PartnerFactory(legal_name="Zaman Teknologi Sdn Bhd")
        admin_z = MembershipFactory(role=Role.PARTNER_ADMIN, partner=partner_z)
        finance_b = MembershipFactory(role=Role.FINANCE, partner=None)
    return PayeeWorld(
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        partner_x=partner_x,
        partner_y=partner_y,
        partner_z=partner_z,
        admin_z=admin_z,
        finance_b=finance_b,
        **members,
    )


def full_details(**overrides) -> dict:
    """What a partner admin fills in (everything but the tax form status)."""
    return {
        "legal_name": "Qiming Information Technology Co Ltd",
        "payout_currency": "CNY",
        "payment_method": "bank_transfer",
        "bank_name": "Bank of China Shanghai Branch",
        "account_number": ACCOUNT,
        "swift_bic": "bkchcnbj300",
        "bank_country": "cn",
        "tax_id": TAX_ID,
        "tax_country": "CN",
        **overrides,
    }
