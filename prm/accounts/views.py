"""Account pages allauth does not provide: accepting an invitation and moving
between the portals of the tenants a person belongs to.

Sessions are per host, so switching tenant is a handoff: ``switch_to`` signs
a 60-second, single-use token on the current host and redirects to the target
tenant's host, where ``handoff`` redeems it and signs the person in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.http.request import split_domain_port
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache

from partners.selectors import memberships_of_user
from prm.accounts import services
from prm.accounts.forms import AcceptInvitationForm
from prm.accounts.models import User
from prm.errors import DomainError
from prm.portal.context import render_page

LOGIN_BACKEND = "allauth.account.auth_backends.AuthenticationBackend"


@never_cache
def accept_invitation(request, token: str):
    """New people choose a name and password; existing people sign in first."""
    try:
        invitation = services.open_invitation(token=token)
    except DomainError as error:
        return render_page(request, "accounts/invitation_invalid.html", {"error": error}, 404)
    context: dict[str, Any] = {"invitation": invitation}
    user = request.user
    if user.is_authenticated:
        if user.email.lower() != invitation.email:
            return render_page(request, "accounts/invitation_wrong_user.html", context, 403)
        if request.method == "POST":
            try:
                services.accept_invitation(token=token, user=user)
            except DomainError as error:
                context["error"] = error
                return render_page(request, "accounts/invitation_confirm.html", context, 400)
            return redirect("portal:home")
        return render_page(request, "accounts/invitation_confirm.html", context)

    if User.objects.filter(email=invitation.email).exists():
        # The address already has a login: only its owner may accept.
        context["login_url"] = (
            f"{reverse('account_login')}?{urlencode({'next': request.get_full_path()})}"
        )
        return render_page(request, "accounts/invitation_sign_in.html", context)

    form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.accept_invitation(
                token=token,
                user=None,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
            )
        except DomainError as error:
            form.add_error(None, str(error.message))
        else:
            login(request, membership.user, backend=LOGIN_BACKEND)
            return redirect("portal:home")
    context["form"] = form
    return render_page(request, "accounts/invitation_accept.html", context)


@login_required
def switch(request):
    """The portals this person can use, each reached through a handoff."""
    return render_page(request, "accounts/switch.html", {})


@login_required
def switch_to(request, membership_id: int):
    membership = next(
        (m for m in memberships_of_user(user=request.user) if m.pk == membership_id), None
    )
    if membership is None:
        raise Http404
    if request.tenant is not None and membership.tenant_id == request.tenant.pk:
        return redirect("portal:home")
    token = services.create_handoff_token(user=request.user, membership=membership)
    _domain, port = split_domain_port(request.get_host())
    host = membership.tenant.primary_host + (f":{port}" if port else "")
    # Scheme-relative: the browser keeps the scheme it is using now.
    return redirect(f"//{host}{reverse('accounts:handoff')}?{urlencode({'token': token})}")


@never_cache
def handoff(request):
    """GET shows whose portal the link opens; only a CSRF-protected POST signs in,
    so a link sent by someone else cannot silently sign a visitor in as them."""
    token = (
        request.POST.get("token", "") if request.method == "POST" else request.GET.get("token", "")
    )
    try:
        membership = services.redeem_handoff_token(token=token, claim=request.method == "POST")
    except DomainError as error:
        return render_page(request, "accounts/handoff_invalid.html", {"error": error}, error.status)
    if request.method != "POST":
        signed_in = request.user if request.user.is_authenticated else None
        context = {"target": membership, "token": token, "signed_in": signed_in}
        return render_page(request, "accounts/handoff_confirm.html", context)
    login(request, membership.user, backend=LOGIN_BACKEND)
    return redirect("portal:home")


@login_required
def email_managed(request):
    """People cannot change their own sign-in address (see urls.py)."""
    return render_page(request, "accounts/email_managed.html", {}, 200)
