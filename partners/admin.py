"""Console registrations for partner organisations and the program catalogue.

Channel managers and tenant admins manage partners; finance sees them
read-only; tenant admins configure tiers and partner types. Every save goes
through ``partners.services``; a partner's tier is read-only in its form and
changes only through the "Assign tier" view, which records who and why.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _

from partners.models import PartnerOrganization, PartnerType, Tier, TierChange
from partners.selectors import partners_visible_to
from partners.services import (
    PARTNER_FIELDS,
    PARTNER_TYPE_FIELDS,
    TIER_FIELDS,
    assign_tier,
    create_partner,
    create_partner_type,
    create_tier,
    delete_partner_type,
    delete_tier,
    update_partner,
    update_partner_type,
    update_tier,
)
from prm.accounts.roles import Capability
from prm.console.admin_base import (
    ConsoleModelAdmin,
    ReadOnlyConsoleAdmin,
    ReadOnlyConsoleInline,
    has_capability,
)


def _form_data(form, fields) -> dict:
    return {name: form.cleaned_data[name] for name in fields if name in form.cleaned_data}


class AssignTierForm(forms.Form):
    tier: forms.ModelChoiceField[Tier] = forms.ModelChoiceField(queryset=None, label=_("New tier"))
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Recorded in the partner's tier history with your name and the date."),
    )

    def __init__(self, *args, partner: PartnerOrganization, **kwargs):
        super().__init__(*args, **kwargs)
        tier_field = self.fields["tier"]
        assert isinstance(tier_field, forms.ModelChoiceField)
        tier_field.queryset = Tier.objects.exclude(pk=partner.tier_id or 0)


class TierChangeInline(ReadOnlyConsoleInline):
    model = TierChange
    fk_name = "partner"
    view_capability = Capability.VIEW_ALL_PARTNERS
    fields = ("changed_at", "from_tier", "to_tier", "changed_by", "reason")
    readonly_fields = fields
    verbose_name = _("tier change")
    verbose_name_plural = _("tier history")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("partner", "from_tier", "to_tier", "changed_by")
        )


class ServiceCatalogueAdmin(ConsoleModelAdmin):
    """Saves and deletes through the catalogue services (they audit)."""

    audited_by_service = True

    def get_actions(self, request):
        # Deletion goes one by one through the service (which refuses tiers in use).
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(PartnerOrganization)
class PartnerOrganizationAdmin(ServiceCatalogueAdmin):
    view_capability = Capability.VIEW_ALL_PARTNERS
    add_capability = Capability.MANAGE_PARTNERS
    change_capability = Capability.MANAGE_PARTNERS
    delete_capability = None  # partners leave the program through their status

    list_display = (
        "legal_name",
        "display_name",
        "partner_type",
        "tier",
        "status",
        "country",
        "user_count",
        "created_at",
    )
    list_filter = ("status", "tier", "partner_type", "country")
    search_fields = ("legal_name", "display_name", "region")
    readonly_fields = ("tier", "created_at")
    fieldsets = (
        (None, {"fields": ("legal_name", "display_name", "partner_type", "status", "tier")}),
        (_("Location and market"), {"fields": ("country", "region", "industries")}),
        (_("Details"), {"fields": ("default_currency", "website", "created_at")}),
    )
    inlines = [TierChangeInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    change_form_template = "admin/partners/partnerorganization/change_form.html"

    def get_queryset(self, request):
        return partners_visible_to(membership=request.membership)

    @admin.display(description=_("users"), ordering="user_count")
    def user_count(self, obj) -> int:
        return obj.user_count

    def save_model(self, request, obj, form, change):
        data = _form_data(form, PARTNER_FIELDS)
        if change:
            update_partner(
                partner=obj, data=data, actor=request.user, membership=request.membership
            )
        else:
            partner = create_partner(data=data, actor=request.user, membership=request.membership)
            self.adopt(obj, partner)

    def get_urls(self):
        urls = super().get_urls()
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/assign-tier/",
                self.admin_site.admin_view(self.assign_tier_view),
                name="{}_{}_assign_tier".format(*info),
            ),
            *urls,
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_assign_tier": has_capability(request, Capability.ASSIGN_TIERS),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def assign_tier_view(self, request, object_id):
        partner = self.get_object(request, unquote(object_id))
        if not has_capability(request, Capability.ASSIGN_TIERS):
            raise PermissionDenied

        def perform(form):
            change = assign_tier(
                partner=partner,
                tier=form.cleaned_data["tier"],
                actor=request.user,
                membership=request.membership,
                reason=form.cleaned_data["reason"],
            )
            self.message_user(
                request,
                _("%(partner)s is now in %(tier)s.") % {"partner": partner, "tier": change.to_tier},
                messages.SUCCESS,
            )
            return redirect(self.console_url("change", partner.pk))

        return self.service_form_view(
            request,
            form_class=AssignTierForm,
            form_kwargs={"partner": partner},
            title=_("Assign a tier to %(partner)s") % {"partner": partner},
            perform=perform,
            obj=partner,
            submit_label=_("Assign tier"),
            intro=_("Current tier: %(tier)s")
            % {"tier": partner.tier.name if partner.tier else _("none")},
        )


@admin.register(Tier)
class TierAdmin(ServiceCatalogueAdmin):
    view_capability = add_capability = change_capability = delete_capability = (
        Capability.MANAGE_PROGRAM
    )
    list_display = (
        "rank",
        "name",
        "key",
        "commission_rate_modifier",
        "mdf_percentage",
        "partner_count",
    )
    list_display_links = ("name",)
    ordering = ("rank",)
    fields = TIER_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(partner_count=Count("partners"))

    @admin.display(description=_("partners"), ordering="partner_count")
    def partner_count(self, obj) -> int:
        return obj.partner_count

    def save_model(self, request, obj, form, change):
        data = _form_data(form, TIER_FIELDS)
        if change:
            update_tier(tier=obj, data=data, actor=request.user, membership=request.membership)
        else:
            tier = create_tier(data=data, actor=request.user, membership=request.membership)
            self.adopt(obj, tier)

    def delete_model(self, request, obj):
        delete_tier(tier=obj, actor=request.user, membership=request.membership)


@admin.register(PartnerType)
class PartnerTypeAdmin(ServiceCatalogueAdmin):
    view_capability = add_capability = change_capability = delete_capability = (
        Capability.MANAGE_PROGRAM
    )
    list_display = ("name", "key", "partner_count")
    search_fields = ("name", "key")
    fields = PARTNER_TYPE_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(partner_count=Count("partners"))

    @admin.display(description=_("partners"), ordering="partner_count")
    def partner_count(self, obj) -> int:
        return obj.partner_count

    def save_model(self, request, obj, form, change):
        data = _form_data(form, PARTNER_TYPE_FIELDS)
        if change:
            update_partner_type(
                partner_type=obj, data=data, actor=request.user, membership=request.membership
            )
        else:
            created = create_partner_type(
                data=data, actor=request.user, membership=request.membership
            )
            self.adopt(obj, created)

    def delete_model(self, request, obj):
        delete_partner_type(partner_type=obj, actor=request.user, membership=request.membership)


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyConsoleAdmin):
    view_capability = Capability.VIEW_ALL_PARTNERS
    list_display = ("changed_at", "partner", "from_tier", "to_tier", "changed_by", "reason")
    list_filter = ("to_tier",)
    search_fields = ("partner__legal_name", "partner__display_name", "reason")
    list_select_related = ("partner", "from_tier", "to_tier", "changed_by")
    date_hierarchy = "changed_at"
    fields = ("partner", "from_tier", "to_tier", "changed_by", "reason", "changed_at")
    readonly_fields = fields
