"""Console pages for lead routing: the rules tried in priority order, the tenant's
routing settings (one row per tenant) and each partner's lead profile, saved
through ``deals.leads.set_lead_profile`` and shown with live performance scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import redirect
from django.template.defaultfilters import floatformat
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from deals import leads as lead_services
from deals import routing
from deals.admin.lead_display import listed, percent
from deals.admin.leads import ACT, LOOK
from deals.admin.program import ValuesField
from deals.models import (
    CompanySize,
    Lead,
    LeadRouting,
    PartnerLeadProfile,
    RoutingRule,
)
from partners.models import PartnerOrganization, PartnerType, Tier
from prm.console.admin_base import ConsoleModelAdmin, TenantModelForm

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# --- routing rules ------------------------------------------------------------------


def _country_codes(values: list[str]) -> list[str]:
    codes = [value.upper() for value in values]
    if any(len(code) != 2 or not code.isalpha() for code in codes):
        raise forms.ValidationError(_("Use two-letter country codes, e.g. MY, SG."))
    return codes


class RoutingRuleForm(TenantModelForm):
    countries = ValuesField(
        label=capfirst(_("lead countries")),
        required=False,
        help_text=_("Comma-separated two-letter codes, e.g. “MY, SG”. Empty matches any."),
    )
    regions = ValuesField(
        label=capfirst(_("lead regions")),
        required=False,
        help_text=_("Comma-separated, e.g. “Selangor, Johor”. Empty matches any."),
    )
    industries = ValuesField(
        label=capfirst(_("lead industries")),
        required=False,
        help_text=_("Comma-separated, e.g. “Retail, Logistics”. Empty matches any."),
    )
    company_sizes = ValuesField(
        label=capfirst(_("lead company sizes")),
        required=False,
        help_text=_("Comma-separated keys of company sizes; empty matches any."),
    )
    partner_type_keys = ValuesField(
        label=capfirst(_("partner types")),
        required=False,
        help_text=_("Comma-separated keys of the partner types allowed; empty allows every type."),
    )
    tier_keys = ValuesField(
        label=capfirst(_("tiers")),
        required=False,
        help_text=_("Comma-separated keys of the tiers allowed; empty allows every tier."),
    )

    class Meta:
        model = RoutingRule
        fields = (
            "name",
            "priority",
            "is_active",
            "action",
            "countries",
            "regions",
            "industries",
            "company_sizes",
            "require_territory",
            "require_industry",
            "partner_type_keys",
            "tier_keys",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["company_sizes"].help_text = _(
            "Comma-separated, from: %(choices)s. Empty matches any."
        ) % {"choices": ", ".join(CompanySize.values)}

    def clean_countries(self) -> list[str]:
        return _country_codes(self.cleaned_data["countries"])

    def clean_company_sizes(self) -> list[str]:
        sizes = self.cleaned_data["company_sizes"]
        unknown = [size for size in sizes if size not in CompanySize.values]
        if unknown:
            raise forms.ValidationError(
                _("Unknown company size: %(values)s. Use: %(choices)s.")
                % {"values": ", ".join(unknown), "choices": ", ".join(CompanySize.values)}
            )
        return sizes

    @staticmethod
    def _known_keys(keys: list[str], known: set[str], message: StrOrPromise) -> list[str]:
        unknown = [key for key in keys if key not in known]
        if unknown:
            raise forms.ValidationError(
                message % {"values": ", ".join(unknown), "choices": ", ".join(sorted(known))}
            )
        return keys

    def clean_partner_type_keys(self) -> list[str]:
        keys = self.cleaned_data["partner_type_keys"]
        if not keys:
            return keys
        return self._known_keys(
            keys,
            set(PartnerType.objects.values_list("key", flat=True)),
            _("Unknown partner type: %(values)s. Use: %(choices)s."),
        )

    def clean_tier_keys(self) -> list[str]:
        keys = self.cleaned_data["tier_keys"]
        if not keys:
            return keys
        return self._known_keys(
            keys,
            set(Tier.objects.values_list("key", flat=True)),
            _("Unknown tier: %(values)s. Use: %(choices)s."),
        )


@admin.register(RoutingRule)
class RoutingRuleAdmin(ConsoleModelAdmin):
    view_capability = LOOK
    add_capability = change_capability = delete_capability = ACT
    form = RoutingRuleForm
    list_display = ("name", "priority", "action", "conditions", "requirements", "is_active")
    list_display_links = ("name",)
    list_filter = ("action", "is_active")
    search_fields = ("name",)
    ordering = ("priority", "id")
    fieldsets = (
        (None, {"fields": ("name", "priority", "is_active", "action")}),
        (
            _("Which leads"),
            {
                "fields": ("countries", "regions", "industries", "company_sizes"),
                "description": _(
                    "The rule applies to a lead when every filled-in list matches it."
                ),
            },
        ),
        (
            _("Which partners (when routing to partners)"),
            {
                "fields": (
                    "require_territory",
                    "require_industry",
                    "partner_type_keys",
                    "tier_keys",
                )
            },
        ),
    )

    @admin.display(description=_("which leads"))
    def conditions(self, obj: RoutingRule) -> str:
        parts = [
            (_("countries"), obj.countries),
            (_("regions"), obj.regions),
            (_("industries"), obj.industries),
            (_("company sizes"), obj.company_sizes),
        ]
        described = [
            _("%(what)s: %(values)s") % {"what": what, "values": listed(values)}
            for what, values in parts
            if values
        ]
        return "; ".join(described) or str(_("every lead"))

    @admin.display(description=_("which partners"))
    def requirements(self, obj: RoutingRule) -> str:
        if obj.action == RoutingRule.Action.RESERVE_DIRECT:
            return "—"
        parts = []
        if obj.require_territory:
            parts.append(str(_("covers the lead's country")))
        if obj.require_industry:
            parts.append(str(_("lists the lead's industry")))
        if obj.partner_type_keys:
            parts.append(_("partner types: %(values)s") % {"values": listed(obj.partner_type_keys)})
        if obj.tier_keys:
            parts.append(_("tiers: %(values)s") % {"values": listed(obj.tier_keys)})
        return "; ".join(parts) or str(_("any partner"))


# --- routing settings -------------------------------------------------------------


WEIGHTS = ("weight_acceptance", "weight_conversion", "weight_response")


class LeadRoutingForm(TenantModelForm):
    class Meta:
        model = LeadRouting
        fields = (
            "sla_hours",
            "default_capacity",
            "route_on_arrival",
            "weight_acceptance",
            "weight_conversion",
            "weight_response",
            "score_band",
        )

    def clean(self):
        data = super().clean() or {}
        weights = [data.get(name) for name in WEIGHTS]
        if all(weight is not None for weight in weights) and not any(weights):
            self.add_error(None, _("At least one weight of the performance score must be above 0."))
        return data


@admin.register(LeadRouting)
class LeadRoutingAdmin(ConsoleModelAdmin):
    """The tenant's one routing-settings row: the list leads straight to it."""

    view_capability = LOOK
    change_capability = ACT
    add_capability = delete_capability = None
    form = LeadRoutingForm
    fieldsets = (
        (
            _("Offers"),
            {"fields": ("sla_hours", "default_capacity", "route_on_arrival")},
        ),
        (
            _("Performance score"),
            {
                "fields": ("weight_acceptance", "weight_conversion", "weight_response"),
                "description": _(
                    "A partner's score is the weighted mean of its acceptance rate, "
                    "conversion rate and response speed; only the weights' proportions count."
                ),
            },
        ),
        (_("Fairness"), {"fields": ("score_band",)}),
    )

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return redirect(self.console_url("change", lead_services.lead_routing().pk))

    def response_change(self, request, obj):
        self.message_user(request, _("Lead routing settings saved."), messages.SUCCESS)
        return redirect(self.console_url("change", obj.pk))


