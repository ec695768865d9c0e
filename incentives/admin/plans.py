"""Console pages for commission plans and revenue events.

Tenant admins (``MANAGE_PROGRAM``) create plans and work their versions:
add, edit and delete rules on a draft, publish it with an effective date,
start a new draft from a published version (its rules copied), retire a
version. Finance (``VIEW_MONEY``) reads plans, versions and rules, and reads
the revenue events it records. Every change goes through
``incentives.services`` (which audit it); a published version's page is
read-only and its rule URLs refuse with a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils import formats
from django.utils.translation import gettext_lazy as _

from deals.models import Product
from incentives import selectors, services
from incentives.forms import (
    SERVICE_FIELDS,
    ConfirmForm,
    PlanForm,
    PublishForm,
    RetireForm,
    RuleForm,
)
from incentives.models import CommissionPlan, CommissionRule, PlanVersion, RevenueEvent, RuleKind
from prm.accounts.roles import Capability
from prm.console.admin_base import ConsoleModelAdmin, ReadOnlyConsoleAdmin, has_capability
from prm.errors import Conflict, DomainError

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MANAGE = Capability.MANAGE_PROGRAM
READ = (Capability.MANAGE_PROGRAM, Capability.VIEW_MONEY)
Status = PlanVersion.Status
BASE_PHRASES: dict[str, StrOrPromise] = {
    CommissionRule.Base.FIRST_YEAR_VALUE: _("the first-year contract value"),
    CommissionRule.Base.DEAL_AMOUNT: _("the deal amount"),
}


def localized(value: Decimal | str) -> str:
    """A number in the active locale, with only the decimals it has: 3.5000 → "3.5"."""
    number = Decimal(str(value)).normalize()
    places = max(0, -int(number.as_tuple().exponent))
    return formats.number_format(number, places, use_l10n=True, force_grouping=True)


def percent(value: Decimal | str | None) -> str:
    if value in (None, ""):
        return "—"
    return _("%(number)s%%") % {"number": localized(value)}


def short_date(value: date | str | None) -> str:
    if not value:
        return "…"
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return formats.date_format(value, "SHORT_DATE_FORMAT")


@dataclass
class RuleRow:
    rule: CommissionRule
    kind: StrOrPromise
    matches: list[str]
    pays: str
    dates: str


def describe_rule(rule: CommissionRule, products: dict[int, str]) -> RuleRow:
    """A rule in words, for the version page."""
    matches = []
    labelled = (
        (_("partner types"), rule.partner_type_keys),
        (_("tiers"), rule.tier_keys),
        (_("products"), [products.get(pk, str(pk)) for pk in rule.product_ids]),
        (_("product lines"), rule.product_lines),
        (_("countries"), rule.countries),
        (_("regions"), rule.regions),
        (_("deal types"), rule.deal_types),
    )
    for label, values in labelled:
        if values:
            matches.append(
                _("%(dimension)s: %(values)s")
                % {"dimension": label, "values": ", ".join(str(v) for v in values)}
            )
    if rule.registered != CommissionRule.Registered.ANY:
        matches.append(str(rule.get_registered_display()))
    if rule.co_sell_role != CommissionRule.CoSellRole.ANY:
        matches.append(str(rule.get_co_sell_role_display()))
    params = rule.parameters or {}
    if rule.kind == RuleKind.STEPPED_REBATE:
        bands = "; ".join(
            _("up to %(limit)s: %(rate)s")
            % {"limit": localized(b["up_to"]), "rate": percent(b["rate"])}
            if b.get("up_to")
            else _("above: %(rate)s") % {"rate": percent(b["rate"])}
            for b in params.get("bands", [])
        )
        mode = _("marginal") if params.get("mode") == "marginal" else _("retroactive")
        pays = _("%(mode)s rebate on the period's volume: %(bands)s") % {
            "mode": mode,
            "bands": bands,
        }
    elif rule.payout == CommissionRule.Payout.FIXED:
        pays = _("%(amount)s %(currency)s") % {
            "amount": formats.number_format(
                rule.fixed_amount or Decimal("0"), 2, force_grouping=True
            ),
            "currency": rule.currency or _("in the deal's currency"),
        }
    else:
        base = {
            RuleKind.REVENUE_SHARE: _("each invoice or usage charge"),
            RuleKind.RENEWAL_RATE_BONUS: _("the period's renewal volume"),
            RuleKind.USAGE_GROWTH_BONUS: _("the customer's usage growth"),
        }.get(RuleKind(rule.kind)) or BASE_PHRASES[rule.base]
        pays = _("%(rate)s of %(base)s") % {"rate": percent(rule.rate), "base": base}
    if params.get("threshold"):
        pays = _("%(pays)s, from %(threshold)s") % {
            "pays": pays,
            "threshold": percent(params["threshold"]),
        }
    if params.get("tier_key"):
        pays = _("%(pays)s, for partners in %(tier)s by %(date)s") % {
            "pays": pays,
            "tier": params["tier_key"],
            "date": short_date(params.get("reached_by")),
        }
    dates = _("%(start)s – %(end)s") % {
        "start": short_date(rule.starts_on),
        "end": short_date(rule.ends_on),
    }
    return RuleRow(rule, rule.get_kind_display(), matches, str(pays), str(dates))


@admin.register(CommissionPlan)
class CommissionPlanAdmin(ConsoleModelAdmin):
    view_capability = READ
    add_capability = MANAGE
    change_capability = delete_capability = None
    audited_by_service = True
    form = PlanForm
    list_display = ("name", "version_count", "has_draft")
    search_fields = ("name",)
    fields = ("name", "description")
    change_form_template = "admin/incentives/commissionplan/change_form.html"

    def get_queryset(self, request):
        return selectors.plans_for_console()

    @admin.display(description=_("versions"), ordering="version_count")
    def version_count(self, obj) -> int:
        return obj.version_count

    @admin.display(description=_("draft in progress"), boolean=True)
    def has_draft(self, obj) -> bool:
        return bool(obj.draft_count)

    def save_model(self, request, obj, form, change):
        plan = services.create_plan(
            membership=request.membership,
            actor=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data.get("description") or "",
        )
        self.adopt(obj, plan)

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request, _("Plan created with an empty draft: add its rules."), messages.SUCCESS
        )
        return redirect(self.console_url("change", obj.pk))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        plan = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "versions": list(selectors.versions_of(plan)),
        }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(PlanVersion)
class PlanVersionAdmin(ConsoleModelAdmin):
    view_capability = READ
    add_capability = change_capability = delete_capability = None
    audited_by_service = True
    list_display = ("plan", "number", "status", "effective_from", "published_at", "rule_count")
    list_filter = ("status", ("plan", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("plan",)
    fields = (
        "plan",
        "number",
        "status",
        "effective_from",
        "published_at",
        "published_by",
        "retired_on",
        "based_on",
    )
    readonly_fields = fields
    change_form_template = "admin/incentives/planversion/change_form.html"

    def get_queryset(self, request):
        from django.db.models import Count

        return (
            super()
            .get_queryset(request)
            .select_related("plan", "published_by", "based_on__plan")
            .annotate(rule_count=Count("rules"))
        )

    @admin.display(description=_("rules"), ordering="rule_count")
    def rule_count(self, obj) -> int:
        return obj.rule_count

    def can_manage(self, request) -> bool:
        return has_capability(request, MANAGE)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, unquote(object_id))
        rules = list(selectors.rules_of(version))
        product_ids = {pk for rule in rules for pk in rule.product_ids}
        products = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "name"))
        manage = self.can_manage(request)
        extra_context = {
            **(extra_context or {}),
            "rule_rows": [describe_rule(rule, products) for rule in rules],
            "can_edit_rules": manage and version.is_draft,
            "actions_allowed": manage,
            "is_draft": version.is_draft,
            "is_published": version.status == Status.PUBLISHED,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- workflow views -------------------------------------------------------------
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/rules/add/",
                view(self.add_rule_view),
                name="{}_{}_add_rule".format(*info),
            ),
            path(
                "<path:object_id>/rules/<int:rule_id>/",
                view(self.edit_rule_view),
                name="{}_{}_edit_rule".format(*info),
            ),
            path(
                "<path:object_id>/rules/<int:rule_id>/delete/",
                view(self.delete_rule_view),
                name="{}_{}_delete_rule".format(*info),
            ),
            path(
                "<path:object_id>/publish/",
                view(self.publish_view),
                name="{}_{}_publish".format(*info),
            ),
            path(
                "<path:object_id>/new-draft/",
                view(self.new_draft_view),
                name="{}_{}_new_draft".format(*info),
            ),
            path(
                "<path:object_id>/retire/",
                view(self.retire_view),
                name="{}_{}_retire".format(*info),
            ),
            *super().get_urls(),
        ]

    def _version(self, request, object_id) -> PlanVersion:
        version = self.get_object(request, unquote(object_id))  # another tenant's: 404
        if not self.can_manage(request):
            raise PermissionDenied
        return version

    def _rule(self, version: PlanVersion, rule_id: int) -> CommissionRule:
        rule = version.rules.filter(pk=rule_id).first()
        if rule is None:
            raise Http404(_("Commission rule not found."))
        return rule

    def _back(self, version: PlanVersion) -> HttpResponse:
        return redirect(self.console_url("change", version.pk))

    def _refuse_unless_draft(self, request, version: PlanVersion) -> HttpResponse | None:
        if version.is_draft:
            return None
        self.message_user(
            request,
            _("Version %(number)s is %(status)s: it cannot change. Start a new draft from it.")
            % {"number": version.number, "status": version.get_status_display()},
            messages.ERROR,
        )
        return self._back(version)

    @staticmethod
    def _on_rule_form(exc: DomainError) -> DomainError:
        field = SERVICE_FIELDS.get(exc.field or "", exc.field)
        return DomainError(exc.message, code=exc.code, field=field)

    def _rule_form_view(self, request, version, *, save, success, **form_view):
        """A rule form whose valid data ``save(data)`` hands to a service; a
        refusal on a field shows on the form, any other refusal as a message."""

        def perform(form):
            try:
                rule = save(form.service_data())
            except Conflict as exc:
                self.report_domain_error(request, exc)
                return self._back(version)
            except DomainError as exc:
                raise self._on_rule_form(exc) from exc
            self.message_user(request, success % {"name": rule.name}, messages.SUCCESS)
            return self._back(version)

        return self.service_form_view(
            request, form_class=RuleForm, perform=perform, obj=version, **form_view
        )

    def add_rule_view(self, request, object_id):
        version = self._version(request, object_id)
        refused = self._refuse_unless_draft(request, version)
        if refused:
            return refused
        return self._rule_form_view(
            request,
            version,
            save=lambda data: services.add_rule(
                version=version, membership=request.membership, actor=request.user, data=data
            ),
            success=_("Rule “%(name)s” added."),
            form_kwargs={
                "initial": {
                    "registered": CommissionRule.Registered.ANY,
                    "co_sell_role": CommissionRule.CoSellRole.ANY,
                }
            },
            title=_("Add a rule to %(version)s") % {"version": version},
            submit_label=_("Add rule"),
        )

    def edit_rule_view(self, request, object_id, rule_id):
        version = self._version(request, object_id)
        rule = self._rule(version, rule_id)
        refused = self._refuse_unless_draft(request, version)
        if refused:
            return refused
        return self._rule_form_view(
            request,
            version,
            save=lambda data: services.update_rule(
                rule=rule, membership=request.membership, actor=request.user, data=data
            ),
            success=_("Rule “%(name)s” saved."),
            form_kwargs={"initial": RuleForm.initial_from(rule)},
            title=_("Edit “%(rule)s”") % {"rule": rule.name},
        )

    def delete_rule_view(self, request, object_id, rule_id):
        version = self._version(request, object_id)
        rule = self._rule(version, rule_id)
        refused = self._refuse_unless_draft(request, version)
        if refused:
            return refused

        def perform(form):
            try:
                services.delete_rule(rule=rule, membership=request.membership, actor=request.user)
            except Conflict as exc:
                self.report_domain_error(request, exc)
                return self._back(version)
            self.message_user(
                request, _("Rule “%(name)s” deleted.") % {"name": rule.name}, messages.SUCCESS
            )
            return self._back(version)

        return self.service_form_view(
            request,
            form_class=ConfirmForm,
            title=_("Delete “%(rule)s”?") % {"rule": rule.name},
            perform=perform,
            obj=version,
            submit_label=_("Delete rule"),
        )

    def _lifecycle(self, request, version, *, action, form_class, title, label, intro, done):
        def perform(form):
            try:
                result = action(form)
            except Conflict as exc:
                self.report_domain_error(request, exc)
                return self._back(version)
            self.message_user(request, done % {"version": result}, messages.SUCCESS)
            return self._back(result)

        return self.service_form_view(
            request,
            form_class=form_class,
            title=title % {"version": version},
            perform=perform,
            obj=version,
            submit_label=label,
            intro=intro,
        )

    def publish_view(self, request, object_id):
        version = self._version(request, object_id)
        return self._lifecycle(
            request,
            version,
            action=lambda form: services.publish_version(
                version=version,
                membership=request.membership,
                actor=request.user,
                effective_from=form.cleaned_data["effective_from"],
            ),
            form_class=PublishForm,
            title=_("Publish %(version)s"),
            label=_("Publish"),
            intro=_("A published version can no longer change: later edits go into a new draft."),
            done=_("%(version)s is published."),
        )

    def new_draft_view(self, request, object_id):
        version = self._version(request, object_id)
        return self._lifecycle(
            request,
            version,
            action=lambda form: services.new_draft_from(
                version=version, membership=request.membership, actor=request.user
            ),
            form_class=ConfirmForm,
            title=_("New draft from %(version)s"),
            label=_("Create draft"),
            intro=_("The draft starts with a copy of this version's rules."),
            done=_("%(version)s created: edit its rules, then publish it."),
        )

    def retire_view(self, request, object_id):
        version = self._version(request, object_id)
        return self._lifecycle(
            request,
            version,
            action=lambda form: services.retire_version(
                version=version,
                membership=request.membership,
                actor=request.user,
                retired_on=form.cleaned_data["retired_on"],
            ),
            form_class=RetireForm,
            title=_("Retire %(version)s"),
            label=_("Retire"),
            intro=_("Earnings already computed under this version stay as they are."),
            done=_("%(version)s is retired."),
        )


@admin.register(RevenueEvent)
class RevenueEventAdmin(ReadOnlyConsoleAdmin):
    """Customer payments, refunds and usage charges imported for revenue shares."""

    view_capability = Capability.VIEW_MONEY
    list_display = (
        "external_id",
        "occurred_on",
        "partner",
        "customer_name",
        "kind",
        "amount",
        "currency",
    )
    list_filter = ("kind", "currency")
    search_fields = ("external_id", "customer_name")
    list_select_related = ("partner",)
    date_hierarchy = "occurred_on"
    change_list_template = "admin/incentives/revenue_import/change_list.html"

    def changelist_view(self, request, extra_context=None):
        # Finance imports a CSV file of events (incentives.admin.revenue_import).
        can_import = has_capability(request, Capability.MANAGE_MONEY)
        extra = {"can_import_revenue": can_import, **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_fields(self, request, obj=None) -> Any:
        return (
            "external_id",
            "partner",
            "deal",
            "customer_name",
            "kind",
            "amount",
            "currency",
            "occurred_on",
            "usage_quantity",
            "created_at",
            "created_by",
        )
