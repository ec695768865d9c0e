"""Personal tokens and API keys work only on the right tenant's host."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.utils import timezone

from prm.accounts.models import ApiKey, UserToken
from prm.accounts.roles import Role
from prm.accounts.services import create_user_token
from prm.tenancy.context import tenant_context
from tests.api.conftest import client_on
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def test_token_acts_with_the_membership_of_the_host_tenant(alpha):
    response = alpha.client(Role.PARTNER_REP).get(ME)
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == alpha.members[Role.PARTNER_REP].user.email
    assert body["membership"]["role"] == Role.PARTNER_REP
    assert body["membership"]["partner"] == {"id": alpha.partner.pk, "name": alpha.partner.name}
    assert body["tenant"]["slug"] == "alpha"
    assert body["api_key"] is None


def test_token_of_a_user_without_membership_in_the_tenant_is_refused(alpha, bravo):
    _token, key = create_user_token(user=alpha.members[Role.TENANT_ADMIN].user, name="t")
    assert client_on(alpha.tenant, token=key).get(ME).status_code == 200
    response = client_on(bravo.tenant, token=key).get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert client_on(bravo.tenant, token=key).get("/api/v1/partners/").status_code == 401


def test_one_token_carries_a_different_role_in_each_tenant(alpha, bravo):
    person = alpha.members[Role.PARTNER_ADMIN].user
    with tenant_context(bravo.tenant):
        MembershipFactory(user=person, role=Role.PARTNER_REP, partner=bravo.other_partner)
    _token, key = create_user_token(user=person, name="t")
    in_alpha = client_on(alpha.tenant, token=key).get(ME).json()
    in_bravo = client_on(bravo.tenant, token=key).get(ME).json()
    assert (in_alpha["membership"]["role"], in_alpha["membership"]["partner"]["id"]) == (
        Role.PARTNER_ADMIN,
        alpha.partner.pk,
    )
    assert (in_bravo["membership"]["role"], in_bravo["membership"]["partner"]["id"]) == (
        Role.PARTNER_REP,
        bravo.other_partner.pk,
    )
    partners = client_on(bravo.tenant, token=key).get("/api/v1/partners/").json()["results"]
    assert [p["id"] for p in partners] == [bravo.other_partner.pk]


def test_revoked_token_is_refused(alpha):
    token, key = create_user_token(user=alpha.members[Role.FINANCE].user, name="t")
    UserToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert client_on(alpha.tenant, token=key).get(ME).status_code == 401


def test_token_of_a_deactivated_membership_or_user_is_refused(alpha):
    rep = alpha.members[Role.PARTNER_REP]
    _token, key = create_user_token(user=rep.user, name="t")
    with tenant_context(alpha.tenant):
        rep.is_active = False
        rep.save()
    assert client_on(alpha.tenant, token=key).get(ME).status_code == 401

    admin = alpha.members[Role.PARTNER_ADMIN]
    _token, key = create_user_token(user=admin.user, name="t")
    admin.user.is_active = False
    admin.user.save()
    assert client_on(alpha.tenant, token=key).get(ME).status_code == 401


def test_unknown_token_and_malformed_header_are_refused(alpha):
    assert client_on(alpha.tenant, token="prmu_not-a-real-token").get(ME).status_code == 401
    client = client_on(alpha.tenant)
    client.credentials(HTTP_AUTHORIZATION="Token")
    assert client.get(ME).status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token two parts")
    assert client.get(ME).status_code == 401


def test_anonymous_requests_are_refused(alpha):
    response = client_on(alpha.tenant).get("/api/v1/partners/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_api_is_not_served_on_the_platform_host(alpha):
    _token, key = create_user_token(user=alpha.members[Role.TENANT_ADMIN].user, name="t")
    client = client_on(alpha.tenant, token=key)
    response = client.get(ME, HTTP_HOST="localhost")
    # The platform host has its own URLs (tenant provisioning); no API there.
    assert response.status_code in {302, 404}
    assert not response.get("Content-Type", "").startswith("application/json")


def test_staff_token_needs_two_factor_when_the_tenant_requires_it(alpha):
    alpha.tenant.require_mfa_for_staff = True
    alpha.tenant.save()
    staff = alpha.members[Role.CHANNEL_MANAGER].user
    _token, key = create_user_token(user=staff, name="t")
    assert client_on(alpha.tenant, token=key).get(ME).status_code == 401
    Authenticator.objects.create(user=staff, type=Authenticator.Type.TOTP, data={})
    assert client_on(alpha.tenant, token=key).get(ME).status_code == 200
    # The rule is for staff only.
    assert alpha.client(Role.PARTNER_REP).get(ME).status_code == 200


def test_token_use_is_recorded(alpha):
    token, key = create_user_token(user=alpha.members[Role.FINANCE].user, name="t")
    assert token.last_used_at is None
    client_on(alpha.tenant, token=key).get(ME)
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_api_key_works_on_its_own_tenant_only(alpha, bravo):
    key = alpha.api_key(Role.FINANCE)
    client = client_on(alpha.tenant, api_key=key)
    body = client.get(ME).json()
    assert body["user"] is None
    assert body["membership"] == {"id": None, "role": Role.FINANCE, "partner": None}
    assert body["api_key"]["name"] == "CRM sync"
    assert len(client.get("/api/v1/partners/").json()["results"]) == 2

    on_bravo = client_on(bravo.tenant, api_key=key)
    assert on_bravo.get(ME).status_code == 401
    assert on_bravo.get("/api/v1/partners/").status_code == 401


def test_revoked_api_key_is_refused(alpha):
    client = alpha.api_key_client()
    assert client.get(ME).status_code == 200
    with tenant_context(alpha.tenant):
        ApiKey.objects.update(revoked_at=timezone.now())
    assert client.get(ME).status_code == 401


def test_api_key_acts_with_its_role(alpha):
    data = {"legal_name": "Keyed Ltd", "country": "MY", "partner_type": alpha.reseller.pk}
    assert alpha.api_key_client(Role.FINANCE).post("/api/v1/partners/", data).status_code == 403
    response = alpha.api_key_client(Role.CHANNEL_MANAGER).post("/api/v1/partners/", data)
    assert response.status_code == 201


def test_session_works_for_members_and_not_for_outsiders(alpha, bravo):
    assert alpha.session_client(Role.PARTNER_REP).get(ME).status_code == 200
    outsider = alpha.session_client(Role.PARTNER_REP)
    response = outsider.get(ME, HTTP_HOST=bravo.host)
    assert response.status_code == 403


def test_a_person_with_no_membership_anywhere_gets_no_access(alpha):
    _token, key = create_user_token(user=UserFactory(email="nobody@example.com"), name="t")
    assert client_on(alpha.tenant, token=key).get(ME).status_code == 401
