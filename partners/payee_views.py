"""The partner admin's payee page: where their organisation is paid.

Only admins of a partner organisation get here (reps and staff get 403; the
page always shows the signed-in admin's own organisation, so there is no id
to tamper with). Account number and tax id are shown masked; the form never
echoes them back. Saving goes through ``partners.payee.save_payee_details``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from partners.payee import blockers_of, can_manage_payee, payee_of, save_payee_details
from partners.payee_forms import PayeeForm
from partners.selectors import partner_of
from prm.accounts.roles import Capability, can
from prm.console.admin_base import apply_domain_error
from prm.errors import DomainError
from prm.portal.context import render_page


def _own_partner(request):
    membership = request.membership
    if not can(membership, Capability.MANAGE_OWN_ORG_USERS):
        raise PermissionDenied
    partner = partner_of(membership=membership)
    if partner is None or not can_manage_payee(membership, partner):
        raise PermissionDenied
    return membership, partner


@never_cache
@login_required
def payee(request):
    membership, partner = _own_partner(request)
    current = payee_of(partner=partner)
    if request.method == "POST":
        form = PayeeForm(request.POST, payee=current)
        if form.is_valid():
            try:
                save_payee_details(
                    partner=partner,
                    data=form.service_data(),
                    actor=request.user,
                    membership=membership,
                )
            except DomainError as error:
                apply_domain_error(form, error)
            else:
                messages.success(request, _("Your payout details are saved."))
                return redirect("payee:details")
    elif current is None:
        form = PayeeForm(
            initial={
                "legal_name": partner.legal_name,
                "payout_currency": partner.default_currency,
                "bank_country": partner.country,
                "tax_country": partner.country,
            }
        )
    else:
        form = PayeeForm(payee=current)
    return render_page(
        request,
        "partners/payee.html",
        {
            "partner": partner,
            "payee": current,
            "form": form,
            "blockers": blockers_of(current),
        },
    )
