"""Console registrations for deal registration: the review queue.

Channel managers and tenant admins work the review queue (submitted
registrations, oldest first); finance looks on read-only. Registrations are
never edited here — partners own their data — the change page puts the
registration and every match side by side, with the timeline, comments and
decisions, and every decision, comment or reversal is a form that calls
``deals.services``. The page's words and rows come from
``deals.admin.review_display``, its forms and the four decisions from
``deals.admin.review_forms``; the program's settings and the vendor's book
are in ``deals.admin.program``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from deals import services
from deals.admin.review_display import (
    EVENT_LABELS,
    DecisionRow,
    EventRow,
    MatchRow,
    percent,
    reason_label,
    share_percent,
    stage_label,
)
from deals.admin.review_forms import (
    DECISIONS,
    DECISIONS_BY_SLUG,
    CommentForm,
    DecisionAction,
    ReversalForm,
)
from deals.models import Account, DealLine, DealMatch, DealRegistration, Decision, ExtensionRequest
from prm.accounts.roles import Capability
from prm.console.admin_base import ConsoleModelAdmin, ReadOnlyConsoleInline, has_capability
from prm.errors import Conflict

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Stage = DealRegistration.Stage
Outcome = Decision.Outcome
DECIDE = Capability.MANAGE_PARTNERS


# --- the review queue ---------------------------------------------------------


class StageFilter(admin.SimpleListFilter):
    """Stage, defaulting to "submitted": the list opens as the review queue."""

    title = _("stage")
    parameter_name = "stage"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [(self.ALL, _("All")), *Stage.choices]

    def value(self):
        return super().value() or Stage.SUBMITTED

    def queryset(self, request, queryset):
        value = self.value()
        if value in Stage.values:
            return queryset.filter(stage=value)
        return queryset

    def choices(self, changelist):
        facets = self.get_facet_queryset(changelist) if changelist.add_facets else {}
        for index, (lookup, title) in enumerate(self.lookup_choices):
            count = facets.get(f"{index}__c")
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title if count is None else f"{title} ({count})",
            }


class DealLineInline(ReadOnlyConsoleInline):
    model = DealLine
    view_capability = Capability.VIEW_ALL_PARTNERS
    fields = ("product_name", "quantity", "amount")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    @admin.display(description=_("product"))
    def product_name(self, obj) -> str:
        return obj.product.name


@admin.register(DealRegistration)
class DealRegistrationAdmin(ConsoleModelAdmin):
    """The review queue. Read-only for everyone; decisions are workflow views."""

    view_capability = Capability.VIEW_ALL_PARTNERS
    add_capability = change_capability = delete_capability = None
    audited_by_service = True

    list_display = (
        "reference",
        "customer_company",
        "partner",
        "submitted_at",
        "stage",
        "is_conflict",
        "match_count",
    )
    list_filter = (
        StageFilter,
        "is_conflict",
        ("partner", admin.RelatedOnlyFieldListFilter),
        "country",
    )
    search_fields = ("reference", "customer_company", "contact_email")
    list_select_related = ("partner",)
    ordering = ("submitted_at", "id")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "reference",
                    "partner",
                    "registered_by",
                    "stage",
                    "is_conflict",
                    "submitted_at",
                    "approved_at",
                    "protected_until",
                    "partner_share",
                )
            },
        ),
        (
            _("Customer"),
            {
                "fields": (
                    "customer_company",
                    "contact_name",
                    "contact_email",
                    "website",
                    "country",
                    "region",
                    "industry",
                    "company_size",
                )
            },
        ),
        (
            _("Deal"),
            {
                "fields": (
                    "deal_type",
                    "estimated_close_date",
                    "estimated_amount",
                    "currency",
                    "notes",
                )
            },
        ),
        (
            _("Closing"),
            {
                "fields": (
                    "final_amount",
                    "closed_on",
                    "contract_term_months",
                    "reversed_at",
                    "reversal_reason",
                )
            },
        ),
    )
    readonly_fields = flatten_fieldsets(fieldsets)
    inlines = [DealLineInline]
    change_form_template = "admin/deals/dealregistration/change_form.html"
    change_list_template = "admin/deals/dealregistration/change_list.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("partner", "registered_by")
            .annotate(match_count=Count("matches"))
        )

    @admin.display(description=_("matches"), ordering="match_count")
    def match_count(self, obj) -> int:
        return obj.match_count

    def can_decide(self, request) -> bool:
        return has_capability(request, DECIDE)

    # --- pages ---------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        in_queue = request.GET.get(StageFilter.parameter_name, Stage.SUBMITTED) == Stage.SUBMITTED
        extra_context = {
            "title": _("Review queue") if in_queue else _("Deal registrations"),
            "in_queue": in_queue,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.review_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def review_context(self, request, deal: DealRegistration) -> dict[str, Any]:
        """Everything the review panels show, in a fixed number of queries."""
        matches = list(
            deal.matches.select_related("other_deal__partner", "account").order_by(
                "-confidence", "id"
            )
        )
        decisions = list(
            deal.decisions.select_related("decided_by", "appealed_by").order_by(
                "-decided_at", "-id"
            )
        )
        can_decide = self.can_decide(request)
        pending = deal.extension_requests.filter(status=ExtensionRequest.Status.PENDING).first()
        actions = []
        if can_decide and deal.stage == Stage.SUBMITTED:
            actions = [(self.console_url(a.slug, deal.pk), a.label) for a in DECISIONS]
        return {
            "match_rows": [
                MatchRow(m, [reason_label(r) for r in m.reasons], percent(m.confidence))
                for m in matches
            ],
            "decision_rows": self.decision_rows(decisions, matches),
            "events": [
                EventRow(
                    event,
                    EVENT_LABELS.get(event.kind, event.kind),
                    stage_label(event.from_stage),
                    stage_label(event.to_stage),
                )
                for event in deal.events.select_related("actor").order_by("created_at", "id")
            ],
            "comments": list(deal.comments.select_related("author").order_by("created_at", "id")),
            "can_decide": can_decide,
            "decision_actions": actions,
            "can_reverse": can_decide
            and deal.stage == Stage.CLOSED_WON
            and deal.reversed_at is None,
            "comment_form": CommentForm() if can_decide else None,
            "comment_url": self.console_url("comment", deal.pk),
            "reverse_url": self.console_url("reverse", deal.pk),
            "pending_extension_url": reverse(
                "admin:deals_extensionrequest_change",
                args=[pending.pk],
                current_app=self.admin_site.name,
            )
            if pending
            else "",
        }

    @staticmethod
    def decision_rows(decisions: list[Decision], matches: list[DealMatch]) -> list[DecisionRow]:
        """Each decision with the matches it considered, named. They are normally
        the registration's current matches (already loaded); only records that
        no longer match are looked up, in at most two queries."""
        deals = {m.other_deal_id: m.other_deal for m in matches if m.other_deal is not None}
        accounts = {m.account_id: m.account for m in matches if m.account is not None}
        considered = [item for d in decisions for item in d.matches_considered]
        missing_deals = {c["deal"] for c in considered if c.get("deal") and c["deal"] not in deals}
        missing_accounts = {
            c["account"] for c in considered if c.get("account") and c["account"] not in accounts
        }
        if missing_deals:
            deals.update(DealRegistration.objects.select_related("partner").in_bulk(missing_deals))
        if missing_accounts:
            accounts.update(Account.objects.in_bulk(missing_accounts))
        rows = []
        for decision in decisions:
            names = []
            for item in decision.matches_considered:
                other = deals.get(item.get("deal"))
                account = accounts.get(item.get("account"))
                if other is not None:
                    target = _("%(reference)s of %(partner)s") % {
                        "reference": other.reference,
                        "partner": other.partner,
                    }
                elif account is not None:
                    target = _("%(account)s (%(kind)s)") % {
                        "account": account.name,
                        "kind": account.get_kind_display(),
                    }
                else:
                    target = str(_("a record that no longer exists"))
                names.append(
                    _("%(target)s, confidence %(confidence)s")
                    % {"target": target, "confidence": percent(item.get("confidence"))}
                )
            rows.append(DecisionRow(decision, names))
        return rows

    # --- workflow views -------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view

        def decide(slug: str) -> Callable[..., HttpResponse]:
            def decide_slug(request, object_id):
                return self.decide_view(request, object_id, DECISIONS_BY_SLUG[slug])

            return decide_slug

        decision_urls = [
            path(
                f"<path:object_id>/{action.slug}/",
                view(decide(action.slug)),
                name="{}_{}_{}".format(*info, action.slug),
            )
            for action in DECISIONS
        ]
        return [
            *decision_urls,
            path(
                "<path:object_id>/comment/",
                view(self.comment_view),
                name="{}_{}_comment".format(*info),
            ),
            path(
                "<path:object_id>/reverse/",
                view(self.reverse_view),
                name="{}_{}_reverse".format(*info),
            ),
            *super().get_urls(),
        ]

    def _deal_for_workflow(self, request, object_id) -> DealRegistration:
        deal = self.get_object(request, unquote(object_id))  # another tenant's: 404
        if not self.can_decide(request):
            raise PermissionDenied
        return deal

    def _refused(self, request, exc: Conflict, deal: DealRegistration) -> HttpResponse:
        self.report_domain_error(request, exc)
        return redirect(self.console_url("change", deal.pk))

    def decide_view(self, request, object_id, action: DecisionAction):
        deal = self._deal_for_workflow(request, object_id)

        def perform(form):
            try:
                decision = services.decide_registration(
                    deal=deal,
                    membership=request.membership,
                    actor=request.user,
                    outcome=action.outcome,
                    reason=form.cleaned_data["reason"],
                    partner_share=form.cleaned_data.get("partner_share"),
                )
            except Conflict as exc:
                return self._refused(request, exc, deal)
            self.message_user(
                request,
                _("%(deal)s: %(outcome)s. The partners affected can read the decision.")
                % {"deal": deal.reference, "outcome": decision.get_outcome_display()},
                messages.SUCCESS,
            )
            return redirect(self.console_url("change", deal.pk))

        form_kwargs: dict[str, Any] = {}
        intro = action.intro
        if action.outcome == Outcome.CO_SELL:
            rules = services.program()
            form_kwargs["initial"] = {"partner_share": rules.partner_sourced_partner_share}
            intro = _(
                "The commission is split between the partner and direct sales. Program "
                "defaults: %(partner_sourced)s to the partner when partner-sourced, "
                "%(direct_sourced)s when direct-sourced."
            ) % {
                "partner_sourced": share_percent(rules.partner_sourced_partner_share),
                "direct_sourced": share_percent(rules.direct_sourced_partner_share),
            }
        elif action.outcome == Outcome.AWARDED_FIRST:
            intro = self.first_registrant_intro(deal)
        return self.service_form_view(
            request,
            form_class=action.form_class,
            form_kwargs=form_kwargs,
            title=action.title % {"deal": deal.reference},
            perform=perform,
            obj=deal,
            submit_label=action.label,
            intro=intro,
        )

    @staticmethod
    def first_registrant_intro(deal: DealRegistration) -> StrOrPromise:
        """Who registered first among this registration and the ones it matches."""
        others = [
            m.other_deal
            for m in deal.matches.select_related("other_deal__partner")
            if m.other_deal is not None
        ]
        first = min([deal, *others], key=lambda d: (d.submitted_at, d.pk))
        if first.pk == deal.pk:
            return _("This registration was submitted first: awarding approves it.")
        return _(
            "%(reference)s of %(partner)s was submitted first, on %(date)s: awarding "
            "rejects this registration."
        ) % {
            "reference": first.reference,
            "partner": first.partner,
            "date": formats.date_format(
                timezone.localtime(first.submitted_at), "SHORT_DATETIME_FORMAT"
            ),
        }

    def comment_view(self, request, object_id):
        deal = self._deal_for_workflow(request, object_id)

        def perform(form):
            services.add_comment(
                deal=deal,
                membership=request.membership,
                actor=request.user,
                body=form.cleaned_data["body"],
            )
            self.message_user(request, _("Comment added."), messages.SUCCESS)
            return redirect(self.console_url("change", deal.pk) + "#comments")

        return self.service_form_view(
            request,
            form_class=CommentForm,
            title=_("Comment on %(deal)s") % {"deal": deal.reference},
            perform=perform,
            obj=deal,
            submit_label=_("Add comment"),
        )

    def reverse_view(self, request, object_id):
        deal = self._deal_for_workflow(request, object_id)

        def perform(form):
            try:
                services.reverse_closed_won(
                    deal=deal,
                    membership=request.membership,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except Conflict as exc:
                return self._refused(request, exc, deal)
            self.message_user(
                request,
                _("%(deal)s is reversed.") % {"deal": deal.reference},
                messages.SUCCESS,
            )
            return redirect(self.console_url("change", deal.pk))

        return self.service_form_view(
            request,
            form_class=ReversalForm,
            title=_("Reverse closed-won %(deal)s") % {"deal": deal.reference},
            perform=perform,
            obj=deal,
            submit_label=_("Reverse"),
            intro=_("Record a refund or cancellation of this closed-won deal, with the reason."),
        )
