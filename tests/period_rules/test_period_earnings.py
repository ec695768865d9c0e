"""Period-based rules reach the ledger: stepped rebates (marginal and
retroactive) on a period's cumulative volume, the renewal-rate bonus and the
usage-growth bonus are posted once per period, effective on its last day,
corrected when the period's results move before it closes, and put on the
period's statements by the close — all with hand-computed amounts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals import services as deal_services
from incentives import payouts
from incentives.models import Statement, StatementLine
from incentives.payouts.services import month_bounds
from incentives.period_earnings import (
    expected_period_postings,
    post_due_period_earnings,
    post_period_earnings,
    posted_period_amounts,
)
from incentives.services import new_draft_from, publish_version, update_rule
from prm.accounts.roles import Role
from prm.errors import Conflict
from prm.ledger.models import Kind, LedgerEntry, LedgerTransaction, SourceType
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.period_rules.conftest import (
    AFTER_SEPTEMBER,
    AUGUST,
    OCTOBER,
    SEPTEMBER,
    lost_renewal,
    payable,
    publish_plan,
    rebate_rule,
    usage,
    won,
)

pytestmark = pytest.mark.django_db
D = Decimal


def september_deals(world):
    """Four September deals, 250,000 CNY in all, crossing the 50,000 and
    200,000 band limits; one in August and one in October stay out."""
    won(world, "120000", date(2026, 8, 28))  # previous period: excluded
    won(world, "30000", date(2026, 9, 1))  # the first day counts
    won(world, "45000", date(2026, 9, 12))
    won(world, "80000", date(2026, 9, 20))
    won(world, "95000", date(2026, 9, 30))  # the last day counts
    won(world, "60000", date(2026, 10, 1))  # next period: excluded


def ledger_balances(world):
    """Every transaction and every currency sums to zero."""
    with tenant_context(world.tenant):
        return _balanced()


def _balanced():
    per_tx = (
        LedgerEntry.objects.values("transaction_id").annotate(total=Sum("amount")).exclude(total=0)
    )
    per_currency = LedgerEntry.objects.values("currency").annotate(total=Sum("amount"))
    return not per_tx.exists() and all(row["total"] == 0 for row in per_currency)


def test_marginal_rebate_pays_each_band_at_its_rate_on_the_periods_deals_only(world):
    version = publish_plan(world, rebate_rule("marginal"))
    september_deals(world)
    with tenant_context(world.tenant):
        rule = version.rules.get()
        postings = expected_period_postings(start=SEPTEMBER[0], end=SEPTEMBER[1])
        posted = post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER)
        tx = LedgerTransaction.objects.get()

    # 50,000 × 3 % + (200,000 − 50,000) × 4 % + (250,000 − 200,000) × 5 %
    # = 1,500 + 6,000 + 2,500 = 10,000 (with August's 120,000 it would be 16,000).
    assert [p.lines[1].amount for p in postings] == [D("-10000.00")]
    assert posted == 1
    assert tx.kind == Kind.REBATE
    assert tx.source_type == SourceType.PERIOD
    assert tx.partner_id == world.partner.pk
    assert tx.effective_date == SEPTEMBER[1]
    assert tx.rule_id == rule.pk and tx.plan_version_id == version.pk
    assert tx.idempotency_key == (
        f"period:{world.partner.pk}:{rule.pk}:stepped_rebate:2026-09-01~2026-09-30/CNY"
    )
    explained = tx.explanation
    assert explained["mode"] == "marginal"
    assert explained["volume"] == explained["base"] == "250000.00"
    assert [(s["band"], s["rate"], s["amount"]) for s in explained["slices"]] == [
        (1, "3", "1500.00"),
        (2, "4", "6000.00"),
        (3, "5", "2500.00"),
    ]
    assert explained["formula"].endswith("= 10000.00")
    assert explained["period_start"] == "2026-09-01"
    assert payable(world.partner) == D("10000.00")
    assert ledger_balances(world)


def test_retroactive_rebate_pays_the_reached_band_on_the_whole_volume(world):
    publish_plan(world, rebate_rule("retroactive"))
    september_deals(world)
    with tenant_context(world.tenant):
        post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER)
        tx = LedgerTransaction.objects.get()
    # 250,000 reaches the third band (up to 500,000): 250,000 × 5 % = 12,500.
    assert payable(world.partner) == D("12500.00")
    assert tx.kind == Kind.REBATE
    assert (tx.explanation["band"], tx.explanation["rate"]) == (3, "5")
    assert tx.explanation["formula"] == "250000.00 × 5% = 12500.00"


def test_posting_twice_posts_nothing_the_second_time(world):
    publish_plan(world, rebate_rule("marginal"))
    september_deals(world)
    with tenant_context(world.tenant):
        first = post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER)
        second = post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER)
        # The nightly step: August is due too (its 120,000 deal), September is done.
        nightly = post_due_period_earnings(today=AFTER_SEPTEMBER)
        rerun = post_due_period_earnings(today=AFTER_SEPTEMBER)
        assert LedgerTransaction.objects.count() == 2
    assert (first, second) == (1, 0)
    assert nightly == {"periods": 2, "period_earnings_posted": 1}
    assert rerun == {"periods": 2, "period_earnings_posted": 0}
    # September 10,000 + August 1,500 + 70,000 × 4 % = 4,300.
    assert payable(world.partner) == D("14300.00")


def test_a_period_with_no_qualifying_volume_posts_nothing(world):
    publish_plan(world, rebate_rule("marginal"))
    won(world, "120000", date(2026, 8, 28))  # August only
    with tenant_context(world.tenant):
        assert expected_period_postings(start=SEPTEMBER[0], end=SEPTEMBER[1]) == []
        assert post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER) == 0
        assert not LedgerTransaction.objects.exists()


def test_the_plan_version_in_force_on_the_periods_last_day_applies(world):
    """Version 2 (flat 1 %) takes effect on 1 October: September keeps version
    1's bands, October pays version 2."""
    v1 = publish_plan(world, rebate_rule("retroactive"))
    september_deals(world)
    with tenant_context(world.tenant):
        v2 = new_draft_from(version=v1, membership=world.admin, actor=world.admin.user)
        update_rule(
            rule=v2.rules.get(),
            membership=world.admin,
            actor=world.admin.user,
            data={
                **rebate_rule("retroactive"),
                "parameters": {"mode": "retroactive", "bands": [{"up_to": None, "rate": "1"}]},
            },
        )
        publish_version(
            version=v2,
            membership=world.admin,
            actor=world.admin.user,
            effective_from=OCTOBER[0],
            today=date(2026, 9, 1),
        )
        september = expected_period_postings(start=SEPTEMBER[0], end=SEPTEMBER[1])
        october = expected_period_postings(start=OCTOBER[0], end=OCTOBER[1])
    assert [(p.plan_version_id, p.lines[1].amount) for p in september] == [(v1.pk, D("-12500.00"))]
    # October: the 60,000 deal of 1 October × 1 %.
    assert [(p.plan_version_id, p.lines[1].amount) for p in october] == [(v2.pk, D("-600.00"))]


