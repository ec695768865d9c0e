"""Console pages for exchange rates: finance records, imports and corrects.

Everyone with ``VIEW_MONEY`` (finance, tenant admins) reads the rates, filtered
by currency pair and date; only ``MANAGE_MONEY`` (finance) records a rate,
imports a CSV file of rates (all or nothing, every row's problem listed) or
corrects a rate. Every write goes through ``prm.money.services`` or
``prm.money.imports``; a recorded rate is never edited in place.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from prm.accounts.roles import Capability
from prm.console.admin_base import ConsoleModelAdmin, apply_domain_error, has_capability
from prm.errors import DomainError
from prm.money import imports, services
from prm.money.models import ExchangeRate
from prm.money.rates import exchange_rates
from prm.tenancy.context import require_tenant

CURRENCIES = [(code, code) for code in settings.CURRENCIES]


class RateForm(forms.Form):
    base_currency = forms.ChoiceField(label=_("Base currency"), choices=CURRENCIES)
    quote_currency = forms.ChoiceField(label=_("Quote currency"), choices=CURRENCIES)
    rate = forms.DecimalField(
        label=_("Rate"),
        max_digits=20,
        decimal_places=10,
        help_text=_("How many units of the quote currency one unit of the base currency buys."),
    )
    effective_date = forms.DateField(
        label=_("Effective date"),
        help_text=_("Conversions of events on or after this day use this rate."),
    )
    source = forms.CharField(
        label=_("Source"),
        max_length=200,
        required=False,
        help_text=_("Where the rate comes from, e.g. the central bank's reference rate."),
    )


class CorrectionForm(forms.Form):
    new_rate = forms.DecimalField(label=_("Corrected rate"), max_digits=20, decimal_places=10)
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Recorded with the correction; the original rate is kept."),
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        widget=forms.FileInput(attrs={"accept": ".csv,.txt,text/csv"}),
        help_text=_("UTF-8 text with a header row naming the columns."),
    )


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ConsoleModelAdmin):
    view_capability = Capability.VIEW_MONEY
    add_capability = Capability.MANAGE_MONEY
    change_capability = delete_capability = None  # recorded rates are never edited
    audited_by_service = True

    list_display = (
        "effective_date",
        "base_currency",
        "quote_currency",
        "rate",
        "revision",
        "source",
        "created_by",
        "created_at",
    )
    list_display_links = ("effective_date",)
    list_filter = ("base_currency", "quote_currency", "effective_date")
    date_hierarchy = "effective_date"
    search_fields = ("source",)
    fields = (
        "base_currency",
        "quote_currency",
        "rate",
        "effective_date",
        "revision",
        "corrects",
        "correction_reason",
        "source",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    change_list_template = "admin/money/exchangerate/change_list.html"
    change_form_template = "admin/money/exchangerate/change_form.html"

    def get_queryset(self, request):
        return exchange_rates()

    def can_manage(self, request) -> bool:
        return has_capability(request, Capability.MANAGE_MONEY)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            path(
                "import/template.csv",
                self.admin_site.admin_view(self.template_view),
                name="{}_{}_template".format(*info),
            ),
            path(
                "<path:object_id>/correct/",
                self.admin_site.admin_view(self.correct_view),
                name="{}_{}_correct".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {"can_manage_rates": self.can_manage(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {"can_manage_rates": self.can_manage(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied

        def perform(form):
            rate = services.record_rate(
                membership=request.membership,
                actor=request.user,
                base=form.cleaned_data["base_currency"],
                quote=form.cleaned_data["quote_currency"],
                rate=form.cleaned_data["rate"],
                effective_date=form.cleaned_data["effective_date"],
                source=form.cleaned_data["source"],
            )
            self.message_user(request, _("Recorded: %(rate)s") % {"rate": rate}, messages.SUCCESS)
            return redirect(self.console_url("changelist"))

        return self.service_form_view(
            request,
            form_class=RateForm,
            form_kwargs={"initial": {"base_currency": require_tenant().default_currency}},
            title=_("Record an exchange rate"),
            perform=perform,
            submit_label=_("Record rate"),
        )

    def correct_view(self, request, object_id):
        rate = self.get_object(request, unquote(object_id))
        if not self.can_manage(request):
            raise PermissionDenied

        def perform(form):
            corrected = services.correct_rate(
                membership=request.membership,
                actor=request.user,
                rate=rate,
                new_rate=form.cleaned_data["new_rate"],
                reason=form.cleaned_data["reason"],
            )
            self.message_user(
                request, _("Corrected: %(rate)s") % {"rate": corrected}, messages.SUCCESS
            )
            return redirect(self.console_url("change", corrected.pk))

        return self.service_form_view(
            request,
            form_class=CorrectionForm,
            title=_("Correct %(rate)s") % {"rate": rate},
            perform=perform,
            obj=rate,
            submit_label=_("Record correction"),
            intro=_("The recorded rate stays on file; conversions from now on use the correction."),
        )

    def template_view(self, request):
        if not self.can_manage(request):
            raise PermissionDenied
        response = HttpResponse(imports.import_template(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="exchange-rates.csv"'
        return response

    def import_view(self, request):
        if not self.can_manage(request):
            raise PermissionDenied
        problems: list[imports.RowProblem] = []
        if request.method == "POST":
            form = ImportForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    created = imports.import_rates(
                        membership=request.membership,
                        actor=request.user,
                        data=upload.read(),
                        filename=upload.name,
                    )
                except imports.RateImportError as exc:
                    problems = exc.problems
                    form.add_error(None, str(exc.message))
                except DomainError as exc:
                    apply_domain_error(form, exc)
                else:
                    self.message_user(
                        request,
                        ngettext(
                            "%(count)s exchange rate imported.",
                            "%(count)s exchange rates imported.",
                            len(created),
                        )
                        % {"count": number_format(len(created))},
                        messages.SUCCESS,
                    )
                    return redirect(self.console_url("changelist"))
        else:
            form = ImportForm()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import exchange rates"),
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "module_name": capfirst(self.opts.verbose_name_plural),
            "has_view_permission": self.has_view_permission(request),
            "form": form,
            "problems": problems,
            "columns": imports.IMPORT_COLUMNS,
            "required_columns": imports.REQUIRED_COLUMNS,
            "max_rows": imports.MAX_IMPORT_ROWS,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/money/exchangerate/import.html", context)
