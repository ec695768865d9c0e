"""The protection window: extension requests and decisions, the nightly expiry
and reminder job (idempotent, resumable after a crash), and its Celery wiring."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals import services, window
from deals.models import (
    DealEvent,
    DealRegistration,
    ExpiryReminder,
    ExtensionRequest,
)
from deals.normalize import normalize_company_name
from deals.tasks import protection_window
from prm.accounts.roles import Role
from prm.audit.models import AuditEvent
from prm.celery import app as celery_app
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.jobs.models import JobRun
from prm.jobs.tasks import FAN_OUT_JOBS, fan_out
from prm.tenancy.context import tenant_context
from tests.factories import MembershipFactory, PartnerFactory, UserFactory

TODAY = date(2026, 11, 23)
Stage = DealRegistration.Stage
_numbers = itertools.count(1)


def make_deal(membership, *, protected_until: date | None, stage: str = Stage.APPROVED):
    """A registration in the given stage, created directly (no matching involved)."""
    n = next(_numbers)
    company = f"Customer {n} Sdn Bhd"
    closed = stage == Stage.CLOSED_WON
    return DealRegistration.objects.create(
        reference=f"DR-T{n:05d}",
        partner=membership.partner,
        registered_by=membership.user,
        customer_company=company,
        normalized_name=normalize_company_name(company),
        contact_name="Siti Aminah",
        contact_email=f"buyer@customer{n}.example",
        estimated_close_date=TODAY + timedelta(days=60),
        currency="MYR",
        stage=stage,
        approved_at=None if stage == Stage.SUBMITTED else timezone.now(),
        protected_until=protected_until,
        final_amount=Decimal("1000.00") if closed else None,
        closed_on=TODAY if closed else None,
    )


def kinds(deal) -> list[str]:
    return list(DealEvent.objects.filter(deal=deal).values_list("kind", flat=True))


def run(today: date, **options) -> dict[str, int]:
    return window.run_protection_window_job(today=today, **options)


@pytest.fixture
def partner_admin_x(deal_world):
    """A second, active user of partner X; an inactive one must get no mail."""
    with tenant_context(deal_world.tenant):
        partner = deal_world.rep_x.partner
        MembershipFactory(
            role=Role.PARTNER_REP,
            partner=partner,
            is_active=False,
            user=UserFactory(email="gone@xin.example"),
        )
        return MembershipFactory(
            role=Role.PARTNER_ADMIN, partner=partner, user=UserFactory(email="admin@xin.example")
        )


# --- Extension requests ------------------------------------------------------------


@pytest.mark.django_db
def test_an_approved_extension_moves_the_window_and_is_on_the_timeline(deal_world):
    with tenant_context(deal_world.tenant):
        deal = make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=5))
        request = window.request_extension(
            deal=deal,
            membership=deal_world.rep_x,
            actor=deal_world.rep_x.user,
            days=30,
            reason="The customer's board meets next month.",
            today=TODAY,
        )
        assert (request.status, request.protected_until_at_request) == (
            ExtensionRequest.Status.PENDING,
            TODAY + timedelta(days=5),
        )
        decided = window.decide_extension(
            request=request,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            approve=True,
            reason="",
        )
        deal.refresh_from_db()
        assert deal.protected_until == TODAY + timedelta(days=35)  # from the window's end
        assert deal.stage == Stage.APPROVED
        assert decided.status == ExtensionRequest.Status.APPROVED
        assert decided.decided_by == deal_world.manager.user
        assert decided.decided_at is not None
        assert kinds(deal) == ["extension_requested", "extension_approved"]
        approved = DealEvent.objects.get(deal=deal, kind="extension_approved")
        assert approved.actor == deal_world.manager.user
        assert approved.data["protected_until_before"] == str(TODAY + timedelta(days=5))
        assert approved.data["protected_until"] == str(TODAY + timedelta(days=35))
        actions = set(
            AuditEvent.objects.filter(object_id=str(deal.pk)).values_list("action", flat=True)
        )
        assert actions == {"deal.extension_requested", "deal.extension_approved"}


@pytest.mark.django_db
def test_a_denied_extension_keeps_the_window_and_needs_a_reason(deal_world):
    with tenant_context(deal_world.tenant):
        until = TODAY + timedelta(days=5)
        deal = make_deal(deal_world.rep_x, protected_until=until, stage=Stage.IN_PROGRESS)
        request = window.request_extension(
            deal=deal,
            membership=deal_world.rep_x,
            actor=deal_world.rep_x.user,
            days=14,
            reason="Procurement is slow.",
            today=TODAY,
        )
        manager = deal_world.manager
        with pytest.raises(DomainError) as no_reason:
            window.decide_extension(
                request=request, membership=manager, actor=manager.user, approve=False, reason=" "
            )
        assert no_reason.value.field == "reason"
        denied = window.decide_extension(
            request=request,
            membership=manager,
            actor=manager.user,
            approve=False,
            reason="No activity logged for two months.",
        )
        deal.refresh_from_db()
        assert deal.protected_until == until
        assert denied.status == ExtensionRequest.Status.DENIED
        assert denied.decision_reason == "No activity logged for two months."
        assert kinds(deal) == ["extension_requested", "extension_denied"]
        with pytest.raises(Conflict):  # decided once, for good
            window.decide_extension(
                request=request, membership=manager, actor=manager.user, approve=True
            )


@pytest.mark.django_db
def test_a_deal_has_at_most_one_pending_extension_request(deal_world):
    with tenant_context(deal_world.tenant):
        deal = make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=10))
        ask = {
            "deal": deal,
            "membership": deal_world.rep_x,
            "actor": deal_world.rep_x.user,
            "reason": "More time, please.",
            "today": TODAY,
        }
        first = window.request_extension(days=10, **ask)
        with pytest.raises(Conflict):
            window.request_extension(days=20, **ask)
        # The database holds the rule, whatever code writes the row.
        with pytest.raises(IntegrityError), transaction.atomic():
            ExtensionRequest.objects.create(
                deal=deal,
                requested_by=deal_world.rep_x.user,
                requested_days=5,
                reason="Sneaking past the service.",
                protected_until_at_request=deal.protected_until,
            )
        window.decide_extension(
            request=first,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            approve=False,
            reason="Not now.",
        )
        second = window.request_extension(days=20, **ask)  # allowed once decided
        assert ExtensionRequest.objects.filter(deal=deal).count() == 2
        assert second.status == ExtensionRequest.Status.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize("days", [0, 91, -5])
def test_an_extension_is_for_1_to_90_days(deal_world, days):
    with tenant_context(deal_world.tenant):
        deal = make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=10))
        with pytest.raises(DomainError) as error:
            window.request_extension(
                deal=deal,
                membership=deal_world.rep_x,
                actor=deal_world.rep_x.user,
                days=days,
                reason="More time.",
                today=TODAY,
            )
        assert error.value.field == "days"
        assert not ExtensionRequest.objects.exists()


@pytest.mark.django_db
def test_only_the_deals_own_partner_requests_and_only_staff_decide(deal_world):
    with tenant_context(deal_world.tenant):
        deal = make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=10))
        for outsider in (deal_world.rep_y, deal_world.manager):
            with pytest.raises(PermissionDenied):
                window.request_extension(
                    deal=deal,
                    membership=outsider,
                    actor=outsider.user,
                    days=10,
                    reason="Let me have it.",
                    today=TODAY,
                )
        assert not ExtensionRequest.objects.exists()
        request = window.request_extension(
            deal=deal,
            membership=deal_world.rep_x,
            actor=deal_world.rep_x.user,
            days=10,
            reason="Customer on holiday.",
            today=TODAY,
        )
        for partner_user in (deal_world.rep_x, deal_world.rep_y):
            with pytest.raises(PermissionDenied):
                window.decide_extension(
                    request=request,
                    membership=partner_user,
                    actor=partner_user.user,
                    approve=True,
                )
        request.refresh_from_db()
        deal.refresh_from_db()
        assert request.status == ExtensionRequest.Status.PENDING
        assert deal.protected_until == TODAY + timedelta(days=10)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stage", "until"),
    [
        (Stage.SUBMITTED, None),
        (Stage.EXPIRED, TODAY - timedelta(days=2)),
        (Stage.CLOSED_WON, TODAY + timedelta(days=10)),
        (Stage.APPROVED, TODAY - timedelta(days=1)),  # lapsed, not yet expired by the job
    ],
)
def test_only_a_protected_registration_can_be_extended(deal_world, stage, until):
    with tenant_context(deal_world.tenant):
        deal = make_deal(deal_world.rep_x, protected_until=until, stage=stage)
        with pytest.raises(Conflict):
            window.request_extension(
                deal=deal,
                membership=deal_world.rep_x,
                actor=deal_world.rep_x.user,
                days=10,
                reason="More time.",
                today=TODAY,
            )


@pytest.mark.django_db
def test_an_extension_cannot_be_approved_once_the_deal_is_closed(deal_world):
    with tenant_context(deal_world.tenant):
        deal = make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=10))
        request = window.request_extension(
            deal=deal,
            membership=deal_world.rep_x,
            actor=deal_world.rep_x.user,
            days=10,
            reason="More time.",
            today=TODAY,
        )
        DealRegistration.objects.filter(pk=deal.pk).update(
            stage=Stage.CLOSED_LOST, protected_until=TODAY + timedelta(days=10)
        )
        manager = deal_world.manager
        with pytest.raises(Conflict):
            window.decide_extension(
                request=request, membership=manager, actor=manager.user, approve=True
            )
        denied = window.decide_extension(
            request=request,
            membership=manager,
            actor=manager.user,
            approve=False,
            reason="The deal is closed.",
        )
        assert denied.status == ExtensionRequest.Status.DENIED


# --- Expiry ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_expiry_changes_only_lapsed_deals_and_writes_one_event_each(deal_world, tenant_b):
    with tenant_context(tenant_b):
        other_tenant = make_deal(
            MembershipFactory(role=Role.PARTNER_REP, partner=PartnerFactory()),
            protected_until=TODAY - timedelta(days=3),
        )
    with tenant_context(deal_world.tenant):
        rep = deal_world.rep_x
        lapsed_approved = make_deal(rep, protected_until=TODAY - timedelta(days=1))
        lapsed_in_progress = make_deal(
            deal_world.rep_y, protected_until=TODAY - timedelta(days=40), stage=Stage.IN_PROGRESS
        )
        last_day = make_deal(rep, protected_until=TODAY)  # protected through today
        future = make_deal(rep, protected_until=TODAY + timedelta(days=30))
        submitted = make_deal(rep, protected_until=None, stage=Stage.SUBMITTED)
        closed = make_deal(rep, protected_until=TODAY - timedelta(days=5), stage=Stage.CLOSED_WON)
        held = make_deal(rep, protected_until=TODAY + timedelta(days=1))
        window.request_extension(
            deal=held,
            membership=rep,
            actor=rep.user,
            days=30,
            reason="Waiting for the budget.",
            today=TODAY,
        )
        DealRegistration.objects.filter(pk=held.pk).update(protected_until=TODAY - timedelta(2))

        counts = run(TODAY)

        assert counts == {"expired": 2, "reminded": 1}  # the last day's deal is reminded
        stages = dict(DealRegistration.objects.values_list("pk", "stage"))
        assert stages == {
            lapsed_approved.pk: Stage.EXPIRED,
            lapsed_in_progress.pk: Stage.EXPIRED,
            last_day.pk: Stage.APPROVED,
            future.pk: Stage.APPROVED,
            submitted.pk: Stage.SUBMITTED,
            closed.pk: Stage.CLOSED_WON,
            held.pk: Stage.APPROVED,  # a pending extension request holds the deal
        }
        expired_events = DealEvent.objects.filter(kind="expired").order_by("deal_id")
        assert [(e.deal_id, e.from_stage, e.to_stage, e.actor) for e in expired_events] == [
            (lapsed_approved.pk, Stage.APPROVED, Stage.EXPIRED, None),
            (lapsed_in_progress.pk, Stage.IN_PROGRESS, Stage.EXPIRED, None),
        ]
        audited = AuditEvent.objects.filter(action="deal.expired")
        assert sorted(audited.values_list("object_id", flat=True)) == sorted(
            [str(lapsed_approved.pk), str(lapsed_in_progress.pk)]
        )
        # Once staff deny the request, the next night expires the held deal.
        window.decide_extension(
            request=held.extension_requests.get(),
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            approve=False,
            reason="No progress.",
        )
        assert run(TODAY + timedelta(days=1))["expired"] == 2
        expired = DealRegistration.objects.filter(
            stage=Stage.EXPIRED, pk__in=[held.pk, last_day.pk]
        )
        assert expired.count() == 2
    with tenant_context(tenant_b):
        assert DealRegistration.objects.get(pk=other_tenant.pk).stage == Stage.APPROVED
        assert not DealEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_running_the_job_twice_changes_nothing_the_second_time(deal_world, partner_admin_x):
    with tenant_context(deal_world.tenant):
        for days in (-3, -1):
            make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=days))
        for days in (14, 3, 2):
            make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=days))

        assert run(TODAY) == {"expired": 2, "reminded": 3}
        events, reminders, sent = DealEvent.objects.count(), ExpiryReminder.objects.count(), 6
        assert len(mail.outbox) == sent  # 3 deals × 2 active users of partner X

        assert run(TODAY) == {"expired": 0, "reminded": 0}
        assert DealEvent.objects.count() == events
        assert ExpiryReminder.objects.count() == reminders == 3
        assert AuditEvent.objects.filter(action="deal.expired").count() == 2
        assert len(mail.outbox) == sent


class Killed(RuntimeError):
    pass


@pytest.mark.django_db(transaction=True)
def test_a_run_killed_halfway_resumes_with_nothing_doubled_or_lost(deal_world):
    with tenant_context(deal_world.tenant):
        lapsed = [
            make_deal(deal_world.rep_x, protected_until=TODAY - timedelta(days=d))
            for d in (1, 2, 3)
        ]
        due = [
            make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=d))
            for d in (10, 12, 14)
        ]

        def kill_after_first(phase_to_kill: str):
            def after_chunk(phase: str, count: int) -> None:
                if phase == phase_to_kill:
                    raise Killed(phase)

            return after_chunk

        with pytest.raises(Killed):  # dies after committing one expiry
            run(TODAY, chunk_size=1, after_chunk=kill_after_first("expire"))
        assert DealRegistration.objects.filter(stage=Stage.EXPIRED).count() == 1
        assert not ExpiryReminder.objects.exists()

        with pytest.raises(Killed):  # finishes expiring, dies after one reminder
            run(TODAY, chunk_size=1, after_chunk=kill_after_first("remind"))
        assert DealRegistration.objects.filter(stage=Stage.EXPIRED).count() == 3
        assert ExpiryReminder.objects.count() == 1
        assert len(mail.outbox) == 1  # its chunk committed, so its mail went out

        assert run(TODAY, chunk_size=1) == {"expired": 0, "reminded": 2}

        for deal in lapsed:
            assert kinds(deal) == ["expired"]
        assert AuditEvent.objects.filter(action="deal.expired").count() == 3
        assert sorted(ExpiryReminder.objects.values_list("deal_id", flat=True)) == [
            d.pk for d in due
        ]
        subjects = sorted(message.subject for message in mail.outbox)
        assert len(subjects) == len(set(subjects)) == 3  # one per deal, none twice
        assert all(message.to == [deal_world.rep_x.user.email] for message in mail.outbox)


# --- Reminders ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_reminders_14_and_3_days_before_expiry_are_sent_once_each(deal_world, partner_admin_x):
    with tenant_context(deal_world.tenant):
        end = TODAY + timedelta(days=20)
        deal = make_deal(deal_world.rep_x, protected_until=end)
        make_deal(deal_world.rep_y, protected_until=end + timedelta(days=30))  # not due

        sent_on: dict[int, list] = {}
        for day in range(21, -2, -1):  # every night from 21 days before to 1 day after
            before = len(mail.outbox)
            counts = run(end - timedelta(days=day))
            if mail.outbox[before:]:
                sent_on[day] = [(m.to, m.subject) for m in mail.outbox[before:]]
            assert counts["reminded"] == (1 if day in (14, 3) else 0)

        recipients = [["admin@xin.example"], [deal_world.rep_x.user.email]]
        assert sorted(sent_on) == [3, 14]
        for day in (3, 14):
            assert sorted(to for to, _subject in sent_on[day]) == sorted(recipients)
        assert list(
            ExpiryReminder.objects.order_by("-days_before").values_list(
                "deal_id", "protected_until", "days_before"
            )
        ) == [(deal.pk, end, 14), (deal.pk, end, 3)]
        deal.refresh_from_db()
        assert deal.stage == Stage.EXPIRED  # the night after the last protected day


@pytest.mark.django_db(transaction=True)
def test_a_missed_night_is_caught_up_with_the_nearest_reminder_only(deal_world):
    with tenant_context(deal_world.tenant):
        week = make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=7))
        two_days = make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=2))
        assert run(TODAY)["reminded"] == 2
        assert sorted(ExpiryReminder.objects.values_list("deal_id", "days_before")) == sorted(
            [(week.pk, 14), (two_days.pk, 3)]
        )


@pytest.mark.django_db(transaction=True)
def test_the_reminder_is_in_the_tenants_language_and_names_the_deal(deal_world):
    with tenant_context(deal_world.tenant):  # tenant A speaks zh-hans
        deal = make_deal(deal_world.rep_x, protected_until=date(2026, 12, 7))
        run(date(2026, 12, 4))
        (message,) = mail.outbox
        assert message.to == [deal_world.rep_x.user.email]
        assert deal.reference in message.subject
        assert deal.customer_company in message.body
        assert "2026年12月7日" in message.body  # the date in the tenant's locale
        assert "\n" not in message.subject


@pytest.mark.django_db(transaction=True)
def test_an_approved_extension_gets_reminders_for_its_new_window(deal_world):
    with tenant_context(deal_world.tenant):
        deal = make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=3))
        assert run(TODAY)["reminded"] == 1
        request = window.request_extension(
            deal=deal,
            membership=deal_world.rep_x,
            actor=deal_world.rep_x.user,
            days=11,
            reason="Legal review.",
            today=TODAY,
        )
        window.decide_extension(
            request=request,
            membership=deal_world.manager,
            actor=deal_world.manager.user,
            approve=True,
        )
        assert run(TODAY)["reminded"] == 1  # 14 days before the new end
        assert sorted(ExpiryReminder.objects.values_list("protected_until", "days_before")) == [
            (TODAY + timedelta(days=3), 3),
            (TODAY + timedelta(days=14), 14),
        ]


@pytest.mark.django_db(transaction=True)
def test_the_job_costs_the_same_queries_for_4_deals_as_for_40(deal_world):
    def job_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            run(TODAY)
        return len(captured)

    def add_deals(count: int) -> None:
        for _ in range(count):
            make_deal(deal_world.rep_x, protected_until=TODAY - timedelta(days=1))
            make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=14))

    with tenant_context(deal_world.tenant):
        services.program()
        add_deals(2)
        few = job_queries()
        add_deals(20)
        many = job_queries()
        assert ExpiryReminder.objects.count() == 22
    assert many == few


class FailingBackend(BaseEmailBackend):
    """An SMTP server that refuses everything."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


