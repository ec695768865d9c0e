"""Deal registration in the staff console: the review queue, decisions through
the services, who may look and who may decide, tenant isolation, query counts,
and the program's configuration pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from deals import services
from deals.models import (
    Account,
    DealComment,
    DealProgram,
    DealRegistration,
    Decision,
    EngagementRule,
)
from deals.normalize import normalize_company_name
from prm.accounts.roles import PARTNER_ROLES, Role
from prm.audit.models import AuditEvent
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory

pytestmark = pytest.mark.django_db

HOST_A = "alpha.localhost"
HOST_B = "bravo.localhost"
Stage = DealRegistration.Stage
Outcome = Decision.Outcome
WORKFLOWS = ("approve", "reject", "award-first", "co-sell", "comment", "reverse")
QUEUE = reverse("admin:deals_dealregistration_changelist")


def change_url(deal) -> str:
    return reverse("admin:deals_dealregistration_change", args=[deal.pk])


def workflow_url(deal, name: str) -> str:
    return reverse(f"admin:deals_dealregistration_{name}", args=[deal.pk])


def register(membership, company="Acme Holdings Sdn Bhd", email="siti@acme.com.my", **extra):
    with tenant_context(membership.tenant):
        return services.register_deal(
            membership=membership,
            actor=membership.user,
            customer_company=company,
            contact_name="Siti Aminah",
            contact_email=email,
            estimated_close_date=timezone.localdate() + timedelta(days=60),
            **extra,
        )


def member(tenant, role, partner=None):
    with tenant_context(tenant):
        if role in PARTNER_ROLES:
            return MembershipFactory(role=role, partner=partner or PartnerFactory())
        return MembershipFactory(role=role, partner=None)


def set_program(tenant, **values):
    with tenant_context(tenant):
        DealProgram.objects.filter(pk=services.program().pk).update(**values)


def errors_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request) if m.level == messages.ERROR]


@pytest.fixture
def manager_client(client, deal_world):
    client.force_login(deal_world.manager.user)
    return client


@pytest.fixture
def conflict(deal_world):
    """Partner X registers Acme first (approved); partner Y's later one waits in review."""
    first = register(deal_world.rep_x)
    second = register(deal_world.rep_y, company="ACME HOLDINGS SDN. BHD.")
    assert (first.stage, second.stage, second.is_conflict) == (
        Stage.APPROVED,
        Stage.SUBMITTED,
        True,
    )
    return first, second


@pytest.fixture
def deal_b(tenant_b):
    return register(member(tenant_b, Role.PARTNER_REP), company="Bravo Only Customer Bhd")


# --- the review queue -----------------------------------------------------------


def test_queue_lists_submitted_registrations_oldest_first(manager_client, deal_world):
    approved = register(deal_world.rep_x, company="Already Approved Sdn Bhd", email="a@aa.my")
    set_program(deal_world.tenant, auto_approve=False)
    reps = [member(deal_world.tenant, Role.PARTNER_REP) for _ in range(3)]
    newest, oldest, middle = (
        register(rep, company=name, email=f"ceo@{domain}")
        for rep, name, domain in zip(
            reps,
            ["Newest Trading", "Oldest Logistics", "Middle Foods"],
            ["newest.my", "oldest.sg", "middle.cn"],
            strict=True,
        )
    )
    now = timezone.now()
    with tenant_context(deal_world.tenant):
        for deal, days_ago in ((newest, 1), (oldest, 5), (middle, 3)):
            DealRegistration.objects.filter(pk=deal.pk).update(
                submitted_at=now - timedelta(days=days_ago)
            )

    response = manager_client.get(QUEUE, HTTP_HOST=HOST_A)

    assert response.status_code == 200
    listed = [deal.reference for deal in response.context["cl"].result_list]
    assert listed == [oldest.reference, middle.reference, newest.reference]
    everything = manager_client.get(QUEUE, {"stage": "all"}, HTTP_HOST=HOST_A)
    assert approved.reference in [d.reference for d in everything.context["cl"].result_list]
    assert everything.context["cl"].result_count == 4
    with_counts = manager_client.get(QUEUE, {"_facets": "True"}, HTTP_HOST=HOST_A)
    assert [d.reference for d in with_counts.context["cl"].result_list] == listed


