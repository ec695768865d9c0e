"""The computation: facts + a compiled plan version → earning lines. No I/O.

**Matching.** A rule matches when every dimension it names matches (an empty
dimension matches anything) and the fact's date (a deal's close date, an
event's date, a period's last day) lies within the rule's start and end dates,
both inclusive. The partner's tier is the one held on that date
(``held_tier``, from the fact's tier history), so a later tier change never
alters what a past deal, event or period earned; an estimate (an open deal)
uses the partner's current tier. Explanations name that tier. The partner
type has no history: the current type is matched. Product filters (products
or product lines; a line matches either) match a deal with at least one such
line.

**Priority.** All matching rules pay and add up, except that within a kind
group (``rules.KIND_GROUP``: a tier commission and a referral fee are one
group, every other kind is its own) only the matching rule with the highest
priority pays; equal priorities go to the older rule (lower id). SPIFFs stack:
every matching product push pays.

**Bases.** A deal rule pays a percentage of the first-year contract value
(default; see ``facts``) or of the deal amount; a product-filtered rule pays on
the matching lines' share of that base (base × matching lines ÷ all lines). A
revenue share pays on each event's amount, negative for a refund. A stepped
rebate pays on the period's cumulative volume; a renewal-rate bonus on the
period's renewal volume; a usage-growth bonus on the growth of the customer's
usage charges. A fixed amount is paid as is (in the rule's currency when it
names one, else the fact's).

**Co-sell.** A deal's partner share (``partner_share``, e.g. 70 or 30) scales
every line computed from the deal, fixed amounts included, and revenue shares
of events linked to a co-sold deal.

**Rounding.** Everything is computed in exact ``Decimal`` arithmetic and each
line's amount is rounded once, at the end, to 2 places with ROUND_HALF_UP
(``money``). The explanation shows the base rounded the same way for reading;
the exact base follows from the figures it lists (amount, term).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from incentives.engine.facts import (
    HUNDRED,
    TWELVE,
    DealFacts,
    LineFacts,
    PartnerFacts,
    PeriodFacts,
    RevenueEventFacts,
    TierStep,
    UsageFacts,
)
from incentives.engine.rules import (
    DEAL_KINDS,
    EVENT_KINDS,
    KIND_NEW_CUSTOMER_BONUS,
    KIND_RENEWAL_RATE_BONUS,
    KIND_STEPPED_REBATE,
    KIND_TIER_PROMOTION_BONUS,
    MARGINAL,
    PERIOD_KINDS,
    USAGE_KINDS,
    CompiledPlan,
    RuleSpec,
)

CENT = Decimal("0.01")
ROUNDING = ROUND_HALF_UP


def money(value: Decimal) -> Decimal:
    """The one rounding rule: 2 places, half up."""
    return value.quantize(CENT, rounding=ROUNDING)


def number(value: Decimal) -> str:
    """A rate or share for the explanation, without needless zeros: 20.0000 → "20"."""
    text = f"{value.normalize():f}"
    return text


@dataclass(frozen=True)
class EarningLine:
    """One computed earning: what the ledger will post, and why.

    ``source_key`` names the fact it came from (``deal:12``,
    ``revenue_event:5``, ``period:2026-01-01:2026-03-31:CNY``,
    ``usage:2026-01-01:2026-01-31:CNY:Acme``); with ``rule_id`` and ``kind`` it
    identifies the computation, so a repeat can be recognised.
    """

    rule_id: int
    plan_version_id: int
    kind: str
    partner_id: int
    source: str
    source_id: int | None
    source_key: str
    base: Decimal
    rate: Decimal | None
    fixed_amount: Decimal | None
    amount: Decimal
    currency: str
    explanation: dict[str, Any] = field(default_factory=dict)
    is_estimate: bool = False


def _line(
    plan: CompiledPlan,
    rule: RuleSpec,
    *,
    partner_id: int,
    source: str,
    source_id: int | None,
    source_key: str,
    base: Decimal,
    amount: Decimal,
    currency: str,
    explanation: dict[str, Any],
    is_estimate: bool = False,
) -> EarningLine:
    """One earning of ``rule`` under ``plan``: its rate or fixed amount, and the
    currency it pays in (a fixed amount's own currency, else the source's)."""
    fixed = rule.payout == "fixed"
    return EarningLine(
        rule_id=rule.id,
        plan_version_id=plan.version_id,
        kind=rule.kind,
        partner_id=partner_id,
        source=source,
        source_id=source_id,
        source_key=source_key,
        base=money(base),
        rate=rule.rate if rule.payout == "percentage" else None,
        fixed_amount=rule.fixed_amount if fixed else None,
        amount=amount,
        currency=(rule.currency or currency) if fixed else currency,
        explanation=explanation,
        is_estimate=is_estimate,
    )


# --- matching ---------------------------------------------------------------------


def _in_dates(rule: RuleSpec, on: date) -> bool:
    if rule.starts_on and on < rule.starts_on:
        return False
    return not (rule.ends_on and on > rule.ends_on)


@dataclass(frozen=True)
class HeldTier:
    key: str  # "" = no tier
    name: str


Facts = DealFacts | RevenueEventFacts | PeriodFacts | UsageFacts


def tier_on(partner: PartnerFacts, history: Sequence[TierStep], day: date) -> HeldTier:
    """The tier ``partner`` held on ``day`` according to ``history`` (oldest
    first): the last step on or before the day; before the first step, the
    first step's tier; without a history, the partner's current tier."""
    if not history:
        return HeldTier(partner.tier_key, partner.tier_name)
    held = history[0]
    for step in history:
        if step.on > day:
            break
        held = step
    name = held.name
    if not name and held.tier_key == partner.tier_key:
        name = partner.tier_name
    return HeldTier(held.tier_key, name)


def held_tier(facts: Facts) -> HeldTier:
    """The tier rules match and explanations name: the one held on the fact's
    day (a deal's close date, an event's date, a period's last day). An
    estimate's day is today or later, so it is the partner's current tier."""
    if isinstance(facts, DealFacts):
        if facts.is_estimate:
            return HeldTier(facts.partner.tier_key, facts.partner.tier_name)
        day = facts.closed_on
    elif isinstance(facts, RevenueEventFacts):
        day = facts.occurred_on
    else:
        day = facts.period_end
    return tier_on(facts.partner, facts.tier_history, day)


def _tier_explained(tier: HeldTier) -> dict[str, str]:
    return {"tier": tier.key, "tier_name": tier.name}


def _matches_partner(rule: RuleSpec, facts: Facts, tier: HeldTier) -> bool:
    partner = facts.partner
    if rule.partner_type_keys and partner.partner_type_key not in rule.partner_type_keys:
        return False
    if rule.tier_keys and tier.key not in rule.tier_keys:
        return False
    country, region = facts.where
    if rule.countries and country.upper() not in rule.countries:
        return False
    return not (rule.regions and region.casefold() not in rule.regions)


def _matching_lines(rule: RuleSpec, lines: Sequence[LineFacts]) -> list[LineFacts]:
    return [
        line
        for line in lines
        if line.product_id in rule.product_ids or line.product_line in rule.product_lines
    ]


def reached_tier(rule: RuleSpec, facts: DealFacts) -> bool:
    """Did the partner reach the rule's tier (or a higher one) on or before its date?"""
    params = rule.params
    if params.reached_by is None:
        return False
    target_rank = facts.tier_ranks.get(params.tier_key)
    for step in facts.tier_history:
        if step.on > params.reached_by:
            continue
        if step.tier_key == params.tier_key:
            return True
        if target_rank is not None and step.rank >= target_rank:
            return True
    return False


def _matches_deal(rule: RuleSpec, facts: DealFacts, tier: HeldTier) -> bool:
    if rule.kind not in DEAL_KINDS or not _in_dates(rule, facts.closed_on):
        return False
    if not _matches_partner(rule, facts, tier):
        return False
    if rule.deal_types and facts.deal_type not in rule.deal_types:
        return False
    if rule.kind == KIND_NEW_CUSTOMER_BONUS and facts.deal_type != "new":
        return False
    if rule.registered != "any" and (rule.registered == "yes") != facts.registered:
        return False
    if rule.co_sell_role != "any" and rule.co_sell_role != facts.co_sell_role:
        return False
    if rule.has_product_filter and not _matching_lines(rule, facts.lines):
        return False
    return not (rule.kind == KIND_TIER_PROMOTION_BONUS and not reached_tier(rule, facts))


def apply_priority(rules: Iterable[RuleSpec]) -> list[RuleSpec]:
    """Keep the best rule of each kind group; SPIFFs (no group) all stay."""
    best: dict[str, RuleSpec] = {}
    stacked: list[RuleSpec] = []
    for rule in rules:
        if not rule.group:
            stacked.append(rule)
        elif rule.group not in best or rule.sort_key < best[rule.group].sort_key:
            best[rule.group] = rule
    return sorted([*best.values(), *stacked], key=lambda r: (r.kind, r.sort_key))


# --- deals ----------------------------------------------------------------------------


def _pays(rule: RuleSpec, base: Decimal) -> tuple[Decimal, dict[str, Any], str]:
    """The raw (unrounded, before the split) amount, its explanation and formula."""
    if rule.payout == "fixed":
        fixed = rule.fixed_amount or Decimal("0")
        return fixed, {"fixed_amount": str(money(fixed))}, str(money(fixed))
    rate = rule.rate or Decimal("0")
    return (
        base * rate / HUNDRED,
        {"rate": number(rate)},
        f"{money(base)} × {number(rate)}%",
    )


def _deal_line(plan: CompiledPlan, rule: RuleSpec, facts: DealFacts, tier: HeldTier) -> EarningLine:
    explanation: dict[str, Any] = {
        "rule": rule.name,
        "kind": rule.kind,
        "deal_amount": str(money(facts.amount)),
        **_tier_explained(tier),
    }
    if rule.base == "deal_amount":
        base = facts.amount
        explanation["base_kind"] = "deal_amount"
    else:
        base = facts.first_year_value
        explanation["base_kind"] = "first_year_value"
        term = facts.contract_term_months
        if term:
            explanation["term_months"] = term
            explanation["first_year_months"] = int(min(Decimal(term), TWELVE))
    if rule.has_product_filter:
        matching = sum((line.amount for line in _matching_lines(rule, facts.lines)), Decimal(0))
        total = sum((line.amount for line in facts.lines), Decimal(0))
        base = base * matching / total if total else Decimal("0")
        explanation["matching_lines_amount"] = str(money(matching))
        explanation["all_lines_amount"] = str(money(total))
    raw, paid, formula = _pays(rule, base)
    explanation.update(paid)
    explanation["base"] = str(money(base))
    share = facts.partner_share
    if share < HUNDRED:
        raw = raw * share / HUNDRED
        explanation["split"] = number(share)
        explanation["co_sell_role"] = facts.co_sell_role
        formula = f"{formula} × {number(share)}%"
    if rule.kind == KIND_TIER_PROMOTION_BONUS:
        explanation["promotion_tier"] = rule.params.tier_key
        explanation["reached_by"] = (
            rule.params.reached_by.isoformat() if rule.params.reached_by else ""
        )
    amount = money(raw)
    explanation["amount"] = str(amount)
    explanation["formula"] = f"{formula} = {amount}"
    if facts.is_estimate:
        explanation["estimate"] = True
    return _line(
        plan,
        rule,
        partner_id=facts.partner.partner_id,
        source="deal",
        source_id=facts.deal_id,
        source_key=f"deal:{facts.deal_id}",
        base=base,
        amount=amount,
        currency=facts.currency,
        explanation=explanation,
        is_estimate=facts.is_estimate,
    )


def earnings_for_deal(plan: CompiledPlan, facts: DealFacts) -> list[EarningLine]:
    """The lines a closed-won deal earns under one plan version."""
    tier = held_tier(facts)
    chosen = apply_priority(rule for rule in plan.rules if _matches_deal(rule, facts, tier))
    return [_deal_line(plan, rule, facts, tier) for rule in chosen]


# --- revenue events -----------------------------------------------------------------


def earnings_for_revenue_event(plan: CompiledPlan, facts: RevenueEventFacts) -> list[EarningLine]:
    """Recurring revenue share of one paid invoice or usage charge; a refund
    produces the same computation with a negative amount."""
    tier = held_tier(facts)
    candidates = [
        rule
        for rule in plan.rules
        if rule.kind in EVENT_KINDS
        and _in_dates(rule, facts.occurred_on)
        and _matches_partner(rule, facts, tier)
    ]
    lines = []
    for rule in apply_priority(candidates):
        raw, paid, formula = _pays(rule, facts.amount)
        raw = raw * facts.sign
        explanation: dict[str, Any] = {
            "rule": rule.name,
            "kind": rule.kind,
            "event_kind": facts.kind,
            "customer": facts.customer_name,
            "base_kind": "event_amount",
            "base": str(money(facts.amount * facts.sign)),
            **_tier_explained(tier),
            **paid,
        }
        if facts.sign < 0:
            formula = f"-({formula})"
        if facts.partner_share < HUNDRED:
            raw = raw * facts.partner_share / HUNDRED
            explanation["split"] = number(facts.partner_share)
            formula = f"{formula} × {number(facts.partner_share)}%"
        amount = money(raw)
        explanation["amount"] = str(amount)
        explanation["formula"] = f"{formula} = {amount}"
        lines.append(
            _line(
                plan,
                rule,
                partner_id=facts.partner.partner_id,
                source="revenue_event",
                source_id=facts.event_id,
                source_key=f"revenue_event:{facts.event_id}",
                base=facts.amount * facts.sign,
                amount=amount,
                currency=facts.currency,
                explanation=explanation,
            )
        )
    return lines


# --- periods: stepped rebates and the renewal-rate bonus -------------------------


def stepped_rebate(rule: RuleSpec, volume: Decimal) -> tuple[Decimal, dict[str, Any], str]:
    """Marginal: each band's slice of the volume at the band's rate.
    Retroactive: the whole volume at the rate of the band the volume reached.
    A volume exactly on a band's limit belongs to that band."""
    bands = rule.params.bands
    described = [
        {"up_to": str(b.up_to) if b.up_to is not None else None, "rate": number(b.rate)}
        for b in bands
    ]
    if rule.params.mode == MARGINAL:
        total = Decimal("0")
        lower = Decimal("0")
        slices = []
        for index, band in enumerate(bands, start=1):
            upper = volume if band.up_to is None else min(volume, band.up_to)
            if upper <= lower:
                break
            part = (upper - lower) * band.rate / HUNDRED
            slices.append(
                {
                    "band": index,
                    "from": str(money(lower)),
                    "to": str(money(upper)),
                    "rate": number(band.rate),
                    "amount": str(money(part)),
                }
            )
            total += part
            lower = upper
        formula = " + ".join(f"({s['to']} − {s['from']}) × {s['rate']}%" for s in slices)
        return (
            total,
            {
                "mode": MARGINAL,
                "bands": described,
                "slices": slices,
                "band": slices[-1]["band"] if slices else None,
            },
            formula,
        )
    reached, rate = len(bands), bands[-1].rate
    for index, band in enumerate(bands, start=1):
        if band.up_to is None or volume <= band.up_to:
            reached = index
            rate = band.rate
            break
    return (
        volume * rate / HUNDRED,
        {"mode": "retroactive", "bands": described, "band": reached, "rate": number(rate)},
        f"{money(volume)} × {number(rate)}%",
    )


def _period_line(
    plan: CompiledPlan, rule: RuleSpec, facts: PeriodFacts, tier: HeldTier
) -> EarningLine | None:
    explanation: dict[str, Any] = {
        "rule": rule.name,
        "kind": rule.kind,
        "period_start": facts.period_start.isoformat(),
        "period_end": facts.period_end.isoformat(),
        **_tier_explained(tier),
    }
    if rule.kind == KIND_STEPPED_REBATE:
        if facts.volume <= 0:
            return None
        base = facts.volume
        raw, detail, formula = stepped_rebate(rule, base)
        explanation.update(detail)
        explanation["base_kind"] = "period_volume"
    elif rule.kind == KIND_RENEWAL_RATE_BONUS:
        renewal_rate = facts.renewal_rate
        threshold = rule.params.threshold or Decimal("0")
        if (
            renewal_rate is None
            or facts.renewals_won + facts.renewals_lost < rule.params.min_renewals
            or renewal_rate < threshold
        ):
            return None
        base = facts.renewal_volume
        raw, paid, formula = _pays(rule, base)
        explanation.update(paid)
        explanation.update(
            {
                "base_kind": "renewal_volume",
                "renewals_won": facts.renewals_won,
                "renewals_lost": facts.renewals_lost,
                "renewal_rate": str(money(renewal_rate)),
                "threshold": number(threshold),
            }
        )
    else:
        return None
    amount = money(raw)
    explanation["base"] = str(money(base))
    explanation["amount"] = str(amount)
    explanation["formula"] = f"{formula} = {amount}"
    return _line(
        plan,
        rule,
        partner_id=facts.partner.partner_id,
        source="period",
        source_id=None,
        source_key=f"period:{facts.period_start}:{facts.period_end}:{facts.currency}",
        base=base,
        amount=amount,
        currency=facts.currency,
        explanation=explanation,
    )


def earnings_for_period(plan: CompiledPlan, facts: PeriodFacts) -> list[EarningLine]:
    """Stepped rebates and the renewal-rate bonus of one partner's period;
    a rule counts when it is in force on the period's last day, and matches the
    tier the partner held that day."""
    tier = held_tier(facts)
    candidates = [
        rule
        for rule in plan.rules
        if rule.kind in PERIOD_KINDS
        and _in_dates(rule, facts.period_end)
        and _matches_partner(rule, facts, tier)
    ]
    lines = (_period_line(plan, rule, facts, tier) for rule in apply_priority(candidates))
    return [line for line in lines if line is not None]


# --- usage growth ----------------------------------------------------------------------


def earnings_for_usage(plan: CompiledPlan, facts: UsageFacts) -> list[EarningLine]:
    """A bonus on a customer's usage growth from one period to the next, when
    the growth (current − previous) ÷ previous reaches the rule's threshold.
    No usage in the previous period means no growth rate, hence no bonus."""
    growth_percent = facts.growth_percent
    if growth_percent is None or facts.growth <= 0:
        return []
    tier = held_tier(facts)
    candidates = [
        rule
        for rule in plan.rules
        if rule.kind in USAGE_KINDS
        and _in_dates(rule, facts.period_end)
        and _matches_partner(rule, facts, tier)
        and growth_percent >= (rule.params.threshold or Decimal("0"))
    ]
    lines = []
    for rule in apply_priority(candidates):
        raw, paid, formula = _pays(rule, facts.growth)
        amount = money(raw)
        explanation = {
            "rule": rule.name,
            "kind": rule.kind,
            "customer": facts.customer_name,
            "period_start": facts.period_start.isoformat(),
            "period_end": facts.period_end.isoformat(),
            "previous_usage": str(money(facts.previous_usage)),
            "current_usage": str(money(facts.current_usage)),
            "growth_percent": str(money(growth_percent)),
            "threshold": number(rule.params.threshold or Decimal("0")),
            "base_kind": "usage_growth",
            "base": str(money(facts.growth)),
            **_tier_explained(tier),
            **paid,
            "amount": str(amount),
            "formula": f"{formula} = {amount}",
        }
        lines.append(
            _line(
                plan,
                rule,
                partner_id=facts.partner.partner_id,
                source="usage",
                source_id=None,
                source_key=(
                    f"usage:{facts.period_start}:{facts.period_end}:{facts.currency}:"
                    f"{facts.customer_name}"
                ),
                base=facts.growth,
                amount=amount,
                currency=facts.currency,
                explanation=explanation,
            )
        )
    return lines


def under_plans(plans: Iterable[CompiledPlan], compute, facts) -> list[EarningLine]:
    """Run one computation under several plans in force (each plan pays on its own)."""
    return [line for plan in plans for line in compute(plan, facts)]