def test_renewal_rate_bonus_pays_on_renewal_volume_when_the_rate_is_reached(world):
    publish_plan(
        world,
        {
            "name": "Renewal bonus",
            "kind": "renewal_rate_bonus",
            "rate": "5",
            "parameters": {"threshold": "80", "min_renewals": "3"},
        },
    )
    won(world, "20000", date(2026, 9, 3), deal_type="renewal")
    won(world, "30000", date(2026, 9, 14), deal_type="renewal")
    won(world, "50000", date(2026, 9, 29), deal_type="renewal")
    won(world, "70000", date(2026, 9, 10))  # a new deal: not renewal volume
    with tenant_context(world.tenant):
        post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER)
        tx = LedgerTransaction.objects.get()
    # 3 renewals won, none lost: 100 % ≥ 80 %; 5 % of 100,000 renewal volume = 5,000.
    assert tx.kind == Kind.BONUS
    assert payable(world.partner) == D("5000.00")
    assert tx.explanation["renewal_rate"] == "100.00"
    assert (tx.explanation["renewals_won"], tx.explanation["renewals_lost"]) == (3, 0)
    assert tx.explanation["formula"] == "100000.00 × 5% = 5000.00"


def test_renewal_rate_bonus_is_not_paid_below_the_threshold(world):
    """This month: 3 renewals won and 1 lost = 75 % < 80 %: no bonus."""
    publish_plan(
        world,
        {
            "name": "Renewal bonus",
            "kind": "renewal_rate_bonus",
            "rate": "5",
            "parameters": {"threshold": "80"},
        },
    )
    start, end = month_bounds(timezone.localdate())
    with tenant_context(world.tenant):
        month = payouts.ensure_open_period(start)
    for amount in ("20000", "30000", "50000"):
        won(world, amount, start, deal_type="renewal")
    lost_renewal(world)
    with tenant_context(world.tenant):
        assert expected_period_postings(start=start, end=end) == []
        assert post_period_earnings(period=month, today=end + timedelta(days=1)) == 0


