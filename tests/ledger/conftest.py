"""Ledger fixtures: tenant A with two partners and its staff, tenant B with one partner,
and helpers to post simple earnings and to run the deferred checks inside a test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.ledger.models import Account, Kind, LedgerTransaction, SourceType
from prm.ledger.services import Line, Posting, post
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"
DAY = date(2026, 11, 3)


@dataclass
class LedgerWorld:
    tenant: object
    partner_x: PartnerOrganization
    partner_y: PartnerOrganization
    finance: Membership
    tenant_admin: Membership
    manager: Membership
    rep_x: Membership


@pytest.fixture
def world(tenant_a) -> LedgerWorld:
    with tenant_context(tenant_a):
        partner_x = PartnerFactory(legal_name="Xin Partners Sdn Bhd", default_currency="CNY")
        partner_y = PartnerFactory(legal_name="Yellow Reseller Pte Ltd", default_currency="SGD")
        return LedgerWorld(
            tenant=tenant_a,
            partner_x=partner_x,
            partner_y=partner_y,
            finance=MembershipFactory(role=Role.FINANCE, partner=None),
            tenant_admin=MembershipFactory(role=Role.TENANT_ADMIN, partner=None),
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
            rep_x=MembershipFactory(role=Role.PARTNER_ADMIN, partner=partner_x),
        )


@pytest.fixture
def partner_b(tenant_b) -> PartnerOrganization:
    with tenant_context(tenant_b):
        return PartnerFactory(legal_name="Bravo Partner Sdn Bhd", default_currency="MYR")


def earning_lines(amount: Decimal, expense: str = Account.COMMISSION_EXPENSE) -> list[Line]:
    """Debit the expense, credit the partner's payable."""
    return [
        Line(account=expense, amount=amount),
        Line(account=Account.PARTNER_PAYABLE, amount=-amount),
    ]


def earning(
    *,
    partner: PartnerOrganization | None,
    amount: str,
    key: str,
    currency: str = "CNY",
    kind: str = Kind.COMMISSION,
    effective_date: date = DAY,
    **extra,
) -> tuple[LedgerTransaction, bool]:
    return post(
        key=key,
        kind=kind,
        source_type=extra.pop("source_type", SourceType.DEAL),
        source_id=extra.pop("source_id", 1),
        currency=currency,
        effective_date=effective_date,
        lines=earning_lines(Decimal(amount)),
        partner=partner,
        **extra,
    )


def earning_posting(
    *, key: str, partner_id: int | None, amount: str, currency: str = "CNY"
) -> Posting:
    return Posting(
        key=key,
        kind=Kind.COMMISSION,
        source_type=SourceType.DEAL,
        source_id=1,
        currency=currency,
        effective_date=DAY,
        lines=earning_lines(Decimal(amount)),
        partner_id=partner_id,
        explanation={"base": Decimal("1000.00"), "rate": Decimal("0.20")},
    )


def check_deferred_constraints() -> None:
    """Run the checks PostgreSQL defers to commit now, inside the test's transaction.

    Ordinary tests never commit (each is rolled back), so without this the
    balance trigger and the composite foreign keys would never run in them.
    Call it inside the tenant's context: the checks read under row-level security.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
