"""Partner portal lead pages: my leads, the lead page, and its answers.

Only partner users (partner admins and reps) open them — staff get the same
403 as on /deals/ and work with leads in the console. Every lead is looked up
through ``deals.lead_selectors``, which starts from the partner's own offer of
it, so a lead offered only to another partner, or belonging to another tenant,
answers 404 for the page and for every action. A partner never sees which
other partners routing considered: the decision trace is a console matter.

Declined leads stay listed (under "Declined") with the partner's own reason,
so a team can see what it turned down and why; what became of the lead
afterwards, and its contact details, are no longer shown.

Answers are plain POST forms answered with a redirect; service refusals become
form errors or page messages, never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Window
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from deals import leads as lead_services
from deals.lead_forms import TABS, LeadListForm, RejectLeadForm
from deals.lead_selectors import (
    PARTNER_HOLDS,
    LeadFilters,
    PartnerLeadState,
    lead_for_partner,
    lead_state_counts,
    leads_for_partner,
    leads_waiting_for,
)
from deals.models import DealRegistration, Lead
from prm.accounts.roles import Capability, can
from prm.errors import DomainError
from prm.portal.context import render_page

PAGE_SIZE = 25
PANEL_SIZE = 5
State = PartnerLeadState


def _partner_user(request):
    """The acting partner user's membership; staff and everyone else get 403."""
    membership = request.membership
    if not can(membership, Capability.USE_PORTAL) or not membership.partner_id:
        raise PermissionDenied
    return membership


def _lead_url(lead: Lead, anchor: str = "") -> str:
    url = reverse("leads:detail", args=[lead.reference])
    return f"{url}#{anchor}" if anchor else url


# --- My leads ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tab:
    label: str | Promise
    url: str
    count: int
    current: bool


def _tabs(current: str, search: str, counts: dict[str, int]) -> list[Tab]:
    tabs = []
    for value, label in TABS:
        params = {key: val for key, val in (("state", value), ("q", search)) if val}
        url = reverse("leads:list") + (f"?{urlencode(params)}" if params else "")
        count = counts.get(value, 0) if value else sum(counts.values())
        tabs.append(Tab(label=label, url=url, count=count, current=value == current))
    return tabs


@login_required
@require_GET
def lead_list(request):
    membership = _partner_user(request)
    partner = membership.partner
    form = LeadListForm(request.GET or None)
    form.is_valid()
    # Apply whatever is valid; an unknown tab shows every lead.
    data = getattr(form, "cleaned_data", {})
    filters = LeadFilters(search=data.get("q") or "", state=data.get("state") or "")
    page = Paginator(leads_for_partner(partner=partner, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "leads/list.html",
        {
            "form": form,
            "page": page,
            "tabs": _tabs(filters.state, filters.search, lead_state_counts(partner=partner)),
            "state": filters.state,
            "searched": bool(filters.search.strip()),
            "query": query.urlencode(),
            "now": timezone.now(),
        },
    )


# --- The lead page ------------------------------------------------------------------


def _detail_page(request, membership, reference: str, *, reject_form=None, status: int = 200):
    lead = lead_for_partner(partner=membership.partner, reference=reference)
    now = timezone.now()
    waiting = lead.partner_state == State.WAITING
    # An offer past its due time can no longer be accepted: the sweep re-routes it.
    overdue = waiting and lead.answer_due_at is not None and lead.answer_due_at <= now
    context = {
        "lead": lead,
        "holds": lead.partner_state in PARTNER_HOLDS,
        "can_answer": waiting and not overdue,
        "can_convert": lead.partner_state == State.ACCEPTED,
        "overdue": overdue,
        "reject_form": reject_form or RejectLeadForm(),
        "now": now,
    }
    return render_page(request, "leads/detail.html", context, status=status)


@login_required
@require_GET
def lead_detail(request, reference: str):
    return _detail_page(request, _partner_user(request), reference)


@login_required
@require_POST
def lead_accept(request, reference: str):
    membership = _partner_user(request)
    lead = lead_for_partner(partner=membership.partner, reference=reference)
    try:
        lead_services.accept_lead(lead=lead, membership=membership, actor=request.user)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(
            request,
            _(
                "You accepted lead %(reference)s. Convert it to a deal registration to "
                "protect the customer."
            )
            % {"reference": lead.reference},
        )
    return redirect(_lead_url(lead))


@login_required
@require_POST
def lead_reject(request, reference: str):
    membership = _partner_user(request)
    lead = lead_for_partner(partner=membership.partner, reference=reference)
    form = RejectLeadForm(request.POST)
    if form.is_valid():
        try:
            lead_services.reject_lead(
                lead=lead,
                membership=membership,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            if error.field not in form.fields:
                messages.error(request, str(error.message))
                return redirect(_lead_url(lead))
            form.add_error(error.field, str(error.message))
        else:
            messages.success(
                request,
                _("You declined lead %(reference)s. It will be offered to another partner.")
                % {"reference": lead.reference},
            )
            return redirect(_lead_url(lead))
    return _detail_page(request, membership, reference, reject_form=form)


def _converted_message(lead: Lead, deal: DealRegistration) -> str:
    if deal.stage == DealRegistration.Stage.APPROVED and deal.protected_until:
        return _(
            "Lead %(lead)s is now deal registration %(deal)s, approved and protected "
            "until %(date)s."
        ) % {
            "lead": lead.reference,
            "deal": deal.reference,
            "date": date_format(deal.protected_until, "DATE_FORMAT"),
        }
    return _(
        "Lead %(lead)s is now deal registration %(deal)s. It waits for a channel manager's review."
    ) % {"lead": lead.reference, "deal": deal.reference}


@login_required
@require_POST
def lead_convert(request, reference: str):
    membership = _partner_user(request)
    lead = lead_for_partner(partner=membership.partner, reference=reference)
    try:
        deal = lead_services.convert_lead(lead=lead, membership=membership, actor=request.user)
    except DomainError as error:
        messages.error(request, str(error.message))
        return redirect(_lead_url(lead))
    if deal.stage == DealRegistration.Stage.APPROVED:
        messages.success(request, _converted_message(lead, deal))
    else:
        messages.warning(request, _converted_message(lead, deal))
    return redirect("deals:detail", deal.reference)


# --- The portal home panel ------------------------------------------------------------


def home_panel(request) -> dict | None:
    """Leads waiting for the partner's answer, the nearest due first, and how many
    wait in all (one query: the total is a window over the same rows)."""
    membership = getattr(request, "membership", None)
    if membership is None or not can(membership, Capability.USE_PORTAL):
        return None
    if not membership.partner_id:
        return None
    waiting = leads_waiting_for(partner=membership.partner).annotate(
        waiting_total=Window(Count("id"))
    )
    leads = list(waiting[:PANEL_SIZE])
    count = leads[0].waiting_total if leads else 0
    return {"leads": leads, "count": count, "now": timezone.now()}
