"""Replaying a closed payout period: the ledger matches the plans that
applied; tampering shows as a difference; a correction posts exactly the
difference in the open period, once, and leaves the closed period alone."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals import services as deal_services
from deals.models import DealRegistration
from incentives import payouts, services
from incentives.models import PayoutPeriod
from incentives.payouts.replay import (
    ReplayError,
    Status,
    correct_period,
    correction_key,
    replay_period,
)
from incentives.selectors import versions_in_force
from prm.audit.models import AuditEvent
from prm.errors import PermissionDenied
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction, SourceType
from prm.ledger.services import Line, post
from prm.tenancy.context import tenant_context
from tests.replay.conftest import (
    CORRECTED_ON,
    SEP_10,
    SEPTEMBER,
    D,
    statements_snapshot,
)

pytestmark = pytest.mark.django_db


def credited(tx: LedgerTransaction) -> D:
    """What a transaction credits the partner."""
    return -sum(
        LedgerEntry.objects.filter(transaction=tx, account=Account.PARTNER_PAYABLE).values_list(
            "amount", flat=True
        )
    )


def test_a_closed_period_replays_with_no_differences(world, closed):
    with tenant_context(world.tenant):
        result = replay_period(period=closed, membership=world.finance)
    assert result.deals == 2 and result.revenue_events == 1
    assert result.compared == 3
    assert result.rows == [] and not result.has_differences
    # 20,000 × 25 % + 10,000 × 25 % + 4,000 × 15 % = 5,000 + 2,500 + 600.
    [total] = result.totals
    assert (total.currency, total.expected, total.posted, total.difference) == (
        "CNY",
        D("8100.00"),
        D("8100.00"),
        D("0.00"),
    )


def test_the_replay_only_reads(world, closed):
    with tenant_context(world.tenant):
        before = LedgerTransaction.objects.count(), AuditEvent.objects.count()
        replay_period(period=closed, membership=world.finance)
        assert (LedgerTransaction.objects.count(), AuditEvent.objects.count()) == before


def test_a_version_published_after_the_close_changes_nothing(world, closed):
    with tenant_context(world.tenant):
        services.publish_version(
            version=world.draft,
            membership=world.admin,
            actor=world.admin.user,
            effective_from=date(2026, 10, 10),
            today=date(2026, 10, 6),
        )
        # The new version (27 %) would pay more for a deal closed today…
        assert [v.pk for v in versions_in_force(on=date(2026, 10, 15))] == [world.draft.pk]
        # …but September's deals were earned under the version in force then.
        result = replay_period(period=closed, membership=world.finance)
    assert result.rows == []
    assert result.totals[0].expected == D("8100.00")


def test_an_open_period_cannot_be_replayed(world):
    with tenant_context(world.tenant):
        period = PayoutPeriod.objects.create(start=SEPTEMBER[0], end=SEPTEMBER[1])
        with pytest.raises(ReplayError) as caught:
            replay_period(period=period, membership=world.finance)
    assert caught.value.code == "period_open"


def test_a_deal_amount_changed_after_posting_is_corrected_in_the_open_period(world, closed):
    deal = world.deals[0]  # Huatong, 20,000 → 5,000
    with tenant_context(world.tenant):
        before = statements_snapshot(closed)
        DealRegistration.objects.filter(pk=deal.pk).update(final_amount=D("24000.00"))
        [row] = replay_period(period=closed, membership=world.finance).rows
        assert row.status == Status.DIFFERENT
        assert (row.source_type, row.source_id, row.partner_id) == (
            SourceType.DEAL,
            deal.pk,
            world.huatong.pk,
        )
        assert (row.expected, row.posted, row.difference) == (
            D("6000.00"),
            D("5000.00"),
            D("1000.00"),
        )
        assert row.explanation["rule_kind"] == "tier_commission"

        posted = correct_period(
            period=closed,
            membership=world.finance,
            actor=world.finance.user,
            reason="Deal amount corrected by sales ops",
            today=CORRECTED_ON,
        )
        assert posted == 1
        correction = LedgerTransaction.objects.get(
            idempotency_key=correction_key(period=closed, original=row.key, number=1)
        )
        assert correction.idempotency_key == f"correction:{closed.pk}:{row.key}:1"
        assert correction.kind == Kind.ADJUSTMENT
        assert (correction.source_type, correction.source_id) == (SourceType.DEAL, deal.pk)
        assert correction.partner_id == world.huatong.pk
        assert correction.effective_date == CORRECTED_ON
        assert credited(correction) == D("1000.00")
        assert correction.explanation["replay_corrects"] == row.key
        assert correction.explanation["replayed_period"] == "2026-09"
        assert correction.explanation["difference"] == "1000.00"
        assert correction.memo == "Deal amount corrected by sales ops"
        october = PayoutPeriod.objects.get(status="open")
        assert october.start <= correction.effective_date <= october.end
        # The closed period and its statements did not move.
        assert statements_snapshot(closed) == before
        assert PayoutPeriod.objects.get(pk=closed.pk).status == PayoutPeriod.Status.CLOSED
        # The correction is counted: nothing left to correct, and a second run posts nothing.
        assert replay_period(period=closed, membership=world.finance).rows == []
        count = LedgerTransaction.objects.count()
        assert (
            correct_period(
                period=closed,
                membership=world.finance,
                actor=world.finance.user,
                reason="Again",
                today=CORRECTED_ON,
            )
            == 0
        )
        assert LedgerTransaction.objects.count() == count
        # October's statement will pay it as an adjustment.
        [huatong] = [d for d in payouts.preview_period(october) if d.partner == world.huatong]
        assert huatong.adjustments_total == D("1000.00")
        audit = AuditEvent.objects.get(action="payouts.period_replay_corrected")
        assert audit.object_id == str(closed.pk)
        assert audit.summary == "Deal amount corrected by sales ops"
        assert audit.data["difference_by_currency"] == {"CNY": "1000.00"}


def test_a_manual_posting_against_a_deal_is_unexpected_and_taken_back(world):
    deal = world.close(world.huatong, "20000.00")
    world.run_job()
    with tenant_context(world.tenant):
        post(
            key="manual:duplicate-commission",
            kind=Kind.ADJUSTMENT,
            source_type=SourceType.DEAL,
            source_id=deal.pk,
            currency="CNY",
            effective_date=SEP_10,
            lines=[
                Line(account=Account.ADJUSTMENT_EXPENSE, amount=D("300.00")),
                Line(account=Account.PARTNER_PAYABLE, amount=D("-300.00")),
            ],
            partner=world.huatong,
            explanation={"reason": "paid twice by mistake"},
        )
    closed = world.close_september()
    with tenant_context(world.tenant):
        [row] = replay_period(period=closed, membership=world.finance).rows
        assert row.status == Status.UNEXPECTED
        assert row.key == "manual:duplicate-commission"
        assert (row.expected, row.posted, row.difference) == (D("0"), D("300.00"), D("-300.00"))
        assert correct_period(
            period=closed,
            membership=world.finance,
            actor=world.finance.user,
            reason="Duplicate",
            today=CORRECTED_ON,
        )
        correction = LedgerTransaction.objects.get(idempotency_key__startswith="correction:")
        assert credited(correction) == D("-300.00")
        # It takes the money back from the account the mistake used.
        assert set(
            LedgerEntry.objects.filter(transaction=correction).values_list("account", "amount")
        ) == {
            (Account.ADJUSTMENT_EXPENSE, D("-300.00")),
            (Account.PARTNER_PAYABLE, D("300.00")),
        }
        assert replay_period(period=closed, membership=world.finance).rows == []


def test_a_deal_whose_currency_changed_shows_a_missing_and_an_unexpected_row(world, closed):
    deal = world.deals[1]  # Lianhe, 10,000 CNY → 2,500 CNY
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=deal.pk).update(currency="USD")
        rows = replay_period(period=closed, membership=world.finance).rows
        assert {(r.status, r.currency, r.expected, r.posted) for r in rows} == {
            (Status.UNEXPECTED, "CNY", D("0"), D("2500.00")),
            (Status.MISSING, "USD", D("2500.00"), D("0")),
        }
        assert len({r.key for r in rows}) == 1
        assert (
            correct_period(
                period=closed,
                membership=world.finance,
                actor=world.finance.user,
                reason="Contract was in USD",
                today=CORRECTED_ON,
            )
            == 2
        )
        corrections = LedgerTransaction.objects.filter(idempotency_key__startswith="correction:")
        assert sorted(
            (tx.currency, credited(tx), tx.idempotency_key[-2:]) for tx in corrections
        ) == [("CNY", D("-2500.00"), ":1"), ("USD", D("2500.00"), ":2")]
        assert replay_period(period=closed, membership=world.finance).rows == []


def test_a_clawed_back_deal_shows_no_difference(world, closed):
    deal = world.deals[0]
    with tenant_context(world.tenant):
        deal_services.reverse_closed_won(
            deal=DealRegistration.objects.get(pk=deal.pk),
            membership=world.manager,
            actor=world.manager.user,
            reason="Customer refunded",
        )
        # Reversed, clawback not yet run: the earning is still expected.
        assert replay_period(period=closed, membership=world.finance).rows == []
    counts = world.run_job()
    assert counts["clawbacks_posted"] == 1
    with tenant_context(world.tenant):
        result = replay_period(period=closed, membership=world.finance)
    assert result.rows == []
    # Huatong's 5,000 is now expected and posted net of its clawback.
    assert result.totals[0].expected == result.totals[0].posted == D("3100.00")


def test_a_corrected_deal_later_clawed_back_shows_no_difference(world, closed):
    deal = world.deals[0]
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=deal.pk).update(final_amount=D("24000.00"))
        correct_period(
            period=closed,
            membership=world.finance,
            actor=world.finance.user,
            reason="Amount",
            today=CORRECTED_ON,
        )
        deal_services.reverse_closed_won(
            deal=DealRegistration.objects.get(pk=deal.pk),
            membership=world.manager,
            actor=world.manager.user,
            reason="Refunded",
        )
    world.run_job()  # mirrors the earning and the correction
    with tenant_context(world.tenant):
        assert (
            LedgerTransaction.objects.filter(
                source_id=deal.pk, source_type=SourceType.DEAL, kind=Kind.CLAWBACK
            ).count()
            == 2
        )
        assert replay_period(period=closed, membership=world.finance).rows == []


def test_small_chunks_give_the_same_result(world, closed):
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=world.deals[0].pk).update(final_amount=D("24000.00"))
        whole = replay_period(period=closed, membership=world.finance)
        chunked = replay_period(period=closed, membership=world.finance, chunk_size=1)
    assert chunked.rows == whole.rows and chunked.totals == whole.totals
    assert len(whole.rows) == 1


@pytest.mark.parametrize("role", ["manager", "rep"])
def test_only_money_readers_replay(world, closed, role):
    membership = world.manager if role == "manager" else world.reps[world.huatong.pk]
    with tenant_context(world.tenant), pytest.raises(PermissionDenied):
        replay_period(period=closed, membership=membership)


def test_tenant_admins_read_the_replay_but_only_finance_corrects(world, closed):
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=world.deals[0].pk).update(final_amount=D("24000.00"))
        assert len(replay_period(period=closed, membership=world.admin).rows) == 1
        for membership in (world.admin, world.manager):
            with pytest.raises(PermissionDenied):
                correct_period(
                    period=closed,
                    membership=membership,
                    actor=membership.user,
                    reason="Try",
                    today=CORRECTED_ON,
                )
        assert not LedgerTransaction.objects.filter(
            idempotency_key__startswith="correction:"
        ).exists()


def test_a_correction_needs_a_reason(world, closed):
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=world.deals[0].pk).update(final_amount=D("24000.00"))
        with pytest.raises(ReplayError) as caught:
            correct_period(
                period=closed,
                membership=world.finance,
                actor=world.finance.user,
                reason="   ",
                today=CORRECTED_ON,
            )
        assert caught.value.field == "reason"
        assert not LedgerTransaction.objects.filter(
            idempotency_key__startswith="correction:"
        ).exists()


def test_corrections_default_to_today_in_the_period_covering_it(world, closed):
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=world.deals[0].pk).update(final_amount=D("24000.00"))
        correct_period(
            period=closed, membership=world.finance, actor=world.finance.user, reason="Now"
        )
        correction = LedgerTransaction.objects.get(idempotency_key__startswith="correction:")
        today = timezone.localdate()
        assert correction.effective_date == today
        covering = PayoutPeriod.objects.get(start__lte=today, end__gte=today)
        assert covering.is_open


def test_replay_queries_do_not_grow_with_the_deals(world):
    for _ in range(2):
        world.close(world.huatong, "20000.00")
    world.revenue(world.lianhe, "1000.00")
    world.run_job()
    closed = world.close_september()
    with tenant_context(world.tenant), CaptureQueriesContext(connection) as few:
        replay_period(period=closed, membership=world.finance)
    # Same shape, more of everything, in a later period.
    for _ in range(8):
        world.close(world.huatong, "20000.00", closed_on=date(2026, 10, 12))
        world.close(world.lianhe, "15000.00", closed_on=date(2026, 10, 13))
    for _ in range(4):
        world.revenue(world.lianhe, "1000.00", on=date(2026, 10, 14))
    world.run_job()
    with tenant_context(world.tenant):
        october = PayoutPeriod.objects.get(start=date(2026, 10, 1))
        october = payouts.close_period(
            period=october,
            membership=world.finance,
            actor=world.finance.user,
            today=date(2026, 11, 5),
        )
        DealRegistration.objects.filter(pk=world.deals[-1].pk).update(final_amount=D("1.00"))
        with CaptureQueriesContext(connection) as many:
            result = replay_period(period=october, membership=world.finance)
    assert result.deals == 16 and len(result.rows) == 1
    assert len(many.captured_queries) <= len(few.captured_queries) + 1  # + partner names
