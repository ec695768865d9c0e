"""The deal page shows an open deal's estimated earnings, computed by the
commission engine from the estimated amount, labelled as an estimate."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deals import services
from deals.models import DealRegistration
from incentives.services import ensure_default_plan
from prm.tenancy.context import tenant_context
from tests.deals.test_portal_views import english, register, reload, today, world  # noqa: F401
from tests.portal.fixtures import HOST_A

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(world):  # noqa: F811
    with tenant_context(world.tenant_a):
        return ensure_default_plan(effective_from=today().replace(day=1))


def page(client, membership, deal):
    client.force_login(membership.user)
    return client.get(f"/deals/{deal.reference}/", HTTP_HOST=HOST_A)


def test_an_open_deal_shows_its_estimate_from_the_tier_rule(english, world, plan):  # noqa: F811
    deal = register(world.tenant_a, world.rep_x, estimated_amount=Decimal("10000.00"))
    html = page(english, world.rep_x, deal).content.decode()
    # Gold is 25.50 % in this tenant: 10,000.00 × 25.5 % = 2,550.00 CNY.
    assert 'id="estimate"' in html
    assert "Estimated earnings" in html
    assert "2,550.00 CNY" in html
    assert "25.5% of the deal amount" in html or "25.5% of the first-year contract value" in html


def test_without_an_amount_there_is_no_estimate(english, world, plan):  # noqa: F811
    no_amount = register(world.tenant_a, world.rep_x, company="Blank Amount Ltd")
    html = page(english, world.rep_x, no_amount).content.decode()
    assert 'id="estimate"' in html and "No estimate yet" in html


def test_a_closed_deal_shows_no_estimate(english, world, plan):  # noqa: F811
    deal = register(world.tenant_a, world.rep_x, estimated_amount=Decimal("10000.00"))
    with tenant_context(world.tenant_a):
        services.close_lost(
            deal=reload(world.tenant_a, deal),
            membership=world.rep_x,
            actor=world.rep_x.user,
            reason="Budget cut.",
        )
    assert reload(world.tenant_a, deal).stage == DealRegistration.Stage.CLOSED_LOST
    assert 'id="estimate"' not in page(english, world.rep_x, deal).content.decode()


def test_the_estimate_costs_the_same_queries_however_many_lines(english, world, plan):  # noqa: F811
    small = register(
        world.tenant_a, world.rep_x, company="Small Ltd", estimated_amount=Decimal("1")
    )
    big = register(world.tenant_a, world.rep_x, company="Big Ltd", estimated_amount=Decimal("9"))
    english.force_login(world.rep_x.user)
    counts = []
    for deal in (small, big):
        with CaptureQueriesContext(connection) as queries:
            assert english.get(f"/deals/{deal.reference}/", HTTP_HOST=HOST_A).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
