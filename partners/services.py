"""Writes for partner organisations: tiers and the program catalogue."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Field, ProtectedError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from partners.models import PartnerOrganization, PartnerType, Tier, TierChange
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied


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


# --- Partner organisations and the program catalogue (API and console) ------

# What a partner organisation's editor may set; ``tier`` is set on creation and
# afterwards only through ``assign_tier``, which records who, when and why.
PARTNER_FIELDS = (
    "legal_name",
    "display_name",
    "country",
    "region",
    "industries",
    "partner_type",
    "status",
    "default_currency",
    "website",
)
TIER_FIELDS = ("key", "name", "rank", "commission_rate_modifier", "mdf_percentage", "benefits")
PARTNER_TYPE_FIELDS = ("key", "name", "description")

# Unique constraints (they all lead with the tenant) → the field to blame.
_UNIQUE_FIELDS = {
    "partners_org_legal_name_unique": (
        "legal_name",
        gettext_lazy("A partner organisation with this legal name already exists."),
    ),
    "partners_tier_key_unique": ("key", gettext_lazy("Another tier already uses this key.")),
    "partners_tier_rank_unique": ("rank", gettext_lazy("Another tier already has this rank.")),
    "partners_type_key_unique": (
        "key",
        gettext_lazy("Another partner type already uses this key."),
    ),
}


@contextmanager
def _unique_or_conflict() -> Iterator[None]:
    """Run a write in a savepoint; a duplicate becomes a ``Conflict`` on its field.

    The database decides (no check-then-insert race); other integrity errors
    propagate unchanged."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        if constraint not in _UNIQUE_FIELDS:
            raise
        field, message = _UNIQUE_FIELDS[constraint]
        raise Conflict(message, code="duplicate", field=field) from exc


def create_partner(*, data: Mapping[str, Any], actor, membership) -> PartnerOrganization:
    """Add a partner organisation; a starting tier opens its tier history."""
    if not can(membership, Capability.MANAGE_PARTNERS):
        raise PermissionDenied()
    values = {name: data[name] for name in PARTNER_FIELDS if name in data}
    tier = data.get("tier")
    with _unique_or_conflict():
        partner = PartnerOrganization.objects.create(tier=tier, **values)
        if tier is not None:
            TierChange.objects.create(
                partner=partner,
                to_tier=tier,
                changed_by=actor,
                reason=_("Starting tier when the partner organisation was added."),
            )
        record(
            actor=actor,
            action="partner.created",
            target=partner,
            summary=partner.legal_name,
            data={"tier": getattr(tier, "pk", None)},
        )
    return partner


def update_partner(
    *, partner: PartnerOrganization, data: Mapping[str, Any], actor, membership
) -> PartnerOrganization:
    """Edit a partner organisation's details (not its tier: see ``assign_tier``)."""
    if not can(membership, Capability.MANAGE_PARTNERS):
        raise PermissionDenied()
    if "tier" in data:
        raise DomainError(
            _("Change the tier with a tier assignment, so the change is recorded with a reason."),
            code="use_assign_tier",
            field="tier",
        )
    with _unique_or_conflict():
        locked = PartnerOrganization.objects.select_for_update().get(pk=partner.pk)
        changed = []
        for name in PARTNER_FIELDS:
            if name not in data:
                continue
            field = PartnerOrganization._meta.get_field(name)
            assert isinstance(field, Field)  # PARTNER_FIELDS are concrete fields
            value = data[name]
            new = value.pk if field.is_relation and value is not None else value
            if getattr(locked, field.attname) != new:
                setattr(locked, name, value)
                changed.append(name)
        if changed:
            locked.save(update_fields=changed)
            record(
                actor=actor,
                action="partner.updated",
                target=locked,
                summary=locked.legal_name,
                data={"fields": changed},
            )
    return locked


def _save_catalogue_entry(instance, *, data: Mapping[str, Any], fields, actor, membership, action):
    if not can(membership, Capability.MANAGE_PROGRAM):
        raise PermissionDenied()
    for name in fields:
        if name in data:
            setattr(instance, name, data[name])
    with _unique_or_conflict():
        instance.save()
        record(actor=actor, action=action, target=instance, summary=str(instance))
    return instance


def _delete_catalogue_entry(instance, *, actor, membership, action) -> None:
    if not can(membership, Capability.MANAGE_PROGRAM):
        raise PermissionDenied()
    try:
        with transaction.atomic():
            record(actor=actor, action=action, target=instance, summary=str(instance))
            instance.delete()
    except ProtectedError as exc:
        raise Conflict(
            _("%(name)s is still in use, so it cannot be deleted.") % {"name": instance},
            code="in_use",
        ) from exc


def create_tier(*, data: Mapping[str, Any], actor, membership) -> Tier:
    """Add a rung to the tenant's tier ladder."""
    return _save_catalogue_entry(
        Tier(),
        data=data,
        fields=TIER_FIELDS,
        actor=actor,
        membership=membership,
        action="tier.created",
    )


def update_tier(*, tier: Tier, data: Mapping[str, Any], actor, membership) -> Tier:
    """Change a tier's name, rank or benefits."""
    return _save_catalogue_entry(
        tier,
        data=data,
        fields=TIER_FIELDS,
        actor=actor,
        membership=membership,
        action="tier.updated",
    )


def delete_tier(*, tier: Tier, actor, membership) -> None:
    """Remove a tier that no partner holds and no tier history mentions."""
    _delete_catalogue_entry(tier, actor=actor, membership=membership, action="tier.deleted")


def create_partner_type(*, data: Mapping[str, Any], actor, membership) -> PartnerType:
    """Add a kind of partner (reseller, referral, …) to the tenant's catalogue."""
    return _save_catalogue_entry(
        PartnerType(),
        data=data,
        fields=PARTNER_TYPE_FIELDS,
        actor=actor,
        membership=membership,
        action="partner_type.created",
    )


def update_partner_type(
    *, partner_type: PartnerType, data: Mapping[str, Any], actor, membership
) -> PartnerType:
    """Rename or describe a partner type."""
    return _save_catalogue_entry(
        partner_type,
        data=data,
        fields=PARTNER_TYPE_FIELDS,
        actor=actor,
        membership=membership,
        action="partner_type.updated",
    )


def delete_partner_type(*, partner_type: PartnerType, actor, membership) -> None:
    """Remove a partner type that no partner organisation uses."""
    _delete_catalogue_entry(
        partner_type, actor=actor, membership=membership, action="partner_type.deleted"
    )
