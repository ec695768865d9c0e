"""Rules match the tier the partner held on the fact's day, worked out from the
fact's tier history (``engine.held_tier``): a deal's close date, an event's
date, a period's last day. A later tier change never alters a past earning;
an estimate uses the current tier. Pure computation: no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from incentives.engine import (
    HeldTier,
    TierStep,
    earnings_for_deal,
    earnings_for_period,
    earnings_for_revenue_event,
    earnings_for_usage,
    held_tier,
    parse_parameters,
    tier_on,
)
from tests.incentives.test_engine import (
    RANKS,
    deal,
    default_plan,
    event,
    partner,
    period,
    plan,
    rule,
    usage,
)

D = Decimal
NAMES = {"bronze": "Bronze", "silver": "Silver", "gold": "Gold", "platinum": "Platinum"}
MARCH_1 = date(2026, 3, 1)


def steps(*moves: tuple[date, str], named: bool = True) -> tuple[TierStep, ...]:
    return tuple(TierStep(on, key, RANKS[key], NAMES[key] if named else "") for on, key in moves)


# Created as Silver on 1 January 2025, promoted to Gold on 1 March 2026: the
# partner facts carry the current tier (Gold).
SILVER_THEN_GOLD = steps((date(2025, 1, 1), "silver"), (MARCH_1, "gold"))
NOW_GOLD = partner(tier="gold")


def gold_now(**fields):
    return deal(partner=NOW_GOLD, tier_history=SILVER_THEN_GOLD, **fields)


def test_the_tier_held_on_a_day_comes_from_the_history():
    history = steps(
        (date(2025, 1, 1), "bronze"),
        (date(2025, 6, 1), "silver"),
        (date(2025, 6, 1), "gold"),  # two moves on one day: the later one holds
        (date(2026, 1, 1), "platinum"),
    )
    current = partner(tier="platinum")
    assert tier_on(current, history, date(2024, 5, 1)) == HeldTier("bronze", "Bronze")  # before
    assert tier_on(current, history, date(2025, 5, 31)) == HeldTier("bronze", "Bronze")
    assert tier_on(current, history, date(2025, 6, 1)) == HeldTier("gold", "Gold")
    assert tier_on(current, history, date(2025, 12, 31)) == HeldTier("gold", "Gold")
    assert tier_on(current, history, date(2026, 1, 1)) == HeldTier("platinum", "Platinum")
    # No history: the partner's current tier.
    named = replace(partner(tier="silver"), tier_name="Silver")
    assert tier_on(named, (), date(2020, 1, 1)) == HeldTier("silver", "Silver")
    # A step without a name borrows the current tier's name when it is that tier.
    bare = steps((date(2025, 1, 1), "bronze"), (MARCH_1, "silver"), named=False)
    assert tier_on(named, bare, date(2026, 4, 1)) == HeldTier("silver", "Silver")
    assert tier_on(named, bare, date(2026, 1, 1)) == HeldTier("bronze", "")


def test_a_deal_closed_before_a_promotion_pays_the_tier_held_then():
    # Silver 23 %: 120,000 × 23 % = 27,600 (not Gold's 26 % = 31,200).
    [line] = earnings_for_deal(default_plan(), gold_now(closed_on=date(2026, 2, 27)))
    assert line.amount == D("27600.00")
    assert (line.explanation["tier"], line.explanation["tier_name"]) == ("silver", "Silver")
    # Closed on the day of the promotion or later: Gold.
    [line] = earnings_for_deal(default_plan(), gold_now(closed_on=MARCH_1))
    assert line.amount == D("31200.00")
    assert (line.explanation["tier"], line.explanation["tier_name"]) == ("gold", "Gold")


def test_a_gold_only_rule_ignores_a_deal_closed_before_the_partner_reached_gold():
    gold_only = plan(rule(tier_keys=["gold"], rate=25))
    assert earnings_for_deal(gold_only, gold_now(closed_on=date(2026, 2, 1))) == []
    assert earnings_for_deal(gold_only, gold_now(closed_on=date(2026, 3, 2)))


def test_a_demotion_after_the_close_changes_nothing():
    # Gold until 1 March 2026, then Silver: a January deal still pays Gold.
    history = steps((date(2025, 1, 1), "gold"), (MARCH_1, "silver"))
    facts = deal(partner=partner(tier="silver"), tier_history=history, closed_on=date(2026, 1, 5))
    [line] = earnings_for_deal(default_plan(), facts)
    assert line.amount == D("31200.00")
    assert line.explanation["tier"] == "gold"


def test_before_the_first_step_the_first_steps_tier_holds():
    # Deals imported with a close date before the partner was created.
    history = steps((date(2026, 5, 1), "gold"), (date(2026, 6, 1), "silver"))
    facts = deal(partner=partner(tier="silver"), tier_history=history, closed_on=date(2026, 1, 5))
    assert held_tier(facts) == HeldTier("gold", "Gold")


def test_without_a_history_the_current_tier_matches():
    [line] = earnings_for_deal(default_plan(), deal(partner=partner(tier="bronze")))
    assert line.amount == D("24000.00")  # 120,000 × 20 %
    assert line.explanation["tier"] == "bronze"


def test_an_estimate_uses_the_current_tier():
    # An open deal's day is its estimated close date or today, whichever is
    # later: the tier it will close under is the one held now.
    facts = gold_now(closed_on=date(2026, 2, 1), is_estimate=True)
    assert held_tier(facts).key == "gold"
    [line] = earnings_for_deal(default_plan(), facts)
    assert line.amount == D("31200.00") and line.is_estimate


def test_revenue_events_match_the_tier_held_on_their_date():
    share = plan(rule("revenue_share", rate=15, tier_keys=["gold"]))
    history = steps((date(2025, 1, 1), "silver"), (MARCH_1, "gold"))
    before = event(partner=NOW_GOLD, tier_history=history, occurred_on=date(2026, 2, 28))
    assert earnings_for_revenue_event(share, before) == []
    after = event(partner=NOW_GOLD, tier_history=history, occurred_on=date(2026, 3, 1))
    [line] = earnings_for_revenue_event(share, after)
    assert line.amount == D("1200.00")  # 8,000 × 15 %
    assert (line.explanation["tier"], line.explanation["tier_name"]) == ("gold", "Gold")
    # The explanation names the tier held on the event's date, whatever the rule.
    anyone = plan(rule("revenue_share", rate=15))
    [line] = earnings_for_revenue_event(anyone, before)
    assert (line.explanation["tier"], line.explanation["tier_name"]) == ("silver", "Silver")


def test_period_rules_match_the_tier_held_on_the_periods_last_day():
    rebate = rule(
        "stepped_rebate",
        tier_keys=["gold"],
        params=parse_parameters(
            "stepped_rebate", {"mode": "retroactive", "bands": [{"up_to": None, "rate": "2"}]}
        ),
    )
    # Q1 2026 ends on 31 March: Gold since 1 March counts, the whole period.
    promoted_in = period(partner=NOW_GOLD, tier_history=SILVER_THEN_GOLD)
    [line] = earnings_for_period(plan(rebate), promoted_in)
    assert line.amount == D("6000.00")  # 300,000 × 2 %
    assert line.explanation["tier"] == "gold"
    # Promoted after the period ended: the period was a Silver period.
    late = steps((date(2025, 1, 1), "silver"), (date(2026, 4, 1), "gold"))
    assert earnings_for_period(plan(rebate), period(partner=NOW_GOLD, tier_history=late)) == []


def test_usage_growth_matches_the_tier_held_on_the_periods_last_day():
    bonus = rule(
        "usage_growth_bonus",
        rate=10,
        tier_keys=["gold"],
        params=parse_parameters("usage_growth_bonus", {"threshold": "20"}),
    )
    facts = usage("1000.00", "1500.00")  # February 2026, +50 %
    gold_in_february = steps((date(2025, 1, 1), "silver"), (date(2026, 2, 10), "gold"))
    gold_in_march = steps((date(2025, 1, 1), "silver"), (MARCH_1, "gold"))
    promoted = replace(facts, partner=NOW_GOLD, tier_history=gold_in_february)
    [line] = earnings_for_usage(plan(bonus), promoted)
    assert line.amount == D("50.00")  # 500 growth × 10 %
    assert line.explanation["tier"] == "gold"
    not_yet = replace(facts, partner=NOW_GOLD, tier_history=gold_in_march)
    assert earnings_for_usage(plan(bonus), not_yet) == []
