"""Resolve the tenant from the Host header and activate it for the request.

``<slug>.<TENANT_SUBDOMAIN_BASE>`` (``acme.localhost`` in development) or any
custom domain recorded as a ``TenantDomain`` selects a tenant; the bare
``PLATFORM_HOST`` serves platform administration; anything else gets a
friendly 404 page.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q
from django.shortcuts import render
from django.utils import timezone

from prm.tenancy.context import deactivate, tenant_context
from prm.tenancy.models import Tenant


def tenant_for_host(host: str) -> Tenant | None:
    host = host.lower().rstrip(".")
    condition = Q(domains__domain=host)
    suffix = "." + settings.TENANT_SUBDOMAIN_BASE
    if host.endswith(suffix):
        slug = host[: -len(suffix)]
        if slug and "." not in slug:
            condition |= Q(slug=slug)
    return Tenant.objects.filter(condition, is_active=True).distinct().first()


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
