"""Who may call which deal and lead endpoint, and which rows each caller sees."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiResponse,
)

from deals.models import (
    DealRegistration,
    Decision,
)
from deals.selectors import deals_for_partner
from prm.accounts.roles import PARTNER_ROLES, Capability, can
from prm.api.authentication import ApiKeyMembership
from prm.api.permissions import ActionCapabilities, IsPerson, actor_of, membership_of
from prm.api.schema import ErrorSerializer

C = Capability
Stage = DealRegistration.Stage
Outcome = Decision.Outcome

_INVALID = OpenApiResponse(description=_("Invalid input: {field: [messages]} or {code, detail}."))
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description=_("Your role may not do this."))
_NOT_FOUND = OpenApiResponse(ErrorSerializer, description=_("Not found in your scope."))
_CONFLICT = OpenApiResponse(
    ErrorSerializer, description=_("Not possible in the current state of the object.")
)
READ_ERRORS = {403: _FORBIDDEN, 404: _NOT_FOUND}
ERRORS = {400: _INVALID, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT}


# --- permissions and filtering ----------------------------------------------------------


class ListFiltersOnly:
    """Query-string filters narrow lists only: a detail URL or an action finds its
    object in the caller's scope whatever the query string says (a queue's
    default filter, "submitted" or "pending", must not hide a decided one)."""

    def filter_queryset(self, queryset):
        if getattr(self, "action", None) != "list":
            return queryset
        return super().filter_queryset(queryset)  # type: ignore[misc]


def is_partner_user(membership) -> bool:
    return bool(
        membership is not None
        and not isinstance(membership, ApiKeyMembership)
        and membership.role in PARTNER_ROLES
        and membership.partner_id
    )


class DealPermissions(ActionCapabilities):
    """``ActionCapabilities`` plus what the deal and lead endpoints need.

    ``view_capabilities``: any one of these is needed for every action of the
    endpoint (checked up front: the answer does not depend on the object, so a
    403 here reveals nothing). ``partner_user_actions``: only a partner's own
    users (not staff, not an API key). ``person_actions``: a person, not an API
    key. Detail actions are checked after the object was found in scope, so
    404 comes before 403.
    """

    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        needed = getattr(view, "view_capabilities", ())
        membership = membership_of(request)
        return not needed or any(can(membership, capability) for capability in needed)

    def _allowed(self, request, view) -> bool:
        name = getattr(view, "action", None)
        membership = membership_of(request)
        if name in getattr(view, "partner_user_actions", ()) and not is_partner_user(membership):
            self.code = "partner_user_only"
            if isinstance(membership, ApiKeyMembership):
                self.message = _(
                    "An API key acts for the vendor: only the partner's own users can do this."
                )
            else:
                self.message = _("Only partner users can do this.")
            return False
        if name in getattr(view, "person_actions", ()) and actor_of(request) is None:
            self.code = "person_only"
            self.message = IsPerson.message
            return False
        return super()._allowed(request, view)


# --- reads the endpoints share ----------------------------------------------------------


def deal_scope(membership) -> QuerySet[DealRegistration]:
    """The registrations the caller may see: staff all, a partner user their own."""
    if can(membership, C.VIEW_ALL_PARTNERS):
        return DealRegistration.objects.all()
    if is_partner_user(membership):
        return deals_for_partner(partner=membership.partner).prefetch_related(None)
    return DealRegistration.objects.none()
