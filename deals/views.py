"""Partner portal deal pages: my deals, register a deal, check a customer, the deal page.

Only partner users (partner admins and reps) open them, and only for their own
organisation's registrations: every deal is looked up through
``deals.selectors``, which starts from the partner, so another partner's or
another tenant's reference answers 404 — for the page and for every action.
Actions are plain POST forms answered with a redirect; an invalid form
re-renders the deal page with its errors. Service errors become form errors
(or a page message for the buttons without a form), never a 500.

The claimed-customer check is rate-limited per person (``CLAIM_CHECK_RATE``):
answering only yes or no still leaks, one customer at a time, who the vendor's
partners are selling to, so nobody gets to ask it in bulk. Over the limit the
page (or its htmx fragment) answers 429 with a message saying to wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.forms import Form
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from deals import services, window
from deals.forms import (
    AppealForm,
    ClaimCheckForm,
    CloseLostForm,
    CloseWonForm,
    CommentForm,
    DealListForm,
    ExtensionRequestForm,
    LineFormSet,
    RegistrationForm,
)
from deals.models import DealEvent, DealRegistration, Decision, ExtensionRequest
from deals.selectors import (
    DealFilters,
    deal_page_for_partner,
    deals_for_partner,
    products_for_registration,
    products_on_deals_of,
)
from incentives.engine.compute import EarningLine
from incentives.selectors import estimate_for_deal
from prm.accounts.roles import Capability, can
from prm.errors import DomainError
from prm.portal.context import render_page

Stage = DealRegistration.Stage
PAGE_SIZE = 25
LINES_PREFIX = "lines"
# Claimed-customer checks per person: plenty for registering deals, too few to crawl.
CLAIM_CHECK_RATE = "30/m"

EVENT_LABELS: dict[str, Promise] = {
    "submitted": gettext_lazy("Registered"),
    "conflict_found": gettext_lazy("Possible conflict found; sent to review"),
    "needs_review": gettext_lazy("Sent to review under the rules of engagement"),
    "auto_approved": gettext_lazy("Approved automatically"),
    "decided": gettext_lazy("Decided on review"),
    "appealed": gettext_lazy("Decision appealed"),
    "stage_changed": gettext_lazy("Stage changed"),
    "reversed": gettext_lazy("Closed-won deal reversed"),
    "extension_requested": gettext_lazy("Extension of the protection requested"),
    "extension_approved": gettext_lazy("Extension of the protection approved"),
    "extension_denied": gettext_lazy("Extension of the protection denied"),
    "expired": gettext_lazy("Protection expired"),
}
STAGE_LABELS = dict(Stage.choices)
OUTCOME_LABELS = dict(Decision.Outcome.choices)


def _partner_user(request):
    """The acting partner user's membership; staff and everyone else get 403."""
    membership = request.membership
    if not can(membership, Capability.USE_PORTAL) or not membership.partner_id:
        raise PermissionDenied
    return membership


def _own_deal(membership, reference: str) -> DealRegistration:
    """One of the partner's own registrations, or 404."""
    queryset = deals_for_partner(partner=membership.partner).prefetch_related(None)
    return get_object_or_404(queryset, reference=reference)


def _deal_url(deal: DealRegistration, anchor: str = "") -> str:
    url = reverse("deals:detail", args=[deal.reference])
    return f"{url}#{anchor}" if anchor else url


def _form_error(form: Form, error: DomainError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, str(error.message))


def _refused(request, form: Form, error: DomainError) -> bool:
    """Put a service's refusal where the partner sees it: on the form's field when it
    names one (the form is shown again), else as a message on the deal page.
    Returns True when the caller should redirect to the deal page."""
    if error.field in form.fields:
        form.add_error(error.field, str(error.message))
        return False
    messages.error(request, str(error.message))
    return True


# --- My deals -------------------------------------------------------------------


