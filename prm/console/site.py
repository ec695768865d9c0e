"""The staff console: Django's admin site, scoped to the tenant and the role.

Only members with a staff role of the current tenant get in (partner users
never do: a signed-in person without console access gets a 403 page, not a
login form); each ModelAdmin declares which capability lets a role see or
change it (``prm.console.admin_base.ConsoleModelAdmin``), and the console
refuses plain ModelAdmins from our own apps. Login goes through allauth, so its
rate limits and two-factor authentication apply here too.

``platform_site`` is the same machinery on the bare platform host, for
platform operators (superusers) only: tenant provisioning and logins.
"""

from __future__ import annotations

from functools import update_wrapper
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from prm.accounts.roles import Capability, can

# Apps whose own admin.py registers global tables (auth groups, allauth's
# e-mail addresses and authenticators) on the default site: the console skips them.
THIRD_PARTY_ADMIN_MODULES = ("django.", "allauth.")

if TYPE_CHECKING:
    # The mixin below is only ever combined with an AdminSite.
    _SiteBase = admin.AdminSite
else:
    _SiteBase = object


class AllauthLoginMixin(_SiteBase):
    """Send sign-in to allauth and answer signed-in outsiders with a 403 page."""

    forbidden_template = "console/forbidden.html"

    def forbidden(self, request):
        return render(request, self.forbidden_template, {"site": self}, status=403)

    def login(self, request, extra_context=None):
        if request.user.is_authenticated and not self.has_permission(request):
            return self.forbidden(request)
        index = reverse("admin:index", current_app=self.name)
        next_url = request.GET.get("next") or index
        return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")

    def password_change(self, request, extra_context=None):
        return redirect("account_change_password")

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                return self.forbidden(request)
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)


class ConsoleSite(AllauthLoginMixin, admin.AdminSite):
    site_title = _("Partner console")
    site_header = _("Partner console")
    index_title = _("Console")
    index_template = "console/index.html"
    enable_nav_sidebar = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._url_providers: list = []

    def register_urls(self, provider) -> None:
        """An app adds console pages that belong to no model: ``provider(site)``
        returns URL patterns, mounted ahead of the model pages."""
        if provider not in self._url_providers:
            self._url_providers.append(provider)

    def has_permission(self, request) -> bool:
        return bool(
            request.user.is_active
            and getattr(request, "tenant", None) is not None
            and can(getattr(request, "membership", None), Capability.USE_CONSOLE)
        )

    def register(self, model_or_iterable, admin_class=None, **options):
        from prm.console.admin_base import ConsoleModelAdmin

        if admin_class is None or not issubclass(admin_class, ConsoleModelAdmin):
            module = admin_class.__module__ if admin_class else ""
            if module.startswith(THIRD_PARTY_ADMIN_MODULES):
                return
            raise TypeError(
                f"{admin_class or 'ModelAdmin'} must subclass ConsoleModelAdmin to be "
                "registered on the tenant console."
            )
        super().register(model_or_iterable, admin_class, **options)

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            context["site_header"] = _("%(tenant)s · partner console") % {"tenant": tenant.name}
            context["site_title"] = tenant.name
        context["tenant"] = tenant
        context["membership"] = getattr(request, "membership", None)
        context["can_manage_program"] = can(context["membership"], Capability.MANAGE_PROGRAM)
        context["can_view_all_partners"] = can(context["membership"], Capability.VIEW_ALL_PARTNERS)
        return context

    def get_urls(self):
        from django.urls import path

        from prm.console.settings_view import program_settings

        def settings_view(request):
            return program_settings(self, request)

        custom = [
            path("settings/", self.admin_view(settings_view), name="program_settings"),
            *(url for provider in self._url_providers for url in provider(self)),
        ]
        return custom + super().get_urls()

    def index(self, request, extra_context=None):
        from prm.audit.models import AuditEvent

        extra_context = dict(extra_context or {})
        if can(request.membership, Capability.VIEW_AUDIT):
            extra_context["recent_events"] = list(AuditEvent.objects.select_related("actor")[:10])
        return super().index(request, extra_context)


class PlatformSite(AllauthLoginMixin, admin.AdminSite):
    """Tenant provisioning on the bare host, for platform operators only."""

    site_title = _("PRM platform")
    site_header = _("PRM platform administration")
    index_title = _("Tenants and operators")
    site_url = None

    def has_permission(self, request) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)


platform_site = PlatformSite(name="platform")
