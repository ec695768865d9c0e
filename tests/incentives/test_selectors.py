"""Facts built from the database for the engine: deals in sets (constant
queries), a period's volume and renewals per partner and currency, and
customers' usage over two periods — then run through the engine with
hand-computed results."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals import services as deal_services
from deals.models import DealRegistration
from incentives import selectors, services
from incentives.engine import CompiledPlan, RuleSpec, earnings_for_period, parse_parameters
from prm.tenancy.context import tenant_context
from tests.incentives.conftest import register

pytestmark = pytest.mark.django_db
D = Decimal


def close(world, n, amount, *, closed_on, deal_type="new", currency="CNY", term=12):
    deal = register(
        world.rep,
        company=f"Customer {n} Ltd",
        email=f"buyer@customer{n}.cn",
        deal_type=deal_type,
        currency=currency,
    )
    with tenant_context(world.tenant):
        return deal_services.close_won(
            deal=deal,
            membership=world.rep,
            actor=world.rep.user,
            final_amount=D(amount),
            currency=currency,
            closed_on=closed_on,
            contract_term_months=term,
        )


def test_period_facts_sum_volume_and_renewals_per_currency(plan_world):
    today = timezone.localdate()
    start, end = today - timedelta(days=60), today
    inside = today - timedelta(days=10)
    close(plan_world, 1, "100000", closed_on=inside)
    close(plan_world, 2, "150000", closed_on=inside, deal_type="renewal")
    close(plan_world, 3, "50000", closed_on=start, deal_type="renewal")  # first day counts
    close(plan_world, 4, "10000", closed_on=inside, currency="MYR")
    close(plan_world, 5, "999", closed_on=start - timedelta(days=1))  # before the period
    reversed_deal = close(plan_world, 6, "70000", closed_on=inside)
    lost = register(plan_world.rep, company="Lapsed Co", email="it@lapsed.cn", deal_type="renewal")
    with tenant_context(plan_world.tenant):
        deal_services.reverse_closed_won(
            deal=reversed_deal,
            membership=plan_world.manager,
            actor=plan_world.manager.user,
            reason="Refunded",
        )
        deal_services.close_lost(
            deal=lost, membership=plan_world.rep, actor=plan_world.rep.user, reason="Churned"
        )
        facts = {f.currency: f for f in selectors.period_facts(start=start, end=end)}

    assert set(facts) == {"CNY", "MYR"}
    cny = facts["CNY"]
    # 100,000 + 150,000 + 50,000 (the reversed 70,000 and the earlier 999 are out).
    assert cny.volume == D("300000.00")
    assert (cny.renewals_won, cny.renewals_lost, cny.renewal_volume) == (2, 1, D("200000.00"))
    assert cny.partner.tier_key == "gold"
    assert facts["MYR"].volume == D("10000.00")

    rebate = RuleSpec(
        id=1,
        version_id=1,
        name="Volume",
        kind="stepped_rebate",
        params=parse_parameters(
            "stepped_rebate",
            {
                "mode": "marginal",
                "bands": [
                    {"up_to": "100000", "rate": "2"},
                    {"up_to": "250000", "rate": "3"},
                    {"up_to": None, "rate": "5"},
                ],
            },
        ),
    )
    # 100,000 × 2 % + 150,000 × 3 % + 50,000 × 5 % = 2,000 + 4,500 + 2,500 = 9,000.
    lines = earnings_for_period(CompiledPlan(1, (rebate,)), cny)
    assert [line.amount for line in lines] == [D("9000.00")]


def test_usage_facts_compare_two_periods_per_customer(plan_world):
    def usage(external_id, customer, amount, on, kind="usage_charge"):
        services.record_revenue_event(
            membership=plan_world.finance,
            actor=plan_world.finance.user,
            partner=plan_world.partner,
            kind=kind,
            amount=D(amount),
            currency="CNY",
            occurred_on=on,
            external_id=external_id,
            customer_name=customer,
        )

    with tenant_context(plan_world.tenant):
        usage("U1", "Kedai Maju", "4000", date(2026, 1, 5))
        usage("U2", "Kedai Maju", "6000", date(2026, 1, 31))
        usage("U3", "Kedai Maju", "13000", date(2026, 2, 14))
        usage("U4", "Newcomer", "500", date(2026, 2, 2))
        usage("U5", "Kedai Maju", "900", date(2026, 2, 20), kind="invoice_paid")
        usage("U6", "Old Only", "800", date(2026, 1, 3))
        facts = selectors.usage_facts(
            previous=(date(2026, 1, 1), date(2026, 1, 31)),
            current=(date(2026, 2, 1), date(2026, 2, 28)),
        )
    assert [(f.customer_name, f.previous_usage, f.current_usage) for f in facts] == [
        ("Kedai Maju", D("10000.00"), D("13000.00")),
        ("Newcomer", D("0"), D("500.00")),
    ]
    # 10,000 → 13,000 is 30 % growth.
    assert facts[0].growth_percent == D("30")


def test_deal_facts_for_many_deals_take_constant_queries(plan_world):
    today = timezone.localdate()
    for n in range(2):
        close(plan_world, n, "1000", closed_on=today)
    with tenant_context(plan_world.tenant):
        closed = DealRegistration.objects.filter(stage=DealRegistration.Stage.CLOSED_WON)
        with CaptureQueriesContext(connection) as few:
            assert len(selectors.deal_facts_for(closed)) == 2
    for n in range(2, 8):
        close(plan_world, n, "1000", closed_on=today)
    with tenant_context(plan_world.tenant):
        with CaptureQueriesContext(connection) as many:
            facts = selectors.deal_facts_for(closed)
        assert len(facts) == 8
    assert len(many) == len(few)
    assert {f.partner.tier_key for f in facts} == {"gold"}
    assert {f.partner.tier_name for f in facts} == {"Gold"}  # shown in explanations
    assert facts[0].tier_history[0].tier_key == "gold"