# --- partner lead profiles ---------------------------------------------------------


class PartnerLeadProfileForm(TenantModelForm):
    partner: forms.ModelChoiceField[PartnerOrganization] = forms.ModelChoiceField(
        queryset=None,
        label=capfirst(_("partner")),
        help_text=_("Partners without a profile accept leads in their home country."),
    )
    territories = ValuesField(
        label=capfirst(_("territories")),
        required=False,
        help_text=_(
            "Comma-separated two-letter codes of the countries covered besides the "
            "partner's home country, e.g. “SG, ID”."
        ),
    )

    class Meta:
        model = PartnerLeadProfile
        fields = ("partner", "accepts_leads", "territories", "capacity")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "partner" in self.fields:
            field = self.fields["partner"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = PartnerOrganization.objects.filter(lead_profile__isnull=True).order_by(
                "legal_name"
            )

    def clean_territories(self) -> list[str]:
        return _country_codes(self.cleaned_data["territories"])

    def clean_capacity(self):
        capacity = self.cleaned_data.get("capacity")
        if capacity is not None and capacity < 1:
            raise forms.ValidationError(_("A partner that takes no leads does not accept leads."))
        return capacity


@admin.register(PartnerLeadProfile)
class PartnerLeadProfileAdmin(ConsoleModelAdmin):
    """What routing knows about each partner, with its live load and performance."""

    view_capability = LOOK
    add_capability = change_capability = ACT
    delete_capability = None
    audited_by_service = True
    form = PartnerLeadProfileForm
    list_display = (
        "partner",
        "accepts_leads",
        "territories_display",
        "capacity_display",
        "open_leads",
        "score_display",
        "acceptance_display",
        "conversion_display",
        "response_display",
        "last_offered_at",
    )
    list_filter = ("accepts_leads",)
    search_fields = ("partner__legal_name", "partner__display_name")
    list_select_related = ("partner",)
    ordering = ("partner__legal_name",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("partner")
            .annotate(
                open_lead_count=Count(
                    "partner__leads", filter=Q(partner__leads__status__in=Lead.OPEN)
                )
            )
        )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("partner", "accepts_leads", "territories", "capacity")
        return (
            "partner",
            "accepts_leads",
            "territories",
            "capacity",
            "open_leads",
            "performance",
            "last_offered_at",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("partner", "open_leads", "performance", "last_offered_at")

    # --- live numbers -------------------------------------------------------
    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        self._attach_scores(rows)
        changelist.result_list = rows
        return changelist

    @staticmethod
    def _attach_scores(rows: list[PartnerLeadProfile]) -> None:
        """One call to ``partner_scores`` and one settings read for the whole page."""
        scores = routing.partner_scores(partner_ids=[row.partner_id for row in rows])
        default = lead_services.lead_routing().default_capacity
        for row in rows:
            row.lead_score = scores.get(row.partner_id)  # type: ignore[attr-defined]
            row.default_capacity = default  # type: ignore[attr-defined]

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        self._attach_scores([obj])
        return obj

    @admin.display(description=_("territories"))
    def territories_display(self, obj) -> str:
        return listed(obj.territories)

    @admin.display(description=_("maximum open leads"))
    def capacity_display(self, obj) -> str:
        if obj.capacity is not None:
            return str(obj.capacity)
        return _("%(capacity)s (default)") % {"capacity": getattr(obj, "default_capacity", "—")}

    @admin.display(description=_("open leads"), ordering="open_lead_count")
    def open_leads(self, obj) -> int:
        count = getattr(obj, "open_lead_count", None)
        if count is None:
            count = Lead.objects.filter(partner_id=obj.partner_id, status__in=Lead.OPEN).count()
        return count

    @staticmethod
    def _score(obj):
        return getattr(obj, "lead_score", None)

    @admin.display(description=_("performance score"))
    def score_display(self, obj) -> str:
        score = self._score(obj)
        return floatformat(score.score, 2) if score is not None else "—"

    @admin.display(description=_("acceptance rate"))
    def acceptance_display(self, obj) -> str:
        score = self._score(obj)
        return percent(score.acceptance) if score is not None else "—"

    @admin.display(description=_("conversion rate"))
    def conversion_display(self, obj) -> str:
        score = self._score(obj)
        return percent(score.conversion) if score is not None else "—"

    @admin.display(description=_("average response"))
    def response_display(self, obj) -> str:
        score = self._score(obj)
        if score is None or score.response_hours is None:
            return "—"
        return _("%(hours)s h") % {"hours": floatformat(score.response_hours, 1)}

    @admin.display(description=_("performance"))
    def performance(self, obj) -> str:
        score = self._score(obj)
        if score is None:
            return "—"
        return _(
            "Score %(score)s · acceptance %(acceptance)s · conversion %(conversion)s · "
            "response %(response)s"
        ) % {
            "score": floatformat(score.score, 2),
            "acceptance": percent(score.acceptance),
            "conversion": percent(score.conversion),
            "response": self.response_display(obj),
        }

    def save_model(self, request, obj, form, change):
        profile = lead_services.set_lead_profile(
            partner=obj.partner,
            membership=request.membership,
            actor=request.user,
            accepts_leads=form.cleaned_data["accepts_leads"],
            territories=form.cleaned_data["territories"],
            capacity=form.cleaned_data["capacity"],
        )
        self.adopt(obj, profile)
