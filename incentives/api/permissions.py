"""Who may call which incentives endpoint, which partners' rows each caller
reads, and the error responses the endpoints document.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse

from deals.api.permissions import is_partner_user
from prm.accounts.roles import Capability, can
from prm.api.permissions import ActionCapabilities, IsTenantMember, membership_of
from prm.api.schema import ErrorSerializer

C = Capability
_INVALID = OpenApiResponse(description=_("Invalid input: {field: [messages]} or {code, detail}."))
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description=_("Your role may not do this."))
_NOT_FOUND = OpenApiResponse(ErrorSerializer, description=_("Not found in your scope."))
_CONFLICT = OpenApiResponse(
    ErrorSerializer, description=_("An event with this id was recorded with other details.")
)
_STATE_CONFLICT = OpenApiResponse(
    ErrorSerializer, description=_("Not possible in the current state of the object.")
)
READ_ERRORS = {403: _FORBIDDEN, 404: _NOT_FOUND}
LIST_ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND}
WRITE_ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT}
ACTION_ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _STATE_CONFLICT}


class PlanPermission(IsTenantMember):
    """Finance (``VIEW_MONEY``) and tenant admins (``MANAGE_PROGRAM``)."""

    def has_permission(self, request, view) -> bool:
        membership = membership_of(request)
        return super().has_permission(request, view) and (
            can(membership, C.VIEW_MONEY) or can(membership, C.MANAGE_PROGRAM)
        )


class EarningsPermission(IsTenantMember):
    """A partner's own users, or staff who read money (``VIEW_MONEY``)."""

    def has_permission(self, request, view) -> bool:
        membership = membership_of(request)
        return super().has_permission(request, view) and (
            is_partner_user(membership) or can(membership, C.VIEW_MONEY)
        )


def reads_all(membership) -> bool:
    """Whether the caller reads every partner's money rather than their own."""
    return not is_partner_user(membership) and can(membership, C.VIEW_MONEY)


class RevenueEventPermission(ActionCapabilities):
    """Reading needs ``VIEW_MONEY``; recording ``MANAGE_MONEY``."""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and can(membership_of(request), C.VIEW_MONEY)


class StatementPermission(ActionCapabilities):
    """A partner's own users, or staff who read money; ``mark-paid`` is finance's."""

    def has_permission(self, request, view) -> bool:
        membership = membership_of(request)
        return super().has_permission(request, view) and (
            is_partner_user(membership) or can(membership, C.VIEW_MONEY)
        )


class PayoutPeriodPermission(ActionCapabilities):
    """Staff who read money (``VIEW_MONEY``); ``close`` is finance's."""

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and can(membership_of(request), C.VIEW_MONEY)
