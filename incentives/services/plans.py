"""Writes for commission plans: plans, draft rules, the version lifecycle and
the default plan seed.

Who may do what: a tenant admin configures plans (``Capability.MANAGE_PROGRAM``:
create a plan, edit a draft's rules, publish, start a new draft, retire);
finance only reads them (``VIEW_MONEY``, in the console).

Guarantees:

* every change runs in one transaction, locks the version it touches and
  writes an audit row;
* only a draft's rules change; a published version is immutable (the
  database refuses it too, see migration 0002) — editing a published plan
  means ``new_draft_from(version)``, which copies its rules;
* a version is published with at least one rule, no two rules that would tie
  (same exclusive kind group, priority and matching, overlapping dates), and
  an effective date after every earlier version of the plan (and not in the
  past once the plan has one: earnings already computed keep their version);
* ``ensure_default_plan`` is idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext as _

from deals.models import DealRegistration, Product
from incentives.engine import RuleError, RuleSpec, check_rule, parse_parameters
from incentives.models import (
    RULE_FIELDS,
    CommissionPlan,
    CommissionRule,
    PlanVersion,
    RuleKind,
)
from partners.defaults import DEFAULT_TIERS
from partners.models import PartnerType, Tier
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied

Status = PlanVersion.Status
DEFAULT_PLAN_NAME = gettext_noop("Standard commission")
DEFAULT_PLAN_DESCRIPTION = gettext_noop("Tier-based commission on first-year contract value.")
# Early enough that the default plan covers every historic deal of a new tenant.
DEFAULT_PLAN_EFFECTIVE_FROM = date(2020, 1, 1)

LIST_FIELDS = (
    "partner_type_keys",
    "tier_keys",
    "product_ids",
    "product_lines",
    "countries",
    "regions",
    "deal_types",
)
# Two rules "tie" when all of these are equal (and their dates overlap).
MATCH_FIELDS = (
    "priority",
    "partner_type_keys",
    "tier_keys",
    "product_ids",
    "product_lines",
    "countries",
    "regions",
    "deal_types",
    "registered",
    "co_sell_role",
)


def _require_program_manager(membership) -> None:
    if not can(membership, Capability.MANAGE_PROGRAM):
        raise PermissionDenied()


def _locked_version(version: PlanVersion) -> PlanVersion:
    return PlanVersion.objects.select_for_update().select_related("plan").get(pk=version.pk)


def _require_draft(version: PlanVersion) -> None:
    if version.status != Status.DRAFT:
        raise Conflict(
            _("Version %(number)s is %(status)s: it cannot change. Start a new draft from it.")
            % {"number": version.number, "status": version.get_status_display()},
            code="version_not_draft",
        )


# --- plans ------------------------------------------------------------------------


def create_plan(*, membership, actor, name: str, description: str = "") -> CommissionPlan:
    """A new plan with an empty draft, version 1."""
    _require_program_manager(membership)
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Name the plan."), field="name")
    with transaction.atomic():
        if CommissionPlan.objects.filter(name=name).exists():
            raise DomainError(_("A plan with this name already exists."), field="name")
        try:
            with transaction.atomic():
                plan = CommissionPlan.objects.create(name=name, description=description.strip())
        except IntegrityError:
            raise DomainError(_("A plan with this name already exists."), field="name") from None
        PlanVersion.objects.create(plan=plan, number=1)
        record(actor=actor, action="incentives.plan_created", target=plan, summary=name)
    return plan


# --- rules ------------------------------------------------------------------------


def _clean_rule_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise and check a rule's fields; raise DomainError on the culprit field."""
    values: dict[str, Any] = {name: data[name] for name in RULE_FIELDS if name in data}
    unknown = set(data) - set(RULE_FIELDS)
    if unknown:
        raise DomainError(_("Unknown rule settings: %(names)s.") % {"names": ", ".join(unknown)})
    values["name"] = (values.get("name") or "").strip()
    if not values["name"]:
        raise DomainError(_("Name the rule."), field="name")
    if values.get("kind") not in RuleKind.values:
        raise DomainError(_("Choose the kind of rule."), field="kind")
    for name in LIST_FIELDS:
        values[name] = list(dict.fromkeys(values.get(name) or []))
    values["countries"] = [c.strip().upper() for c in values["countries"]]
    if any(len(c) != 2 or not c.isalpha() for c in values["countries"]):
        raise DomainError(_("Use two-letter country codes, e.g. MY, SG."), field="countries")
    bad_types = set(values["deal_types"]) - set(DealRegistration.DealType.values)
    if bad_types:
        raise DomainError(
            _("Unknown deal type: %(values)s.") % {"values": ", ".join(sorted(bad_types))},
            field="deal_types",
        )
    known: dict[str, set[Any]] = {
        "partner_type_keys": set(
            PartnerType.objects.filter(key__in=values["partner_type_keys"]).values_list(
                "key", flat=True
            )
        ),
        "tier_keys": set(
            Tier.objects.filter(key__in=values["tier_keys"]).values_list("key", flat=True)
        ),
        "product_ids": set(
            Product.objects.filter(pk__in=values["product_ids"]).values_list("pk", flat=True)
        ),
    }
    for name, found in known.items():
        missing = [str(v) for v in values[name] if v not in found]
        if missing:
            raise DomainError(
                _("Not in the catalogue: %(values)s.") % {"values": ", ".join(missing)},
                field=name,
            )
    for name in ("rate", "fixed_amount"):
        if values.get(name) in ("", None):
            values[name] = None
        else:
            try:
                values[name] = Decimal(str(values[name]))
            except InvalidOperation:
                raise DomainError(_("Enter a number."), field=name) from None
    currency = values.get("currency") or ""
    if currency and currency not in settings.CURRENCIES:
        raise DomainError(_("Choose a supported currency."), field="currency")
    values["currency"] = currency
    values.setdefault("priority", 0)
    values["priority"] = int(values["priority"] or 0)
    values.setdefault("registered", CommissionRule.Registered.ANY)
    values.setdefault("co_sell_role", CommissionRule.CoSellRole.ANY)
    values.setdefault("payout", CommissionRule.Payout.PERCENTAGE)
    values["base"] = values.get("base") or CommissionRule.Base.FIRST_YEAR_VALUE
    parameters = dict(values.get("parameters") or {})
    values["parameters"] = parameters
    try:
        params = parse_parameters(values["kind"], parameters)
        check_rule(
            RuleSpec(
                id=0,
                version_id=0,
                name=values["name"],
                kind=values["kind"],
                priority=values["priority"],
                starts_on=values.get("starts_on"),
                ends_on=values.get("ends_on"),
                product_ids=frozenset(values["product_ids"]),
                product_lines=frozenset(values["product_lines"]),
                deal_types=frozenset(values["deal_types"]),
                registered=values["registered"],
                co_sell_role=values["co_sell_role"],
                payout=values["payout"],
                rate=values["rate"],
                base=values["base"],
                fixed_amount=values["fixed_amount"],
                currency=currency,
                params=params,
            )
        )
    except RuleError as exc:
        raise DomainError(exc.message, field=exc.field) from None
    if values["payout"] == CommissionRule.Payout.FIXED:
        values["rate"] = None
    else:
        values["fixed_amount"] = None
    return values


