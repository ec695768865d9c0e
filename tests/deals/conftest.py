"""Deal-registration fixtures: tenant A with two partners and a channel manager."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory


@dataclass
class DealWorld:
    tenant: object
    rep_x: Membership
    rep_y: Membership
    manager: Membership


@pytest.fixture
def deal_world(tenant_a) -> DealWorld:
    with tenant_context(tenant_a):
        partner_x = PartnerFactory(legal_name="Xin Partners Sdn Bhd", default_currency="MYR")
        partner_y = PartnerFactory(legal_name="Yellow Reseller Pte Ltd", default_currency="SGD")
        return DealWorld(
            tenant=tenant_a,
            rep_x=MembershipFactory(role=Role.PARTNER_REP, partner=partner_x),
            rep_y=MembershipFactory(role=Role.PARTNER_REP, partner=partner_y),
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
        )
