"""Permission classes shared by every endpoint."""

from __future__ import annotations

from rest_framework import permissions

from prm.accounts.roles import Capability, can


def membership_of(request):
    return getattr(request._request, "membership", None) or getattr(request, "membership", None)


class IsTenantMember(permissions.BasePermission):
    """Any active membership (or API key) in the current tenant."""

    def has_permission(self, request, view) -> bool:
        membership = membership_of(request)
        return bool(membership and membership.is_active)


def requires(*capabilities: Capability) -> type[permissions.BasePermission]:
    """A permission class granting access when the role has any of the capabilities."""

    class HasCapability(IsTenantMember):
        def has_permission(self, request, view) -> bool:
            membership = membership_of(request)
            return super().has_permission(request, view) and any(
                can(membership, capability) for capability in capabilities
            )

    HasCapability.__name__ = "Requires_" + "_or_".join(c.value for c in capabilities)
    return HasCapability
