"""The earnings selectors: totals, months, deals and explanations, against
amounts computed by hand from the postings the fixtures make."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from incentives.earnings import (
    EarningsFilters,
    earning_lines,
    earnings_by_deal,
    earnings_totals,
    explain,
    last_months,
    month_net_earnings,
    monthly_net_earnings,
    parse_month,
)
from prm.ledger.models import Kind
from prm.tenancy.context import tenant_context
from tests.earnings.conftest import months_ago

pytestmark = pytest.mark.django_db


def test_totals_are_the_hand_computed_sums_of_the_postings(alpha, money):
    with tenant_context(alpha.tenant):
        (cny,) = earnings_totals(partner=alpha.partner)
    # 20 % of 10,000.00 and of 5,555.55; the second is clawed back.
    assert cny.currency == "CNY"
    assert cny.earned == Decimal("3111.11")
    assert cny.clawed_back == Decimal("-1111.11")
    assert cny.adjustments == Decimal("50.00")
    assert cny.reimbursed == Decimal("0.00")
    assert cny.paid == Decimal("1000.00")
    assert cny.balance == Decimal("1050.00")
    assert cny.balance == cny.earned + cny.clawed_back + cny.adjustments - cny.paid


def test_totals_of_the_other_partner_and_of_the_whole_tenant(alpha, money):
    with tenant_context(alpha.tenant):
        (other,) = earnings_totals(partner=alpha.other_partner)
        (everyone,) = earnings_totals(partner=None)
        (filtered,) = earnings_totals(
            partner=None, filters=EarningsFilters(partner_id=alpha.other_partner.pk)
        )
    assert (other.earned, other.balance) == (Decimal("1600.00"), Decimal("1600.00"))
    assert everyone.balance == Decimal("2650.00")
    assert filtered == other


def test_monthly_net_earnings_fill_twelve_months_and_net_clawbacks(alpha, money):
    today = timezone.localdate()
    with tenant_context(alpha.tenant):
        (series,) = monthly_net_earnings(partner=alpha.partner, today=today)
        this_month = month_net_earnings(partner=alpha.partner, today=today)
    amounts = {item.month: item.amount for item in series.months}
    assert len(series.months) == 12
    assert list(amounts) == last_months(today=today)
    assert amounts[months_ago(2).replace(day=1)] == Decimal("2000.00")
    # 1,111.11 earned, 1,111.11 clawed back and a 50.00 adjustment; the payment is not earnings.
    assert amounts[today.replace(day=1)] == Decimal("50.00")
    assert this_month == {"CNY": Decimal("50.00")}
    assert series.total == Decimal("2050.00")
    assert sum(1 for amount in amounts.values() if amount) == 2


def test_last_months_cross_the_year_boundary():
    months = last_months(today=date(2026, 2, 14), count=4)
    assert months == [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]


def test_lines_filter_by_month_kind_and_deal(alpha, money):
    partner = alpha.partner
    with tenant_context(alpha.tenant):
        everything = list(earning_lines(partner=partner))
        clawbacks = list(earning_lines(partner=partner, filters=EarningsFilters(kind="clawback")))
        old_month = list(
            earning_lines(
                partner=partner, filters=EarningsFilters(month=months_ago(2).replace(day=1))
            )
        )
        of_deal = list(
            earning_lines(partner=partner, filters=EarningsFilters(deal_id=money["second"].pk))
        )
        other_deal = list(
            earning_lines(partner=partner, filters=EarningsFilters(deal_id=money["other"].pk))
        )
    assert len(everything) == 5
    assert {line.partner_id for line in everything} == {partner.pk}
    assert [line.partner_amount for line in clawbacks] == [Decimal("-1111.11")]
    assert [line.deal_reference for line in old_month] == [money["first"].reference]
    assert sorted(line.kind for line in of_deal) == [Kind.CLAWBACK, Kind.COMMISSION]
    assert other_deal == []


def test_per_deal_breakdown_only_names_the_partners_own_deals(alpha, money):
    with tenant_context(alpha.tenant):
        rows = list(earnings_by_deal(partner=alpha.partner))
    assert [(row["reference"], row["earned"], row["clawed_back"], row["net"]) for row in rows] == [
        (money["first"].reference, Decimal("2000.00"), Decimal("0.00"), Decimal("2000.00")),
        (money["second"].reference, Decimal("1111.11"), Decimal("-1111.11"), Decimal("0.00")),
    ]
    assert [row["lines"] for row in rows] == [1, 2]
    assert money["other"].reference not in {row["reference"] for row in rows}


def test_a_commission_is_explained_in_words(alpha, money):
    with tenant_context(alpha.tenant):
        line = earning_lines(
            partner=alpha.partner,
            filters=EarningsFilters(deal_id=money["first"].pk, kind="commission"),
        ).get()
    with translation.override("en"):
        items = {item.label: item.value for item in explain(line.explanation, currency="CNY")}
    assert items["Rule"] == "Resale commission"
    assert items["Type"] == "Tier-based commission"
    assert items["Base"] == "First-year contract value: 10,000.00 CNY"
    assert items["Rate"] == "20%"
    assert items["Contract term"] == "12 months, of which the first 12 count"
    assert items["Your tier"] == alpha.partner.tier.name != alpha.partner.tier.key  # name, not key
    assert items["Calculation"] == "10000.00 × 20% = 2000.00"
    assert line.rule_name == "Resale commission"
    assert line.deal_customer == "Acme Trading"


def test_an_older_line_without_the_tier_name_shows_the_tier_key():
    with translation.override("en"):
        items = {item.label: item.value for item in explain({"tier": "gold"}, currency="CNY")}
    assert items["Your tier"] == "gold"


def test_a_split_and_a_clawback_are_explained():
    explanation = {
        "rule": "Co-sell",
        "base": "1000.00",
        "base_kind": "deal_amount",
        "rate": "10",
        "split": "70",
        "co_sell_role": "partner_sourced",
        "clawback_of": 42,
        "reason": "Refunded",
        "formula": "1000.00 × 10% × 70% = 70.00",
    }
    with translation.override("en"):
        items = {item.label: item.value for item in explain(explanation, currency="MYR")}
    assert items["Your co-sell share"] == "70% (Co-sell, partner-sourced)"
    assert items["Takes back"] == "Earning no. 42, because the deal was reversed"
    assert items["Reason"] == "Refunded"
    assert items["Base"] == "Deal amount: 1,000.00 MYR"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-03", date(2026, 3, 1)), ("2026-13", None), ("march", None), ("", None)],
)
def test_parse_month(value, expected):
    assert parse_month(value) == expected


def test_a_payment_is_explained_by_its_reference_or_as_a_payment():
    with translation.override("en"):
        referenced = explain({"reference": "PAY-7"}, currency="CNY", kind=Kind.PAYMENT)
        bare = explain({}, currency="CNY", kind=Kind.PAYMENT)
        adjustment = explain({}, currency="CNY", kind=Kind.ADJUSTMENT, memo="Goodwill")
    assert [(i.label, i.value) for i in referenced] == [("Reference", "PAY-7")]
    assert [(i.label, i.value) for i in bare] == [("Payment", "Paid out to you")]
    assert [(i.label, i.value) for i in adjustment] == [("Reason", "Goodwill")]
