"""Console pages for payout periods, statements and holds.

Finance (``MANAGE_MONEY``) previews and closes periods, sets the minimum
payout, marks statements paid and holds or releases payouts; tenant admins
(``VIEW_MONEY``) read every page; everybody else gets a 403. Every action goes
through ``incentives.payouts`` (which checks the capability again and audits);
a refusal is a message, never a 500. A closed period's page shows its
statements; an open period's page shows the preview of closing it.

A closed period's page also offers its exports (``incentives.payouts.exports``)
and the payment results import (``incentives.payouts.payment_results``):

* statement PDFs as a ZIP and the journal CSV: ``VIEW_MONEY`` (finance and
  tenant admins — both already read every statement and ledger entry here);
* the payout file (CSV, XLSX): ``MANAGE_MONEY`` only, because it holds the
  partners' full bank account numbers (each export is audited as a reveal);
* importing payment results: ``MANAGE_MONEY``. Upload → preview with every
  row's errors → confirm; the confirm form carries the uploaded text signed
  (``django.core.signing``), and the import validates it again and imports
  every row or none.

An open period's exports and import are refused with a message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from incentives import payouts, statement_views
from incentives.forms import ConfirmForm
from incentives.models import Hold, PayoutPeriod, Statement
from incentives.payouts import exports, payment_results, selectors
from partners.models import PartnerOrganization
from prm.accounts.roles import Capability
from prm.audit.models import AuditEvent
from prm.console.admin_base import ReadOnlyConsoleAdmin, has_capability
from prm.errors import DomainError
from prm.errors import PermissionDenied as NotAllowed
from prm.ledger.admin import render_explanation
from prm.ledger.models import SETTLEMENT_KINDS, Kind, LedgerTransaction
from prm.money.currency import minor_units

READ = Capability.VIEW_MONEY
MANAGE = Capability.MANAGE_MONEY


def money(amount: Decimal | None, currency: str) -> str:
    """An amount in the reader's locale with the currency's decimals."""
    if amount is None:
        return ""
    return number_format(amount, minor_units(currency), use_l10n=True, force_grouping=True)


# --- forms (input validation only) --------------------------------------------------------


class MinimumPayoutForm(forms.Form):
    minimum_payout = forms.DecimalField(
        label=_("Minimum payout"),
        min_value=Decimal("0"),
        max_digits=14,
        decimal_places=2,
        help_text=_("Smaller closing balances are carried forward to the next period."),
    )


class MarkPaidForm(forms.Form):
    reference = forms.CharField(label=_("Payment reference"), max_length=200)
    paid_on = forms.DateField(label=_("Paid on"), widget=forms.DateInput(attrs={"type": "date"}))


class HoldForm(forms.Form):
    partner: forms.ModelChoiceField[PartnerOrganization] = forms.ModelChoiceField(
        label=_("Partner"), queryset=None
    )
    transaction = forms.IntegerField(
        label=_("Ledger transaction"),
        required=False,
        min_value=1,
        help_text=_("Leave empty to hold the partner's whole payout."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "The partner sees this reason on its statement and earnings page; keep internal "
            "notes out of it."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = PartnerOrganization.objects.order_by("legal_name")  # type: ignore[attr-defined]

    def clean_transaction(self) -> LedgerTransaction | None:
        pk = self.cleaned_data.get("transaction")
        if pk is None:
            return None
        found = LedgerTransaction.objects.filter(pk=pk).exclude(kind__in=SETTLEMENT_KINDS).first()
        if found is None:
            raise forms.ValidationError(_("No such earning in this ledger."))
        return found


class PaymentResultsForm(forms.Form):
    file = forms.FileField(
        label=_("Payment results (CSV)"),
        widget=forms.FileInput(attrs={"accept": ".csv,.tsv,.txt,text/csv"}),
        help_text=_(
            "UTF-8 or UTF-16 text, separated by commas, semicolons or tabs, with a header "
            "row naming the columns."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > payment_results.MAX_BYTES:
            raise forms.ValidationError(payment_results.too_large_message(upload.size))
        return upload


RESULTS_SALT = "incentives.payment_results"
RESULTS_MAX_AGE = 6 * 60 * 60  # a preview older than this is uploaded again


def _download(file, filename: str, content_type: str) -> FileResponse:
    return FileResponse(file, as_attachment=True, filename=filename, content_type=content_type)


# --- pages ----------------------------------------------------------------------------------


class PayoutConsoleMixin:
    """Shared helpers: a custom page with the console's chrome."""

    def page(self, request, template: str, title, context: dict[str, Any]) -> TemplateResponse:
        admin_self: Any = self
        opts = admin_self.opts
        full = {
            **admin_self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": opts,
            "app_label": opts.app_label,
            "module_name": capfirst(opts.verbose_name_plural),
            "can_manage": has_capability(request, MANAGE),
            **context,
        }
        request.current_app = admin_self.admin_site.name
        return TemplateResponse(request, template, full)

    def require_manage(self, request) -> None:
        if not has_capability(request, MANAGE):
            raise PermissionDenied