@login_required
@require_GET
def deal_list(request):
    membership = _partner_user(request)
    partner = membership.partner
    form = DealListForm(request.GET or None, products=products_on_deals_of(partner=partner))
    form.is_valid()
    # Apply whatever filters are valid; an invalid one shows its error and filters nothing.
    data = getattr(form, "cleaned_data", {})
    filters = DealFilters(
        search=data.get("q") or "",
        stage=data.get("stage") or "",
        expiring_within_days=data.get("expiring"),
        product_id=data.get("product"),
    )
    deals = deals_for_partner(partner=partner, filters=filters)
    page = Paginator(deals, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "deals/list.html",
        {
            "form": form,
            "page": page,
            "filtered": filters != DealFilters(),
            "query": query.urlencode(),
        },
    )


# --- Register a deal ---------------------------------------------------------------


def _line_inputs(lines) -> list[services.LineInput]:
    return [
        services.LineInput(
            product=line["product"], quantity=line["quantity"], amount=line["amount"]
        )
        for line in lines.filled()
    ]


def _registered_message(deal: DealRegistration) -> str:
    if deal.stage == Stage.APPROVED and deal.protected_until:
        return _(
            "Deal %(reference)s is registered and approved. It is protected until %(date)s."
        ) % {
            "reference": deal.reference,
            "date": date_format(deal.protected_until, "DATE_FORMAT"),
        }
    if deal.is_conflict:
        return _(
            "Deal %(reference)s was sent to review: this customer may already be claimed. "
            "A channel manager will decide and you will find the decision on the deal page."
        ) % {"reference": deal.reference}
    return _("Deal %(reference)s was submitted and waits for a channel manager's review.") % {
        "reference": deal.reference
    }


@login_required
@require_http_methods(["GET", "POST"])
def deal_new(request):
    membership = _partner_user(request)
    products = products_for_registration()
    line_kwargs = {"products": products}
    if request.method == "POST":
        form = RegistrationForm(request.POST)
        lines = LineFormSet(request.POST, prefix=LINES_PREFIX, form_kwargs=line_kwargs)
        if form.is_valid() and lines.is_valid():
            try:
                deal = services.register_deal(
                    membership=membership,
                    actor=request.user,
                    lines=_line_inputs(lines),
                    **form.service_data(),
                )
            except DomainError as error:
                _form_error(form, error)
            else:
                if deal.stage == Stage.APPROVED:
                    messages.success(request, _registered_message(deal))
                else:
                    messages.warning(request, _registered_message(deal))
                return redirect(_deal_url(deal))
    else:
        form = RegistrationForm(initial={"currency": membership.partner.default_currency})
        lines = LineFormSet(prefix=LINES_PREFIX, form_kwargs=line_kwargs)
    return render_page(
        request, "deals/new.html", {"form": form, "lines": lines, "has_products": bool(products)}
    )


# --- Is this customer already registered? ------------------------------------------


@login_required
@require_GET
@ratelimit(key="user", rate=CLAIM_CHECK_RATE, block=False)
def claim_check(request):
    """Answers only yes or no: never who claimed the customer, nor for how much."""
    membership = _partner_user(request)
    form = ClaimCheckForm(request.GET or None)
    template = "deals/_check_result.html" if request.htmx else "deals/check.html"
    if getattr(request, "limited", False):
        return render_page(
            request, template, {"form": form, "claimed": None, "limited": True}, status=429
        )
    claimed = None
    if form.is_valid():
        claimed = services.is_customer_claimed(
            membership=membership,
            company=form.cleaned_data["customer_company"],
            email=form.cleaned_data["contact_email"],
            website=form.cleaned_data["website"],
        )
    return render_page(request, template, {"form": form, "claimed": claimed})


# --- The deal page -------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    event: DealEvent
    label: str
    from_stage: str
    to_stage: str
    outcome: str


