"""Console: the ledger, read-only, for finance and tenant admins.

Whoever holds ``VIEW_MONEY`` lists transactions (filters: partner, kind,
currency, period, source, date) and opens one to see its entries and its
explanation. Nobody adds, changes or deletes ledger rows here; the only write
is "Post an adjustment" (``MANAGE_MONEY``: finance), which goes through
``prm.ledger.services.post_adjustment`` and is audited there.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from prm.accounts.roles import Capability
from prm.console.admin_base import ReadOnlyConsoleAdmin, ReadOnlyConsoleInline, has_capability
from prm.ledger import selectors
from prm.ledger.forms import AdjustmentForm
from prm.ledger.models import LedgerEntry, LedgerTransaction
from prm.ledger.services import post_adjustment

DECIMAL_TEXT = re.compile(r"^-?\d+\.\d+$")
EXPLANATION_LABELS = {
    "base": _("Base"),
    "rate": _("Rate"),
    "tier": _("Tier"),
    "band": _("Band"),
    "split": _("Split"),
    "reason": _("Reason"),
    "amount": _("Amount"),
    "reverses": _("Reverses transaction"),
    "original": _("Original explanation"),
}


def render_explanation(value: Any) -> SafeString:
    """A nested explanation as nested definition lists (values escaped)."""
    if isinstance(value, dict):
        if not value:
            return format_html("{}", "—")
        return format_html(
            '<dl class="ledger-explanation">{}</dl>',
            format_html_join(
                "",
                "<dt>{}</dt><dd>{}</dd>",
                (
                    (EXPLANATION_LABELS.get(str(key), key), render_explanation(item))
                    for key, item in value.items()
                ),
            ),
        )
    if isinstance(value, list):
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}</li>", ((render_explanation(item),) for item in value)),
        )
    if isinstance(value, str) and DECIMAL_TEXT.match(value):
        # Decimals are stored as text (exact); show them in the reader's locale.
        return format_html("{}", number_format(Decimal(value), force_grouping=True))
    return format_html("{}", value)


class LedgerEntryInline(ReadOnlyConsoleInline):
    model = LedgerEntry
    template = "admin/ledger/ledgertransaction/entries_inline.html"
    fk_name = "transaction"
    view_capability = Capability.VIEW_MONEY
    fields = ("account", "debit_amount", "credit_amount", "currency")
    readonly_fields = fields
    verbose_name = _("entry")
    verbose_name_plural = _("entries")

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-amount", "id")

    @admin.display(description=_("debit"))
    def debit_amount(self, obj: LedgerEntry) -> str:
        return number_format(obj.debit, 2, force_grouping=True) if obj.debit else ""

    @admin.display(description=_("credit"))
    def credit_amount(self, obj: LedgerEntry) -> str:
        return number_format(obj.credit, 2, force_grouping=True) if obj.credit else ""


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyConsoleAdmin):
    view_capability = Capability.VIEW_MONEY
    list_display = (
        "id",
        "effective_date",
        "partner",
        "kind",
        "source",
        "amount",
        "currency",
        "period_key",
        "created_at",
    )
    list_display_links = ("id", "effective_date")
    list_filter = (
        "kind",
        "currency",
        ("partner", admin.RelatedFieldListFilter),
        "period_key",
        "source_type",
        "effective_date",
    )
    date_hierarchy = "effective_date"
    search_fields = ("idempotency_key", "memo", "partner__legal_name")
    list_per_page = 50
    show_full_result_count = False
    inlines = [LedgerEntryInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "partner",
                    "kind",
                    "source",
                    "amount",
                    "currency",
                    "effective_date",
                    "period_key",
                )
            },
        ),
        (_("Why"), {"fields": ("explanation_display", "memo", "rule_id", "plan_version_id")}),
        (
            _("Record"),
            {
                "fields": (
                    "reverses",
                    "reversed_by",
                    "idempotency_key",
                    "created_by",
                    "created_at",
                )
            },
        ),
    )
    readonly_fields = (
        "partner",
        "kind",
        "source",
        "amount",
        "currency",
        "effective_date",
        "period_key",
        "explanation_display",
        "memo",
        "rule_id",
        "plan_version_id",
        "reverses",
        "reversed_by",
        "idempotency_key",
        "created_by",
        "created_at",
    )

    def get_queryset(self, request):
        return selectors.transactions()

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        # One query for the reversals shown on the page instead of one per use.
        obj.reversal_list = list(obj.reversals.all())
        return obj

    @admin.display(description=_("source"), ordering="source_type")
    def source(self, obj: LedgerTransaction) -> str:
        if obj.source_id is None:
            return str(obj.get_source_type_display())
        return _("%(source)s #%(id)s") % {
            "source": obj.get_source_type_display(),
            "id": obj.source_id,
        }

    @admin.display(description=_("amount"), ordering="total")
    def amount(self, obj: LedgerTransaction) -> str:
        return number_format(obj.total, 2, force_grouping=True)  # type: ignore[attr-defined]

    @admin.display(description=_("explanation"))
    def explanation_display(self, obj: LedgerTransaction) -> SafeString:
        return render_explanation(obj.explanation)

    @admin.display(description=_("reversed by"))
    def reversed_by(self, obj: LedgerTransaction) -> SafeString:
        reversals = getattr(obj, "reversal_list", None)
        if not reversals:
            return format_html("{}", "—")
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((self.console_url("change", reversal.pk), reversal) for reversal in reversals),
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "adjust/",
                self.admin_site.admin_view(self.adjustment_view),
                name="{}_{}_adjust".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_post_adjustment": has_capability(request, Capability.MANAGE_MONEY),
        }
        return super().changelist_view(request, extra_context)

    def adjustment_view(self, request):
        if not has_capability(request, Capability.MANAGE_MONEY):
            raise PermissionDenied

        def perform(form):
            data = form.cleaned_data
            transaction = post_adjustment(
                membership=request.membership,
                actor=request.user,
                partner=data["partner"],
                currency=data["currency"],
                amount=data["amount"],
                reason=data["reason"],
                effective_date=data["effective_date"],
                key=form.idempotency_key(),
            )
            self.message_user(
                request,
                _("The adjustment was posted as %(transaction)s.") % {"transaction": transaction},
                messages.SUCCESS,
            )
            return redirect(self.console_url("change", transaction.pk))

        return self.service_form_view(
            request,
            form_class=AdjustmentForm,
            title=_("Post a manual adjustment"),
            perform=perform,
            submit_label=_("Post adjustment"),
            intro=_(
                "An adjustment is a new ledger transaction between adjustment expense and the "
                "partner's payable balance; nothing already posted changes."
            ),
        )
