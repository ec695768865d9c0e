"""Period-rule fixtures: tenant A (CNY) with the default catalogue, a Gold
reseller with complete payee details and its rep, staff roles, payout periods
for August–November 2026, and helpers to publish a plan of period rules,
close deals and record usage charges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db.models import Sum
from django.utils import timezone

from deals import services as deal_services
from deals.models import DealRegistration
from incentives import services
from incentives.models import PayoutPeriod, PlanVersion, RevenueEvent
from partners.defaults import seed_catalogue
from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.ledger.models import Account, LedgerEntry
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.payouts.conftest import give_payee

D = Decimal
JAN_1 = date(2026, 1, 1)
AUGUST = (date(2026, 8, 1), date(2026, 8, 31))
SEPTEMBER = (date(2026, 9, 1), date(2026, 9, 30))
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
AFTER_SEPTEMBER = date(2026, 10, 5)

# Stepped rebate bands at the tier revenue thresholds of DOMAIN.md (Silver
# 50K, Gold 200K, Platinum 500K): 3 % up to 50,000, 4 % up to 200,000, 5 % up
# to 500,000, 6 % above.
BANDS = [
    {"up_to": "50000", "rate": "3"},
    {"up_to": "200000", "rate": "4"},
    {"up_to": "500000", "rate": "5"},
    {"up_to": None, "rate": "6"},
]


@dataclass
class PeriodWorld:
    tenant: object
    admin: Membership
    finance: Membership
    rep: Membership
    partner: PartnerOrganization  # Gold reseller, paid in CNY
    periods: dict[str, PayoutPeriod]


@pytest.fixture
def world(tenant_a) -> PeriodWorld:
    with tenant_context(tenant_a):
        types, tiers = seed_catalogue()
        partner = PartnerFactory(
            legal_name="Huatong Partners",
            tier={t.key: t for t in tiers}["gold"],
            partner_type={t.key: t for t in types}["reseller"],
            country="CN",
            default_currency="CNY",
        )
        give_payee(partner)
        periods = {
            name: PayoutPeriod.objects.create(start=start, end=end)
            for name, (start, end) in {
                "august": AUGUST,
                "september": SEPTEMBER,
                "october": OCTOBER,
            }.items()
        }
        return PeriodWorld(
            tenant=tenant_a,
            admin=MembershipFactory(role=Role.TENANT_ADMIN, partner=None),
            finance=MembershipFactory(role=Role.FINANCE, partner=None),
            rep=MembershipFactory(role=Role.PARTNER_REP, partner=partner),
            partner=partner,
            periods=periods,
        )


def publish_plan(
    world: PeriodWorld, *rules: dict, name: str = "Period plan", effective_from: date = JAN_1
) -> PlanVersion:
    with tenant_context(world.tenant):
        plan = services.create_plan(membership=world.admin, actor=world.admin.user, name=name)
        version = plan.versions.get()
        for data in rules:
            services.add_rule(
                version=version, membership=world.admin, actor=world.admin.user, data=data
            )
        return services.publish_version(
            version=version,
            membership=world.admin,
            actor=world.admin.user,
            effective_from=effective_from,
            today=effective_from,
        )


def rebate_rule(mode: str, name: str = "Volume rebate") -> dict:
    return {
        "name": name,
        "kind": "stepped_rebate",
        "parameters": {"mode": mode, "bands": BANDS},
    }


_numbers = count(1)


def won(
    world: PeriodWorld,
    amount: str,
    closed_on: date,
    *,
    deal_type: str = "new",
    currency: str = "CNY",
    rep: Membership | None = None,
) -> DealRegistration:
    """Register and close won a deal for the world's partner (or ``rep``'s)."""
    n = next(_numbers)
    rep = rep or world.rep
    with tenant_context(world.tenant):
        deal = deal_services.register_deal(
            membership=rep,
            actor=rep.user,
            customer_company=f"Customer {n} Ltd",
            contact_name="Li Na",
            contact_email=f"buyer@customer{n}.cn",
            estimated_close_date=closed_on + timedelta(days=30),
            today=closed_on - timedelta(days=10),
            deal_type=deal_type,
            currency=currency,
        )
        return deal_services.close_won(
            deal=deal,
            membership=rep,
            actor=rep.user,
            final_amount=D(amount),
            currency=currency,
            closed_on=closed_on,
            contract_term_months=12,
        )


def lost_renewal(world: PeriodWorld) -> DealRegistration:
    """A renewal lost today (renewals lost count by the day they were lost)."""
    n = next(_numbers)
    with tenant_context(world.tenant):
        deal = deal_services.register_deal(
            membership=world.rep,
            actor=world.rep.user,
            customer_company=f"Lapsed {n} Co",
            contact_name="Li Na",
            contact_email=f"it@lapsed{n}.cn",
            estimated_close_date=timezone.localdate() + timedelta(days=30),
            deal_type="renewal",
            currency="CNY",
        )
        return deal_services.close_lost(
            deal=deal, membership=world.rep, actor=world.rep.user, reason="Churned"
        )


def usage(
    world: PeriodWorld,
    customer: str,
    amount: str,
    on: date,
    *,
    partner: PartnerOrganization | None = None,
) -> RevenueEvent:
    with tenant_context(world.tenant):
        return services.record_revenue_event(
            membership=world.finance,
            actor=world.finance.user,
            partner=partner or world.partner,
            kind="usage_charge",
            amount=D(amount),
            currency="CNY",
            occurred_on=on,
            external_id=f"usage-{next(_numbers)}",
            customer_name=customer,
        )


def payable(partner: PartnerOrganization) -> Decimal:
    """What the partner is owed, from the entries alone."""
    with tenant_context(partner.tenant):
        total = LedgerEntry.objects.filter(
            partner=partner, account=Account.PARTNER_PAYABLE
        ).aggregate(total=Sum("amount"))["total"]
    return -(total or D("0"))
