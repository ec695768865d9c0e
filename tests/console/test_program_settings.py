"""Tenant admins change their program's settings in the console; nobody else can."""

from __future__ import annotations

import pytest
from django.urls import reverse

from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.console.conftest import HOST_A, HOST_B

pytestmark = pytest.mark.django_db

URL = "/console/settings/"


def settings_form(**overrides) -> dict:
    data = {
        "default_language": "zh-hans",
        "default_currency": "CNY",
        "time_zone": "Asia/Shanghai",
        "brand_color": "#aa3300",
        "require_mfa_for_staff": "on",
    }
    data.update(overrides)
    return data


def test_tenant_admin_changes_settings_and_the_change_is_audited(client, tenant_admin, tenant_a):
    response = client.post(URL, settings_form(), HTTP_HOST=HOST_A)

    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert (tenant_a.brand_color, tenant_a.require_mfa_for_staff, tenant_a.time_zone) == (
        "#aa3300",
        True,
        "Asia/Shanghai",
    )
    with tenant_context(tenant_a):
        event = AuditEvent.objects.get(action="tenant.settings_changed")
    assert event.actor == tenant_admin.user
    assert event.data["brand_color"] == {"from": "#1f6feb", "to": "#aa3300"}


def test_requiring_mfa_then_sends_staff_to_set_up_an_authenticator(client, tenant_admin, tenant_a):
    client.post(URL, settings_form(), HTTP_HOST=HOST_A)

    response = client.get(reverse("admin:index"), HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


def test_bad_values_are_per_field_errors_and_change_nothing(client, tenant_admin, tenant_a):
    client.cookies["django_language"] = "en"
    response = client.post(
        URL, settings_form(brand_color="red", time_zone="Mars/Olympus"), HTTP_HOST=HOST_A
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"brand_color", "time_zone"}
    tenant_a.refresh_from_db()
    assert tenant_a.brand_color == "#1f6feb"


@pytest.mark.parametrize("role", [Role.CHANNEL_MANAGER, Role.FINANCE])
def test_other_staff_cannot_change_settings(client, login_as, tenant_a, role):
    login_as(role)
    assert client.get(URL, HTTP_HOST=HOST_A).status_code == 403
    assert client.post(URL, settings_form(), HTTP_HOST=HOST_A).status_code == 403
    tenant_a.refresh_from_db()
    assert not tenant_a.require_mfa_for_staff


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.PARTNER_REP])
def test_partner_users_never_reach_settings(client, login_as, tenant_a, role):
    login_as(role)
    assert client.post(URL, settings_form(), HTTP_HOST=HOST_A).status_code == 403
    tenant_a.refresh_from_db()
    assert tenant_a.brand_color == "#1f6feb"


def test_a_tenant_admin_changes_only_their_own_tenant(client, tenant_admin, tenant_a, tenant_b):
    # Signed in on A; the same browser on B's host has no membership there.
    response = client.post(URL, settings_form(), HTTP_HOST=HOST_B)
    assert response.status_code == 403
    tenant_b.refresh_from_db()
    assert tenant_b.brand_color == "#1f6feb"
    assert not tenant_b.require_mfa_for_staff
