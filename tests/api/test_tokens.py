"""Personal tokens: made from a browser session, shown once, listed and revoked by the owner."""

from __future__ import annotations

import pytest

from prm.accounts.models import UserToken
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.api.conftest import client_on

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/tokens/"


def test_signed_in_person_creates_a_token_that_is_shown_once_and_works(alpha):
    session = alpha.session_client(Role.PARTNER_ADMIN)
    response = session.post(TOKENS, {"name": "My CRM"})
    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "My CRM"
    assert created["key"].startswith("prmu_")
    # Only a hash is stored.
    stored = UserToken.objects.get(pk=created["id"])
    assert stored.key_hash == UserToken.hash_key(created["key"])
    assert created["key"] not in stored.key_hash

    listed = session.get(TOKENS).json()["results"]
    assert [t["id"] for t in listed] == [created["id"]]
    assert "key" not in listed[0]

    me = client_on(alpha.tenant, token=created["key"]).get("/api/v1/me/")
    assert me.json()["user"]["email"] == alpha.members[Role.PARTNER_ADMIN].user.email


def test_a_token_or_api_key_cannot_create_tokens(alpha):
    assert alpha.client(Role.TENANT_ADMIN).post(TOKENS, {"name": "x"}).status_code == 403
    assert alpha.api_key_client().post(TOKENS, {"name": "x"}).status_code == 403
    assert alpha.api_key_client().get(TOKENS).status_code == 403


def test_token_name_is_required(alpha):
    response = alpha.session_client(Role.FINANCE).post(TOKENS, {"name": ""})
    assert response.status_code == 400
    assert "name" in response.json()


def test_people_list_only_their_own_tokens(alpha):
    alpha.client(Role.PARTNER_REP)  # creates a token for the rep
    mine = alpha.session_client(Role.PARTNER_ADMIN).post(TOKENS, {"name": "mine"}).json()
    listed = alpha.session_client(Role.PARTNER_ADMIN).get(TOKENS).json()["results"]
    assert [t["id"] for t in listed] == [mine["id"]]


def test_owner_revokes_a_token_and_it_stops_working(alpha):
    session = alpha.session_client(Role.CHANNEL_MANAGER)
    created = session.post(TOKENS, {"name": "laptop"}).json()
    token_client = client_on(alpha.tenant, token=created["key"])
    assert token_client.get("/api/v1/me/").status_code == 200

    assert token_client.delete(f"{TOKENS}{created['id']}/").status_code == 204
    assert token_client.get("/api/v1/me/").status_code == 401
    assert session.get(TOKENS).json()["results"] == []
    with tenant_context(alpha.tenant):
        assert AuditEvent.objects.filter(
            action="api_token.revoked", object_id=str(created["id"])
        ).exists()


def test_nobody_revokes_someone_elses_token(alpha):
    theirs = alpha.session_client(Role.PARTNER_REP).post(TOKENS, {"name": "rep"}).json()
    response = alpha.session_client(Role.TENANT_ADMIN).delete(f"{TOKENS}{theirs['id']}/")
    assert response.status_code == 404
    assert UserToken.objects.get(pk=theirs["id"]).revoked_at is None
