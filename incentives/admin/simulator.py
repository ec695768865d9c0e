"""The plan simulator in the console: ``/console/incentives/simulator/<version>/``.

Tenant admins (``MANAGE_PROGRAM``) and finance (``VIEW_MONEY``) run any plan
version of their tenant — typically a draft, before publishing it — over the
last N months (1 to 24) of real closed-won deals and revenue events, and see,
per currency and per partner, what the published plans pay, what the version
would pay, the difference, and what the ledger actually posted. The page only
reads (``incentives.simulator.simulate``): nothing is posted. Another tenant's
version is a 404 (the fail-closed manager hides it); channel managers get a
403, partner users the console's 403 page. The form is a GET, so it works
without JavaScript and a result can be bookmarked.

The console site has no model for this page, so the module adds its URL to the
site's URLs (``install``) when ``incentives.admin`` is imported at admin
autodiscovery, before the URLconf is built.
"""

from __future__ import annotations

from functools import update_wrapper
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from incentives.models import PlanVersion
from incentives.simulator import MAX_MONTHS, MIN_MONTHS, simulate
from prm.accounts.roles import Capability
from prm.console.admin_base import has_capability

READ = (Capability.MANAGE_PROGRAM, Capability.VIEW_MONEY)
DEFAULT_MONTHS = 6
PER_PAGE = 50
URL_NAME = "incentives_simulator"


class SimulatorForm(forms.Form):
    months = forms.IntegerField(
        label=_("Months"),
        min_value=MIN_MONTHS,
        max_value=MAX_MONTHS,
        help_text=_("How many months of closed deals and revenue events to replay (1 to 24)."),
    )


def simulator_view(site: admin.AdminSite, request: HttpRequest, version_id: int) -> HttpResponse:
    version = PlanVersion.objects.select_related("plan").filter(pk=version_id).first()
    if version is None:
        raise Http404(_("Plan version not found."))
    if not has_capability(request, READ):
        raise PermissionDenied
    form = SimulatorForm(request.GET if "months" in request.GET else {"months": DEFAULT_MONTHS})
    simulation = None
    page = None
    query = ""
    if form.is_valid():
        months = form.cleaned_data["months"]
        simulation = simulate(
            membership=getattr(request, "membership", None), version=version, months=months
        )
        page = Paginator(simulation.partners, PER_PAGE).get_page(request.GET.get("p"))
        query = f"months={months}"
    opts = PlanVersion._meta
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": _("Simulate %(version)s") % {"version": version},
        "subtitle": None,
        "version": version,
        "form": form,
        "simulation": simulation,
        "page": page,
        "query": query,
        "opts": opts,
        "app_label": opts.app_label,
        "module_name": capfirst(opts.verbose_name_plural),
        "version_url": reverse(
            "admin:incentives_planversion_change", args=[version.pk], current_app=site.name
        ),
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/incentives/simulator/simulator.html", context)


def console_urls(site: admin.AdminSite) -> list[URLPattern]:
    def view(request, version_id):
        return simulator_view(site, request, version_id)

    return [
        path(
            "incentives/simulator/<int:version_id>/",
            site.admin_view(update_wrapper(view, simulator_view)),
            name=URL_NAME,
        )
    ]


admin.site.register_urls(console_urls)  # type: ignore[attr-defined]
