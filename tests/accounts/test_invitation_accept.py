"""Accepting an invitation at /accounts/invitation/<token>/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse
from django.utils import timezone

from prm.accounts.models import Invitation, Membership, User
from prm.accounts.roles import Role
from prm.tenancy.context import tenant_context
from tests.factories import PASSWORD
from tests.portal.fixtures import HOST_A, HOST_B

pytestmark = pytest.mark.django_db
STRONG = "amber-quokka-lantern-92"


@pytest.fixture
def capture_token(monkeypatch):
    """Remember the raw token invite_user generates (only its hash is stored)."""
    tokens = []
    original = Invitation.new_token

    def spy():
        token, token_hash = original()
        tokens.append(token)
        return token, token_hash

    monkeypatch.setattr(Invitation, "new_token", staticmethod(spy))
    return tokens


def invite(world, email, *, tenant=None, by=None, partner=None, role=Role.PARTNER_REP):
    from prm.accounts.services import invite_user

    tenant = tenant or world.tenant_a
    by = by or world.admin_x
    with tenant_context(tenant):
        return invite_user(
            email=email,
            role=role,
            partner=partner or by.partner,
            actor=by.user,
            membership=by,
            base_url=f"http://{tenant.slug}.localhost/",
        )


def url(token):
    return reverse("accounts:invitation", args=[token])


def test_new_person_sets_name_and_password_and_lands_on_home(english, world, capture_token):
    invite(world, "newbie@example.com")
    token = capture_token[-1]

    page = english.get(url(token), HTTP_HOST=HOST_A)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Qiming Information Technology Co Ltd" in html and "Partner rep" in html
    assert 'name="password1"' in html

    response = english.post(
        url(token),
        {"full_name": "Chen Jie", "password1": STRONG, "password2": STRONG},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    user = User.objects.get(email="newbie@example.com")
    assert user.full_name == "Chen Jie"
    assert user.check_password(STRONG)
    assert int(english.session[SESSION_KEY]) == user.pk
    with tenant_context(world.tenant_a):
        membership = Membership.objects.get(user=user)
        assert membership.partner_id == world.partner_x.pk
        assert membership.role == Role.PARTNER_REP
        assert Invitation.objects.get(email="newbie@example.com").accepted_at is not None
    home = english.get(reverse("portal:home"), HTTP_HOST=HOST_A)
    assert home.status_code == 200
    assert "Qiming Information Technology Co Ltd" in home.content.decode()


def test_weak_or_mismatched_passwords_get_field_errors(english, world, capture_token):
    invite(world, "weak@example.com")
    token = capture_token[-1]

    weak = english.post(
        url(token),
        {"full_name": "Weak", "password1": "12345678", "password2": "12345678"},
        HTTP_HOST=HOST_A,
    )
    mismatch = english.post(
        url(token),
        {"full_name": "Weak", "password1": STRONG, "password2": STRONG + "x"},
        HTTP_HOST=HOST_A,
    )

    assert weak.status_code == 200
    assert "This password is too common." in weak.content.decode()
    assert "field field--error" in weak.content.decode()
    assert "The two passwords do not match." in mismatch.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()
    with tenant_context(world.tenant_a):
        assert Invitation.objects.get(email="weak@example.com").accepted_at is None


def test_password_similar_to_the_address_is_refused(english, world, capture_token):
    invite(world, "marigold.sunshine@example.com")

    response = english.post(
        url(capture_token[-1]),
        {"full_name": "M S", "password1": "marigold.sunshine", "password2": "marigold.sunshine"},
        HTTP_HOST=HOST_A,
    )

    assert "too similar" in response.content.decode()
    assert not User.objects.filter(email="marigold.sunshine@example.com").exists()


def test_existing_person_must_sign_in_before_accepting(english, world, capture_token):
    # admin.z already has a login (a member of tenant B); anonymous access must not accept.
    invite(world, "admin.z@example.com")
    token = capture_token[-1]

    page = english.get(url(token), HTTP_HOST=HOST_A)
    posted = english.post(
        url(token),
        {"full_name": "Intruder", "password1": STRONG, "password2": STRONG},
        HTTP_HOST=HOST_A,
    )

    assert page.status_code == 200
    assert f"{reverse('account_login')}?next=" in page.content.decode()
    assert 'name="password1"' not in page.content.decode()
    assert posted.status_code == 200
    assert SESSION_KEY not in english.session
    with tenant_context(world.tenant_a):
        assert not Membership.objects.filter(user=world.admin_z.user).exists()
    assert not User.objects.get(pk=world.admin_z.user_id).check_password(STRONG)


def test_existing_person_signed_in_as_the_invited_address_accepts(english, world, capture_token):
    invite(world, "admin.z@example.com")
    token = capture_token[-1]
    english.force_login(world.admin_z.user)

    page = english.get(url(token), HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert "Accept invitation" in page.content.decode()

    response = english.post(url(token), HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    with tenant_context(world.tenant_a):
        assert Membership.objects.get(user=world.admin_z.user).partner_id == world.partner_x.pk
    assert english.get(reverse("portal:home"), HTTP_HOST=HOST_A).status_code == 200


def test_signed_in_as_someone_else_is_told_to_sign_out(english, world, capture_token):
    invite(world, "someone.else@example.com")
    token = capture_token[-1]
    english.force_login(world.rep_y.user)

    page = english.get(url(token), HTTP_HOST=HOST_A)
    posted = english.post(url(token), HTTP_HOST=HOST_A)

    assert page.status_code == 403
    assert "This invitation was sent to someone.else@example.com" in page.content.decode()
    assert posted.status_code == 403
    with tenant_context(world.tenant_a):
        assert Invitation.objects.get(email="someone.else@example.com").accepted_at is None


def test_login_page_reached_from_invitation_returns_to_it(english, world, capture_token):
    invite(world, "admin.z@example.com")
    token = capture_token[-1]

    response = english.post(
        f"{reverse('account_login')}?next={url(token)}",
        {"login": "admin.z@example.com", "password": PASSWORD, "next": url(token)},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 302
    assert response["Location"] == url(token)
    assert english.get(url(token), HTTP_HOST=HOST_A).status_code == 200


@pytest.mark.parametrize("state", ["unknown", "expired", "revoked", "accepted"])
def test_invalid_invitation_gets_a_friendly_page(english, world, capture_token, state):
    invitation = invite(world, "stale@example.com")
    token = capture_token[-1]
    with tenant_context(world.tenant_a):
        if state == "expired":
            invitation.expires_at = timezone.now() - timedelta(minutes=1)
        elif state == "revoked":
            invitation.revoked_at = timezone.now()
        elif state == "accepted":
            invitation.accepted_at = timezone.now()
        invitation.save()
    if state == "unknown":
        token = "not-a-real-token"

    response = english.get(url(token), HTTP_HOST=HOST_A)
    posted = english.post(
        url(token),
        {"full_name": "Late", "password1": STRONG, "password2": STRONG},
        HTTP_HOST=HOST_A,
    )

    assert response.status_code == 404
    assert "This invitation link is invalid, has expired" in response.content.decode()
    assert posted.status_code == 404
    assert not User.objects.filter(email="stale@example.com").exists()


def test_invitation_of_tenant_b_is_not_found_on_tenant_a_host(english, world, capture_token):
    invite(world, "b.person@example.com", tenant=world.tenant_b, by=world.admin_z)
    token = capture_token[-1]

    on_a = english.get(url(token), HTTP_HOST=HOST_A)
    posted_on_a = english.post(
        url(token),
        {"full_name": "B", "password1": STRONG, "password2": STRONG},
        HTTP_HOST=HOST_A,
    )

    assert on_a.status_code == 404
    assert posted_on_a.status_code == 404
    assert not User.objects.filter(email="b.person@example.com").exists()
    assert english.get(url(token), HTTP_HOST=HOST_B).status_code == 200


def test_invited_user_joins_the_partner_of_the_invitation_only(english, world, capture_token):
    invite(world, "y.newbie@example.com", by=world.admin_y)
    english.post(
        url(capture_token[-1]),
        {"full_name": "Y", "password1": STRONG, "password2": STRONG},
        HTTP_HOST=HOST_A,
    )

    html = english.get(reverse("portal:home"), HTTP_HOST=HOST_A).content.decode()

    assert "Yonder Systems Ltd" in html
    assert "Qiming" not in html


def test_invitation_email_names_inviter_partner_and_link(
    world, capture_token, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(world, "mail.me@example.com")

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["mail.me@example.com"]
    assert f"http://alpha.localhost/accounts/invitation/{capture_token[-1]}/" in message.body
    assert "Li Ming" in message.body
    assert "Qiming Information Technology Co Ltd" in message.body
    assert "Alpha Cloud" in message.subject


def test_service_never_signs_in_an_existing_login_without_its_password(tenant_a):
    from prm.accounts import services
    from prm.accounts.models import Invitation
    from prm.errors import PermissionDenied
    from prm.tenancy.context import tenant_context
    from tests.factories import UserFactory

    existing = UserFactory(email="known@example.com")
    with tenant_context(tenant_a):
        token, token_hash = Invitation.new_token()
        Invitation.objects.create(
            email=existing.email,
            role="tenant_admin",
            token_hash=token_hash,
            expires_at=timezone.now() + timedelta(days=1),
        )
        with pytest.raises(PermissionDenied):
            services.accept_invitation(token=token, user=None, password="whatever-1234")
        assert not existing.memberships.exists()
