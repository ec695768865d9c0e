"""People with access ("users"): who sees whom, and who may invite or change whom."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from prm.accounts.models import Invitation, Membership
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users/"


def url(membership, action="") -> str:
    return f"{USERS}{membership.pk}/{action + '/' if action else ''}"


def emails(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["email"] for row in response.json()["results"]}


def test_tenant_admins_see_everyone_other_staff_see_partner_users_only(alpha, bravo):
    everyone = {m.user.email for m in alpha.members.values()}
    assert emails(alpha.client(Role.TENANT_ADMIN).get(USERS)) == everyone
    partner_users = {m.user.email for m in alpha.members.values() if m.partner_id}
    assert partner_users and partner_users != everyone
    for role in (Role.CHANNEL_MANAGER, Role.FINANCE):
        client = alpha.client(role)
        assert emails(client.get(USERS)) == partner_users
        assert emails(client.get(USERS, {"role": "tenant_admin"})) == set()
        assert client.get(url(alpha.members[Role.TENANT_ADMIN])).status_code == 404
    own_org = {alpha.members[r].user.email for r in (Role.PARTNER_ADMIN, Role.PARTNER_REP)}
    for role in (Role.PARTNER_ADMIN, Role.PARTNER_REP):
        assert emails(alpha.client(role).get(USERS)) == own_org


def test_user_fields(alpha):
    rep = alpha.members[Role.PARTNER_REP]
    body = alpha.client(Role.PARTNER_ADMIN).get(url(rep)).json()
    assert body == {
        "id": rep.pk,
        "email": rep.user.email,
        "full_name": rep.user.full_name,
        "role": "partner_rep",
        "partner": alpha.partner.pk,
        "is_active": True,
    }


def test_filters_search_and_ordering(alpha):
    client = alpha.client(Role.TENANT_ADMIN)
    assert emails(client.get(USERS, {"role": "finance"})) == {"finance@alpha.example.com"}
    assert emails(client.get(USERS, {"partner": alpha.other_partner.pk})) == {
        "other-admin@alpha.example.com"
    }
    assert emails(client.get(USERS, {"search": "channel_manager@"})) == {
        "channel_manager@alpha.example.com"
    }
    ordered = [
        r["email"] for r in client.get(USERS, {"ordering": "-user__email"}).json()["results"]
    ]
    assert ordered == sorted(ordered, reverse=True)


def test_user_list_query_count_does_not_grow_with_rows(alpha, django_assert_max_num_queries):
    client = alpha.client(Role.TENANT_ADMIN)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(USERS).json()["results"]) == 6
    with tenant_context(alpha.tenant):
        for _ in range(24):
            MembershipFactory(partner=alpha.other_partner)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(USERS).json()["results"]) == 30


# --- invitations ------------------------------------------------------------


def test_partner_admin_invites_a_rep_to_their_own_organisation(
    alpha, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alpha.client(Role.PARTNER_ADMIN).post(
            f"{USERS}invite/", {"email": "New.Rep@Example.com", "role": "partner_rep"}
        )
    assert response.status_code == 201, response.content
    assert response.json()["email"] == "new.rep@example.com"
    assert response.json()["partner"] == alpha.partner.pk
    assert len(mail.outbox) == 1
    assert "http://alpha.localhost/accounts/invitation/" in mail.outbox[0].body


def test_partner_rep_cannot_invite(alpha):
    response = alpha.client(Role.PARTNER_REP).post(
        f"{USERS}invite/", {"email": "friend@example.com", "role": "partner_rep"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    with tenant_context(alpha.tenant):
        assert not Invitation.objects.exists()


def test_partner_admin_cannot_invite_into_another_organisation(alpha, bravo):
    client = alpha.client(Role.PARTNER_ADMIN)
    for foreign in (alpha.other_partner, bravo.partner):
        response = client.post(
            f"{USERS}invite/",
            {"email": "x@example.com", "role": "partner_rep", "partner": foreign.pk},
        )
        assert response.status_code == 400
        assert "does not exist" in response.json()["partner"][0]
    response = client.post(f"{USERS}invite/", {"email": "x@example.com", "role": "finance"})
    assert response.status_code == 400
    assert response.json()["field"] == "partner"


def test_staff_invitations_follow_the_role_rules(alpha):
    invite = {"email": "cfo@example.com", "role": "finance"}
    assert alpha.client(Role.CHANNEL_MANAGER).post(f"{USERS}invite/", invite).status_code == 403
    assert alpha.client(Role.TENANT_ADMIN).post(f"{USERS}invite/", invite).status_code == 201
    partner_invite = {"email": "rep@example.com", "role": "partner_rep"}
    partner_invite["partner"] = alpha.other_partner.pk
    assert alpha.client(Role.FINANCE).post(f"{USERS}invite/", partner_invite).status_code == 403
    response = alpha.client(Role.CHANNEL_MANAGER).post(f"{USERS}invite/", partner_invite)
    assert response.status_code == 201


def test_inviting_someone_who_already_has_access_is_a_conflict(alpha):
    response = alpha.client(Role.PARTNER_ADMIN).post(
        f"{USERS}invite/",
        {"email": alpha.members[Role.PARTNER_REP].user.email, "role": "partner_rep"},
    )
    assert response.status_code == 409
    assert response.json()["field"] == "email"


# --- deactivate, reactivate, role -------------------------------------------


def test_partner_admin_deactivates_and_reactivates_their_rep(alpha):
    client = alpha.client(Role.PARTNER_ADMIN)
    rep = alpha.members[Role.PARTNER_REP]
    response = client.post(url(rep, "deactivate"))
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    rep_client_blocked = alpha.client(Role.PARTNER_REP)
    assert rep_client_blocked.get("/api/v1/me/").status_code == 401
    assert client.post(url(rep, "reactivate")).json()["is_active"] is True
    with tenant_context(alpha.tenant):
        assert Membership.objects.get(pk=rep.pk).is_active


def test_nobody_deactivates_themselves(alpha):
    admin = alpha.members[Role.PARTNER_ADMIN]
    response = alpha.client(Role.PARTNER_ADMIN).post(url(admin, "deactivate"))
    assert response.status_code == 400
    assert response.json()["code"] == "self"


def test_rep_and_finance_cannot_change_people(alpha):
    admin = alpha.members[Role.PARTNER_ADMIN]
    rep = alpha.members[Role.PARTNER_REP]
    assert alpha.client(Role.PARTNER_REP).post(url(admin, "deactivate")).status_code == 403
    finance = alpha.client(Role.FINANCE)
    assert finance.post(url(rep, "deactivate")).status_code == 403
    assert finance.post(url(rep, "role"), {"role": "partner_admin"}).status_code == 403
    with tenant_context(alpha.tenant):
        assert Membership.objects.filter(is_active=False).count() == 0


def test_channel_manager_manages_partner_users_but_not_staff(alpha):
    client = alpha.client(Role.CHANNEL_MANAGER)
    assert client.post(url(alpha.members["other_partner_admin"], "deactivate")).status_code == 200
    # Staff are outside a channel manager's scope altogether.
    assert client.post(url(alpha.members[Role.FINANCE], "deactivate")).status_code == 404
    admin = alpha.client(Role.TENANT_ADMIN)
    assert admin.post(url(alpha.members[Role.FINANCE], "deactivate")).status_code == 200


def test_partner_admin_changes_a_reps_role_within_partner_roles(alpha):
    client = alpha.client(Role.PARTNER_ADMIN)
    rep = alpha.members[Role.PARTNER_REP]
    response = client.post(url(rep, "role"), {"role": "partner_admin"})
    assert response.status_code == 200
    assert response.json()["role"] == "partner_admin"
    response = client.post(url(rep, "role"), {"role": "tenant_admin"})
    assert response.status_code == 400
    assert response.json()["field"] == "role"
    assert client.post(url(rep, "role"), {"role": "wizard"}).status_code == 400


def test_me_for_staff(alpha):
    body = alpha.client(Role.FINANCE).get("/api/v1/me/").json()
    assert body["membership"]["role"] == "finance"
    assert body["membership"]["partner"] is None
    assert body["tenant"] == {
        "slug": "alpha",
        "name": "Alpha Cloud",
        "default_language": "zh-hans",
        "default_currency": "CNY",
        "time_zone": alpha.tenant.time_zone,
    }