def add_rule(*, version: PlanVersion, membership, actor, data: Mapping[str, Any]) -> CommissionRule:
    _require_program_manager(membership)
    values = _clean_rule_data(data)
    with transaction.atomic():
        locked = _locked_version(version)
        _require_draft(locked)
        rule = CommissionRule.objects.create(version=locked, **values)
        record(
            actor=actor,
            action="incentives.rule_added",
            target=rule,
            summary=f"{locked}: {rule.name}",
            data={"version": locked.pk, "kind": rule.kind},
        )
    return rule


def update_rule(
    *, rule: CommissionRule, membership, actor, data: Mapping[str, Any]
) -> CommissionRule:
    _require_program_manager(membership)
    values = _clean_rule_data(data)
    with transaction.atomic():
        locked = _locked_version(rule.version)
        _require_draft(locked)
        current = CommissionRule.objects.select_for_update().get(pk=rule.pk)
        changes = {
            name: str(value) for name, value in values.items() if getattr(current, name) != value
        }
        for name, value in values.items():
            setattr(current, name, value)
        current.save()
        record(
            actor=actor,
            action="incentives.rule_changed",
            target=current,
            summary=f"{locked}: {current.name}",
            data={"version": locked.pk, "changes": changes},
        )
    return current


def delete_rule(*, rule: CommissionRule, membership, actor) -> None:
    _require_program_manager(membership)
    with transaction.atomic():
        locked = _locked_version(rule.version)
        _require_draft(locked)
        record(
            actor=actor,
            action="incentives.rule_deleted",
            target=rule,
            summary=f"{locked}: {rule.name}",
            data={"version": locked.pk, "kind": rule.kind},
        )
        CommissionRule.objects.filter(pk=rule.pk).delete()


