"""The platform site on the bare host: operators only; provisioning a tenant."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.urls import reverse

from partners.defaults import DEFAULT_PARTNER_TYPES
from partners.models import PartnerType, Tier
from prm.accounts.models import Invitation, Membership
from prm.accounts.roles import Capability, Role, can
from prm.accounts.services import accept_invitation
from prm.audit.models import AuditEvent
from prm.errors import PermissionDenied
from prm.tenancy.context import tenant_context
from prm.tenancy.models import Tenant
from prm.tenancy.services import provision_tenant
from tests.console.conftest import PLATFORM_HOST
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PLATFORM_URLS = "prm.urls_platform"


def url(name: str, *args) -> str:
    return reverse(name, urlconf=PLATFORM_URLS, args=args)


@pytest.fixture
def operator(client):
    user = UserFactory(email="op@platform.example", is_superuser=True)
    client.force_login(user)
    return user


def provision_form(**overrides) -> dict:
    data = {
        "name": "Lotus Cloud",
        "slug": "lotus",
        "default_language": "zh-hans",
        "default_currency": "CNY",
        "time_zone": "Asia/Shanghai",
        "brand_color": "#123456",
        "admin_email": "Founder@Lotus.example",
    }
    data.update(overrides)
    return data


def test_anonymous_visitor_is_sent_to_the_allauth_login(client):
    response = client.get("/", HTTP_HOST=PLATFORM_HOST, follow=True)
    final, _status = response.redirect_chain[-1]
    assert final.startswith(url("account_login"))


def test_non_operators_get_the_forbidden_page(client, tenant_a):
    client.force_login(UserFactory())
    response = client.get("/", HTTP_HOST=PLATFORM_HOST)
    assert response.status_code == 403
    assert "console/forbidden.html" in [t.name for t in response.templates]
    response = client.get(url("admin:tenancy_tenant_changelist"), HTTP_HOST=PLATFORM_HOST)
    assert response.status_code == 403


def test_operators_see_tenants_and_logins(client, operator, tenant_a, tenant_b):
    for name in [
        "admin:index",
        "admin:tenancy_tenant_changelist",
        "admin:accounts_user_changelist",
    ]:
        response = client.get(url(name), HTTP_HOST=PLATFORM_HOST)
        assert response.status_code == 200, name
    listing = client.get(url("admin:tenancy_tenant_changelist"), HTTP_HOST=PLATFORM_HOST)
    assert "Alpha Cloud" in listing.content.decode()
    assert "Bravo SaaS" in listing.content.decode()
    tenant_page = client.get(
        url("admin:tenancy_tenant_change", tenant_a.pk), HTTP_HOST=PLATFORM_HOST
    ).content.decode()
    assert "domains-TOTAL_FORMS" in tenant_page  # the TenantDomain inline


def test_provisioning_creates_the_catalogue_and_invites_the_first_admin(
    client, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("admin:tenancy_tenant_add"), provision_form(), HTTP_HOST=PLATFORM_HOST
        )
    tenant = Tenant.objects.get(slug="lotus")
    assert response.status_code == 302
    assert response["Location"] == url("admin:tenancy_tenant_change", tenant.pk)
    assert (tenant.name, tenant.default_language, tenant.default_currency, tenant.time_zone) == (
        "Lotus Cloud",
        "zh-hans",
        "CNY",
        "Asia/Shanghai",
    )
    assert tenant.brand_color == "#123456"
    with tenant_context(tenant):
        assert sorted(PartnerType.objects.values_list("key", flat=True)) == sorted(
            item.key for item in DEFAULT_PARTNER_TYPES
        )
        ladder = [
            (t.key, t.rank, t.commission_rate_modifier, t.mdf_percentage)
            for t in Tier.objects.order_by("rank")
        ]
        assert ladder == [
            ("bronze", 1, Decimal("20.00"), Decimal("2.00")),
            ("silver", 2, Decimal("23.00"), Decimal("3.00")),
            ("gold", 3, Decimal("26.00"), Decimal("4.00")),
            ("platinum", 4, Decimal("30.00"), Decimal("5.00")),
        ]
        invitation = Invitation.objects.get()
        assert (invitation.email, invitation.role, invitation.invited_by) == (
            "founder@lotus.example",
            Role.TENANT_ADMIN,
            operator,
        )
        assert AuditEvent.objects.filter(action="tenant.provisioned").exists()
    assert [m.to for m in mail.outbox] == [["founder@lotus.example"]]
    link = re.search(r"http://lotus\.localhost/accounts/invitation/(\S+)/", mail.outbox[0].body)
    assert link, mail.outbox[0].body

    # The invited person accepts and becomes the tenant's first tenant admin.
    with tenant_context(tenant):
        membership = accept_invitation(token=link.group(1), user=None, password="s3cret-Pass!")
        assert membership.role == Role.TENANT_ADMIN
        assert can(membership, Capability.MANAGE_STAFF)
        assert Membership.objects.count() == 1


def test_a_taken_slug_is_a_form_error(client, operator, tenant_a):
    response = client.post(
        url("admin:tenancy_tenant_add"), provision_form(slug="alpha"), HTTP_HOST=PLATFORM_HOST
    )
    assert response.status_code == 200
    assert "slug" in response.context["form"].errors
    assert Tenant.objects.filter(slug="alpha").count() == 1


def test_provisioning_is_for_platform_operators_only(tenant_a):
    with pytest.raises(PermissionDenied):
        provision_tenant(
            name="Nope",
            slug="nope",
            default_language="en",
            default_currency="USD",
            time_zone="UTC",
            admin_email="x@example.com",
            actor=UserFactory(),
            base_url="http://nope.localhost",
        )
    assert not Tenant.objects.filter(slug="nope").exists()


def test_tenant_data_changed_in_the_console_never_reaches_logentry(client, operator, tenant_a):
    # LogEntry is a global table: the platform may log platform rows there,
    # but nothing the tenant console does writes to it (tested per admin elsewhere).
    client.post(
        url("admin:tenancy_tenant_change", tenant_a.pk),
        {
            "name": "Alpha Cloud",
            "default_language": "zh-hans",
            "default_currency": "CNY",
            "time_zone": "Asia/Shanghai",
            "brand_color": "#00ff00",
            "is_active": "on",
            "domains-TOTAL_FORMS": "1",
            "domains-INITIAL_FORMS": "0",
            "domains-MIN_NUM_FORMS": "0",
            "domains-MAX_NUM_FORMS": "1000",
            "domains-0-domain": "partners.alpha.example",
            "domains-0-is_primary": "on",
        },
        HTTP_HOST=PLATFORM_HOST,
    )
    tenant_a.refresh_from_db()
    assert tenant_a.brand_color == "#00ff00"
    assert tenant_a.primary_host == "partners.alpha.example"
    assert {entry.object_repr for entry in LogEntry.objects.all()} == {"Alpha Cloud"}


def test_operator_creates_a_login(client, operator):
    response = client.post(
        url("admin:accounts_user_add"),
        {
            "email": "New.Operator@Example.com",
            "full_name": "New Operator",
            "usable_password": "true",
            "password1": "a-Long-unguessable-pass-42",
            "password2": "a-Long-unguessable-pass-42",
        },
        HTTP_HOST=PLATFORM_HOST,
    )
    assert response.status_code == 302
    from prm.accounts.models import User

    assert User.objects.get(email="new.operator@example.com").check_password(
        "a-Long-unguessable-pass-42"
    )


def test_operator_login_round_trip_through_allauth(client):
    from tests.factories import PASSWORD

    operator = UserFactory(is_superuser=True)
    redirected = client.get(url("admin:tenancy_tenant_changelist"), HTTP_HOST=PLATFORM_HOST)
    login_page = client.get(redirected["Location"], HTTP_HOST=PLATFORM_HOST)
    assert login_page.status_code == 302
    assert login_page["Location"].startswith(url("account_login"))
    response = client.post(
        login_page["Location"],
        {
            "login": operator.email,
            "password": PASSWORD,
            "next": url("admin:tenancy_tenant_changelist"),
        },
        HTTP_HOST=PLATFORM_HOST,
    )
    assert response.status_code == 302
    assert response["Location"] == url("admin:tenancy_tenant_changelist")
    assert client.get(response["Location"], HTTP_HOST=PLATFORM_HOST).status_code == 200


def test_logins_cannot_be_deleted_on_the_platform_site_only_deactivated(client, operator):
    person = UserFactory(email="leaving@example.com")
    response = client.post(
        url("platform:accounts_user_delete", person.pk), {"post": "yes"}, HTTP_HOST="localhost"
    )
    assert response.status_code == 403
    person.refresh_from_db()
    assert person.is_active
