"""The commission and rebate rule engine: pure computation, no database writes.

Given a compiled plan version (``CompiledPlan``) and facts (``facts``), the
``earnings_for_*`` functions return ``EarningLine``s: rule, plan version,
kind, base, rate or fixed amount, amount, currency and an explanation a
partner can read. The nightly job and the portal's live estimates call the
same functions, so an estimate is computed exactly like the real earning.
See ``compute`` for matching, priority, bases, co-sell splits and rounding.
"""

from incentives.engine.compute import (
    ROUNDING,
    EarningLine,
    HeldTier,
    apply_priority,
    earnings_for_deal,
    earnings_for_period,
    earnings_for_revenue_event,
    earnings_for_usage,
    held_tier,
    money,
    stepped_rebate,
    tier_on,
    under_plans,
)
from incentives.engine.facts import (
    DealFacts,
    LineFacts,
    PartnerFacts,
    PeriodFacts,
    RevenueEventFacts,
    TierStep,
    UsageFacts,
    co_sell_role_for,
)
from incentives.engine.rules import (
    DEAL_KINDS,
    EVENT_KINDS,
    KIND_GROUP,
    PERIOD_KINDS,
    USAGE_KINDS,
    Band,
    CompiledPlan,
    Parameters,
    RuleError,
    RuleSpec,
    check_rule,
    parse_parameters,
)

__all__ = [
    "DEAL_KINDS",
    "EVENT_KINDS",
    "KIND_GROUP",
    "PERIOD_KINDS",
    "ROUNDING",
    "USAGE_KINDS",
    "Band",
    "CompiledPlan",
    "DealFacts",
    "EarningLine",
    "HeldTier",
    "LineFacts",
    "Parameters",
    "PartnerFacts",
    "PeriodFacts",
    "RevenueEventFacts",
    "RuleError",
    "RuleSpec",
    "TierStep",
    "UsageFacts",
    "apply_priority",
    "check_rule",
    "co_sell_role_for",
    "earnings_for_deal",
    "earnings_for_period",
    "earnings_for_revenue_event",
    "earnings_for_usage",
    "held_tier",
    "money",
    "parse_parameters",
    "stepped_rebate",
    "tier_on",
    "under_plans",
]
