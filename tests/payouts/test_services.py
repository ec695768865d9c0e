"""Closing payout periods: statements, carries, holds, blockers, FX, immutability, payment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, ProgrammingError, connection
from django.db import transaction as db
from django.test.utils import CaptureQueriesContext

from incentives import payouts
from incentives.models import Hold, PayoutPeriod, Statement, StatementLine
from prm.audit.models import AuditEvent
from prm.errors import Conflict, PermissionDenied
from prm.ledger.models import Account, LedgerEntry, LedgerTransaction
from prm.ledger.selectors import payable_balances
from prm.money.rates import RateMissing
from prm.tenancy.context import tenant_context
from tests.payouts.conftest import (
    AFTER_OCTOBER,
    OCTOBER,
    SEPTEMBER,
    adjust,
    claw,
    earn,
    give_payee,
    period,
    rate,
)

pytestmark = pytest.mark.django_db

SEP_15 = date(2026, 9, 15)
OCT_10 = date(2026, 10, 10)


def close(world, p, today=AFTER_OCTOBER):
    return payouts.close_period(
        period=p, membership=world.finance, actor=world.finance.user, today=today
    )


def statement_of(p, partner) -> Statement:
    return Statement.objects.get(period=p, partner=partner)


def test_a_statement_adds_up_earnings_clawbacks_adjustments_and_the_carried_balance(world):
    with tenant_context(world.tenant):
        sep, oct_ = period(SEPTEMBER), period(OCTOBER)
        payouts.set_minimum_payout(
            membership=world.finance, actor=world.finance.user, minimum_payout=Decimal("500.00")
        )
        earn(world.acme, "300.00", SEP_15)  # under the threshold: carried
        close(world, sep)
        first = statement_of(sep, world.acme)
        assert (first.closing_amount, first.payable_amount, first.carried_forward) == (
            Decimal("300.00"),
            Decimal("0.00"),
            Decimal("300.00"),
        )
        assert first.status == Statement.Status.CLOSED

        earn(world.acme, "2400.00", OCT_10)
        earn(world.acme, "600.00", date(2026, 10, 20))
        claw(world.acme, "480.00", date(2026, 10, 21))
        adjust(world.acme, "-20.00", date(2026, 10, 22))
        close(world, oct_)
        second = statement_of(oct_, world.acme)
        # 300 carried + 3,000 earned − 480 clawed back − 20 adjusted = 2,800
        assert second.opening_balance == Decimal("300.00")
        assert second.earned_total == Decimal("3000.00")
        assert second.clawed_back_total == Decimal("-480.00")
        assert second.adjustments_total == Decimal("-20.00")
        assert second.closing_amount == Decimal("2800.00")
        assert second.payable_amount == Decimal("2800.00")
        assert second.carried_forward == Decimal("0.00")
        assert second.lines.count() == 4
        assert AuditEvent.objects.filter(action="payouts.period_closed").count() == 2


def test_a_negative_balance_after_clawbacks_is_carried_never_paid(world):
    with tenant_context(world.tenant):
        sep, oct_ = period(SEPTEMBER), period(OCTOBER)
        earn(world.acme, "100.00", SEP_15)
        claw(world.acme, "250.00", date(2026, 9, 20))
        close(world, sep)
        first = statement_of(sep, world.acme)
        assert first.closing_amount == Decimal("-150.00")
        assert first.payable_amount == Decimal("0.00")
        assert first.carried_forward == Decimal("-150.00")

        close(world, oct_)  # no new entries: the debt is carried again
        again = statement_of(oct_, world.acme)
        assert again.opening_balance == Decimal("-150.00")
        assert again.lines.count() == 0
        assert again.payable_amount == Decimal("0.00")


def test_a_partner_without_payee_details_is_blocked_and_carried(world):
    with tenant_context(world.tenant):
        sep, oct_ = period(SEPTEMBER), period(OCTOBER)
        earn(world.bare, "1000.00", SEP_15)
        close(world, sep)
        blocked = statement_of(sep, world.bare)
        assert blocked.status == Statement.Status.BLOCKED
        assert "No payee or tax details are on file." in blocked.blockers
        assert (blocked.payable_amount, blocked.carried_forward) == (
            Decimal("0.00"),
            Decimal("1000.00"),
        )
        give_payee(world.bare)
        close(world, oct_)
        paid = statement_of(oct_, world.bare)
        assert paid.status == Statement.Status.CLOSED
        assert paid.payable_amount == Decimal("1000.00")


def test_a_partner_hold_holds_the_statement_until_released(world):
    with tenant_context(world.tenant):
        sep, oct_ = period(SEPTEMBER), period(OCTOBER)
        earn(world.acme, "700.00", SEP_15)
        held = payouts.hold(
            partner=world.acme,
            reason="Audit of Q3 deals",
            membership=world.finance,
            actor=world.finance.user,
        )
        close(world, sep)
        first = statement_of(sep, world.acme)
        assert first.status == Statement.Status.HELD
        assert first.hold_reason == "Audit of Q3 deals"
        assert first.payable_amount == Decimal("0.00")
        assert first.lines.count() == 1  # the earning is on it, just not paid
        payouts.release(hold=held, membership=world.finance, actor=world.finance.user)
        close(world, oct_)
        second = statement_of(oct_, world.acme)
        assert second.status == Statement.Status.CLOSED
        assert second.payable_amount == Decimal("700.00")
        assert (
            AuditEvent.objects.filter(action__in=["payouts.held", "payouts.released"]).count() == 2
        )


def test_a_held_earning_skips_the_close_and_lands_on_the_first_statement_after_release(world):
    with tenant_context(world.tenant):
        sep, oct_ = period(SEPTEMBER), period(OCTOBER)
        kept = earn(world.acme, "100.00", SEP_15)
        disputed = earn(world.acme, "900.00", SEP_15)
        held = payouts.hold(
            partner=world.acme,
            transaction=disputed,
            reason="Customer disputes the invoice",
            membership=world.finance,
            actor=world.finance.user,
        )
        close(world, sep)
        first = statement_of(sep, world.acme)
        assert list(first.lines.values_list("transaction_id", flat=True)) == [kept.pk]
        assert first.closing_amount == Decimal("100.00")
        assert first.status == Statement.Status.CLOSED

        payouts.release(hold=held, membership=world.finance, actor=world.finance.user)
        close(world, oct_)
        second = statement_of(oct_, world.acme)
        assert list(second.lines.values_list("transaction_id", flat=True)) == [disputed.pk]
        assert second.payable_amount == Decimal("900.00")


def test_holding_needs_a_reason_and_the_partners_own_earning(world):
    with tenant_context(world.tenant):
        tx = earn(world.yoyo, "10.00", SEP_15)
        with pytest.raises(payouts.services.PayoutError):
            payouts.hold(
                partner=world.acme, reason=" ", membership=world.finance, actor=world.finance.user
            )
        with pytest.raises(payouts.services.PayoutError):
            payouts.hold(
                partner=world.acme,
                transaction=tx,
                reason="x",
                membership=world.finance,
                actor=world.finance.user,
            )
        payouts.hold(
            partner=world.acme, reason="once", membership=world.finance, actor=world.finance.user
        )
        with pytest.raises(Conflict):
            payouts.hold(
                partner=world.acme,
                reason="twice",
                membership=world.finance,
                actor=world.finance.user,
            )


def test_lines_convert_at_the_rate_of_the_event_date_not_a_later_one(world):
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        rate("CNY", "USD", "0.1400000000", date(2026, 9, 1))
        rate("CNY", "USD", "0.1500000000", date(2026, 9, 16))
        rate("CNY", "USD", "0.9900000000", date(2026, 11, 1))  # today's: never used
        early = earn(world.yoyo, "1000.00", date(2026, 9, 10))
        late = earn(world.yoyo, "1000.00", date(2026, 9, 20))
        same = earn(world.yoyo, "12.34", date(2026, 9, 21), currency="USD")
        close(world, sep)
        lines = {line.transaction_id: line for line in StatementLine.objects.all()}
        assert (lines[early.pk].rate, lines[early.pk].rate_date, lines[early.pk].amount) == (
            Decimal("0.14"),
            date(2026, 9, 1),
            Decimal("140.00"),
        )
        assert (lines[late.pk].rate, lines[late.pk].rate_date, lines[late.pk].amount) == (
            Decimal("0.15"),
            date(2026, 9, 16),
            Decimal("150.00"),
        )
        assert lines[early.pk].original_amount == Decimal("1000.00")
        assert lines[early.pk].original_currency == "CNY"
        assert (lines[same.pk].rate, lines[same.pk].rate_date) == (None, None)
        statement = statement_of(sep, world.yoyo)
        assert statement.currency == "USD"
        assert statement.earned_total == Decimal("302.34")


def test_a_missing_rate_refuses_the_close_naming_the_pair_and_date(world):
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        earn(world.yoyo, "1000.00", date(2026, 9, 10))
        with pytest.raises(RateMissing) as refused:
            close(world, sep)
        assert str(refused.value.message) == (
            "No exchange rate from CNY to USD is recorded on or before 09/10/2026."
        )
        sep.refresh_from_db()
        assert sep.is_open
        assert not Statement.objects.exists()


def test_a_closed_period_cannot_be_closed_again_and_late_entries_go_to_the_next(world):
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        earn(world.acme, "100.00", SEP_15)
        close(world, sep)
        with pytest.raises(Conflict):
            close(world, sep)
        late = earn(world.acme, "50.00", date(2026, 9, 29))  # effective in September, posted late
        following = PayoutPeriod.objects.get(start=date(2026, 10, 1))  # opened by the close
        assert following.end == date(2026, 10, 31) and following.is_open
        assert statement_of(sep, world.acme).lines.count() == 1
        close(world, following)
        assert list(
            statement_of(following, world.acme).lines.values_list("transaction_id", flat=True)
        ) == [late.pk]


def test_the_database_refuses_changes_to_closed_statements_and_lines(world):
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        earn(world.acme, "100.00", SEP_15)
        close(world, sep)
        statement = statement_of(sep, world.acme)
        for sql in (
            "UPDATE incentives_statement SET closing_amount = 0, payable_amount = 0",
            "DELETE FROM incentives_statement",
            "UPDATE incentives_payoutperiod SET status = 'open', closed_at = NULL "
            f"WHERE id = {sep.pk}",
        ):
            with pytest.raises(IntegrityError), db.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
        line = statement.lines.get()
        # The application role has no UPDATE on lines (and a trigger would refuse it).
        with pytest.raises((IntegrityError, ProgrammingError)), db.atomic():
            StatementLine.objects.filter(pk=line.pk).update(amount=Decimal("1.00"))
        with pytest.raises(IntegrityError), db.atomic():
            PayoutPeriod.objects.create(start=date(2026, 9, 20), end=date(2026, 10, 5))


def test_a_period_is_closed_only_after_it_ends_and_in_order(world):
    with tenant_context(world.tenant):
        sep, oct_ = period(SEPTEMBER), period(OCTOBER)
        with pytest.raises(Conflict):
            close(world, oct_)  # September is still open
        with pytest.raises(Conflict):
            close(world, sep, today=date(2026, 9, 30))


def test_ensure_open_period_creates_the_month_once(world):
    with tenant_context(world.tenant):
        first = payouts.ensure_open_period(date(2026, 11, 23))
        again = payouts.ensure_open_period(date(2026, 11, 2))
        assert first.pk == again.pk
        assert (first.start, first.end) == (date(2026, 11, 1), date(2026, 11, 30))
        assert PayoutPeriod.objects.count() == 1


def test_mark_paid_posts_one_balanced_payment(world):
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        earn(world.acme, "2400.00", SEP_15)
        close(world, sep)
        statement = statement_of(sep, world.acme)
        paid = payouts.mark_paid(
            statement=statement,
            reference="BANK-REF-1",
            paid_on=date(2026, 10, 5),
            membership=world.finance,
            actor=world.finance.user,
        )
        assert paid.status == Statement.Status.PAID
        assert paid.payment_reference == "BANK-REF-1"
        payment = LedgerTransaction.objects.get(idempotency_key=f"payout:{statement.pk}")
        entries = sorted(
            LedgerEntry.objects.filter(transaction=payment).values_list("account", "amount")
        )
        assert entries == [
            (Account.CASH, Decimal("-2400.00")),
            (Account.PARTNER_PAYABLE, Decimal("2400.00")),
        ]
        assert payable_balances(partner_ids=[world.acme.pk]) == {
            (world.acme.pk, "CNY"): Decimal("0.00")
        }
        with pytest.raises(Conflict):
            payouts.mark_paid(
                statement=statement,
                reference="BANK-REF-2",
                paid_on=date(2026, 10, 6),
                membership=world.finance,
                actor=world.finance.user,
            )
        assert LedgerTransaction.objects.filter(kind="payment").count() == 1
        with pytest.raises(IntegrityError), db.atomic():  # the database keeps it paid once
            Statement.objects.filter(pk=statement.pk).update(payment_reference="EDITED")
        # The payment never shows up on a later statement.
        oct_ = PayoutPeriod.objects.get(start=date(2026, 10, 1))
        close(world, oct_)
        assert not Statement.objects.filter(period=oct_, partner=world.acme).exists()


def test_nothing_payable_cannot_be_marked_paid(world):
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        earn(world.bare, "100.00", SEP_15)
        close(world, sep)
        with pytest.raises(Conflict):
            payouts.mark_paid(
                statement=statement_of(sep, world.bare),
                reference="X",
                paid_on=date(2026, 10, 5),
                membership=world.finance,
                actor=world.finance.user,
            )


@pytest.mark.parametrize("member", ["tenant_admin", "manager", "rep_acme"])
def test_only_finance_acts_on_payouts(world, member):
    membership = getattr(world, member)
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        earn(world.acme, "100.00", SEP_15)
        with pytest.raises(PermissionDenied):
            payouts.close_period(
                period=sep, membership=membership, actor=membership.user, today=AFTER_OCTOBER
            )
        with pytest.raises(PermissionDenied):
            payouts.hold(
                partner=world.acme, reason="x", membership=membership, actor=membership.user
            )
        assert not Hold.objects.exists()
        assert sep.is_open


def test_preview_matches_the_close_and_writes_nothing(world):
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        earn(world.acme, "100.00", SEP_15)
        earn(world.bare, "40.00", SEP_15)
        drafts = {d.partner.pk: d for d in payouts.preview_period(sep)}
        assert not Statement.objects.exists()
        close(world, sep)
        for statement in Statement.objects.filter(period=sep):
            draft = drafts[statement.partner_id]
            assert (draft.closing_amount, draft.payable_amount, draft.status) == (
                statement.closing_amount,
                statement.payable_amount,
                statement.status,
            )


def test_closing_costs_a_bounded_number_of_queries_whatever_the_volume(world):
    from tests.factories import PartnerFactory

    def queries_to_close(p, partners_count, per_partner):
        for _ in range(partners_count):
            partner = PartnerFactory(default_currency="CNY")
            for _ in range(per_partner):
                earn(partner, "10.00", p.start)
        with CaptureQueriesContext(connection) as captured:
            close(world, p)
        return len(captured)

    with tenant_context(world.tenant):
        small = queries_to_close(period(SEPTEMBER), 2, 1)
        large = queries_to_close(PayoutPeriod.objects.get(start=OCTOBER[0]), 12, 5)
        assert large == small


@pytest.mark.django_db(transaction=True)
def test_a_hold_waits_for_a_close_in_progress(world):
    """A close locks its period row; a hold waits for it instead of slipping an
    earning onto the statement being written (here: gives up after a lock timeout)."""
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
    params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    closing = psycopg.connect(**params)
    try:
        closing.execute("SELECT set_config('app.tenant_id', %s, false)", [str(world.tenant.pk)])
        closing.execute("SELECT 1 FROM incentives_payoutperiod WHERE id = %s FOR UPDATE", [sep.pk])
        with tenant_context(world.tenant), pytest.raises(OperationalError, match="lock timeout"):
            with db.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '300ms'")
                payouts.hold(
                    partner=world.acme,
                    reason="Audit",
                    membership=world.finance,
                    actor=world.finance.user,
                )
    finally:
        closing.close()
    with tenant_context(world.tenant):
        assert not Hold.objects.exists()