def test_queue_shows_the_number_of_matches_and_filters_by_conflict(
    manager_client, deal_world, conflict
):
    _first, second = conflict
    set_program(deal_world.tenant, auto_approve=False)
    lonely = register(deal_world.rep_x, company="Nobody Else Wants Ltd", email="x@lonely.my")

    response = manager_client.get(QUEUE, HTTP_HOST=HOST_A)
    counts = {d.reference: d.match_count for d in response.context["cl"].result_list}
    assert counts == {second.reference: 1, lonely.reference: 0}

    conflicts = manager_client.get(QUEUE, {"is_conflict__exact": "1"}, HTTP_HOST=HOST_A)
    assert [d.reference for d in conflicts.context["cl"].result_list] == [second.reference]
    found = manager_client.get(QUEUE, {"q": "lonely.my"}, HTTP_HOST=HOST_A)
    assert [d.reference for d in found.context["cl"].result_list] == [lonely.reference]


def _queue_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(QUEUE, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    return len(queries)


def test_queue_query_count_does_not_grow_with_registrations(manager_client, deal_world, conflict):
    set_program(deal_world.tenant, auto_approve=False)
    register(deal_world.rep_x, company="Second Customer Ltd", email="a@second.my", country="MY")
    few = _queue_queries(manager_client)
    for i in range(12):
        rep = member(deal_world.tenant, Role.PARTNER_REP)
        register(rep, company=f"Customer {i} Holdings", email=f"ceo@c{i}.sg", country="SG")
        register(rep, company="Acme Holdings Berhad", email=f"buyer{i}@acme.com.my")
    with tenant_context(deal_world.tenant):
        assert DealRegistration.objects.filter(stage=Stage.SUBMITTED).count() == 26
    assert _queue_queries(manager_client) == few


# --- the change page -------------------------------------------------------------


def test_change_page_shows_the_registration_and_every_match_side_by_side(
    manager_client, deal_world, conflict
):
    first, second = conflict
    with tenant_context(deal_world.tenant):
        account = services.import_account(
            kind=Account.Kind.DIRECT,
            name="Acme Holdings",
            domain="acme.com.my",
            owner="Lim (direct)",
        )
    late = register(member(deal_world.tenant, Role.PARTNER_REP), company="Acme Holdings Bhd")

    response = manager_client.get(change_url(late), HTTP_HOST=HOST_A)

    assert response.status_code == 200
    rows = response.context["match_rows"]
    assert {(r.match.other_deal_id, r.match.account_id) for r in rows} == {
        (first.pk, None),
        (second.pk, None),
        (None, account.pk),
    }
    html = response.content.decode()
    for text in (first.reference, second.reference, "Lim (direct)", "acme.com.my", late.reference):
        assert text in html
    assert str(deal_world.rep_x.partner) in html
    # Read-only for everyone: no form fields of the registration are editable.
    assert response.context["adminform"].form.fields == {}
    assert 'name="customer_company"' not in html


def test_change_page_shows_decisions_appeals_timeline_and_comments(
    manager_client, deal_world, conflict
):
    _first, second = conflict
    with tenant_context(deal_world.tenant):
        decision = services.decide_registration(
            deal=second,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            outcome=Outcome.REJECTED,
            reason="Partner X registered Acme two weeks earlier.",
        )
        services.appeal_decision(
            decision=decision,
            membership=deal_world.rep_y,
            actor=deal_world.rep_y.user,
            comment="We have worked with Acme's CFO since March.",
        )
        services.add_comment(
            deal=second,
            membership=deal_world.rep_y,
            actor=deal_world.rep_y.user,
            body="Minutes of our March meeting attached.",
        )

    response = manager_client.get(change_url(second), HTTP_HOST=HOST_A)

    html = response.content.decode()
    for text in (
        "Partner X registered Acme two weeks earlier.",
        "We have worked with Acme",
        "Minutes of our March meeting attached.",
    ):
        assert text in html
    [row] = response.context["decision_rows"]
    assert row.decision.pk == decision.pk
    assert len(row.considered) == 1 and _first.reference in row.considered[0]
    assert [e.event.kind for e in response.context["events"]] == [
        "submitted",
        "conflict_found",
        "decided",
        "appealed",
    ]
    # Back in the queue after the appeal: the decision actions are offered again.
    assert workflow_url(second, "approve") in html


def _change_page_queries(client, deal) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(change_url(deal), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    return len(queries)


def _reject_appeal_and_comment(world, deal) -> None:
    with tenant_context(world.tenant):
        decision = services.decide_registration(
            deal=deal,
            membership=world.manager,
            actor=world.manager.user,
            outcome=Outcome.REJECTED,
            reason="Someone else was first.",
        )
        services.appeal_decision(
            decision=decision, membership=world.rep_y, actor=world.rep_y.user, comment="Not so."
        )
        services.add_comment(
            deal=deal, membership=world.manager, actor=world.manager.user, body="Looking again."
        )


def test_change_page_query_count_does_not_grow_with_matches(manager_client, deal_world, conflict):
    _first, one_match = conflict
    with tenant_context(deal_world.tenant):
        for kind in (Account.Kind.DIRECT, Account.Kind.CUSTOMER) * 2:
            services.import_account(kind=kind, name="Bolt Industries", domain="bolt.example")
    for _ in range(4):
        register(member(deal_world.tenant, Role.PARTNER_REP), "Bolt Industries", "a@bolt.example")
    eight_matches = register(deal_world.rep_y, "Bolt Industries Ltd", "b@bolt.example")
    with tenant_context(deal_world.tenant):
        assert one_match.matches.count() == 1
        assert eight_matches.matches.count() == 8
    _reject_appeal_and_comment(deal_world, one_match)
    _reject_appeal_and_comment(deal_world, eight_matches)

    assert _change_page_queries(manager_client, eight_matches) == _change_page_queries(
        manager_client, one_match
    )


# --- decisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "outcome", "stage", "policy"),
    [
        ("approve", Outcome.APPROVED, Stage.APPROVED, "Approved on review"),
        ("reject", Outcome.REJECTED, Stage.REJECTED, "Rejected on review"),
        ("award-first", Outcome.AWARDED_FIRST, Stage.REJECTED, "First to register wins"),
        ("co-sell", Outcome.CO_SELL, Stage.APPROVED, "Co-sell with a commission split"),
    ],
)
def test_channel_manager_decides_through_the_console(
    manager_client, deal_world, conflict, slug, outcome, stage, policy
):
    first, second = conflict
    form = manager_client.get(workflow_url(second, slug), HTTP_HOST=HOST_A)
    assert form.status_code == 200
    data = {"reason": f"Reviewed: {slug}"}
    if slug == "co-sell":
        data["partner_share"] = form.context["form"]["partner_share"].value()

    response = manager_client.post(workflow_url(second, slug), data, HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert response["Location"] == change_url(second)
    with translation.override(response.wsgi_request.LANGUAGE_CODE):
        expected_policy = translation.gettext(policy)
    with tenant_context(deal_world.tenant):
        second.refresh_from_db()
        decision = second.decisions.get()
        assert second.stage == stage
        assert decision.outcome == outcome
        assert decision.policy == expected_policy
        assert decision.reason == f"Reviewed: {slug}"
        assert decision.decided_by == deal_world.manager.user
        assert [m["deal"] for m in decision.matches_considered] == [first.pk]
        assert decision.matches_considered[0]["confidence"] == "1.000"
        assert {r["code"] for r in decision.matches_considered[0]["reasons"]} >= {"same_name"}
        if slug == "co-sell":
            assert decision.partner_share == Decimal("70.00")  # the program's default
            assert second.partner_share == Decimal("70.00")
        assert AuditEvent.objects.filter(action=f"deal.{outcome}").count() == 1
    assert LogEntry.objects.count() == 0


def test_co_sell_share_is_prefilled_from_the_program_and_can_be_changed(
    manager_client, deal_world, conflict
):
    _first, second = conflict
    set_program(deal_world.tenant, partner_sourced_partner_share=Decimal("65"))
    form = manager_client.get(workflow_url(second, "co-sell"), HTTP_HOST=HOST_A)
    assert form.context["form"]["partner_share"].value() == Decimal("65.00")

    manager_client.post(
        workflow_url(second, "co-sell"),
        {"partner_share": "55", "reason": "Both partners met the buyer."},
        HTTP_HOST=HOST_A,
    )
    with tenant_context(deal_world.tenant):
        assert second.decisions.get().partner_share == Decimal("55.00")


def test_a_share_the_service_refuses_is_a_form_error(manager_client, deal_world, conflict):
    _first, second = conflict
    response = manager_client.post(
        workflow_url(second, "co-sell"),
        {"partner_share": "150", "reason": "Too generous"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["partner_share"]
    with tenant_context(deal_world.tenant):
        assert not second.decisions.exists()


def test_a_decision_needs_a_reason(manager_client, deal_world, conflict):
    _first, second = conflict
    response = manager_client.post(
        workflow_url(second, "reject"), {"reason": "   "}, HTTP_HOST=HOST_A
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["reason"]
    with tenant_context(deal_world.tenant):
        second.refresh_from_db()
        assert second.stage == Stage.SUBMITTED


def test_deciding_an_already_decided_registration_is_a_message_not_an_error(
    manager_client, deal_world, conflict
):
    _first, second = conflict
    url = workflow_url(second, "approve")
    manager_client.post(url, {"reason": "Looks fine"}, HTTP_HOST=HOST_A)

    response = manager_client.post(url, {"reason": "Again"}, HTTP_HOST=HOST_A)

    assert response.status_code == 302
    assert response["Location"] == change_url(second)
    with translation.override(response.wsgi_request.LANGUAGE_CODE):
        refusal = translation.gettext("Only a submitted registration can be decided.")
    assert errors_of(response) == [refusal]
    with tenant_context(deal_world.tenant):
        assert second.decisions.count() == 1
    page = manager_client.get(change_url(second), HTTP_HOST=HOST_A).content.decode()
    assert url not in page  # decided: no decision actions any more


def test_channel_manager_comments_through_the_console(manager_client, deal_world, conflict):
    _first, second = conflict
    response = manager_client.post(
        workflow_url(second, "comment"),
        {"body": "Can you share the buyer's org chart?"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302
    assert response["Location"] == change_url(second) + "#comments"
    with tenant_context(deal_world.tenant):
        comment = DealComment.objects.get(deal=second)
        assert (comment.author, comment.body) == (
            deal_world.manager.user,
            "Can you share the buyer's org chart?",
        )
    empty = manager_client.post(workflow_url(second, "comment"), {"body": " "}, HTTP_HOST=HOST_A)
    assert list(empty.context["form"].errors) == ["body"]


def test_reversing_a_closed_won_deal_records_the_reason(manager_client, deal_world, conflict):
    first, second = conflict
    with tenant_context(deal_world.tenant):
        services.close_won(
            deal=first,
            membership=deal_world.rep_x,
            actor=deal_world.rep_x.user,
            final_amount=Decimal("48000.00"),
            currency="MYR",
            closed_on=timezone.localdate(),
            contract_term_months=12,
        )
    assert (
        workflow_url(first, "reverse")
        in manager_client.get(change_url(first), HTTP_HOST=HOST_A).content.decode()
    )

    response = manager_client.post(
        workflow_url(first, "reverse"), {"reason": "Refunded in month two"}, HTTP_HOST=HOST_A
    )

    assert response.status_code == 302
    with tenant_context(deal_world.tenant):
        first.refresh_from_db()
        assert first.reversed_at is not None
        assert first.reversal_reason == "Refunded in month two"
        assert first.events.filter(kind="reversed").count() == 1
    refused = manager_client.post(
        workflow_url(second, "reverse"), {"reason": "Not closed"}, HTTP_HOST=HOST_A
    )
    assert refused.status_code == 302
    assert len(errors_of(refused)) == 1
    with tenant_context(deal_world.tenant):
        second.refresh_from_db()
        assert second.reversed_at is None


# --- who may look, who may decide ----------------------------------------------------


def test_finance_can_view_the_queue_but_not_decide(client, deal_world, conflict):
    _first, second = conflict
    client.force_login(member(deal_world.tenant, Role.FINANCE).user)

    assert client.get(QUEUE, HTTP_HOST=HOST_A).status_code == 200
    page = client.get(change_url(second), HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert page.context["decision_actions"] == []
    assert page.context["comment_form"] is None
    for name in WORKFLOWS:
        url = workflow_url(second, name)
        assert url not in page.content.decode()
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403
        data = {"reason": "I am finance", "body": "hi", "partner_share": "50"}
        assert client.post(url, data, HTTP_HOST=HOST_A).status_code == 403
    with tenant_context(deal_world.tenant):
        second.refresh_from_db()
        assert second.stage == Stage.SUBMITTED
        assert not second.decisions.exists()
        assert not second.comments.exists()


@pytest.mark.parametrize("role", [Role.PARTNER_REP, Role.PARTNER_ADMIN])
def test_partner_users_never_get_into_the_console(client, deal_world, conflict, role):
    _first, second = conflict
    partner_user = member(deal_world.tenant, role, partner=deal_world.rep_y.partner)
    client.force_login(partner_user.user)
    assert client.get(QUEUE, HTTP_HOST=HOST_A).status_code == 403
    assert client.get(change_url(second), HTTP_HOST=HOST_A).status_code == 403
    for name in WORKFLOWS:
        response = client.post(workflow_url(second, name), {"reason": "mine"}, HTTP_HOST=HOST_A)
        assert response.status_code == 403
    with tenant_context(deal_world.tenant):
        assert not second.decisions.exists()


def test_tenant_admin_decides_too(client, deal_world, conflict):
    _first, second = conflict
    client.force_login(member(deal_world.tenant, Role.TENANT_ADMIN).user)
    response = client.post(workflow_url(second, "approve"), {"reason": "ok"}, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(deal_world.tenant):
        assert second.decisions.get().outcome == Outcome.APPROVED


# --- tenant isolation ------------------------------------------------------------------


def test_tenant_b_registration_is_a_404_on_tenant_a_console(
    manager_client, deal_world, conflict, deal_b
):
    _first, second = conflict
    assert manager_client.get(change_url(second), HTTP_HOST=HOST_A).status_code == 200
    response = manager_client.get(change_url(deal_b), HTTP_HOST=HOST_A)
    assert response.status_code == 404
    assert deal_b.reference not in response.content.decode()
    history = reverse("admin:deals_dealregistration_history", args=[deal_b.pk])
    assert manager_client.get(history, HTTP_HOST=HOST_A).status_code == 404


@pytest.mark.parametrize("name", WORKFLOWS)
def test_tenant_b_registration_is_a_404_on_every_decision_url(
    manager_client, deal_world, deal_b, name
):
    url = workflow_url(deal_b, name)
    assert manager_client.get(url, HTTP_HOST=HOST_A).status_code == 404
    data = {"reason": "cross-tenant", "body": "cross-tenant", "partner_share": "50"}
    assert manager_client.post(url, data, HTTP_HOST=HOST_A).status_code == 404
    with tenant_context(deal_b.tenant):
        deal_b.refresh_from_db()
        assert deal_b.decisions.count() == 1  # only its automatic approval
        assert not deal_b.comments.exists()
        assert deal_b.events.count() == 2


def test_tenant_a_queue_never_lists_tenant_b_registrations(
    manager_client, deal_world, conflict, deal_b
):
    response = manager_client.get(QUEUE, {"stage": "all"}, HTTP_HOST=HOST_A)
    html = response.content.decode()
    assert conflict[1].reference in html
    assert deal_b.reference not in html


# --- the program ---------------------------------------------------------------------


@pytest.fixture
def admin_client(client, deal_world):
    client.force_login(member(deal_world.tenant, Role.TENANT_ADMIN).user)
    return client


PROGRAM_CHANGELIST = reverse("admin:deals_dealprogram_changelist")


def program_form(**overrides) -> dict[str, str]:
    data = {
        "protection_days": "90",
        "first_reminder_days": "14",
        "last_reminder_days": "3",
        "auto_approve": "on",
        "match_threshold": "0.60",
        "partner_sourced_partner_share": "70",
        "direct_sourced_partner_share": "30",
    }
    data.update(overrides)
    return data


def test_program_list_leads_straight_to_the_tenants_row(admin_client, deal_world):
    response = admin_client.get(PROGRAM_CHANGELIST, HTTP_HOST=HOST_A)
    with tenant_context(deal_world.tenant):
        program = DealProgram.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:deals_dealprogram_change", args=[program.pk])
    assert admin_client.get(response["Location"], HTTP_HOST=HOST_A).status_code == 200
    assert (
        admin_client.get(PROGRAM_CHANGELIST, HTTP_HOST=HOST_A)["Location"] == response["Location"]
    )
    with tenant_context(deal_world.tenant):
        assert DealProgram.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"protection_days": "29"}, "protection_days"),
        ({"protection_days": "181"}, "protection_days"),
        ({"match_threshold": "1.50"}, "match_threshold"),
        ({"partner_sourced_partner_share": "101"}, "partner_sourced_partner_share"),
        ({"protection_days": "30", "first_reminder_days": "30"}, "first_reminder_days"),
        ({"first_reminder_days": "3", "last_reminder_days": "3"}, "last_reminder_days"),
    ],
)
def test_program_validation_errors_are_per_field(admin_client, deal_world, overrides, field):
    with tenant_context(deal_world.tenant):
        program = services.program()
    url = reverse("admin:deals_dealprogram_change", args=[program.pk])
    response = admin_client.post(url, program_form(**overrides), HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == [field]
    with tenant_context(deal_world.tenant):
        program.refresh_from_db()
        assert program.protection_days == 90


def test_tenant_admin_changes_the_protection_window(admin_client, deal_world):
    with tenant_context(deal_world.tenant):
        program = services.program()
    url = reverse("admin:deals_dealprogram_change", args=[program.pk])
    response = admin_client.post(url, program_form(protection_days="180"), HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(deal_world.tenant):
        program.refresh_from_db()
        assert program.protection_days == 180
        assert AuditEvent.objects.filter(action="dealprogram.changed").count() == 1


@pytest.mark.parametrize("role", [Role.CHANNEL_MANAGER, Role.FINANCE])
def test_only_tenant_admins_configure_the_program(client, deal_world, role):
    client.force_login(member(deal_world.tenant, role).user)
    with tenant_context(deal_world.tenant):
        program = services.program()
    for url in (
        PROGRAM_CHANGELIST,
        reverse("admin:deals_dealprogram_change", args=[program.pk]),
        reverse("admin:deals_engagementrule_changelist"),
        reverse("admin:deals_domainalias_add"),
        reverse("admin:deals_product_add"),
    ):
        assert client.get(url, HTTP_HOST=HOST_A).status_code == 403, url


@pytest.mark.parametrize(("role", "status"), [(Role.CHANNEL_MANAGER, 200), (Role.FINANCE, 403)])
def test_channel_managers_keep_the_vendors_book_finance_reads_it(client, deal_world, role, status):
    client.force_login(member(deal_world.tenant, role).user)
    assert client.get(reverse("admin:deals_account_add"), HTTP_HOST=HOST_A).status_code == status


def test_tenant_b_program_is_a_404_on_tenant_a(admin_client, tenant_b):
    with tenant_context(tenant_b):
        program_b = services.program()
    url = reverse("admin:deals_dealprogram_change", args=[program_b.pk])
    assert admin_client.get(url, HTTP_HOST=HOST_A).status_code == 404


def test_engagement_rule_values_are_entered_comma_separated(admin_client, deal_world):
    add = reverse("admin:deals_engagementrule_add")
    data = {
        "name": "SG and MY direct",
        "field": "country",
        "values": "sg, MY ,",
        "action": "review",
    }
    data["is_active"] = "on"
    assert admin_client.post(add, data, HTTP_HOST=HOST_A).status_code == 302
    with tenant_context(deal_world.tenant):
        rule = EngagementRule.objects.get()
        assert rule.values == ["SG", "MY"]
    change = reverse("admin:deals_engagementrule_change", args=[rule.pk])
    assert "SG, MY" in admin_client.get(change, HTTP_HOST=HOST_A).content.decode()

    wrong = {**data, "name": "Huge", "field": "company_size", "values": "enterprise, huge"}
    response = admin_client.post(add, wrong, HTTP_HOST=HOST_A)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["values"]


def test_accounts_are_added_through_the_service_and_audited_once(admin_client, deal_world):
    add = reverse("admin:deals_account_add")
    data = {
        "kind": "customer",
        "name": "ＡＣＭＥ Holdings Sdn. Bhd.",
        "domain": "https://www.shop.acme.com.my/about",
        "country": "my",
        "owner": "Lim",
        "external_id": "CRM-1",
    }
    response = admin_client.post(add, data, HTTP_HOST=HOST_A)
    assert response.status_code == 302
    with tenant_context(deal_world.tenant):
        account = Account.objects.get()
        assert account.normalized_name == normalize_company_name("ＡＣＭＥ Holdings Sdn. Bhd.")
        assert account.normalized_name
        assert account.domain == "acme.com.my"
        assert account.country == "MY"
        assert AuditEvent.objects.filter(action="account.added").count() == 1
        assert not AuditEvent.objects.filter(action="account.created").exists()
    # The matching fields are read-only once imported.
    page = admin_client.get(
        reverse("admin:deals_account_change", args=[account.pk]), HTTP_HOST=HOST_A
    )
    assert set(page.context["adminform"].form.fields) == {
        "kind",
        "owner",
        "external_id",
        "is_active",
    }
    # A registration for the same customer now conflicts with the account.
    deal = register(deal_world.rep_x, company="Acme Holdings", email="buyer@acme.com.my")
    assert (deal.stage, deal.is_conflict) == (Stage.SUBMITTED, True)


def test_staff_with_view_all_partners_see_accounts_read_only(client, deal_world):
    with tenant_context(deal_world.tenant):
        account = services.import_account(kind="direct", name="Direct Only Corp")
    client.force_login(member(deal_world.tenant, Role.FINANCE).user)
    assert (
        client.get(reverse("admin:deals_account_changelist"), HTTP_HOST=HOST_A).status_code == 200
    )
    page = client.get(reverse("admin:deals_account_change", args=[account.pk]), HTTP_HOST=HOST_A)
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}
    response = client.post(
        reverse("admin:deals_account_change", args=[account.pk]),
        {"kind": "customer", "owner": "x", "external_id": "", "is_active": "on"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 403


def test_a_new_alias_applies_to_stored_accounts_and_active_registrations(admin_client, deal_world):
    with tenant_context(deal_world.tenant):
        account = services.import_account(kind="direct", name="Acme Group", domain="acme-group.com")
        earlier = register(deal_world.rep_x, company="Acme Regional", email="it@acme-group.com")
        assert (account.domain, earlier.email_domain) == ("acme-group.com", "acme-group.com")

    response = admin_client.post(
        reverse("admin:deals_domainalias_add"),
        {"alias": "acme-group.com", "canonical": "acme.com.my"},
        HTTP_HOST=HOST_A,
    )
    assert response.status_code == 302

    with tenant_context(deal_world.tenant):
        account.refresh_from_db()
        earlier.refresh_from_db()
        assert (account.domain, earlier.email_domain) == ("acme.com.my", "acme.com.my")
        # A later registration on the canonical domain now meets both.
        later = register(deal_world.rep_y, company="Unrelated Name", email="buyer@acme.com.my")
        assert {(m.account_id, m.other_deal_id) for m in later.matches.all()} == {
            (account.pk, None),
            (None, earlier.pk),
        }
