"""The replay pages in the console: who may open them, the "no differences"
state, the differences with totals and pagination, the correction form
(mandatory reason, posts once), tenant isolation and constant query counts."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deals.models import DealRegistration
from incentives import payouts
from incentives.admin import replay as replay_admin
from incentives.models import PayoutPeriod
from prm.ledger.models import LedgerTransaction
from prm.tenancy.context import tenant_context
from tests.replay.conftest import HOST_A, D, make_world

pytestmark = pytest.mark.django_db


def replay_url(period) -> str:
    return reverse("admin:incentives_period_replay", args=[period.pk])


def correct_url(period) -> str:
    return reverse("admin:incentives_period_replay_correct", args=[period.pk])


def corrections(world) -> int:
    with tenant_context(world.tenant):
        return LedgerTransaction.objects.filter(idempotency_key__startswith="correction:").count()


@pytest.fixture
def sign_in(client):
    def sign(membership):
        client.force_login(membership.user)
        client.cookies["django_language"] = "en"  # tenant A speaks Chinese
        return client

    return sign


def tamper(world, index: int = 0, amount: str = "24000.00") -> None:
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=world.deals[index].pk).update(final_amount=D(amount))


def test_the_urls_live_under_the_console(closed):
    assert replay_url(closed) == f"/console/incentives/payouts/replay/{closed.pk}/"
    assert correct_url(closed) == f"/console/incentives/payouts/replay/{closed.pk}/correct/"


@pytest.mark.parametrize(
    ("member", "replay", "correct"),
    [
        ("finance", 200, 200),
        ("admin", 200, 403),
        ("manager", 403, 403),
        ("huatong_rep", 403, 403),
    ],
)
def test_who_may_open_the_replay_and_the_correction_form(
    world, closed, sign_in, member, replay, correct
):
    membership = world.reps[world.huatong.pk] if member == "huatong_rep" else getattr(world, member)
    client = sign_in(membership)
    assert client.get(replay_url(closed), HTTP_HOST=HOST_A).status_code == replay
    assert client.get(correct_url(closed), HTTP_HOST=HOST_A).status_code == correct


def test_only_finance_can_post_corrections(world, closed, sign_in):
    tamper(world)
    for membership in (world.admin, world.manager, world.reps[world.huatong.pk]):
        response = sign_in(membership).post(
            correct_url(closed), {"reason": "Try"}, HTTP_HOST=HOST_A
        )
        assert response.status_code == 403
    assert corrections(world) == 0


def test_anonymous_visitors_are_sent_to_sign_in(client, closed):
    assert client.get(replay_url(closed), HTTP_HOST=HOST_A).status_code == 302
    assert client.post(correct_url(closed), {"reason": "x"}, HTTP_HOST=HOST_A).status_code == 302


def test_another_tenants_period_is_not_found(world, closed, sign_in, tenant_b):
    other = make_world(tenant_b)
    other.close(other.huatong, "5000.00")
    other.run_job()
    foreign = other.close_september()
    client = sign_in(world.finance)
    for url in (replay_url(foreign), correct_url(foreign)):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 404
    assert client.post(correct_url(foreign), {"reason": "x"}, HTTP_HOST=HOST_A).status_code == 404
    missing = "/console/incentives/payouts/replay/999999/"
    assert client.get(missing, HTTP_HOST=HOST_A).status_code == 404


def test_a_clean_period_says_there_are_no_differences(world, closed, sign_in):
    response = sign_in(world.finance).get(replay_url(closed), HTTP_HOST=HOST_A)
    html = response.content.decode()
    assert 'id="no-differences"' in html
    assert 'id="replay-totals"' in html and "8,100.00" in html
    assert "Post corrections" not in html
    assert "Nothing is posted by this page." in html


def test_differences_are_listed_with_totals_and_finance_gets_the_correction_link(
    world, closed, sign_in
):
    tamper(world)
    html = sign_in(world.finance).get(replay_url(closed), HTTP_HOST=HOST_A).content.decode()
    assert 'id="no-differences"' not in html
    assert html.count('class="replay-row"') == 1
    assert 'data-status="different"' in html
    assert "Huatong Partners" in html
    assert "6,000.00" in html and "5,000.00" in html and "1,000.00" in html
    assert correct_url(closed) in html
    # A tenant admin reads the same page without the link.
    html = sign_in(world.admin).get(replay_url(closed), HTTP_HOST=HOST_A).content.decode()
    assert html.count('class="replay-row"') == 1
    assert correct_url(closed) not in html


def test_long_lists_are_paginated(world, closed, sign_in, monkeypatch):
    monkeypatch.setattr(replay_admin, "PER_PAGE", 1)
    tamper(world, 0)
    tamper(world, 1, "12000.00")
    client = sign_in(world.finance)
    first = client.get(replay_url(closed), HTTP_HOST=HOST_A).content.decode()
    second = client.get(f"{replay_url(closed)}?p=2", HTTP_HOST=HOST_A).content.decode()
    assert first.count('class="replay-row"') == second.count('class="replay-row"') == 1
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert ("Huatong Partners" in first) != ("Huatong Partners" in second)


def test_an_open_period_shows_why_it_cannot_be_replayed(world, closed, sign_in):
    with tenant_context(world.tenant):
        october = PayoutPeriod.objects.get(status="open")
    response = sign_in(world.finance).get(replay_url(october), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert "Only a closed period can be replayed" in response.content.decode()


def test_the_correction_form_needs_a_reason_then_posts_once(world, closed, sign_in):
    tamper(world)
    client = sign_in(world.finance)
    confirm = client.get(correct_url(closed), HTTP_HOST=HOST_A).content.decode()
    assert "1 correction will be posted" in confirm and "1,000.00" in confirm
    response = client.post(correct_url(closed), {"reason": ""}, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert corrections(world) == 0

    response = client.post(
        correct_url(closed), {"reason": "Deal amount fixed"}, HTTP_HOST=HOST_A, follow=True
    )
    assert response.redirect_chain[-1][0] == replay_url(closed)
    html = response.content.decode()
    assert "1 correction was posted in the open period." in html
    assert 'id="no-differences"' in html
    assert corrections(world) == 1

    again = client.post(
        correct_url(closed), {"reason": "Again"}, HTTP_HOST=HOST_A, follow=True
    ).content.decode()
    assert "There was nothing to correct." in again
    assert corrections(world) == 1


def _page_queries(client, period) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(replay_url(period), HTTP_HOST=HOST_A).status_code == 200
    return len(queries.captured_queries)


def test_the_replay_page_costs_the_same_queries_as_deals_grow(world, sign_in):
    world.close(world.huatong, "20000.00")
    world.close(world.lianhe, "10000.00")
    world.revenue(world.huatong, "4000.00")
    world.run_job()
    september = world.close_september()
    tamper(world, 0)
    client = sign_in(world.finance)
    _page_queries(client, september)  # warm the session and caches
    few = _page_queries(client, september)
    for n in range(10):
        world.close(world.huatong, "20000.00", closed_on=date(2026, 10, 12))
        world.close(world.lianhe, "10000.00", closed_on=date(2026, 10, 13))
        world.revenue(world.lianhe, "1000.00", on=date(2026, 10, 14 + n % 3))
    world.run_job()
    with tenant_context(world.tenant):
        october = payouts.close_period(
            period=PayoutPeriod.objects.get(start=date(2026, 10, 1)),
            membership=world.finance,
            actor=world.finance.user,
            today=date(2026, 11, 5),
        )
    for index in (3, 4, 7):
        tamper(world, index, "30000.00")
    many = _page_queries(client, october)
    assert many == few
