"""Errors come back as {code, detail, field}, and a failed request writes nothing."""

from __future__ import annotations

import pytest
from django.conf import settings

from prm.accounts.models import UserToken
from prm.accounts.roles import Role
from prm.accounts.services import create_user_token
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.api.conftest import client_on

pytestmark = pytest.mark.django_db


def test_domain_error_is_a_400_with_code_detail_and_field(alpha):
    response = alpha.client(Role.CHANNEL_MANAGER).post(
        f"/api/v1/partners/{alpha.partner.pk}/assign-tier/",
        {"tier": alpha.bronze.pk, "reason": "again"},
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "detail", "field"}
    assert (body["code"], body["field"]) == ("same_tier", "tier")
    assert alpha.partner.legal_name in body["detail"]


def test_permission_and_not_found_errors_share_the_shape(alpha):
    client = alpha.client(Role.FINANCE)
    forbidden = client.post(
        f"/api/v1/partners/{alpha.partner.pk}/assign-tier/",
        {"tier": alpha.gold.pk, "reason": "x"},
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "permission_denied"
    assert forbidden.json()["field"] is None
    missing = client.get("/api/v1/partners/999999999/")
    assert missing.json() == {"code": "not_found", "detail": "Not found.", "field": None}


def test_messages_follow_the_tenant_language(alpha):
    client = alpha.client(Role.FINANCE)
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    response = client.get("/api/v1/partners/999999999/")
    # Alpha's partners read Simplified Chinese; the code stays machine-readable.
    assert response["Content-Language"] == "zh-hans"
    assert response.json()["code"] == "not_found"
    assert response.json()["detail"] not in {"", "Not found."}


def test_a_failed_request_rolls_back_everything_it_wrote(alpha):
    """Token use is recorded during authentication; a domain error later in the
    same request must roll that write back along with everything else."""
    token, key = create_user_token(user=alpha.members[Role.CHANNEL_MANAGER].user, name="t")
    client = client_on(alpha.tenant, token=key)
    response = client.post(
        f"/api/v1/partners/{alpha.partner.pk}/assign-tier/",
        {"tier": alpha.bronze.pk, "reason": "again"},
    )
    assert response.status_code == 400
    token.refresh_from_db()
    assert token.last_used_at is None
    with tenant_context(alpha.tenant):
        assert not AuditEvent.objects.filter(action="partner.tier_assigned").exists()

    assert client.get("/api/v1/me/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert UserToken.objects.filter(pk=token.pk, last_used_at__isnull=False).exists()
