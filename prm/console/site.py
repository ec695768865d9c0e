"""The staff console: Django's admin site, scoped to the tenant and the role.

Only members with a staff role of the current tenant get in (partner users
never do); each ModelAdmin declares which capability lets a role see or
change it (``prm.console.admin_base.ConsoleModelAdmin``). Login goes through
allauth, so its rate limits and two-factor authentication apply here too.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from prm.accounts.roles import Capability, can


class ConsoleSite(admin.AdminSite):
    site_title = _("Partner console")
    site_header = _("Partner console")
    index_title = _("Console")
    enable_nav_sidebar = True

    def has_permission(self, request) -> bool:
        return bool(
            request.user.is_active
            and getattr(request, "tenant", None) is not None
            and can(getattr(request, "membership", None), Capability.USE_CONSOLE)
        )

    def login(self, request, extra_context=None):
        if request.user.is_authenticated and not self.has_permission(request):
            from django.shortcuts import render

            return render(request, "console/forbidden.html", status=403)
        next_url = request.GET.get("next") or reverse("admin:index")
        return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            context["site_header"] = _("%(tenant)s · partner console") % {"tenant": tenant.name}
            context["site_title"] = tenant.name
        context["tenant"] = tenant
        context["membership"] = getattr(request, "membership", None)
        return context


class PlatformSite(admin.AdminSite):
    """Tenant provisioning on the bare host, for platform operators only."""

    site_title = _("PRM platform")
    site_header = _("PRM platform administration")
    index_title = _("Tenants and operators")

    def has_permission(self, request) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)


platform_site = PlatformSite(name="platform")