# --- the version lifecycle ---------------------------------------------------------


def _overlaps(a: CommissionRule, b: CommissionRule) -> bool:
    a_start, b_start = a.starts_on or date.min, b.starts_on or date.min
    a_end, b_end = a.ends_on or date.max, b.ends_on or date.max
    return a_start <= b_end and b_start <= a_end


def _ties(rules: list[CommissionRule]) -> tuple[CommissionRule, CommissionRule] | None:
    """Two rules the priority policy could only separate by age: same exclusive
    group, same priority and matching, overlapping dates."""
    from incentives.engine import KIND_GROUP

    for index, first in enumerate(rules):
        for second in rules[index + 1 :]:
            group = KIND_GROUP[first.kind]
            if not group or group != KIND_GROUP[second.kind]:
                continue
            same = all(
                (
                    sorted(getattr(first, f))
                    if isinstance(getattr(first, f), list)
                    else getattr(first, f)
                )
                == (
                    sorted(getattr(second, f))
                    if isinstance(getattr(second, f), list)
                    else getattr(second, f)
                )
                for f in MATCH_FIELDS
            )
            if same and _overlaps(first, second):
                return first, second
    return None


def _mark_published(version: PlanVersion, *, effective_from: date, actor) -> None:
    version.status = Status.PUBLISHED
    version.effective_from = effective_from
    version.published_at = timezone.now()
    version.published_by = actor if getattr(actor, "pk", None) else None
    version.save()


def publish_version(
    *,
    version: PlanVersion,
    membership,
    actor,
    effective_from: date,
    today: date | None = None,
) -> PlanVersion:
    _require_program_manager(membership)
    today = today or timezone.localdate()
    if effective_from is None:
        raise DomainError(_("Enter the date the version takes effect."), field="effective_from")
    with transaction.atomic():
        locked = _locked_version(version)
        _require_draft(locked)
        earlier = (
            PlanVersion.objects.filter(plan_id=locked.plan_id)
            .exclude(status=Status.DRAFT)
            .aggregate(latest=Max("effective_from"))["latest"]
        )
        if earlier is not None and effective_from <= earlier:
            raise DomainError(
                _("The version must take effect after %(date)s, when the previous one did.")
                % {"date": earlier.isoformat()},
                field="effective_from",
            )
        if earlier is not None and effective_from < today:
            raise DomainError(
                _("A new version cannot take effect in the past."), field="effective_from"
            )
        rules = list(locked.rules.order_by("id"))
        if not rules:
            raise DomainError(_("Add at least one rule before publishing."))
        tie = _ties(rules)
        if tie is not None:
            raise DomainError(
                _(
                    "“%(first)s” and “%(second)s” match the same deals with the same "
                    "priority: change one's priority, matching or dates."
                )
                % {"first": tie[0].name, "second": tie[1].name}
            )
        _mark_published(locked, effective_from=effective_from, actor=actor)
        record(
            actor=actor,
            action="incentives.version_published",
            target=locked,
            summary=str(locked),
            data={"effective_from": effective_from.isoformat(), "rules": len(rules)},
        )
    return locked


