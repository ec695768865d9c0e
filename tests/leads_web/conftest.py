"""Lead pages fixtures: the portal world (tenant A with partners X and Y and a
channel manager, tenant B with partner Z) plus finance and a tenant admin, and
helpers that put leads and offers in the states the pages show.

Offers are made by the real router (``deals.routing.route_leads``) when a test
is about what routing decided, or written as routing writes them (``offer``)
when a test needs one partner to hold a lead regardless of ranking.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from deals import leads as lead_services
from deals.leads import build_lead, lead_routing
from deals.models import Lead, LeadAssignment
from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, UserFactory
from tests.portal.fixtures import HOST_A, HOST_B, World, english, world

__all__ = ["HOST_A", "HOST_B", "english", "world"]

Outcome = LeadAssignment.Outcome
Status = Lead.Status


def new_lead(tenant, company: str = "Acme Holdings Sdn Bhd", **extra: Any) -> Lead:
    """A lead as ``create_lead`` saves it, without routing it."""
    data = {
        "contact_name": "Siti Aminah",
        "contact_email": "siti@acme.example",
        "country": "CN",
    }
    data.update(extra)
    with tenant_context(tenant):
        lead = build_lead(company=company, **data)
        lead.save()
        return lead


def sample_trace(chosen: PartnerOrganization, *, runners_up=(), excluded=()) -> dict:
    """A decision trace in the router's format (see ``deals.routing``)."""

    def entry(partner, score="0.5000"):
        return {
            "id": partner.pk,
            "name": partner.name,
            "score": score,
            "band": 10,
            "acceptance": "0.5000",
            "conversion": "0.5000",
            "response": "0.5000",
            "response_hours": None,
            "history": False,
        }

    return {
        "rule": {
            "id": None,
            "name": "",
            "default": True,
            "action": "route",
            "requires": {"territory": True, "industry": False, "partner_types": [], "tiers": []},
        },
        "considered": 1 + len(runners_up) + len(excluded),
        "eligible": 1 + len(runners_up),
        "chosen": entry(chosen),
        "runners_up": [entry(partner) for partner in runners_up],
        "excluded_counts": {"outside_territory": len(excluded)} if excluded else {},
        "excluded": [{"id": p.pk, "name": p.name, "reason": "outside_territory"} for p in excluded],
        "settings": {
            "score_band": "0.05",
            "weights": {"acceptance": "0.40", "conversion": "0.40", "response": "0.20"},
            "sla_hours": 48,
            "history_days": 180,
            "prior": {"rate": "0.5", "offers": 2},
        },
    }


def offer(
    tenant,
    lead: Lead,
    partner: PartnerOrganization,
    *,
    due_in: timedelta = timedelta(hours=48),
    offered_at: datetime | None = None,
    trace: dict | None = None,
    via: str = LeadAssignment.Via.ARRIVAL,
) -> LeadAssignment:
    """Offer ``lead`` to ``partner`` the way the router does: a pending
    assignment with its trace, and the lead offered and due."""
    offered_at = offered_at or timezone.now()
    with tenant_context(tenant):
        assignment = LeadAssignment.objects.create(
            lead=lead,
            partner=partner,
            via=via,
            score="0.5000",
            trace=trace if trace is not None else sample_trace(partner),
            outcome=Outcome.PENDING,
            due_at=offered_at + due_in,
        )
        LeadAssignment.objects.filter(pk=assignment.pk).update(offered_at=offered_at)
        Lead.objects.filter(pk=lead.pk).update(
            status=Status.OFFERED,
            partner=partner,
            offered_at=offered_at,
            due_at=offered_at + due_in,
        )
        lead.refresh_from_db()
        assignment.refresh_from_db()
        return assignment


def reload(tenant, lead: Lead) -> Lead:
    with tenant_context(tenant):
        return Lead.objects.get(pk=lead.pk)


def accept(tenant, lead: Lead, membership: Membership) -> Lead:
    with tenant_context(tenant):
        return lead_services.accept_lead(lead=lead, membership=membership, actor=membership.user)


def reject(tenant, lead: Lead, membership: Membership, reason: str) -> Lead:
    with tenant_context(tenant):
        return lead_services.reject_lead(
            lead=lead, membership=membership, actor=membership.user, reason=reason
        )


def convert(tenant, lead: Lead, membership: Membership):
    with tenant_context(tenant):
        return lead_services.convert_lead(lead=lead, membership=membership, actor=membership.user)


@pytest.fixture
def people(world: World) -> dict[str, Membership]:
    """Every role of tenant A by name, for permission tables."""
    with tenant_context(world.tenant_a):
        routing = lead_routing()
        routing.route_on_arrival = False
        routing.save()
        finance = MembershipFactory(
            user=UserFactory(email="finance.a@example.com"), role=Role.FINANCE, partner=None
        )
        tenant_admin = MembershipFactory(
            user=UserFactory(email="owner.a@example.com"), role=Role.TENANT_ADMIN, partner=None
        )
    return {
        "tenant_admin": tenant_admin,
        "channel_manager": world.staff_a,
        "finance": finance,
        "partner_admin": world.admin_x,
        "partner_rep": world.rep_x,
    }
