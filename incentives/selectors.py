"""Reads for commission plans: the versions in force, the engine's facts built
from deals and revenue events, live estimates, and the console's lists.

Which plan versions apply on a date: for every plan, the published (or since
retired) version with the latest ``effective_from`` on or before that date —
unless that version was retired on or before the date. Drafts never apply.
Every plan in force pays on its own (a tenant may run a standard plan and a
separate promotion plan side by side).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from deals.models import DealEvent, DealLine, DealRegistration
from incentives.engine import (
    CompiledPlan,
    DealFacts,
    EarningLine,
    LineFacts,
    PartnerFacts,
    PeriodFacts,
    RevenueEventFacts,
    TierStep,
    UsageFacts,
    earnings_for_deal,
    under_plans,
)
from incentives.models import CommissionPlan, CommissionRule, PlanVersion, RevenueEvent
from partners.models import PartnerOrganization, Tier, TierChange

Status = PlanVersion.Status


# --- plans in force -------------------------------------------------------------------


class PlansInForce:
    """Every non-draft plan version of the tenant, loaded and compiled once (two
    queries). The versions in force on a day are chosen in memory, once per day
    asked: per plan, the version with the latest ``effective_from`` (then the
    highest number) on or before the day, unless it was retired by then. The
    nightly job and the simulator keep one for a whole run."""

    def __init__(self) -> None:
        loaded = list(
            PlanVersion.objects.exclude(status=Status.DRAFT)
            .select_related("plan")
            .prefetch_related(Prefetch("rules", queryset=CommissionRule.objects.order_by("id")))
            .order_by("plan__name", "plan_id", "-effective_from", "-number")
        )
        self._by_plan: dict[int, list[PlanVersion]] = defaultdict(list)
        for version in loaded:
            self._by_plan[version.plan_id].append(version)
        self.compiled = {version.pk: CompiledPlan.from_version(version) for version in loaded}
        self._on: dict[date, list[CompiledPlan]] = {}

    def versions(self, on: date) -> list[PlanVersion]:
        chosen = []
        for versions in self._by_plan.values():  # plans by name, versions newest first
            latest = next(
                (v for v in versions if v.effective_from is not None and v.effective_from <= on),
                None,
            )
            if latest is not None and (latest.retired_on is None or latest.retired_on > on):
                chosen.append(latest)
        return chosen

    def on(self, day: date) -> list[CompiledPlan]:
        if day not in self._on:
            self._on[day] = [self.compiled[version.pk] for version in self.versions(day)]
        return self._on[day]


def versions_in_force(*, on: date) -> list[PlanVersion]:
    return PlansInForce().versions(on)


def plans_in_force(*, on: date) -> list[CompiledPlan]:
    return PlansInForce().on(on)


# --- facts ---------------------------------------------------------------------------


def partner_facts(partner: PartnerOrganization) -> PartnerFacts:
    return PartnerFacts(
        partner_id=partner.pk,
        partner_type_key=partner.partner_type.key,
        tier_key=partner.tier.key if partner.tier is not None else "",
        tier_name=partner.tier.name if partner.tier is not None else "",
        country=partner.country,
        region=partner.region,
    )


def _histories(partners: Iterable[dict[str, Any]]) -> dict[int, tuple[TierStep, ...]]:
    """Tier histories of partner rows (``pk``, ``created_at``, ``tier__key``,
    ``tier__rank``, ``tier__name``), in one query; see ``tier_histories``."""
    partners = list(partners)
    changes: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in (
        TierChange.objects.filter(partner_id__in=[p["pk"] for p in partners])
        .order_by("changed_at", "id")
        .values_list(
            "partner_id",
            "changed_at",
            "from_tier__key",
            "from_tier__rank",
            "from_tier__name",
            "to_tier__key",
            "to_tier__rank",
            "to_tier__name",
        )
    ):
        changes[row[0]].append(row)
    histories = {}
    for partner in partners:
        own = changes.get(partner["pk"], [])
        start = timezone.localdate(partner["created_at"])
        steps: list[TierStep] = []
        if own:
            # Before its first change the partner held that change's "from"
            # tier, or none ("", rank 0: below every rung).
            key, rank, name = own[0][2:5]
            steps.append(TierStep(start, key or "", rank or 0, name or ""))
        elif partner["tier__key"] is not None:
            steps.append(
                TierStep(
                    start, partner["tier__key"], partner["tier__rank"], partner["tier__name"] or ""
                )
            )
        steps += [TierStep(timezone.localdate(c[1]), c[5], c[6], c[7]) for c in own]
        histories[partner["pk"]] = tuple(steps)
    return histories


def tier_histories(
    partners: Iterable[PartnerOrganization],
) -> dict[int, tuple[TierStep, ...]]:
    """Each partner's tiers over time, oldest first, in one query. The tier
    held before the first recorded change (or, with no change, the current
    tier) counts from the day the partner was created; the engine matches
    rules on the tier held on a fact's day (``engine.held_tier``). Partners
    need their ``tier`` loaded."""
    return _histories(
        {
            "pk": partner.pk,
            "created_at": partner.created_at,
            "tier__key": partner.tier.key if partner.tier is not None else None,
            "tier__rank": partner.tier.rank if partner.tier is not None else None,
            "tier__name": partner.tier.name if partner.tier is not None else None,
        }
        for partner in partners
    )


def tier_ranks() -> dict[str, int]:
    return dict(Tier.objects.values_list("key", "rank"))


_DEAL_FIELDS = (
    "pk",
    "partner_id",
    "deal_type",
    "approved_at",
    "final_amount",
    "estimated_amount",
    "estimated_close_date",
    "closed_on",
    "currency",
    "contract_term_months",
    "partner_share",
    "country",
    "region",
)
_PARTNER_FIELDS = (
    "pk",
    "created_at",
    "partner_type__key",
    "tier__key",
    "tier__rank",
    "tier__name",
    "country",
    "region",
)


def _deal_facts(
    deal: dict[str, Any],
    *,
    estimate: bool,
    partner: PartnerFacts,
    lines: tuple[LineFacts, ...],
    history: tuple[TierStep, ...],
    ranks: dict[str, int],
) -> DealFacts:
    if estimate:
        amount = deal["estimated_amount"]
        if amount is None:
            amount = sum((line.amount for line in lines), Decimal("0"))
        on = max(deal["estimated_close_date"], timezone.localdate())
    else:
        amount = deal["final_amount"]
        on = deal["closed_on"] or deal["estimated_close_date"]
    return DealFacts(
        deal_id=deal["pk"],
        partner=partner,
        deal_type=deal["deal_type"],
        registered=deal["approved_at"] is not None,
        amount=amount if amount is not None else Decimal("0"),
        currency=deal["currency"],
        closed_on=on,
        contract_term_months=deal["contract_term_months"],
        partner_share=deal["partner_share"],
        country=deal["country"],
        region=deal["region"],
        lines=lines,
        tier_history=history,
        tier_ranks=ranks,
        is_estimate=estimate,
    )


def deal_facts_for(deals: QuerySet[DealRegistration], *, estimate: bool = False) -> list[DealFacts]:
    """Facts of many deals in four queries whatever their number (the nightly
    job feeds it bounded chunks): plain rows, no model instances, so a chunk of
    thousands of deals costs little more than its rows."""
    rows = list(deals.order_by("pk").values(*_DEAL_FIELDS))
    if not rows:
        return []
    lines: dict[int, list[LineFacts]] = defaultdict(list)
    for deal_id, product_id, product_line, amount in (
        DealLine.objects.filter(deal_id__in=[row["pk"] for row in rows])
        .order_by("id")
        .values_list("deal_id", "product_id", "product__product_line", "amount")
    ):
        lines[deal_id].append(LineFacts(product_id, product_line, amount))
    partner_rows = list(
        PartnerOrganization.objects.filter(pk__in={row["partner_id"] for row in rows}).values(
            *_PARTNER_FIELDS
        )
    )
    partners = {
        p["pk"]: PartnerFacts(
            partner_id=p["pk"],
            partner_type_key=p["partner_type__key"],
            tier_key=p["tier__key"] or "",
            tier_name=p["tier__name"] or "",
            country=p["country"],
            region=p["region"],
        )
        for p in partner_rows
    }
    histories = _histories(partner_rows)
    ranks = tier_ranks()
    return [
        _deal_facts(
            row,
            estimate=estimate,
            partner=partners[row["partner_id"]],
            lines=tuple(lines.get(row["pk"], ())),
            history=histories[row["partner_id"]],
            ranks=ranks,
        )
        for row in rows
    ]


def deal_facts(deal: DealRegistration, *, estimate: bool = False) -> DealFacts:
    """A deal as the engine sees it. ``estimate`` reads an open deal: its
    estimated amount (else the sum of its lines), its estimated close date
    (today if that has passed), and its term if one is recorded (else the
    whole amount is first-year)."""
    return deal_facts_for(DealRegistration.objects.filter(pk=deal.pk), estimate=estimate)[0]


def period_facts(*, start: date, end: date, as_of: datetime | None = None) -> list[PeriodFacts]:
    """Every partner's period results per currency, in four queries.

    Volume: closed-won deals closed in the period (both days included) and not
    reversed as of ``as_of`` (default: now) — a deal reversed later still
    counts, so a closed period is recomputed as it was closed (its
    ``closed_at``). Renewals won: the renewal deals among them; renewals lost:
    renewal deals moved to closed-lost during the period. Each partner's tier
    history comes along: rules match the tier held on the period's last day."""
    as_of = as_of or timezone.now()
    won = (
        DealRegistration.objects.filter(
            Q(reversed_at__isnull=True) | Q(reversed_at__gt=as_of),
            stage=DealRegistration.Stage.CLOSED_WON,
            closed_on__range=(start, end),
        )
        .values("partner_id", "currency")
        .annotate(
            volume=Sum("final_amount"),
            renewals_won=Count("id", filter=Q(deal_type=DealRegistration.DealType.RENEWAL)),
            renewal_volume=Sum(
                "final_amount", filter=Q(deal_type=DealRegistration.DealType.RENEWAL)
            ),
        )
        .order_by()
    )
    lost = (
        DealEvent.objects.filter(
            kind="stage_changed",
            to_stage=DealRegistration.Stage.CLOSED_LOST,
            created_at__date__range=(start, end),
            deal__deal_type=DealRegistration.DealType.RENEWAL,
        )
        .values("deal__partner_id", "deal__currency")
        .annotate(lost=Count("deal_id", distinct=True))
        .order_by()
    )
    totals: dict[tuple[int, str], dict[str, Any]] = {}
    for row in won:
        totals[(row["partner_id"], row["currency"])] = {
            "volume": row["volume"] or Decimal("0"),
            "renewals_won": row["renewals_won"],
            "renewal_volume": row["renewal_volume"] or Decimal("0"),
        }
    for lost_row in lost:
        key = (lost_row["deal__partner_id"], lost_row["deal__currency"])
        totals.setdefault(key, {})["renewals_lost"] = lost_row["lost"]
    partners = PartnerOrganization.objects.select_related("partner_type", "tier").in_bulk(
        {partner_id for partner_id, _currency in totals}
    )
    histories = tier_histories(partners.values()) if partners else {}
    return [
        PeriodFacts(
            partner=partner_facts(partners[partner_id]),
            period_start=start,
            period_end=end,
            currency=currency,
            tier_history=histories[partner_id],
            **values,
        )
        for (partner_id, currency), values in sorted(totals.items())
    ]


