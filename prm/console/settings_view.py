"""The console's program settings page: a tenant admin edits their tenant's
language, currency, time zone, brand colour and two-factor requirement."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from prm.accounts.roles import Capability, can
from prm.errors import DomainError
from prm.tenancy.models import Tenant
from prm.tenancy.services import TENANT_SETTINGS_FIELDS, update_tenant_settings


class TenantSettingsForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = TENANT_SETTINGS_FIELDS
        widgets = {"brand_color": forms.TextInput(attrs={"type": "color"})}
        help_texts = {
            "require_mfa_for_staff": gettext_lazy(
                "Tenant admins, channel managers and finance must set up an "
                "authenticator app before they can use the console or the API."
            ),
        }


def program_settings(site, request):
    if not can(request.membership, Capability.MANAGE_PROGRAM):
        raise DjangoPermissionDenied
    tenant = request.tenant
    form = TenantSettingsForm(request.POST or None, instance=Tenant.objects.get(pk=tenant.pk))
    if request.method == "POST" and form.is_valid():
        try:
            update_tenant_settings(
                tenant=tenant,
                membership=request.membership,
                actor=request.user,
                changes={name: form.cleaned_data[name] for name in TENANT_SETTINGS_FIELDS},
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
        else:
            messages.success(request, _("Program settings saved."))
            return redirect("admin:program_settings")
    context = {
        **site.each_context(request),
        "title": _("Program settings"),
        "form": form,
    }
    return TemplateResponse(request, "console/settings.html", context)
