"""Replaying a closed payout period in the console:
``/console/incentives/payouts/replay/<period>/``.

Finance and tenant admins (``VIEW_MONEY``) see what the period's deals,
revenue events and period rules earn when computed again under the plan
versions that applied, against what the ledger holds for them: totals per
currency and the differences (paginated), or a "no differences" state. The
page only reads (``incentives.payouts.replay.replay_period``). Finance
(``MANAGE_MONEY``) may then post the corrections, with a mandatory reason, on
a confirmation page: they go into the open period, never into the replayed
one (``correct_period``). Another tenant's period is a 404 (the fail-closed
manager hides it); channel managers get a 403, partner users the console's
403 page.

The console site has no model for these pages, so the module adds its URLs to
the site's URLs (``register_urls``) when ``incentives.admin`` is imported at
admin autodiscovery, before the URLconf is built.
"""

from __future__ import annotations

from decimal import Decimal
from functools import update_wrapper
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from incentives.models import PayoutPeriod
from incentives.payouts.replay import DiffRow, ReplayResult, correct_period, replay_period
from prm.accounts.roles import Capability
from prm.console.admin_base import has_capability
from prm.errors import DomainError
from prm.ledger.admin import render_explanation
from prm.ledger.models import SourceType
from prm.money.currency import minor_units

READ = Capability.VIEW_MONEY
MANAGE = Capability.MANAGE_MONEY
PER_PAGE = 50
URL_NAME = "incentives_period_replay"
CORRECT_URL_NAME = "incentives_period_replay_correct"
SOURCE_PAGES: dict[str, str] = {
    SourceType.DEAL: "admin:deals_dealregistration_change",
    SourceType.REVENUE_EVENT: "admin:incentives_revenueevent_change",
}


class CorrectionForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Recorded on every correction and in the audit log."),
    )


def _money(amount: Decimal, currency: str) -> str:
    return number_format(amount, minor_units(currency), use_l10n=True, force_grouping=True)


def _row(row: DiffRow, site_name: str) -> dict[str, Any]:
    page = SOURCE_PAGES.get(row.source_type)
    return {
        "row": row,
        "source_url": (
            reverse(page, args=[row.source_id], current_app=site_name)
            if page and row.source_id
            else ""
        ),
        "partner_url": (
            reverse(
                "admin:partners_partnerorganization_change",
                args=[row.partner_id],
                current_app=site_name,
            )
            if row.partner_id
            else ""
        ),
        "expected": _money(row.expected, row.currency),
        "posted": _money(row.posted, row.currency),
        "difference": _money(row.difference, row.currency),
        "explanation": render_explanation(row.explanation),
    }


def _totals(result: ReplayResult) -> list[dict[str, Any]]:
    return [
        {
            "currency": total.currency,
            "expected": _money(total.expected, total.currency),
            "posted": _money(total.posted, total.currency),
            "difference": _money(total.difference, total.currency),
            "differences": total.differences,
        }
        for total in result.totals
    ]


def _period(period_id: int) -> PayoutPeriod:
    period = PayoutPeriod.objects.filter(pk=period_id).first()
    if period is None:
        raise Http404(_("Payout period not found."))
    return period


def _context(site: admin.AdminSite, request: HttpRequest, period: PayoutPeriod) -> dict[str, Any]:
    opts = PayoutPeriod._meta
    return {
        **site.each_context(request),
        "subtitle": None,
        "period": period,
        "opts": opts,
        "app_label": opts.app_label,
        "module_name": capfirst(opts.verbose_name_plural),
        "period_url": reverse(
            "admin:incentives_payoutperiod_change", args=[period.pk], current_app=site.name
        ),
        "replay_url": reverse(f"admin:{URL_NAME}", args=[period.pk], current_app=site.name),
        "correct_url": reverse(
            f"admin:{CORRECT_URL_NAME}", args=[period.pk], current_app=site.name
        ),
        "can_manage": has_capability(request, MANAGE),
    }


def replay_view(site: admin.AdminSite, request: HttpRequest, period_id: int) -> HttpResponse:
    period = _period(period_id)
    if not has_capability(request, READ):
        raise PermissionDenied
    result = None
    error = ""
    try:
        result = replay_period(period=period, membership=getattr(request, "membership", None))
    except DomainError as exc:
        error = str(exc.message)
    page = None
    if result is not None and result.rows:
        page = Paginator(result.rows, PER_PAGE).get_page(request.GET.get("p"))
    context = {
        **_context(site, request, period),
        "title": _("Replay of payout period %(period)s") % {"period": period},
        "result": result,
        "error": error,
        "totals": _totals(result) if result is not None else [],
        "page": page,
        "rows": [_row(row, site.name) for row in page.object_list] if page else [],
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/incentives/replay/replay.html", context)


def correct_view(site: admin.AdminSite, request: HttpRequest, period_id: int) -> HttpResponse:
    period = _period(period_id)
    if not has_capability(request, MANAGE):
        raise PermissionDenied
    membership = getattr(request, "membership", None)
    form = CorrectionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            posted = correct_period(
                period=period,
                membership=membership,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, str(exc.message))
        else:
            if posted:
                messages.success(
                    request,
                    ngettext(
                        "%(count)s correction was posted in the open period.",
                        "%(count)s corrections were posted in the open period.",
                        posted,
                    )
                    % {"count": posted},
                )
            else:
                messages.info(request, _("There was nothing to correct."))
            return redirect(reverse(f"admin:{URL_NAME}", args=[period.pk], current_app=site.name))
    result = None
    error = ""
    try:
        result = replay_period(period=period, membership=membership)
    except DomainError as exc:
        error = str(exc.message)
    context = {
        **_context(site, request, period),
        "title": _("Post corrections for payout period %(period)s?") % {"period": period},
        "result": result,
        "error": error,
        "totals": _totals(result) if result is not None else [],
        "form": form,
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/incentives/replay/correct.html", context)


def console_urls(site: admin.AdminSite) -> list[URLPattern]:
    def replay(request, period_id):
        return replay_view(site, request, period_id)

    def correct(request, period_id):
        return correct_view(site, request, period_id)

    return [
        path(
            "incentives/payouts/replay/<int:period_id>/",
            site.admin_view(update_wrapper(replay, replay_view)),
            name=URL_NAME,
        ),
        path(
            "incentives/payouts/replay/<int:period_id>/correct/",
            site.admin_view(update_wrapper(correct, correct_view)),
            name=CORRECT_URL_NAME,
        ),
    ]


admin.site.register_urls(console_urls)  # type: ignore[attr-defined]
