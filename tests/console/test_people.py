"""Staff management, invitations and API keys in the console, all through services."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from prm.accounts.models import ApiKey, Invitation, Membership
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.console.conftest import HOST_A

pytestmark = pytest.mark.django_db

INVITE = reverse("admin:accounts_membership_invite")
MEMBERSHIPS = reverse("admin:accounts_membership_changelist")


def test_tenant_admin_invites_staff_and_an_email_goes_out(
    client, tenant_admin, tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            INVITE, {"email": "New.Finance@Example.com", "role": Role.FINANCE}, HTTP_HOST=HOST_A
        )
    assert response.status_code == 302
    assert response["Location"] == MEMBERSHIPS
    with tenant_context(tenant_a):
        invitation = Invitation.objects.get()
        assert (invitation.email, invitation.role, invitation.partner) == (
            "new.finance@example.com",
            Role.FINANCE,
            None,
        )
        assert invitation.invited_by == tenant_admin.user
        assert AuditEvent.objects.filter(action="invitation.sent").count() == 1
    assert [m.to for m in mail.outbox] == [["new.finance@example.com"]]
    assert "http://alpha.localhost/accounts/invitation/" in mail.outbox[0].body
    assert LogEntry.objects.count() == 0


def test_channel_manager_may_invite_partner_users_but_not_staff(
    client, channel_manager, make_member, tenant_a
):
    partner = make_member(Role.PARTNER_ADMIN).partner
    form = client.get(INVITE, HTTP_HOST=HOST_A).context["form"]
    assert {value for value, _label in form.fields["role"].choices} == {
        Role.PARTNER_ADMIN,
        Role.PARTNER_REP,
    }
    refused = client.post(
        INVITE, {"email": "boss@example.com", "role": Role.TENANT_ADMIN}, HTTP_HOST=HOST_A
    )
    assert refused.status_code == 200
    assert "role" in refused.context["form"].errors
    accepted = client.post(
        INVITE,
        {"email": "rep@partner.example", "role": Role.PARTNER_REP, "partner": partner.pk},
        HTTP_HOST=HOST_A,
    )
    assert accepted.status_code == 302
    with tenant_context(tenant_a):
        assert list(Invitation.objects.values_list("email", flat=True)) == ["rep@partner.example"]


def test_partner_role_without_partner_is_a_form_error_from_the_service(client, tenant_admin):
    response = client.post(
        INVITE, {"email": "x@example.com", "role": Role.PARTNER_REP}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    assert "partner" in response.context["form"].errors


def test_inviting_someone_who_already_has_access_is_refused(client, tenant_admin, make_member):
    existing = make_member(Role.FINANCE)
    response = client.post(
        INVITE, {"email": existing.user.email, "role": Role.FINANCE}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    assert "email" in response.context["form"].errors


def test_channel_managers_do_not_see_staff_memberships(
    client, channel_manager, make_member, tenant_a
):
    colleague = make_member(Role.FINANCE)
    partner_user = make_member(Role.PARTNER_REP)
    html = client.get(MEMBERSHIPS, HTTP_HOST=HOST_A).content.decode()
    assert partner_user.user.email in html
    assert colleague.user.email not in html
    url = reverse("admin:accounts_membership_change", args=[colleague.pk])
    assert client.get(url, HTTP_HOST=HOST_A).status_code == 404


def test_tenant_admin_deactivates_and_reactivates_staff(
    client, tenant_admin, make_member, tenant_a
):
    target = make_member(Role.CHANNEL_MANAGER)
    deactivate = reverse("admin:accounts_membership_deactivate", args=[target.pk])
    assert client.get(deactivate, HTTP_HOST=HOST_A).status_code == 200
    response = client.post(deactivate, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(tenant_a):
        target.refresh_from_db()
        assert not target.is_active
        assert AuditEvent.objects.filter(
            action="membership.deactivated", object_id=str(target.pk)
        ).exists()
    reactivate = reverse("admin:accounts_membership_reactivate", args=[target.pk])
    client.post(reactivate, HTTP_HOST=HOST_A)
    with tenant_context(tenant_a):
        target.refresh_from_db()
        assert target.is_active


def test_nobody_deactivates_themselves(client, tenant_admin, tenant_a):
    url = reverse("admin:accounts_membership_deactivate", args=[tenant_admin.pk])
    response = client.post(url, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    with tenant_context(tenant_a):
        tenant_admin.refresh_from_db()
        assert tenant_admin.is_active


def test_bulk_deactivation_reports_each_refusal(client, tenant_admin, make_member, tenant_a):
    other = make_member(Role.FINANCE)
    response = client.post(
        MEMBERSHIPS,
        {"action": "deactivate_selected", "_selected_action": [other.pk, tenant_admin.pk]},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    levels = sorted(m.level_tag for m in get_messages(response.wsgi_request))
    assert levels == ["error", "success"]
    with tenant_context(tenant_a):
        assert not Membership.objects.get(pk=other.pk).is_active
        assert Membership.objects.get(pk=tenant_admin.pk).is_active


def test_membership_of_tenant_b_is_a_404_on_tenant_a(client, tenant_admin, make_member, tenant_b):
    foreign = make_member(Role.FINANCE, tenant=tenant_b)
    for name in ["change", "deactivate"]:
        url = reverse(f"admin:accounts_membership_{name}", args=[foreign.pk])
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 404
        assert client.post(url, HTTP_HOST=HOST_A).status_code == 404
    with tenant_context(tenant_b):
        assert Membership.objects.get(pk=foreign.pk).is_active


def test_revoking_an_invitation_from_the_console(client, tenant_admin, tenant_a):
    client.post(INVITE, {"email": "later@example.com", "role": Role.FINANCE}, HTTP_HOST=HOST_A)
    with tenant_context(tenant_a):
        invitation = Invitation.objects.get()
    response = client.post(
        reverse("admin:accounts_invitation_changelist"),
        {"action": "revoke_selected", "_selected_action": [invitation.pk]},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        invitation.refresh_from_db()
        assert invitation.revoked_at is not None
        assert AuditEvent.objects.filter(action="invitation.revoked").exists()


def test_invitation_of_tenant_b_is_a_404_on_tenant_a(client, tenant_admin, tenant_b, make_member):
    from tests.factories import UserFactory

    admin_b = make_member(Role.TENANT_ADMIN, tenant=tenant_b)
    with tenant_context(tenant_b):
        from prm.accounts.services import invite_user

        invitation = invite_user(
            email="b@example.com",
            role=Role.FINANCE,
            actor=UserFactory(),
            membership=admin_b,
            base_url="http://bravo.localhost",
        )
    url = reverse("admin:accounts_invitation_change", args=[invitation.pk])
    assert client.get(url, HTTP_HOST=HOST_A).status_code == 404


def test_api_key_is_created_through_the_service_and_shown_once(client, tenant_admin, tenant_a):
    response = client.post(
        reverse("admin:accounts_apikey_add"),
        {"name": "CRM sync", "role": Role.FINANCE},
        HTTP_HOST=HOST_A,
        follow=True,
    )
    assert response.status_code == 200
    with tenant_context(tenant_a):
        api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.role, api_key.created_by) == (
        "CRM sync",
        Role.FINANCE,
        tenant_admin.user,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1
    # The tenant's language may not put a space before the key (zh-hans does not).
    key = re.search(r"prm_[0-9a-f]{8}_[A-Za-z0-9_-]+", shown[0]).group(0)
    assert ApiKey.hash_key(key) == api_key.key_hash
    again = client.get(reverse("admin:accounts_apikey_change", args=[api_key.pk]), HTTP_HOST=HOST_A)
    assert key not in again.content.decode()


def test_api_key_revocation(client, tenant_admin, tenant_a):
    from prm.accounts.services import create_api_key

    with tenant_context(tenant_a):
        api_key, _key = create_api_key(
            name="Billing", actor=tenant_admin.user, membership=tenant_admin
        )
    response = client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [api_key.pk]},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        api_key.refresh_from_db()
        assert api_key.revoked_at is not None
        assert AuditEvent.objects.filter(action="api_key.revoked").exists()
