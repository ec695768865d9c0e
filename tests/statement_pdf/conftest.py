"""Statement PDF fixtures: tenant A (zh-hans, CNY) with a Chinese-named partner
paid in CNY, an English-named one paid in USD (converted lines), a second
tenant's statement, staff and partner users, and periods closed through
``incentives.payouts.close_period`` from real ledger postings."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from deals.models import DealRegistration
from deals.normalize import normalize_company_name
from incentives import payouts
from incentives.models import PayoutPeriod, Statement
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
SEPTEMBER = (date(2026, 9, 1), date(2026, 9, 30))
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
SEP_15 = date(2026, 9, 15)
CLOSE_DAY = date(2026, 11, 5)
CHINESE_NAME = "上海云桥科技有限公司"
CHINESE_CUSTOMER = "北京星河贸易有限公司"
DEAL_REFERENCE = "DR-PDF01"

_keys = itertools.count(1)


def give_payee(partner: PartnerOrganization, currency: str) -> PartnerPayee:
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


def earn(
    partner, amount: str, day: date = SEP_15, *, currency="CNY", explanation=None, source_id=1
):
    value = Decimal(amount)
    tx, _ = post(
        key=f"test:pdf:earn:{next(_keys)}",
        kind=Kind.COMMISSION,
        source_type=SourceType.DEAL,
        source_id=source_id,
        currency=currency,
        effective_date=day,
        lines=[
            Line(account=Account.COMMISSION_EXPENSE, amount=value),
            Line(account=Account.PARTNER_PAYABLE, amount=-value),
        ],
        partner=partner,
        explanation=explanation or {"base": "10000.00", "rate": "20"},
    )
    return tx


def claw(partner, amount: str, day: date = SEP_15, *, currency: str = "CNY") -> LedgerTransaction:
    value = Decimal(amount)
    tx, _ = post(
        key=f"test:pdf:claw:{next(_keys)}",
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


def make_deal(membership: Membership) -> DealRegistration:
    """A closed-won deal of the membership's partner, created directly."""
    return DealRegistration.objects.create(
        reference=DEAL_REFERENCE,
        partner=membership.partner,
        registered_by=membership.user,
        customer_company=CHINESE_CUSTOMER,
        normalized_name=normalize_company_name(CHINESE_CUSTOMER),
        contact_name="Li Wei",
        contact_email="li.wei@customer.example",
        estimated_close_date=SEP_15,
        currency="CNY",
        stage=DealRegistration.Stage.CLOSED_WON,
        approved_at=timezone.now(),
        protected_until=None,
        final_amount=Decimal("12000.00"),
        closed_on=SEP_15,
    )


def close(bounds, finance: Membership) -> PayoutPeriod:
    period, _ = PayoutPeriod.objects.get_or_create(start=bounds[0], defaults={"end": bounds[1]})
    return payouts.close_period(
        period=period, membership=finance, actor=finance.user, today=CLOSE_DAY
    )


@dataclass
class PdfWorld:
    tenant: object
    chinese: PartnerOrganization  # paid in CNY, Chinese legal name
    yoyo: PartnerOrganization  # paid in USD: converted lines
    finance: Membership
    tenant_admin: Membership
    manager: Membership
    rep_chinese: Membership
    rep_yoyo: Membership
    chinese_statement: Statement
    yoyo_statement: Statement
    other_tenant_statement: Statement


@pytest.fixture
def pdf_world(tenant_a, tenant_b) -> PdfWorld:
    with tenant_context(tenant_b):
        far = PartnerFactory(legal_name="Far Away Sdn Bhd", default_currency="MYR")
        give_payee(far, "MYR")
        far_finance = MembershipFactory(role=Role.FINANCE, partner=None)
        earn(far, "300.00", currency="MYR")
        close(SEPTEMBER, far_finance)
        other_tenant_statement = Statement.objects.get(partner=far)
    with tenant_context(tenant_a):
        chinese = PartnerFactory(legal_name=CHINESE_NAME, default_currency="CNY")
        yoyo = PartnerFactory(legal_name="Yoyo Resellers Inc", default_currency="CNY")
        give_payee(chinese, "CNY")
        give_payee(yoyo, "USD")
        finance = MembershipFactory(role=Role.FINANCE, partner=None)
        ExchangeRate.objects.create(
            base_currency="CNY",
            quote_currency="USD",
            rate=Decimal("0.1400000000"),
            effective_date=date(2026, 9, 1),
        )
        rep_chinese = MembershipFactory(role=Role.PARTNER_ADMIN, partner=chinese)
        deal = make_deal(rep_chinese)
        earn(
            chinese,
            "2400.00",
            explanation={"base": "12000.00", "rate": "20", "tier": "Gold"},
            source_id=deal.pk,
        )
        claw(chinese, "400.00")
        earn(yoyo, "1000.00")
        close(SEPTEMBER, finance)
        return PdfWorld(
            tenant=tenant_a,
            chinese=chinese,
            yoyo=yoyo,
            finance=finance,
            tenant_admin=MembershipFactory(role=Role.TENANT_ADMIN, partner=None),
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
            rep_chinese=rep_chinese,
            rep_yoyo=MembershipFactory(role=Role.PARTNER_REP, partner=yoyo),
            chinese_statement=Statement.objects.get(partner=chinese),
            yoyo_statement=Statement.objects.get(partner=yoyo),
            other_tenant_statement=other_tenant_statement,
        )


@pytest.fixture
def sign_in(client):
    def sign(membership, language: str = "en"):
        client.force_login(membership.user)
        client.cookies["django_language"] = language
        return client

    return sign
