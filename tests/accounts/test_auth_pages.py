"""allauth's pages in the portal layout, login rate limiting and required MFA."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from tests.factories import PASSWORD
from tests.portal.fixtures import HOST_A

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def test_login_page_uses_portal_layout_names_tenant_and_offers_no_sign_up(english, world):
    response = english.get(LOGIN, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Sign in to the Alpha Cloud partner portal" in html
    assert "/static/css/portal.css" in html
    assert 'class="auth-box stack"' in html
    assert 'name="login"' in html and 'name="password"' in html
    assert reverse("account_reset_password") in html
    assert "sign up" not in html.lower()
    assert reverse("account_signup") not in html
    assert 'class="lang-switcher"' in html
    # The sign-in button is the first submit button on the page (before the language switcher).
    assert html.index('type="submit"') < html.index('class="lang-switcher"')


def test_login_page_defaults_to_tenant_language(client, world):
    html = client.get(LOGIN, HTTP_HOST=HOST_A).content.decode()

    assert '<html lang="zh-hans"' in html


def test_password_reset_and_logout_pages_use_portal_layout(english, world):
    reset = english.get(reverse("account_reset_password"), HTTP_HOST=HOST_A).content.decode()
    english.force_login(world.rep_x.user)
    logout = english.get(reverse("account_logout"), HTTP_HOST=HOST_A).content.decode()

    for html in (reset, logout):
        assert "/static/css/portal.css" in html
        assert 'class="auth-box stack"' in html
        assert "Alpha Cloud" in html


def test_sign_in_with_correct_password_reaches_home(english, world):
    response = english.post(
        LOGIN, {"login": "rep.x@example.com", "password": PASSWORD}, HTTP_HOST=HOST_A
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert int(english.session[SESSION_KEY]) == world.rep_x.user_id


def test_sign_out_is_a_post_that_ends_the_session(english, world):
    english.force_login(world.rep_x.user)

    response = english.post(reverse("account_logout"), HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert SESSION_KEY not in english.session


def test_repeated_failed_logins_are_blocked_even_with_the_right_password(english, world):
    for _attempt in range(5):
        failed = english.post(
            LOGIN, {"login": "rep.x@example.com", "password": "wrong"}, HTTP_HOST=HOST_A
        )
        assert failed.status_code == 200
        assert "Too many failed login attempts" not in failed.content.decode()

    blocked = english.post(
        LOGIN, {"login": "rep.x@example.com", "password": PASSWORD}, HTTP_HOST=HOST_A
    )

    assert blocked.status_code == 200
    assert "Too many failed login attempts. Try again later." in blocked.content.decode()
    assert SESSION_KEY not in english.session


def test_failed_logins_for_one_address_do_not_block_another(english, world):
    for _attempt in range(5):
        english.post(LOGIN, {"login": "rep.x@example.com", "password": "wrong"}, HTTP_HOST=HOST_A)

    response = english.post(
        LOGIN, {"login": "admin.x@example.com", "password": PASSWORD}, HTTP_HOST=HOST_A
    )

    assert response.status_code == 302
    assert int(english.session[SESSION_KEY]) == world.admin_x.user_id


@pytest.fixture
def mfa_tenant(world):
    world.tenant_a.require_mfa_for_staff = True
    world.tenant_a.save(update_fields=["require_mfa_for_staff"])
    return world


def test_required_mfa_sends_staff_without_totp_to_setup(client, mfa_tenant):
    client.force_login(mfa_tenant.staff_a.user)

    response = client.get(reverse("portal:home"), HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_required_mfa_does_not_apply_to_partner_users(client, mfa_tenant):
    client.force_login(mfa_tenant.rep_x.user)

    assert client.get(reverse("portal:home"), HTTP_HOST=HOST_A).status_code == 200


def test_staff_with_totp_passes_the_mfa_requirement(client, mfa_tenant):
    from allauth.mfa.models import Authenticator

    Authenticator.objects.create(
        user=mfa_tenant.staff_a.user, type=Authenticator.Type.TOTP, data={"secret": "x"}
    )
    client.force_login(mfa_tenant.staff_a.user)

    assert client.get(reverse("portal:home"), HTTP_HOST=HOST_A).status_code == 200


def test_mfa_pages_render_in_portal_layout(english, mfa_tenant):
    english.force_login(mfa_tenant.staff_a.user)

    response = english.get(reverse("mfa_activate_totp"), HTTP_HOST=HOST_A, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/css/portal.css" in html
    assert 'class="auth-box stack"' in html
    assert "Alpha Cloud" in html


def test_mfa_requirement_off_leaves_staff_alone(client, world):
    assert not world.tenant_a.require_mfa_for_staff
    client.force_login(world.staff_a.user)

    assert client.get(reverse("portal:home"), HTTP_HOST=HOST_A).status_code == 200


def test_login_page_on_the_platform_host_renders_without_a_tenant(english, db):
    response = english.get(LOGIN, HTTP_HOST="localhost")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>" in html and "Sign in" in html
    assert "Sign in to the" not in html
    assert "--brand:" not in html


@pytest.mark.parametrize("host", ["alpha.localhost", "localhost"])
def test_nobody_can_change_their_own_sign_in_address(client, tenant_a, host):
    from prm.accounts.roles import Role
    from prm.tenancy.context import tenant_context
    from tests.factories import MembershipFactory

    with tenant_context(tenant_a):
        member = MembershipFactory(role=Role.PARTNER_REP)
    client.force_login(member.user)
    client.cookies["django_language"] = "en"
    page = client.get("/accounts/email/", HTTP_HOST=host)
    assert page.status_code == 200
    assert "cannot be changed here" in page.content.decode()
    client.post(
        "/accounts/email/",
        {"action_add": "", "email": "cfo@vendor.example"},
        HTTP_HOST=host,
    )
    client.post(
        "/accounts/email/",
        {"action_primary": "", "email": "cfo@vendor.example"},
        HTTP_HOST=host,
    )
    member.user.refresh_from_db()
    assert member.user.email != "cfo@vendor.example"
    from allauth.account.models import EmailAddress

    assert not EmailAddress.objects.filter(email="cfo@vendor.example").exists()