@admin.register(PayoutPeriod)
class PayoutPeriodAdmin(PayoutConsoleMixin, ReadOnlyConsoleAdmin):
    view_capability = READ
    list_display = ("__str__", "status", "statement_count", "closed_at", "closed_by")
    list_filter = ("status",)
    change_list_template = "admin/incentives/payoutperiod/change_list.html"

    def get_queryset(self, request):
        return selectors.periods()

    @admin.display(description=_("statements"), ordering="statement_count")
    def statement_count(self, obj) -> int:
        return obj.statement_count

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("open-current/", view(self.open_current_view), name="{}_{}_open".format(*info)),
            path("minimum/", view(self.minimum_view), name="{}_{}_minimum".format(*info)),
            path(
                "<path:object_id>/close/", view(self.close_view), name="{}_{}_close".format(*info)
            ),
            path(
                "payment-results-template.csv",
                view(self.results_template_view),
                name="{}_{}_results_template".format(*info),
            ),
            path(
                "<path:object_id>/statements.zip",
                view(self.statements_zip_view),
                name="{}_{}_statements_zip".format(*info),
            ),
            path(
                "<path:object_id>/payouts.csv",
                view(self.payout_csv_view),
                name="{}_{}_payout_csv".format(*info),
            ),
            path(
                "<path:object_id>/payouts.xlsx",
                view(self.payout_xlsx_view),
                name="{}_{}_payout_xlsx".format(*info),
            ),
            path(
                "<path:object_id>/journal.csv",
                view(self.journal_csv_view),
                name="{}_{}_journal_csv".format(*info),
            ),
            path(
                "<path:object_id>/payment-results/",
                view(self.payment_results_view),
                name="{}_{}_payment_results".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        settings = payouts.payout_settings()
        extra_context = {
            **(extra_context or {}),
            "can_manage": has_capability(request, MANAGE),
            "minimum_payout": settings.minimum_payout,
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        period = self.get_object(request, unquote(object_id))  # another tenant's: 404
        if not self.has_view_permission(request, period):
            raise PermissionDenied
        rows: list[dict[str, Any]] = []
        totals: list[dict[str, str]] = []
        preview_error = ""
        if period.is_open:
            try:
                drafts = payouts.preview_period(period)
            except DomainError as exc:
                drafts = []
                preview_error = str(exc.message)
            rows = [
                {
                    "partner": draft.partner,
                    "currency": draft.currency,
                    "opening": money(draft.opening_balance, draft.currency),
                    "earned": money(draft.earned_total, draft.currency),
                    "clawed_back": money(draft.clawed_back_total, draft.currency),
                    "adjustments": money(draft.adjustments_total, draft.currency),
                    "closing": money(draft.closing_amount, draft.currency),
                    "payable": money(draft.payable_amount, draft.currency),
                    "carried": money(draft.carried_forward, draft.currency),
                    "lines": len(draft.lines),
                    "status": Statement.Status(draft.status).label,
                    "hold_reason": draft.hold_reason,
                    "blockers": draft.blockers,
                }
                for draft in drafts
            ]
        else:
            statements = list(
                selectors.statements(filters=selectors.StatementFilters(period_id=period.pk))
            )
            plan = exports.payout_plan(period=period, statements=statements)
            excluded = {item.statement.pk: item.reasons for item in plan.excluded}
            rows = [
                {
                    "statement": statement,
                    "reference": exports.payment_reference(statement, period),
                    "in_payout_file": statement.pk not in excluded,
                    "excluded_reasons": excluded.get(statement.pk, []),
                    "partner": statement.partner,
                    "currency": statement.currency,
                    "opening": money(statement.opening_balance, statement.currency),
                    "earned": money(statement.earned_total, statement.currency),
                    "clawed_back": money(statement.clawed_back_total, statement.currency),
                    "adjustments": money(statement.adjustments_total, statement.currency),
                    "closing": money(statement.closing_amount, statement.currency),
                    "payable": money(statement.payable_amount, statement.currency),
                    "carried": money(statement.carried_forward, statement.currency),
                    "lines": statement.line_count,  # type: ignore[attr-defined]
                    "status": statement.get_status_display(),
                    "hold_reason": statement.hold_reason,
                    "blockers": statement.blockers,
                }
                for statement in statements
            ]
            totals = [
                {"currency": currency, "amount": money(amount, currency)}
                for currency, amount in plan.totals().items()
            ]
        return self.page(
            request,
            "admin/incentives/payoutperiod/period.html",
            _("Payout period %(period)s") % {"period": period},
            {
                "original": period,
                "rows": rows,
                "preview_error": preview_error,
                "payout_totals": totals,
                "can_export": has_capability(request, READ),
                "can_export_payout_file": has_capability(request, MANAGE),
                "has_view_permission": True,
            },
        )

    # --- exports of a closed period -------------------------------------------------------

    def _export(self, request, object_id, build) -> HttpResponse:
        """Run one export of the period; a refusal is a 403 (not allowed) or a
        message on the period's page (an open period)."""
        period = self.get_object(request, unquote(object_id))  # another tenant's: 404
        if not self.has_view_permission(request, period):
            raise PermissionDenied
        try:
            return build(period)
        except NotAllowed as exc:
            raise PermissionDenied(str(exc.message)) from exc
        except DomainError as exc:
            self.report_domain_error(request, exc)
            return redirect(self.console_url("change", period.pk))

    def statements_zip_view(self, request, object_id):
        """All statement PDFs of the period in a ZIP (``VIEW_MONEY``)."""

        def build(period):
            archive = exports.statements_zip(
                period=period, membership=request.membership, actor=request.user
            )
            return _download(archive, f"statements-{period.key}.zip", "application/zip")

        return self._export(request, object_id, build)

    def _payout_file(self, request, period):
        return exports.payout_file(period=period, membership=request.membership, actor=request.user)

    def payout_csv_view(self, request, object_id):
        """The payout file as CSV (``MANAGE_MONEY``: it holds bank details)."""

        def build(period):
            output = exports.payout_csv(self._payout_file(request, period))
            return _download(output, f"payouts-{period.key}.csv", "text/csv; charset=utf-8")

        return self._export(request, object_id, build)

    def payout_xlsx_view(self, request, object_id):
        """The payout file as XLSX (``MANAGE_MONEY``: it holds bank details)."""

        def build(period):
            output = exports.payout_xlsx(self._payout_file(request, period))
            return _download(
                output,
                f"payouts-{period.key}.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )

        return self._export(request, object_id, build)

    def journal_csv_view(self, request, object_id):
        """The per-currency journal of the period as CSV (``VIEW_MONEY``)."""

        def build(period):
            output = exports.journal_csv(
                period=period, membership=request.membership, actor=request.user
            )
            return _download(output, f"journal-{period.key}.csv", "text/csv; charset=utf-8")

        return self._export(request, object_id, build)

    # --- payment results ----------------------------------------------------------------------

    def results_template_view(self, request):
        self.require_manage(request)
        response = HttpResponse(
            payment_results.template_csv(), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = 'attachment; filename="payment-results.csv"'
        return response

    def payment_results_view(self, request, object_id):
        """Upload a payment results file → preview (errors per row) → confirm.
        Finance only (``MANAGE_MONEY``); an open period is refused."""
        period = self.get_object(request, unquote(object_id))  # another tenant's: 404
        self.require_manage(request)
        if period.is_open:
            self.message_user(
                request,
                _("This period is still open: payments are recorded for closed periods only."),
                messages.ERROR,
            )
            return redirect(self.console_url("change", period.pk))
        context: dict[str, Any] = {"original": period, "stage": "upload"}
        form = PaymentResultsForm()
        if request.method == "POST" and "payload" in request.POST:
            return self._import_results(request, period)
        if request.method == "POST":
            form = PaymentResultsForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    validation = payment_results.preview_payment_results(
                        period=period, membership=request.membership, data=upload.read()
                    )
                except payment_results.ImportFileError as exc:
                    for problem in exc.problems:
                        form.add_error("file", problem)
                except DomainError as exc:
                    form.add_error(None, str(exc.message))
                else:
                    filename = upload.name.replace("\\", "/").rsplit("/", 1)[-1][:200]
                    context.update(
                        self._preview_context(validation, filename),
                        stage="preview",
                        payload=signing.dumps(
                            {
                                "period": period.pk,
                                "filename": filename,
                                "text": validation.text,
                            },
                            salt=RESULTS_SALT,
                            compress=True,
                        )
                        if not validation.errors
                        else "",
                    )
        context["form"] = form
        return self._results_page(request, period, context)

    def _preview_context(self, validation, filename: str) -> dict[str, Any]:
        columns, rows = validation.preview()
        return {
            "filename": filename,
            "row_count": validation.row_count,
            "invalid_count": validation.invalid_count,
            "paid_count": len(validation.paid()),
            "failed_count": len(validation.failed()),
            "columns": columns,
            "preview_rows": rows,
            "errors": validation.errors,
        }

    def _import_results(self, request, period):
        try:
            payload = signing.loads(
                request.POST["payload"], salt=RESULTS_SALT, max_age=RESULTS_MAX_AGE
            )
        except signing.BadSignature:
            self.message_user(
                request,
                _("This preview has expired or was altered. Upload the file again."),
                messages.ERROR,
            )
            return redirect(self.console_url("payment_results", period.pk))
        if payload.get("period") != period.pk:
            raise PermissionDenied
        filename = payload.get("filename", "")
        try:
            report = payment_results.import_payment_results(
                period=period,
                membership=request.membership,
                actor=request.user,
                text=payload["text"],
                filename=filename,
            )
        except payment_results.PaymentResultsInvalid as exc:
            # The preview went stale (someone paid a statement meanwhile).
            validation = payment_results.validate_results(period=period, text=payload["text"])
            self.message_user(request, str(exc.message), messages.ERROR)
            context = {
                "original": period,
                "stage": "preview",
                "form": PaymentResultsForm(),
                "payload": "",
                **self._preview_context(validation, filename),
            }
            return self._results_page(request, period, context)
        except payment_results.ImportFileError as exc:
            self.report_domain_error(request, exc)
            return redirect(self.console_url("payment_results", period.pk))
        except DomainError as exc:
            self.report_domain_error(request, exc)
            return redirect(self.console_url("change", period.pk))
        self.message_user(
            request,
            _("Payment results imported: %(paid)s paid, %(failed)s failed.")
            % {"paid": len(report.paid), "failed": len(report.failed)},
            messages.SUCCESS if not report.failed else messages.WARNING,
        )
        context = {
            "original": period,
            "stage": "imported",
            "filename": filename,
            "paid": [self._report_row(row) for row in report.paid],
            "failed": [self._report_row(row) for row in report.failed],
        }
        return self._results_page(request, period, context)

    @staticmethod
    def _report_row(row) -> dict[str, Any]:
        statement = row.statement
        return {
            "statement": statement,
            "reference": row.reference,
            "provider_reference": row.provider_reference,
            "day": row.paid_on,
            "message": row.message,
            "amount": money(statement.payable_amount, statement.currency),
        }

    def _results_page(self, request, period, context: dict[str, Any]) -> TemplateResponse:
        return self.page(
            request,
            "admin/incentives/payoutperiod/payment_results.html",
            _("Import payment results: %(period)s") % {"period": period},
            {
                "columns_help": list(payment_results.iter_columns()),
                "max_rows": payment_results.MAX_ROWS,
                "max_bytes": payment_results.MAX_BYTES,
                **context,
            },
        )

    def open_current_view(self, request):
        self.require_manage(request)

        def perform(form):
            period = payouts.ensure_open_period(timezone.localdate())
            self.message_user(
                request, _("Period %(period)s is open.") % {"period": period}, messages.SUCCESS
            )
            return redirect(self.console_url("change", period.pk))

        return self.service_form_view(
            request,
            form_class=ConfirmForm,
            title=_("Open the current payout period"),
            perform=perform,
            submit_label=_("Open period"),
            intro=_("Creates this month's period if it does not exist yet."),
        )

    def minimum_view(self, request):
        self.require_manage(request)

        def perform(form):
            payouts.set_minimum_payout(
                membership=request.membership,
                actor=request.user,
                minimum_payout=form.cleaned_data["minimum_payout"],
            )
            self.message_user(request, _("The minimum payout is saved."), messages.SUCCESS)
            return redirect(self.console_url("changelist"))

        return self.service_form_view(
            request,
            form_class=MinimumPayoutForm,
            form_kwargs={"initial": {"minimum_payout": payouts.payout_settings().minimum_payout}},
            title=_("Minimum payout"),
            perform=perform,
            intro=_("Applies to the next periods you close, in each partner's payout currency."),
        )

    def close_view(self, request, object_id):
        period = self.get_object(request, unquote(object_id))
        self.require_manage(request)

        def perform(form) -> HttpResponse:
            try:
                payouts.close_period(
                    period=period, membership=request.membership, actor=request.user
                )
            except DomainError as exc:
                self.report_domain_error(request, exc)
                return redirect(self.console_url("change", period.pk))
            self.message_user(
                request,
                _("Period %(period)s is closed and its statements are written.")
                % {"period": period},
                messages.SUCCESS,
            )
            return redirect(self.console_url("change", period.pk))

        return self.service_form_view(
            request,
            form_class=ConfirmForm,
            title=_("Close payout period %(period)s?") % {"period": period},
            perform=perform,
            obj=period,
            submit_label=_("Close period"),
            intro=_(
                "Closing writes one statement per partner from the entries up to the period's "
                "last day. A closed period never changes: later entries go to the next period."
            ),
        )


@admin.register(Statement)
class StatementAdmin(PayoutConsoleMixin, ReadOnlyConsoleAdmin):
    view_capability = READ
    list_display = (
        "period",
        "partner",
        "currency",
        "closing",
        "payable",
        "carried",
        "status",
        "paid_on",
        "payment_reference",
    )
    list_filter = (
        ("period", admin.RelatedOnlyFieldListFilter),
        ("partner", admin.RelatedOnlyFieldListFilter),
        "status",
    )
    search_fields = ("partner__legal_name", "payment_reference")
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        return selectors.statements()

    @admin.display(description=_("closing balance"), ordering="closing_amount")
    def closing(self, obj: Statement) -> str:
        return money(obj.closing_amount, obj.currency)

    @admin.display(description=_("payable"), ordering="payable_amount")
    def payable(self, obj: Statement) -> str:
        return money(obj.payable_amount, obj.currency)

    @admin.display(description=_("carried forward"), ordering="carried_forward")
    def carried(self, obj: Statement) -> str:
        return money(obj.carried_forward, obj.currency)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/mark-paid/",
                view(self.mark_paid_view),
                name="{}_{}_mark_paid".format(*info),
            ),
            path(
                "<int:pk>/pdf/",
                view(statement_views.console_statement_pdf),
                name="{}_{}_pdf".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        statement = self.get_object(request, unquote(object_id))
        if not self.has_view_permission(request, statement):
            raise PermissionDenied
        currency = statement.currency
        lines = [
            {
                "line": line,
                "kind": Kind(line.kind).label if line.kind in Kind.values else line.kind,
                "original": money(line.original_amount, line.original_currency),
                "amount": money(line.amount, currency),
                "explanation": render_explanation(line.explanation),
            }
            for line in selectors.lines_of(statement)
        ]
        totals = {
            name: money(getattr(statement, name), currency)
            for name in (
                "opening_balance",
                "earned_total",
                "clawed_back_total",
                "adjustments_total",
                "closing_amount",
                "payable_amount",
                "carried_forward",
            )
        }
        failures = AuditEvent.objects.filter(
            action="payouts.payment_failed",
            object_type=Statement._meta.label_lower,
            object_id=str(statement.pk),
        ).order_by("-created_at", "-id")
        return self.page(
            request,
            "admin/incentives/statement/statement.html",
            str(statement),
            {
                "original": statement,
                "payout_reference": exports.payment_reference(statement),
                "failures": [
                    {
                        "when": event.created_at,
                        "on": parse_date(event.data.get("on") or ""),
                        "message": event.data.get("message", ""),
                        "provider_reference": event.data.get("provider_reference", ""),
                    }
                    for event in failures
                ],
                "lines": lines,
                "totals": totals,
                "payable": statement.status == Statement.Status.CLOSED
                and statement.payable_amount > 0,
                "has_view_permission": True,
            },
        )

    def mark_paid_view(self, request, object_id):
        statement = self.get_object(request, unquote(object_id))
        self.require_manage(request)

        def perform(form) -> HttpResponse:
            try:
                payouts.mark_paid(
                    statement=statement,
                    reference=form.cleaned_data["reference"],
                    paid_on=form.cleaned_data["paid_on"],
                    membership=request.membership,
                    actor=request.user,
                )
            except DomainError as exc:
                if exc.field:
                    raise
                self.report_domain_error(request, exc)
                return redirect(self.console_url("change", statement.pk))
            self.message_user(request, _("The statement is marked paid."), messages.SUCCESS)
            return redirect(self.console_url("change", statement.pk))

        return self.service_form_view(
            request,
            form_class=MarkPaidForm,
            form_kwargs={"initial": {"paid_on": timezone.localdate()}},
            title=_("Mark paid: %(statement)s") % {"statement": statement},
            perform=perform,
            obj=statement,
            submit_label=_("Mark paid"),
            intro=_(
                "Records the payment in the ledger (partner payable to cash) for %(amount)s "
                "%(currency)s."
            )
            % {
                "amount": money(statement.payable_amount, statement.currency),
                "currency": statement.currency,
            },
        )


@admin.register(Hold)
class HoldAdmin(ReadOnlyConsoleAdmin):
    view_capability = READ
    list_display = (
        "partner",
        "transaction",
        "reason",
        "created_at",
        "created_by",
        "released_at",
        "release_link",
    )
    list_filter = ("released_at",)
    search_fields = ("partner__legal_name", "reason")

    def get_queryset(self, request):
        return selectors.holds()

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if has_capability(request, MANAGE):
            return shown
        return tuple(name for name in shown if name != "release_link")

    @admin.display(description=_("release"))
    def release_link(self, obj: Hold) -> str:
        if obj.released_at is not None:
            return ""
        return format_html('<a href="{}">{}</a>', self.console_url("release", obj.pk), _("Release"))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("hold/", view(self.hold_view), name="{}_{}_hold".format(*info)),
            path(
                "<path:object_id>/release/",
                view(self.release_view),
                name="{}_{}_release".format(*info),
            ),
            *super().get_urls(),
        ]

    def hold_view(self, request):
        if not has_capability(request, MANAGE):
            raise PermissionDenied

        def perform(form) -> HttpResponse:
            try:
                created = payouts.hold(
                    partner=form.cleaned_data["partner"],
                    transaction=form.cleaned_data["transaction"],
                    reason=form.cleaned_data["reason"],
                    membership=request.membership,
                    actor=request.user,
                )
            except DomainError as exc:
                if exc.field:
                    raise
                self.report_domain_error(request, exc)
                return redirect(self.console_url("changelist"))
            self.message_user(
                request, _("%(hold)s recorded.") % {"hold": created}, messages.SUCCESS
            )
            return redirect(self.console_url("changelist"))

        return self.service_form_view(
            request,
            form_class=HoldForm,
            title=_("Hold a payout"),
            perform=perform,
            submit_label=_("Hold"),
            intro=_(
                "A held partner's statements pay nothing until released; a held earning stays "
                "off statements until released."
            ),
        )

    def release_view(self, request, object_id):
        held = self.get_object(request, unquote(object_id))
        if not has_capability(request, MANAGE):
            raise PermissionDenied

        def perform(form) -> HttpResponse:
            try:
                payouts.release(hold=held, membership=request.membership, actor=request.user)
            except DomainError as exc:
                self.report_domain_error(request, exc)
                return redirect(self.console_url("changelist"))
            self.message_user(request, _("The hold is released."), messages.SUCCESS)
            return redirect(self.console_url("changelist"))

        return self.service_form_view(
            request,
            form_class=ConfirmForm,
            title=_("Release %(hold)s?") % {"hold": held},
            perform=perform,
            obj=held,
            submit_label=_("Release"),
            intro=held.reason,
        )
