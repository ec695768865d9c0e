"""Console pages for leads and routing.

Channel managers and tenant admins (``MANAGE_PARTNERS``) bring leads in, act on
them and configure routing; finance (``VIEW_ALL_PARTNERS``) looks on read-only.

* **Leads**: the list, and a read-only lead page showing every routing decision
  with its decision trace in words — the rule that fired, the candidates
  considered, the partner chosen with its score components, the runners-up and
  the partners excluded with the reason for each (written out by
  ``deals.admin.lead_display``). Withdrawing a lead and routing it now are
  forms that call ``deals.leads.withdraw_lead`` and ``deals.routing.route_leads``;
  the add page calls ``deals.leads.create_lead``.
* **Fairness report**: how the offers of a period spread across partners, tiers
  and regions (``deals.lead_selectors.fairness_report``).
* **Routing rules**, the tenant's **routing settings** (one row) and the
  **partner lead profiles** (saved through ``deals.leads.set_lead_profile``,
  listed with each partner's open leads and performance score).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from deals import leads as lead_services
from deals.admin.lead_display import FairnessLine, read_traces
from deals.forms import CURRENCY_CHOICES, DateInput, country_code, website_or_domain
from deals.lead_selectors import assignments_of, fairness_report, leads_for_staff
from deals.models import CompanySize, Lead
from prm.accounts.roles import Capability
from prm.console.admin_base import ConsoleModelAdmin, has_capability

ACT = Capability.MANAGE_PARTNERS
LOOK = Capability.VIEW_ALL_PARTNERS
Status = Lead.Status
FAIRNESS_PAGE_SIZE = 25
FAIRNESS_DEFAULT_DAYS = 30
FAIRNESS_MAX_DAYS = 731


# --- forms -------------------------------------------------------------------------


BLANK = [("", "—")]


class LeadCreateForm(forms.Form):
    """One lead, as ``deals.leads.create_lead`` takes it."""

    company = forms.CharField(label=capfirst(_("company")), max_length=200)
    contact_name = forms.CharField(label=capfirst(_("contact name")), max_length=200)
    contact_email = forms.EmailField(label=capfirst(_("contact e-mail")), max_length=254)
    country = forms.CharField(
        label=capfirst(_("country")),
        max_length=2,
        validators=[country_code],
        help_text=_("Two-letter code, like MY."),
    )
    region = forms.CharField(label=capfirst(_("region")), max_length=100, required=False)
    industry = forms.CharField(label=capfirst(_("industry")), max_length=60, required=False)
    company_size = forms.ChoiceField(
        label=capfirst(_("company size")),
        choices=BLANK + list(CompanySize.choices),
        required=False,
    )
    phone = forms.CharField(label=capfirst(_("phone")), max_length=40, required=False)
    website = forms.CharField(
        label=capfirst(_("website or domain")),
        max_length=253,
        required=False,
        validators=[website_or_domain],
    )
    estimated_amount = forms.DecimalField(
        label=capfirst(_("estimated amount")),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        localize=True,
    )
    currency = forms.ChoiceField(
        label=capfirst(_("currency")), choices=BLANK + CURRENCY_CHOICES, required=False
    )
    source = forms.CharField(label=capfirst(_("source")), max_length=100, required=False)
    external_id = forms.CharField(
        label=capfirst(_("external id")),
        max_length=100,
        required=False,
        help_text=_("The lead's id in your CRM or marketing tool; it must be unique."),
    )
    notes = forms.CharField(
        label=capfirst(_("notes")),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Partners read the notes while the lead is offered to them."),
    )

    REQUIRED = ("company", "contact_name", "contact_email", "country")

    def clean_country(self) -> str:
        return self.cleaned_data["country"].upper()

    def clean(self):
        data = super().clean() or {}
        if data.get("estimated_amount") is not None and not data.get("currency"):
            self.add_error("currency", _("Give the amount's currency."))
        return data

    def service_data(self) -> dict[str, Any]:
        """The cleaned values as ``create_lead`` keyword arguments (empty optionals left out)."""
        data = self.cleaned_data
        optional = {
            name: value
            for name, value in data.items()
            if name not in self.REQUIRED and value not in ("", None)
        }
        return {**{name: data[name] for name in self.REQUIRED}, **optional}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Recorded with the lead. A partner holding the offer loses it."),
    )


class ConfirmForm(forms.Form):
    """A workflow with nothing to fill in: the page asks, the button confirms."""


class FairnessPeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=DateInput(), input_formats=["%Y-%m-%d"])
    end = forms.DateField(label=_("To"), widget=DateInput(), input_formats=["%Y-%m-%d"])

    def clean(self):
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", _("The end of the period must not come before its start."))
        elif start and end and (end - start).days >= FAIRNESS_MAX_DAYS:
            self.add_error(
                "start",
                _("Choose a period of at most %(days)s days.") % {"days": FAIRNESS_MAX_DAYS},
            )
        return data


# --- leads ---------------------------------------------------------------------------


@admin.register(Lead)
class LeadAdmin(ConsoleModelAdmin):
    """Leads: read-only pages; every change is a workflow that calls a service."""

    view_capability = LOOK
    add_capability = ACT
    change_capability = delete_capability = None
    audited_by_service = True

    list_display = (
        "reference",
        "company",
        "status",
        "partner",
        "country",
        "industry",
        "created_at",
        "due_at",
    )
    list_filter = (
        "status",
        ("partner", admin.RelatedOnlyFieldListFilter),
        "country",
        "industry",
        "created_at",
    )
    search_fields = ("reference", "company", "contact_email", "external_id")
    list_select_related = ("partner",)
    ordering = ("-created_at", "-id")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "reference",
                    "status",
                    "partner",
                    "offered_at",
                    "due_at",
                    "accepted_at",
                    "deal",
                    "created_at",
                    "created_by",
                )
            },
        ),
        (
            _("Company"),
            {
                "fields": (
                    "company",
                    "website",
                    "country",
                    "region",
                    "industry",
                    "company_size",
                    "estimated_amount",
                    "currency",
                )
            },
        ),
        (_("Contact"), {"fields": ("contact_name", "contact_email", "phone")}),
        (_("Origin"), {"fields": ("source", "external_id", "notes")}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)
    change_form_template = "admin/deals/lead/change_form.html"
    change_list_template = "admin/deals/lead/change_list.html"

    def get_queryset(self, request):
        return leads_for_staff().select_related("created_by")

    def can_act(self, request) -> bool:
        return has_capability(request, ACT)

    # --- pages ---------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "fairness_url": self.console_url("fairness"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.lead_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def lead_context(self, request, lead: Lead) -> dict[str, Any]:
        """The routing decisions of the lead with their traces, in a fixed number of queries."""
        assignments = assignments_of(lead=lead)
        can_act = self.can_act(request)
        actions = []
        if can_act and lead.status in Lead.ROUTABLE:
            actions.append((self.console_url("route", lead.pk), _("Route now")))
        if can_act and lead.status not in (Status.CONVERTED, Status.WITHDRAWN):
            actions.append((self.console_url("withdraw", lead.pk), _("Withdraw")))
        return {
            "traces": read_traces(assignments),
            "lead_actions": actions,
            "fairness_url": self.console_url("fairness"),
        }

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(form):
            lead = lead_services.create_lead(
                membership=request.membership, actor=request.user, **form.service_data()
            )
            self.message_user(
                request,
                _("Lead %(reference)s added.") % {"reference": lead.reference},
                messages.SUCCESS,
            )
            return redirect(self.console_url("change", lead.pk))

        return self.service_form_view(
            request,
            form_class=LeadCreateForm,
            title=_("Add lead"),
            perform=perform,
            submit_label=_("Add lead"),
            intro=_(
                "The lead is routed to a partner as soon as it is added when the routing "
                "settings say so, otherwise in the nightly sweep."
            ),
        )

    # --- workflow views -------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("fairness/", view(self.fairness_view), name="{}_{}_fairness".format(*info)),
            path(
                "<path:object_id>/withdraw/",
                view(self.withdraw_view),
                name="{}_{}_withdraw".format(*info),
            ),
            path(
                "<path:object_id>/route/",
                view(self.route_view),
                name="{}_{}_route".format(*info),
            ),
            *super().get_urls(),
        ]

    def _lead_for_workflow(self, request, object_id) -> Lead:
        lead = self.get_object(request, unquote(object_id))  # another tenant's: 404
        if not self.can_act(request):
            raise PermissionDenied
        return lead

    def withdraw_view(self, request, object_id):
        lead = self._lead_for_workflow(request, object_id)

        def perform(form):
            lead_services.withdraw_lead(
                lead=lead,
                membership=request.membership,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            self.message_user(
                request,
                _("Lead %(reference)s is withdrawn.") % {"reference": lead.reference},
                messages.SUCCESS,
            )
            return redirect(self.console_url("change", lead.pk))

        return self.service_form_view(
            request,
            form_class=ReasonForm,
            title=_("Withdraw %(lead)s") % {"lead": lead.reference},
            perform=perform,
            obj=lead,
            submit_label=_("Withdraw"),
            intro=_("A withdrawn lead is no longer offered to partners nor routed again."),
        )

    def route_view(self, request, object_id):
        lead = self._lead_for_workflow(request, object_id)

        def perform(form):
            counts = lead_services.route_lead_now(
                lead=lead, membership=request.membership, actor=request.user
            )
            refreshed = Lead.objects.select_related("partner").get(pk=lead.pk)
            if refreshed.status == Status.OFFERED and refreshed.partner is not None:
                message = _("Lead %(reference)s is offered to %(partner)s.") % {
                    "reference": lead.reference,
                    "partner": refreshed.partner,
                }
                level = messages.SUCCESS
            elif refreshed.status == Status.DIRECT:
                message = _("Lead %(reference)s is kept for direct sales.") % {
                    "reference": lead.reference
                }
                level = messages.SUCCESS
            elif not any(counts.values()):
                message = _("Lead %(reference)s was not routed: it is no longer waiting.") % {
                    "reference": lead.reference
                }
                level = messages.WARNING
            else:
                message = _(
                    "No partner can take lead %(reference)s now; the decision trace says why."
                ) % {"reference": lead.reference}
                level = messages.WARNING
            self.message_user(request, message, level)
            return redirect(self.console_url("change", lead.pk) + "#routing")

        return self.service_form_view(
            request,
            form_class=ConfirmForm,
            title=_("Route %(lead)s now") % {"lead": lead.reference},
            perform=perform,
            obj=lead,
            submit_label=_("Route now"),
            intro=_(
                "Routing applies the routing rules now and offers the lead to the best "
                "eligible partner, or keeps it for direct sales."
            ),
        )

    # --- the fairness report ---------------------------------------------------
    def fairness_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        default = {"start": today - timedelta(days=FAIRNESS_DEFAULT_DAYS - 1), "end": today}
        data = request.GET if {"start", "end"} & set(request.GET) else None
        form = FairnessPeriodForm(data, initial=default)
        period = form.cleaned_data if data is not None and form.is_valid() else default
        report = fairness_report(start=period["start"], end=period["end"])
        page = Paginator(report.by_partner, FAIRNESS_PAGE_SIZE).get_page(request.GET.get("p"))
        query = request.GET.copy()
        query.pop("p", None)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Lead fairness report"),
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "module_name": capfirst(self.opts.verbose_name_plural),
            "form": form,
            "report": report,
            "total": FairnessLine.of(report.total),
            "partner_page": page,
            "partner_rows": [FairnessLine.of(row) for row in report.partner_rows(page)],
            "tier_rows": [FairnessLine.of(row) for row in report.by_tier],
            "region_rows": [FairnessLine.of(row) for row in report.by_region],
            "query": query.urlencode(),
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/deals/lead/fairness.html", context)
