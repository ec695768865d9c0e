"""The partner admin's team page: members, invitations, role and access changes."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from prm.accounts.models import Invitation, Membership
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory
from tests.portal.fixtures import HOST_A, HOST_B

pytestmark = pytest.mark.django_db
TEAM = "/team/"


def _invite(world, partner, email, role=Role.PARTNER_REP, by=None):
    from prm.accounts.services import invite_user

    by = by or world.admin_x
    with tenant_context(world.tenant_a):
        return invite_user(
            email=email,
            role=role,
            partner=partner,
            actor=by.user,
            membership=by,
            base_url="http://alpha.localhost/",
        )


def _reload(tenant, model, pk):
    with tenant_context(tenant):
        return model.objects.get(pk=pk)


# --- Who may open it ------------------------------------------------------------


def test_partner_admin_sees_members_and_pending_invitations(english, world):
    invitation = _invite(world, world.partner_x, "new.rep@example.com")
    _invite(world, world.partner_y, "other.partner@example.com", by=world.admin_y)
    english.force_login(world.admin_x.user)

    response = english.get(TEAM, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    html = response.content.decode()
    assert "admin.x@example.com" in html and "rep.x@example.com" in html
    assert "admin.y@example.com" not in html
    assert "new.rep@example.com" in html
    assert reverse("portal:invitation_revoke", args=[invitation.pk]) in html
    assert "other.partner@example.com" not in html
    # No controls against oneself.
    assert reverse("portal:member_active", args=[world.admin_x.pk]) not in html
    assert reverse("portal:member_active", args=[world.rep_x.pk]) in html


@pytest.mark.parametrize("who", ["rep_x", "staff_a"])
def test_team_page_is_forbidden_to_reps_and_staff(client, world, who):
    client.cookies["django_language"] = "en"
    client.force_login(getattr(world, who).user)

    page = client.get(TEAM, HTTP_HOST=HOST_A)
    assert page.status_code == 403
    assert "Access denied" in page.content.decode()
    response = client.post(
        reverse("portal:member_active", args=[world.rep_x.pk]), {"active": "0"}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 403
    assert _reload(world.tenant_a, Membership, world.rep_x.pk).is_active


def test_rep_cannot_invite(client, world):
    client.force_login(world.rep_x.user)

    response = client.post(
        reverse("portal:team_invite"),
        {"email": "sneaky@example.com", "role": Role.PARTNER_ADMIN},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 403
    with tenant_context(world.tenant_a):
        assert not Invitation.objects.filter(email="sneaky@example.com").exists()


def test_team_page_query_count_does_not_grow_with_team_size(
    client, world, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(world.admin_x.user)
    with CaptureQueriesContext(connection) as small:
        assert client.get(TEAM, HTTP_HOST=HOST_A).status_code == 200
    with tenant_context(world.tenant_a):
        MembershipFactory.create_batch(25, partner=world.partner_x)
    for n in range(5):
        _invite(world, world.partner_x, f"pending{n}@example.com")
    with django_assert_num_queries(len(small)):
        assert client.get(TEAM, HTTP_HOST=HOST_A).status_code == 200


# --- Inviting -------------------------------------------------------------------


def test_partner_admin_invites_a_rep_and_the_email_carries_the_link(
    english, world, django_capture_on_commit_callbacks
):
    english.force_login(world.admin_x.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = english.post(
            reverse("portal:team_invite"),
            {"email": "New.Person@Example.com", "role": Role.PARTNER_REP},
            HTTP_HOST=HOST_A,
        )

    assert response.status_code == 302
    assert response["Location"] == TEAM
    with tenant_context(world.tenant_a):
        invitation = Invitation.objects.get(email="new.person@example.com")
        assert invitation.partner_id == world.partner_x.pk
        assert invitation.role == Role.PARTNER_REP
        assert invitation.invited_by_id == world.admin_x.user_id
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "http://alpha.localhost/accounts/invitation/" in body
    assert "Qiming Information Technology Co Ltd" in body
    page = english.get(TEAM, HTTP_HOST=HOST_A).content.decode()
    assert "Invitation sent to new.person@example.com." in page


def test_invite_form_shows_field_errors(english, world):
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:team_invite"),
        {"email": "not-an-address", "role": "tenant_admin"},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="field field--error"' in html
    assert "Enter a valid email address." in html
    assert "Select a valid choice." in html


def test_inviting_someone_who_already_has_access_is_a_field_error_not_a_500(english, world):
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:team_invite"),
        {"email": "rep.y@example.com", "role": Role.PARTNER_REP},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 200
    # rep.y works for another partner: the admin learns only that the address
    # cannot be invited, not who has it.
    html = response.content.decode()
    assert "rep.y@example.com cannot be invited to your organisation." in html
    assert "already has access" not in html


def test_inviting_a_member_of_your_own_organisation_says_they_have_access(english, world):
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:team_invite"),
        {"email": world.rep_x.user.email, "role": Role.PARTNER_REP},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 200
    assert f"{world.rep_x.user.email} already has access." in response.content.decode()


def test_partner_admin_cannot_revive_a_deactivated_staff_member(english, world):
    from prm.accounts.models import Invitation
    from prm.tenancy.context import tenant_context
    from tests.factories import MembershipFactory

    with tenant_context(world.tenant_a):
        staff = MembershipFactory(staff=True, is_active=False)
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:team_invite"),
        {"email": staff.user.email, "role": Role.PARTNER_REP},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 200
    assert "cannot be invited to your organisation" in response.content.decode()
    with tenant_context(world.tenant_a):
        assert not Invitation.objects.filter(email=staff.user.email).exists()


def test_second_open_invitation_for_same_address_is_a_field_error(english, world):
    _invite(world, world.partner_x, "twice@example.com")
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:team_invite"),
        {"email": "twice@example.com", "role": Role.PARTNER_REP},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 200
    assert "An invitation for twice@example.com is already open." in response.content.decode()


def test_htmx_invite_returns_only_the_team_section_with_errors(english, world):
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:team_invite"),
        {"email": "", "role": Role.PARTNER_REP},
        HTTP_HOST=HOST_A,
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="team"')
    assert "<html" not in html
    assert "This field is required." in html


# --- Role and access changes -------------------------------------------------------


def test_partner_admin_deactivates_and_reactivates_a_rep(english, world):
    english.force_login(world.admin_x.user)
    url = reverse("portal:member_active", args=[world.rep_x.pk])

    response = english.post(url, {"active": "0"}, HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert not _reload(world.tenant_a, Membership, world.rep_x.pk).is_active
    english.post(url, {"active": "1"}, HTTP_HOST=HOST_A)
    assert _reload(world.tenant_a, Membership, world.rep_x.pk).is_active
    with tenant_context(world.tenant_a):
        actions = list(
            AuditEvent.objects.filter(object_id=str(world.rep_x.pk)).values_list(
                "action", flat=True
            )
        )
    assert sorted(actions) == ["membership.activated", "membership.deactivated"]


def test_htmx_deactivate_returns_the_updated_team_section(english, world):
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:member_active", args=[world.rep_x.pk]),
        {"active": "0"},
        HTTP_HOST=HOST_A,
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="team"')
    assert "Deactivated" in html
    assert "can no longer sign in to this portal" in html


def test_partner_admin_promotes_a_rep_to_admin(english, world):
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:member_role", args=[world.rep_x.pk]),
        {"role": Role.PARTNER_ADMIN},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 302
    assert _reload(world.tenant_a, Membership, world.rep_x.pk).role == Role.PARTNER_ADMIN


def test_role_change_to_a_staff_role_is_refused(english, world):
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:member_role", args=[world.rep_x.pk]),
        {"role": Role.TENANT_ADMIN},
        HTTP_HOST=HOST_A,
        follow=True,
    )

    assert response.status_code == 200
    assert "Choose a valid role." in response.content.decode()
    assert _reload(world.tenant_a, Membership, world.rep_x.pk).role == Role.PARTNER_REP


def test_admin_cannot_deactivate_themselves_and_sees_why(english, world):
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:member_active", args=[world.admin_x.pk]),
        {"active": "0"},
        HTTP_HOST=HOST_A,
        follow=True,
    )

    assert response.status_code == 200
    assert "You cannot deactivate your own access." in response.content.decode()
    assert _reload(world.tenant_a, Membership, world.admin_x.pk).is_active


# --- Isolation -----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["member_active", "member_role"])
def test_admin_cannot_act_on_another_partners_member_in_same_tenant(client, world, action):
    client.force_login(world.admin_x.user)
    data = {"active": "0"} if action == "member_active" else {"role": Role.PARTNER_ADMIN}

    response = client.post(
        reverse(f"portal:{action}", args=[world.rep_y.pk]), data, HTTP_HOST=HOST_A
    )

    assert response.status_code == 404
    target = _reload(world.tenant_a, Membership, world.rep_y.pk)
    assert target.is_active and target.role == Role.PARTNER_REP


@pytest.mark.parametrize("action", ["member_active", "member_role"])
def test_admin_cannot_act_on_another_tenants_member(client, world, action):
    client.force_login(world.admin_x.user)
    data = {"active": "0"} if action == "member_active" else {"role": Role.PARTNER_ADMIN}

    response = client.post(
        reverse(f"portal:{action}", args=[world.rep_z.pk]), data, HTTP_HOST=HOST_A
    )

    assert response.status_code == 404
    target = _reload(world.tenant_b, Membership, world.rep_z.pk)
    assert target.is_active and target.role == Role.PARTNER_REP


def test_admin_cannot_act_on_staff_membership(client, world):
    client.force_login(world.admin_x.user)

    response = client.post(
        reverse("portal:member_active", args=[world.staff_a.pk]), {"active": "0"}, HTTP_HOST=HOST_A
    )

    assert response.status_code == 404
    assert _reload(world.tenant_a, Membership, world.staff_a.pk).is_active


def test_admin_of_tenant_b_cannot_reach_tenant_a_team_actions_from_b_host(client, world):
    client.force_login(world.admin_z.user)

    response = client.post(
        reverse("portal:member_active", args=[world.rep_x.pk]), {"active": "0"}, HTTP_HOST=HOST_B
    )

    assert response.status_code == 404
    assert _reload(world.tenant_a, Membership, world.rep_x.pk).is_active


# --- Revoking invitations ----------------------------------------------------------------


def test_partner_admin_withdraws_an_invitation(english, world):
    invitation = _invite(world, world.partner_x, "withdraw.me@example.com")
    english.force_login(world.admin_x.user)

    response = english.post(
        reverse("portal:invitation_revoke", args=[invitation.pk]), HTTP_HOST=HOST_A, follow=True
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "The invitation to withdraw.me@example.com was withdrawn." in html
    assert reverse("portal:invitation_revoke", args=[invitation.pk]) not in html
    revoked = _reload(world.tenant_a, Invitation, invitation.pk)
    assert revoked.revoked_at is not None
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.filter(
            action="invitation.revoked", object_id=str(invitation.pk)
        ).exists()


def test_revoked_invitation_cannot_be_revoked_again(client, world):
    invitation = _invite(world, world.partner_x, "once@example.com")
    client.force_login(world.admin_x.user)
    url = reverse("portal:invitation_revoke", args=[invitation.pk])

    assert client.post(url, HTTP_HOST=HOST_A).status_code == 302
    assert client.post(url, HTTP_HOST=HOST_A).status_code == 404


def test_admin_cannot_revoke_another_partners_invitation(client, world):
    invitation = _invite(world, world.partner_y, "y.invite@example.com", by=world.admin_y)
    client.force_login(world.admin_x.user)

    response = client.post(
        reverse("portal:invitation_revoke", args=[invitation.pk]), HTTP_HOST=HOST_A
    )

    assert response.status_code == 404
    assert _reload(world.tenant_a, Invitation, invitation.pk).revoked_at is None


def test_admin_cannot_revoke_another_tenants_invitation(client, world):
    from prm.accounts.services import invite_user

    with tenant_context(world.tenant_b):
        invitation = invite_user(
            email="z.invite@example.com",
            role=Role.PARTNER_REP,
            partner=world.partner_z,
            actor=world.admin_z.user,
            membership=world.admin_z,
            base_url="http://bravo.localhost/",
        )
    client.force_login(world.admin_x.user)

    response = client.post(
        reverse("portal:invitation_revoke", args=[invitation.pk]), HTTP_HOST=HOST_A
    )

    assert response.status_code == 404
    assert _reload(world.tenant_b, Invitation, invitation.pk).revoked_at is None


def test_revoke_invitation_service_checks_permission(world):
    from prm.accounts.services import revoke_invitation
    from prm.errors import PermissionDenied

    invitation = _invite(world, world.partner_x, "perm@example.com")
    with tenant_context(world.tenant_a):
        with pytest.raises(PermissionDenied):
            revoke_invitation(invitation=invitation, actor=world.rep_x.user, membership=world.rep_x)
        with pytest.raises(PermissionDenied):
            revoke_invitation(
                invitation=invitation, actor=world.admin_y.user, membership=world.admin_y
            )
        # Staff who may invite any partner user may also withdraw the invitation.
        revoke_invitation(invitation=invitation, actor=world.staff_a.user, membership=world.staff_a)
        assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None