def test_usage_growth_bonus_pays_on_each_customers_growth_over_the_previous_period(world):
    publish_plan(
        world,
        {
            "name": "Usage growth",
            "kind": "usage_growth_bonus",
            "rate": "10",
            "parameters": {"threshold": "20"},
        },
    )
    usage(world, "Kedai Maju", "4000", date(2026, 8, 5))
    usage(world, "Kedai Maju", "6000", date(2026, 8, 31))
    usage(world, "Kedai Maju", "13000", date(2026, 9, 14))  # 10,000 → 13,000: +30 %
    usage(world, "Slow Sdn Bhd", "10000", date(2026, 8, 10))
    usage(world, "Slow Sdn Bhd", "11000", date(2026, 9, 10))  # +10 % < 20 %
    usage(world, "Newcomer", "500", date(2026, 9, 2))  # no usage before: no rate
    with tenant_context(world.tenant):
        post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER)
        tx = LedgerTransaction.objects.get()
    # 10 % of the 3,000 growth = 300.
    assert payable(world.partner) == D("300.00")
    assert tx.kind == Kind.BONUS
    assert tx.idempotency_key.startswith(
        f"usage:{world.partner.pk}:{tx.rule_id}:usage_growth_bonus:2026-09-01~2026-09-30/CNY/"
    )
    assert tx.explanation["customer"] == "Kedai Maju"
    assert tx.explanation["growth_percent"] == "30.00"
    assert (tx.explanation["previous_usage"], tx.explanation["current_usage"]) == (
        "10000.00",
        "13000.00",
    )


def test_a_late_deal_posts_only_the_difference_as_a_correction(world):
    publish_plan(world, rebate_rule("marginal"))
    september_deals(world)
    with tenant_context(world.tenant):
        post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER)
    won(world, "100000", date(2026, 9, 25))  # recorded after the first posting
    with tenant_context(world.tenant):
        assert post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER) == 1
        assert post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER) == 0
        correction = LedgerTransaction.objects.get(idempotency_key__endswith=":fix1")
        family = posted_period_amounts(start=SEPTEMBER[0], end=SEPTEMBER[1])
    # 350,000: 1,500 + 6,000 + 150,000 × 5 % = 15,000; 10,000 was posted: +5,000.
    assert correction.explanation["previously_posted"] == "10000.00"
    assert correction.explanation["earned"] == "15000.00"
    assert correction.explanation["formula"].endswith("; 15000.00 − 10000.00 = 5000.00")
    assert payable(world.partner) == D("15000.00")
    assert [f.amount for f in family.values()] == [D("15000.00")]
    assert ledger_balances(world)


def test_reversing_every_deal_takes_the_posted_rebate_back(world):
    publish_plan(world, rebate_rule("retroactive"))
    deal = won(world, "40000", date(2026, 9, 8))
    with tenant_context(world.tenant):
        post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER)
        assert payable(world.partner) == D("1200.00")  # 40,000 × 3 %
        manager = MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None)
        deal_services.reverse_closed_won(
            deal=deal, membership=manager, actor=manager.user, reason="Refunded"
        )
        assert post_period_earnings(period=world.periods["september"], today=AFTER_SEPTEMBER) == 1
        back = LedgerTransaction.objects.get(idempotency_key__endswith=":fix1")
    assert payable(world.partner) == D("0.00")
    assert back.kind == Kind.REBATE
    assert back.explanation["formula"] == "0.00 − 1200.00 = -1200.00"
    assert ledger_balances(world)


def test_posting_is_refused_before_the_period_ends_and_after_it_closes(world):
    publish_plan(world, rebate_rule("marginal"))
    september_deals(world)
    with tenant_context(world.tenant):
        with pytest.raises(Conflict) as early:
            post_period_earnings(period=world.periods["september"], today=SEPTEMBER[1])
        payouts.close_period(
            period=world.periods["august"],
            membership=world.finance,
            actor=world.finance.user,
            today=AFTER_SEPTEMBER,
        )
        with pytest.raises(Conflict) as closed:
            post_period_earnings(period=world.periods["august"], today=AFTER_SEPTEMBER)
    assert early.value.code == "period_not_ended"
    assert closed.value.code == "period_closed"


