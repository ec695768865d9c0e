"""Fixtures for the deal, registration, lead and account API tests.

Each tenant gets the API tests' ``World`` (two partner organisations, one
membership per role, token and API-key clients; see ``tests/api/conftest.py``)
plus a small product catalogue, and helpers that put deals and leads in place
through the services, as the portal would.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from deals import services
from deals.leads import build_lead
from deals.models import DealRegistration, Decision, Lead, LeadAssignment, Product
from partners.models import PartnerOrganization
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.api.conftest import World, build_world, client_on

__all__ = ["DealWorld", "client_on"]

_numbers = itertools.count(1)


@dataclass
class DealWorld:
    """A tenant's API ``World`` with products, and helpers to create deals and leads."""

    base: World
    licence: Product
    support: Product
    retired: Product

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def register(self, who: str = Role.PARTNER_REP, company: str | None = None, **extra):
        """A registration by ``who`` (a partner member) for a fresh customer."""
        n = next(_numbers)
        membership = self.base.members[who]
        data: dict[str, Any] = {
            "customer_company": company or f"Customer {n} Sdn Bhd",
            "contact_name": "Siti Aminah",
            "contact_email": f"buyer@customer{n}.example",
            "estimated_close_date": timezone.localdate() + timedelta(days=60),
        }
        data.update(extra)
        with tenant_context(self.base.tenant):
            return services.register_deal(membership=membership, actor=membership.user, **data)

    def decide(self, deal: DealRegistration, outcome: str, reason: str = "Reviewed") -> Decision:
        manager = self.base.members[Role.CHANNEL_MANAGER]
        with tenant_context(self.base.tenant):
            return services.decide_registration(
                deal=deal, membership=manager, actor=manager.user, outcome=outcome, reason=reason
            )

    def set_program(self, **values) -> None:
        with tenant_context(self.base.tenant):
            rules = services.program()
            for name, value in values.items():
                setattr(rules, name, value)
            rules.save()

    def offer_lead(
        self,
        partner: PartnerOrganization | None = None,
        *,
        company: str | None = None,
        status: str = Lead.Status.OFFERED,
        **extra,
    ) -> Lead:
        """A lead offered to ``partner`` (the world's first partner by default),
        as routing leaves it: the lead offered, one pending assignment with a trace."""
        n = next(_numbers)
        partner = partner or self.base.partner
        now = timezone.now()
        with tenant_context(self.base.tenant):
            lead = build_lead(
                company=company or f"Lead Customer {n} Ltd",
                contact_name="Tan Wei",
                contact_email=f"tan@lead{n}.example",
                country=partner.country,
                phone="+60 3 1234 5678",
                notes="Met at the trade fair.",
                **extra,
            )
            lead.status = status
            lead.partner = partner
            lead.offered_at = now
            lead.due_at = now + timedelta(hours=48)
            lead.save()
            LeadAssignment.objects.create(
                lead=lead,
                partner=partner,
                via=LeadAssignment.Via.ARRIVAL,
                rule_name="Default",
                score=Decimal("0.5000"),
                trace={"rule": {"default": True}, "considered": 2, "chosen": partner.pk},
                due_at=lead.due_at,
                outcome=(
                    LeadAssignment.Outcome.ACCEPTED
                    if status == Lead.Status.ACCEPTED
                    else LeadAssignment.Outcome.PENDING
                ),
            )
            if status == Lead.Status.ACCEPTED:
                lead.accepted_at = now
                lead.save(update_fields=["accepted_at"])
        return lead


def build_deal_world(tenant) -> DealWorld:
    base = build_world(tenant)
    with tenant_context(tenant):
        licence = Product.objects.create(
            name="Cloud licence", product_line="Cloud", sku=f"{tenant.slug}-LIC"
        )
        support = Product.objects.create(
            name="Premium support", product_line="Services", sku=f"{tenant.slug}-SUP"
        )
        retired = Product.objects.create(
            name="Old licence", product_line="Cloud", sku=f"{tenant.slug}-OLD", is_active=False
        )
    return DealWorld(base, licence, support, retired)


@pytest.fixture
def alpha(tenant_a) -> DealWorld:
    return build_deal_world(tenant_a)


@pytest.fixture
def bravo(tenant_b) -> DealWorld:
    return build_deal_world(tenant_b)
