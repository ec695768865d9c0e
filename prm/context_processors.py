"""Template context shared by every portal and console page."""

from __future__ import annotations

from django.conf import settings

from prm.accounts.roles import Capability, can


def portal(request) -> dict:
    membership = getattr(request, "membership", None)
    return {
        "tenant": getattr(request, "tenant", None),
        "membership": membership,
        "partner": getattr(membership, "partner", None),
        "can_use_console": can(membership, Capability.USE_CONSOLE),
        "can_manage_org_users": can(membership, Capability.MANAGE_OWN_ORG_USERS),
        "languages": settings.LANGUAGES,
    }
