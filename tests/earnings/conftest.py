"""Earnings fixtures: a tenant's API ``World`` (two partners, one member per
role) with a published plan paying 20 % of the first-year contract value, and
helpers that put money in the ledger the real way: deals closed through the
deal services then the nightly commission job, reversals, finance's manual
adjustments and payments posted with ``prm.ledger.services``."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from deals import services as deal_services
from deals.models import DealRegistration
from incentives import services as incentive_services
from incentives.commissions import run_commission_job
from partners.models import PartnerOrganization
from prm.accounts.roles import Role
from prm.ledger.models import Account, Kind, LedgerTransaction, SourceType
from prm.ledger.services import Line, post, post_adjustment
from prm.tenancy.context import tenant_context
from tests.api.conftest import World, build_world, client_on

__all__ = ["EarningsWorld", "client_on", "months_ago"]

PLAN_START = date(2025, 1, 1)
RATE = Decimal("20")
_numbers = itertools.count(1)


def months_ago(count: int, today: date | None = None) -> date:
    """The 2nd day of the month ``count`` months before today's (today itself for 0)."""
    today = today or timezone.localdate()
    if count == 0:
        return today
    year, month = today.year, today.month - count
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 2)


@dataclass
class EarningsWorld:
    base: World

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def member(self, who: str):
        return self.base.members[who]

    def close_deal(
        self,
        amount: str,
        *,
        who: str = Role.PARTNER_REP,
        closed_on: date | None = None,
        currency: str = "CNY",
        company: str | None = None,
    ) -> DealRegistration:
        """A deal registered and closed won by ``who`` (12-month term: the first-year
        value is the amount, so the plan pays 20 % of it)."""
        n = next(_numbers)
        membership = self.member(who)
        with tenant_context(self.base.tenant):
            deal = deal_services.register_deal(
                membership=membership,
                actor=membership.user,
                customer_company=company or f"Customer {n} Co",
                contact_name="Li Na",
                contact_email=f"buyer@customer{n}.example",
                estimated_close_date=timezone.localdate() + timedelta(days=30),
            )
            return deal_services.close_won(
                deal=deal,
                membership=membership,
                actor=membership.user,
                final_amount=Decimal(amount),
                currency=currency,
                closed_on=closed_on or timezone.localdate(),
                contract_term_months=12,
            )

    def run_job(self) -> dict:
        with tenant_context(self.base.tenant):
            return run_commission_job()

    def reverse(self, deal: DealRegistration, reason: str = "Customer cancelled") -> None:
        manager = self.member(Role.CHANNEL_MANAGER)
        with tenant_context(self.base.tenant):
            deal_services.reverse_closed_won(
                deal=deal, membership=manager, actor=manager.user, reason=reason
            )

    def adjust(
        self, partner: PartnerOrganization, amount: str, reason: str, on: date | None = None
    ) -> LedgerTransaction:
        finance = self.member(Role.FINANCE)
        with tenant_context(self.base.tenant):
            return post_adjustment(
                membership=finance,
                actor=finance.user,
                partner=partner,
                currency="CNY",
                amount=Decimal(amount),
                reason=reason,
                effective_date=on or timezone.localdate(),
            )

    def pay(
        self, partner: PartnerOrganization, amount: str, on: date | None = None
    ) -> LedgerTransaction:
        """A payment out of the partner's payable balance."""
        n = next(_numbers)
        with tenant_context(self.base.tenant):
            transaction, _created = post(
                key=f"payout:{n}:-:payment:-",
                kind=Kind.PAYMENT,
                source_type=SourceType.PAYOUT,
                source_id=n,
                currency="CNY",
                effective_date=on or timezone.localdate(),
                lines=[
                    Line(account=Account.PARTNER_PAYABLE, amount=Decimal(amount)),
                    Line(account=Account.CASH, amount=-Decimal(amount)),
                ],
                partner=partner,
                explanation={"reference": f"PAY-{n}"},
            )
            return transaction


def build_earnings_world(tenant) -> EarningsWorld:
    world = build_world(tenant)
    admin = world.members[Role.TENANT_ADMIN]
    with tenant_context(tenant):
        plan = incentive_services.create_plan(
            membership=admin, actor=admin.user, name="Partner plan"
        )
        version = plan.versions.get()
        incentive_services.add_rule(
            version=version,
            membership=admin,
            actor=admin.user,
            data={"name": "Resale commission", "kind": "tier_commission", "rate": str(RATE)},
        )
        incentive_services.publish_version(
            version=version,
            membership=admin,
            actor=admin.user,
            effective_from=PLAN_START,
            today=PLAN_START,
        )
    return EarningsWorld(world)


@pytest.fixture
def alpha(tenant_a) -> EarningsWorld:
    return build_earnings_world(tenant_a)


@pytest.fixture
def bravo(tenant_b) -> EarningsWorld:
    return build_earnings_world(tenant_b)


@pytest.fixture
def money(alpha) -> dict[str, Any]:
    """Partner A: a 10,000.00 deal two months ago (earns 2,000.00) and a 5,555.55 deal
    this month (earns 1,111.11) that is then reversed (clawback -1,111.11); a 50.00
    adjustment and a 1,000.00 payment this month. The other partner: a 8,000.00 deal
    this month (earns 1,600.00)."""
    first = alpha.close_deal("10000.00", closed_on=months_ago(2), company="Acme Trading")
    second = alpha.close_deal("5555.55", company="Beta Foods")
    other = alpha.close_deal("8000.00", who="other_partner_admin", company="Gamma Secret Ltd")
    alpha.run_job()
    alpha.reverse(second)
    alpha.run_job()
    adjustment = alpha.adjust(alpha.partner, "50.00", "Training completed")
    payment = alpha.pay(alpha.partner, "1000.00")
    return {
        "first": first,
        "second": second,
        "other": other,
        "adjustment": adjustment,
        "payment": payment,
    }
