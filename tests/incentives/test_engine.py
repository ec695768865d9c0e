"""The rule engine on hand-built facts: every rule kind with hand-computed
amounts (the arithmetic is in the comments), rounding, matching, the priority
policy and co-sell splits. Pure computation: no database."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest

from incentives.engine import (
    CompiledPlan,
    DealFacts,
    LineFacts,
    Parameters,
    PartnerFacts,
    PeriodFacts,
    RevenueEventFacts,
    RuleError,
    RuleSpec,
    TierStep,
    UsageFacts,
    check_rule,
    earnings_for_deal,
    earnings_for_period,
    earnings_for_revenue_event,
    earnings_for_usage,
    money,
    parse_parameters,
)

D = Decimal
_ids = itertools.count(1)
TIER_RATES = {"bronze": D("20"), "silver": D("23"), "gold": D("26"), "platinum": D("30")}
RANKS = {"bronze": 1, "silver": 2, "gold": 3, "platinum": 4}


def rule(kind="tier_commission", **fields) -> RuleSpec:
    fields.setdefault("name", kind)
    for name in (
        "partner_type_keys",
        "tier_keys",
        "product_ids",
        "product_lines",
        "countries",
        "regions",
        "deal_types",
    ):
        if name in fields:
            fields[name] = frozenset(fields[name])
    if "rate" in fields and fields["rate"] is not None:
        fields["rate"] = D(str(fields["rate"]))
    if "fixed_amount" in fields:
        fields["fixed_amount"] = D(str(fields["fixed_amount"]))
        fields.setdefault("payout", "fixed")
    return RuleSpec(id=next(_ids), version_id=7, kind=kind, **fields)


def plan(*rules: RuleSpec) -> CompiledPlan:
    return CompiledPlan(version_id=7, rules=rules)


def partner(tier="gold", type_key="reseller", country="MY", region="Selangor") -> PartnerFacts:
    return PartnerFacts(42, type_key, tier, country, region)


def deal(**fields) -> DealFacts:
    values = {
        "deal_id": 99,
        "partner": partner(),
        "deal_type": "new",
        "registered": True,
        "amount": D("120000.00"),
        "currency": "CNY",
        "closed_on": date(2026, 3, 15),
        "contract_term_months": 12,
    }
    values.update(fields)
    return DealFacts(**values)


def default_plan() -> CompiledPlan:
    return plan(*(rule(tier_keys=[key], rate=rate) for key, rate in TIER_RATES.items()))


def amounts(lines) -> list[Decimal]:
    return [line.amount for line in lines]


# --- tier-based commission and referral fees --------------------------------------


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("bronze", D("24000.00")),  # 120,000 × 12/12 × 20 % = 24,000
        ("silver", D("27600.00")),  # 120,000 × 23 % = 27,600
        ("gold", D("31200.00")),  # 120,000 × 26 % = 31,200
        ("platinum", D("36000.00")),  # 120,000 × 30 % = 36,000
    ],
)
def test_tier_commission_pays_the_seeded_tier_rate(tier, expected):
    lines = earnings_for_deal(default_plan(), deal(partner=partner(tier=tier)))

    assert amounts(lines) == [expected]
    line = lines[0]
    assert (line.kind, line.rate, line.base, line.currency) == (
        "tier_commission",
        TIER_RATES[tier],
        D("120000.00"),
        "CNY",
    )
    assert line.plan_version_id == 7
    assert line.source_key == "deal:99"
    assert line.explanation["tier"] == tier
    assert line.explanation["formula"] == f"120000.00 × {TIER_RATES[tier]}% = {expected}"


def test_a_partner_without_a_matching_tier_earns_no_tier_commission():
    assert earnings_for_deal(default_plan(), deal(partner=partner(tier=""))) == []


def test_referral_fee_is_a_share_of_first_year_contract_value():
    fee = plan(rule("referral_fee", rate=15, partner_type_keys=["referral"]))
    # 36-month contract of 90,000: first year = 90,000 × 12/36 = 30,000; 15 % = 4,500.
    lines = earnings_for_deal(
        fee,
        deal(partner=partner(type_key="referral"), amount=D("90000"), contract_term_months=36),
    )
    assert amounts(lines) == [D("4500.00")]
    assert lines[0].base == D("30000.00")
    assert lines[0].explanation["term_months"] == 36
    assert lines[0].explanation["first_year_months"] == 12
    assert lines[0].explanation["base_kind"] == "first_year_value"


@pytest.mark.parametrize(
    ("amount", "term", "expected"),
    [
        (D("6000"), 6, D("1800.00")),  # shorter than a year: all of it, 6,000 × 30 % = 1,800
        (D("6000"), None, D("1800.00")),  # unknown term: the whole amount is first-year
        (D("240000"), 24, D("36000.00")),  # 240,000 × 12/24 = 120,000 × 30 % = 36,000
    ],
)
def test_first_year_value_definition(amount, term, expected):
    fee = plan(rule("referral_fee", rate=30))
    lines = earnings_for_deal(fee, deal(amount=amount, contract_term_months=term))
    assert amounts(lines) == [expected]


def test_base_can_be_the_whole_deal_amount():
    fee = plan(rule("referral_fee", rate=15, base="deal_amount"))
    # 90,000 × 15 % = 13,500 (the term is ignored).
    lines = earnings_for_deal(fee, deal(amount=D("90000"), contract_term_months=36))
    assert amounts(lines) == [D("13500.00")]


def test_rounding_is_half_up_once_at_the_end_of_the_line():
    # 10,000 over 36 months: first year 3,333.333…; × 20 % = 666.666… → 666.67.
    lines = earnings_for_deal(plan(rule(rate=20)), deal(amount=D("10000"), contract_term_months=36))
    assert amounts(lines) == [D("666.67")]
    assert lines[0].base == D("3333.33")
    # 1,503.65 × 10 % = 150.365 → 150.37 half up (banker's rounding would give 150.36).
    lines = earnings_for_deal(plan(rule(rate=10)), deal(amount=D("1503.65")))
    assert amounts(lines) == [D("150.37")]
    assert money(D("2.675")) == D("2.68")
    assert money(D("-2.675")) == D("-2.68")


# --- recurring revenue share -------------------------------------------------------


def event(kind="invoice_paid", amount="8000.00", **fields) -> RevenueEventFacts:
    values = {
        "event_id": 5,
        "partner": partner(type_key="msp_var"),
        "kind": kind,
        "amount": D(amount),
        "currency": "MYR",
        "occurred_on": date(2026, 4, 1),
        "customer_name": "Kedai Maju",
    }
    values.update(fields)
    return RevenueEventFacts(**values)


def test_revenue_share_pays_a_percentage_of_every_paid_invoice():
    share = plan(rule("revenue_share", rate=15, partner_type_keys=["msp_var"]))
    # 8,000 × 15 % = 1,200.
    lines = earnings_for_revenue_event(share, event())
    assert amounts(lines) == [D("1200.00")]
    assert (lines[0].source, lines[0].source_key, lines[0].currency) == (
        "revenue_event",
        "revenue_event:5",
        "MYR",
    )
    assert lines[0].explanation["customer"] == "Kedai Maju"
    # A usage charge is revenue too: 1,234.56 × 15 % = 185.184 → 185.18.
    assert amounts(earnings_for_revenue_event(share, event("usage_charge", "1234.56"))) == [
        D("185.18")
    ]


def test_a_refund_produces_a_negative_line():
    share = plan(rule("revenue_share", rate=15))
    # −(2,000 × 15 %) = −300.
    lines = earnings_for_revenue_event(share, event("refund", "2000.00"))
    assert amounts(lines) == [D("-300.00")]
    assert lines[0].base == D("-2000.00")
    assert lines[0].explanation["formula"] == "-(2000.00 × 15%) = -300.00"


def test_revenue_share_ends_with_the_rule():
    share = plan(rule("revenue_share", rate=10, ends_on=date(2026, 3, 31)))
    assert earnings_for_revenue_event(share, event()) == []


def test_revenue_share_of_a_co_sold_deal_is_split():
    share = plan(rule("revenue_share", rate=20))
    # 8,000 × 20 % × 30 % = 480.
    lines = earnings_for_revenue_event(share, event(partner_share=D("30")))
    assert amounts(lines) == [D("480.00")]
    assert lines[0].explanation["split"] == "30"


# --- stepped rebates ---------------------------------------------------------------

BANDS = [
    {"up_to": "100000", "rate": "2"},
    {"up_to": "250000", "rate": "3"},
    {"up_to": None, "rate": "5"},
]


def rebate(mode: str) -> RuleSpec:
    return rule(
        "stepped_rebate", params=parse_parameters("stepped_rebate", {"mode": mode, "bands": BANDS})
    )


def period(volume="300000", **fields) -> PeriodFacts:
    values = {
        "partner": partner(),
        "period_start": date(2026, 1, 1),
        "period_end": date(2026, 3, 31),
        "currency": "CNY",
        "volume": D(volume),
    }
    values.update(fields)
    return PeriodFacts(**values)


def test_marginal_rebate_pays_each_band_at_its_own_rate():
    # 100,000 × 2 % = 2,000; (250,000 − 100,000) × 3 % = 4,500; (300,000 − 250,000) × 5 % = 2,500.
    lines = earnings_for_period(plan(rebate("marginal")), period())
    assert amounts(lines) == [D("9000.00")]
    detail = lines[0].explanation
    assert detail["mode"] == "marginal"
    assert detail["band"] == 3
    assert [s["amount"] for s in detail["slices"]] == ["2000.00", "4500.00", "2500.00"]
    assert lines[0].source_key == "period:2026-01-01:2026-03-31:CNY"


def test_retroactive_rebate_applies_the_reached_band_to_the_whole_volume():
    # 300,000 reached band 3: 300,000 × 5 % = 15,000.
    lines = earnings_for_period(plan(rebate("retroactive")), period())
    assert amounts(lines) == [D("15000.00")]
    assert (lines[0].explanation["band"], lines[0].explanation["rate"]) == (3, "5")


@pytest.mark.parametrize(
    ("volume", "marginal", "retroactive"),
    [
        # On a limit, the volume belongs to the lower band.
        ("250000", D("6500.00"), D("7500.00")),  # 2,000 + 4,500 | 250,000 × 3 %
        ("100000", D("2000.00"), D("2000.00")),  # 100,000 × 2 % either way
        ("50000.50", D("1000.01"), D("1000.01")),  # 50,000.50 × 2 % = 1,000.01
    ],
)
def test_rebate_band_limits(volume, marginal, retroactive):
    assert amounts(earnings_for_period(plan(rebate("marginal")), period(volume))) == [marginal]
    assert amounts(earnings_for_period(plan(rebate("retroactive")), period(volume))) == [
        retroactive
    ]


def test_no_volume_no_rebate():
    assert earnings_for_period(plan(rebate("marginal")), period("0")) == []


@pytest.mark.parametrize(
    "bands",
    [
        [],
        [{"up_to": "100", "rate": "2"}],  # the last band must be open-ended
        [
            {"up_to": "200", "rate": "2"},
            {"up_to": "100", "rate": "3"},
            {"up_to": None, "rate": "4"},
        ],
        [{"up_to": None, "rate": "2"}, {"up_to": None, "rate": "3"}],
        [{"up_to": "100", "rate": "120"}, {"up_to": None, "rate": "3"}],
    ],
)
def test_malformed_bands_are_refused(bands):
    with pytest.raises(RuleError):
        parse_parameters("stepped_rebate", {"mode": "marginal", "bands": bands})


# --- bonuses --------------------------------------------------------------------------


def test_new_customer_bonus_pays_on_new_business_only():
    bonus = plan(rule("new_customer_bonus", fixed_amount="500"))
    assert amounts(earnings_for_deal(bonus, deal())) == [D("500.00")]
    assert earnings_for_deal(bonus, deal(deal_type="renewal")) == []
    # As a percentage: 120,000 × 5 % = 6,000.
    percent = plan(rule("new_customer_bonus", rate=5))
    assert amounts(earnings_for_deal(percent, deal())) == [D("6000.00")]


def test_fixed_bonus_in_the_rules_currency():
    bonus = plan(rule("new_customer_bonus", fixed_amount="100", currency="USD"))
    lines = earnings_for_deal(bonus, deal())
    assert (lines[0].amount, lines[0].currency, lines[0].rate) == (D("100.00"), "USD", None)


SPIFF_LINES = (
    LineFacts(1, "Analytics", D("40000")),
    LineFacts(2, "Core", D("80000")),
)


def spiff(**fields) -> RuleSpec:
    values = {
        "rate": 10,
        "product_lines": ["Analytics"],
        "starts_on": date(2026, 3, 1),
        "ends_on": date(2026, 3, 31),
    }
    values.update(fields)
    return rule("spiff", **values)


def test_spiff_pays_on_the_pushed_products_within_its_dates():
    # Base: 120,000 first-year × 40,000 Analytics ÷ 120,000 all lines = 40,000; × 10 % = 4,000.
    lines = earnings_for_deal(plan(spiff()), deal(lines=SPIFF_LINES))
    assert amounts(lines) == [D("4000.00")]
    assert lines[0].explanation["matching_lines_amount"] == "40000.00"
    assert lines[0].explanation["all_lines_amount"] == "120000.00"
    # The last day counts; the day after does not.
    assert earnings_for_deal(plan(spiff()), deal(lines=SPIFF_LINES, closed_on=date(2026, 3, 31)))
    assert (
        earnings_for_deal(plan(spiff()), deal(lines=SPIFF_LINES, closed_on=date(2026, 4, 1))) == []
    )
    # No pushed product on the deal, no SPIFF.
    assert earnings_for_deal(plan(spiff()), deal(lines=SPIFF_LINES[1:])) == []


def test_spiff_base_follows_the_first_year_value():
    # 36-month deal of 360,000 with lines 120,000 Analytics / 240,000 Core:
    # first year 120,000 × 120,000 ÷ 360,000 = 40,000; × 10 % = 4,000.
    lines = (LineFacts(1, "Analytics", D("120000")), LineFacts(2, "Core", D("240000")))
    result = earnings_for_deal(
        plan(spiff()), deal(amount=D("360000"), contract_term_months=36, lines=lines)
    )
    assert amounts(result) == [D("4000.00")]


def test_spiffs_stack_and_match_by_product_id():
    # By product id 2 (Core 80,000): 80,000 × 2 % = 1,600; Analytics: 4,000.
    lines = earnings_for_deal(
        plan(spiff(), spiff(product_lines=[], product_ids=[2], rate=2)), deal(lines=SPIFF_LINES)
    )
    assert sorted(amounts(lines)) == [D("1600.00"), D("4000.00")]


def promotion(**fields) -> RuleSpec:
    values = {
        "rate": 5,
        "starts_on": date(2026, 1, 1),
        "ends_on": date(2026, 3, 31),
        "params": Parameters(tier_key="gold", reached_by=date(2025, 12, 31)),
    }
    values.update(fields)
    return rule("tier_promotion_bonus", **values)


def history(*steps) -> tuple[TierStep, ...]:
    return tuple(TierStep(on, key, RANKS[key]) for on, key in steps)


def test_tier_promotion_bonus_rewards_reaching_the_tier_by_the_date():
    reached = history((date(2025, 1, 1), "bronze"), (date(2025, 11, 20), "gold"))
    facts = deal(
        amount=D("60000"), closed_on=date(2026, 2, 10), tier_history=reached, tier_ranks=RANKS
    )
    # Reach Gold by year-end: +5 % on Q1 deals. 60,000 × 5 % = 3,000.
    lines = earnings_for_deal(plan(promotion()), facts)
    assert amounts(lines) == [D("3000.00")]
    assert lines[0].explanation["promotion_tier"] == "gold"
    assert lines[0].explanation["reached_by"] == "2025-12-31"


def test_tier_promotion_bonus_needs_the_tier_in_time_and_a_deal_in_the_period():
    late = history((date(2025, 1, 1), "bronze"), (date(2026, 1, 5), "gold"))
    assert earnings_for_deal(plan(promotion()), deal(tier_history=late, tier_ranks=RANKS)) == []
    higher = history((date(2025, 1, 1), "silver"), (date(2025, 6, 1), "platinum"))
    assert earnings_for_deal(plan(promotion()), deal(tier_history=higher, tier_ranks=RANKS))
    after_period = deal(closed_on=date(2026, 4, 1), tier_history=higher, tier_ranks=RANKS)
    assert earnings_for_deal(plan(promotion()), after_period) == []


def renewal_bonus(**fields) -> RuleSpec:
    values = {"rate": 2, "params": parse_parameters("renewal_rate_bonus", {"threshold": "90"})}
    values.update(fields)
    return rule("renewal_rate_bonus", **values)


def test_renewal_rate_bonus_pays_when_the_rate_reaches_the_threshold():
    # 9 renewed of 10 due = 90 % ≥ 90 %: 200,000 renewal volume × 2 % = 4,000.
    facts = period(renewals_won=9, renewals_lost=1, renewal_volume=D("200000"))
    lines = earnings_for_period(plan(renewal_bonus()), facts)
    assert amounts(lines) == [D("4000.00")]
    assert lines[0].explanation["renewal_rate"] == "90.00"
    # 8 of 10 = 80 %: nothing.
    below = period(renewals_won=8, renewals_lost=2, renewal_volume=D("200000"))
    assert earnings_for_period(plan(renewal_bonus()), below) == []
    # No renewals at all: no rate, nothing.
    assert earnings_for_period(plan(renewal_bonus()), period()) == []


def usage(previous: str, current: str) -> UsageFacts:
    return UsageFacts(
        partner=partner(type_key="msp_var"),
        customer_name="Kedai Maju",
        period_start=date(2026, 2, 1),
        period_end=date(2026, 2, 28),
        currency="MYR",
        previous_usage=D(previous),
        current_usage=D(current),
    )


def test_usage_growth_bonus_pays_on_growth_above_the_threshold():
    bonus = plan(
        rule(
            "usage_growth_bonus",
            rate=10,
            params=parse_parameters("usage_growth_bonus", {"threshold": "20"}),
        )
    )
    # 10,000 → 13,000: growth 3,000 = 30 % ≥ 20 %; 3,000 × 10 % = 300.
    lines = earnings_for_usage(bonus, usage("10000", "13000"))
    assert amounts(lines) == [D("300.00")]
    assert lines[0].explanation["growth_percent"] == "30.00"
    # 10,000 → 11,500 is 15 %: below the threshold.
    assert earnings_for_usage(bonus, usage("10000", "11500")) == []
    # Growth from nothing has no rate.
    assert earnings_for_usage(bonus, usage("0", "5000")) == []
    # Shrinking usage earns nothing.
    assert earnings_for_usage(bonus, usage("10000", "9000")) == []


# --- co-sell splits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "role", "expected"),
    [
        # Platinum 30 % on 100,000: × 70 % partner-sourced = 21,000; × 30 % direct = 9,000.
        (D("70"), "partner_sourced", D("21000.00")),
        (D("30"), "direct_sourced", D("9000.00")),
        (D("100"), "sole", D("30000.00")),
    ],
)
def test_co_sell_share_scales_the_commission(share, role, expected):
    facts = deal(partner=partner(tier="platinum"), amount=D("100000"), partner_share=share)
    lines = earnings_for_deal(default_plan(), facts)
    assert amounts(lines) == [expected]
    assert facts.co_sell_role == role
    if share < 100:
        assert lines[0].explanation["split"] == f"{share:f}"
        assert lines[0].explanation["co_sell_role"] == role
    else:
        assert "split" not in lines[0].explanation


def test_co_sell_split_scales_fixed_bonuses_too():
    bonus = plan(rule("new_customer_bonus", fixed_amount="500"))
    # 500 × 30 % = 150.
    assert amounts(earnings_for_deal(bonus, deal(partner_share=D("30")))) == [D("150.00")]


def test_co_sell_role_dimension():
    only_direct = plan(rule(rate=10, co_sell_role="direct_sourced"))
    assert earnings_for_deal(only_direct, deal(partner_share=D("70"))) == []
    # 120,000 × 10 % × 30 % = 3,600.
    assert amounts(earnings_for_deal(only_direct, deal(partner_share=D("30")))) == [D("3600.00")]


# --- matching dimensions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "facts", "matches"),
    [
        ({"partner_type_keys": ["reseller"]}, {}, True),
        ({"partner_type_keys": ["referral"]}, {}, False),
        ({"tier_keys": ["gold", "platinum"]}, {}, True),
        ({"tier_keys": ["bronze"]}, {}, False),
        ({"countries": ["MY"]}, {}, True),
        ({"countries": ["SG"]}, {}, False),
        ({"countries": ["SG"]}, {"country": "SG"}, True),  # the customer's country wins
        ({"regions": ["selangor"]}, {}, True),  # case-insensitive
        ({"regions": ["Johor"]}, {}, False),
        ({"deal_types": ["renewal", "upsell"]}, {}, False),
        ({"deal_types": ["renewal"]}, {"deal_type": "renewal"}, True),
        ({"registered": "yes"}, {}, True),
        ({"registered": "no"}, {}, False),
        ({"registered": "no"}, {"registered": False}, True),
        ({"starts_on": date(2026, 3, 15)}, {}, True),  # both ends inclusive
        ({"ends_on": date(2026, 3, 15)}, {}, True),
        ({"starts_on": date(2026, 3, 16)}, {}, False),
        ({"ends_on": date(2026, 3, 14)}, {}, False),
    ],
)
def test_matching_dimensions(fields, facts, matches):
    lines = earnings_for_deal(plan(rule(rate=10, **fields)), deal(**facts))
    assert bool(lines) is matches


# --- the priority policy ------------------------------------------------------------------


def test_within_a_kind_group_the_highest_priority_rule_pays():
    tier = rule(rate=20)
    referral = rule("referral_fee", rate=15, priority=10, partner_type_keys=["referral"])
    commission = plan(tier, referral)
    # A referral partner gets the referral fee instead of the tier commission: 120,000 × 15 %.
    lines = earnings_for_deal(commission, deal(partner=partner(type_key="referral")))
    assert [(line.rule_id, line.amount) for line in lines] == [(referral.id, D("18000.00"))]
    # A reseller does not match the referral rule: the tier commission pays.
    assert [line.rule_id for line in earnings_for_deal(commission, deal())] == [tier.id]


def test_equal_priorities_go_to_the_older_rule():
    older, newer = rule(rate=20), rule(rate=25)
    assert [line.rule_id for line in earnings_for_deal(plan(newer, older), deal())] == [older.id]


def test_different_groups_add_up():
    # 120,000 × 26 % = 31,200 commission + 500 new-customer bonus.
    combined = plan(*default_plan().rules, rule("new_customer_bonus", fixed_amount="500"))
    lines = earnings_for_deal(combined, deal())
    assert sorted(amounts(lines)) == [D("500.00"), D("31200.00")]
    assert sum(amounts(lines)) == D("31700.00")


def test_estimates_are_labelled():
    lines = earnings_for_deal(default_plan(), deal(is_estimate=True))
    assert lines[0].is_estimate and lines[0].explanation["estimate"] is True


# --- rule checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (rule(rate=None), "rate"),
        (rule(rate=120), "rate"),
        (rule(payout="fixed"), "fixed_amount"),
        (rule(rate=5, starts_on=date(2026, 2, 1), ends_on=date(2026, 1, 1)), "ends_on"),
        (rule("spiff", rate=5), "product_lines"),
        (rule("revenue_share", rate=5, deal_types=["new"]), "deal_types"),
        (rule("tier_promotion_bonus", rate=5), "starts_on"),
        (promotion(starts_on=date(2025, 12, 1)), "starts_on"),
        (rule("stepped_rebate", fixed_amount="5"), "payout"),
    ],
)
def test_inconsistent_rules_are_refused_on_the_culprit_field(spec, field):
    with pytest.raises(RuleError) as refused:
        check_rule(spec)
    assert refused.value.field == field
