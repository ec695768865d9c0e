"""The simulator as a reader: a draft replayed over the last months of deals and
revenue events, with hand-computed figures per partner and in total; the
window; the ledger's posted amounts; only SELECTs; constant queries as deals
grow; who may run it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals import services as deal_services
from incentives.commissions import run_commission_job
from incentives.models import RevenueEvent
from incentives.selectors import plans_in_force
from incentives.simulator import _Versions, simulate, window
from prm.errors import DomainError
from prm.tenancy.context import tenant_context

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 30)  # six months: 1 January to 30 June 2026


def example(world):
    """Two Gold resellers' deals and revenue events, two of them before the window.

    Huatong: a new 120,000 deal over 24 months (first-year value 60,000) closed
    10 March, a 40,000 renewal over 12 months closed 5 May, a 10,000 invoice paid
    1 April. Lianhe: a new 50,000 deal over 12 months closed 1 February, a 2,000
    refund 15 April; and, too old to count, an 80,000 deal closed 15 December
    2025 and a 9,000 invoice of 20 December 2025.
    """
    world.close(world.huatong, "Acme Holdings", "120000.00", closed_on=date(2026, 3, 10), term=24)
    world.close(
        world.huatong, "Baoli Renewals", "40000.00", closed_on=date(2026, 5, 5), deal_type="renewal"
    )
    world.revenue(world.huatong, "INV-1", "10000.00", on=date(2026, 4, 1))
    world.close(world.lianhe, "Chenguang Tech", "50000.00", closed_on=date(2026, 2, 1))
    world.revenue(
        world.lianhe, "RF-1", "2000.00", on=date(2026, 4, 15), kind=RevenueEvent.Kind.REFUND
    )
    world.close(world.lianhe, "Dongfang Old", "80000.00", closed_on=date(2025, 12, 15))
    world.revenue(world.lianhe, "INV-OLD", "9000.00", on=date(2025, 12, 20))


def run(world, membership=None, months=6, today=TODAY, **kwargs):
    with tenant_context(world.tenant):
        return simulate(
            membership=membership or world.admin,
            version=world.draft,
            months=months,
            today=today,
            **kwargs,
        )


def figures(row):
    return (row.current, row.simulated, row.difference, row.difference_percent)


def test_the_draft_is_compared_with_the_published_plan_per_partner_and_in_total(sim_world):
    world = sim_world
    example(world)
    result = run(world)

    assert (result.start, result.end) == (date(2026, 1, 1), date(2026, 6, 30))
    assert (result.deals, result.revenue_events) == (3, 2)
    huatong, lianhe = result.partners  # the bigger difference first
    # Huatong now: 60,000 × 25 % + 40,000 × 25 % + 10,000 × 15 % = 15,000 + 10,000 + 1,500.
    # Draft: 60,000 × 27 % + 500 (new customer) + 40,000 × 27 % (renewal: no bonus) + 1,500
    #      = 16,200 + 500 + 10,800 + 1,500 = 29,000; +2,500 = 2,500 / 26,500 = 9.43 %.
    assert huatong.partner_id == world.huatong.pk
    assert huatong.partner_name == "Huatong Partners"
    assert huatong.currency == "CNY"
    assert figures(huatong) == (
        Decimal("26500.00"),
        Decimal("29000.00"),
        Decimal("2500.00"),
        Decimal("9.43"),
    )
    assert (huatong.deals, huatong.revenue_events) == (2, 1)
    # Lianhe now: 50,000 × 25 % − 2,000 × 15 % = 12,500 − 300 = 12,200.
    # Draft: 50,000 × 27 % + 500 − 300 = 13,700; +1,500 = 12.30 %.
    assert lianhe.partner_id == world.lianhe.pk
    assert figures(lianhe) == (
        Decimal("12200.00"),
        Decimal("13700.00"),
        Decimal("1500.00"),
        Decimal("12.30"),
    )
    assert (lianhe.deals, lianhe.revenue_events) == (1, 1)
    (total,) = result.totals
    # 38,700 now, 42,700 under the draft: +4,000 = 10.34 %.
    assert total.currency == "CNY"
    assert figures(total) == (
        Decimal("38700.00"),
        Decimal("42700.00"),
        Decimal("4000.00"),
        Decimal("10.34"),
    )
    assert (total.deals, total.revenue_events) == (3, 2)


def test_a_longer_window_takes_in_the_older_deal_and_event(sim_world):
    world = sim_world
    example(world)
    result = run(world, months=7)  # from 1 December 2025
    assert (result.deals, result.revenue_events) == (4, 3)
    lianhe = next(row for row in result.partners if row.partner_id == world.lianhe.pk)
    # Now: 12,200 + 80,000 × 25 % + 9,000 × 15 % = 12,200 + 20,000 + 1,350 = 33,550.
    # Draft: 13,700 + 80,000 × 27 % + 500 + 1,350 = 13,700 + 21,600 + 500 + 1,350 = 37,150.
    assert figures(lianhe)[:3] == (
        Decimal("33550.00"),
        Decimal("37150.00"),
        Decimal("3600.00"),
    )


def test_posted_shows_what_the_ledger_credited_and_the_drift(sim_world):
    world = sim_world
    example(world)
    with tenant_context(world.tenant):
        run_commission_job()
    late = world.close(world.huatong, "Late Close Ltd", "8000.00", closed_on=date(2026, 6, 1))
    result = run(world)
    huatong = next(row for row in result.partners if row.partner_id == world.huatong.pk)
    lianhe = next(row for row in result.partners if row.partner_id == world.lianhe.pk)
    # The old deal and event were posted too, but are outside the window.
    assert lianhe.posted == Decimal("12200.00") and lianhe.drift == 0
    # The late deal (8,000 × 25 % = 2,000) is not posted yet.
    assert huatong.current == Decimal("28500.00")
    assert huatong.posted == Decimal("26500.00")
    assert huatong.drift == Decimal("-2000.00")
    assert result.totals[0].posted == Decimal("38700.00")
    assert late.pk


def test_a_reversed_deal_is_left_out(sim_world):
    world = sim_world
    example(world)
    deal = world.close(world.lianhe, "Refunded Co", "30000.00", closed_on=date(2026, 3, 3))
    with tenant_context(world.tenant):
        deal_services.reverse_closed_won(
            deal=deal, membership=world.manager, actor=world.manager.user, reason="Refunded"
        )
    assert run(world).deals == 3


def test_no_deals_no_rows(sim_world):
    result = run(sim_world)
    assert result.partners == [] and result.totals == []
    assert (result.deals, result.revenue_events) == (0, 0)


def test_nothing_is_written_only_selects(sim_world):
    world = sim_world
    example(world)
    with tenant_context(world.tenant):
        run_commission_job()
    with CaptureQueriesContext(connection) as captured:
        run(world)
    statements = [query["sql"].lstrip().upper() for query in captured.captured_queries]
    assert statements
    assert all(sql.startswith("SELECT") for sql in statements), statements


def test_query_count_does_not_grow_with_deals_events_or_dates(sim_world):
    world = sim_world
    world.close(world.huatong, "First Co", "1000.00", closed_on=date(2026, 2, 2))
    world.revenue(world.lianhe, "E-1", "100.00", on=date(2026, 2, 3))
    with CaptureQueriesContext(connection) as few:
        small = run(world)
    for n in range(8):
        partner = world.huatong if n % 2 else world.lianhe
        world.close(partner, f"More{n} Co", "1000.00", closed_on=date(2026, 3, 1 + n), term=12)
        world.revenue(partner, f"E-M{n}", "100.00", on=date(2026, 4, 1 + n))
    with CaptureQueriesContext(connection) as many:
        large = run(world)
    assert (small.deals, large.deals) == (1, 9)
    assert (small.revenue_events, large.revenue_events) == (1, 9)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_chunks_give_the_same_figures_as_one_pass(sim_world):
    world = sim_world
    example(world)
    whole = run(world)
    chunked = run(world, size=1)
    assert [figures(r) for r in chunked.partners] == [figures(r) for r in whole.partners]
    assert [figures(t) for t in chunked.totals] == [figures(t) for t in whole.totals]
    assert (chunked.deals, chunked.revenue_events) == (whole.deals, whole.revenue_events)


def test_versions_in_force_are_chosen_like_the_selector(sim_world):
    world = sim_world
    with tenant_context(world.tenant):
        versions = _Versions(world.draft)
        for on in (date(2025, 11, 30), date(2025, 12, 1), TODAY):
            assert versions.current(on) == plans_in_force(on=on)
        # The draft replaces its own plan's published version.
        assert [p.version_id for p in versions.proposed(TODAY)] == [world.draft.pk]
        assert [p.version_id for p in versions.proposed(date(2025, 1, 1))] == [world.draft.pk]


def test_the_window_counts_calendar_months():
    assert window(months=6, today=date(2026, 6, 30)) == (date(2026, 1, 1), date(2026, 6, 30))
    assert window(months=1, today=date(2026, 3, 31)) == (date(2026, 3, 1), date(2026, 3, 31))
    assert window(months=24, today=date(2026, 1, 15)) == (date(2024, 1, 16), date(2026, 1, 15))


@pytest.mark.parametrize("months", [0, 25, -1])
def test_months_are_from_1_to_24(sim_world, months):
    with pytest.raises(DomainError):
        run(sim_world, months=months)


@pytest.mark.parametrize(
    ("role", "allowed"), [("admin", True), ("finance", True), ("manager", False)]
)
def test_tenant_admins_and_finance_may_simulate(sim_world, role, allowed):
    membership = getattr(sim_world, role)
    if allowed:
        assert run(sim_world, membership=membership).months == 6
    else:
        with pytest.raises(PermissionDenied):
            run(sim_world, membership=membership)


def test_partner_users_may_not_simulate(sim_world):
    rep = sim_world.reps[sim_world.huatong.pk]
    with pytest.raises(PermissionDenied):
        run(sim_world, membership=rep)