@pytest.mark.django_db(transaction=True)
def test_a_mail_failure_is_counted_and_the_reminder_is_not_sent_twice(deal_world, settings):
    settings.EMAIL_BACKEND = "tests.deals.test_window.FailingBackend"
    with tenant_context(deal_world.tenant):
        make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=3))
        assert run(TODAY) == {"expired": 0, "reminded": 1, "mail_failed": 1}
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        assert run(TODAY) == {"expired": 0, "reminded": 0}
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_job_refuses_to_run_inside_a_transaction(deal_world):
    with tenant_context(deal_world.tenant), pytest.raises(RuntimeError, match="outside"):
        run(TODAY)


# --- The Celery task ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_nightly_task_records_a_job_run_with_its_counts(deal_world):
    with tenant_context(deal_world.tenant):
        make_deal(deal_world.rep_x, protected_until=TODAY - timedelta(days=1))
        make_deal(deal_world.rep_x, protected_until=TODAY + timedelta(days=14))
    result = protection_window.apply(
        kwargs={"tenant_id": deal_world.tenant.pk, "today": TODAY.isoformat()}
    )
    assert result.successful()
    with tenant_context(deal_world.tenant):
        job_run = JobRun.objects.get(pk=result.result)
        assert job_run.job == "deals.protection_window"
        assert job_run.run_key == TODAY.isoformat()
        assert job_run.status == JobRun.Status.SUCCEEDED
        assert job_run.counts == {"expired": 1, "reminded": 1}
        assert (job_run.progress_done, job_run.progress_total) == (2, 2)
    # A rerun of the same day is recorded too, and does nothing.
    again = protection_window.apply(
        kwargs={"tenant_id": deal_world.tenant.pk, "today": TODAY.isoformat()}
    )
    with tenant_context(deal_world.tenant):
        assert JobRun.objects.get(pk=again.result).counts == {"expired": 0, "reminded": 0}
        assert JobRun.objects.filter(job="deals.protection_window").count() == 2
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_is_recorded_with_the_counts_it_reached(deal_world):
    with tenant_context(deal_world.tenant):
        for d in (1, 2):
            make_deal(deal_world.rep_x, protected_until=TODAY - timedelta(days=d))

        def body(progress):
            def die(phase: str, count: int) -> None:
                raise Killed(phase)

            window.run_protection_window_job(
                today=TODAY, progress=progress, chunk_size=1, after_chunk=die
            )

        from prm.jobs.runner import run_job

        with pytest.raises(Killed):
            run_job(job="deals.protection_window", body=body)
        failed = JobRun.objects.get()
        assert failed.status == JobRun.Status.FAILED
        assert failed.counts == {"expired": 1, "reminded": 0}
        assert "Killed" in failed.error


@pytest.mark.django_db(transaction=True)
def test_the_job_is_fanned_out_to_every_tenant_by_the_nightly_beat(tenant_a, tenant_b):
    task_name = FAN_OUT_JOBS["deals.protection_window"]
    assert task_name == protection_window.name
    assert task_name in celery_app.tasks
    nightly = [
        entry
        for entry in celery_app.conf.beat_schedule.values()
        if entry["kwargs"] == {"job": "deals.protection_window"}
    ]
    assert len(nightly) == 1
    assert nightly[0]["task"] == fan_out.name
    assert nightly[0]["schedule"].hour == {0}  # once a day
    celery_app.control.purge()
    try:
        assert fan_out.apply(kwargs={"job": "deals.protection_window"}).result == 2
    finally:
        celery_app.control.purge()
