"""Replay fixtures: tenant A (CNY) with the default catalogue, two Gold
resellers with complete payee details and their reps, staff roles, a plan
published from 1 December 2025 (Gold 25 % of first-year contract value,
15 % revenue share) and a draft copied from it (Gold 27 %), and a helper that
closes deals in September 2026, runs the nightly job and closes September."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import count

import pytest

from deals import services as deal_services
from deals.models import DealRegistration
from incentives import payouts, services
from incentives.commissions import run_commission_job
from incentives.models import PayoutPeriod, PlanVersion, RevenueEvent, Statement, StatementLine
from partners.defaults import seed_catalogue
from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.payouts.conftest import give_payee

D = Decimal
HOST_A = "alpha.localhost"
PUBLISHED_FROM = date(2025, 12, 1)
SEPTEMBER = (date(2026, 9, 1), date(2026, 9, 30))
SEP_10 = date(2026, 9, 10)
SEP_20 = date(2026, 9, 20)
CLOSED_ON = date(2026, 10, 5)  # the day finance closes September
CORRECTED_ON = date(2026, 10, 20)  # inside October, the open period

_numbers = count(1)


@dataclass
class ReplayWorld:
    tenant: object
    admin: Membership
    finance: Membership
    manager: Membership
    huatong: PartnerOrganization
    lianhe: PartnerOrganization
    reps: dict[int, Membership]
    published: PlanVersion
    draft: PlanVersion
    deals: list[DealRegistration] = field(default_factory=list)

    def close(
        self, partner: PartnerOrganization, amount: str, *, closed_on: date = SEP_10
    ) -> DealRegistration:
        rep = self.reps[partner.pk]
        n = next(_numbers)
        with tenant_context(self.tenant):
            deal = deal_services.register_deal(
                membership=rep,
                actor=rep.user,
                customer_company=f"Replay Customer {n} Ltd",
                contact_name="Li Na",
                contact_email=f"buyer@replay{n}.cn",
                estimated_close_date=closed_on + timedelta(days=30),
                today=closed_on - timedelta(days=10),
                currency="CNY",
            )
            won = deal_services.close_won(
                deal=deal,
                membership=rep,
                actor=rep.user,
                final_amount=D(amount),
                currency="CNY",
                closed_on=closed_on,
                contract_term_months=12,
            )
        self.deals.append(won)
        return won

    def revenue(self, partner: PartnerOrganization, amount: str, *, on: date = SEP_20):
        n = next(_numbers)
        with tenant_context(self.tenant):
            return services.record_revenue_event(
                membership=self.finance,
                actor=self.finance.user,
                partner=partner,
                kind=RevenueEvent.Kind.INVOICE_PAID,
                amount=D(amount),
                currency="CNY",
                occurred_on=on,
                external_id=f"INV-{n}",
                customer_name=f"Customer {n}",
            )

    def run_job(self) -> dict:
        with tenant_context(self.tenant):
            return run_commission_job()

    def close_september(self) -> PayoutPeriod:
        with tenant_context(self.tenant):
            september = PayoutPeriod.objects.get_or_create(
                start=SEPTEMBER[0], defaults={"end": SEPTEMBER[1]}
            )[0]
            return payouts.close_period(
                period=september,
                membership=self.finance,
                actor=self.finance.user,
                today=CLOSED_ON,
            )


def _plan(admin: Membership, name: str = "Standard") -> tuple[PlanVersion, PlanVersion]:
    plan = services.create_plan(membership=admin, actor=admin.user, name=name)
    version = plan.versions.get()
    for data in (
        {"name": "Gold commission", "kind": "tier_commission", "tier_keys": ["gold"], "rate": "25"},
        {"name": "Reseller share", "kind": "revenue_share", "rate": "15"},
    ):
        services.add_rule(version=version, membership=admin, actor=admin.user, data=data)
    published = services.publish_version(
        version=version,
        membership=admin,
        actor=admin.user,
        effective_from=PUBLISHED_FROM,
        today=PUBLISHED_FROM,
    )
    draft = services.new_draft_from(version=published, membership=admin, actor=admin.user)
    services.update_rule(
        rule=draft.rules.get(kind="tier_commission"),
        membership=admin,
        actor=admin.user,
        data={
            "name": "Gold commission",
            "kind": "tier_commission",
            "tier_keys": ["gold"],
            "rate": "27",
        },
    )
    return published, draft


def make_world(tenant) -> ReplayWorld:
    with tenant_context(tenant):
        types, tiers = seed_catalogue()
        gold = next(tier for tier in tiers if tier.key == "gold")
        reseller = next(t for t in types if t.key == "reseller")
        partners = [
            PartnerFactory(
                legal_name=name,
                tier=gold,
                partner_type=reseller,
                country="CN",
                default_currency="CNY",
            )
            for name in ("Huatong Partners", "Lianhe Systems")
        ]
        for partner in partners:
            give_payee(partner)
        admin = MembershipFactory(role=Role.TENANT_ADMIN, partner=None)
        published, draft = _plan(admin)
        return ReplayWorld(
            tenant=tenant,
            admin=admin,
            finance=MembershipFactory(role=Role.FINANCE, partner=None),
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
            huatong=partners[0],
            lianhe=partners[1],
            reps={p.pk: MembershipFactory(role=Role.PARTNER_REP, partner=p) for p in partners},
            published=published,
            draft=draft,
        )


@pytest.fixture
def world(tenant_a) -> ReplayWorld:
    return make_world(tenant_a)


@pytest.fixture
def closed(world) -> PayoutPeriod:
    """September closed with two deals (20,000 and 10,000 CNY: 5,000 and 2,500
    commission) and one revenue event (4,000 CNY: 600 revenue share)."""
    world.close(world.huatong, "20000.00")
    world.close(world.lianhe, "10000.00")
    world.revenue(world.huatong, "4000.00")
    world.run_job()
    return world.close_september()


def statements_snapshot(period: PayoutPeriod) -> list[tuple]:
    """Every figure of a period's statements and lines, to show they never change."""
    statements = list(
        Statement.objects.filter(period=period)
        .order_by("pk")
        .values_list(
            "pk",
            "partner_id",
            "currency",
            "opening_balance",
            "earned_total",
            "clawed_back_total",
            "adjustments_total",
            "closing_amount",
            "payable_amount",
            "carried_forward",
            "status",
        )
    )
    lines = list(
        StatementLine.objects.filter(statement__period=period)
        .order_by("pk")
        .values_list("pk", "statement_id", "transaction_id", "amount", "original_amount")
    )
    return [*statements, *lines]


OCTOBER_CLOSED_ON = date(2026, 11, 5)  # the day finance closes October
NOVEMBER_20 = date(2026, 11, 20)  # inside November, open once October is closed


@dataclass
class SharedSource:
    september: PayoutPeriod
    october: PayoutPeriod
    deal: DealRegistration


@pytest.fixture
def shared_source(world) -> SharedSource:
    """A deal closed on 30 September that the nightly job computes only after
    September closed: its earning (20,000 × 25 % = 5,000, effective in
    September) lands on October's statement. Both periods, closed, have it as a
    source: September by its close date, October by its statement."""
    deal = world.close(world.huatong, "20000.00", closed_on=SEPTEMBER[1])
    september = world.close_september()
    world.run_job()
    with tenant_context(world.tenant):
        october = payouts.close_period(
            period=PayoutPeriod.objects.get(start=date(2026, 10, 1)),
            membership=world.finance,
            actor=world.finance.user,
            today=OCTOBER_CLOSED_ON,
        )
    return SharedSource(september=september, october=october, deal=deal)
