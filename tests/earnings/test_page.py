"""The portal earnings page and its home panel: what a partner user sees, what
nobody else sees, the chart against its table, and constant query counts."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incentives import views
from prm.accounts.roles import Role
from prm.ledger.models import Kind
from tests.earnings.conftest import months_ago

pytestmark = pytest.mark.django_db

URL = "/earnings/"


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    return client


def page_of(client, world, who=Role.PARTNER_REP, query: str = "") -> str:
    client.force_login(world.member(who).user)
    response = client.get(URL + query, HTTP_HOST=world.host)
    assert response.status_code == 200
    return response.content.decode()


def attr(html: str, name: str) -> list[str]:
    return re.findall(rf'{name}="([^"]*)"', html)


def test_the_url_is_mounted_under_earnings():
    assert reverse("earnings:index") == URL


def test_totals_show_the_hand_computed_amounts(english, alpha, money):
    html = page_of(english, alpha)
    assert attr(html, "data-earned") == ["3111.11"]
    assert attr(html, "data-clawed-back") == ["-1111.11"]
    assert attr(html, "data-adjustments") == ["50.00"]
    assert attr(html, "data-paid") == ["1000.00"]
    assert attr(html, "data-balance") == ["1050.00"]
    assert "3,111.11" in html and "1,050.00" in html


def test_each_line_is_explained_and_links_to_its_deal(english, alpha, money):
    html = page_of(english, alpha)
    first = money["first"]
    assert f'href="{reverse("deals:detail", args=[first.reference])}"' in html
    assert "Resale commission" in html
    assert "First-year contract value: 10,000.00 CNY" in html
    assert "10000.00 × 20% = 2000.00" in html
    assert "Earning no." in html  # the clawback says what it takes back
    assert "Training completed" in html  # the adjustment's reason
    assert sorted(attr(html, "data-amount")[-5:]) == sorted(
        ["-1111.11", "1111.11", "2000.00", "50.00", "-1000.00"]
    )


def test_a_partner_never_sees_another_partners_earnings(english, alpha, money):
    html = page_of(english, alpha)
    other = money["other"]
    assert other.reference not in html
    assert "Gamma Secret Ltd" not in html
    assert "1600.00" not in html and "1,600.00" not in html
    # Asking for the other partner's deal filters nothing and says so.
    filtered = page_of(english, alpha, query=f"?deal={other.reference}")
    assert "None of your deals has this reference." in filtered
    assert other.reference in filtered  # only echoed back in the filter field
    assert "Gamma Secret Ltd" not in filtered and "1,600.00" not in filtered
    # And the other partner sees its own money only.
    theirs = page_of(english, alpha, who="other_partner_admin")
    assert attr(theirs, "data-balance") == ["1600.00"]
    assert "Acme Trading" not in theirs and "Training completed" not in theirs


def test_another_tenants_earnings_never_show(english, alpha, bravo, money):
    theirs = bravo.close_deal("7777.00", company="Bravo Only Bhd")
    bravo.run_job()
    html = page_of(english, alpha, query=f"?deal={theirs.reference}")
    assert "Bravo Only Bhd" not in html and "1,555.40" not in html
    assert "None of your deals has this reference." in html
    # A tenant's user has no access on another tenant's host.
    english.force_login(bravo.member(Role.PARTNER_REP).user)
    assert english.get(URL, HTTP_HOST=alpha.host).status_code in (302, 403, 404)
    assert attr(page_of(english, bravo), "data-balance") == ["1555.40"]


@pytest.mark.parametrize("role", [Role.TENANT_ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE])
def test_staff_are_forbidden(client, alpha, role):
    client.force_login(alpha.member(role).user)
    assert client.get(URL, HTTP_HOST=alpha.host).status_code == 403


def test_anonymous_people_are_sent_to_sign_in(client, alpha):
    response = client.get(URL, HTTP_HOST=alpha.host)
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_partner_admins_see_the_page_too(english, alpha, money):
    assert attr(page_of(english, alpha, who=Role.PARTNER_ADMIN), "data-balance") == ["1050.00"]


def test_the_chart_draws_the_numbers_of_its_table(english, alpha, money):
    html = page_of(english, alpha)
    chart = html[html.index("<svg") : html.index("</svg>")]
    table = html[html.index("</svg>") : html.index("</figure>")]
    bars = dict(re.findall(r'<rect[^>]*data-month="([^"]+)" data-amount="([^"]+)"', chart))
    rows = dict(re.findall(r'<td[^>]*data-month="([^"]+)" data-amount="([^"]+)"', table))
    assert len(bars) == 12
    assert bars == rows
    today = timezone.localdate()
    assert bars[today.strftime("%Y-%m")] == "50.00"
    assert bars[months_ago(2).strftime("%Y-%m")] == "2000.00"
    assert attr(table, "data-total") == ["2050.00"]
    assert sum(Decimal(value) for value in rows.values()) == Decimal("2050.00")
    # The tallest bar is the 2,000.00 month, the full height of the chart.
    heights = dict(re.findall(r'height="([^"]+)" data-month="([^"]+)"', chart))
    tallest = max(heights, key=lambda value: Decimal(value))
    assert heights[tallest] == months_ago(2).strftime("%Y-%m")


def test_a_negative_month_hangs_below_the_zero_line(english, alpha):
    deal = alpha.close_deal("1000.00", closed_on=months_ago(3))
    alpha.run_job()
    alpha.adjust(alpha.partner, "-300.00", "Duplicate payment recovered")
    html = page_of(english, alpha)
    chart = html[html.index("<svg") : html.index("</svg>")]
    assert 'style="fill: var(--error)"' in chart
    assert f'data-month="{timezone.localdate():%Y-%m}" data-amount="-300.00"' in chart
    assert deal.reference in html


def test_filters_by_month_and_kind(english, alpha, money):
    month = months_ago(2).strftime("%Y-%m")
    html = page_of(english, alpha, query=f"?month={month}")
    lines = html[html.index('id="lines"') :]
    assert attr(lines, "data-line") and len(attr(lines, "data-line")) == 1
    assert money["first"].reference in lines
    html = page_of(english, alpha, query=f"?kind={Kind.PAYMENT}")
    lines = html[html.index('id="lines"') :]
    assert attr(lines, "data-amount") == ["-1000.00"]
    bad = page_of(english, alpha, query="?month=2026-13")
    assert "Enter a month as year and month" in bad
    assert len(attr(bad[bad.index('id="lines"') :], "data-line")) == 5


def test_lines_and_deals_are_paginated(english, alpha, money, monkeypatch):
    monkeypatch.setattr(views, "LINES_PER_PAGE", 2)
    monkeypatch.setattr(views, "DEALS_PER_PAGE", 1)
    html = page_of(english, alpha, query="?kind=&page=3")
    lines = html[html.index('id="lines"') :]
    assert len(attr(lines, "data-line")) == 1
    assert "Page 3 of 3" in lines
    assert "kind=&amp;page=2#lines" in lines
    deals = html[html.index('id="per-deal"') : html.index('id="lines"')]
    assert "Page 1 of 2" in deals and "deals_page=2#per-deal" in deals


def test_every_table_cell_is_labelled_for_small_screens(english, alpha, money):
    html = page_of(english, alpha)
    cells = re.findall(r"<td[^>]*>", html)
    assert cells
    assert all("data-label=" in cell for cell in cells)
    assert html.count('class="table-wrap"') == html.count("<table")


def test_empty_state_explains_when_earnings_appear(english, alpha):
    html = page_of(english, alpha)
    assert "once one of your deals is won and the nightly commission job has run" in html
    assert "data-balance" not in html


def test_query_count_stays_constant_as_transactions_grow(
    english, alpha, money, django_assert_max_num_queries
):
    english.force_login(alpha.member(Role.PARTNER_REP).user)
    with CaptureQueriesContext(connection) as few:
        assert english.get(URL, HTTP_HOST=alpha.host).status_code == 200
    for index in range(6):
        alpha.close_deal(f"{1000 + index}.00", closed_on=months_ago(index % 4))
    alpha.run_job()
    alpha.adjust(alpha.partner, "10.00", "More")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = english.get(URL, HTTP_HOST=alpha.host)
    assert len(attr(response.content.decode(), "data-line")) == 12


def test_home_panel_shows_balance_and_this_months_earnings(english, alpha, money):
    english.force_login(alpha.member(Role.PARTNER_REP).user)
    html = english.get("/", HTTP_HOST=alpha.host).content.decode()
    panel = html[html.index('id="earnings-panel"') :]
    assert attr(panel, "data-balance")[0] == "1050.00"
    assert attr(panel, "data-month-net")[0] == "50.00"
    assert f'href="{URL}"' in panel


def test_home_panel_is_for_partner_users_only(english, alpha, money):
    english.force_login(alpha.member(Role.FINANCE).user)
    html = english.get("/", HTTP_HOST=alpha.host).content.decode()
    assert 'id="earnings-panel"' not in html