def _timeline(deal: DealRegistration) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            event=event,
            label=str(EVENT_LABELS.get(event.kind, gettext_lazy("Updated"))),
            from_stage=str(STAGE_LABELS.get(event.from_stage, "")),
            to_stage=str(STAGE_LABELS.get(event.to_stage, "")),
            outcome=str(OUTCOME_LABELS.get((event.data or {}).get("outcome", ""), "")),
        )
        for event in deal.events.all()
    ]


def _appealable(deal: DealRegistration) -> Decision | None:
    """The decision the partner may still appeal: the latest one, once per registration."""
    decisions = list(deal.decisions.all())
    if not decisions or deal.stage not in (Stage.APPROVED, Stage.REJECTED):
        return None
    if any(decision.appealed_at for decision in decisions):
        return None
    return decisions[0]


@dataclass(frozen=True)
class EstimateRow:
    rule: str
    how: str
    amount: Any
    currency: str


def _how(line: EarningLine) -> str:
    """How one estimated line is computed, in words."""
    explanation = line.explanation
    if line.rate is not None:
        if explanation.get("base_kind") == "first_year_value":
            how = _("%(rate)s%% of the first-year contract value (%(base)s %(currency)s)")
        else:
            how = _("%(rate)s%% of the deal amount (%(base)s %(currency)s)")
        how = how % {
            "rate": explanation.get("rate", line.rate),
            "base": explanation.get("base", line.base),
            "currency": line.currency,
        }
    else:
        how = _("A fixed amount")
    if "split" in explanation:
        how = _("%(how)s, times your co-sell share of %(split)s%%") % {
            "how": how,
            "split": explanation["split"],
        }
    return how


def _estimates(deal: DealRegistration) -> tuple[list[EstimateRow], dict[str, Any]] | None:
    """The open deal's estimated earnings (the commission engine's own code, on
    the estimated amount), with a total per currency; None once the deal is closed."""
    if deal.stage not in DealRegistration.ACTIVE_STAGES:
        return None
    lines = estimate_for_deal(deal)
    totals: dict[str, Any] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.amount
    rows = [
        EstimateRow(str(line.explanation.get("rule", "")), _how(line), line.amount, line.currency)
        for line in lines
    ]
    return rows, totals


def _detail_page(request, membership, reference: str, **forms):
    deal = get_object_or_404(deal_page_for_partner(partner=membership.partner), reference=reference)
    can_close = deal.stage in (Stage.APPROVED, Stage.IN_PROGRESS)
    is_protected = bool(deal.protected_until) and deal.stage in DealRegistration.PROTECTED_STAGES
    extensions = window.extension_requests_of(deal=deal)
    pending = any(e.status == ExtensionRequest.Status.PENDING for e in extensions)
    estimates = _estimates(deal)
    context = {
        "deal": deal,
        "estimates": estimates[0] if estimates else None,
        "estimate_totals": estimates[1] if estimates else {},
        "show_estimates": estimates is not None,
        "timeline": _timeline(deal),
        "decisions": list(deal.decisions.all()),
        "appealable": _appealable(deal),
        "is_protected": is_protected,
        "extensions": extensions,
        "can_request_extension": is_protected
        and not pending
        and deal.protected_until is not None
        and deal.protected_until >= window.tenant_today(),
        "can_start": deal.stage == Stage.APPROVED,
        "can_close": can_close,
        "won_form": forms.get("won_form")
        or CloseWonForm(initial={"currency": deal.currency, "final_amount": deal.estimated_amount}),
        "lost_form": forms.get("lost_form") or CloseLostForm(),
        "appeal_form": forms.get("appeal_form") or AppealForm(),
        "comment_form": forms.get("comment_form") or CommentForm(),
        "extension_form": forms.get("extension_form") or ExtensionRequestForm(),
    }
    return render_page(request, "deals/detail.html", context)


@login_required
@require_GET
def deal_detail(request, reference: str):
    return _detail_page(request, _partner_user(request), reference)


