"""Simulator fixtures: tenant A with the default catalogue, its staff, two Gold
resellers (each with a rep), a published plan from 1 December 2025 (Gold 25 %
of first-year contract value, 15 % revenue share) and a draft copied from it
(Gold 27 %, the same revenue share, and a 500 new-customer bonus)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals import services as deal_services
from incentives import services
from incentives.models import PlanVersion, RevenueEvent
from partners.defaults import seed_catalogue
from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory

PUBLISHED_FROM = date(2025, 12, 1)


@dataclass
class SimWorld:
    tenant: object
    admin: Membership
    finance: Membership
    manager: Membership
    huatong: PartnerOrganization
    lianhe: PartnerOrganization
    reps: dict[int, Membership]
    published: PlanVersion
    draft: PlanVersion

    def close(
        self,
        partner: PartnerOrganization,
        company: str,
        amount: str,
        *,
        closed_on: date,
        term: int = 12,
        deal_type: str = "new",
    ):
        rep = self.reps[partner.pk]
        slug = company.split()[0].lower()
        with tenant_context(self.tenant):
            deal = deal_services.register_deal(
                membership=rep,
                actor=rep.user,
                customer_company=company,
                contact_name="Li Na",
                contact_email=f"buyer@{slug}.cn",
                estimated_close_date=timezone.localdate() + timedelta(days=30),
                currency="CNY",
                deal_type=deal_type,
            )
            return deal_services.close_won(
                deal=deal,
                membership=rep,
                actor=rep.user,
                final_amount=Decimal(amount),
                currency="CNY",
                closed_on=closed_on,
                contract_term_months=term,
            )

    def revenue(
        self, partner: PartnerOrganization, external_id: str, amount: str, *, on: date, kind=None
    ) -> RevenueEvent:
        with tenant_context(self.tenant):
            return services.record_revenue_event(
                membership=self.finance,
                actor=self.finance.user,
                partner=partner,
                kind=kind or RevenueEvent.Kind.INVOICE_PAID,
                amount=Decimal(amount),
                currency="CNY",
                occurred_on=on,
                external_id=external_id,
                customer_name=f"Customer {external_id}",
            )


def _plan(admin, tenant, name="Standard") -> tuple[PlanVersion, PlanVersion]:
    with tenant_context(tenant):
        plan = services.create_plan(membership=admin, actor=admin.user, name=name)
        version = plan.versions.get()
        for data in (
            {
                "name": "Gold commission",
                "kind": "tier_commission",
                "tier_keys": ["gold"],
                "rate": "25",
            },
            {"name": "Reseller share", "kind": "revenue_share", "rate": "15"},
        ):
            services.add_rule(version=version, membership=admin, actor=admin.user, data=data)
        published = services.publish_version(
            version=version,
            membership=admin,
            actor=admin.user,
            effective_from=PUBLISHED_FROM,
            today=PUBLISHED_FROM,
        )
        draft = services.new_draft_from(version=published, membership=admin, actor=admin.user)
        gold = draft.rules.get(kind="tier_commission")
        services.update_rule(
            rule=gold,
            membership=admin,
            actor=admin.user,
            data={
                "name": "Gold commission",
                "kind": "tier_commission",
                "tier_keys": ["gold"],
                "rate": "27",
            },
        )
        services.add_rule(
            version=draft,
            membership=admin,
            actor=admin.user,
            data={
                "name": "New customer bonus",
                "kind": "new_customer_bonus",
                "payout": "fixed",
                "fixed_amount": "500",
            },
        )
        return published, draft


@pytest.fixture
def sim_world(tenant_a) -> SimWorld:
    with tenant_context(tenant_a):
        types, tiers = seed_catalogue()
        gold = next(tier for tier in tiers if tier.key == "gold")
        reseller = next(t for t in types if t.key == "reseller")
        partners = [
            PartnerFactory(
                legal_name=name,
                tier=gold,
                partner_type=reseller,
                country="CN",
                default_currency="CNY",
            )
            for name in ("Huatong Partners", "Lianhe Systems")
        ]
        admin = MembershipFactory(role=Role.TENANT_ADMIN, partner=None)
        reps = {p.pk: MembershipFactory(role=Role.PARTNER_REP, partner=p) for p in partners}
        finance = MembershipFactory(role=Role.FINANCE, partner=None)
        manager = MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None)
    published, draft = _plan(admin, tenant_a)
    return SimWorld(
        tenant=tenant_a,
        admin=admin,
        finance=finance,
        manager=manager,
        huatong=partners[0],
        lianhe=partners[1],
        reps=reps,
        published=published,
        draft=draft,
    )


@pytest.fixture
def other_tenant_draft(tenant_b) -> PlanVersion:
    """A draft of tenant B, for the cross-tenant checks."""
    with tenant_context(tenant_b):
        seed_catalogue()
        admin = MembershipFactory(role=Role.TENANT_ADMIN, partner=None)
    return _plan(admin, tenant_b, name="Bravo plan")[1]
