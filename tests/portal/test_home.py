"""The portal home page: organisation, tier, team, panels, layout and language."""

from __future__ import annotations

import pytest
from django.template import Template
from django.urls import reverse

from prm.accounts.roles import Role
from prm.portal import panels
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, UserFactory
from tests.portal.fixtures import HOST_A, HOST_B

pytestmark = pytest.mark.django_db
HOME = "/"


def test_anonymous_visitor_is_sent_to_sign_in(client, world):
    response = client.get(HOME, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_home_shows_organisation_tier_and_active_team(english, world):
    with tenant_context(world.tenant_a):
        MembershipFactory(
            user=UserFactory(email="gone.x@example.com"), partner=world.partner_x, is_active=False
        )
    english.force_login(world.rep_x.user)

    response = english.get(HOME, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Qiming Information Technology Co Ltd" in html
    assert "Shanghai" in html and "CN" in html
    assert "CNY" in html
    assert "Active" in html
    assert 'class="badge badge--gold"' in html
    assert "25.50%" in html  # commission, localised
    assert "4%" in html  # MDF
    assert "admin.x@example.com" in html and "Partner admin" in html
    assert "rep.x@example.com" in html and "Partner rep" in html
    assert "gone.x@example.com" not in html  # deactivated member hidden
    assert "admin.y@example.com" not in html  # another partner's people
    assert "admin.z@example.com" not in html  # another tenant's people


def test_home_query_count_does_not_grow_with_team_size(client, world, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(world.rep_x.user)
    with CaptureQueriesContext(connection) as small:
        assert client.get(HOME, HTTP_HOST=HOST_A).status_code == 200
    with tenant_context(world.tenant_a):
        MembershipFactory.create_batch(27, partner=world.partner_x)
    with django_assert_num_queries(len(small)):
        response = client.get(HOME, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response.content.decode().count("<tr>") >= 30


def test_home_for_staff_points_to_the_console(english, world):
    english.force_login(world.staff_a.user)

    response = english.get(HOME, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/console/"' in html
    assert "Open the console" in html
    assert "Qiming" not in html


def test_layout_has_brand_nav_switcher_and_post_sign_out(english, world):
    with tenant_context(world.tenant_b):
        MembershipFactory(user=world.admin_x.user, partner=world.partner_z)
    english.force_login(world.admin_x.user)

    html = english.get(HOME, HTTP_HOST=HOST_A).content.decode()

    assert f'style="--brand: {world.tenant_a.brand_color}"' in html
    assert "/static/css/portal.css" in html
    assert 'src="/static/vendor/htmx/htmx.min.js" defer' in html
    assert "/static/img/favicon.svg" in html
    assert "Alpha Cloud" in html
    assert f'href="{reverse("portal:team")}"' in html  # partner admin
    assert f'href="{reverse("accounts:switch")}"' in html  # two memberships
    assert f'<form method="post" action="{reverse("account_logout")}"' in html
    assert 'class="lang-switcher" action="/i18n/setlang/" method="post"' in html
    assert 'name="next" value="/"' in html
    assert "sign up" not in html.lower() and "signup" not in html


def test_rep_sees_neither_team_link_nor_switcher_nor_console(english, world):
    english.force_login(world.rep_x.user)

    html = english.get(HOME, HTTP_HOST=HOST_A).content.decode()

    assert f'href="{reverse("portal:team")}"' not in html
    assert f'href="{reverse("accounts:switch")}"' not in html
    assert 'href="/console/"' not in html


def test_tenant_default_language_is_applied_and_set_language_switches_it(client, world):
    client.force_login(world.rep_x.user)

    html = client.get(HOME, HTTP_HOST=HOST_A).content.decode()
    assert '<html lang="zh-hans"' in html

    response = client.post("/i18n/setlang/", {"language": "ms", "next": "/"}, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert response["Location"] == "/"

    html = client.get(HOME, HTTP_HOST=HOST_A).content.decode()
    assert '<html lang="ms"' in html
    assert '<option value="ms" lang="ms" selected>' in html


def test_tenant_b_opens_in_its_own_default_language(client, world):
    client.force_login(world.rep_z.user)

    html = client.get(HOME, HTTP_HOST=HOST_B).content.decode()

    assert '<html lang="ms"' in html
    assert "Zaman Teknologi Sdn Bhd" in html


def test_registered_panels_render_on_home_in_order(english, world):
    panels.register(
        panels.Panel(
            key="test-late",
            template=Template("<section class='card'>Late panel {{ data.n }}</section>"),
            context=lambda request: {"n": 2},
            order=200,
        )
    )
    panels.register(
        panels.Panel(
            key="test-early",
            template=Template("<section class='card'>Early panel {{ data.n }}</section>"),
            context=lambda request: {"n": request.membership.partner.legal_name},
            order=10,
        )
    )
    panels.register(
        panels.Panel(
            key="test-hidden",
            template=Template("<section>Hidden panel</section>"),
            context=lambda request: None,
        )
    )
    try:
        english.force_login(world.rep_x.user)
        html = english.get(HOME, HTTP_HOST=HOST_A).content.decode()
    finally:
        for key in ("test-late", "test-early", "test-hidden"):
            panels.unregister(key)

    assert "Early panel Qiming Information Technology Co Ltd" in html
    assert "Late panel 2" in html
    assert html.index("Early panel") < html.index("Late panel")
    assert "Hidden panel" not in html


def test_partner_user_of_tenant_a_gets_no_access_page_on_tenant_b(english, world):
    english.force_login(world.rep_x.user)

    response = english.get(HOME, HTTP_HOST=HOST_B)

    assert response.status_code == 403
    html = response.content.decode()
    assert "No access to this portal" in html
    assert "Alpha Cloud" in html  # the portals they do have
    assert reverse("accounts:switch_to", args=[world.rep_x.pk]) in html
    assert "Zaman" not in html


def test_signed_in_user_without_any_membership_gets_no_access_page(english, world):
    english.force_login(UserFactory(email="nobody@example.com"))

    response = english.get(HOME, HTTP_HOST=HOST_A)

    assert response.status_code == 403
    assert "You do not belong to any partner portal yet." in response.content.decode()


def test_deactivated_member_loses_the_portal(english, world):
    with tenant_context(world.tenant_a):
        world.rep_x.is_active = False
        world.rep_x.save(update_fields=["is_active"])
    english.force_login(world.rep_x.user)

    assert english.get(HOME, HTTP_HOST=HOST_A).status_code == 403


def test_unknown_host_gets_friendly_404_page(client, db):
    response = client.get(HOME, HTTP_HOST="nosuchvendor.localhost")

    assert response.status_code == 404
    html = response.content.decode()
    assert "nosuchvendor.localhost" in html
    assert "/static/css/portal.css" in html
    assert "<html lang=" in html


def test_unknown_page_on_tenant_host_uses_the_portal_404(english, world):
    english.force_login(world.rep_x.user)

    response = english.get("/no/such/page/", HTTP_HOST=HOST_A)

    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "Alpha Cloud" in html


def test_500_page_renders_without_any_request_context():
    from django.template.loader import get_template

    html = get_template("500.html").render()

    assert "Something went wrong" in html
    assert "/static/css/portal.css" in html


def test_home_for_partner_admin_links_to_team_management(english, world):
    english.force_login(world.admin_x.user)

    html = english.get(HOME, HTTP_HOST=HOST_A).content.decode()

    assert "Manage team" in html
    assert world.admin_x.get_role_display() == Role.PARTNER_ADMIN.label
