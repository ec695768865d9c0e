"""Random histories of earnings, clawbacks and adjustments over three closes:
nothing is lost, nothing is paid twice, nothing is paid negative or under the
threshold, and every statement adds up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction as db
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incentives import payouts
from incentives.models import PayoutPeriod, Statement, StatementLine
from prm.tenancy.context import tenant_context
from tests.payouts.conftest import adjust, claw, earn

pytestmark = pytest.mark.django_db

MONTHS = [(date(2026, 8, 1), date(2026, 8, 31)), (date(2026, 9, 1), date(2026, 9, 30))]
MONTHS.append((date(2026, 10, 1), date(2026, 10, 31)))
POSTERS = {"earn": earn, "claw": claw, "adjust": adjust}

events = st.lists(
    st.tuples(
        st.sampled_from(sorted(POSTERS)),
        st.integers(min_value=1, max_value=200_000).map(lambda n: Decimal(n) / 100),
        st.integers(min_value=0, max_value=2),  # month
        st.integers(min_value=1, max_value=28),  # day
    ),
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=events, minimum=st.sampled_from(["0.00", "100.00", "1500.00"]))
def test_every_cent_is_paid_once_or_still_carried(world, history, minimum):
    with tenant_context(world.tenant), db.atomic():
        payouts.set_minimum_payout(
            membership=world.finance, actor=world.finance.user, minimum_payout=Decimal(minimum)
        )
        periods = [PayoutPeriod.objects.create(start=s, end=e) for s, e in MONTHS]
        expected = Decimal("0.00")
        posted = 0
        for kind, amount, month, day in history:
            value = -amount if kind == "adjust" and day % 2 else amount
            POSTERS[kind](world.acme, str(value), MONTHS[month][0].replace(day=day))
            expected += -value if kind == "claw" else value
            posted += 1
        for period in periods:
            payouts.close_period(
                period=period,
                membership=world.finance,
                actor=world.finance.user,
                today=date(2027, 1, 1),
            )
        statements = list(Statement.objects.filter(partner=world.acme).order_by("period__start"))
        paid = Decimal("0.00")
        carried = Decimal("0.00")
        for statement in statements:
            assert statement.opening_balance == carried
            assert statement.closing_amount == (
                statement.opening_balance
                + statement.earned_total
                + statement.clawed_back_total
                + statement.adjustments_total
            )
            assert statement.payable_amount >= 0
            if statement.payable_amount:
                assert statement.payable_amount >= Decimal(minimum)
                assert statement.carried_forward == 0
            paid += statement.payable_amount
            carried = statement.carried_forward
        assert paid + carried == expected
        assert StatementLine.objects.filter(statement__partner=world.acme).count() == posted
        db.set_rollback(True)
