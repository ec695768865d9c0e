"""Which sources a replay looks at: besides the deals and revenue events with
a transaction on the period's statements, the closed-won deals closed in the
period and the revenue events that occurred in it — so an earning that was
never posted shows as *missing*, while one the nightly job has simply not
computed yet is left to the job (it will post exactly that) and one posted
late, on a later period's statement, is no difference at all."""

from __future__ import annotations

import pytest

from deals.models import DealRegistration
from incentives.models import Computation, StatementLine
from incentives.payouts.replay import Status, correct_period, replay_period
from prm.ledger.models import Account, LedgerEntry, LedgerTransaction, SourceType
from prm.tenancy.context import tenant_context
from tests.replay.conftest import CORRECTED_ON, NOVEMBER_20, SEPTEMBER, D

pytestmark = pytest.mark.django_db


def credited(source_type: str, source_id: int) -> D:
    """What the ledger credits the partner for a source, all transactions together."""
    return -sum(
        LedgerEntry.objects.filter(
            transaction__source_type=source_type,
            transaction__source_id=source_id,
            account=Account.PARTNER_PAYABLE,
        ).values_list("amount", flat=True),
        D("0"),
    )


def correct(world, period, today=CORRECTED_ON) -> int:
    return correct_period(
        period=period,
        membership=world.finance,
        actor=world.finance.user,
        reason="Replay",
        today=today,
    )


def test_a_deal_closed_in_the_period_whose_earning_was_never_posted_is_missing(world):
    world.close(world.huatong, "20000.00")
    missed = world.close(world.lianhe, "10000.00")
    with tenant_context(world.tenant):
        # Computed while its amount read zero: marked, nothing posted.
        DealRegistration.objects.filter(pk=missed.pk).update(final_amount=D("0.00"))
    world.run_job()
    with tenant_context(world.tenant):
        assert Computation.objects.filter(source_id=missed.pk, phase="earn").exists()
        assert credited(SourceType.DEAL, missed.pk) == 0
        DealRegistration.objects.filter(pk=missed.pk).update(final_amount=D("10000.00"))
    closed = world.close_september()
    with tenant_context(world.tenant):
        result = replay_period(period=closed, membership=world.finance)
        assert result.deals == 2 and result.pending == 0
        [row] = result.rows
        assert (row.status, row.source_type, row.source_id, row.partner_id) == (
            Status.MISSING,
            SourceType.DEAL,
            missed.pk,
            world.lianhe.pk,
        )
        assert (row.expected, row.posted) == (D("2500.00"), D("0"))  # 10,000 × 25 %
        assert row.explanation["rule_kind"] == "tier_commission"
        assert correct(world, closed) == 1
        assert credited(SourceType.DEAL, missed.pk) == D("2500.00")
        assert replay_period(period=closed, membership=world.finance).rows == []


def test_a_revenue_event_of_the_period_whose_earning_was_never_posted_is_missing(world):
    world.close(world.huatong, "20000.00")
    world.run_job()
    event = world.revenue(world.lianhe, "4000.00")
    with tenant_context(world.tenant):
        # As if a run had computed it and posted nothing.
        Computation.objects.create(
            source_type=SourceType.REVENUE_EVENT, source_id=event.pk, phase="earn"
        )
    closed = world.close_september()
    with tenant_context(world.tenant):
        result = replay_period(period=closed, membership=world.finance)
        assert result.revenue_events == 1
        [row] = result.rows
        assert (row.status, row.source_type, row.source_id, row.expected) == (
            Status.MISSING,
            SourceType.REVENUE_EVENT,
            event.pk,
            D("600.00"),  # 4,000 × 15 %
        )
        assert correct(world, closed) == 1
        assert credited(SourceType.REVENUE_EVENT, event.pk) == D("600.00")
        assert replay_period(period=closed, membership=world.finance).rows == []


def test_sources_the_job_has_not_computed_yet_are_left_to_it(world):
    deal = world.close(world.huatong, "20000.00", closed_on=SEPTEMBER[1])
    event = world.revenue(world.lianhe, "4000.00")
    closed = world.close_september()  # before the nightly job ran
    with tenant_context(world.tenant):
        result = replay_period(period=closed, membership=world.finance)
        assert (result.deals, result.revenue_events, result.pending) == (1, 1, 2)
        assert result.rows == []
        assert correct(world, closed) == 0
    world.run_job()
    with tenant_context(world.tenant):
        assert credited(SourceType.DEAL, deal.pk) == D("5000.00")
        assert credited(SourceType.REVENUE_EVENT, event.pk) == D("600.00")
        result = replay_period(period=closed, membership=world.finance)
        assert result.pending == 0 and result.rows == []
        assert result.totals[0].expected == result.totals[0].posted == D("5600.00")


def test_an_earning_posted_on_a_later_periods_statement_is_no_difference(world, shared_source):
    deal = shared_source.deal
    with tenant_context(world.tenant):
        earning = LedgerTransaction.objects.get(source_type=SourceType.DEAL, source_id=deal.pk)
        assert earning.effective_date == SEPTEMBER[1]
        [line] = StatementLine.objects.filter(transaction=earning)
        assert line.statement.period_id == shared_source.october.pk
        for period in (shared_source.september, shared_source.october):
            result = replay_period(period=period, membership=world.finance)
            assert result.deals == 1 and result.rows == []
            assert result.totals[0].expected == result.totals[0].posted == D("5000.00")


def test_corrections_of_two_periods_sharing_a_source_post_the_difference_once(world, shared_source):
    deal = shared_source.deal
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=deal.pk).update(final_amount=D("24000.00"))
        for period in (shared_source.september, shared_source.october):
            [row] = replay_period(period=period, membership=world.finance).rows
            assert row.difference == D("1000.00")
        assert correct(world, shared_source.september, today=NOVEMBER_20) == 1
        assert correct(world, shared_source.october, today=NOVEMBER_20) == 0
        assert credited(SourceType.DEAL, deal.pk) == D("6000.00")  # 24,000 × 25 %
        for period in (shared_source.september, shared_source.october):
            assert replay_period(period=period, membership=world.finance).rows == []
