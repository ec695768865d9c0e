"""What happens to a partner or a deal after its period closed does not change
what the period earned: a tier change (rules match the tier held on the
deal's, event's or period's day) and a reversal (the period rules count the
deals as they were when the period closed) replay with no difference, so a
correction posts nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deals import services as deal_services
from deals.models import DealRegistration
from incentives import selectors, services
from incentives.commissions import incentive_settings
from incentives.models import IncentiveSettings, PayoutPeriod
from incentives.payouts.replay import correct_period, replay_period
from incentives.period_earnings import post_period_earnings
from partners.models import Tier
from partners.services import assign_tier
from prm.ledger.models import LedgerTransaction, SourceType
from prm.tenancy.context import tenant_context
from tests.replay.conftest import (
    CLOSED_ON,
    CORRECTED_ON,
    PUBLISHED_FROM,
    SEPTEMBER,
    D,
)
from tests.replay.test_period_rules import rebated  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

GOLD_EXTRAS = (
    {"name": "Gold share", "kind": "revenue_share", "tier_keys": ["gold"], "rate": "5"},
    {
        "name": "Gold rebate",
        "kind": "stepped_rebate",
        "tier_keys": ["gold"],
        "parameters": {"mode": "retroactive", "bands": [{"up_to": None, "rate": "3"}]},
    },
)


def publish_gold_extras(world) -> None:
    """A second plan paying Gold partners only: 5 % revenue share and a 3 % rebate."""
    with tenant_context(world.tenant):
        plan = services.create_plan(
            membership=world.admin, actor=world.admin.user, name="Gold extras"
        )
        version = plan.versions.get()
        for data in GOLD_EXTRAS:
            services.add_rule(
                version=version, membership=world.admin, actor=world.admin.user, data=data
            )
        services.publish_version(
            version=version,
            membership=world.admin,
            actor=world.admin.user,
            effective_from=PUBLISHED_FROM,
            today=PUBLISHED_FROM,
        )


def demote(world, partner) -> None:
    with tenant_context(world.tenant):
        assign_tier(
            partner=partner,
            tier=Tier.objects.get(key="silver"),
            actor=world.manager.user,
            membership=world.manager,
            reason="Missed the Gold revenue target",
        )


def correct(world, period) -> int:
    return correct_period(
        period=period,
        membership=world.finance,
        actor=world.finance.user,
        reason="Replay",
        today=CORRECTED_ON,
    )


# --- tier changes -------------------------------------------------------------------------


def test_a_tier_change_after_the_close_replays_with_no_difference(world):
    publish_gold_extras(world)
    world.close(world.huatong, "20000.00")
    world.revenue(world.huatong, "4000.00")
    world.run_job()
    with tenant_context(world.tenant):
        september = PayoutPeriod.objects.create(start=SEPTEMBER[0], end=SEPTEMBER[1])
        assert post_period_earnings(period=september, today=CLOSED_ON) == 1
    closed = world.close_september()
    demote(world, world.huatong)  # Gold rules no longer match Huatong today
    with tenant_context(world.tenant):
        result = replay_period(period=closed, membership=world.finance)
        assert result.rows == []
        # 20,000 × 25 % + 4,000 × (15 % + 5 %) + 20,000 × 3 % = 5,000 + 800 + 600.
        [total] = result.totals
        assert total.expected == total.posted == D("6400.00")
        assert result.compared == 4
        count = LedgerTransaction.objects.count()
        assert correct(world, closed) == 0
        assert LedgerTransaction.objects.count() == count


def test_a_deal_computed_after_a_demotion_earns_at_the_tier_held_on_its_close_date(world):
    deal = world.close(world.huatong, "20000.00")  # 10 September, Huatong is Gold
    demote(world, world.huatong)
    world.run_job()
    with tenant_context(world.tenant):
        earning = LedgerTransaction.objects.get(source_type=SourceType.DEAL, source_id=deal.pk)
        assert earning.explanation["amount"] == "5000.00"  # 20,000 × 25 %
        assert earning.explanation["tier"] == "gold"
        assert earning.explanation["tier_name"] == "Gold"


def test_the_live_estimate_uses_the_current_tier(world):
    rep = world.reps[world.huatong.pk]
    with tenant_context(world.tenant):
        deal = deal_services.register_deal(
            membership=rep,
            actor=rep.user,
            customer_company="Open Deal Ltd",
            contact_name="Li Na",
            contact_email="buyer@open-deal.cn",
            estimated_close_date=timezone.localdate() + timedelta(days=20),
            estimated_amount=D("40000.00"),
            currency="CNY",
        )
        # Gold today: 40,000 × 25 % = 10,000.
        [line] = selectors.estimate_for_deal(deal)
        assert (line.amount, line.explanation["tier"]) == (D("10000.00"), "gold")
    demote(world, world.huatong)
    with tenant_context(world.tenant):
        assert selectors.estimate_for_deal(DealRegistration.objects.get(pk=deal.pk)) == []


# --- reversals --------------------------------------------------------------------------


@pytest.mark.parametrize("inside_window", [True, False])
def test_a_reversal_after_the_close_leaves_the_periods_rebate_alone(
    world,
    rebated,  # noqa: F811 (fixture)
    inside_window,
):
    deal = world.deals[0]  # Huatong, 20,000: 5,000 commission, 600 rebate
    with tenant_context(world.tenant):
        incentive_settings()
        # Counted from the close date (10 September): the reversal is today.
        IncentiveSettings.objects.update(clawback_days=3650 if inside_window else 30)
        deal_services.reverse_closed_won(
            deal=DealRegistration.objects.get(pk=deal.pk),
            membership=world.manager,
            actor=world.manager.user,
            reason="Customer refunded",
        )
        reversed_at = DealRegistration.objects.get(pk=deal.pk).reversed_at
        assert reversed_at > PayoutPeriod.objects.get(pk=rebated.pk).closed_at
    counts = world.run_job()
    assert counts["clawbacks_posted"] == (1 if inside_window else 0)
    with tenant_context(world.tenant):
        result = replay_period(period=rebated, membership=world.finance)
        assert result.rows == []
        [total] = result.totals
        # The rebate stays; the commission is clawed back inside the window only.
        assert total.expected == total.posted == D("600.00" if inside_window else "5600.00")
        assert correct(world, rebated) == 0


def test_period_facts_count_a_deal_as_reversed_only_from_the_moment_it_was(world):
    deal = world.close(world.huatong, "20000.00")
    with tenant_context(world.tenant):
        deal_services.reverse_closed_won(
            deal=DealRegistration.objects.get(pk=deal.pk),
            membership=world.manager,
            actor=world.manager.user,
            reason="Cancelled",
        )
        reversed_at = DealRegistration.objects.get(pk=deal.pk).reversed_at

        def volume(as_of):
            facts = selectors.period_facts(start=SEPTEMBER[0], end=SEPTEMBER[1], as_of=as_of)
            return [(f.partner.partner_id, f.volume) for f in facts]

        assert volume(reversed_at - timedelta(seconds=1)) == [(world.huatong.pk, D("20000.00"))]
        assert volume(reversed_at) == []
        assert volume(None) == []  # now
