"""Who gets into the console, and which sections each staff role sees."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from prm.accounts.roles import Role
from tests.console.conftest import HOST_A
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SECTIONS = [
    "partners_partnerorganization",
    "partners_tier",
    "partners_partnertype",
    "partners_tierchange",
    "accounts_membership",
    "accounts_invitation",
    "accounts_apikey",
    "jobs_jobrun",
    "audit_auditevent",
    "ledger_ledgertransaction",
    "money_exchangerate",
    "partners_partnerpayee",
]

VISIBLE = {
    # Payee details (bank and tax numbers) are for finance only.
    Role.TENANT_ADMIN: set(SECTIONS) - {"partners_partnerpayee"},
    Role.CHANNEL_MANAGER: {
        "partners_partnerorganization",
        "partners_tierchange",
        "accounts_membership",
        "accounts_invitation",
        "jobs_jobrun",
    },
    Role.FINANCE: {
        "partners_partnerorganization",
        "partners_tierchange",
        "jobs_jobrun",
        "ledger_ledgertransaction",
        "money_exchangerate",
        "partners_partnerpayee",
    },
}


def changelist(section: str) -> str:
    return reverse(f"admin:{section}_changelist")


@pytest.mark.parametrize("role", sorted(VISIBLE))
@pytest.mark.parametrize("section", SECTIONS)
def test_each_staff_role_sees_exactly_its_sections(client, login_as, role, section):
    login_as(role)
    response = client.get(changelist(section), HTTP_HOST=HOST_A)
    assert response.status_code == (200 if section in VISIBLE[role] else 403)


@pytest.mark.parametrize("role", sorted(VISIBLE))
def test_console_index_lists_only_the_roles_sections(client, login_as, role):
    login_as(role)
    response = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    html = response.content.decode()
    for section in SECTIONS:
        assert (changelist(section) in html) == (section in VISIBLE[role]), section


@pytest.mark.parametrize(
    ("role", "add_url", "allowed"),
    [
        (Role.CHANNEL_MANAGER, "admin:partners_partnerorganization_add", True),
        (Role.FINANCE, "admin:partners_partnerorganization_add", False),
        (Role.CHANNEL_MANAGER, "admin:partners_tier_add", False),
        (Role.TENANT_ADMIN, "admin:partners_tier_add", True),
        (Role.TENANT_ADMIN, "admin:accounts_apikey_add", True),
        (Role.CHANNEL_MANAGER, "admin:accounts_apikey_add", False),
        (Role.FINANCE, "admin:accounts_membership_invite", False),
        (Role.CHANNEL_MANAGER, "admin:accounts_membership_invite", True),
    ],
)
def test_add_and_workflow_pages_follow_capabilities(client, login_as, role, add_url, allowed):
    login_as(role)
    response = client.get(reverse(add_url), HTTP_HOST=HOST_A)
    assert response.status_code == (200 if allowed else 403)


def test_finance_sees_partners_read_only(client, login_as, make_member):
    partner = make_member(Role.PARTNER_ADMIN).partner
    login_as(Role.FINANCE)
    url = reverse("admin:partners_partnerorganization_change", args=[partner.pk])
    response = client.get(url, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    assert 'name="legal_name"' not in response.content.decode()
    post = client.post(url, {"legal_name": "Renamed"}, HTTP_HOST=HOST_A)
    assert post.status_code == 403


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.PARTNER_REP])
def test_partner_users_get_the_forbidden_page_not_the_console(client, login_as, role):
    login_as(role)
    for url in [
        reverse("admin:index"),
        changelist("partners_partnerorganization"),
        reverse("admin:login"),
    ]:
        response = client.get(url, HTTP_HOST=HOST_A)
        assert response.status_code == 403, url
        assert "console/forbidden.html" in [t.name for t in response.templates], url


def test_partner_user_cannot_open_another_partners_console_page(client, login_as, make_member):
    other = make_member(Role.PARTNER_ADMIN).partner
    login_as(Role.PARTNER_ADMIN)
    url = reverse("admin:partners_partnerorganization_change", args=[other.pk])
    response = client.get(url, HTTP_HOST=HOST_A)
    assert response.status_code == 403
    assert other.legal_name not in response.content.decode()


def test_forbidden_page_is_standalone_and_offers_sign_out_and_languages(client, login_as):
    login_as(Role.PARTNER_REP)
    response = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    html = response.content.decode()
    assert [t.name for t in response.templates][0] == "console/forbidden.html"
    assert reverse("account_logout") in html
    assert reverse("set_language") in html
    assert 'href="/"' in html  # back to the partner portal


def test_forbidden_page_speaks_the_tenant_language_until_one_is_chosen(client, login_as):
    login_as(Role.PARTNER_REP)
    default = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    assert b'<html lang="zh-hans"' in default.content  # tenant A's default language
    client.cookies["django_language"] = "ms"
    chosen = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    assert b'<html lang="ms"' in chosen.content


def test_anonymous_visitor_is_sent_to_the_allauth_login_with_next(client, tenant_a):
    first = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    assert first.status_code == 302
    assert first["Location"] == f"{reverse('admin:login')}?next={reverse('admin:index')}"

    second = client.get(first["Location"], HTTP_HOST=HOST_A)
    assert second.status_code == 302
    location = urlsplit(second["Location"])
    assert location.path == reverse("account_login")
    assert parse_qs(location.query)["next"] == [reverse("admin:index")]


def test_anonymous_deep_link_keeps_its_target_through_the_login(client, tenant_a):
    target = changelist("partners_partnerorganization")
    response = client.get(target, HTTP_HOST=HOST_A, follow=True)
    final_path, _status = response.redirect_chain[-1]
    location = urlsplit(final_path)
    assert location.path == reverse("account_login")
    assert parse_qs(location.query)["next"] == [target]


def test_login_round_trip_lands_on_the_console(client, make_member):
    from tests.factories import PASSWORD

    staff = make_member(Role.CHANNEL_MANAGER)
    response = client.post(
        f"{reverse('account_login')}?next={reverse('admin:index')}",
        {"login": staff.user.email, "password": PASSWORD, "next": reverse("admin:index")},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index"), HTTP_HOST=HOST_A).status_code == 200


def test_failed_console_logins_are_rate_limited_by_allauth(client, make_member):
    from tests.factories import PASSWORD

    staff = make_member(Role.TENANT_ADMIN)
    login_url = f"{reverse('account_login')}?next={reverse('admin:index')}"
    for _attempt in range(5):
        response = client.post(
            login_url, {"login": staff.user.email, "password": "wrong"}, HTTP_HOST=HOST_A
        )
        assert response.status_code in (200, 429)
        assert "_auth_user_id" not in client.session
    # The right password no longer gets in until the window passes.
    response = client.post(
        login_url,
        {"login": staff.user.email, "password": PASSWORD, "next": reverse("admin:index")},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code != 302
    assert "_auth_user_id" not in client.session


def test_console_password_change_is_allauths(client, login_as):
    login_as(Role.TENANT_ADMIN)
    response = client.get(reverse("admin:password_change"), HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_change_password")


def test_deactivated_staff_no_longer_get_in(client, login_as):
    membership = login_as(Role.CHANNEL_MANAGER)
    membership.is_active = False
    from prm.tenancy.context import tenant_context

    with tenant_context(membership.tenant):
        membership.save(update_fields=["is_active"])
    response = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    assert response.status_code == 403


def test_platform_superuser_without_membership_has_no_tenant_console(client, tenant_a):
    operator = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(operator)
    response = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    assert response.status_code == 403


def test_staff_of_tenant_b_cannot_use_tenant_as_console(client, login_as, tenant_b):
    login_as(Role.TENANT_ADMIN, tenant=tenant_b)
    response = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    assert response.status_code == 403
    assert client.get(reverse("admin:index"), HTTP_HOST="bravo.localhost").status_code == 200


def test_staff_of_a_tenant_requiring_two_factor_set_it_up_before_the_console(
    client, login_as, tenant_a
):
    tenant_a.require_mfa_for_staff = True
    tenant_a.save(update_fields=["require_mfa_for_staff"])
    login_as(Role.TENANT_ADMIN)
    response = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")
