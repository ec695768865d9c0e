"""Commission plans in the console: who sees and who changes them, the draft
rule forms (per-field errors, localised decimals, comma-separated lists), the
lifecycle actions through the services, read-only published versions,
tenant isolation and constant query counts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from incentives import services
from incentives.models import CommissionPlan, CommissionRule, PlanVersion
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

HOST_A = "alpha.localhost"
PLANS = reverse("admin:incentives_commissionplan_changelist")
VERSIONS = reverse("admin:incentives_planversion_changelist")
Status = PlanVersion.Status


def version_url(version, name="change", *args) -> str:
    return reverse(f"admin:incentives_planversion_{name}", args=[version.pk, *args])


def plan_url(plan) -> str:
    return reverse("admin:incentives_commissionplan_change", args=[plan.pk])


def errors_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request) if m.level == messages.ERROR]


def make_draft(world, name="Resellers") -> PlanVersion:
    with tenant_context(world.tenant):
        plan = services.create_plan(membership=world.admin, actor=world.admin.user, name=name)
        return plan.versions.get()


def add_rule(world, version, **fields) -> CommissionRule:
    data = {
        "name": "Gold commission",
        "kind": "tier_commission",
        "tier_keys": ["gold"],
        "rate": "26",
    }
    data.update(fields)
    with tenant_context(world.tenant):
        return services.add_rule(
            version=version, membership=world.admin, actor=world.admin.user, data=data
        )


def published(world, name="Published plan") -> PlanVersion:
    version = make_draft(world, name)
    add_rule(world, version)
    with tenant_context(world.tenant):
        return services.publish_version(
            version=version,
            membership=world.admin,
            actor=world.admin.user,
            effective_from=timezone.localdate(),
        )


RULE_POST = {
    "name": "Platinum push",
    "kind": "tier_commission",
    "priority": "5",
    "tier_keys": "platinum, gold",
    "countries": "my, sg",
    "registered": "any",
    "co_sell_role": "any",
    "payout": "percentage",
    "rate": "27.5",
    "base": "first_year_value",
    "currency": "",
}


@pytest.fixture
def admin_client(client, plan_world):
    client.force_login(plan_world.admin.user)
    return client


# --- who may look, who may change --------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("finance", 200), ("manager", 403), ("rep", 403)],
)
def test_plan_pages_are_for_tenant_admins_and_finance(client, plan_world, role, status):
    version = published(plan_world)
    client.force_login(getattr(plan_world, role).user)
    for url in (PLANS, plan_url(version.plan), VERSIONS, version_url(version)):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == status, url


def test_finance_reads_but_cannot_change(client, plan_world):
    version = make_draft(plan_world)
    rule = add_rule(plan_world, version)
    client.force_login(plan_world.finance.user)
    page = client.get(version_url(version), HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert version_url(version, "add_rule") not in page.content.decode()
    for url in (
        version_url(version, "add_rule"),
        version_url(version, "edit_rule", rule.pk),
        version_url(version, "delete_rule", rule.pk),
        version_url(version, "publish"),
        version_url(version, "new_draft"),
        version_url(version, "retire"),
    ):
        assert client.post(url, RULE_POST, HTTP_HOST=HOST_A).status_code == 403, url
    assert (
        client.get(reverse("admin:incentives_commissionplan_add"), HTTP_HOST=HOST_A).status_code
        == 403
    )


# --- plans ---------------------------------------------------------------------------


def test_adding_a_plan_goes_through_the_service(admin_client, plan_world):
    response = admin_client.post(
        reverse("admin:incentives_commissionplan_add"),
        {"name": "MSP recurring", "description": "Monthly share"},
        HTTP_HOST=HOST_A,
    )
    with tenant_context(plan_world.tenant):
        plan = CommissionPlan.objects.get(name="MSP recurring")
        assert response.status_code == 302
        assert response["Location"] == plan_url(plan)
        assert [(v.number, v.status) for v in plan.versions.all()] == [(1, Status.DRAFT)]
        assert AuditEvent.objects.filter(action="incentives.plan_created").count() == 1
    duplicate = admin_client.post(
        reverse("admin:incentives_commissionplan_add"),
        {"name": "MSP recurring"},
        HTTP_HOST=HOST_A,
    )
    assert duplicate.status_code == 200
    assert "name" in duplicate.context["adminform"].form.errors


def test_plan_page_lists_its_versions(admin_client, plan_world):
    version = published(plan_world)
    with tenant_context(plan_world.tenant):
        services.new_draft_from(
            version=version, membership=plan_world.admin, actor=plan_world.admin.user
        )
    page = admin_client.get(plan_url(version.plan), HTTP_HOST=HOST_A)
    assert [(v.number, v.status, v.rule_count) for v in page.context["versions"]] == [
        (2, Status.DRAFT, 1),
        (1, Status.PUBLISHED, 1),
    ]


# --- rules on drafts -------------------------------------------------------------------


def test_adding_a_rule_parses_lists_and_decimals(admin_client, plan_world):
    version = make_draft(plan_world)
    response = admin_client.post(version_url(version, "add_rule"), RULE_POST, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    assert response["Location"] == version_url(version)
    with tenant_context(plan_world.tenant):
        rule = version.rules.get()
        assert (rule.tier_keys, rule.countries, rule.rate, rule.priority) == (
            ["platinum", "gold"],
            ["MY", "SG"],
            Decimal("27.5"),
            5,
        )
        assert AuditEvent.objects.filter(action="incentives.rule_added").exists()


def test_a_stepped_rebate_is_entered_as_bands(admin_client, plan_world):
    version = make_draft(plan_world)
    post = {
        **RULE_POST,
        "name": "Volume rebate",
        "kind": "stepped_rebate",
        "tier_keys": "",
        "countries": "",
        "rate": "",
        "rebate_mode": "marginal",
        "bands": "100,000: 2\n250000: 3%\n*: 5",
    }
    response = admin_client.post(version_url(version, "add_rule"), post, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(plan_world.tenant):
        assert version.rules.get().parameters == {
            "mode": "marginal",
            "bands": [
                {"up_to": "100000", "rate": "2"},
                {"up_to": "250000", "rate": "3"},
                {"up_to": None, "rate": "5"},
            ],
        }
    page = admin_client.get(version_url(version), HTTP_HOST=HOST_A)
    assert "250000" in page.content.decode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rate": "abc"}, "rate"),  # the form refuses
        ({"rate": ""}, "rate"),  # the service refuses: a percentage needs a rate
        ({"tier_keys": "diamond"}, "tier_keys"),  # not in the catalogue
        ({"countries": "Malaysia"}, "countries"),
        ({"kind": "stepped_rebate", "rebate_mode": "", "bands": "*: 5"}, "rebate_mode"),
        ({"kind": "stepped_rebate", "rebate_mode": "marginal", "bands": "lots"}, "bands"),
        ({"kind": "spiff", "tier_keys": ""}, "product_lines"),
        (
            {"kind": "tier_promotion_bonus", "starts_on": "2026-01-01", "ends_on": "2026-03-31"},
            "promotion_tier",
        ),
    ],
)
def test_rule_errors_show_on_their_field(admin_client, plan_world, changes, field):
    version = make_draft(plan_world)
    response = admin_client.post(
        version_url(version, "add_rule"), {**RULE_POST, **changes}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors, response.context["form"].errors
    with tenant_context(plan_world.tenant):
        assert not version.rules.exists()


def test_editing_and_deleting_a_draft_rule(admin_client, plan_world):
    version = make_draft(plan_world)
    rule = add_rule(plan_world, version)
    form = admin_client.get(version_url(version, "edit_rule", rule.pk), HTTP_HOST=HOST_A)
    assert form.context["form"].initial["tier_keys"] == ["gold"]
    response = admin_client.post(
        version_url(version, "edit_rule", rule.pk),
        {**RULE_POST, "name": "Gold commission", "tier_keys": "gold", "rate": "26.5"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    with tenant_context(plan_world.tenant):
        rule.refresh_from_db()
        assert rule.rate == Decimal("26.5")
    response = admin_client.post(version_url(version, "delete_rule", rule.pk), {}, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(plan_world.tenant):
        assert not version.rules.exists()
        assert AuditEvent.objects.filter(action="incentives.rule_deleted").exists()


# --- the lifecycle -----------------------------------------------------------------------


def test_publish_new_draft_and_retire_from_the_console(admin_client, plan_world):
    version = make_draft(plan_world)
    add_rule(plan_world, version)
    today = timezone.localdate()
    response = admin_client.post(
        version_url(version, "publish"), {"effective_from": today.isoformat()}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 302
    with tenant_context(plan_world.tenant):
        version.refresh_from_db()
        assert (version.status, version.effective_from) == (Status.PUBLISHED, today)

    response = admin_client.post(version_url(version, "new_draft"), {}, HTTP_HOST=HOST_A)
    with tenant_context(plan_world.tenant):
        draft = version.plan.versions.get(number=2)
        assert response["Location"] == version_url(draft)
        assert draft.rules.count() == 1

    retire_on = date(today.year + 1, 1, 1)
    response = admin_client.post(
        version_url(version, "retire"), {"retired_on": retire_on.isoformat()}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 302
    with tenant_context(plan_world.tenant):
        version.refresh_from_db()
        assert (version.status, version.retired_on) == (Status.RETIRED, retire_on)


def test_publishing_an_empty_draft_shows_why(admin_client, plan_world):
    version = make_draft(plan_world)
    response = admin_client.post(
        version_url(version, "publish"),
        {"effective_from": timezone.localdate().isoformat()},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    with tenant_context(plan_world.tenant):
        version.refresh_from_db()
        assert version.status == Status.DRAFT


def test_published_versions_are_read_only_in_the_console(admin_client, plan_world):
    version = published(plan_world)
    with tenant_context(plan_world.tenant):
        rule = version.rules.get()
    page = admin_client.get(version_url(version), HTTP_HOST=HOST_A)
    body = page.content.decode()
    assert version_url(version, "edit_rule", rule.pk) not in body
    assert version_url(version, "add_rule") not in body
    assert version_url(version, "new_draft") in body
    for url in (
        version_url(version, "add_rule"),
        version_url(version, "edit_rule", rule.pk),
        version_url(version, "delete_rule", rule.pk),
    ):
        response = admin_client.post(url, {**RULE_POST, "rate": "99"}, HTTP_HOST=HOST_A)
        assert response.status_code == 302
        assert response["Location"] == version_url(version)
        assert errors_of(response)
    with tenant_context(plan_world.tenant):
        rule.refresh_from_db()
        assert rule.rate == Decimal("26")
        assert version.rules.count() == 1


# --- tenant isolation -------------------------------------------------------------------


def test_another_tenants_plans_are_404(admin_client, plan_world, tenant_b):
    with tenant_context(tenant_b):
        admin_b = MembershipFactory(role=Role.TENANT_ADMIN, partner=None)

    class WorldB:
        tenant = tenant_b
        admin = admin_b

    version_b = make_draft(WorldB, name="Bravo plan")
    with tenant_context(tenant_b):
        rule_b = services.add_rule(
            version=version_b,
            membership=admin_b,
            actor=admin_b.user,
            data={"name": "Flat", "kind": "referral_fee", "rate": "15"},
        )
    own = make_draft(plan_world)
    for url in (
        plan_url(version_b.plan),
        version_url(version_b),
        version_url(version_b, "add_rule"),
        version_url(version_b, "edit_rule", rule_b.pk),
        version_url(version_b, "publish"),
        version_url(version_b, "new_draft"),
        version_url(own, "edit_rule", rule_b.pk),  # tenant B's rule under our own version
        version_url(own, "delete_rule", rule_b.pk),
    ):
        assert admin_client.get(url, HTTP_HOST=HOST_A).status_code == 404, url
    listed = admin_client.get(PLANS, HTTP_HOST=HOST_A)
    assert [p.name for p in listed.context["cl"].result_list] == ["Resellers"]


# --- query counts ------------------------------------------------------------------------


def test_plan_and_version_lists_take_constant_queries(
    admin_client, plan_world, django_assert_max_num_queries
):
    published(plan_world, "Plan 0")
    admin_client.get(PLANS, HTTP_HOST=HOST_A)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(PLANS, HTTP_HOST=HOST_A).status_code == 200
    with CaptureQueriesContext(connection) as few_versions:
        assert admin_client.get(VERSIONS, HTTP_HOST=HOST_A).status_code == 200
    for index in range(1, 6):
        published(plan_world, f"Plan {index}")
    with django_assert_max_num_queries(len(few)):
        assert admin_client.get(PLANS, HTTP_HOST=HOST_A).status_code == 200
    with django_assert_max_num_queries(len(few_versions)):
        assert admin_client.get(VERSIONS, HTTP_HOST=HOST_A).status_code == 200


def test_version_page_takes_constant_queries_as_rules_grow(
    admin_client, plan_world, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from deals.models import Product

    version = make_draft(plan_world)
    with tenant_context(plan_world.tenant):
        products = [
            Product.objects.create(name=f"P{i}", product_line="Analytics", sku=f"P{i}")
            for i in range(3)
        ]

    def push(index, product):
        add_rule(
            plan_world,
            version,
            name=f"Push {index}",
            kind="spiff",
            tier_keys=[],
            product_ids=[product.pk],
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 3, 31),
            rate="5",
        )

    add_rule(plan_world, version)
    push(0, products[0])
    admin_client.get(version_url(version), HTTP_HOST=HOST_A)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(version_url(version), HTTP_HOST=HOST_A).status_code == 200
    for index, product in enumerate(products[1:], start=1):
        push(index, product)
        add_rule(
            plan_world, version, name=f"Tier {index}", tier_keys=["silver"], priority=index + 1
        )
    with django_assert_max_num_queries(len(few)):
        page = admin_client.get(version_url(version), HTTP_HOST=HOST_A)
    assert len(page.context["rule_rows"]) == 6
    assert "P1" in page.content.decode()


# --- revenue events -----------------------------------------------------------------------


def revenue(world, external_id, tenant=None, partner=None, membership=None):
    membership = membership or world.finance
    with tenant_context(tenant or world.tenant):
        return services.record_revenue_event(
            membership=membership,
            actor=membership.user,
            partner=partner or world.partner,
            kind="invoice_paid",
            amount=Decimal("800.00"),
            currency="CNY",
            occurred_on=date(2026, 4, 1),
            external_id=external_id,
            customer_name="Acme Holdings",
        )


EVENTS = reverse("admin:incentives_revenueevent_changelist")


@pytest.mark.parametrize(
    ("role", "status"), [("finance", 200), ("admin", 200), ("manager", 403), ("rep", 403)]
)
def test_revenue_events_are_for_money_roles(client, plan_world, role, status):
    event = revenue(plan_world, "INV-1")
    client.force_login(getattr(plan_world, role).user)
    change = reverse("admin:incentives_revenueevent_change", args=[event.pk])
    assert client.get(EVENTS, HTTP_HOST=HOST_A).status_code == status
    assert client.get(change, HTTP_HOST=HOST_A).status_code == status


def test_revenue_events_of_another_tenant_are_404(client, plan_world, tenant_b):
    from tests.factories import PartnerFactory

    with tenant_context(tenant_b):
        finance_b = MembershipFactory(role=Role.FINANCE, partner=None)
        partner_b = PartnerFactory()
    event_b = revenue(plan_world, "INV-B", tenant=tenant_b, partner=partner_b, membership=finance_b)
    client.force_login(plan_world.finance.user)
    change = reverse("admin:incentives_revenueevent_change", args=[event_b.pk])
    assert client.get(change, HTTP_HOST=HOST_A).status_code == 404
    assert client.get(EVENTS, HTTP_HOST=HOST_A).context["cl"].result_count == 0


def test_revenue_event_list_takes_constant_queries(
    client, plan_world, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import PartnerFactory

    client.force_login(plan_world.finance.user)
    revenue(plan_world, "INV-0")
    client.get(EVENTS, HTTP_HOST=HOST_A)
    with CaptureQueriesContext(connection) as few:
        client.get(EVENTS, HTTP_HOST=HOST_A)
    with tenant_context(plan_world.tenant):
        others = [
            PartnerFactory(
                tier=plan_world.tiers["silver"], partner_type=plan_world.types["msp_var"]
            )
            for _ in range(4)
        ]
    for index, other in enumerate(others, start=1):
        revenue(plan_world, f"INV-{index}", partner=other)
    with django_assert_max_num_queries(len(few)):
        page = client.get(EVENTS, HTTP_HOST=HOST_A)
    assert page.context["cl"].result_count == 5


def test_console_index_lists_incentives_for_tenant_admins(admin_client):
    page = admin_client.get(reverse("admin:index"), HTTP_HOST=HOST_A)
    body = page.content.decode()
    assert reverse("admin:incentives_commissionplan_changelist") in body
    assert reverse("admin:incentives_planversion_changelist") in body
