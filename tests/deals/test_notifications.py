"""Who hears about deal decisions, extension decisions and expiry reminders, in the
portal and by e-mail: the registering partner for every outcome, the partners
whose registrations claim the same customer for award-first and co-sell (about
their own registration only), in each person's language, and only once the
decision commits."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from deals import services, window
from deals.models import DealProgram, DealRegistration, Decision
from deals.normalize import normalize_company_name
from prm.accounts.roles import Role
from prm.notifications.models import Notification
from prm.notifications.rendering import render
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, UserFactory

Stage = DealRegistration.Stage
Outcome = Decision.Outcome
SECRET_AMOUNT = Decimal("98765.43")


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


def decide(world, deal, outcome, reason="Reviewed.", **extra):
    with tenant_context(world.tenant):
        return services.decide_registration(
            deal=deal,
            membership=world.manager,
            actor=world.manager.user,
            outcome=outcome,
            reason=reason,
            **extra,
        )


def notes_of(tenant, partner_id: int) -> list[Notification]:
    with tenant_context(tenant):
        return list(
            Notification.objects.filter(partner_id=partner_id)
            .select_related("recipient")
            .order_by("recipient__email", "id")
        )


def text_of(note: Notification, language: str = "en") -> str:
    rendered = render(note.kind, note.params, language=language)
    return f"{rendered.title}\n{rendered.body}"


def mails_to(address: str) -> list:
    return [message for message in mail.outbox if message.to == [address]]


@pytest.fixture
def admin_y(deal_world):
    """A second user of partner Y who reads English (rep Y has no preference: zh-hans)."""
    with tenant_context(deal_world.tenant):
        return MembershipFactory(
            role=Role.PARTNER_ADMIN,
            partner=deal_world.rep_y.partner,
            user=UserFactory(email="admin@yellow.example", preferred_language="en"),
        )


@pytest.fixture
def conflict(deal_world):
    """Partner X registers Acme first (approved); partner Y's later one waits in review
    with an estimated amount nobody else may learn."""
    first = register(deal_world.rep_x)
    second = register(
        deal_world.rep_y, company="ACME HOLDINGS SDN. BHD.", estimated_amount=SECRET_AMOUNT
    )
    assert (first.stage, second.stage, second.is_conflict) == (
        Stage.APPROVED,
        Stage.SUBMITTED,
        True,
    )
    return first, second


@pytest.fixture
def oncommit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks as the test's transaction would commit."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- the registering partner ---------------------------------------------------------------


@pytest.mark.django_db
def test_an_approval_reaches_every_user_of_the_partner_in_their_language(
    deal_world, conflict, admin_y, oncommit
):
    _first, second = conflict
    with oncommit():
        decide(deal_world, second, Outcome.APPROVED, reason="The customer asked for Yellow.")

    with tenant_context(deal_world.tenant):
        second.refresh_from_db()
    notes = notes_of(deal_world.tenant, second.partner_id)
    assert [n.recipient.email for n in notes] == [
        "admin@yellow.example",
        deal_world.rep_y.user.email,
    ]
    assert {n.kind for n in notes} == {"deals.decided"}
    assert {n.link for n in notes} == {f"/deals/{second.reference}/"}
    text = text_of(notes[0])
    assert f"ACME HOLDINGS SDN. BHD. ({second.reference}) is approved" in text
    assert "The customer asked for Yellow." in text
    until = second.protected_until
    assert until is not None
    # E-mails: English for the admin who prefers it, the tenant's Chinese for the rep.
    (english,) = mails_to("admin@yellow.example")
    (chinese,) = mails_to(deal_world.rep_y.user.email)
    assert "is approved" in english.subject
    assert f"https://alpha.localhost/deals/{second.reference}/" in english.body
    assert f"{until.year}年{until.month}月{until.day}日" in chinese.body
    # An approval is news for partner Y only.
    assert notes_of(deal_world.tenant, deal_world.rep_x.partner_id) == []
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_rejection_carries_the_reason_and_the_right_to_appeal(deal_world, conflict, oncommit):
    _first, second = conflict
    with oncommit():
        decide(deal_world, second, Outcome.REJECTED, reason="Partner X was first.")
    (note,) = notes_of(deal_world.tenant, second.partner_id)
    text = text_of(note)
    assert "is rejected" in text
    assert "Reason: Partner X was first." in text
    assert "appeal it once" in text
    assert note.params["stage"] == Stage.REJECTED


@pytest.mark.django_db
def test_the_decision_after_an_appeal_is_the_appeal_result(deal_world, conflict, oncommit):
    _first, second = conflict
    decision = decide(deal_world, second, Outcome.REJECTED, reason="Duplicate.")
    with tenant_context(deal_world.tenant):
        services.appeal_decision(
            decision=decision,
            membership=deal_world.rep_y,
            actor=deal_world.rep_y.user,
            comment="We met them first.",
        )
        Notification.objects.all().delete()
    with oncommit():
        decide(deal_world, second, Outcome.APPROVED, reason="The appeal shows earlier contact.")

    (note,) = notes_of(deal_world.tenant, second.partner_id)
    assert note.params["after_appeal"] is True
    text = text_of(note)
    assert text.startswith(f"Appeal decided: ACME HOLDINGS SDN. BHD. ({second.reference})")
    assert "is approved" in text and "answers your appeal" in text
    (message,) = mail.outbox
    assert message.to == [deal_world.rep_y.user.email]
    assert second.reference in message.subject


# --- the other partners: award-first and co-sell --------------------------------------------


def assert_says_nothing_about(text: str, deal: DealRegistration) -> None:
    """A partner learns only that its customer is claimed: not by whom, nor for how much."""
    for secret in (
        deal.reference,
        "Yellow Reseller",
        "98765",
        "98,765",
        deal.registered_by.email,
    ):
        assert secret not in text


@pytest.mark.django_db
def test_award_to_the_first_tells_the_first_registrant_without_naming_the_other(
    deal_world, conflict, oncommit
):
    first, second = conflict
    with oncommit():
        decide(deal_world, second, Outcome.AWARDED_FIRST, reason="First to register wins.")

    (loser,) = notes_of(deal_world.tenant, second.partner_id)
    assert loser.params["stage"] == Stage.REJECTED
    assert "awarded the customer to the first registrant" in text_of(loser)
    (winner,) = notes_of(deal_world.tenant, first.partner_id)
    assert winner.kind == "deals.conflict_decided"
    assert winner.link == f"/deals/{first.reference}/"
    assert winner.params == {
        "reference": first.reference,
        "company": first.customer_company,
        "outcome": Outcome.AWARDED_FIRST,
        "first": True,
    }
    text = text_of(winner)
    assert f"your deal registration {first.reference}" in text
    assert "your registration was the first" in text
    assert_says_nothing_about(text, second)
    (message,) = mails_to(deal_world.rep_x.user.email)
    assert_says_nothing_about(message.subject + message.body, second)
    assert "First to register wins." not in text  # staff's reason is for the decided partner


@pytest.mark.django_db
def test_award_to_the_first_tells_a_later_registrant_it_was_not_first(deal_world, oncommit):
    with tenant_context(deal_world.tenant):
        DealProgram.objects.filter(pk=services.program().pk).update(auto_approve=False)
    first = register(deal_world.rep_x)
    later = register(deal_world.rep_y, company="Acme Holdings Berhad", estimated_amount=1)
    assert later.is_conflict

    with oncommit():
        decide(deal_world, first, Outcome.AWARDED_FIRST)

    (mine,) = notes_of(deal_world.tenant, first.partner_id)
    assert mine.params["stage"] == Stage.APPROVED
    assert "Yours was registered first" in text_of(mine)
    (theirs,) = notes_of(deal_world.tenant, later.partner_id)
    assert theirs.params["first"] is False
    text = text_of(theirs)
    assert "your registration was not the first" in text
    assert first.reference not in text and "Xin" not in text
    with tenant_context(deal_world.tenant):
        later.refresh_from_db()
    assert later.stage == Stage.SUBMITTED  # decided on its own, later


@pytest.mark.django_db
def test_co_sell_tells_the_partner_its_share_and_the_other_only_that_it_was_decided(
    deal_world, conflict, oncommit
):
    first, second = conflict
    with oncommit():
        decide(deal_world, second, Outcome.CO_SELL, partner_share=Decimal("62.5"))

    (cosell,) = notes_of(deal_world.tenant, second.partner_id)
    assert "Your share of the commission is 62.50%" in text_of(cosell)
    (other,) = notes_of(deal_world.tenant, first.partner_id)
    text = text_of(other)
    assert "as a co-sell with the vendor's direct sales" in text
    assert "62.5" not in text and "62,5" not in text  # not even the share
    assert_says_nothing_about(text, second)


@pytest.mark.django_db
def test_closed_or_rejected_rivals_are_not_told(deal_world, conflict, oncommit):
    first, second = conflict
    with tenant_context(deal_world.tenant):
        DealRegistration.objects.filter(pk=first.pk).update(stage=Stage.CLOSED_LOST)
    with oncommit():
        decide(deal_world, second, Outcome.AWARDED_FIRST)
    assert notes_of(deal_world.tenant, first.partner_id) == []


# --- only on commit ----------------------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.django_db
def test_a_rolled_back_decision_notifies_nobody(deal_world, conflict, oncommit):
    _first, second = conflict
    with oncommit() as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            decide(deal_world, second, Outcome.AWARDED_FIRST)
            raise Boom
    assert callbacks == []
    assert mail.outbox == []
    with tenant_context(deal_world.tenant):
        assert not Notification.objects.exists()
        second.refresh_from_db()
        assert second.stage == Stage.SUBMITTED


@pytest.mark.django_db(transaction=True)
def test_a_committed_decision_is_mailed_after_the_commit(deal_world, conflict):
    first, second = conflict
    with transaction.atomic():
        decide(deal_world, second, Outcome.AWARDED_FIRST)
        assert mail.outbox == []
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [deal_world.rep_x.user.email, deal_world.rep_y.user.email]
    )
    with tenant_context(deal_world.tenant):
        assert Notification.objects.count() == 2


# --- extension decisions --------------------------------------------------------------------


def protected_deal(world, *, until: date):
    deal = register(world.rep_x, company="Borneo Logistics Sdn Bhd", email="ops@borneo.my")
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=deal.pk).update(protected_until=until)
        deal.refresh_from_db()
    return deal


def ask(world, deal, days=10):
    with tenant_context(world.tenant):
        return window.request_extension(
            deal=deal,
            membership=world.rep_x,
            actor=world.rep_x.user,
            days=days,
            reason="The board meets next month.",
        )


@pytest.mark.django_db
@pytest.mark.parametrize("approve", [True, False])
def test_an_extension_decision_is_notified_and_mailed_once(deal_world, oncommit, approve):
    with tenant_context(deal_world.tenant):
        until = window.tenant_today() + timedelta(days=5)
    deal = protected_deal(deal_world, until=until)
    request = ask(deal_world, deal, days=1 if approve else 10)
    with tenant_context(deal_world.tenant):
        assert not Notification.objects.exists()  # asking tells nobody in the portal
        with oncommit():
            window.decide_extension(
                request=request,
                membership=deal_world.manager,
                actor=deal_world.manager.user,
                approve=approve,
                reason="" if approve else "The window is long enough.",
            )

    (note,) = notes_of(deal_world.tenant, deal.partner_id)
    text = text_of(note)
    if approve:
        new_end = until + timedelta(days=1)
        assert note.params["protected_until"] == {"$date": new_end.isoformat()}
        assert "approved your request" in text and "by 1 day." in text
        assert "Reason" not in text
    else:
        assert "denied your request" in text and "by 10 days" in text
        assert "Reason: The window is long enough." in text
    assert note.link == f"/deals/{deal.reference}/"
    assert len(mail.outbox) == 1
    assert notes_of(deal_world.tenant, deal_world.rep_y.partner_id) == []


@pytest.mark.django_db
def test_a_rolled_back_extension_decision_notifies_nobody(deal_world, oncommit):
    with tenant_context(deal_world.tenant):
        until = window.tenant_today() + timedelta(days=5)
    deal = protected_deal(deal_world, until=until)
    request = ask(deal_world, deal)
    with tenant_context(deal_world.tenant), oncommit() as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            window.decide_extension(
                request=request,
                membership=deal_world.manager,
                actor=deal_world.manager.user,
                approve=True,
            )
            raise Boom
    assert callbacks == [] and mail.outbox == []
    with tenant_context(deal_world.tenant):
        assert not Notification.objects.exists()


# --- expiry reminders ---------------------------------------------------------------------------

TODAY = date(2026, 11, 23)


def due_deal(membership, n: int, *, until: date) -> DealRegistration:
    company = f"Reminder Customer {n} Sdn Bhd"
    return DealRegistration.objects.create(
        reference=f"DR-N{n:05d}",
        partner=membership.partner,
        registered_by=membership.user,
        customer_company=company,
        normalized_name=normalize_company_name(company),
        contact_name="Siti Aminah",
        contact_email=f"buyer@reminder{n}.example",
        estimated_close_date=TODAY + timedelta(days=60),
        currency="MYR",
        stage=Stage.APPROVED,
        approved_at=timezone.now(),
        protected_until=until,
    )


@pytest.mark.django_db(transaction=True)
def test_reminders_reach_the_portal_once_and_keep_their_single_e_mail(deal_world):
    with tenant_context(deal_world.tenant):
        malay = MembershipFactory(
            role=Role.PARTNER_ADMIN,
            partner=deal_world.rep_x.partner,
            user=UserFactory(email="admin@xin.example", preferred_language="ms"),
        )
        deals = [due_deal(deal_world.rep_x, n, until=date(2026, 12, 7)) for n in (1, 2)]
        due_deal(deal_world.rep_y, 3, until=date(2027, 3, 1))  # not due

        assert window.run_protection_window_job(today=TODAY)["reminded"] == 2
        assert window.run_protection_window_job(today=TODAY)["reminded"] == 0  # rerun

        notes = list(Notification.objects.order_by("id"))
        assert len(notes) == 4  # 2 deals × 2 active users of partner X, once
        assert {n.kind for n in notes} == {"deals.expiry_reminder"}
        assert {n.link for n in notes} == {f"/deals/{d.reference}/" for d in deals}
        assert {n.recipient_id for n in notes} == {deal_world.rep_x.user_id, malay.user_id}
        assert not Notification.objects.filter(partner=deal_world.rep_y.partner_id).exists()
    # Exactly the reminder e-mails: one per person and deal, none from the portal copy.
    assert len(mail.outbox) == 4
    assert sorted(re.findall(r"DR-N\d{5}", m.subject)[0] for m in mail.outbox) == sorted(
        [d.reference for d in deals] * 2
    )
    malay_mail = mails_to("admin@xin.example")
    chinese_mail = mails_to(deal_world.rep_x.user.email)
    assert len(malay_mail) == len(chinese_mail) == 2
    assert all("7 Dis 2026" in m.body for m in malay_mail)
    assert all("2026年12月7日" in m.body for m in chinese_mail)
