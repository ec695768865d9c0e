"""Console pages for extension requests: the queue staff decide from.

Pending requests wait here oldest first, each with its deal, partner, the
protection window's current end, the days asked and the partner's reason; the
status filter opens the history (approved, denied, everything, newest first).
Channel managers and tenant admins approve or deny with a reason — a form that
calls ``deals.window.decide_extension``, which also notifies the partner —
and finance looks on read-only. Requests are never added, edited or deleted
here: partners ask in the portal, and a decision is final.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import formats
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from deals import window
from deals.models import ExtensionRequest
from prm.accounts.roles import Capability
from prm.console.admin_base import ConsoleModelAdmin, has_capability
from prm.errors import Conflict

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Status = ExtensionRequest.Status
DECIDE = Capability.MANAGE_PARTNERS


class StatusFilter(admin.SimpleListFilter):
    """Status, defaulting to "pending": the list opens as the queue."""

    title = _("status")
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*Status.choices, (self.ALL, _("All"))]

    def value(self):
        return super().value() or Status.PENDING

    def queryset(self, request, queryset):
        value = self.value()
        if value in Status.values:
            return queryset.filter(status=value)
        return queryset

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


def in_queue(request) -> bool:
    return request.GET.get(StatusFilter.parameter_name, Status.PENDING) == Status.PENDING


class ApproveForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Optional. The partner reads it with the decision in the portal."),
    )


class DenyForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("The partner reads it with the decision in the portal."),
    )


@admin.register(ExtensionRequest)
class ExtensionRequestAdmin(ConsoleModelAdmin):
    """The extension queue. Read-only for everyone; decisions are workflow views."""

    view_capability = Capability.VIEW_ALL_PARTNERS
    add_capability = change_capability = delete_capability = None
    audited_by_service = True

    list_display = (
        "deal_link",
        "partner_name",
        "window_end",
        "requested_days",
        "reason_excerpt",
        "requested_at",
        "status",
    )
    list_display_links = ("requested_at",)
    list_filter = (StatusFilter, ("deal__partner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("deal__reference", "deal__customer_company", "deal__partner__legal_name")
    list_select_related = ("deal__partner",)
    fields = (
        "deal_link",
        "partner_name",
        "customer",
        "deal_stage",
        "window_end",
        "protected_until_at_request",
        "requested_days",
        "reason",
        "requested_by",
        "requested_at",
        "status",
        "decided_by",
        "decided_at",
        "decision_reason",
    )
    readonly_fields = fields
    change_form_template = "admin/deals/extensionrequest/change_form.html"
    change_list_template = "admin/deals/extensionrequest/change_list.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("deal__partner", "requested_by", "decided_by")
        )

    def get_ordering(self, request):
        # The queue serves the longest-waiting first; the history shows the latest first.
        return ("requested_at", "id") if in_queue(request) else ("-requested_at", "-id")

    def can_decide(self, request) -> bool:
        return has_capability(request, DECIDE)

    # --- columns -----------------------------------------------------------------
    @admin.display(description=_("deal registration"), ordering="deal__reference")
    def deal_link(self, obj: ExtensionRequest) -> str:
        url = reverse("admin:deals_dealregistration_change", args=[obj.deal_id])
        return format_html(
            '<a href="{}">{}</a><br>{}', url, obj.deal.reference, obj.deal.customer_company
        )

    @admin.display(description=_("partner"), ordering="deal__partner__legal_name")
    def partner_name(self, obj: ExtensionRequest) -> str:
        return str(obj.deal.partner)

    @admin.display(description=_("customer company"))
    def customer(self, obj: ExtensionRequest) -> str:
        return obj.deal.customer_company

    @admin.display(description=_("stage"))
    def deal_stage(self, obj: ExtensionRequest) -> str:
        return str(obj.deal.get_stage_display())

    @admin.display(description=_("protected until (now)"), ordering="deal__protected_until")
    def window_end(self, obj: ExtensionRequest) -> str:
        until = obj.deal.protected_until
        return formats.date_format(until, "SHORT_DATE_FORMAT") if until else "—"

    @admin.display(description=_("reason"))
    def reason_excerpt(self, obj: ExtensionRequest) -> str:
        return Truncator(obj.reason).chars(120)

    # --- pages ---------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        queue = in_queue(request)
        extra_context = {
            "title": _("Extension requests waiting for a decision")
            if queue
            else _("Extension requests"),
            "in_queue": queue,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extension = self.get_object(request, unquote(object_id))
        actions: list[tuple[str, StrOrPromise]] = []
        if self.can_decide(request) and extension.status == Status.PENDING:
            actions = [
                (self.console_url("approve", extension.pk), _("Approve")),
                (self.console_url("deny", extension.pk), _("Deny")),
            ]
        extra_context = {"decision_actions": actions, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- workflow views -------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/approve/",
                view(self.approve_view),
                name="{}_{}_approve".format(*info),
            ),
            path(
                "<path:object_id>/deny/",
                view(self.deny_view),
                name="{}_{}_deny".format(*info),
            ),
            *super().get_urls(),
        ]

    def approve_view(self, request, object_id):
        return self.decide_view(request, object_id, approve=True)

    def deny_view(self, request, object_id):
        return self.decide_view(request, object_id, approve=False)

    def decide_view(self, request, object_id, *, approve: bool):
        extension = self.get_object(request, unquote(object_id))  # another tenant's: 404
        if not self.can_decide(request):
            raise PermissionDenied
        change_url = self.console_url("change", extension.pk)
        if extension.status != Status.PENDING:
            self.message_user(
                request, _("This extension request has already been decided."), messages.ERROR
            )
            return redirect(change_url)
        deal = extension.deal
        names = {
            "deal": deal.reference,
            "days": extension.requested_days,
            "partner": deal.partner,
        }

        def perform(form):
            try:
                decided = window.decide_extension(
                    request=extension,
                    membership=request.membership,
                    actor=request.user,
                    approve=approve,
                    reason=form.cleaned_data["reason"],
                )
            except Conflict as exc:
                self.report_domain_error(request, exc)
                return redirect(change_url)
            if decided.status == Status.APPROVED and deal.protected_until is not None:
                message = _(
                    "%(deal)s: extension approved, protected until %(date)s. "
                    "The partner is notified."
                ) % {
                    "deal": deal.reference,
                    "date": self._after(deal.protected_until, decided.requested_days),
                }
            else:
                message = _("%(deal)s: extension denied. The partner is notified.") % {
                    "deal": deal.reference
                }
            self.message_user(request, message, messages.SUCCESS)
            return redirect(self.console_url("changelist"))

        days = extension.requested_days
        if approve:
            title = (
                ngettext(
                    "Approve %(days)d more day for %(deal)s",
                    "Approve %(days)d more days for %(deal)s",
                    days,
                )
                % names
            )
            intro = self._approve_intro(extension)
        else:
            title = (
                ngettext(
                    "Deny %(days)d more day for %(deal)s",
                    "Deny %(days)d more days for %(deal)s",
                    days,
                )
                % names
            )
            intro = (
                ngettext(
                    "%(partner)s asked for %(days)d more day. "
                    "Denying keeps the protection as it is.",
                    "%(partner)s asked for %(days)d more days. "
                    "Denying keeps the protection as it is.",
                    days,
                )
                % names
            )
        return self.service_form_view(
            request,
            form_class=ApproveForm if approve else DenyForm,
            title=title,
            perform=perform,
            obj=extension,
            submit_label=_("Approve") if approve else _("Deny"),
            intro=intro,
        )

    @staticmethod
    def _after(until: date, days: int) -> str:
        return formats.date_format(until + timedelta(days=days), "SHORT_DATE_FORMAT")

    def _approve_intro(self, extension: ExtensionRequest) -> StrOrPromise:
        until = extension.deal.protected_until
        if until is None:
            return _("This registration is no longer protected: it cannot be extended.")
        return _(
            "Approving moves the end of the protection of %(deal)s from %(before)s to %(after)s."
        ) % {
            "deal": extension.deal.reference,
            "before": formats.date_format(until, "SHORT_DATE_FORMAT"),
            "after": self._after(until, extension.requested_days),
        }
