"""Importing revenue events from a CSV file in the console:
``/console/incentives/revenue-import/``.

Finance (``MANAGE_MONEY``, who records revenue events through the API too)
uploads a file → sees the preview (counts; invalid rows first, each error on
its cell) → confirms → sees what was recorded. Every step goes through
``incentives.revenue_import``, which checks the capability again and audits.
The confirm form carries the uploaded text signed (``django.core.signing``,
bound to the tenant), so nothing is stored between the steps and an altered
or expired preview is refused; the import validates the text again and
records every row or none — or, when the user chooses it, the valid rows only.
Other staff get a 403, partner users the console's 403 page; a preview signed
on another tenant is a 404. The empty template file is one more URL. Like the
simulator, these pages belong to no model, so the module adds its URLs to the
console site (``register_urls``) when ``incentives.admin`` is imported.
"""

from __future__ import annotations

from functools import update_wrapper
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from incentives import revenue_import
from incentives.models import RevenueEvent
from prm.accounts.roles import Capability
from prm.console.admin_base import has_capability
from prm.errors import DomainError
from prm.tenancy.context import require_tenant

MANAGE = Capability.MANAGE_MONEY
URL_NAME = "incentives_revenue_import"
TEMPLATE_URL_NAME = "incentives_revenue_import_template"
SALT = "incentives.revenue_import"
MAX_AGE = 6 * 60 * 60  # a preview older than this is uploaded again
SHOWN_RECORDED = 200


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("Revenue events (CSV)"),
        widget=forms.FileInput(attrs={"accept": ".csv,.tsv,.txt,text/csv"}),
        help_text=_(
            "UTF-8 or UTF-16 text, separated by commas, semicolons or tabs, with a header "
            "row naming the columns."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > revenue_import.MAX_BYTES:
            raise forms.ValidationError(revenue_import.too_large_message(upload.size))
        return upload


def _require_manage(request: HttpRequest) -> None:
    if not has_capability(request, MANAGE):
        raise PermissionDenied


def _page(site: admin.AdminSite, request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    opts = RevenueEvent._meta
    full = {
        **site.each_context(request),
        "title": _("Import revenue events"),
        "subtitle": None,
        "opts": opts,
        "app_label": opts.app_label,
        "module_name": capfirst(opts.verbose_name_plural),
        "columns_help": list(revenue_import.iter_columns()),
        "max_rows": revenue_import.MAX_ROWS,
        "max_bytes": revenue_import.MAX_BYTES,
        "form": UploadForm(),
        "stage": "upload",
        **context,
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/incentives/revenue_import/import.html", full)


def _preview_context(validation: revenue_import.Validation, filename: str) -> dict[str, Any]:
    columns, rows = validation.preview()
    return {
        "stage": "preview",
        "filename": filename,
        "row_count": validation.row_count,
        "invalid_count": validation.invalid_count,
        "valid_count": len(validation.valid),
        "repeat_count": len(validation.repeats),
        "repeat_rows": set(validation.repeats),
        "columns": columns,
        "preview_rows": rows,
        "payload": signing.dumps(
            {"tenant": require_tenant().pk, "filename": filename, "text": validation.text},
            salt=SALT,
            compress=True,
        ),
    }


def import_view(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    if request.method == "POST" and "payload" in request.POST:
        return _commit(site, request)
    form = UploadForm()
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            filename = upload.name.replace("\\", "/").rsplit("/", 1)[-1][:200]
            try:
                validation = revenue_import.preview_revenue_import(
                    membership=request.membership,  # type: ignore[attr-defined]
                    data=upload.read(),
                )
            except revenue_import.ImportFileError as exc:
                for problem in exc.problems:
                    form.add_error("file", problem)
            except DomainError as exc:
                form.add_error(None, str(exc.message))
            else:
                return _page(site, request, _preview_context(validation, filename))
    return _page(site, request, {"form": form})


def _commit(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    try:
        payload = signing.loads(request.POST["payload"], salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        messages.error(
            request, _("This preview has expired or was altered. Upload the file again.")
        )
        return redirect(reverse(f"admin:{URL_NAME}", current_app=site.name))
    if payload.get("tenant") != require_tenant().pk:
        raise Http404(_("This preview belongs to another organisation."))
    filename = payload.get("filename", "")
    valid_only = request.POST.get("valid_only") == "1"
    try:
        report = revenue_import.import_revenue_events(
            membership=request.membership,  # type: ignore[attr-defined]
            actor=request.user,
            text=payload["text"],
            filename=filename,
            valid_only=valid_only,
        )
    except revenue_import.RevenueImportInvalid as exc:
        # The preview went stale (someone recorded an event meanwhile) or the
        # user confirmed a file with invalid rows: show the fresh errors.
        messages.error(request, str(exc.message))
        validation = revenue_import.validate_events(text=payload["text"])
        return _page(site, request, _preview_context(validation, filename))
    except revenue_import.ImportFileError as exc:
        messages.error(request, str(exc.message))
        return redirect(reverse(f"admin:{URL_NAME}", current_app=site.name))
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect(reverse(f"admin:{URL_NAME}", current_app=site.name))
    messages.success(
        request,
        _("Revenue events imported: %(recorded)s recorded.") % {"recorded": len(report.recorded)},
    )
    return _page(
        site,
        request,
        {
            "stage": "imported",
            "filename": filename,
            "recorded_count": len(report.recorded),
            "recorded": report.recorded[:SHOWN_RECORDED],
            "repeat_count": report.repeats,
            "skipped_count": report.skipped,
        },
    )


def template_view(site: admin.AdminSite, request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    response = HttpResponse(revenue_import.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="revenue-events.csv"'
    return response


def console_urls(site: admin.AdminSite) -> list[URLPattern]:
    def upload(request):
        return import_view(site, request)

    def template(request):
        return template_view(site, request)

    return [
        path(
            "incentives/revenue-import/",
            site.admin_view(update_wrapper(upload, import_view)),
            name=URL_NAME,
        ),
        path(
            "incentives/revenue-import/template.csv",
            site.admin_view(update_wrapper(template, template_view)),
            name=TEMPLATE_URL_NAME,
        ),
    ]


admin.site.register_urls(console_urls)  # type: ignore[attr-defined]
