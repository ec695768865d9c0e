"""Plan services: the draft → published → retired lifecycle, immutability
(the services refuse, and so does the database as the app role), drafts copied
from published versions, the default plan seed, revenue events, permissions,
and the engine run on real deals (closed and estimated)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from deals import services as deal_services
from deals.models import Product
from incentives import selectors, services
from incentives.models import CommissionPlan, CommissionRule, PlanVersion, RevenueEvent
from prm.audit.models import AuditEvent
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.tenancy.context import tenant_context
from tests.incentives.conftest import register

pytestmark = pytest.mark.django_db
D = Decimal
Status = PlanVersion.Status
TODAY = date(2026, 5, 1)


def rule_data(**fields):
    data = {
        "name": "Gold commission",
        "kind": "tier_commission",
        "tier_keys": ["gold"],
        "rate": "26",
    }
    data.update(fields)
    return data


def draft_with_rule(world, name="Partner plan", **rule_fields) -> PlanVersion:
    plan = services.create_plan(membership=world.admin, actor=world.admin.user, name=name)
    version = plan.versions.get()
    services.add_rule(
        version=version,
        membership=world.admin,
        actor=world.admin.user,
        data=rule_data(**rule_fields),
    )
    return version


def publish(world, version, effective_from=TODAY, today=TODAY) -> PlanVersion:
    return services.publish_version(
        version=version,
        membership=world.admin,
        actor=world.admin.user,
        effective_from=effective_from,
        today=today,
    )


# --- the lifecycle -------------------------------------------------------------------


def test_a_new_plan_starts_with_an_empty_draft(plan_world):
    with tenant_context(plan_world.tenant):
        plan = services.create_plan(
            membership=plan_world.admin, actor=plan_world.admin.user, name=" Resellers 2026 "
        )
        version = plan.versions.get()
        assert (plan.name, version.number, version.status) == ("Resellers 2026", 1, Status.DRAFT)
        assert AuditEvent.objects.filter(action="incentives.plan_created").count() == 1
        with pytest.raises(DomainError) as duplicate:
            services.create_plan(
                membership=plan_world.admin, actor=plan_world.admin.user, name="Resellers 2026"
            )
        assert duplicate.value.field == "name"


def test_publishing_freezes_the_version(plan_world):
    with tenant_context(plan_world.tenant):
        version = draft_with_rule(plan_world)
        published = publish(plan_world, version)
        assert published.status == Status.PUBLISHED
        assert published.effective_from == TODAY
        assert published.published_by == plan_world.admin.user
        assert AuditEvent.objects.filter(
            action="incentives.version_published", object_id=str(version.pk)
        ).exists()


def test_publishing_needs_a_rule(plan_world):
    with tenant_context(plan_world.tenant):
        plan = services.create_plan(
            membership=plan_world.admin, actor=plan_world.admin.user, name="Empty"
        )
        with pytest.raises(DomainError, match="at least one rule"):
            publish(plan_world, plan.versions.get())


def test_publishing_refuses_rules_that_would_tie(plan_world):
    with tenant_context(plan_world.tenant):
        version = draft_with_rule(plan_world)
        services.add_rule(
            version=version,
            membership=plan_world.admin,
            actor=plan_world.admin.user,
            data=rule_data(name="Gold again", kind="referral_fee", rate="15"),
        )
        with pytest.raises(DomainError, match="Gold again"):
            publish(plan_world, version)
        # A different priority resolves the tie; so would distinct dates.
        other = version.rules.get(name="Gold again")
        services.update_rule(
            rule=other,
            membership=plan_world.admin,
            actor=plan_world.admin.user,
            data=rule_data(name="Gold again", kind="referral_fee", rate="15", priority=5),
        )
        assert publish(plan_world, version).status == Status.PUBLISHED


def test_a_new_version_takes_effect_after_the_previous_one_and_not_in_the_past(plan_world):
    with tenant_context(plan_world.tenant):
        first = publish(plan_world, draft_with_rule(plan_world), effective_from=date(2026, 1, 1))
        draft = services.new_draft_from(
            version=first, membership=plan_world.admin, actor=plan_world.admin.user
        )
        with pytest.raises(DomainError) as same_day:
            publish(plan_world, draft, effective_from=date(2026, 1, 1))
        assert same_day.value.field == "effective_from"
        with pytest.raises(DomainError, match="past"):
            publish(plan_world, draft, effective_from=TODAY - timedelta(days=1))
        assert publish(plan_world, draft, effective_from=TODAY).number == 2


def test_published_rules_cannot_be_edited_through_the_services(plan_world):
    with tenant_context(plan_world.tenant):
        version = publish(plan_world, draft_with_rule(plan_world))
        rule = version.rules.get()
        admin = plan_world.admin
        with pytest.raises(Conflict):
            services.add_rule(version=version, membership=admin, actor=admin.user, data=rule_data())
        with pytest.raises(Conflict):
            services.update_rule(
                rule=rule, membership=admin, actor=admin.user, data=rule_data(rate="99")
            )
        with pytest.raises(Conflict):
            services.delete_rule(rule=rule, membership=admin, actor=admin.user)
        with pytest.raises(Conflict):
            publish(plan_world, version)
        rule.refresh_from_db()
        assert rule.rate == D("26")


def _raw(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_the_database_refuses_changes_to_published_rules_as_the_app_role(plan_world):
    with tenant_context(plan_world.tenant):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == settings.APP_DB_ROLE
        version = publish(plan_world, draft_with_rule(plan_world))
        rule = version.rules.get()
        with pytest.raises(IntegrityError, match="cannot change"):
            _raw("UPDATE incentives_commissionrule SET rate = 99 WHERE id = %s", [rule.pk])
        with pytest.raises(IntegrityError, match="cannot change"):
            _raw("DELETE FROM incentives_commissionrule WHERE id = %s", [rule.pk])
        with pytest.raises(IntegrityError, match="cannot be added"), transaction.atomic():
            CommissionRule.objects.create(version=version, **rule_data(rate=D("5")))
        with pytest.raises(IntegrityError, match="cannot change"):
            _raw(
                "UPDATE incentives_planversion SET effective_from = %s WHERE id = %s",
                [date(2030, 1, 1), version.pk],
            )
        with pytest.raises(IntegrityError, match="cannot change"):
            _raw("UPDATE incentives_planversion SET status = 'draft' WHERE id = %s", [version.pk])
        with pytest.raises(IntegrityError, match="cannot be deleted"):
            _raw("DELETE FROM incentives_planversion WHERE id = %s", [version.pk])
        rule.refresh_from_db()
        version.refresh_from_db()
        assert (rule.rate, version.status, version.effective_from) == (
            D("26"),
            Status.PUBLISHED,
            TODAY,
        )


def test_the_database_lets_drafts_change_and_published_versions_retire(plan_world):
    with tenant_context(plan_world.tenant):
        version = draft_with_rule(plan_world)
        rule = version.rules.get()
        _raw("UPDATE incentives_commissionrule SET rate = 27 WHERE id = %s", [rule.pk])
        rule.refresh_from_db()
        assert rule.rate == D("27")
        publish(plan_world, version)
        retired = services.retire_version(
            version=version,
            membership=plan_world.admin,
            actor=plan_world.admin.user,
            retired_on=TODAY + timedelta(days=30),
        )
        assert (retired.status, retired.retired_on) == (Status.RETIRED, TODAY + timedelta(days=30))
        with pytest.raises(IntegrityError, match="cannot change"):
            _raw(
                "UPDATE incentives_planversion SET retired_on = %s WHERE id = %s",
                [TODAY + timedelta(days=60), version.pk],
            )


def test_a_new_draft_copies_the_published_rules(plan_world):
    with tenant_context(plan_world.tenant):
        product = Product.objects.create(name="Insight", product_line="Analytics", sku="INS-1")
        version = draft_with_rule(plan_world)
        services.add_rule(
            version=version,
            membership=plan_world.admin,
            actor=plan_world.admin.user,
            data={
                "name": "Spring push",
                "kind": "spiff",
                "rate": "5",
                "product_ids": [product.pk],
                "product_lines": ["Analytics"],
                "countries": ["cn"],
                "starts_on": date(2026, 3, 1),
                "ends_on": date(2026, 3, 31),
                "co_sell_role": "sole",
            },
        )
        publish(plan_world, version)
        draft = services.new_draft_from(
            version=version, membership=plan_world.admin, actor=plan_world.admin.user
        )
        assert (draft.number, draft.status, draft.based_on_id) == (2, Status.DRAFT, version.pk)

        def snapshot(v):
            return [
                {name: getattr(r, name) for name in services.RULE_FIELDS}
                for r in v.rules.order_by("name")
            ]

        assert snapshot(draft) == snapshot(version)
        assert snapshot(draft)[1]["countries"] == ["CN"]
        # Editing the copy leaves the published version alone.
        copy = draft.rules.get(name="Gold commission")
        services.update_rule(
            rule=copy,
            membership=plan_world.admin,
            actor=plan_world.admin.user,
            data=rule_data(rate="28"),
        )
        assert version.rules.get(name="Gold commission").rate == D("26")
        with pytest.raises(Conflict):
            services.new_draft_from(
                version=version, membership=plan_world.admin, actor=plan_world.admin.user
            )


def test_rule_validation_names_the_field(plan_world):
    with tenant_context(plan_world.tenant):
        plan = services.create_plan(
            membership=plan_world.admin, actor=plan_world.admin.user, name="Checks"
        )
        version = plan.versions.get()
        cases = [
            (rule_data(tier_keys=["diamond"]), "tier_keys"),
            (rule_data(partner_type_keys=["nope"]), "partner_type_keys"),
            (rule_data(product_ids=[999999]), "product_ids"),
            (rule_data(countries=["Malaysia"]), "countries"),
            (rule_data(deal_types=["lease"]), "deal_types"),
            (rule_data(rate=""), "rate"),
            (rule_data(rate="abc"), "rate"),
            (rule_data(name=" "), "name"),
            (rule_data(kind="stepped_rebate", parameters={"mode": "sideways"}), "mode"),
            (rule_data(kind="renewal_rate_bonus", parameters={}), "threshold"),
            (rule_data(payout="fixed", currency="XXX", fixed_amount="5"), "currency"),
        ]
        for data, field in cases:
            with pytest.raises(DomainError) as refused:
                services.add_rule(
                    version=version,
                    membership=plan_world.admin,
                    actor=plan_world.admin.user,
                    data=data,
                )
            assert refused.value.field == field, data
        assert not version.rules.exists()


@pytest.mark.parametrize("role", ["finance", "manager", "rep"])
def test_only_tenant_admins_configure_plans(plan_world, role):
    membership = getattr(plan_world, role)
    with tenant_context(plan_world.tenant):
        version = draft_with_rule(plan_world)
        with pytest.raises(PermissionDenied):
            services.create_plan(membership=membership, actor=membership.user, name="Mine")
        with pytest.raises(PermissionDenied):
            services.add_rule(
                version=version, membership=membership, actor=membership.user, data=rule_data()
            )
        with pytest.raises(PermissionDenied):
            services.publish_version(
                version=version, membership=membership, actor=membership.user, effective_from=TODAY
            )
        with pytest.raises(PermissionDenied):
            services.delete_rule(
                rule=version.rules.get(), membership=membership, actor=membership.user
            )


# --- the default plan and versions in force -----------------------------------------


def test_default_plan_has_the_seeded_tier_rates_and_is_idempotent(plan_world):
    with tenant_context(plan_world.tenant):
        version = services.ensure_default_plan()
        again = services.ensure_default_plan()
        assert again.pk == version.pk
        assert CommissionPlan.objects.count() == 1
        assert version.status == Status.PUBLISHED
        rates = {tuple(r.tier_keys): r.rate for r in version.rules.all()}
        assert rates == {
            ("bronze",): D("20.00"),
            ("silver",): D("23.00"),
            ("gold",): D("26.00"),
            ("platinum",): D("30.00"),
        }
        assert {r.kind for r in version.rules.all()} == {"tier_commission"}


def test_versions_in_force_follow_effective_dates_and_retirement(plan_world):
    with tenant_context(plan_world.tenant):
        first = publish(plan_world, draft_with_rule(plan_world), effective_from=date(2026, 1, 1))
        second = services.new_draft_from(
            version=first, membership=plan_world.admin, actor=plan_world.admin.user
        )
        publish(plan_world, second, effective_from=date(2026, 6, 1))
        draft_with_rule(plan_world, name="Never published")

        def in_force(on):
            return [v.pk for v in selectors.versions_in_force(on=on)]

        assert in_force(date(2025, 12, 31)) == []
        assert in_force(date(2026, 5, 31)) == [first.pk]
        assert in_force(date(2026, 6, 1)) == [second.pk]
        services.retire_version(
            version=second,
            membership=plan_world.admin,
            actor=plan_world.admin.user,
            retired_on=date(2026, 9, 1),
        )
        assert in_force(date(2026, 8, 31)) == [second.pk]
        assert in_force(date(2026, 9, 1)) == []
        # History stays computable: the first version still applied in May.
        assert in_force(date(2026, 5, 31)) == [first.pk]


# --- the engine on real deals ----------------------------------------------------------


def test_closed_won_deal_earns_the_gold_rate_on_first_year_value(plan_world):
    with tenant_context(plan_world.tenant):
        services.ensure_default_plan()
    deal = register(plan_world.rep, estimated_amount=D("90000"))
    with tenant_context(plan_world.tenant):
        deal = deal_services.close_won(
            deal=deal,
            membership=plan_world.rep,
            actor=plan_world.rep.user,
            final_amount=D("90000"),
            currency="CNY",
            closed_on=timezone.localdate(),
            contract_term_months=36,
        )
        lines = selectors.earnings_for_closed_deal(deal)
    # 90,000 × 12/36 = 30,000 first-year × Gold 26 % = 7,800.
    assert [(line.amount, line.currency, line.kind) for line in lines] == [
        (D("7800.00"), "CNY", "tier_commission")
    ]
    assert lines[0].source_key == f"deal:{deal.pk}"
    assert lines[0].explanation["tier"] == "gold"


def test_estimate_uses_the_open_deals_estimated_amount(plan_world):
    with tenant_context(plan_world.tenant):
        services.ensure_default_plan()
    deal = register(plan_world.rep, estimated_amount=D("50000"))
    with tenant_context(plan_world.tenant):
        lines = selectors.estimate_for_deal(deal)
    # 50,000 × Gold 26 % = 13,000 (no term yet: the whole amount is first-year).
    assert [line.amount for line in lines] == [D("13000.00")]
    assert lines[0].is_estimate
    no_amount = register(plan_world.rep, company="Unknown Size Ltd", email="x@unknown.cn")
    with tenant_context(plan_world.tenant):
        assert selectors.estimate_for_deal(no_amount) == []


def test_tier_promotion_reads_the_partners_tier_history(plan_world):
    from partners.services import assign_tier

    with tenant_context(plan_world.tenant):
        version = draft_with_rule(
            plan_world,
            name="Reach Platinum",
            kind="tier_promotion_bonus",
            tier_keys=[],
            rate="5",
            starts_on=timezone.localdate() + timedelta(days=1),
            ends_on=timezone.localdate() + timedelta(days=90),
            parameters={"tier_key": "platinum", "reached_by": timezone.localdate().isoformat()},
        )
        publish(
            plan_world, version, effective_from=timezone.localdate(), today=timezone.localdate()
        )
    deal = register(plan_world.rep, estimated_amount=D("40000"))
    with tenant_context(plan_world.tenant):
        assert selectors.estimate_for_deal(deal) == []
        assign_tier(
            partner=plan_world.partner,
            tier=plan_world.tiers["platinum"],
            actor=plan_world.manager.user,
            membership=plan_world.manager,
            reason="Hit 500K",
        )
        # 40,000 × 5 % = 2,000.
        assert [line.amount for line in selectors.estimate_for_deal(deal)] == [D("2000.00")]


# --- revenue events ------------------------------------------------------------------------


def record(world, membership=None, **fields):
    values = {
        "partner": world.partner,
        "kind": "invoice_paid",
        "amount": D("8000.00"),
        "currency": "CNY",
        "occurred_on": date(2026, 4, 1),
        "external_id": "INV-1001",
        "customer_name": "Acme Holdings",
    }
    values.update(fields)
    membership = membership or world.finance
    return services.record_revenue_event(membership=membership, actor=membership.user, **values)


def test_revenue_events_are_recorded_once_per_external_id(plan_world):
    with tenant_context(plan_world.tenant):
        first = record(plan_world)
        assert record(plan_world).pk == first.pk
        assert RevenueEvent.objects.count() == 1
        with pytest.raises(Conflict):
            record(plan_world, amount=D("9000.00"))
        assert AuditEvent.objects.filter(action="incentives.revenue_event_recorded").count() == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": D("0")}, "amount"),
        ({"amount": D("-5")}, "amount"),
        ({"amount": D("1.005")}, "amount"),
        ({"currency": "XXX"}, "currency"),
        ({"kind": "gift"}, "kind"),
        ({"external_id": " "}, "external_id"),
        ({"customer_name": ""}, "customer_name"),
        ({"usage_quantity": D("5")}, "usage_quantity"),
        ({"kind": "usage_charge", "usage_quantity": D("-1")}, "usage_quantity"),
    ],
)
def test_revenue_event_validation(plan_world, fields, field):
    with tenant_context(plan_world.tenant), pytest.raises(DomainError) as refused:
        record(plan_world, **fields)
    assert refused.value.field == field


def test_revenue_event_deal_must_be_the_partners(plan_world):
    from tests.factories import MembershipFactory, PartnerFactory

    with tenant_context(plan_world.tenant):
        other = PartnerFactory(
            tier=plan_world.tiers["bronze"], partner_type=plan_world.types["reseller"]
        )
        other_rep = MembershipFactory(role="partner_rep", partner=other)
    other_deal = register(other_rep, company="Elsewhere Ltd", email="a@elsewhere.cn")
    with tenant_context(plan_world.tenant), pytest.raises(DomainError) as refused:
        record(plan_world, deal=other_deal)
    assert refused.value.field == "deal"


@pytest.mark.parametrize("role", ["admin", "manager", "rep"])
def test_only_finance_records_revenue(plan_world, role):
    with tenant_context(plan_world.tenant), pytest.raises(PermissionDenied):
        record(plan_world, membership=getattr(plan_world, role))


def test_revenue_share_and_refund_on_recorded_events(plan_world):
    from incentives.engine import earnings_for_revenue_event, under_plans

    with tenant_context(plan_world.tenant):
        version = draft_with_rule(
            plan_world, name="MSP share", kind="revenue_share", tier_keys=[], rate="15"
        )
        publish(plan_world, version, effective_from=date(2026, 1, 1))
        paid = record(plan_world)
        refund = record(plan_world, kind="refund", amount=D("2000.00"), external_id="REF-1")
        plans = selectors.plans_in_force(on=date(2026, 4, 1))

        def earned(event):
            facts = selectors.revenue_event_facts(event)
            return [line.amount for line in under_plans(plans, earnings_for_revenue_event, facts)]

        # 8,000 × 15 % = 1,200; the refund: −(2,000 × 15 %) = −300.
        assert earned(paid) == [D("1200.00")]
        assert earned(refund) == [D("-300.00")]


def test_default_plan_falls_back_to_the_catalogue_defaults(tenant_b):
    with tenant_context(tenant_b):
        version = services.ensure_default_plan()
        rates = sorted(r.rate for r in version.rules.all())
    assert rates == [D("20.00"), D("23.00"), D("26.00"), D("30.00")]
