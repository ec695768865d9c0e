"""Closing a period settles a multi-currency partner's ledger in its payout
currency: conversions at close, balanced per currency, posted once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, F, Sum
from django.test.utils import CaptureQueriesContext

from incentives import payouts
from incentives.models import Hold, PayoutPeriod, Statement, StatementLine
from incentives.payouts.compute import pending_transactions, preview_period
from incentives.payouts.services import PayoutError, conversion_postings, settle_currencies
from partners.models import PartnerPayee
from prm.audit.models import AuditEvent
from prm.errors import Conflict
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction, SourceType
from prm.ledger.selectors import payable_balances
from prm.ledger.services import post_many
from prm.tenancy.context import tenant_context
from tests.factories import PartnerFactory
from tests.fx_settlement.conftest import (
    AFTER_OCTOBER,
    AFTER_SEPTEMBER,
    OCTOBER,
    SEPTEMBER,
    ZERO,
    payable,
)
from tests.payouts.conftest import claw, earn, give_payee, period, rate

pytestmark = pytest.mark.django_db

D = Decimal


def tell_september(fx) -> PayoutPeriod:
    """USD 100.00 on 15 Sep (×4.50 = 450.00), USD 33.33 on 25 Sep (×4.40 =
    146.65), CNY 1,000.00 on 10 Sep (×0.65 = 650.00), MYR 200.00 on 12 Sep:
    closing 1,446.65 MYR. The single-currency partner earns MYR 300.00."""
    earn(fx.multi, "100.00", date(2026, 9, 15), currency="USD")
    earn(fx.multi, "33.33", date(2026, 9, 25), currency="USD")
    earn(fx.multi, "1000.00", date(2026, 9, 10), currency="CNY")
    earn(fx.multi, "200.00", date(2026, 9, 12), currency="MYR")
    earn(fx.single, "300.00", date(2026, 9, 14), currency="MYR")
    return period(SEPTEMBER)


def conversions(**filters):
    return LedgerTransaction.objects.filter(kind=Kind.CONVERSION, **filters)


def entries_of(tx: LedgerTransaction) -> dict[str, Decimal]:
    return dict(tx.entries.values_list("account", "amount"))


def test_the_close_moves_foreign_earnings_into_the_payout_currency(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        statement = Statement.objects.get(period=sep, partner=fx.multi)
        assert statement.currency == "MYR"
        assert statement.closing_amount == D("1446.65")
        assert statement.payable_amount == D("1446.65")
        # USD and CNY net to zero, MYR is what the statement says is owed.
        assert payable(fx.multi) == {"CNY": ZERO, "MYR": D("-1446.65"), "USD": ZERO}
        assert payable_balances(partner_ids=[fx.multi.pk]) == {
            (fx.multi.pk, "CNY"): ZERO,
            (fx.multi.pk, "MYR"): D("1446.65"),
            (fx.multi.pk, "USD"): ZERO,
        }
        # The vendor's side: what was converted out of USD and CNY, into MYR.
        assert payable(fx.multi, Account.FX_CLEARING) == {
            "CNY": D("-1000.00"),
            "MYR": D("1246.65"),
            "USD": D("-133.33"),
        }
        found = {tx.idempotency_key: tx for tx in conversions(partner=fx.multi)}
        key = f"fx:{statement.pk}"
        assert set(found) == {f"{key}:USD:out", f"{key}:USD:in", f"{key}:CNY:out", f"{key}:CNY:in"}
        usd_out, usd_in = found[f"{key}:USD:out"], found[f"{key}:USD:in"]
        assert (usd_out.currency, usd_in.currency) == ("USD", "MYR")
        assert entries_of(usd_out) == {
            Account.PARTNER_PAYABLE: D("133.33"),
            Account.FX_CLEARING: D("-133.33"),
        }
        assert entries_of(usd_in) == {
            Account.FX_CLEARING: D("596.65"),
            Account.PARTNER_PAYABLE: D("-596.65"),
        }
        assert entries_of(found[f"{key}:CNY:in"]) == {
            Account.FX_CLEARING: D("650.00"),
            Account.PARTNER_PAYABLE: D("-650.00"),
        }
        for tx in found.values():
            assert tx.source_type == SourceType.PAYOUT
            assert tx.source_id == statement.pk
            assert tx.partner_id == fx.multi.pk
            assert tx.effective_date == SEPTEMBER[1]
            assert tx.period_key == "2026-09"
        assert usd_in.explanation == {
            "statement": statement.pk,
            "period": "2026-09",
            "from_currency": "USD",
            "to_currency": "MYR",
            "original_amount": "133.33",
            "converted_amount": "596.65",
            "lines": 2,
        }
        audit = AuditEvent.objects.get(action="payouts.period_closed")
        assert audit.data["conversions"] == 4


def test_after_payment_every_currency_of_the_partner_is_settled(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        for statement in Statement.objects.filter(period=sep):
            fx.pay(statement, date(2026, 10, 5))
        assert payable(fx.multi) == {"CNY": ZERO, "MYR": ZERO, "USD": ZERO}
        assert payable(fx.single) == {"MYR": ZERO}
        payment = LedgerTransaction.objects.get(partner=fx.multi, kind=Kind.PAYMENT)
        assert (payment.currency, entries_of(payment)[Account.PARTNER_PAYABLE]) == (
            "MYR",
            D("1446.65"),
        )


def test_every_transaction_is_single_currency_and_balanced(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        fx.pay(Statement.objects.get(period=sep, partner=fx.multi), date(2026, 10, 5))
        per_transaction = (
            LedgerEntry.objects.values("transaction_id")
            .annotate(
                total=Sum("amount"),
                currencies=Count("currency", distinct=True),
                entries=Count("id"),
            )
            .order_by()
        )
        assert per_transaction.count() == LedgerTransaction.objects.count() > 0
        for row in per_transaction:
            assert (row["total"], row["currencies"]) == (0, 1), row
            assert row["entries"] >= 2
        assert not LedgerEntry.objects.exclude(currency=F("transaction__currency")).exists()


def test_a_rerun_posts_nothing_twice_and_a_closed_period_is_not_closed_again(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        before = LedgerTransaction.objects.count()
        assert settle_currencies(period=sep) == 0
        assert post_many(postings=conversion_postings(period=sep)) == 0
        with pytest.raises(Conflict):
            fx.close(PayoutPeriod.objects.get(pk=sep.pk), AFTER_SEPTEMBER)
        assert LedgerTransaction.objects.count() == before
        keys = conversions().values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1)
        assert not keys.exists()
        assert payable(fx.multi) == {"CNY": ZERO, "MYR": D("-1446.65"), "USD": ZERO}


def test_a_single_currency_partner_gets_no_conversion(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        assert not conversions(partner=fx.single).exists()
        assert payable(fx.single) == {"MYR": D("-300.00")}
        # The multi-currency partner's MYR lines need no conversion either.
        assert not conversions(partner=fx.multi, explanation__from_currency="MYR").exists()


def test_conversions_never_land_on_the_next_statement(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        october = PayoutPeriod.objects.get(start=OCTOBER[0])
        assert not pending_transactions(october).filter(kind=Kind.CONVERSION).exists()
        assert preview_period(october, today=AFTER_SEPTEMBER) == []
        earn(fx.multi, "10.00", date(2026, 10, 8), currency="USD")  # 44.00 MYR
        fx.close(october, AFTER_OCTOBER)
        statement = Statement.objects.get(period=october, partner=fx.multi)
        assert [(line.kind, line.amount) for line in statement.lines.all()] == [
            (Kind.COMMISSION, D("44.00"))
        ]
        assert not StatementLine.objects.filter(transaction__kind=Kind.CONVERSION).exists()
        assert statement.opening_balance == ZERO  # September's was payable, not carried
        # October's close converts October's line only, under its own statement.
        assert set(
            conversions(source_id=statement.pk).values_list("idempotency_key", flat=True)
        ) == {
            f"fx:{statement.pk}:USD:out",
            f"fx:{statement.pk}:USD:in",
        }
        assert payable(fx.multi) == {"CNY": ZERO, "MYR": D("-1490.65"), "USD": ZERO}


def test_a_clawback_in_a_foreign_currency_converts_negative(fx):
    with tenant_context(fx.tenant):
        earn(fx.multi, "100.00", date(2026, 9, 15), currency="USD")  # 450.00 MYR
        sep = period(SEPTEMBER)
        fx.close(sep, AFTER_SEPTEMBER)
        fx.pay(Statement.objects.get(period=sep, partner=fx.multi), date(2026, 10, 5))
        rate("USD", "MYR", "4.3000000000", date(2026, 10, 1))
        claw(fx.multi, "100.00", date(2026, 10, 9), currency="USD")  # −430.00 MYR
        october = PayoutPeriod.objects.get(start=OCTOBER[0])
        fx.close(october, AFTER_OCTOBER)
        statement = Statement.objects.get(period=october, partner=fx.multi)
        assert statement.clawed_back_total == D("-430.00")
        assert (statement.payable_amount, statement.carried_forward) == (ZERO, D("-430.00"))
        out = conversions(idempotency_key=f"fx:{statement.pk}:USD:out").get()
        into = conversions(idempotency_key=f"fx:{statement.pk}:USD:in").get()
        assert entries_of(out) == {
            Account.PARTNER_PAYABLE: D("-100.00"),
            Account.FX_CLEARING: D("100.00"),
        }
        assert entries_of(into) == {
            Account.FX_CLEARING: D("-430.00"),
            Account.PARTNER_PAYABLE: D("430.00"),
        }
        assert into.explanation["original_amount"] == "-100.00"
        # The partner owes the vendor 430.00 MYR: the carried-forward balance.
        assert payable(fx.multi) == {"MYR": D("430.00"), "USD": ZERO}


def test_a_side_that_nets_to_zero_is_not_posted(fx):
    with tenant_context(fx.tenant):
        earn(fx.multi, "100.00", date(2026, 9, 15), currency="USD")  # 450.00 MYR
        claw(fx.multi, "100.00", date(2026, 9, 25), currency="USD")  # −440.00 MYR
        sep = period(SEPTEMBER)
        fx.close(sep, AFTER_SEPTEMBER)
        statement = Statement.objects.get(period=sep, partner=fx.multi)
        assert statement.closing_amount == D("10.00")
        assert list(conversions().values_list("idempotency_key", flat=True)) == [
            f"fx:{statement.pk}:USD:in"
        ]
        assert payable(fx.multi) == {"MYR": D("-10.00"), "USD": ZERO}


def test_held_statements_and_earnings(fx):
    """A held statement is converted (its balance is carried in the payout
    currency); a held earning stays in its currency until a statement takes it."""
    with tenant_context(fx.tenant):
        kept = earn(fx.multi, "50.00", date(2026, 9, 16), currency="USD")
        earn(fx.multi, "1000.00", date(2026, 9, 10), currency="CNY")
        payouts.hold(
            partner=fx.multi,
            transaction=kept,
            reason="Disputed",
            membership=fx.finance,
            actor=fx.finance.user,
        )
        partner_hold = payouts.hold(
            partner=fx.multi, reason="Audit", membership=fx.finance, actor=fx.finance.user
        )
        sep = period(SEPTEMBER)
        fx.close(sep, AFTER_SEPTEMBER)
        statement = Statement.objects.get(period=sep, partner=fx.multi)
        assert statement.status == Statement.Status.HELD
        assert statement.carried_forward == D("650.00")
        assert payable(fx.multi) == {"CNY": ZERO, "MYR": D("-650.00"), "USD": D("-50.00")}
        payouts.release(hold=partner_hold, membership=fx.finance, actor=fx.finance.user)
        payouts.release(
            hold=Hold.objects.get(transaction=kept), membership=fx.finance, actor=fx.finance.user
        )
        october = PayoutPeriod.objects.get(start=OCTOBER[0])
        fx.close(october, AFTER_OCTOBER)
        following = Statement.objects.get(period=october, partner=fx.multi)
        # 650.00 carried in + 50.00 USD at 15 Sep's rate (4.50) = 875.00
        assert following.closing_amount == D("875.00")
        assert payable(fx.multi) == {"CNY": ZERO, "MYR": D("-875.00"), "USD": ZERO}


def test_a_conversion_cannot_be_held(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        conversion = conversions(partner=fx.multi).first()
        with pytest.raises(PayoutError) as refused:
            payouts.hold(
                partner=fx.multi,
                transaction=conversion,
                reason="No",
                membership=fx.finance,
                actor=fx.finance.user,
            )
        assert refused.value.code == "not_an_earning"


def test_a_carried_balance_follows_a_change_of_payout_currency(fx):
    with tenant_context(fx.tenant):
        payouts.set_minimum_payout(
            membership=fx.finance, actor=fx.finance.user, minimum_payout=D("1000.00")
        )
        earn(fx.multi, "100.00", date(2026, 9, 15), currency="USD")  # 450.00 MYR: carried
        sep = period(SEPTEMBER)
        fx.close(sep, AFTER_SEPTEMBER)
        assert payable(fx.multi) == {"MYR": D("-450.00"), "USD": ZERO}
        PartnerPayee.objects.filter(partner=fx.multi).update(payout_currency="USD")
        earn(fx.multi, "500.00", date(2026, 10, 8), currency="USD")
        october = PayoutPeriod.objects.get(start=OCTOBER[0])
        rate("USD", "MYR", "4.5000000000", date(2026, 9, 30))
        fx.close(october, AFTER_OCTOBER)
        statement = Statement.objects.get(period=october, partner=fx.multi)
        assert statement.currency == "USD"
        assert statement.opening_balance == D("100.00")  # 450.00 MYR ÷ 4.50
        assert statement.closing_amount == D("600.00")
        out = conversions(idempotency_key=f"fx:{statement.pk}:MYR:out").get()
        assert entries_of(out)[Account.PARTNER_PAYABLE] == D("450.00")
        assert out.explanation["carried_in"] == "450.00"
        assert out.explanation["lines"] == 0
        assert payable(fx.multi) == {"MYR": ZERO, "USD": D("-600.00")}


def test_the_conversions_cost_a_fixed_number_of_queries(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        with CaptureQueriesContext(connection) as few:
            conversion_postings(period=sep)
        october = PayoutPeriod.objects.get(start=OCTOBER[0])
        for number in range(12):
            partner = give_payee_to_new_partner()
            earn(partner, f"{number + 1}.00", date(2026, 10, 3), currency="USD")
            earn(partner, "7.00", date(2026, 10, 4), currency="CNY")
        fx.close(october, AFTER_OCTOBER)
        assert conversions(source_id__in=Statement.objects.filter(period=october)).count() == 48
        with CaptureQueriesContext(connection) as many:
            postings = conversion_postings(period=october)
        assert len(postings) == 48
        assert len(many) == len(few) == 3


def give_payee_to_new_partner():
    partner = PartnerFactory(default_currency="MYR")
    give_payee(partner, "MYR")
    return partner
