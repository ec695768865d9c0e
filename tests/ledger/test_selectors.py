"""Balances and totals derived from entries, in a constant number of queries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from prm.ledger import selectors
from prm.ledger.models import Account, Kind, SourceType
from prm.ledger.selectors import Balance, KindTotal, TransactionFilters
from prm.ledger.services import Line, post, reverse
from prm.tenancy.context import tenant_context
from tests.ledger.conftest import DAY, check_deferred_constraints, earning

pytestmark = pytest.mark.django_db


def pay(partner, amount: str, key: str, currency: str = "CNY", day: date = date(2026, 12, 5)):
    return post(
        key=key,
        kind=Kind.PAYMENT,
        source_type=SourceType.PAYOUT,
        source_id=1,
        currency=currency,
        effective_date=day,
        lines=[
            Line(account=Account.PARTNER_PAYABLE, amount=Decimal(amount)),
            Line(account=Account.CASH, amount=-Decimal(amount)),
        ],
        partner=partner,
    )


@pytest.fixture
def history(world, tenant_b, partner_b):
    """Partner X: 2,400 CNY commission, a 300 CNY bonus reversed, 100 USD referral
    fee, paid 1,000 CNY. Partner Y: 500 CNY rebate. Tenant B: 999 MYR."""
    with tenant_context(world.tenant):
        earning(partner=world.partner_x, amount="2400.00", key="c1")
        bonus, _ = earning(partner=world.partner_x, amount="300.00", key="b1", kind=Kind.BONUS)
        reverse(transaction=bonus, key="b1:clawback", effective_date=DAY, memo="reversed")
        earning(
            partner=world.partner_x,
            amount="100.00",
            key="r1",
            currency="USD",
            kind=Kind.REFERRAL_FEE,
            effective_date=date(2026, 10, 1),
        )
        pay(world.partner_x, "1000.00", key="p1")
        earning(partner=world.partner_y, amount="500.00", key="y1", kind=Kind.REBATE)
        check_deferred_constraints()
    with tenant_context(tenant_b):
        earning(partner=partner_b, amount="999.00", key="c1", currency="MYR")
        check_deferred_constraints()
    return world


def test_balances_per_partner_account_and_currency(history):
    x, y = history.partner_x.pk, history.partner_y.pk
    with tenant_context(history.tenant):
        assert selectors.balances() == [
            Balance(x, "cash", "CNY", Decimal("-1000.00")),
            Balance(x, "commission_expense", "CNY", Decimal("2400.00")),
            Balance(x, "commission_expense", "USD", Decimal("100.00")),
            Balance(x, "partner_payable", "CNY", Decimal("-1400.00")),
            Balance(x, "partner_payable", "USD", Decimal("-100.00")),
            Balance(y, "commission_expense", "CNY", Decimal("500.00")),
            Balance(y, "partner_payable", "CNY", Decimal("-500.00")),
        ]
        assert selectors.balances(partner_ids=[y], accounts=[Account.PARTNER_PAYABLE]) == [
            Balance(y, "partner_payable", "CNY", Decimal("-500.00")),
        ]
        assert selectors.balances(currency="USD", accounts=[Account.PARTNER_PAYABLE]) == [
            Balance(x, "partner_payable", "USD", Decimal("-100.00")),
        ]


def test_payable_balances_what_the_vendor_owes(history):
    x, y = history.partner_x.pk, history.partner_y.pk
    with tenant_context(history.tenant):
        assert selectors.payable_balances() == {
            (x, "CNY"): Decimal("1400.00"),
            (x, "USD"): Decimal("100.00"),
            (y, "CNY"): Decimal("500.00"),
        }
        # Before the payment and the November postings only October's fee is owed.
        assert selectors.payable_balances(as_of=date(2026, 10, 31)) == {
            (x, "USD"): Decimal("100.00")
        }


def test_totals_by_kind(history):
    with tenant_context(history.tenant):
        assert selectors.totals_by_kind(partner=history.partner_x) == [
            KindTotal("bonus", "CNY", Decimal("300.00"), 1),
            KindTotal("clawback", "CNY", Decimal("-300.00"), 1),
            KindTotal("commission", "CNY", Decimal("2400.00"), 1),
            KindTotal("payment", "CNY", Decimal("-1000.00"), 1),
            KindTotal("referral_fee", "USD", Decimal("100.00"), 1),
        ]
        assert selectors.totals_by_kind(filters=TransactionFilters(currency="CNY")) == [
            KindTotal("bonus", "CNY", Decimal("300.00"), 1),
            KindTotal("clawback", "CNY", Decimal("-300.00"), 1),
            KindTotal("commission", "CNY", Decimal("2400.00"), 1),
            KindTotal("payment", "CNY", Decimal("-1000.00"), 1),
            KindTotal("rebate", "CNY", Decimal("500.00"), 1),
        ]


def test_a_partners_transactions_come_with_entries_and_amounts(history, django_assert_num_queries):
    with tenant_context(history.tenant):
        with django_assert_num_queries(2):
            rows = list(selectors.transactions_for_partner(partner=history.partner_x))
            summary = [
                (tx.kind, tx.partner_amount, [entry.amount for entry in tx.entries.all()])
                for tx in rows
            ]
        assert sorted(summary) == sorted(
            [
                ("commission", Decimal("2400.00"), [Decimal("-2400.00"), Decimal("2400.00")]),
                ("bonus", Decimal("300.00"), [Decimal("-300.00"), Decimal("300.00")]),
                ("clawback", Decimal("-300.00"), [Decimal("-300.00"), Decimal("300.00")]),
                ("referral_fee", Decimal("100.00"), [Decimal("-100.00"), Decimal("100.00")]),
                ("payment", Decimal("-1000.00"), [Decimal("-1000.00"), Decimal("1000.00")]),
            ]
        )
        filtered = selectors.transactions_for_partner(
            partner=history.partner_x,
            filters=TransactionFilters(kind=Kind.REFERRAL_FEE, date_to=date(2026, 10, 31)),
        )
        assert [tx.currency for tx in filtered] == ["USD"]


def test_partner_transactions_cost_the_same_queries_as_they_grow(world, django_assert_num_queries):
    with tenant_context(world.tenant):
        for n in range(3):
            earning(partner=world.partner_x, amount="10.00", key=f"a{n}")
        with django_assert_num_queries(2):
            assert len(list(selectors.transactions_for_partner(partner=world.partner_x))) == 3
        for n in range(30):
            earning(partner=world.partner_x, amount="10.00", key=f"b{n}")
        with django_assert_num_queries(2):
            rows = list(selectors.transactions_for_partner(partner=world.partner_x))
            assert sum(len(tx.entries.all()) for tx in rows) == 66


def test_another_tenants_ledger_is_invisible_to_every_selector(history, tenant_b, partner_b):
    with tenant_context(history.tenant):
        assert partner_b.pk not in {b.partner_id for b in selectors.balances()}
        assert "MYR" not in {t.currency for t in selectors.totals_by_kind()}
        assert selectors.transactions().filter(partner_id=partner_b.pk).count() == 0
    with tenant_context(tenant_b):
        assert selectors.payable_balances() == {(partner_b.pk, "MYR"): Decimal("999.00")}
