"""Export fixtures: tenant A's September closed with one statement of every
kind — paid in CNY (Acme, and a partner with a Chinese name), converted to USD
with a USD line too (Yoyo), held, blocked (no payee details) and carried
forward (clawed back below zero) — plus its staff and partner users."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

import pytest

from incentives import payouts
from incentives.models import PayoutPeriod, Statement
from partners.models import PartnerOrganization
from prm.accounts.models import Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.payouts.conftest import (
    AFTER_OCTOBER,
    SEPTEMBER,
    claw,
    earn,
    give_payee,
    period,
    rate,
)

HOST_A = "alpha.localhost"
SEP_15 = date(2026, 9, 15)
CHINESE_NAME = "深圳云桥科技有限公司"


@dataclass
class ExportWorld:
    tenant: object
    period: PayoutPeriod
    acme: PartnerOrganization
    yoyo: PartnerOrganization
    chinese: PartnerOrganization
    held: PartnerOrganization
    bare: PartnerOrganization
    clawed: PartnerOrganization
    finance: Membership
    tenant_admin: Membership
    manager: Membership
    partner_admin: Membership
    partner_rep: Membership

    def statement(self, partner: PartnerOrganization) -> Statement:
        with tenant_context(self.tenant):
            return Statement.objects.select_related("period", "partner").get(
                period=self.period, partner=partner
            )


def close(period_: PayoutPeriod, finance: Membership) -> PayoutPeriod:
    return payouts.close_period(
        period=period_, membership=finance, actor=finance.user, today=AFTER_OCTOBER
    )


@pytest.fixture
def exports_world(tenant_a) -> ExportWorld:
    with tenant_context(tenant_a):
        acme = PartnerFactory(legal_name="Acme Channel Co", default_currency="CNY")
        yoyo = PartnerFactory(legal_name="Yoyo Resellers Inc", default_currency="CNY")
        chinese = PartnerFactory(legal_name=CHINESE_NAME, default_currency="CNY")
        held = PartnerFactory(legal_name="Held Partner Ltd", default_currency="CNY")
        bare = PartnerFactory(legal_name="Bare Partner Ltd", default_currency="CNY")
        clawed = PartnerFactory(legal_name="Clawed Partner Ltd", default_currency="CNY")
        for partner in (acme, chinese, held, clawed):
            give_payee(partner)
        give_payee(yoyo, "USD")
        finance = MembershipFactory(role=Role.FINANCE, partner=None)
        sep = period(SEPTEMBER)
        rate("CNY", "USD", "0.1400000000", date(2026, 9, 1))
        earn(acme, "2400.00", SEP_15)
        earn(acme, "0.55", SEP_15)
        earn(yoyo, "1000.00", SEP_15)  # 140.00 USD
        earn(yoyo, "25.10", SEP_15, currency="USD")
        earn(chinese, "300.00", SEP_15)
        earn(held, "50.00", SEP_15)
        earn(bare, "10.00", SEP_15)
        earn(clawed, "100.00", SEP_15)
        claw(clawed, "150.00", SEP_15)
        payouts.hold(partner=held, reason="Invoice check", membership=finance, actor=finance.user)
        sep = close(sep, finance)
        return ExportWorld(
            tenant=tenant_a,
            period=sep,
            acme=acme,
            yoyo=yoyo,
            chinese=chinese,
            held=held,
            bare=bare,
            clawed=clawed,
            finance=finance,
            tenant_admin=MembershipFactory(role=Role.TENANT_ADMIN, partner=None),
            manager=MembershipFactory(role=Role.CHANNEL_MANAGER, partner=None),
            partner_admin=MembershipFactory(role=Role.PARTNER_ADMIN, partner=acme),
            partner_rep=MembershipFactory(role=Role.PARTNER_REP, partner=acme),
        )


@pytest.fixture
def sign_in(client):
    def sign(membership):
        client.force_login(membership.user)
        client.cookies["django_language"] = "en"
        return client

    return sign


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte order mark
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def results_csv(
    *rows: str,
    header: str = "payment_reference,paid_on,provider_reference,status,amount,currency,message",
) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()
