"""Notification fixtures: the portal's people (tenant A speaks zh-hans, tenant B ms),
with a Malay-speaking partner admin in A, and helpers to write notifications."""

from __future__ import annotations

from datetime import date

import pytest

from prm.notifications.services import notify_partner
from prm.tenancy.context import tenant_context
from tests.portal.fixtures import english, world  # noqa: F401  (shared fixtures)

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"


@pytest.fixture
def people(world):  # noqa: F811
    """``world`` with admin X preferring Malay (rep X has no preference)."""
    world.admin_x.user.preferred_language = "ms"
    world.admin_x.user.save(update_fields=["preferred_language"])
    return world


def remind(tenant, partner, *, reference="DR-AAAA111", company="Acme Sdn Bhd", email=False):
    """Notify ``partner``'s users with an expiry reminder (a kind with templates)."""
    with tenant_context(tenant):
        return notify_partner(
            partner=partner,
            kind="deals.expiry_reminder",
            params={
                "reference": reference,
                "company": company,
                "protected_until": date(2026, 12, 7),
            },
            link=f"/deals/{reference}/",
            email=email,
        )
