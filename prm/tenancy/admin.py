"""Platform site: tenants and their domains, for platform operators.

"Add tenant" is the provisioning flow: it asks for the first tenant admin's
e-mail and calls ``prm.tenancy.services.provision_tenant``, which creates the
tenant with the default catalogue and invites that person. Domains are added
afterwards on the tenant's page.
"""

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from prm.console.admin_base import apply_domain_error
from prm.console.site import platform_site
from prm.errors import DomainError
from prm.tenancy.models import Tenant, TenantDomain, hex_color
from prm.tenancy.services import provision_tenant


class ProvisionTenantForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    slug = forms.SlugField(
        label=_("Slug"),
        max_length=63,
        help_text=_("Lower-case letters, digits and hyphens; the tenant's host is <slug>.%(base)s.")
        % {"base": settings.TENANT_SUBDOMAIN_BASE},
    )
    default_language = forms.ChoiceField(label=_("Default language"), choices=settings.LANGUAGES)
    default_currency = forms.ChoiceField(
        label=_("Default currency"), choices=[(c, c) for c in settings.CURRENCIES]
    )
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=[(zone, zone) for zone in sorted(zoneinfo.available_timezones())],
        initial="UTC",
    )
    brand_color = forms.CharField(
        label=_("Brand colour"), max_length=7, initial="#1f6feb", validators=[hex_color]
    )
    admin_email = forms.EmailField(
        label=_("First tenant admin's e-mail"),
        help_text=_("They receive an invitation to join as tenant admin."),
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].lower()
        if slug in {"www", "api", "admin", "static", "media"}:
            raise forms.ValidationError(_("This slug is reserved."))
        return slug


class TenantDomainInline(admin.TabularInline):
    model = TenantDomain
    extra = 0
    fields = ("domain", "is_primary")


def tenant_base_url(request, host: str) -> str:
    """A tenant host's address as seen from this request (same scheme and port)."""
    port = request.get_port()
    default_port = "443" if request.is_secure() else "80"
    suffix = f":{port}" if port and port != default_port else ""
    return f"{request.scheme}://{host}{suffix}"


@admin.register(Tenant, site=platform_site)
class TenantAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "default_language",
        "default_currency",
        "time_zone",
        "is_active",
        "created_at",
    )
    list_filter = ("is_active", "default_language", "default_currency")
    search_fields = ("name", "slug", "domains__domain")
    fields = (
        "name",
        "slug",
        "default_language",
        "default_currency",
        "time_zone",
        "brand_color",
        "require_mfa_for_staff",
        "is_active",
        "created_at",
    )
    readonly_fields = ("slug", "created_at")
    inlines = [TenantDomainInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Tenants are deactivated, never deleted: their records are kept.
        return False

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ProvisionTenantForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                tenant, invitation = provision_tenant(
                    name=data["name"],
                    slug=data["slug"],
                    default_language=data["default_language"],
                    default_currency=data["default_currency"],
                    time_zone=data["time_zone"],
                    brand_color=data["brand_color"],
                    admin_email=data["admin_email"],
                    actor=request.user,
                    base_url=tenant_base_url(
                        request, f"{data['slug']}.{settings.TENANT_SUBDOMAIN_BASE}"
                    ),
                )
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                self.message_user(
                    request,
                    _("%(tenant)s is ready; an invitation was sent to %(email)s.")
                    % {"tenant": tenant.name, "email": invitation.email},
                    messages.SUCCESS,
                )
                return redirect(
                    reverse(
                        "admin:tenancy_tenant_change",
                        args=[tenant.pk],
                        current_app=self.admin_site.name,
                    )
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Provision a tenant"),
            "subtitle": None,
            "form": form,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "module_name": capfirst(self.opts.verbose_name_plural),
            "submit_label": _("Provision tenant"),
            "intro": _(
                "Creates the tenant with the default partner types and tiers, and invites "
                "its first tenant admin."
            ),
            "has_view_permission": True,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "console/service_form.html", context)
