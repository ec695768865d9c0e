"""Moving between tenants: /accounts/switch/ and the signed, single-use handoff."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import signing
from django.test import Client
from django.urls import reverse

from prm.accounts import services
from prm.accounts.roles import Role
from prm.errors import NotFound
from prm.tenancy.context import tenant_context
from prm.tenancy.models import TenantDomain
from tests.factories import MembershipFactory
from tests.portal.fixtures import HOST_A, HOST_B

pytestmark = pytest.mark.django_db
HANDOFF = "/accounts/handoff/"


@pytest.fixture
def two_portals(world):
    """admin.x is also a rep of partner Z in tenant B."""
    with tenant_context(world.tenant_b):
        membership_b = MembershipFactory(
            user=world.admin_x.user, partner=world.partner_z, role=Role.PARTNER_REP
        )
    return world.admin_x, membership_b


def _switch(client, membership, host=HOST_A, port=None):
    extra = {"SERVER_PORT": port} if port else {}
    host_header = f"{host}:{port}" if port else host
    return client.get(
        reverse("accounts:switch_to", args=[membership.pk]), HTTP_HOST=host_header, **extra
    )


def _token(location: str) -> str:
    return parse_qs(urlsplit(location).query)["token"][0]


def test_switch_page_lists_every_portal_of_the_person(english, world, two_portals):
    membership_a, membership_b = two_portals
    english.force_login(membership_a.user)

    response = english.get(reverse("accounts:switch"), HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Alpha Cloud" in html and "Bravo SaaS" in html
    assert reverse("accounts:switch_to", args=[membership_b.pk]) in html
    assert "Current portal" in html


def test_switch_redirects_to_target_host_keeping_the_port(client, world, two_portals):
    _membership_a, membership_b = two_portals
    client.force_login(membership_b.user)

    response = _switch(client, membership_b, port="8000")

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"//{HOST_B}:8000{HANDOFF}?token=")


def test_switch_uses_the_tenants_primary_domain(client, world, two_portals):
    _membership_a, membership_b = two_portals
    TenantDomain.objects.create(
        tenant=world.tenant_b, domain="partners.bravo.example", is_primary=True
    )
    client.force_login(membership_b.user)

    response = _switch(client, membership_b)

    assert response["Location"].startswith(f"//partners.bravo.example{HANDOFF}?token=")


def test_handoff_signs_the_person_in_on_the_target_host(client, world, two_portals):
    _membership_a, membership_b = two_portals
    client.force_login(membership_b.user)
    token = _token(_switch(client, membership_b)["Location"])

    target = Client()
    response = target.post(HANDOFF, {"token": token}, HTTP_HOST=HOST_B)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    assert int(target.session[SESSION_KEY]) == membership_b.user_id
    home = target.get(reverse("portal:home"), HTTP_HOST=HOST_B)
    assert home.status_code == 200
    assert "Zaman Teknologi Sdn Bhd" in home.content.decode()


def test_handoff_link_only_asks_for_confirmation_and_signs_in_on_post(client, world, two_portals):
    _membership_a, membership_b = two_portals
    client.force_login(membership_b.user)
    token = _token(_switch(client, membership_b)["Location"])

    target = Client()
    target.cookies["django_language"] = "en"
    page = target.get(HANDOFF, {"token": token}, HTTP_HOST=HOST_B)

    assert page.status_code == 200
    assert SESSION_KEY not in target.session
    body = page.content.decode()
    assert membership_b.user.email in body
    assert 'method="post"' in body and "csrfmiddlewaretoken" in body
    # Looking at the page does not use the token up.
    assert target.post(HANDOFF, {"token": token}, HTTP_HOST=HOST_B).status_code == 302
    assert int(target.session[SESSION_KEY]) == membership_b.user_id


def test_handoff_post_needs_a_csrf_token(client, world, two_portals):
    _membership_a, membership_b = two_portals
    client.force_login(membership_b.user)
    token = _token(_switch(client, membership_b)["Location"])

    target = Client(enforce_csrf_checks=True)
    response = target.post(HANDOFF, {"token": token}, HTTP_HOST=HOST_B)

    assert response.status_code == 403
    assert SESSION_KEY not in target.session


def test_handoff_token_is_single_use(client, world, two_portals):
    _membership_a, membership_b = two_portals
    client.force_login(membership_b.user)
    token = _token(_switch(client, membership_b)["Location"])
    assert Client().post(HANDOFF, {"token": token}, HTTP_HOST=HOST_B).status_code == 302

    replay = Client()
    replay.cookies["django_language"] = "en"
    response = replay.post(HANDOFF, {"token": token}, HTTP_HOST=HOST_B)

    assert response.status_code == 404
    assert SESSION_KEY not in replay.session
    assert "Sign-in link not valid" in response.content.decode()


def test_handoff_token_expires_after_a_minute(client, world, two_portals, monkeypatch):
    _membership_a, membership_b = two_portals
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 61)
    with tenant_context(world.tenant_a):
        token = services.create_handoff_token(user=membership_b.user, membership=membership_b)
    monkeypatch.setattr(signing.time, "time", real_time)

    target = Client()
    response = target.post(HANDOFF, {"token": token}, HTTP_HOST=HOST_B)

    assert response.status_code == 404
    assert SESSION_KEY not in target.session


def test_handoff_token_within_a_minute_still_works(world, two_portals, monkeypatch):
    _membership_a, membership_b = two_portals
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 50)
    token = services.create_handoff_token(user=membership_b.user, membership=membership_b)
    monkeypatch.setattr(signing.time, "time", real_time)

    with tenant_context(world.tenant_b):
        assert services.redeem_handoff_token(token=token).pk == membership_b.pk


def test_tampered_handoff_token_is_refused(client, world, two_portals):
    membership_a, membership_b = two_portals
    client.force_login(membership_b.user)
    token = _token(_switch(client, membership_b)["Location"])
    payload = signing.loads(token, salt=services.HANDOFF_SALT)
    # Same shape, another person, but signed with the wrong key.
    forged = signing.dumps(
        {**payload, "u": world.admin_z.user_id, "m": world.admin_z.pk},
        key="not-the-secret-key",
        salt=services.HANDOFF_SALT,
    )
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")

    for bad in (forged, flipped, "garbage", ""):
        target = Client()
        response = target.post(HANDOFF, {"token": bad}, HTTP_HOST=HOST_B)
        assert response.status_code == 404
        assert SESSION_KEY not in target.session


def test_handoff_token_for_tenant_b_is_refused_on_tenant_a_host(client, world, two_portals):
    membership_a, membership_b = two_portals
    client.force_login(membership_b.user)
    token = _token(_switch(client, membership_b)["Location"])

    target = Client()
    response = target.post(HANDOFF, {"token": token}, HTTP_HOST=HOST_A)

    assert response.status_code == 404
    assert SESSION_KEY not in target.session
    # The failed attempt did not burn the token for its real destination.
    assert Client().post(HANDOFF, {"token": token}, HTTP_HOST=HOST_B).status_code == 302


def test_handoff_refused_when_membership_was_deactivated_meanwhile(client, world, two_portals):
    _membership_a, membership_b = two_portals
    client.force_login(membership_b.user)
    token = _token(_switch(client, membership_b)["Location"])
    with tenant_context(world.tenant_b):
        membership_b.is_active = False
        membership_b.save(update_fields=["is_active"])

    target = Client()
    response = target.post(HANDOFF, {"token": token}, HTTP_HOST=HOST_B)

    assert response.status_code == 404
    assert SESSION_KEY not in target.session


def test_cannot_switch_through_someone_elses_membership(client, world, two_portals):
    client.force_login(world.rep_x.user)

    other_tenant = _switch(client, world.admin_z)  # tenant B, not theirs
    same_tenant = _switch(client, world.admin_y)  # tenant A, another partner's admin

    assert other_tenant.status_code == 404
    assert same_tenant.status_code == 404


def test_switch_to_the_current_tenant_goes_home(client, world, two_portals):
    membership_a, _membership_b = two_portals
    client.force_login(membership_a.user)

    response = _switch(client, membership_a)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")


def test_create_handoff_token_refuses_another_persons_membership(world):
    from prm.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.create_handoff_token(user=world.rep_x.user, membership=world.admin_z)


def test_redeem_handoff_token_needs_the_right_tenant(world, two_portals):
    _membership_a, membership_b = two_portals
    token = services.create_handoff_token(user=membership_b.user, membership=membership_b)

    with tenant_context(world.tenant_a), pytest.raises(NotFound):
        services.redeem_handoff_token(token=token)
    with tenant_context(world.tenant_b):
        assert services.redeem_handoff_token(token=token) == membership_b
    with tenant_context(world.tenant_b), pytest.raises(NotFound):
        services.redeem_handoff_token(token=token)


def test_no_access_page_links_lead_to_a_working_handoff(client, world):
    # rep.z belongs to tenant B only and is signed in on tenant A's host.
    client.force_login(world.rep_z.user)
    page = client.get(reverse("portal:home"), HTTP_HOST=HOST_A)
    link = reverse("accounts:switch_to", args=[world.rep_z.pk])
    assert page.status_code == 403
    assert link in page.content.decode()

    response = client.get(link, HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert response["Location"].startswith(f"//{HOST_B}{HANDOFF}")
