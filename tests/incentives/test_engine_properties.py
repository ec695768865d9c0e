"""Invariants of the engine under random inputs (Hypothesis): rebates are
monotonic and marginal never exceeds retroactive with rising band rates; a
co-sell split never pays more than the whole; a refund mirrors its invoice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from incentives.engine import (
    CompiledPlan,
    DealFacts,
    PartnerFacts,
    RevenueEventFacts,
    RuleSpec,
    earnings_for_deal,
    earnings_for_revenue_event,
    money,
    parse_parameters,
    stepped_rebate,
)

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2)
PARTNER = PartnerFacts(1, "reseller", "gold", "MY", "")


@st.composite
def rising_bands(draw):
    limits = sorted(
        draw(st.sets(st.integers(min_value=1, max_value=5_000_000), min_size=1, max_size=4))
    )
    band_rates = sorted(draw(st.lists(rates, min_size=len(limits) + 1, max_size=len(limits) + 1)))
    bands = [
        {"up_to": str(limit), "rate": str(rate)}
        for limit, rate in zip(limits, band_rates, strict=False)
    ]
    bands.append({"up_to": None, "rate": str(band_rates[-1])})
    return bands


def rebate(mode, bands) -> RuleSpec:
    params = parse_parameters("stepped_rebate", {"mode": mode, "bands": bands})
    return RuleSpec(id=1, version_id=1, name="r", kind="stepped_rebate", params=params)


@given(rising_bands(), amounts, amounts)
def test_rebates_are_monotonic_and_marginal_never_beats_retroactive(bands, a, b):
    low, high = sorted((a, b))
    marginal, retroactive = rebate("marginal", bands), rebate("retroactive", bands)
    for spec in (marginal, retroactive):
        assert stepped_rebate(spec, low)[0] <= stepped_rebate(spec, high)[0]
    assert stepped_rebate(marginal, high)[0] <= stepped_rebate(retroactive, high)[0]


@given(amounts, rates, st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=2))
def test_a_split_never_pays_more_than_the_whole(amount, rate, share):
    plan = CompiledPlan(
        1, (RuleSpec(id=1, version_id=1, name="c", kind="tier_commission", rate=rate),)
    )

    def paid(partner_share):
        facts = DealFacts(
            deal_id=1,
            partner=PARTNER,
            deal_type="new",
            registered=True,
            amount=amount,
            currency="CNY",
            closed_on=date(2026, 1, 1),
            partner_share=partner_share,
        )
        return earnings_for_deal(plan, facts)[0].amount

    whole, part = paid(Decimal("100")), paid(share)
    assert Decimal("0") <= part <= whole
    assert whole == money(amount * rate / 100)


@given(amounts, rates)
def test_a_refund_mirrors_its_invoice(amount, rate):
    plan = CompiledPlan(
        1, (RuleSpec(id=1, version_id=1, name="s", kind="revenue_share", rate=rate),)
    )

    def paid(kind):
        facts = RevenueEventFacts(1, PARTNER, kind, amount, "MYR", date(2026, 1, 1))
        return earnings_for_revenue_event(plan, facts)[0].amount

    assert paid("refund") == -paid("invoice_paid")
