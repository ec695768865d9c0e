"""Personal tokens and tenant API keys.

Both are only valid on a tenant's host. A personal token belongs to a person,
not to a tenant, so it grants exactly what that person's active membership in
the *current* tenant grants, and nothing where they have none. An API key
belongs to one tenant (its lookup goes through the tenant-scoped manager, so
another tenant's key is simply unknown here) and acts with a staff role.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from prm.accounts.models import ApiKey, Membership, UserToken
from prm.tenancy.context import current_tenant


@dataclass
class ApiKeyMembership:
    """Stands in for a membership when an integration calls with an API key."""

    api_key: ApiKey
    role: str
    is_active: bool = True
    partner = None
    partner_id = None
    user = None
    pk = None

    @property
    def is_staff_role(self) -> bool:
        return True

    @property
    def is_partner_role(self) -> bool:
        return False


class _PrefixedHeader(authentication.BaseAuthentication):
    keyword = ""

    def credential(self, request) -> str | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid authorization header."))
        try:
            return parts[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid authorization header.")) from exc

    def authenticate_header(self, request) -> str:
        return self.keyword


def _needs_mfa(tenant, membership) -> bool:
    """Staff of a tenant that requires two-factor authentication must have set it up;
    a token must not be a way around the rule the web sign-in enforces."""
    if not (tenant.require_mfa_for_staff and membership.is_staff_role):
        return False
    from allauth.mfa.models import Authenticator

    return not Authenticator.objects.filter(
        user_id=membership.user_id, type=Authenticator.Type.TOTP
    ).exists()


class MembershipTokenAuthentication(_PrefixedHeader):
    keyword = "Token"

    def authenticate(self, request):
        key = self.credential(request)
        if key is None:
            return None
        tenant = current_tenant()
        if tenant is None:
            raise exceptions.AuthenticationFailed(_("Use the API on a tenant's host."))
        token = (
            UserToken.objects.select_related("user")
            .filter(key_hash=UserToken.hash_key(key), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        # The tenant-scoped manager: only a membership in *this* tenant counts.
        membership = (
            Membership.objects.filter(user=token.user, is_active=True)
            .select_related("partner__tier", "partner__partner_type")
            .first()
        )
        if membership is None:
            raise exceptions.AuthenticationFailed(_("This token has no access to this tenant."))
        if _needs_mfa(tenant, membership):
            raise exceptions.AuthenticationFailed(
                _("Set up two-factor authentication before using the API.")
            )
        UserToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        request._request.membership = membership
        return token.user, token


class TenantApiKeyAuthentication(_PrefixedHeader):
    keyword = "Api-Key"

    def authenticate(self, request):
        key = self.credential(request)
        if key is None:
            return None
        if current_tenant() is None:
            raise exceptions.AuthenticationFailed(_("Use the API on a tenant's host."))
        api_key = ApiKey.objects.filter(
            key_hash=ApiKey.hash_key(key), revoked_at__isnull=True
        ).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
        request._request.membership = ApiKeyMembership(api_key=api_key, role=api_key.role)
        return AnonymousUser(), api_key
