"""The console wears the tenant's brand and links back to the portal."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.console.conftest import HOST_A

pytestmark = pytest.mark.django_db


def test_console_pages_carry_the_tenant_brand_name_and_links(client, tenant_admin, tenant_a):
    tenant_a.brand_color = "#c8102e"
    tenant_a.save(update_fields=["brand_color"])
    for url in [
        reverse("admin:index"),
        reverse("admin:partners_partnerorganization_changelist"),
        reverse("admin:partners_partnerorganization_add"),
    ]:
        html = client.get(url, HTTP_HOST=HOST_A).content.decode()
        assert '<html lang="zh-hans" dir="ltr" style="--brand: #c8102e">' in html, url
        assert "/static/css/console.css" in html
        assert "Alpha Cloud" in html
        assert '<a href="/">' in html  # back to the partner portal
        assert f'action="{reverse("set_language")}"' in html
        assert f'action="{reverse("account_logout")}"' in html


def test_language_switcher_changes_the_console_language(client, tenant_admin):
    response = client.post(
        reverse("set_language"),
        {"language": "ms", "next": reverse("admin:index")},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    html = client.get(reverse("admin:index"), HTTP_HOST=HOST_A).content.decode()
    assert '<html lang="ms"' in html
    assert '<option value="ms" selected lang="ms">' in html


def test_the_console_never_offers_global_tables(client, tenant_admin):
    html = client.get(reverse("admin:index"), HTTP_HOST=HOST_A).content.decode()
    for app in ["/console/auth/", "/console/account/", "/console/mfa/"]:
        assert app not in html
    assert client.get("/console/auth/group/", HTTP_HOST=HOST_A).status_code == 404
