"""FX settlement fixtures: tenant B (MYR) with a partner paid in MYR that earns
in USD, CNY and MYR, a partner that earns and is paid in MYR only, their
payee details, finance, and the exchange rates of September and October.

Rates (recorded per day, so each line converts at its own date's rate):
USD→MYR 4.5000 from 1 September and 4.4000 from 20 September; CNY→MYR
0.6500 from 1 September.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum

from incentives import payouts
from incentives.models import PayoutPeriod, Statement
from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.ledger.models import Account, LedgerEntry
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.payouts.conftest import give_payee, rate

SEPTEMBER = (date(2026, 9, 1), date(2026, 9, 30))
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
AFTER_SEPTEMBER = date(2026, 10, 3)
AFTER_OCTOBER = date(2026, 11, 3)
ZERO = Decimal("0.00")


@dataclass
class FxWorld:
    tenant: object
    multi: PartnerOrganization  # paid in MYR, earns in USD, CNY and MYR
    single: PartnerOrganization  # earns and is paid in MYR
    finance: Membership
    rep: Membership  # the multi-currency partner's admin

    def close(self, period: PayoutPeriod, today: date) -> PayoutPeriod:
        return payouts.close_period(
            period=period, membership=self.finance, actor=self.finance.user, today=today
        )

    def pay(self, statement: Statement, paid_on: date) -> Statement:
        return payouts.mark_paid(
            statement=statement,
            reference=f"WIRE-{statement.pk}",
            paid_on=paid_on,
            membership=self.finance,
            actor=self.finance.user,
        )


@pytest.fixture
def fx(tenant_b) -> FxWorld:
    with tenant_context(tenant_b):
        multi = PartnerFactory(legal_name="Multi Currency Sdn Bhd", default_currency="USD")
        single = PartnerFactory(legal_name="Ringgit Only Sdn Bhd", default_currency="MYR")
        give_payee(multi, "MYR")
        give_payee(single, "MYR")
        rate("USD", "MYR", "4.5000000000", date(2026, 9, 1))
        rate("USD", "MYR", "4.4000000000", date(2026, 9, 20))
        rate("CNY", "MYR", "0.6500000000", date(2026, 9, 1))
        return FxWorld(
            tenant=tenant_b,
            multi=multi,
            single=single,
            finance=MembershipFactory(role=Role.FINANCE, partner=None),
            rep=MembershipFactory(role=Role.PARTNER_ADMIN, partner=multi),
        )


def payable(partner: PartnerOrganization, account: str = Account.PARTNER_PAYABLE) -> dict:
    """The partner's entries on ``account`` summed per currency (debit positive;
    a partner_payable of −X means the vendor owes X)."""
    rows = (
        LedgerEntry.objects.filter(partner=partner, account=account)
        .values("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
    )
    return {row["currency"]: row["total"] for row in rows}