def usage_facts(*, previous: tuple[date, date], current: tuple[date, date]) -> list[UsageFacts]:
    """Each customer's usage charges in two periods (per partner and currency),
    in three queries; customers without usage in the current period are left
    out. Rules match the tier the partner held on the current period's last day."""
    rows = list(
        RevenueEvent.objects.filter(
            kind=RevenueEvent.Kind.USAGE_CHARGE,
            occurred_on__range=(min(previous[0], current[0]), max(previous[1], current[1])),
        )
        .values("partner_id", "currency", "customer_name")
        .annotate(
            before=Sum("amount", filter=Q(occurred_on__range=previous)),
            now=Sum("amount", filter=Q(occurred_on__range=current)),
        )
        .filter(now__gt=0)
        .order_by("partner_id", "currency", "customer_name")
    )
    partners = PartnerOrganization.objects.select_related("partner_type", "tier").in_bulk(
        {row["partner_id"] for row in rows}
    )
    histories = tier_histories(partners.values()) if partners else {}
    return [
        UsageFacts(
            partner=partner_facts(partners[row["partner_id"]]),
            tier_history=histories[row["partner_id"]],
            customer_name=row["customer_name"],
            period_start=current[0],
            period_end=current[1],
            currency=row["currency"],
            previous_usage=row["before"] or Decimal("0"),
            current_usage=row["now"],
        )
        for row in rows
    ]


