"""Console pages for CSV imports of leads and of the vendor's accounts.

The list is the import history. "Add" is an upload form: the file is read
and validated by ``deals.imports.preview_import`` and the user lands on its
preview — counts, the first rows with their errors per field, every error
(paginated) — where they import all rows (only when none is invalid), the
valid rows only, or discard the file. Channel managers and tenant admins
import; finance looks on read-only. Each kind's columns are documented on the
pages, with an empty template file to download.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from deals import imports
from deals.models import ImportBatch
from prm.accounts.roles import Capability
from prm.console.admin_base import ConsoleModelAdmin, apply_domain_error, has_capability
from prm.errors import DomainError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Kind = ImportBatch.Kind
Status = ImportBatch.Status
IMPORT = Capability.MANAGE_PARTNERS
PREVIEW_ROWS = 50
ERRORS_PER_PAGE = 100


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=Kind.choices)
    file = forms.FileField(
        label=_("CSV file"),
        widget=forms.FileInput(attrs={"accept": ".csv,.tsv,.txt,text/csv"}),
        help_text=_(
            "UTF-8 or UTF-16 text, separated by commas, semicolons or tabs, with a header "
            "row naming the columns."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > imports.MAX_BYTES:
            raise forms.ValidationError(imports.too_large_message(upload.size))
        return upload


@dataclass(frozen=True)
class KindHelp:
    """One kind's documented columns, for the upload and preview pages."""

    value: str
    label: StrOrPromise
    columns: list[tuple[str, bool, str]]  # name, required, what to put there
    template_url: str


@admin.register(ImportBatch)
class ImportBatchAdmin(ConsoleModelAdmin):
    view_capability = (Capability.MANAGE_PARTNERS, Capability.VIEW_ALL_PARTNERS)
    add_capability = IMPORT
    change_capability = delete_capability = None  # imports change only through services
    audited_by_service = True

    list_display = (
        "filename",
        "kind",
        "row_count",
        "valid_count",
        "imported_count",
        "status",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("filename",)
    list_select_related = ("created_by",)
    change_list_template = "admin/deals/importbatch/change_list.html"

    def get_queryset(self, request):
        # The file and its errors can be megabytes: only the preview reads them.
        return super().get_queryset(request).select_related("created_by").defer("content", "errors")

    def can_import(self, request) -> bool:
        return has_capability(request, IMPORT)

    def kind_help(self, kinds=None) -> list[KindHelp]:
        return [
            KindHelp(
                value=kind.value,
                label=kind.label,
                columns=[(c.name, c.required, c.describe()) for c in imports.columns_for(kind)],
                template_url=self.console_url("template", kind.value),
            )
            for kind in (kinds or list(Kind))
        ]

    def page_context(self, request, title: StrOrPromise, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "module_name": capfirst(self.opts.verbose_name_plural),
            "has_view_permission": self.has_view_permission(request),
            **extra,
        }

    # --- pages ---------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": _("Imports"), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = UploadForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    batch = imports.preview_import(
                        membership=request.membership,
                        actor=request.user,
                        kind=form.cleaned_data["kind"],
                        filename=upload.name,
                        data=upload.read(),
                    )
                except imports.ImportFileError as exc:
                    for problem in exc.problems:
                        form.add_error("file", problem)
                except DomainError as exc:
                    apply_domain_error(form, exc)
                else:
                    return redirect(self.console_url("change", batch.pk))
        else:
            kind = request.GET.get("kind")
            form = UploadForm(initial={"kind": kind if kind in Kind.values else Kind.LEADS})
        context = self.page_context(
            request,
            _("Upload a CSV file"),
            form=form,
            kinds=self.kind_help(),
            selected_kind=form["kind"].value(),
            max_rows=imports.MAX_ROWS,
            max_bytes=imports.MAX_BYTES,
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/deals/importbatch/upload.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, unquote(object_id))  # another tenant's: 404
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        batch.refresh_from_db(fields=["content", "errors"])
        invalid_only = request.GET.get("rows") == "invalid"
        columns, rows = imports.preview_rows(batch, invalid_only=invalid_only, limit=PREVIEW_ROWS)
        errors = Paginator(batch.errors, ERRORS_PER_PAGE).get_page(request.GET.get("errors"))
        invalid_rows = batch.row_count - batch.valid_count
        context = self.page_context(
            request,
            _("Import of %(file)s") % {"file": batch.filename},
            original=batch,
            batch=batch,
            columns=columns,
            rows=rows,
            invalid_only=invalid_only,
            preview_limit=PREVIEW_ROWS,
            errors=errors,
            error_count=len(batch.errors),
            invalid_rows=invalid_rows,
            can_import=self.can_import(request) and batch.status == Status.PREVIEWED,
            import_url=self.console_url("import", batch.pk),
            discard_url=self.console_url("discard", batch.pk),
            history_url=self.console_url("history", batch.pk),
            kinds=self.kind_help([Kind(batch.kind)]),
            is_previewed=batch.status == Status.PREVIEWED,
            is_imported=batch.status == Status.IMPORTED,
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/deals/importbatch/preview.html", context)

    # --- workflow views -------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "template/<slug:kind>/",
                view(self.template_view),
                name="{}_{}_template".format(*info),
            ),
            path(
                "<path:object_id>/import/",
                view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            path(
                "<path:object_id>/discard/",
                view(self.discard_view),
                name="{}_{}_discard".format(*info),
            ),
            *super().get_urls(),
        ]

    def template_view(self, request, kind: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if kind not in Kind.values:
            raise Http404(_("No such kind of import."))
        response = HttpResponse(imports.template_csv(kind), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{kind}-template.csv"'
        return response

    def _batch_for_workflow(self, request, object_id) -> ImportBatch:
        batch = self.get_object(request, unquote(object_id))  # another tenant's: 404
        if not self.can_import(request):
            raise PermissionDenied
        return batch

    def import_view(self, request, object_id):
        batch = self._batch_for_workflow(request, object_id)
        if request.method != "POST":
            return redirect(self.console_url("change", batch.pk))
        try:
            done = imports.commit_import(
                batch=batch,
                membership=request.membership,
                actor=request.user,
                valid_only=request.POST.get("valid_only") == "1",
            )
        except DomainError as exc:
            self.report_domain_error(request, exc)
        else:
            self.message_user(
                request,
                ngettext(
                    "%(count)s row of %(file)s imported.",
                    "%(count)s rows of %(file)s imported.",
                    done.imported_count,
                )
                % {"count": number_format(done.imported_count), "file": done.filename},
                messages.SUCCESS,
            )
        return redirect(self.console_url("change", batch.pk))

    def discard_view(self, request, object_id):
        batch = self._batch_for_workflow(request, object_id)
        if request.method != "POST":
            return redirect(self.console_url("change", batch.pk))
        try:
            imports.discard_import(batch=batch, membership=request.membership, actor=request.user)
        except DomainError as exc:
            self.report_domain_error(request, exc)
            return redirect(self.console_url("change", batch.pk))
        self.message_user(
            request,
            _("%(file)s discarded: nothing was imported.") % {"file": batch.filename},
            messages.SUCCESS,
        )
        return redirect(self.console_url("changelist"))
