"""The earnings page's payout part: pending, approved and paid; the statements
list with its PDFs; lines per payout period; the payee notice; the "From"
column's translation context; scope and constant queries."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.template.loader import get_template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incentives import views
from incentives.payouts.services import set_minimum_payout
from partners.models import PartnerPayee
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.api_incentives.story import close_more, tell_story

pytestmark = pytest.mark.django_db

URL = "/earnings/"


@pytest.fixture
def story(alpha):
    return tell_story(alpha.base)


@pytest.fixture
def bravo_story(bravo):
    return tell_story(bravo.base)


def page_of(client, world, who=Role.PARTNER_REP, query: str = "", language: str = "en") -> str:
    client.cookies["django_language"] = language
    client.force_login(world.members[who].user)
    response = client.get(URL + query, HTTP_HOST=world.host)
    assert response.status_code == 200
    return response.content.decode()


def attr(html: str, name: str) -> list[str]:
    return re.findall(rf'{name}="([^"]*)"', html)


def section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_pending_approved_and_paid_per_currency(client, story):
    html = section(page_of(client, story.world), "payout-status")
    assert attr(html, "data-status-currency") == ["CNY", "USD"]
    assert attr(html, "data-pending") == ["300.00", "20.00"]
    assert attr(html, "data-approved") == ["1560.00", "0.00"]
    assert attr(html, "data-paid-out") == ["1300.00", "0.00"]
    assert "1,560.00" in html


def test_the_other_partner_has_its_own_payout_status(client, story):
    html = section(page_of(client, story.world, who="other_partner_admin"), "payout-status")
    assert attr(html, "data-pending") == ["0.00"]
    assert attr(html, "data-approved") == ["1000.00"]
    assert attr(html, "data-paid-out") == ["0.00"]


def test_a_carried_balance_stays_approved_until_paid(client, story):
    """Close November too: the partner's November statement (320.00 CNY incl. the
    USD line converted, 10.00 more from ``close_more``) joins the October one."""
    close_more(story, 1)
    html = section(page_of(client, story.world), "payout-status")
    # 1,560.00 (October) + 300.00 + 20.00 USD at 7.1 (142.00) + 10.00 (November).
    assert attr(html, "data-approved") == ["2012.00", "0.00"]
    assert attr(html, "data-pending") == ["0.00", "0.00"]


def test_only_the_latest_carried_balance_counts_as_approved(client, story):
    """With a 500.00 minimum payout November's 452.00 is carried forward, then
    December's 462.00 (452.00 carried in + 10.00): approved counts the latest
    carry once, never the earlier one it already contains."""
    finance = story.finance
    with tenant_context(story.world.tenant):
        set_minimum_payout(membership=finance, actor=finance.user, minimum_payout=Decimal("500.00"))
    close_more(story, 1)
    html = page_of(client, story.world)
    # 1,560.00 (October, unpaid) + 300.00 + 142.00 (20.00 USD at 7.1) + 10.00 carried.
    assert attr(section(html, "payout-status"), "data-approved") == ["2012.00", "0.00"]
    assert attr(section(html, "statements"), "data-carried")[0] == "452.00"
    close_more(story, 1)
    html = page_of(client, story.world)
    assert attr(section(html, "payout-status"), "data-approved") == ["2022.00", "0.00"]
    statements = section(html, "statements")
    assert attr(statements, "data-carried")[:2] == ["462.00", "452.00"]
    assert attr(statements, "data-payable")[:2] == ["0.00", "0.00"]


def test_statements_list_shows_only_the_partners_own(client, story):
    html = section(page_of(client, story.world), "statements")
    assert attr(html, "data-statement") == [str(story.unpaid.pk), str(story.paid.pk)]
    assert attr(html, "data-status") == ["closed", "paid"]
    assert attr(html, "data-payable") == ["1560.00", "1300.00"]
    assert attr(html, "data-carried") == ["0.00", "0.00"]
    assert "PAY-SEPT-1" in html
    assert "Paid on 10/10/2026" in html
    for statement in (story.unpaid, story.paid):
        assert f'href="{reverse("earnings:statement_pdf", args=[statement.pk])}"' in html
    assert f'href="{reverse("earnings:statement_pdf", args=[story.theirs.pk])}"' not in html
    theirs = section(page_of(client, story.world, who="other_partner_admin"), "statements")
    assert str(story.theirs.pk) in attr(theirs, "data-statement")
    assert "PAY-SEPT-1" not in theirs


def test_statement_pdfs_of_another_partner_or_tenant_are_not_found(client, story, bravo_story):
    client.force_login(story.world.members[Role.PARTNER_REP].user)
    own = client.get(
        reverse("earnings:statement_pdf", args=[story.paid.pk]), HTTP_HOST="alpha.localhost"
    )
    assert own.status_code == 200 and own.content.startswith(b"%PDF")
    for statement in (story.theirs, bravo_story.unpaid):
        url = reverse("earnings:statement_pdf", args=[statement.pk])
        assert client.get(url, HTTP_HOST="alpha.localhost").status_code == 404
    html = page_of(client, story.world)
    assert str(bravo_story.unpaid.pk) not in attr(html, "data-statement")


def test_statements_are_paginated(client, story, monkeypatch):
    monkeypatch.setattr(views, "STATEMENTS_PER_PAGE", 1)
    first = section(page_of(client, story.world, query="?kind="), "statements")
    assert attr(first, "data-statement") == [str(story.unpaid.pk)]
    assert "Page 1 of 2" in first and "kind=&amp;statements_page=2#statements" in first
    second = section(page_of(client, story.world, query="?statements_page=2"), "statements")
    assert attr(second, "data-statement") == [str(story.paid.pk)]


def test_no_statements_yet_says_when_they_come(client, alpha):
    alpha.close_deal("1000.00")
    alpha.run_job()
    html = page_of(client, alpha)
    statements = section(html, "statements")
    assert "No statements yet." in statements
    assert attr(statements, "data-statement") == []
    assert attr(section(html, "payout-status"), "data-pending") == ["200.00"]


def test_lines_of_a_closed_period_include_its_payment(client, story):
    html = page_of(client, story.world, query=f"?period={story.september.pk}")
    lines = section(html, "lines")
    assert sorted(attr(lines, "data-amount")) == sorted(
        ["1000.00", "500.00", "-200.00", "-1300.00"]
    )
    assert attr(lines, "data-period") == [str(story.september.pk)]
    october = section(page_of(client, story.world, query=f"?period={story.october.pk}"), "lines")
    assert sorted(attr(october, "data-amount")) == ["100.00", "50.00", "800.00"]


def test_lines_of_the_open_period_are_those_its_close_would_take(client, story):
    lines = section(page_of(client, story.world, query=f"?period={story.november.pk}"), "lines")
    assert sorted(attr(lines, "data-amount")) == ["20.00", "300.00"]
    assert "still open" in lines


def test_the_period_filter_lists_the_periods_and_ignores_unknown_ones(client, story):
    html = page_of(client, story.world)
    assert f'<option value="{story.september.pk}">' in html
    unknown = page_of(client, story.world, query="?period=999999")
    assert "Select a valid choice" in unknown
    # Sept: 3 lines and the payment; October: 3 and the two currency conversions
    # of its USD line (the statement is in CNY); November: 2.
    assert len(attr(section(unknown, "lines"), "data-line")) == 11


def test_partner_admins_are_told_when_payee_details_block_payouts(client, story):
    world = story.world
    with tenant_context(world.tenant):
        PartnerPayee.objects.filter(partner=world.partner).update(bank_name="", tax_country="")
    html = page_of(client, world, who=Role.PARTNER_ADMIN)
    notice = html[
        html.index('id="payout-blocked"') : html.index("</div>", html.index('id="payout-blocked"'))
    ]
    assert "The bank&#x27;s name is missing." in notice or "The bank's name is missing." in notice
    assert "The tax country is missing." in notice
    assert f'href="{reverse("payee:details")}"' in notice
    # Reps cannot change payee details: no notice for them.
    assert 'id="payout-blocked"' not in page_of(client, world, who=Role.PARTNER_REP)


def test_no_payee_notice_when_details_are_complete(client, story):
    assert 'id="payout-blocked"' not in page_of(client, story.world, who=Role.PARTNER_ADMIN)


def test_the_from_column_has_its_own_translation_context(client, story):
    html = page_of(client, story.world, language="zh-hans")
    lines = section(html, "lines")
    # The context-free "From" means a start date in Chinese; not in this column.
    assert "开始日期" not in lines
    template = get_template("incentives/earnings.html").template.source
    assert '{% translate "From" %}' not in template
    assert template.count('context "source of an earning: a deal or customer"') == 1


def test_every_new_table_cell_is_labelled_for_small_screens(client, story):
    html = page_of(client, story.world)
    for anchor in ("payout-status", "statements"):
        part = section(html, anchor)
        cells = re.findall(r"<td[^>]*>", part)
        assert cells and all("data-label=" in cell for cell in cells)
        assert part.count('class="table-wrap"') == part.count("<table")
        assert "table--stack" in part


@pytest.mark.parametrize("who", [Role.PARTNER_ADMIN, Role.PARTNER_REP])
def test_query_count_stays_constant_as_statements_grow(
    client, story, who, django_assert_max_num_queries
):
    page_of(client, story.world, who=who)
    with CaptureQueriesContext(connection) as few:
        page_of(client, story.world, who=who)
    close_more(story, 4)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = page_of(client, story.world, who=who)
    assert len(attr(section(html, "statements"), "data-statement")) == 6
    with django_assert_max_num_queries(len(few.captured_queries)):
        page_of(client, story.world, who=who, query=f"?period={story.october.pk}")