def test_the_nightly_step_posts_every_ended_open_period(world):
    publish_plan(world, rebate_rule("marginal"))
    september_deals(world)
    with tenant_context(world.tenant):
        counts = post_due_period_earnings(today=date(2026, 11, 2))
        keys = sorted(LedgerTransaction.objects.values_list("effective_date", flat=True))
    # August (120,000: 1,500 + 2,800 = 4,300), September (10,000) and October
    # (60,000: 1,500 + 400 = 1,900) have ended and are open.
    assert counts == {"periods": 3, "period_earnings_posted": 3}
    assert keys == [AUGUST[1], SEPTEMBER[1], OCTOBER[1]]
    assert payable(world.partner) == D("16200.00")


def test_closing_puts_the_period_earnings_on_the_statement_with_their_explanation(world):
    publish_plan(world, rebate_rule("marginal"))
    september_deals(world)
    with tenant_context(world.tenant):
        payouts.close_period(
            period=world.periods["august"],
            membership=world.finance,
            actor=world.finance.user,
            today=AFTER_SEPTEMBER,
        )
        before = LedgerTransaction.objects.count()
        preview = payouts.preview_period(world.periods["september"], today=AFTER_SEPTEMBER)
        assert LedgerTransaction.objects.count() == before  # the preview wrote nothing
        payouts.close_period(
            period=world.periods["september"],
            membership=world.finance,
            actor=world.finance.user,
            today=AFTER_SEPTEMBER,
        )
        statement = Statement.objects.get(period=world.periods["september"])
        lines = list(StatementLine.objects.filter(statement=statement))
        # Closed: nothing more is posted for September.
        assert post_due_period_earnings(today=date(2026, 10, 6))["periods"] == 0
    [draft] = preview
    assert draft.earned_total == statement.earned_total == D("10000.00")
    assert [line.kind for line in draft.lines] == [Kind.REBATE]
    assert [(line.kind, line.amount) for line in lines] == [(Kind.REBATE, D("10000.00"))]
    assert lines[0].effective_date == SEPTEMBER[1]
    assert lines[0].explanation["rule"] == "Volume rebate"
    assert lines[0].explanation["formula"].endswith("= 10000.00")
    assert statement.earned_total == statement.payable_amount == D("10000.00")
    assert ledger_balances(world)


class Recorder:
    """Collects what a job reports (the ``Progress`` protocol of ``JobProgress``)."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def advance(self, amount: int = 1) -> None:
        pass


def test_posting_costs_the_same_queries_however_many_partners_and_deals(world):
    publish_plan(
        world,
        rebate_rule("marginal"),
        {
            "name": "Usage growth",
            "kind": "usage_growth_bonus",
            "rate": "10",
            "parameters": {"threshold": "20"},
        },
    )

    def add_partner(month: date):
        """A partner with a CNY and a MYR deal in ``month`` and a customer whose
        usage grew 50 % over the month before."""
        with tenant_context(world.tenant):
            partner = PartnerFactory(
                tier=world.partner.tier, partner_type=world.partner.partner_type, country="CN"
            )
            rep = MembershipFactory(role=Role.PARTNER_REP, partner=partner)
        won(world, "60000", month.replace(day=3), rep=rep)
        won(world, "1000", month.replace(day=4), rep=rep, currency="MYR")
        usage(world, "Kedai Maju", "1000", month - timedelta(days=20), partner=partner)
        usage(world, "Kedai Maju", "1500", month.replace(day=5), partner=partner)

    def queries_to_post(period) -> tuple[int, int]:
        with tenant_context(world.tenant), CaptureQueriesContext(connection) as queries:
            posted = post_period_earnings(period=period, today=date(2026, 11, 2))
        return len(queries), posted

    add_partner(SEPTEMBER[0])
    september = queries_to_post(world.periods["september"])
    for _ in range(5):
        add_partner(OCTOBER[0])
    october = queries_to_post(world.periods["october"])
    # Each partner: a CNY and a MYR rebate and one usage-growth bonus.
    assert (september[1], october[1]) == (3, 15)
    assert september[0] == october[0]

    won(world, "60000", date(2026, 9, 30))  # late: one more rebate for September
    recorder = Recorder()
    with tenant_context(world.tenant):
        counts = post_due_period_earnings(today=date(2026, 11, 2), progress=recorder)
    assert counts == {"periods": 3, "period_earnings_posted": 1}
    assert recorder.counts == counts
