"""Attach the signed-in user's membership in the current tenant to the request.

A signed-in person without an active membership in this tenant gets a
"no access here" page listing the tenants they do belong to. Staff of a
tenant that requires two-factor authentication are sent to set it up first.
"""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.urls import reverse

from prm.accounts.models import Membership
from prm.tenancy.context import user_context

# Paths a signed-in person may reach without a membership here (to sign out,
# to manage their own login and two-factor settings).
OPEN_PREFIXES = ("/accounts/", "/i18n/", "/static/", "/health")


def _is_open(path: str) -> bool:
    return path.startswith(OPEN_PREFIXES)


class MembershipMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        user = getattr(request, "user", None)
        if request.tenant is None or user is None or not user.is_authenticated:
            return self.get_response(request)
        with user_context(user.pk):
            request.membership = (
                Membership.objects.filter(user=user, is_active=True)
                .select_related("partner__tier", "partner__partner_type")
                .first()
            )
            if request.membership is None:
                if _is_open(request.path) or request.path.startswith("/api/"):
                    return self.get_response(request)
                return render(
                    request,
                    "accounts/no_access.html",
                    {"memberships": Membership.for_user_everywhere(user)},
                    status=403,
                )
            if self._needs_mfa(request) and not _is_open(request.path):
                return redirect(reverse("mfa_activate_totp"))
            return self.get_response(request)

    @staticmethod
    def _needs_mfa(request) -> bool:
        if not (request.tenant.require_mfa_for_staff and request.membership.is_staff_role):
            return False
        from allauth.mfa.models import Authenticator

        return not Authenticator.objects.filter(
            user=request.user, type=Authenticator.Type.TOTP
        ).exists()
