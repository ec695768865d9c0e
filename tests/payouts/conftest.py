"""Payout fixtures: tenant A (CNY) with partners paid in CNY and USD, its staff,
helpers to post earnings, clawbacks and adjustments, record rates and give a
partner complete payee details."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from incentives.models import PayoutPeriod
from partners.models import PartnerOrganization, PartnerPayee
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.ledger.models import Account, Kind, LedgerTransaction, SourceType
from prm.ledger.services import Line, post
from prm.money.models import ExchangeRate
from prm.money.sealed import seal, tail
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"
SEPTEMBER = (date(2026, 9, 1), date(2026, 9, 30))
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
AFTER_OCTOBER = date(2026, 11, 5)


@dataclass
class PayoutWorld:
    tenant: object
    acme: PartnerOrganization  # paid in CNY, complete payee details
    yoyo: PartnerOrganization  # paid in USD (payee details), complete
    bare: PartnerOrganization  # no payee details: blocked
    finance: Membership
    tenant_admin: Membership
    manager: Membership
    rep_acme: Membership


def give_payee(partner: PartnerOrganization, currency: str = "CNY") -> PartnerPayee:
    return PartnerPayee.objects.create(
        partner=partner,
        legal_name=partner.legal_name,
        payout_currency=currency,
        payment_method=PartnerPayee.Method.BANK_TRANSFER,
        bank_name="Bank of Test",
        account_number_sealed=seal("12345678"),
        account_number_tail=tail("12345678"),
        swift_bic="TESTMYKL",
        bank_country="MY",
        tax_id_sealed=seal("TAX-991"),
        tax_id_tail=tail("TAX-991"),
        tax_country="MY",
        tax_form_status=PartnerPayee.TaxForm.LOCAL,
    )


@pytest.fixture
def world(tenant_a) -> PayoutWorld:
    with tenant_context(tenant_a):
        acme = PartnerFactory(legal_name="Acme Channel Co", default_currency="CNY")
        yoyo = PartnerFactory(legal_name="Yoyo Resellers Inc", default_currency="CNY")
        bare = PartnerFactory(legal_name="Bare Partner Ltd", default_currency="CNY")
        give_payee(acme)
        give_payee(yoyo, "USD")
        return PayoutWorld(
            tenant=tenant_a,
            acme=acme,
            yoyo=yoyo,
            bare=bare,
            finance=MembershipFactory(role=Role.FINANCE, partner=None),
            tenant_admin=MembershipFactory(role=Role.TENANT_ADMIN, partner=None),
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
            rep_acme=MembershipFactory(role=Role.PARTNER_ADMIN, partner=acme),
        )


_counter = {"n": 0}


def _key(prefix: str) -> str:
    _counter["n"] += 1
    return f"test:{prefix}:{_counter['n']}"


def earn(
    partner: PartnerOrganization,
    amount: str,
    day: date,
    *,
    currency: str = "CNY",
    kind: str = Kind.COMMISSION,
    explanation: dict | None = None,
) -> LedgerTransaction:
    value = Decimal(amount)
    tx, _ = post(
        key=_key("earn"),
        kind=kind,
        source_type=SourceType.DEAL,
        source_id=1,
        currency=currency,
        effective_date=day,
        lines=[
            Line(account=Account.COMMISSION_EXPENSE, amount=value),
            Line(account=Account.PARTNER_PAYABLE, amount=-value),
        ],
        partner=partner,
        explanation=explanation or {"base": Decimal("1000.00"), "rate": "20%"},
    )
    return tx


def claw(partner: PartnerOrganization, amount: str, day: date, *, currency="CNY"):
    value = Decimal(amount)
    tx, _ = post(
        key=_key("claw"),
        kind=Kind.CLAWBACK,
        source_type=SourceType.DEAL,
        source_id=1,
        currency=currency,
        effective_date=day,
        lines=[
            Line(account=Account.PARTNER_PAYABLE, amount=value),
            Line(account=Account.COMMISSION_EXPENSE, amount=-value),
        ],
        partner=partner,
        explanation={"reason": "deal reversed"},
    )
    return tx


def adjust(partner: PartnerOrganization, amount: str, day: date, *, currency="CNY"):
    value = Decimal(amount)
    tx, _ = post(
        key=_key("adjust"),
        kind=Kind.ADJUSTMENT,
        source_type=SourceType.ADJUSTMENT,
        source_id=None,
        currency=currency,
        effective_date=day,
        lines=[
            Line(account=Account.ADJUSTMENT_EXPENSE, amount=value),
            Line(account=Account.PARTNER_PAYABLE, amount=-value),
        ],
        partner=partner,
        explanation={"reason": "goodwill"},
    )
    return tx


def rate(base: str, quote: str, value: str, day: date) -> ExchangeRate:
    return ExchangeRate.objects.create(
        base_currency=base, quote_currency=quote, rate=Decimal(value), effective_date=day
    )


def period(bounds: tuple[date, date]) -> PayoutPeriod:
    return PayoutPeriod.objects.create(start=bounds[0], end=bounds[1])
