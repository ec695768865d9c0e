"""Host names resolve to exactly one tenant, and custom domains cannot hijack one."""

import pytest
from django.core.exceptions import ValidationError

from prm.tenancy.middleware import tenant_for_host
from prm.tenancy.models import TenantDomain

pytestmark = pytest.mark.django_db


def test_slug_hosts_and_custom_domains_resolve(tenant_a, tenant_b):
    TenantDomain.objects.create(tenant=tenant_b, domain="Partners.Bravo.example")
    assert tenant_for_host("alpha.localhost") == tenant_a
    assert tenant_for_host("partners.bravo.example") == tenant_b
    assert tenant_for_host("partners.bravo.example.") == tenant_b
    assert tenant_for_host("nobody.localhost") is None
    assert tenant_for_host("x.alpha.localhost") is None
    assert tenant_for_host("elsewhere.example") is None


@pytest.mark.parametrize("domain", ["bravo.localhost", "anything.localhost", "localhost"])
def test_custom_domain_cannot_take_a_slug_host_or_the_platform_host(tenant_a, tenant_b, domain):
    with pytest.raises(ValidationError):
        TenantDomain.objects.create(tenant=tenant_a, domain=domain)
    assert tenant_for_host("bravo.localhost") == tenant_b


def test_inactive_tenant_does_not_resolve(tenant_a):
    tenant_a.is_active = False
    tenant_a.save()
    assert tenant_for_host("alpha.localhost") is None


def test_unknown_host_gets_a_friendly_404(client, tenant_a):
    response = client.get("/", HTTP_HOST="nobody.localhost")
    assert response.status_code == 404
    assert b"nobody.localhost" in response.content
