"""The simulator page in the console: who may open it, what it shows (totals,
the per-partner table sorted by difference, paginated, the "nothing is posted"
note), the months form, tenant isolation, constant query counts, and that
opening it posts nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incentives.admin import simulator as simulator_admin
from incentives.commissions import run_commission_job
from prm.ledger.models import LedgerTransaction
from prm.tenancy.context import tenant_context

pytestmark = pytest.mark.django_db

HOST_A = "alpha.localhost"


def url(version, months=None) -> str:
    base = reverse("admin:incentives_simulator", args=[version.pk])
    return f"{base}?months={months}" if months is not None else base


def recent(world, count=1, start=0):
    """``count`` new deals per partner closed in the last weeks (Huatong's bigger)."""
    today = timezone.localdate()
    for n in range(start, start + count):
        world.close(
            world.huatong, f"Hua{n} Co", "20000.00", closed_on=today - timedelta(days=10 + n)
        )
        world.close(
            world.lianhe, f"Lian{n} Co", "10000.00", closed_on=today - timedelta(days=12 + n)
        )


def test_the_url_lives_under_the_console(sim_world):
    assert url(sim_world.draft) == f"/console/incentives/simulator/{sim_world.draft.pk}/"


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("finance", 200), ("manager", 403)])
def test_tenant_admins_and_finance_open_it_channel_managers_do_not(client, sim_world, role, status):
    client.force_login(getattr(sim_world, role).user)
    assert client.get(url(sim_world.draft, 6), HTTP_HOST=HOST_A).status_code == status


def test_partner_users_get_the_console_refusal(client, sim_world):
    client.force_login(sim_world.reps[sim_world.huatong.pk].user)
    assert client.get(url(sim_world.draft, 6), HTTP_HOST=HOST_A).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client, sim_world):
    response = client.get(url(sim_world.draft, 6), HTTP_HOST=HOST_A)
    assert response.status_code == 302


def test_another_tenants_version_is_not_found(client, sim_world, other_tenant_draft):
    client.force_login(sim_world.admin.user)
    response = client.get(url(other_tenant_draft, 6), HTTP_HOST=HOST_A)
    assert response.status_code == 404
    assert client.get("/console/incentives/simulator/999999/", HTTP_HOST=HOST_A).status_code == 404


def test_the_page_shows_totals_and_partners_by_difference_and_says_nothing_is_posted(
    client, sim_world
):
    world = sim_world
    recent(world)
    client.force_login(world.finance.user)
    client.cookies["django_language"] = "en"  # tenant A speaks Chinese; the assertions read English
    response = client.get(url(world.draft, 3), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    html = response.content.decode()
    simulation = response.context["simulation"]
    assert simulation.months == 3 and simulation.deals == 2
    # Huatong: 20,000 × 25 % = 5,000 now, 5,400 + 500 simulated (+900);
    # Lianhe: 2,500 now, 2,700 + 500 (+700). Bigger difference first.
    rows = response.context["page"].object_list
    assert [row.partner_id for row in rows] == [world.huatong.pk, world.lianhe.pk]
    assert [str(row.difference) for row in rows] == ["900.00", "700.00"]
    assert html.index("Huatong Partners") < html.index("Lianhe Systems")
    assert "Nothing is posted." in html
    assert 'data-currency="CNY"' in html
    # Totals, in English number format: 7,500 now, 9,100 simulated.
    for field, value in (
        ("current", "7,500.00"),
        ("simulated", "9,100.00"),
        ("difference", "1,600.00"),
        ("difference_percent", "21.3%"),
        ("posted", "0.00"),
    ):
        assert f'data-field="{field}">{value}' in html
    assert 'name="months"' in html and 'value="3"' in html


def test_without_months_the_last_six_months_are_shown(client, sim_world):
    client.force_login(sim_world.admin.user)
    response = client.get(url(sim_world.draft), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response.context["simulation"].months == 6


@pytest.mark.parametrize("months", ["0", "25", "six"])
def test_months_outside_1_to_24_are_a_form_error(client, sim_world, months):
    client.force_login(sim_world.admin.user)
    response = client.get(url(sim_world.draft, months), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response.context["simulation"] is None
    assert response.context["form"].errors["months"]
    assert "errornote" in response.content.decode()


def test_the_partner_table_is_paginated(client, sim_world, monkeypatch):
    monkeypatch.setattr(simulator_admin, "PER_PAGE", 1)
    recent(sim_world)
    client.force_login(sim_world.admin.user)
    first = client.get(url(sim_world.draft, 6), HTTP_HOST=HOST_A)
    assert [r.partner_id for r in first.context["page"].object_list] == [sim_world.huatong.pk]
    assert "months=6&amp;p=2" in first.content.decode()
    second = client.get(url(sim_world.draft, 6) + "&p=2", HTTP_HOST=HOST_A)
    assert [r.partner_id for r in second.context["page"].object_list] == [sim_world.lianhe.pk]


def test_opening_the_page_posts_nothing(client, sim_world):
    recent(sim_world)
    client.force_login(sim_world.admin.user)
    with tenant_context(sim_world.tenant):
        before = LedgerTransaction.objects.count()
    assert client.get(url(sim_world.draft, 6), HTTP_HOST=HOST_A).status_code == 200
    with tenant_context(sim_world.tenant):
        assert LedgerTransaction.objects.count() == before == 0
        # The nightly job still finds everything to do.
        assert run_commission_job()["deals"] == 2


def test_a_published_version_can_be_simulated_too(client, sim_world):
    recent(sim_world)
    client.force_login(sim_world.admin.user)
    response = client.get(url(sim_world.published, 6), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    (total,) = response.context["simulation"].totals
    assert total.difference == 0


def test_page_queries_do_not_grow_with_deals(client, sim_world, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    recent(sim_world, count=1)
    client.force_login(sim_world.admin.user)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(sim_world.draft, 6), HTTP_HOST=HOST_A).status_code == 200
    recent(sim_world, count=6, start=1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url(sim_world.draft, 6), HTTP_HOST=HOST_A)
    assert response.context["simulation"].deals == 14


def test_the_version_page_links_to_its_simulation(client, sim_world):
    client.force_login(sim_world.admin.user)
    page = client.get(
        reverse("admin:incentives_planversion_change", args=[sim_world.draft.pk]), HTTP_HOST=HOST_A
    )
    assert page.status_code == 200
    assert f'href="{url(sim_world.draft)}"' in page.content.decode()
