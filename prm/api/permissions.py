"""Permission classes shared by every endpoint.

The rule every endpoint follows: an object outside the caller's scope answers
404 whatever their role (the lookup goes through a selector that only returns
what they may see), and only then does a missing capability answer 403.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication

from prm.accounts.roles import Capability, can


def membership_of(request):
    return getattr(request._request, "membership", None) or getattr(request, "membership", None)


def actor_of(request):
    """The person behind the request, or ``None`` for an API key."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


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


class ActionCapabilities(IsTenantMember):
    """Capabilities per viewset action, from ``view.required_capabilities``.

    ``required_capabilities = {"create": [Capability.MANAGE_PARTNERS], …}``;
    the role needs any one of the listed capabilities; actions not listed need
    only membership. Collection actions are checked up front; detail actions
    once the object has been found in the caller's scope (DRF calls
    ``has_object_permission`` from ``get_object``), so 404 comes before 403.
    """

    def _allowed(self, request, view) -> bool:
        needed = getattr(view, "required_capabilities", {}).get(getattr(view, "action", None))
        if not needed:
            return True
        membership = membership_of(request)
        return any(can(membership, capability) for capability in needed)

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if getattr(view, "detail", False):
            return True
        return self._allowed(request, view)

    def has_object_permission(self, request, view, obj) -> bool:
        return self._allowed(request, view)


class IsPerson(permissions.BasePermission):
    """A signed-in person (token or session), not an integration's API key."""

    message = _("Only a person can do this, not an API key.")

    def has_permission(self, request, view) -> bool:
        return actor_of(request) is not None


class SignedInWithSession(permissions.BasePermission):
    """Only a browser session, so that a leaked token cannot mint more tokens."""

    message = _("Create personal tokens while signed in with a browser session.")

    def has_permission(self, request, view) -> bool:
        return actor_of(request) is not None and isinstance(
            request.successful_authenticator, SessionAuthentication
        )
