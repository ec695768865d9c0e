"""Console settings for deal registration: the program row, rules of engagement,
domain aliases, products and the vendor's accounts (created through
``services.import_account`` so their matching fields are filled in)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from deals import services
from deals.models import (
    Account,
    CompanySize,
    DealProgram,
    DomainAlias,
    EngagementRule,
    Product,
)
from prm.accounts.roles import Capability
from prm.console.admin_base import (
    ConsoleModelAdmin,
    TenantModelForm,
)

if TYPE_CHECKING:
    pass

# --- the program ---------------------------------------------------------------


class DealProgramForm(TenantModelForm):
    class Meta:
        model = DealProgram
        fields = (
            "protection_days",
            "first_reminder_days",
            "last_reminder_days",
            "auto_approve",
            "match_threshold",
            "partner_sourced_partner_share",
            "direct_sourced_partner_share",
        )

    def clean(self):
        data = super().clean() or {}
        days, first, last = (
            data.get("protection_days"),
            data.get("first_reminder_days"),
            data.get("last_reminder_days"),
        )
        if days is not None and first is not None and first >= days:
            self.add_error(
                "first_reminder_days",
                _("The first reminder must come within the protection window."),
            )
        if first is not None and last is not None and last >= first:
            self.add_error(
                "last_reminder_days",
                _("The last reminder must come after the first (fewer days before expiry)."),
            )
        return data


@admin.register(DealProgram)
class DealProgramAdmin(ConsoleModelAdmin):
    """The tenant's one program row: the list leads straight to it."""

    view_capability = change_capability = Capability.MANAGE_PROGRAM
    add_capability = delete_capability = None
    form = DealProgramForm
    fieldsets = (
        (
            _("Protection window"),
            {"fields": ("protection_days", "first_reminder_days", "last_reminder_days")},
        ),
        (_("Review"), {"fields": ("auto_approve", "match_threshold")}),
        (
            _("Co-sell commission split"),
            {"fields": ("partner_sourced_partner_share", "direct_sourced_partner_share")},
        ),
    )

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return redirect(self.console_url("change", services.program().pk))

    def response_change(self, request, obj):
        self.message_user(request, _("Deal registration program saved."), messages.SUCCESS)
        return redirect(self.console_url("change", obj.pk))


# --- rules and catalogue ----------------------------------------------------------


class ValuesField(forms.CharField):
    """A JSON list of strings, edited as comma-separated text."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value):
        if isinstance(value, list | tuple):
            return [str(v).strip() for v in value if str(v).strip()]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.split(",") if part.strip()]


class EngagementRuleForm(TenantModelForm):
    values = ValuesField(
        label=_("values"),
        help_text=_("Comma-separated, e.g. “enterprise” or “SG, MY”."),
    )

    class Meta:
        model = EngagementRule
        fields = ("name", "field", "values", "action", "is_active")

    def clean(self):
        data = super().clean() or {}
        values, field = data.get("values"), data.get("field")
        if not values or not field:
            return data
        if field == EngagementRule.Field.COMPANY_SIZE:
            unknown = [v for v in values if v not in CompanySize.values]
            if unknown:
                self.add_error(
                    "values",
                    _("Unknown company size: %(values)s. Use: %(choices)s.")
                    % {"values": ", ".join(unknown), "choices": ", ".join(CompanySize.values)},
                )
        elif field == EngagementRule.Field.COUNTRY:
            codes = [v.upper() for v in values]
            if any(len(code) != 2 or not code.isalpha() for code in codes):
                self.add_error("values", _("Use two-letter country codes, e.g. MY, SG."))
            else:
                data["values"] = codes
        return data


class ProgramCatalogueAdmin(ConsoleModelAdmin):
    view_capability = add_capability = change_capability = delete_capability = (
        Capability.MANAGE_PROGRAM
    )


@admin.register(EngagementRule)
class EngagementRuleAdmin(ProgramCatalogueAdmin):
    form = EngagementRuleForm
    list_display = ("name", "field", "values_display", "action", "is_active")
    list_filter = ("field", "action", "is_active")
    search_fields = ("name",)

    @admin.display(description=_("values"))
    def values_display(self, obj) -> str:
        return ", ".join(str(v) for v in obj.values or [])


@admin.register(DomainAlias)
class DomainAliasAdmin(ProgramCatalogueAdmin):
    """Saving or deleting an alias re-applies the aliases to the stored accounts
    and active registrations, so matching sees the new alias at once."""

    list_display = ("alias", "canonical")
    search_fields = ("alias", "canonical")
    fields = ("alias", "canonical")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.refold_domains()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        services.refold_domains()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        services.refold_domains()


@admin.register(Product)
class ProductAdmin(ProgramCatalogueAdmin):
    list_display = ("name", "product_line", "sku", "is_active")
    list_filter = ("is_active", "product_line")
    search_fields = ("name", "sku", "product_line")
    fields = ("name", "product_line", "sku", "is_active")


class AccountForm(TenantModelForm):
    class Meta:
        model = Account
        fields = ("kind", "name", "domain", "country", "owner", "external_id", "is_active")

    def clean_country(self):
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise forms.ValidationError(_("Use a two-letter country code, e.g. MY."))
        return country


ACCOUNT_IMPORT_FIELDS = ("kind", "name", "domain", "country", "owner", "external_id")
# Matching reads these as they were normalised on import: edit them by
# deactivating the account and importing it again.
ACCOUNT_MATCHING_FIELDS = ("name", "matching_name", "domain", "country")


@admin.register(Account)
class AccountAdmin(ConsoleModelAdmin):
    """The vendor's direct-sales accounts, open opportunities and customers."""

    view_capability = Capability.VIEW_ALL_PARTNERS
    add_capability = change_capability = Capability.MANAGE_PARTNERS
    delete_capability = None  # matches point at accounts: deactivate instead
    form = AccountForm
    list_display = ("name", "kind", "domain", "country", "owner", "external_id", "is_active")
    list_filter = ("kind", "is_active", "country")
    search_fields = ("name", "domain", "owner", "external_id")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ACCOUNT_IMPORT_FIELDS
        return (*ACCOUNT_MATCHING_FIELDS, "kind", "owner", "external_id", "is_active")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ACCOUNT_MATCHING_FIELDS

    def log_addition(self, request, obj, message):
        """``services.add_account`` audits the addition itself."""

    @admin.display(description=_("name used for matching"))
    def matching_name(self, obj) -> str:
        return obj.normalized_name

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        account = services.add_account(
            membership=request.membership,
            actor=request.user,
            **{name: form.cleaned_data[name] for name in ACCOUNT_IMPORT_FIELDS},
        )
        self.adopt(obj, account)
