"""Registering deals: automatic approval, conflicts, rules of engagement,
first-to-register under concurrency, decisions, appeals and closing."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from deals import services
from deals.models import Account, DealRegistration, Decision, EngagementRule
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.tenancy.context import tenant_context

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 23)
Stage = DealRegistration.Stage


def register(membership, company="Acme Holdings Sdn Bhd", **extra):
    data = {
        "customer_company": company,
        "contact_name": "Siti Aminah",
        "contact_email": "siti@acme.com.my",
        "estimated_close_date": TODAY + timedelta(days=60),
        "today": TODAY,
    }
    data.update(extra)
    return services.register_deal(membership=membership, actor=membership.user, **data)


def test_a_registration_without_conflict_is_approved_and_protected_for_the_window(deal_world):
    with tenant_context(deal_world.tenant):
        deal = register(deal_world.rep_x)
        assert deal.stage == Stage.APPROVED
        assert deal.protected_until == TODAY + timedelta(days=90)
        assert deal.currency == "MYR"  # the partner's default currency
        decision = deal.decisions.get()
        assert decision.outcome == Decision.Outcome.APPROVED
        assert [e.kind for e in deal.events.all()] == ["submitted", "auto_approved"]


def test_the_protection_window_is_the_tenants_setting(deal_world):
    with tenant_context(deal_world.tenant):
        rules = services.program()
        rules.protection_days = 30
        rules.save()
        assert register(deal_world.rep_x).protected_until == TODAY + timedelta(days=30)


def test_without_auto_approval_every_registration_waits_for_review(deal_world):
    with tenant_context(deal_world.tenant):
        rules = services.program()
        rules.auto_approve = False
        rules.save()
        deal = register(deal_world.rep_x)
        assert (deal.stage, deal.is_conflict) == (Stage.SUBMITTED, False)


def test_second_registration_for_same_customer_by_another_partner_goes_to_review(deal_world):
    with tenant_context(deal_world.tenant):
        first = register(deal_world.rep_x, company="Acme Holdings Sdn. Bhd.")
        second = register(
            deal_world.rep_y, company="ACME HOLDINGS SDN BHD", contact_email="ceo@sales.acme.com.my"
        )
        assert first.stage == Stage.APPROVED
        assert (second.stage, second.is_conflict) == (Stage.SUBMITTED, True)
        match = second.matches.get()
        assert match.other_deal == first
        codes = {reason["code"] for reason in match.reasons}
        assert codes == {"same_name", "same_domain"}
        assert match.confidence == Decimal("1.000")


def test_the_same_partner_registering_again_is_not_a_conflict_with_itself(deal_world):
    with tenant_context(deal_world.tenant):
        register(deal_world.rep_x)
        assert register(deal_world.rep_x).stage == Stage.APPROVED


def test_similar_names_match_by_trigram_with_the_similarity_as_confidence(deal_world):
    with tenant_context(deal_world.tenant):
        register(deal_world.rep_x, company="Petronas Dagangan Berhad", contact_email="a@pd.example")
        second = register(
            deal_world.rep_y, company="Petronas Dagangan Bhd.", contact_email="b@other.example"
        )
        # Both normalise to the same name once the Malay suffixes go.
        assert second.is_conflict
        third = register(
            deal_world.rep_y, company="Petronas Dagang", contact_email="c@third.example"
        )
        match = third.matches.get()
        assert [r["code"] for r in match.reasons] == ["similar_name"]
        assert Decimal("0.6") <= match.confidence < Decimal("1")


def test_a_free_mail_address_is_never_a_company_domain(deal_world):
    with tenant_context(deal_world.tenant):
        register(deal_world.rep_x, company="Alpha Trading", contact_email="boss@gmail.com")
        other = register(deal_world.rep_y, company="Zeta Logistics", contact_email="x@gmail.com")
        assert other.stage == Stage.APPROVED


def test_vendor_accounts_and_customers_are_conflicts(deal_world):
    with tenant_context(deal_world.tenant):
        services.import_account(
            kind=Account.Kind.DIRECT, name="Maybank Berhad", domain="https://www.maybank.com.my"
        )
        deal = register(
            deal_world.rep_x, company="Malayan Banking", contact_email="it@corp.maybank.com.my"
        )
        match = deal.matches.get()
        assert match.account.name == "Maybank Berhad"
        assert match.reasons == [{"code": "same_domain", "value": "maybank.com.my"}]


def test_domain_aliases_fold_onto_one_customer(deal_world):
    from deals.models import DomainAlias

    with tenant_context(deal_world.tenant):
        DomainAlias.objects.create(alias="acme-group.com", canonical="acme.com.my")
        register(deal_world.rep_x, company="Acme")
        other = register(
            deal_world.rep_y, company="Totally Different", contact_email="a@acme-group.com"
        )
        assert other.is_conflict


def test_rules_of_engagement_send_a_registration_to_review(deal_world):
    with tenant_context(deal_world.tenant):
        EngagementRule.objects.create(
            name="Enterprise is direct",
            field=EngagementRule.Field.COMPANY_SIZE,
            values=["enterprise"],
            action=EngagementRule.Action.RESERVE_DIRECT,
        )
        deal = register(deal_world.rep_x, company_size="enterprise")
        assert (deal.stage, deal.is_conflict) == (Stage.SUBMITTED, False)
        assert deal.events.last().reason == "Enterprise is direct"
        assert register(deal_world.rep_x, company="Small Co", company_size="small").stage == (
            Stage.APPROVED
        )


def test_a_partner_learns_only_whether_a_customer_is_claimed(deal_world):
    with tenant_context(deal_world.tenant):
        register(deal_world.rep_x, company="Acme Holdings Sdn Bhd")
        assert services.is_customer_claimed(membership=deal_world.rep_y, company="Acme Holdings")
        assert not services.is_customer_claimed(membership=deal_world.rep_y, company="Nobody Ltd")
        # Their own registration is not "claimed by someone else".
        assert not services.is_customer_claimed(
            membership=deal_world.rep_x, company="Acme Holdings"
        )
        with pytest.raises(PermissionDenied):
            services.is_customer_claimed(membership=deal_world.manager, company="Acme")


def test_only_partner_users_register_and_dates_are_checked(deal_world):
    with tenant_context(deal_world.tenant):
        with pytest.raises(PermissionDenied):
            register(deal_world.manager)
        with pytest.raises(DomainError) as error:
            register(deal_world.rep_x, estimated_close_date=TODAY - timedelta(days=1))
        assert error.value.field == "estimated_close_date"


def test_review_decisions_are_recorded_with_policy_matches_and_reason(deal_world):
    with tenant_context(deal_world.tenant):
        first = register(deal_world.rep_x)
        second = register(deal_world.rep_y)
        decision = services.decide_registration(
            deal=second,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            outcome=Decision.Outcome.AWARDED_FIRST,
            reason="Xin registered first.",
            today=TODAY,
        )
        second.refresh_from_db()
        assert second.stage == Stage.REJECTED
        assert decision.policy == "First to register wins"
        assert decision.matches_considered[0]["deal"] == first.pk
        with pytest.raises(Conflict):
            services.decide_registration(
                deal=second,
                membership=deal_world.manager,
                actor=deal_world.manager.user,
                outcome=Decision.Outcome.APPROVED,
                reason="again",
            )


def test_co_sell_defaults_to_the_partner_sourced_split(deal_world):
    with tenant_context(deal_world.tenant):
        register(deal_world.rep_x)
        second = register(deal_world.rep_y)
        decision = services.decide_registration(
            deal=second,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            outcome=Decision.Outcome.CO_SELL,
            reason="Both engaged.",
            today=TODAY,
        )
        second.refresh_from_db()
        assert (second.stage, second.partner_share, decision.partner_share) == (
            Stage.APPROVED,
            Decimal("70.00"),
            Decimal("70.00"),
        )


def test_partners_cannot_decide_and_appeal_once_returns_to_the_queue(deal_world):
    with tenant_context(deal_world.tenant):
        register(deal_world.rep_x)
        second = register(deal_world.rep_y)
        with pytest.raises(PermissionDenied):
            services.decide_registration(
                deal=second,
                membership=deal_world.rep_y,
                actor=deal_world.rep_y.user,
                outcome=Decision.Outcome.APPROVED,
                reason="me",
            )
        decision = services.decide_registration(
            deal=second,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            outcome=Decision.Outcome.REJECTED,
            reason="Direct owns it.",
        )
        with pytest.raises(PermissionDenied):
            services.appeal_decision(
                decision=decision,
                membership=deal_world.rep_x,
                actor=deal_world.rep_x.user,
                comment="not mine",
            )
        services.appeal_decision(
            decision=decision,
            membership=deal_world.rep_y,
            actor=deal_world.rep_y.user,
            comment="We met them first.",
        )
        second.refresh_from_db()
        assert second.stage == Stage.SUBMITTED
        decision2 = services.decide_registration(
            deal=second,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            outcome=Decision.Outcome.REJECTED,
            reason="Still direct.",
        )
        with pytest.raises(Conflict):
            services.appeal_decision(
                decision=decision2,
                membership=deal_world.rep_y,
                actor=deal_world.rep_y.user,
                comment="again",
            )


def test_closing_won_records_the_facts_and_can_be_reversed_by_staff(deal_world):
    with tenant_context(deal_world.tenant):
        deal = register(deal_world.rep_x)
        services.start_progress(deal=deal, membership=deal_world.rep_x, actor=deal_world.rep_x.user)
        won = services.close_won(
            deal=deal,
            membership=deal_world.rep_x,
            actor=deal_world.rep_x.user,
            final_amount=Decimal("48000.00"),
            currency="MYR",
            closed_on=TODAY,
            contract_term_months=12,
        )
        assert (won.stage, won.final_amount, won.contract_term_months) == (
            Stage.CLOSED_WON,
            Decimal("48000.00"),
            12,
        )
        with pytest.raises(PermissionDenied):
            services.reverse_closed_won(
                deal=won, membership=deal_world.rep_x, actor=deal_world.rep_x.user, reason="x"
            )
        reversed_ = services.reverse_closed_won(
            deal=won,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            reason="Customer cancelled within 30 days.",
        )
        assert reversed_.reversed_at is not None
        kinds = [e.kind for e in deal.events.all()]
        assert kinds[-1] == "reversed"


def test_another_partner_cannot_move_or_comment_on_a_deal(deal_world):
    with tenant_context(deal_world.tenant):
        deal = register(deal_world.rep_x)
        with pytest.raises(PermissionDenied):
            services.start_progress(
                deal=deal, membership=deal_world.rep_y, actor=deal_world.rep_y.user
            )
        with pytest.raises(PermissionDenied):
            services.add_comment(
                deal=deal, membership=deal_world.rep_y, actor=deal_world.rep_y.user, body="hi"
            )


@pytest.mark.django_db(transaction=True)
def test_two_partners_registering_the_same_customer_at_once_get_exactly_one_approval(
    deal_world,
):
    """Each thread has its own database connection and transaction; the
    database (an advisory lock per tenant) decides who is first."""
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def attempt(name, membership):
        try:
            with tenant_context(deal_world.tenant):
                barrier.wait(timeout=10)
                results[name] = register(membership, company="Concurrent Widgets Sdn Bhd").stage
        except Exception as exc:  # the assertion below shows it
            results[name] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=("x", deal_world.rep_x)),
        threading.Thread(target=attempt, args=("y", deal_world.rep_y)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(map(str, results.values())) == sorted([Stage.APPROVED, Stage.SUBMITTED])
    with tenant_context(deal_world.tenant):
        conflicted = DealRegistration.objects.get(stage=Stage.SUBMITTED)
        assert conflicted.is_conflict
        assert conflicted.matches.get().other_deal.stage == Stage.APPROVED


def test_review_matches_again_and_the_decision_lists_what_it_considered(deal_world):
    with tenant_context(deal_world.tenant):
        rules = services.program()
        rules.auto_approve = False
        rules.save()
        deal = register(deal_world.rep_x, company="Sunway Digital", contact_email="a@sunway.my")
        assert not deal.is_conflict
        # The vendor imports its direct accounts after the partner registered.
        account = services.import_account(
            kind=Account.Kind.DIRECT, name="Sunway Digital Berhad", domain="sunway.my"
        )
        decision = services.decide_registration(
            deal=deal,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            outcome=Decision.Outcome.REJECTED,
            reason="Direct account.",
        )
        deal.refresh_from_db()
        assert deal.is_conflict
        assert [m["account"] for m in decision.matches_considered] == [account.pk]
