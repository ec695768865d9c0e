"""Lead-routing fixtures: tenant A with partner types, tiers, staff and helpers
to make partners, leads and answered offers (the history scores come from)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.leads import build_lead, lead_routing
from deals.models import Lead, LeadAssignment, PartnerLeadProfile
from partners.models import PartnerOrganization, PartnerType, Tier
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.celery import app as celery_app
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory, PartnerTypeFactory, TierFactory

Outcome = LeadAssignment.Outcome


@dataclass
class LeadWorld:
    tenant: object
    reseller: PartnerType
    referral: PartnerType
    bronze: Tier
    gold: Tier
    manager: Membership

    def partner(
        self,
        name: str,
        *,
        country: str = "MY",
        industries: tuple[str, ...] = (),
        partner_type: PartnerType | None = None,
        tier: Tier | None | str = "bronze",
        status: str = PartnerOrganization.Status.ACTIVE,
        **profile,
    ) -> PartnerOrganization:
        partner = PartnerFactory(
            legal_name=name,
            country=country,
            industries=list(industries),
            partner_type=partner_type or self.reseller,
            tier=self.bronze if tier == "bronze" else tier,
            status=status,
        )
        if profile:
            PartnerLeadProfile.objects.create(partner=partner, **profile)
        return partner

    def rep(self, partner: PartnerOrganization, role: str = Role.PARTNER_REP) -> Membership:
        return MembershipFactory(role=role, partner=partner)


def make_lead(company: str = "Acme Sdn Bhd", *, country: str = "MY", **extra) -> Lead:
    data = {"contact_name": "Siti Aminah", "contact_email": "siti@acme.example"}
    data.update(extra)
    lead = build_lead(company=company, country=country, **data)
    lead.save()
    return lead


def make_leads(count: int, **extra) -> list[Lead]:
    return [make_lead(f"Customer {n}", **extra) for n in range(count)]


def past_offer(
    partner: PartnerOrganization,
    outcome: str,
    *,
    hours: float | None = None,
    converted: bool = False,
    days_ago: int = 10,
    now: datetime | None = None,
) -> LeadAssignment:
    """An offer made ``days_ago`` days ago and answered after ``hours`` hours."""
    offered = (now or timezone.now()) - timedelta(days=days_ago)
    lead = make_lead(f"History {partner.pk} {Lead.objects.count()}")
    if outcome == Outcome.ACCEPTED:
        lead.status = Lead.Status.CONVERTED if converted else Lead.Status.ACCEPTED
        lead.partner = partner
        lead.save(update_fields=["status", "partner"])
    else:
        lead.status = Lead.Status.WITHDRAWN
        lead.save(update_fields=["status"])
    offer = LeadAssignment.objects.create(
        lead=lead, partner=partner, via=LeadAssignment.Via.SWEEP, outcome=outcome
    )
    LeadAssignment.objects.filter(pk=offer.pk).update(
        offered_at=offered,
        responded_at=None if hours is None else offered + timedelta(hours=hours),
    )
    return offer


@pytest.fixture
def world(tenant_a) -> LeadWorld:
    with tenant_context(tenant_a):
        routing = lead_routing()
        routing.route_on_arrival = False
        routing.save()
        assert routing.score_band == Decimal("0.05")
        return LeadWorld(
            tenant=tenant_a,
            reseller=PartnerTypeFactory(key="reseller", name="Reseller"),
            referral=PartnerTypeFactory(key="referral", name="Referral"),
            bronze=TierFactory(key="bronze", name="Bronze", rank=1),
            gold=TierFactory(key="gold", name="Gold", rank=4),
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
        )


@pytest.fixture
def broker():
    """The real test broker, emptied before and after: ``broker()`` returns the
    tasks waiting in the queue as ``(name, kwargs)``."""
    celery_app.control.purge()

    def waiting() -> list[tuple[str, dict]]:
        found = []
        with celery_app.connection_for_read() as conn:
            queue = conn.SimpleQueue("celery", no_ack=True)
            try:
                while True:
                    try:
                        message = queue.get(block=True, timeout=0.5)
                    except queue.Empty:
                        break
                    _args, kwargs, _embed = message.decode()
                    found.append((message.headers["task"], kwargs))
            finally:
                queue.close()
        return found

    yield waiting
    celery_app.control.purge()
