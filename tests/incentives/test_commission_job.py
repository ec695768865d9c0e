"""The nightly commission job: closed-won deals and revenue events become
balanced ledger earnings exactly once; reversals inside the clawback window
give back what they earned."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from deals import services as deal_services
from incentives import services
from incentives.commissions import incentive_settings, run_commission_job
from incentives.models import Computation
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction
from prm.tenancy.context import tenant_context
from tests.incentives.conftest import register

pytestmark = pytest.mark.django_db

START = date(2026, 1, 1)


@pytest.fixture
def plan(plan_world):
    """A published plan from 1 January: Gold 26 % of first-year contract value and
    a 15 % revenue share for resellers."""
    world = plan_world
    with tenant_context(world.tenant):
        plan = services.create_plan(membership=world.admin, actor=world.admin.user, name="Plan")
        version = plan.versions.get()
        for data in (
            {
                "name": "Gold commission",
                "kind": "tier_commission",
                "tier_keys": ["gold"],
                "rate": "26",
            },
            {"name": "Reseller share", "kind": "revenue_share", "rate": "15"},
        ):
            services.add_rule(
                version=version, membership=world.admin, actor=world.admin.user, data=data
            )
        services.publish_version(
            version=version,
            membership=world.admin,
            actor=world.admin.user,
            effective_from=START,
            today=START,
        )
    return version


def close(world, company: str, amount: str, term: int = 24, closed_on: date = date(2026, 3, 10)):
    deal = register(world.rep, company=company, email=f"buyer@{company.split()[0].lower()}.cn")
    with tenant_context(world.tenant):
        return deal_services.close_won(
            deal=deal,
            membership=world.rep,
            actor=world.rep.user,
            final_amount=Decimal(amount),
            currency="CNY",
            closed_on=closed_on,
            contract_term_months=term,
        )


def payable(partner) -> Decimal:
    """What the partner is owed, from the entries alone."""
    total = LedgerEntry.objects.filter(partner=partner, account=Account.PARTNER_PAYABLE).aggregate(
        total=Sum("amount")
    )["total"]
    return -(total or Decimal("0"))


class Stop(Exception):
    pass


class StopAfterFirstChunk:
    def __init__(self):
        self.chunks = 0

    def add(self, name, amount=1):
        pass

    def advance(self, amount=1):
        self.chunks += 1
        if self.chunks == 1:
            raise Stop


def test_a_closed_won_deal_earns_its_tier_commission_once(plan_world, plan):
    world = plan_world
    deal = close(world, "Acme Holdings", "120000.00", term=24)
    with tenant_context(world.tenant):
        counts = run_commission_job()
        # First-year value: 120,000 × 12 / 24 = 60,000; Gold 26 %: 15,600.00.
        earning = LedgerTransaction.objects.get(source_id=deal.pk)
        assert (earning.kind, earning.currency, earning.partner_id) == (
            Kind.COMMISSION,
            "CNY",
            world.partner.pk,
        )
        assert earning.effective_date == date(2026, 3, 10)
        assert earning.plan_version_id == plan.pk
        assert earning.explanation["base"] == "60000.00"
        assert earning.explanation["rate"] == "26"
        amounts = dict(earning.entries.values_list("account", "amount"))
        assert amounts == {
            Account.COMMISSION_EXPENSE: Decimal("15600.00"),
            Account.PARTNER_PAYABLE: Decimal("-15600.00"),
        }
        assert counts["deals"] == 1 and counts["earnings_posted"] == 1
        assert payable(world.partner) == Decimal("15600.00")

        again = run_commission_job()
        assert again == dict.fromkeys(again, 0)
        assert LedgerTransaction.objects.count() == 1


def test_open_deals_earn_nothing_and_a_deal_without_a_rule_is_not_computed_twice(plan_world, plan):
    world = plan_world
    register(world.rep, company="Still Open Ltd", email="x@open.cn")
    with tenant_context(world.tenant):
        world.partner.tier = world.tiers["bronze"]  # the plan pays Gold only
        world.partner.save(update_fields=["tier"])
    close(world, "No Rule Co", "5000.00")
    with tenant_context(world.tenant):
        assert run_commission_job()["deals"] == 1
        assert LedgerTransaction.objects.count() == 0
        assert Computation.objects.get().postings == 0
        assert run_commission_job()["deals"] == 0


def test_a_run_killed_after_its_first_chunk_finishes_on_rerun_with_nothing_doubled(
    plan_world, plan
):
    world = plan_world
    deals = [close(world, f"Customer{n} Ltd", "24000.00", term=12) for n in range(3)]
    with tenant_context(world.tenant):
        with pytest.raises(Stop):
            run_commission_job(progress=StopAfterFirstChunk(), size=1)
        # The first chunk committed before the crash; the others did not start.
        assert LedgerTransaction.objects.count() == 1
        counts = run_commission_job(size=1)
        assert counts["deals"] == 2
        assert sorted(LedgerTransaction.objects.values_list("source_id", flat=True)) == sorted(
            deal.pk for deal in deals
        )
        # 3 × 24,000 × 26 % = 18,720.00
        assert payable(world.partner) == Decimal("18720.00")


def test_revenue_events_share_paid_invoices_and_refunds_give_back(plan_world, plan):
    world = plan_world
    with tenant_context(world.tenant):
        for kind, amount, external_id in (
            ("invoice_paid", "1000.00", "inv-1"),
            ("refund", "200.00", "ref-1"),
        ):
            services.record_revenue_event(
                membership=world.finance,
                actor=world.finance.user,
                partner=world.partner,
                kind=kind,
                amount=Decimal(amount),
                currency="CNY",
                occurred_on=date(2026, 4, 1),
                external_id=external_id,
                customer_name="Acme",
            )
        counts = run_commission_job()
        assert counts["revenue_events"] == 2
        shares = sorted(
            LedgerTransaction.objects.filter(kind=Kind.REVENUE_SHARE).values_list(
                "explanation__amount", flat=True
            )
        )
        # 15 % of 1,000.00 = 150.00; of the 200.00 refund = −30.00.
        assert shares == ["-30.00", "150.00"]
        assert payable(world.partner) == Decimal("120.00")


def test_a_reversal_inside_the_window_claws_back_and_one_outside_keeps_its_earning(
    plan_world, plan
):
    world = plan_world
    recent = close(world, "Recent Refund Ltd", "12000.00", term=12, closed_on=timezone.localdate())
    old = close(world, "Old Customer Ltd", "12000.00", term=12, closed_on=date(2026, 1, 5))
    with tenant_context(world.tenant):
        settings = incentive_settings()
        settings.clawback_days = 90
        settings.save()
        run_commission_job()
        assert payable(world.partner) == Decimal("6240.00")  # 2 × 3,120.00
        for deal in (recent, old):
            deal_services.reverse_closed_won(
                deal=deal, membership=world.manager, actor=world.manager.user, reason="Refunded."
            )
        counts = run_commission_job()
        assert counts["reversed_deals"] == 2 and counts["clawbacks_posted"] == 1
        clawback = LedgerTransaction.objects.get(kind=Kind.CLAWBACK)
        original = LedgerTransaction.objects.get(source_id=recent.pk, kind=Kind.COMMISSION)
        assert clawback.reverses_id == original.pk
        assert dict(clawback.entries.values_list("account", "amount")) == {
            Account.COMMISSION_EXPENSE: Decimal("-3120.00"),
            Account.PARTNER_PAYABLE: Decimal("3120.00"),
        }
        # The deal closed in January is outside the 90-day window: it keeps its earning.
        assert payable(world.partner) == Decimal("3120.00")
        assert run_commission_job()["reversed_deals"] == 0
        assert old.closed_on + timedelta(days=90) < timezone.localdate()


@pytest.mark.django_db(transaction=True)
def test_the_nightly_task_records_a_job_run_with_its_counts(plan_world, plan):
    from incentives.tasks import COMMISSION_JOB, compute_commissions
    from prm.jobs.models import JobRun

    world = plan_world
    close(world, "Task Run Ltd", "12000.00", term=12)
    compute_commissions.apply(kwargs={"tenant_id": world.tenant.pk})
    compute_commissions.apply(kwargs={"tenant_id": world.tenant.pk})
    with tenant_context(world.tenant):
        first, second = JobRun.objects.filter(job=COMMISSION_JOB).order_by("pk")
        assert first.status == JobRun.Status.SUCCEEDED
        assert (first.counts["deals"], first.counts["earnings_posted"]) == (1, 1)
        assert second.counts.get("earnings_posted", 0) == 0
        assert LedgerTransaction.objects.count() == 1
        # The current month's payout period is open for what the job posts.
        from incentives.models import PayoutPeriod

        today = timezone.localdate()
        assert PayoutPeriod.objects.filter(start__lte=today, end__gte=today).count() == 1
