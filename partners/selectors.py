"""Reads for partner organisations, already scoped to what the viewer may see."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from partners.models import PartnerOrganization, PartnerType, Tier, TierChange
from prm.accounts.models import Invitation, Membership
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
    """Tenant admins see every membership; other staff see partner users only
    (not their colleagues); a partner admin or rep sees their organisation's."""
    queryset = Membership.objects.select_related("user", "partner")
    if can(membership, Capability.MANAGE_STAFF):
        return queryset
    if can(membership, Capability.VIEW_ALL_PARTNERS):
        return queryset.filter(partner__isnull=False)
    if membership is not None and membership.partner_id:
        return queryset.filter(partner_id=membership.partner_id)
    return queryset.none()


def tier_history(*, partner: PartnerOrganization) -> QuerySet[TierChange]:
    return TierChange.objects.filter(partner=partner).select_related(
        "from_tier", "to_tier", "changed_by"
    )


def partner_of(*, membership) -> PartnerOrganization | None:
    """The partner user's own organisation with its type, tier and active-user count."""
    if membership is None or not membership.partner_id:
        return None
    return partners_visible_to(membership=membership).filter(pk=membership.partner_id).first()


def active_team_of(*, partner: PartnerOrganization) -> QuerySet[Membership]:
    return team_of(partner=partner).filter(is_active=True)


def open_invitations_of(*, partner: PartnerOrganization) -> QuerySet[Invitation]:
    """Invitations to the organisation that can still be accepted, newest first."""
    return (
        Invitation.objects.filter(
            partner=partner,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def memberships_of_user(*, user) -> list[Membership]:
    """The user's active memberships in every tenant (for the tenant switcher).

    Other tenants' rows are readable only inside ``user_context(user.pk)``,
    which the membership middleware opens for every signed-in request."""
    if user is None or not user.is_authenticated:
        return []
    return Membership.for_user_everywhere(user)


def tier_ladder() -> QuerySet[Tier]:
    """The tenant's tiers, entry tier first; every member may read the ladder."""
    return Tier.objects.order_by("rank")


def partner_type_catalogue() -> QuerySet[PartnerType]:
    """The tenant's partner types, by name."""
    return PartnerType.objects.order_by("name")
