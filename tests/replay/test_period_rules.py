"""The replay also covers the period-based rules (``incentives.period_earnings``):
a stepped rebate posted for September replays with no difference, and a change
to the period's volume after the close shows, and is corrected, like a deal's."""

from __future__ import annotations

import pytest

from deals.models import DealRegistration
from incentives import services
from incentives.models import PayoutPeriod
from incentives.payouts.replay import Status, correct_period, replay_period
from incentives.period_earnings import post_period_earnings
from prm.ledger.models import LedgerTransaction, SourceType
from prm.tenancy.context import tenant_context
from tests.replay.conftest import CLOSED_ON, CORRECTED_ON, PUBLISHED_FROM, SEPTEMBER, D

pytestmark = pytest.mark.django_db

# 3 % of the whole period's volume up to 50,000 (retroactive bands).
REBATE = {
    "name": "Volume rebate",
    "kind": "stepped_rebate",
    "parameters": {
        "mode": "retroactive",
        "bands": [{"up_to": "50000", "rate": "3"}, {"up_to": None, "rate": "4"}],
    },
}


@pytest.fixture
def rebated(world) -> PayoutPeriod:
    """September with one 20,000 deal for Huatong (5,000 commission, 600 rebate), closed."""
    with tenant_context(world.tenant):
        plan = services.create_plan(membership=world.admin, actor=world.admin.user, name="Rebates")
        version = plan.versions.get()
        services.add_rule(
            version=version, membership=world.admin, actor=world.admin.user, data=REBATE
        )
        services.publish_version(
            version=version,
            membership=world.admin,
            actor=world.admin.user,
            effective_from=PUBLISHED_FROM,
            today=PUBLISHED_FROM,
        )
    world.close(world.huatong, "20000.00")
    world.run_job()
    with tenant_context(world.tenant):
        september = PayoutPeriod.objects.create(start=SEPTEMBER[0], end=SEPTEMBER[1])
        assert post_period_earnings(period=september, today=CLOSED_ON) == 1
    return world.close_september()


def test_posted_period_rules_replay_with_no_difference(world, rebated):
    with tenant_context(world.tenant):
        result = replay_period(period=rebated, membership=world.finance)
    assert result.rows == []
    assert result.compared == 2  # the deal's commission and the period's rebate
    assert result.totals[0].expected == result.totals[0].posted == D("5600.00")


def test_a_volume_change_after_the_close_is_corrected_for_the_rebate_too(world, rebated):
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=world.deals[0].pk).update(final_amount=D("24000.00"))
        rows = replay_period(period=rebated, membership=world.finance).rows
        assert {(r.source_type, r.status, r.expected, r.posted) for r in rows} == {
            (SourceType.DEAL, Status.DIFFERENT, D("6000.00"), D("5000.00")),
            (SourceType.PERIOD, Status.DIFFERENT, D("720.00"), D("600.00")),
        }
        [period_row] = [r for r in rows if r.source_type == SourceType.PERIOD]
        assert period_row.key.startswith("period:") and "2026-09-01~2026-09-30" in period_row.key
        assert period_row.source_label == "Period rule"
        posted = correct_period(
            period=rebated,
            membership=world.finance,
            actor=world.finance.user,
            reason="Volume corrected",
            today=CORRECTED_ON,
        )
        assert posted == 2
        rebate_fix = LedgerTransaction.objects.get(
            idempotency_key=f"correction:{rebated.pk}:{period_row.key}:1"
        )
        assert rebate_fix.partner_id == world.huatong.pk
        assert rebate_fix.effective_date == CORRECTED_ON
        assert replay_period(period=rebated, membership=world.finance).rows == []