def revenue_event_facts_for(events: QuerySet[RevenueEvent]) -> list[RevenueEventFacts]:
    """Facts of many revenue events in two queries (the nightly job feeds it
    chunks); rules match the tier the partner held on the event's date."""
    loaded = list(events.select_related("partner__partner_type", "partner__tier", "deal"))
    if not loaded:
        return []
    histories = tier_histories({event.partner_id: event.partner for event in loaded}.values())
    return [
        RevenueEventFacts(
            event_id=event.pk,
            partner=partner_facts(event.partner),
            kind=event.kind,
            amount=event.amount,
            currency=event.currency,
            occurred_on=event.occurred_on,
            customer_name=event.customer_name,
            deal_id=event.deal_id,
            partner_share=event.deal.partner_share if event.deal else Decimal("100"),
            country=event.deal.country if event.deal else "",
            region=event.deal.region if event.deal else "",
            tier_history=histories[event.partner_id],
        )
        for event in loaded
    ]


def revenue_event_facts(event: RevenueEvent) -> RevenueEventFacts:
    return revenue_event_facts_for(RevenueEvent.objects.filter(pk=event.pk))[0]


# --- earnings ------------------------------------------------------------------------


def earnings_for_closed_deal(deal: DealRegistration) -> list[EarningLine]:
    """What a closed-won deal earns under every plan in force on its close date."""
    facts = deal_facts(deal)
    return under_plans(plans_in_force(on=facts.closed_on), earnings_for_deal, facts)


def estimate_for_deal(deal: DealRegistration) -> list[EarningLine]:
    """The estimated earnings of an open deal, for the portal (label them as an
    estimate): the same engine, on the deal's estimated amount and close date.
    Nothing is estimated without an amount."""
    facts = deal_facts(deal, estimate=True)
    if facts.amount <= 0:
        return []
    return under_plans(plans_in_force(on=facts.closed_on), earnings_for_deal, facts)


# --- the console ---------------------------------------------------------------------


def plans_for_console() -> QuerySet[CommissionPlan]:
    return CommissionPlan.objects.annotate(
        version_count=Count("versions", distinct=True),
        draft_count=Count("versions", filter=Q(versions__status=Status.DRAFT), distinct=True),
    )


def versions_of(plan: CommissionPlan) -> QuerySet[PlanVersion]:
    return (
        plan.versions.select_related("plan", "published_by")
        .annotate(rule_count=Count("rules"))
        .order_by("-number")
    )


def rules_of(version: PlanVersion) -> QuerySet[CommissionRule]:
    return version.rules.order_by("kind", "-priority", "id")