@login_required
@require_POST
def deal_start(request, reference: str):
    membership = _partner_user(request)
    deal = _own_deal(membership, reference)
    try:
        services.start_progress(deal=deal, membership=membership, actor=request.user)
    except DomainError as error:
        messages.error(request, str(error.message))
    else:
        messages.success(request, _("The deal is now in progress."))
    return redirect(_deal_url(deal))


def _form_action(
    request,
    *,
    membership,
    deal: DealRegistration,
    form: Form,
    form_name: str,
    perform: Callable[[dict[str, Any]], object],
    success: str,
    anchor: str = "",
    refused_anchor: str = "",
):
    """Run one of the deal page's forms: a valid form calls its service; success
    and refusals shown as messages redirect to the deal page, anything else shows
    the page again with the form's errors."""
    if form.is_valid():
        try:
            perform(form.cleaned_data)
        except DomainError as error:
            if _refused(request, form, error):
                return redirect(_deal_url(deal, refused_anchor))
        else:
            messages.success(request, success)
            return redirect(_deal_url(deal, anchor))
    return _detail_page(request, membership, deal.reference, **{form_name: form})


@login_required
@require_POST
def deal_close_won(request, reference: str):
    membership = _partner_user(request)
    deal = _own_deal(membership, reference)
    return _form_action(
        request,
        membership=membership,
        deal=deal,
        form=CloseWonForm(request.POST),
        form_name="won_form",
        perform=lambda data: services.close_won(
            deal=deal, membership=membership, actor=request.user, **data
        ),
        success=_("Congratulations: the deal is closed won."),
    )


@login_required
@require_POST
def deal_close_lost(request, reference: str):
    membership = _partner_user(request)
    deal = _own_deal(membership, reference)
    return _form_action(
        request,
        membership=membership,
        deal=deal,
        form=CloseLostForm(request.POST),
        form_name="lost_form",
        perform=lambda data: services.close_lost(
            deal=deal, membership=membership, actor=request.user, reason=data["reason"]
        ),
        success=_("The deal is closed lost."),
    )


@login_required
@require_POST
def deal_appeal(request, reference: str):
    membership = _partner_user(request)
    deal = _own_deal(membership, reference)
    form = AppealForm(request.POST)
    decision = deal.decisions.order_by("-decided_at", "-id").first()
    if decision is None and form.is_valid():
        messages.error(request, _("There is no decision to appeal."))
        return redirect(_deal_url(deal))

    def appeal(data: dict[str, Any]) -> object:
        assert decision is not None  # an invalid form never reaches its service
        return services.appeal_decision(
            decision=decision, membership=membership, actor=request.user, comment=data["comment"]
        )

    return _form_action(
        request,
        membership=membership,
        deal=deal,
        form=form,
        form_name="appeal_form",
        perform=appeal,
        success=_("Your appeal is sent. The registration is back in review."),
        anchor="decisions",
        refused_anchor="decisions",
    )


@login_required
@require_POST
def deal_comment(request, reference: str):
    membership = _partner_user(request)
    deal = _own_deal(membership, reference)
    return _form_action(
        request,
        membership=membership,
        deal=deal,
        form=CommentForm(request.POST),
        form_name="comment_form",
        perform=lambda data: services.add_comment(
            deal=deal, membership=membership, actor=request.user, body=data["body"]
        ),
        success=_("Your comment is added."),
        anchor="comments",
    )


@login_required
@require_POST
def deal_extension(request, reference: str):
    membership = _partner_user(request)
    deal = _own_deal(membership, reference)
    return _form_action(
        request,
        membership=membership,
        deal=deal,
        form=ExtensionRequestForm(request.POST),
        form_name="extension_form",
        perform=lambda data: window.request_extension(
            deal=deal,
            membership=membership,
            actor=request.user,
            days=data["days"],
            reason=data["reason"],
        ),
        success=_(
            "Your extension request is sent. A channel manager will approve or deny it, "
            "and you will be notified."
        ),
        anchor="extension",
        refused_anchor="extension",
    )
