"""Resolve the tenant from the Host header and activate it for the request.

``<slug>.<TENANT_SUBDOMAIN_BASE>`` (``acme.localhost`` in development) or any
custom domain recorded as a ``TenantDomain`` selects a tenant; the bare
``PLATFORM_HOST`` serves platform administration; anything else gets a
friendly 404 page.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone

from prm.tenancy.context import deactivate, tenant_context
from prm.tenancy.models import Tenant


def tenant_for_host(host: str) -> Tenant | None:
    """``<slug>.<TENANT_SUBDOMAIN_BASE>`` names a tenant by slug; any other host
    must be a recorded custom domain (which can never end in that suffix)."""
    host = host.lower().rstrip(".")
    suffix = "." + settings.TENANT_SUBDOMAIN_BASE.lower()
    if host.endswith(suffix):
        slug = host[: -len(suffix)]
        if not slug or "." in slug:
            return None
        return Tenant.objects.filter(slug=slug, is_active=True).first()
    return Tenant.objects.filter(domains__domain=host, is_active=True).first()


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        deactivate()
        host = request.get_host().rsplit(":", 1)[0].lower()
        request.tenant = None
        if host == settings.PLATFORM_HOST.lower():
            request.urlconf = settings.PLATFORM_URLCONF
            return self.get_response(request)
        tenant = tenant_for_host(host)
        if tenant is None:
            return render(request, "tenancy/unknown_host.html", {"host": host}, status=404)
        request.tenant = tenant
        timezone.activate(tenant.time_zone)
        try:
            with tenant_context(tenant):
                return self.get_response(request)
        finally:
            timezone.deactivate()
            deactivate()
