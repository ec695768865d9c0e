"""Revenue import fixtures: tenant A with the default catalogue, its staff
(finance, tenant admin, channel manager), two Gold resellers with a partner
admin and a rep, a registered deal of the first, and a published plan from
1 January 2026 paying resellers a 15 % revenue share; tenant B with its own
finance, partner and deal (for the isolation checks). ``events_csv`` builds a
file from rows of the default columns."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.utils import timezone

from deals import services as deal_services
from deals.models import DealRegistration
from incentives import services
from partners.defaults import seed_catalogue
from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory

HEADER = "external_id,partner,deal,customer_name,kind,amount,currency,occurred_on,usage_quantity"
PLAN_FROM = date(2026, 1, 1)


def events_csv(*rows: str, header: str = HEADER, bom: bool = False, encoding="utf-8") -> bytes:
    text = "\r\n".join((header, *rows)) + "\r\n"
    data = text.encode(encoding)
    if bom and encoding == "utf-8":
        data = codecs.BOM_UTF8 + data
    return data


def register(membership: Membership, company: str) -> DealRegistration:
    with tenant_context(membership.tenant):
        return deal_services.register_deal(
            membership=membership,
            actor=membership.user,
            customer_company=company,
            contact_name="Li Na",
            contact_email=f"ceo@{company.split()[0].lower()}.cn",
            estimated_close_date=timezone.localdate() + timedelta(days=30),
            currency="CNY",
        )


@dataclass
class ImportWorld:
    tenant: object
    finance: Membership
    admin: Membership
    manager: Membership
    partner_admin: Membership
    rep: Membership
    huatong: PartnerOrganization
    lianhe: PartnerOrganization
    deal: DealRegistration


def _publish_revenue_share(admin: Membership) -> None:
    plan = services.create_plan(membership=admin, actor=admin.user, name="Revenue share")
    version = plan.versions.get()
    services.add_rule(
        version=version,
        membership=admin,
        actor=admin.user,
        data={"name": "Reseller share", "kind": "revenue_share", "rate": "15"},
    )
    services.publish_version(
        version=version,
        membership=admin,
        actor=admin.user,
        effective_from=PLAN_FROM,
        today=PLAN_FROM,
    )


@pytest.fixture
def world(tenant_a) -> ImportWorld:
    with tenant_context(tenant_a):
        types, tiers = seed_catalogue()
        gold = next(tier for tier in tiers if tier.key == "gold")
        reseller = next(t for t in types if t.key == "reseller")
        huatong, lianhe = (
            PartnerFactory(
                legal_name=name,
                tier=gold,
                partner_type=reseller,
                country="CN",
                default_currency="CNY",
            )
            for name in ("Huatong Partners", "Lianhe Systems")
        )
        admin = MembershipFactory(role=Role.TENANT_ADMIN, partner=None)
        world = ImportWorld(
            tenant=tenant_a,
            finance=MembershipFactory(role=Role.FINANCE, partner=None),
            admin=admin,
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
            partner_admin=MembershipFactory(role=Role.PARTNER_ADMIN, partner=huatong),
            rep=MembershipFactory(role=Role.PARTNER_REP, partner=huatong),
            huatong=huatong,
            lianhe=lianhe,
            deal=None,  # type: ignore[arg-type]
        )
        _publish_revenue_share(admin)
    world.deal = register(world.rep, "Acme Holdings")
    return world


@dataclass
class OtherTenant:
    tenant: object
    finance: Membership
    partner: PartnerOrganization
    deal: DealRegistration


@pytest.fixture
def other(tenant_b) -> OtherTenant:
    with tenant_context(tenant_b):
        seed_catalogue()
        partner = PartnerFactory(legal_name="Bravo Reseller Sdn Bhd")
        finance = MembershipFactory(role=Role.FINANCE, partner=None)
        rep = MembershipFactory(role=Role.PARTNER_REP, partner=partner)
    deal = register(rep, "Bravo Customer Bhd")
    return OtherTenant(tenant=tenant_b, finance=finance, partner=partner, deal=deal)
