"""Payout console pages: who sees and acts, cross-tenant 404s, constant query counts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incentives import payouts
from incentives.models import Hold, PayoutPeriod, Statement
from prm.ledger.models import LedgerTransaction
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory
from tests.payouts.conftest import (
    AFTER_OCTOBER,
    HOST_A,
    SEPTEMBER,
    earn,
    give_payee,
    period,
    rate,
)

pytestmark = pytest.mark.django_db

PERIODS = reverse("admin:incentives_payoutperiod_changelist")
STATEMENTS = reverse("admin:incentives_statement_changelist")
HOLDS = reverse("admin:incentives_hold_changelist")
HOLD = reverse("admin:incentives_hold_hold")
SEP_15 = date(2026, 9, 15)


def url(name: str, pk: int) -> str:
    return reverse(f"admin:incentives_{name}", args=[pk])


@pytest.fixture
def sign_in(client):
    def sign(membership):
        client.force_login(membership.user)
        client.cookies["django_language"] = "en"
        return client

    return sign


@pytest.fixture
def closed(world):
    """September closed with a converted line for Yoyo (USD) and a CNY line for Acme."""
    with tenant_context(world.tenant):
        sep = period(SEPTEMBER)
        rate("CNY", "USD", "0.1400000000", date(2026, 9, 1))
        earn(world.acme, "2400.00", SEP_15, explanation={"base": "12000.00", "tier": "Gold"})
        earn(world.yoyo, "1000.00", SEP_15)
        payouts.close_period(
            period=sep, membership=world.finance, actor=world.finance.user, today=AFTER_OCTOBER
        )
        return sep


@pytest.mark.parametrize(
    ("member", "status"),
    [("finance", 200), ("tenant_admin", 200), ("manager", 403), ("rep_acme", 403)],
)
def test_who_may_read_the_payout_pages(world, sign_in, closed, member, status):
    client = sign_in(getattr(world, member))
    with tenant_context(world.tenant):
        statement = Statement.objects.get(partner=world.acme)
        following = PayoutPeriod.objects.get(status="open")
        held = payouts.hold(
            partner=world.yoyo, reason="Audit", membership=world.finance, actor=world.finance.user
        )
    for page in (
        PERIODS,
        STATEMENTS,
        HOLDS,
        url("hold_change", held.pk),
        url("payoutperiod_change", closed.pk),
        url("payoutperiod_change", following.pk),
        url("statement_change", statement.pk),
    ):
        assert client.get(page, HTTP_HOST=HOST_A).status_code == status, page


@pytest.mark.parametrize("member", ["tenant_admin", "manager", "rep_acme"])
def test_only_finance_reaches_the_action_forms(world, sign_in, closed, member):
    client = sign_in(getattr(world, member))
    with tenant_context(world.tenant):
        statement = Statement.objects.get(partner=world.acme)
        following = PayoutPeriod.objects.get(status="open")
    for page in (
        url("payoutperiod_close", following.pk),
        url("statement_mark_paid", statement.pk),
        HOLD,
        reverse("admin:incentives_payoutperiod_minimum"),
        reverse("admin:incentives_payoutperiod_open"),
    ):
        assert client.get(page, HTTP_HOST=HOST_A).status_code == 403, page
        assert client.post(page, {}, HTTP_HOST=HOST_A).status_code == 403, page
    with tenant_context(world.tenant):
        assert Statement.objects.get(pk=statement.pk).status == Statement.Status.CLOSED


def test_another_tenants_payout_objects_are_404(world, sign_in, closed, tenant_b):
    with tenant_context(tenant_b):
        other = PartnerFactory(default_currency="MYR")
        give_payee(other, "MYR")
        sep_b = PayoutPeriod.objects.create(start=SEPTEMBER[0], end=SEPTEMBER[1])
        earn(other, "10.00", SEP_15, currency="MYR")
        finance_b = MembershipFactory(role="finance", partner=None)
        payouts.close_period(
            period=sep_b, membership=finance_b, actor=finance_b.user, today=AFTER_OCTOBER
        )
        statement_b = Statement.objects.get()
        hold_b = payouts.hold(partner=other, reason="x", membership=finance_b, actor=finance_b.user)
    client = sign_in(world.finance)
    for page in (
        url("payoutperiod_change", sep_b.pk),
        url("payoutperiod_close", sep_b.pk),
        url("statement_change", statement_b.pk),
        url("statement_mark_paid", statement_b.pk),
        url("hold_release", hold_b.pk),
    ):
        assert client.get(page, HTTP_HOST=HOST_A).status_code == 404, page


def test_the_statement_page_shows_lines_with_rate_and_rate_date(world, sign_in, closed):
    with tenant_context(world.tenant):
        statement = Statement.objects.get(partner=world.yoyo)
    html = sign_in(world.finance).get(url("statement_change", statement.pk), HTTP_HOST=HOST_A)
    html = html.content.decode()
    assert html.count('class="statement-line"') == 1
    assert "1,000.00 CNY" in html
    assert "0.14" in html
    assert "<td>09/01/2026</td>" in html  # the rate's date, not the event's (09/15)
    assert "140.00" in html
    assert "Mark paid" in html


def test_the_open_period_page_previews_the_close(world, sign_in, closed):
    with tenant_context(world.tenant):
        following = PayoutPeriod.objects.get(status="open")
        earn(world.acme, "75.50", date(2026, 10, 3))
        earn(world.bare, "10.00", date(2026, 10, 3))
    html = sign_in(world.finance).get(url("payoutperiod_change", following.pk), HTTP_HOST=HOST_A)
    html = html.content.decode()
    assert "Preview" in html
    assert html.count('class="payout-row"') == 2
    assert "75.50" in html
    assert "No payee or tax details are on file." in html
    assert "Close period" in html
    with tenant_context(world.tenant):
        assert not Statement.objects.filter(period=following).exists()


def test_a_missing_rate_shows_on_the_preview_instead_of_failing(world, sign_in, closed):
    with tenant_context(world.tenant):
        following = PayoutPeriod.objects.get(status="open")
        earn(world.yoyo, "10.00", date(2026, 10, 3), currency="SGD")
    response = sign_in(world.finance).get(
        url("payoutperiod_change", following.pk), HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    assert "No exchange rate from SGD to USD" in response.content.decode()


def test_finance_closes_marks_paid_holds_and_releases_from_the_console(world, sign_in, closed):
    client = sign_in(world.finance)
    with tenant_context(world.tenant):
        statement = Statement.objects.get(partner=world.acme)
        following = PayoutPeriod.objects.get(status="open")
        earning = earn(world.acme, "5.00", date(2026, 10, 2))
    response = client.post(
        url("statement_mark_paid", statement.pk),
        {"reference": "WIRE-77", "paid_on": "2026-10-05"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    response = client.post(
        HOLD,
        {"partner": world.acme.pk, "transaction": earning.pk, "reason": "Check the invoice"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    with tenant_context(world.tenant):
        held = Hold.objects.get()
    assert client.post(url("hold_release", held.pk), {}, HTTP_HOST=HOST_A).status_code == 302
    response = client.post(
        reverse("admin:incentives_payoutperiod_minimum"),
        {"minimum_payout": "50.00"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    # Closing October before it ends is refused with a message, not a 500.
    response = client.post(url("payoutperiod_close", following.pk), {}, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(world.tenant):
        statement.refresh_from_db()
        assert statement.status == Statement.Status.PAID
        assert statement.payment_reference == "WIRE-77"
        assert LedgerTransaction.objects.filter(kind="payment").count() == 1
        held.refresh_from_db()
        assert held.released_at is not None
        assert payouts.payout_settings().minimum_payout == Decimal("50.00")


def _grow(world, day: date, partners: int, lines: int) -> None:
    for _ in range(partners):
        partner = PartnerFactory(default_currency="CNY")
        give_payee(partner, "USD")
        for _ in range(lines):
            earn(partner, "10.00", day)


def _count(client, page) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(page, HTTP_HOST=HOST_A).status_code == 200
    return len(captured)


def test_the_preview_page_costs_the_same_queries_as_partners_grow(world, sign_in, closed):
    client = sign_in(world.finance)
    with tenant_context(world.tenant):
        following = PayoutPeriod.objects.get(status="open")
        _grow(world, date(2026, 10, 3), 1, 1)
    page = url("payoutperiod_change", following.pk)
    small = _count(client, page)
    with tenant_context(world.tenant):
        _grow(world, date(2026, 10, 4), 8, 4)
    assert _count(client, page) == small


def test_the_statement_and_list_pages_cost_the_same_queries_as_lines_grow(world, sign_in):
    client = sign_in(world.finance)
    with tenant_context(world.tenant):
        rate("CNY", "USD", "0.1400000000", date(2026, 9, 1))
        sep = period(SEPTEMBER)
        one = PartnerFactory(default_currency="CNY")
        many = PartnerFactory(default_currency="CNY")
        give_payee(one, "USD")
        give_payee(many, "USD")
        earn(one, "10.00", SEP_15)
        for _ in range(15):
            earn(many, "10.00", SEP_15)
        _grow(world, SEP_15, 6, 2)
        payouts.close_period(
            period=sep, membership=world.finance, actor=world.finance.user, today=AFTER_OCTOBER
        )
        small = Statement.objects.get(partner=one)
        large = Statement.objects.get(partner=many)
    assert _count(client, url("statement_change", small.pk)) == _count(
        client, url("statement_change", large.pk)
    )
    first = _count(client, STATEMENTS)
    with tenant_context(world.tenant):
        _grow(world, date(2026, 10, 2), 5, 1)
        october = PayoutPeriod.objects.get(start=date(2026, 10, 1))
        payouts.close_period(
            period=october,
            membership=world.finance,
            actor=world.finance.user,
            today=AFTER_OCTOBER,
        )
    assert _count(client, STATEMENTS) == first
