"""What partners and finance read after conversions: earnings and payout
status totals (conversions are never earned, pending, approved or paid), the
lines and their explanation, and the period's journal."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from django.utils import translation

from incentives.earnings import (
    EarningsFilters,
    earning_lines,
    earnings_totals,
    explain,
    month_net_earnings,
    monthly_net_earnings,
)
from incentives.models import PayoutPeriod, Statement
from incentives.payout_reads import payout_status_totals
from incentives.payouts import exports
from prm.ledger.models import Account, Kind
from prm.ledger.selectors import totals_by_kind
from prm.tenancy.context import tenant_context
from tests.fx_settlement.conftest import AFTER_SEPTEMBER, SEPTEMBER, ZERO
from tests.fx_settlement.test_close import tell_september

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = date(2026, 10, 10)


def earned_figures(partner) -> dict[str, tuple]:
    return {
        t.currency: (t.earned, t.clawed_back, t.adjustments, t.reimbursed, t.paid)
        for t in earnings_totals(partner=partner)
    }


def status(partner) -> dict[str, tuple]:
    return {
        t.currency: (t.pending, t.approved, t.paid) for t in payout_status_totals(partner=partner)
    }


def test_conversions_change_no_earned_figure_and_are_never_pending(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        earned_before = earned_figures(fx.multi)
        months_before = monthly_net_earnings(partner=fx.multi, today=TODAY)
        this_month_before = month_net_earnings(partner=fx.multi, today=SEPTEMBER[1])
        assert status(fx.multi) == {
            "CNY": (D("1000.00"), ZERO, ZERO),
            "MYR": (D("200.00"), ZERO, ZERO),
            "USD": (D("133.33"), ZERO, ZERO),
        }

        fx.close(sep, AFTER_SEPTEMBER)
        assert earned_figures(fx.multi) == earned_before
        assert monthly_net_earnings(partner=fx.multi, today=TODAY) == months_before
        assert month_net_earnings(partner=fx.multi, today=SEPTEMBER[1]) == this_month_before
        # On the statement: approved in MYR; nothing pending in any currency.
        assert status(fx.multi) == {
            "CNY": (ZERO, ZERO, ZERO),
            "MYR": (ZERO, D("1446.65"), ZERO),
            "USD": (ZERO, ZERO, ZERO),
        }
        totals = {t.currency: t for t in earnings_totals(partner=fx.multi)}
        assert {c: t.converted for c, t in totals.items()} == {
            "CNY": D("-1000.00"),
            "MYR": D("1246.65"),
            "USD": D("-133.33"),
        }
        assert {c: t.balance for c, t in totals.items()} == {
            "CNY": ZERO,
            "MYR": D("1446.65"),
            "USD": ZERO,
        }

        fx.pay(Statement.objects.get(period=sep, partner=fx.multi), date(2026, 10, 5))
        assert status(fx.multi) == {
            "CNY": (ZERO, ZERO, ZERO),
            "MYR": (ZERO, ZERO, D("1446.65")),
            "USD": (ZERO, ZERO, ZERO),
        }
        after = {t.currency: t for t in earnings_totals(partner=fx.multi)}
        assert after["MYR"].paid == D("1446.65")
        assert after["USD"].paid == after["CNY"].paid == ZERO
        # Identities: every kind in one column; pending + approved is the balance.
        by_status = status(fx.multi)
        for currency, t in after.items():
            assert t.balance == (
                t.earned + t.clawed_back + t.adjustments + t.reimbursed + t.converted - t.paid
            )
            pending, approved, _paid = by_status[currency]
            assert pending + approved == t.balance == ZERO


def test_the_partner_view_and_finance_view_agree_per_currency(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        mine = earnings_totals(partner=fx.multi)
        seen_by_finance = earnings_totals(
            partner=None, filters=EarningsFilters(partner_id=fx.multi.pk)
        )
        assert mine == seen_by_finance
        by_kind = {(k.kind, k.currency): k.amount for k in totals_by_kind(partner=fx.multi)}
        assert by_kind[(Kind.CONVERSION, "USD")] == D("-133.33")
        assert by_kind[(Kind.CONVERSION, "MYR")] == D("1246.65")
        for status_row in payout_status_totals(partner=fx.multi):
            total = next(t for t in mine if t.currency == status_row.currency)
            assert status_row.pending + status_row.approved == total.balance


def test_conversion_lines_are_listed_and_explained(fx):
    with tenant_context(fx.tenant), translation.override("en"):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        statement = Statement.objects.get(period=sep, partner=fx.multi)
        lines = earning_lines(
            partner=fx.multi, filters=EarningsFilters(kind=Kind.CONVERSION, currency="USD")
        )
        (usd_out,) = lines
        assert usd_out.partner_amount == D("-133.33")
        items = {
            item.label: item.value
            for item in explain(usd_out.explanation, currency="USD", kind=Kind.CONVERSION)
        }
    assert items == {
        "Currency conversion": "133.33 USD converted into 596.65 MYR",
        "Statement": f"Statement no. {statement.pk}, period 2026-09",
        "Statement lines converted": "2",
        "Exchange rates": "Each line at the rate of its own date, as on the statement",
    }


def test_the_period_filter_keeps_to_statement_lines_and_payments(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        sep = PayoutPeriod.objects.get(pk=sep.pk)
        kinds = set(
            earning_lines(partner=fx.multi, filters=EarningsFilters(period=sep)).values_list(
                "kind", flat=True
            )
        )
    assert kinds == {Kind.COMMISSION}


def test_the_journal_includes_the_conversions_and_balances_per_currency(fx):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
        sep = PayoutPeriod.objects.get(pk=sep.pk)
        journal = exports.journal(period=sep, membership=fx.finance)
    entries = {
        (line.currency, line.account): (line.debit, line.credit)
        for line in journal.lines
        if not line.is_total and line.account == Account.FX_CLEARING
    }
    assert entries == {
        ("CNY", Account.FX_CLEARING): (ZERO, D("1000.00")),
        ("MYR", Account.FX_CLEARING): (D("1246.65"), ZERO),
        ("USD", Account.FX_CLEARING): (ZERO, D("133.33")),
    }
    payable: dict[str, Decimal] = {}
    for line in journal.lines:
        if line.account == Account.PARTNER_PAYABLE:
            payable[line.currency] = payable.get(line.currency, ZERO) + line.debit - line.credit
    # Both partners' September money is owed in MYR only.
    assert payable == {"CNY": ZERO, "MYR": D("-1746.65"), "USD": ZERO}
    totals = journal.totals()
    assert set(totals) == {"CNY", "MYR", "USD"}
    for debit, credit in totals.values():
        assert debit == credit > 0
    for currency in totals:
        lines = [line for line in journal.lines if line.currency == currency and not line.is_total]
        assert sum(line.debit - line.credit for line in lines) == 0
    # USD: the commission (expense / payable) and its conversion out (payable / clearing).
    assert totals["USD"] == (D("266.66"), D("266.66"))


def test_the_earnings_page_shows_the_conversions(fx, client):
    with tenant_context(fx.tenant):
        sep = tell_september(fx)
        fx.close(sep, AFTER_SEPTEMBER)
    client.cookies["django_language"] = "en"
    client.force_login(fx.rep.user)
    response = client.get("/earnings/", HTTP_HOST="bravo.localhost")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("Currency conversion") >= 4
    assert "133.33 USD converted into 596.65 MYR" in html
    balances = dict(
        re.findall(r'<tr data-currency="([A-Z]{3})">.*?data-balance="([^"]*)"', html, re.S)
    )
    assert balances == {"CNY": "0.00", "MYR": "1446.65", "USD": "0.00"}
