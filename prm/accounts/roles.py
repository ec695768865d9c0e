"""Roles and what each may do.

A membership carries exactly one role. Views, API endpoints and the console
ask ``can(membership, Capability.X)`` instead of comparing role names, so the
rules live here and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    TENANT_ADMIN = "tenant_admin", _("Tenant admin")
    CHANNEL_MANAGER = "channel_manager", _("Channel manager")
    FINANCE = "finance", _("Finance")
    PARTNER_ADMIN = "partner_admin", _("Partner admin")
    PARTNER_REP = "partner_rep", _("Partner rep")


STAFF_ROLES = frozenset({Role.TENANT_ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE})
PARTNER_ROLES = frozenset({Role.PARTNER_ADMIN, Role.PARTNER_REP})


class Capability(StrEnum):
    USE_CONSOLE = "use_console"
    USE_PORTAL = "use_portal"
    VIEW_ALL_PARTNERS = "view_all_partners"
    MANAGE_PARTNERS = "manage_partners"
    ASSIGN_TIERS = "assign_tiers"
    MANAGE_PROGRAM = "manage_program"  # tiers, partner types, tenant settings
    MANAGE_STAFF = "manage_staff"
    INVITE_ANY_PARTNER_USER = "invite_any_partner_user"
    MANAGE_OWN_ORG_USERS = "manage_own_org_users"
    VIEW_MONEY = "view_money"
    MANAGE_MONEY = "manage_money"
    VIEW_JOBS = "view_jobs"
    MANAGE_API_KEYS = "manage_api_keys"
    VIEW_AUDIT = "view_audit"


_C = Capability
CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.TENANT_ADMIN: frozenset(
        {
            _C.USE_CONSOLE,
            _C.VIEW_ALL_PARTNERS,
            _C.MANAGE_PARTNERS,
            _C.ASSIGN_TIERS,
            _C.MANAGE_PROGRAM,
            _C.MANAGE_STAFF,
            _C.INVITE_ANY_PARTNER_USER,
            _C.VIEW_MONEY,
            _C.VIEW_JOBS,
            _C.MANAGE_API_KEYS,
            _C.VIEW_AUDIT,
        }
    ),
    Role.CHANNEL_MANAGER: frozenset(
        {
            _C.USE_CONSOLE,
            _C.VIEW_ALL_PARTNERS,
            _C.MANAGE_PARTNERS,
            _C.ASSIGN_TIERS,
            _C.INVITE_ANY_PARTNER_USER,
            _C.VIEW_JOBS,
        }
    ),
    Role.FINANCE: frozenset(
        {_C.USE_CONSOLE, _C.VIEW_ALL_PARTNERS, _C.VIEW_MONEY, _C.MANAGE_MONEY, _C.VIEW_JOBS}
    ),
    Role.PARTNER_ADMIN: frozenset({_C.USE_PORTAL, _C.MANAGE_OWN_ORG_USERS}),
    Role.PARTNER_REP: frozenset({_C.USE_PORTAL}),
}


def role_can(role: str, capability: Capability) -> bool:
    return capability in CAPABILITIES.get(role, frozenset())


def can(membership, capability: Capability) -> bool:
    """True when an active membership's role grants the capability."""
    return bool(membership and membership.is_active and role_can(membership.role, capability))
