"""Partner portal pages: the home page and the partner admin's team page.

Views parse input, call one selector or service and render. Team actions are
plain POST forms (they work without JavaScript and answer with a redirect);
htmx posts get the re-rendered team section back instead.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from partners.selectors import (
    active_team_of,
    memberships_visible_to,
    open_invitations_of,
    partner_of,
    team_of,
)
from prm.accounts import services as account_services
from prm.accounts.roles import Capability, can
from prm.errors import DomainError
from prm.portal.context import render_page
from prm.portal.forms import ActiveForm, InviteForm, RoleForm
from prm.portal.panels import panels_for


@login_required
def home(request):
    membership = request.membership
    if membership is None:
        raise PermissionDenied
    if not can(membership, Capability.USE_PORTAL):
        return render_page(request, "portal/staff_home.html", {})
    partner = partner_of(membership=membership)
    if partner is None:
        raise PermissionDenied
    return render_page(
        request,
        "portal/home.html",
        {
            "partner": partner,
            "team": active_team_of(partner=partner),
            "panels": panels_for(request),
        },
    )


# --- Team (partner admins) ----------------------------------------------------


def _team_admin(request):
    """The acting partner admin's membership; anyone else gets 403."""
    membership = request.membership
    if not can(membership, Capability.MANAGE_OWN_ORG_USERS) or not membership.partner_id:
        raise PermissionDenied
    return membership


def _form_error(form, error: DomainError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, str(error.message))


def _team_response(request, membership, invite_form=None):
    """The full team page, or only its team section for an htmx request."""
    partner = membership.partner
    role_field = RoleForm.base_fields["role"]
    assert isinstance(role_field, forms.ChoiceField)
    context = {
        "partner": partner,
        "members": team_of(partner=partner),
        "invitations": open_invitations_of(partner=partner),
        "invite_form": invite_form or InviteForm(),
        "role_choices": role_field.choices,
    }
    template = "portal/_team.html" if request.htmx else "portal/team.html"
    return render_page(request, template, context)


def _after_action(request, membership):
    if request.htmx:
        return _team_response(request, membership)
    return redirect("portal:team")


@login_required
def team(request):
    return _team_response(request, _team_admin(request))


@login_required
@require_POST
def team_invite(request):
    membership = _team_admin(request)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = account_services.invite_user(
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                partner=membership.partner,
                actor=request.user,
                membership=membership,
                base_url=request.build_absolute_uri("/"),
            )
        except DomainError as error:
            _form_error(form, error)
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": invitation.email}
            )
            return _after_action(request, membership)
    return _team_response(request, membership, invite_form=form)


def _team_member(membership, membership_id: int):
    return get_object_or_404(memberships_visible_to(membership=membership), pk=membership_id)


@login_required
@require_POST
def member_active(request, membership_id: int):
    membership = _team_admin(request)
    target = _team_member(membership, membership_id)
    form = ActiveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose whether to deactivate or reactivate."))
        return _after_action(request, membership)
    active = form.cleaned_data["active"]
    try:
        account_services.set_membership_active(
            target=target, active=active, actor=request.user, membership=membership
        )
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        if active:
            message = _("%(person)s can sign in again.")
        else:
            message = _("%(person)s can no longer sign in to this portal.")
        messages.success(request, message % {"person": target.user})
    return _after_action(request, membership)


@login_required
@require_POST
def member_role(request, membership_id: int):
    membership = _team_admin(request)
    target = _team_member(membership, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return _after_action(request, membership)
    try:
        account_services.change_role(
            target=target, role=form.cleaned_data["role"], actor=request.user, membership=membership
        )
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request,
            _("The role of %(person)s is now %(role)s.")
            % {"person": target.user, "role": target.get_role_display()},
        )
    return _after_action(request, membership)


@login_required
@require_POST
def invitation_revoke(request, invitation_id: int):
    membership = _team_admin(request)
    invitation = get_object_or_404(
        open_invitations_of(partner=membership.partner), pk=invitation_id
    )
    try:
        account_services.revoke_invitation(
            invitation=invitation, actor=request.user, membership=membership
        )
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request, _("The invitation to %(email)s was withdrawn.") % {"email": invitation.email}
        )
    return _after_action(request, membership)
