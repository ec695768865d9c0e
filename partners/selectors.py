"""Reads for partner organisations, already scoped to what the viewer may see."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from partners.models import PartnerOrganization, TierChange
from prm.accounts.models import Membership
from prm.accounts.roles import Capability, can


def partners_visible_to(*, membership) -> QuerySet[PartnerOrganization]:
    """Staff see every partner of the tenant; partner users only their own organisation."""
    queryset = PartnerOrganization.objects.select_related("tier", "partner_type").annotate(
        user_count=Count("memberships", filter=Q(memberships__is_active=True))
    )
    if can(membership, Capability.VIEW_ALL_PARTNERS):
        return queryset
    if membership is not None and membership.partner_id:
        return queryset.filter(pk=membership.partner_id)
    return queryset.none()


def team_of(*, partner: PartnerOrganization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(partner=partner)
        .select_related("user")
        .order_by("-is_active", "role", "user__full_name", "user__email")
    )


def memberships_visible_to(*, membership) -> QuerySet[Membership]:
    """Staff see every membership; a partner admin or rep sees their organisation's."""
    queryset = Membership.objects.select_related("user", "partner")
    if can(membership, Capability.VIEW_ALL_PARTNERS):
        return queryset
    if membership is not None and membership.partner_id:
        return queryset.filter(partner_id=membership.partner_id)
    return queryset.none()


def tier_history(*, partner: PartnerOrganization) -> QuerySet[TierChange]:
    return TierChange.objects.filter(partner=partner).select_related(
        "from_tier", "to_tier", "changed_by"
    )
