"""Incentive fixtures: tenant A with the default catalogue (Bronze 20 % …
Platinum 30 %), its staff roles, a Gold reseller with a rep, and tenant B."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from deals import services as deal_services
from partners.defaults import seed_catalogue
from partners.models import PartnerOrganization, PartnerType, Tier
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory


@dataclass
class PlanWorld:
    tenant: object
    admin: Membership
    finance: Membership
    manager: Membership
    rep: Membership
    partner: PartnerOrganization
    tiers: dict[str, Tier]
    types: dict[str, PartnerType]


@pytest.fixture
def plan_world(tenant_a) -> PlanWorld:
    with tenant_context(tenant_a):
        types, tiers = seed_catalogue()
        by_key = {tier.key: tier for tier in tiers}
        type_by_key = {t.key: t for t in types}
        partner = PartnerFactory(
            legal_name="Huatong Partners",
            tier=by_key["gold"],
            partner_type=type_by_key["reseller"],
            country="CN",
            default_currency="CNY",
        )
        return PlanWorld(
            tenant=tenant_a,
            admin=MembershipFactory(role=Role.TENANT_ADMIN, partner=None),
            finance=MembershipFactory(role=Role.FINANCE, partner=None),
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
            rep=MembershipFactory(role=Role.PARTNER_REP, partner=partner),
            partner=partner,
            tiers=by_key,
            types=type_by_key,
        )


def register(membership, company="Acme Holdings", email="ceo@acme.cn", **extra):
    extra.setdefault("currency", "CNY")
    with tenant_context(membership.tenant):
        return deal_services.register_deal(
            membership=membership,
            actor=membership.user,
            customer_company=company,
            contact_name="Li Na",
            contact_email=email,
            estimated_close_date=timezone.localdate() + timedelta(days=30),
            **extra,
        )