def new_draft_from(*, version: PlanVersion, membership, actor) -> PlanVersion:
    """A new draft of the plan, with a copy of ``version``'s rules."""
    _require_program_manager(membership)
    with transaction.atomic():
        source = _locked_version(version)
        plan = CommissionPlan.objects.select_for_update().get(pk=source.plan_id)
        if source.status == Status.DRAFT:
            raise Conflict(_("This version is already a draft: edit it."), code="already_draft")
        if plan.versions.filter(status=Status.DRAFT).exists():
            raise Conflict(
                _("The plan already has a draft: edit or publish it first."),
                code="draft_exists",
            )
        number = (plan.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        draft = PlanVersion.objects.create(plan=plan, number=number, based_on=source)
        CommissionRule.objects.bulk_create(
            [
                # bulk_create skips TenantModel.save(): the copy takes the
                # draft's tenant (which RLS checks) explicitly.
                CommissionRule(
                    tenant_id=draft.tenant_id,
                    version=draft,
                    **{name: getattr(rule, name) for name in RULE_FIELDS},
                )
                for rule in source.rules.order_by("id")
            ]
        )
        record(
            actor=actor,
            action="incentives.draft_created",
            target=draft,
            summary=str(draft),
            data={"based_on": source.pk},
        )
    return draft


def retire_version(
    *, version: PlanVersion, membership, actor, retired_on: date | None = None
) -> PlanVersion:
    """The version stops applying from ``retired_on`` (default today)."""
    _require_program_manager(membership)
    retired_on = retired_on or timezone.localdate()
    with transaction.atomic():
        locked = _locked_version(version)
        if locked.status != Status.PUBLISHED:
            raise Conflict(_("Only a published version can be retired."), code="not_published")
        if locked.effective_from and retired_on <= locked.effective_from:
            raise DomainError(
                _("A version can only be retired after it took effect."), field="retired_on"
            )
        locked.status = Status.RETIRED
        locked.retired_on = retired_on
        locked.save(update_fields=["status", "retired_on"])
        record(
            actor=actor,
            action="incentives.version_retired",
            target=locked,
            summary=str(locked),
            data={"retired_on": retired_on.isoformat()},
        )
    return locked


# --- the seed -----------------------------------------------------------------------


def ensure_default_plan(
    *, effective_from: date = DEFAULT_PLAN_EFFECTIVE_FROM, actor=None
) -> PlanVersion:
    """The tenant's published default plan: one tier-based commission rule per
    tier of the ladder, at the tier's commission rate (Bronze 20 % … Platinum
    30 % by default, ``partners.defaults``), on first-year contract value. The
    rates are copied into the rules: a later change of a tier's rate takes a
    new plan version, so published versions keep paying what they said.

    Idempotent: once seeded, the default plan is returned as the tenant left it
    (its latest published version, else its latest version). Names are written
    in the active language (wrap the call in ``translation.override``)."""
    with transaction.atomic():
        existing = CommissionPlan.objects.filter(is_default=True).first()
        if existing is not None:
            versions = existing.versions.order_by("-number")
            found = versions.exclude(status=Status.DRAFT).first() or versions.first()
            if found is not None:
                return found
        plan = existing or CommissionPlan.objects.create(
            name=gettext(DEFAULT_PLAN_NAME),
            description=gettext(DEFAULT_PLAN_DESCRIPTION),
            is_default=True,
        )
        version = PlanVersion.objects.create(plan=plan, number=1)
        # The tenant's ladder as configured; the catalogue's defaults if it has none yet.
        ladder = [
            (tier.key, tier.name, tier.commission_rate_modifier)
            for tier in Tier.objects.order_by("rank")
        ] or [(t.key, gettext(t.name), t.commission_rate) for t in DEFAULT_TIERS]
        for key, name, rate in ladder:
            CommissionRule.objects.create(
                version=version,
                name=gettext("%(tier)s commission") % {"tier": name},
                kind=RuleKind.TIER_COMMISSION,
                tier_keys=[key],
                payout=CommissionRule.Payout.PERCENTAGE,
                rate=rate,
                base=CommissionRule.Base.FIRST_YEAR_VALUE,
            )
        _mark_published(version, effective_from=effective_from, actor=actor)
        record(
            actor=actor,
            action="incentives.default_plan_created",
            target=version,
            summary=str(version),
        )
    return version
