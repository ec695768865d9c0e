"""``manage.py seed_demo``: two complete, believable vendors, and idempotent."""

from __future__ import annotations

from collections import Counter, defaultdict
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from partners.defaults import (
    DEFAULT_PARTNER_TYPES,
    DEFAULT_TIERS,
    DEMO_LOGINS,
    DEMO_OPERATOR_EMAIL,
    DEMO_PASSWORD,
    DEMO_TENANTS,
)
from partners.models import PartnerOrganization, PartnerType, Tier, TierChange
from partners.selectors import tier_history
from prm.accounts.models import Membership, User
from prm.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context, user_context
from prm.tenancy.models import Tenant, TenantModel

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, list[dict]]:
    """Every row of every table, per tenant for tenant-owned tables."""
    tenants = list(Tenant.objects.order_by("pk"))
    rows: dict[str, list[dict]] = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if issubclass(model, TenantModel):
            for tenant in tenants:
                with tenant_context(tenant):
                    rows[f"{tenant.slug}:{label}"] = list(
                        model._default_manager.order_by("pk").values()
                    )
        else:
            rows[label] = list(model._default_manager.order_by("pk").values())
    return rows


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


def test_seeding_twice_creates_and_changes_nothing():
    seed("--quiet")
    first = snapshot()
    assert len(first["yunfan:partners.partnerorganization"]) >= 5

    output = seed()
    second = snapshot()

    assert {table: len(r) for table, r in second.items()} == {
        table: len(r) for table, r in first.items()
    }
    assert second == first
    assert "0 rows created, 0 tier changes recorded" in output


def test_quiet_prints_nothing_and_the_summary_names_both_portals():
    assert seed("--quiet") == ""

    output = seed()

    for demo in DEMO_TENANTS:
        assert f"http://{demo.slug}.localhost:8000/" in output
    assert DEMO_OPERATOR_EMAIL in output


def test_every_demo_login_signs_in_with_its_role():
    seed("--quiet")
    request = RequestFactory().post("/accounts/login/")

    for slug, email, role in DEMO_LOGINS:
        user = authenticate(request, email=email, password=DEMO_PASSWORD)
        assert user is not None, email
        with tenant_context(Tenant.objects.get(slug=slug)):
            membership = Membership.objects.get(user=user)
        assert (membership.role, membership.is_active) == (role, True), email
        assert (membership.partner_id is not None) == (role in PARTNER_ROLES), email
    assert authenticate(request, email=DEMO_LOGINS[0][1], password="not-the-password") is None


def test_the_platform_operator_is_a_superuser_without_tenant_memberships():
    seed("--quiet")

    operator = User.objects.get(email=DEMO_OPERATOR_EMAIL)

    assert operator.is_superuser and operator.is_staff
    assert operator.check_password(DEMO_PASSWORD)
    for tenant in Tenant.objects.all():
        with tenant_context(tenant):
            assert not Membership.objects.filter(user=operator).exists()


def test_tenants_carry_their_language_currency_and_time_zone():
    seed("--quiet")

    for demo in DEMO_TENANTS:
        tenant = Tenant.objects.get(slug=demo.slug)
        assert (tenant.name, tenant.default_language, tenant.default_currency) == (
            demo.name,
            demo.default_language,
            demo.default_currency,
        )
        assert tenant.time_zone == demo.time_zone
    languages = {demo.default_language for demo in DEMO_TENANTS}
    assert {"zh-hans", "ms"} <= languages


def test_each_vendor_has_the_default_catalogue_and_staff_in_every_role():
    seed("--quiet")

    for demo in DEMO_TENANTS:
        with tenant_context(Tenant.objects.get(slug=demo.slug)):
            assert set(PartnerType.objects.values_list("key", flat=True)) == {
                item.key for item in DEFAULT_PARTNER_TYPES
            }
            assert list(Tier.objects.order_by("rank").values_list("key", flat=True)) == [
                item.key for item in DEFAULT_TIERS
            ]
            staff_roles = Membership.objects.filter(partner=None).values_list("role", flat=True)
            assert set(staff_roles) == set(STAFF_ROLES), demo.slug


def test_each_vendor_has_varied_partners_each_with_an_admin_a_rep_and_a_tier_history():
    seed("--quiet")

    for demo in DEMO_TENANTS:
        with tenant_context(Tenant.objects.get(slug=demo.slug)):
            partners = list(PartnerOrganization.objects.select_related("partner_type", "tier"))
            assert 5 <= len(partners) <= 6, demo.slug
            assert len({partner.partner_type.key for partner in partners}) >= 4
            assert len({partner.tier.key for partner in partners}) >= 3
            assert len({partner.region for partner in partners}) >= 4
            if demo.default_language == "zh-hans":
                assert sum(has_cjk(partner.legal_name) for partner in partners) >= 4
            for partner in partners:
                roles = Counter(
                    Membership.objects.filter(partner=partner).values_list("role", flat=True)
                )
                assert roles[Role.PARTNER_ADMIN] >= 1, partner
                assert roles[Role.PARTNER_REP] >= 1, partner
                history = list(tier_history(partner=partner))
                assert history, partner
                assert history[0].to_tier_id == partner.tier_id
                assert all(change.reason and change.changed_by_id for change in history)
            # Tier changes went through assign_tier, which audits each one.
            assert (
                AuditEvent.objects.filter(action="partner.tier_assigned").count()
                == TierChange.objects.count()
            )


def test_one_reseller_works_with_both_vendors_under_one_login():
    seed("--quiet")
    slugs_by_email: dict[str, set[str]] = defaultdict(set)
    for slug, email, role in DEMO_LOGINS:
        if role in PARTNER_ROLES:
            slugs_by_email[email].add(slug)
    shared = [email for email, slugs in slugs_by_email.items() if len(slugs) > 1]
    assert shared, "DEMO_LOGINS should include a partner user of several vendors"

    user = User.objects.get(email=shared[0])
    with user_context(user.pk):
        memberships = Membership.for_user_everywhere(user)

    assert {membership.tenant.slug for membership in memberships} == {
        demo.slug for demo in DEMO_TENANTS
    }
    assert all(membership.role in PARTNER_ROLES for membership in memberships)


def test_the_readme_lists_every_demo_login_and_portal():
    readme = (ROOT / "README.md").read_text()

    for _slug, email, _role in DEMO_LOGINS:
        assert email in readme
    for demo in DEMO_TENANTS:
        assert f"http://{demo.slug}.localhost:8000/" in readme
    assert DEMO_PASSWORD in readme
    assert DEMO_OPERATOR_EMAIL in readme
