"""Writes for partner organisations: tiers and the program catalogue."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from partners.models import PartnerOrganization, Tier, TierChange
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import DomainError, PermissionDenied


def assign_tier(
    *, partner: PartnerOrganization, tier: Tier, actor, membership, reason: str
) -> TierChange:
    """Move a partner to a tier, recording who, when and why."""
    if not can(membership, Capability.ASSIGN_TIERS):
        raise PermissionDenied()
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why the tier changes."), code="reason_required", field="reason")
    with transaction.atomic():
        locked = PartnerOrganization.objects.select_for_update().get(pk=partner.pk)
        if locked.tier_id == tier.pk:
            raise DomainError(
                _("%(partner)s is already in %(tier)s.") % {"partner": locked, "tier": tier},
                code="same_tier",
                field="tier",
            )
        change = TierChange.objects.create(
            partner=locked,
            from_tier_id=locked.tier_id,
            to_tier=tier,
            changed_by=actor,
            reason=reason,
        )
        locked.tier = tier
        locked.save(update_fields=["tier"])
        record(
            actor=actor,
            action="partner.tier_assigned",
            target=locked,
            summary=f"{change.from_tier or '—'} → {tier}",
            data={"from_tier": change.from_tier_id, "to_tier": tier.pk, "reason": reason},
        )
    partner.tier = tier
    return change
