"""Console registrations for partner organisations and the program catalogue.

Channel managers and tenant admins manage partners; finance sees them
read-only; tenant admins configure tiers and partner types. Every save goes
through ``partners.services``; a partner's tier is read-only in its form and
changes only through the "Assign tier" view, which records who and why.
Partners' payee details are finance's alone: masked everywhere, revealed in
full only on an explicit, audited request (``partners.payee``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from partners.models import PartnerOrganization, PartnerPayee, PartnerType, Tier, TierChange
from partners.payee import (
    blockers_of,
    is_complete,
    payees_for_finance,
    reveal_payee_details,
    save_payee_details,
)
from partners.payee_forms import FinancePayeeForm
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
    apply_domain_error,
    has_capability,
)
from prm.errors import DomainError


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


# --- Payee details (finance only) ------------------------------------------------


class PayeeAddForm(FinancePayeeForm):
    partner: forms.ModelChoiceField[PartnerOrganization] = forms.ModelChoiceField(
        queryset=None, label=_("Partner")
    )

    field_order = ("partner",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        partner_field = self.fields["partner"]
        assert isinstance(partner_field, forms.ModelChoiceField)
        partner_field.queryset = PartnerOrganization.objects.filter(payee__isnull=True)


class RevealForm(forms.Form):
    """Nothing to fill in: the POST itself is the deliberate, audited act."""


@admin.register(PartnerPayee)
class PartnerPayeeAdmin(ConsoleModelAdmin):
    """Finance reads and edits partners' payee details here, masked; the full
    account number and tax id only on the audited "Reveal" page."""

    view_capability = add_capability = change_capability = Capability.MANAGE_MONEY
    delete_capability = None
    audited_by_service = True

    list_display = (
        "partner",
        "legal_name",
        "payout_currency",
        "payment_method",
        "masked_account_number",
        "masked_tax_id",
        "tax_form_status",
        "complete",
        "updated_at",
    )
    list_filter = ("tax_form_status", "payment_method", "payout_currency")
    search_fields = ("partner__legal_name", "partner__display_name", "legal_name")
    list_select_related = ("partner",)

    def get_queryset(self, request):
        return payees_for_finance()

    @admin.display(description=_("account number"))
    def masked_account_number(self, obj) -> str:
        return obj.masked_account_number or "—"

    @admin.display(description=_("tax id"))
    def masked_tax_id(self, obj) -> str:
        return obj.masked_tax_id or "—"

    @admin.display(description=_("ready for payout"), boolean=True)
    def complete(self, obj) -> bool:
        return is_complete(obj)

    def get_urls(self):
        urls = super().get_urls()
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name="{}_{}_reveal".format(*info),
            ),
            *urls,
        ]

    def _page(self, request, template: str, title, **extra):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "module_name": capfirst(self.opts.verbose_name_plural),
            "has_view_permission": self.has_view_permission(request),
            **extra,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, template, context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(form):
            payee = save_payee_details(
                partner=form.cleaned_data["partner"],
                data=form.service_data(),
                actor=request.user,
                membership=request.membership,
            )
            self.message_user(request, _("Payee details saved."), messages.SUCCESS)
            return redirect(self.console_url("change", payee.pk))

        return self.service_form_view(
            request,
            form_class=PayeeAddForm,
            title=_("Add payee details"),
            perform=perform,
            submit_label=_("Save"),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payee = self.get_object(request, unquote(object_id))
        if not self.has_change_permission(request, payee):
            raise PermissionDenied
        if request.method == "POST":
            form = FinancePayeeForm(request.POST, payee=payee)
            if form.is_valid():
                try:
                    save_payee_details(
                        partner=payee.partner,
                        data=form.service_data(),
                        actor=request.user,
                        membership=request.membership,
                    )
                except DomainError as exc:
                    apply_domain_error(form, exc)
                else:
                    self.message_user(request, _("Payee details saved."), messages.SUCCESS)
                    return redirect(self.console_url("change", payee.pk))
        else:
            form = FinancePayeeForm(payee=payee)
        return self._page(
            request,
            "admin/partners/partnerpayee/change_form.html",
            _("Payee details of %(partner)s") % {"partner": payee.partner},
            original=payee,
            form=form,
            blockers=blockers_of(payee),
            media=self.media + form.media,
        )

    def reveal_view(self, request, object_id):
        payee = self.get_object(request, unquote(object_id))
        if not self.has_change_permission(request, payee):
            raise PermissionDenied

        def perform(form):
            revealed = reveal_payee_details(
                payee=payee, actor=request.user, membership=request.membership
            )
            # admin_view marks every console response never_cache (no-store).
            return self._page(
                request,
                "admin/partners/partnerpayee/reveal.html",
                _("Payee details of %(partner)s") % {"partner": payee.partner},
                original=payee,
                revealed=revealed,
            )

        return self.service_form_view(
            request,
            form_class=RevealForm,
            title=_("Reveal the account number and tax id of %(partner)s")
            % {"partner": payee.partner},
            perform=perform,
            obj=payee,
            submit_label=_("Reveal"),
            intro=_(
                "The full account number and tax id will be shown once. Your name and the "
                "time are recorded in the audit trail."
            ),
        )
