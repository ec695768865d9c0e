"""The sweep and the routing jobs: SLA expiry and re-routing, rejection,
retries, idempotency, a run killed halfway, concurrent sweeps, JobRuns."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from deals import leads as lead_services
from deals import routing
from deals.leads import lead_routing
from deals.models import Lead, LeadAssignment, PartnerLeadProfile, RoutingRule
from deals.tasks import lead_sweep, route_leads_task
from prm.audit.models import AuditEvent
from prm.celery import app as celery_app
from prm.jobs.models import JobRun
from prm.jobs.tasks import FAN_OUT_JOBS
from prm.tenancy.context import tenant_context
from tests.leads.conftest import make_lead, make_leads

Outcome = LeadAssignment.Outcome
Status = Lead.Status
Via = LeadAssignment.Via


def history(lead: Lead) -> list[tuple[str, int | None, str]]:
    return list(
        LeadAssignment.objects.filter(lead=lead)
        .order_by("pk")
        .values_list("outcome", "partner_id", "via")
    )


def snapshot() -> tuple:
    """Everything routing writes, to compare two runs."""
    return (
        list(
            LeadAssignment.objects.order_by("pk").values_list(
                "pk", "lead_id", "partner_id", "outcome", "via", "due_at", "trace"
            )
        ),
        list(Lead.objects.order_by("pk").values_list("pk", "status", "partner_id", "due_at")),
        list(
            PartnerLeadProfile.objects.order_by("pk").values_list("partner_id", "last_offered_at")
        ),
        AuditEvent.objects.count(),
    )


ZERO = {"expired": 0, "offered": 0, "direct": 0, "unrouted": 0, "still_unrouted": 0}


# --- SLA expiry --------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unanswered_offer_expires_and_moves_on_never_back_to_an_earlier_partner(world):
    with tenant_context(world.tenant):
        a, b, c = (world.partner(name) for name in ("A", "B", "C"))
        lead = make_lead()
        start = timezone.now()
        routing.route_leads(via=Via.ARRIVAL, now=start)
        lead.refresh_from_db()
        assert lead.due_at == start + timedelta(hours=48)

        # Not due yet: the sweep leaves the offer alone.
        assert routing.run_lead_sweep(now=start + timedelta(hours=47)) == ZERO

        sweeps = [start + timedelta(hours=49 * n) for n in (1, 2, 3)]
        assert routing.run_lead_sweep(now=sweeps[0]) == {**ZERO, "expired": 1, "offered": 1}
        lead.refresh_from_db()
        assert (lead.status, lead.partner_id) == (Status.OFFERED, b.pk)
        assert lead.due_at == sweeps[0] + timedelta(hours=48)
        assert routing.run_lead_sweep(now=sweeps[1])["offered"] == 1
        assert routing.run_lead_sweep(now=sweeps[2]) == {**ZERO, "expired": 1, "unrouted": 1}

        assert history(lead) == [
            (Outcome.EXPIRED, a.pk, Via.ARRIVAL),
            (Outcome.EXPIRED, b.pk, Via.REROUTE),
            (Outcome.EXPIRED, c.pk, Via.REROUTE),
            (Outcome.UNROUTED, None, Via.REROUTE),
        ]
        trace = LeadAssignment.objects.filter(lead=lead).last().trace
        assert trace["excluded"] == [
            {"id": p.pk, "name": p.legal_name, "reason": "offered_before"} for p in (a, b, c)
        ]
        assert trace["excluded_counts"]["offered_before"] == 3
        lead.refresh_from_db()
        assert (lead.status, lead.partner_id, lead.due_at) == (Status.UNROUTED, None, None)
        assert AuditEvent.objects.filter(action="lead.offer_expired").count() == 3
        # A new partner in the territory gets it on the next sweep.
        d = world.partner("D")
        routing.run_lead_sweep(now=sweeps[2] + timedelta(hours=1))
        lead.refresh_from_db()
        assert (lead.status, lead.partner_id) == (Status.OFFERED, d.pk)
        assert history(lead)[-1] == (Outcome.PENDING, d.pk, Via.SWEEP)


@pytest.mark.django_db(transaction=True)
def test_a_rejected_lead_is_re_routed_on_commit_to_the_next_partner(world, broker):
    with tenant_context(world.tenant):
        a, b = world.partner("A"), world.partner("B")
        rep_a = world.rep(a)
        lead = make_lead()
        routing.route_leads(via=Via.ARRIVAL)

        lead_services.reject_lead(
            lead=lead, membership=rep_a, actor=rep_a.user, reason="Outside our focus."
        )

    assert broker() == [
        (
            "deals.tasks.route_leads",
            {"tenant_id": world.tenant.pk, "lead_ids": [lead.pk], "via": "reroute"},
        )
    ]
    route_leads_task.apply(
        kwargs={"tenant_id": world.tenant.pk, "lead_ids": [lead.pk], "via": "reroute"}
    )
    with tenant_context(world.tenant):
        assert history(lead) == [
            (Outcome.REJECTED, a.pk, Via.ARRIVAL),
            (Outcome.PENDING, b.pk, Via.REROUTE),
        ]
        rejected = LeadAssignment.objects.get(outcome=Outcome.REJECTED)
        assert (rejected.reason, rejected.responded_by) == ("Outside our focus.", rep_a.user)
        lead.refresh_from_db()
        assert (lead.status, lead.partner_id) == (Status.OFFERED, b.pk)


@pytest.mark.django_db
def test_a_sweep_re_routes_a_rejected_lead_whose_task_was_lost(world):
    with tenant_context(world.tenant):
        a, b = world.partner("A"), world.partner("B")
        rep_a = world.rep(a)
        lead = make_lead()
        routing.route_leads(via=Via.ARRIVAL)
        lead_services.reject_lead(lead=lead, membership=rep_a, actor=rep_a.user, reason="No.")

        assert routing.run_lead_sweep()["offered"] == 1
        assert history(lead)[-1] == (Outcome.PENDING, b.pk, Via.REROUTE)


# --- Retries and idempotency ----------------------------------------------------------------


@pytest.mark.django_db
def test_an_unrouted_lead_is_retried_quietly_and_routed_once_capacity_frees(world):
    with tenant_context(world.tenant):
        only = world.partner("Only", capacity=1)
        first, second = make_leads(2)
        assert routing.route_leads(via=Via.ARRIVAL) == {
            "offered": 1,
            "direct": 0,
            "unrouted": 1,
            "still_unrouted": 0,
        }
        before = snapshot()

        # Still no room: nothing is written, however often the sweep runs.
        assert routing.run_lead_sweep() == {**ZERO, "still_unrouted": 1}
        assert routing.run_lead_sweep() == {**ZERO, "still_unrouted": 1}
        assert snapshot() == before

        lead_services.withdraw_lead(
            lead=first, membership=world.manager, actor=world.manager.user, reason="Duplicate."
        )
        assert routing.run_lead_sweep()["offered"] == 1
        assert history(second) == [
            (Outcome.UNROUTED, None, Via.ARRIVAL),
            (Outcome.PENDING, only.pk, Via.SWEEP),
        ]


@pytest.mark.django_db
def test_a_second_sweep_right_after_the_first_changes_nothing(world):
    with tenant_context(world.tenant):
        RoutingRule.objects.create(
            name="Enterprise is direct",
            priority=5,
            action=RoutingRule.Action.RESERVE_DIRECT,
            company_sizes=["enterprise"],
        )
        world.partner("A", capacity=2)
        world.partner("B", capacity=2)
        start = timezone.now() - timedelta(hours=50)
        make_leads(3)
        routing.route_leads(via=Via.ARRIVAL, now=start)  # three offers, now overdue
        make_leads(2)
        make_lead(company_size="enterprise")
        make_lead(country="TH")

        # The 3 overdue offers move to the other partner (A, B, A → B, A, B), one
        # new lead fills A's second slot, the other finds both partners full.
        first = routing.run_lead_sweep()
        assert first == {
            "expired": 3,
            "offered": 4,
            "direct": 1,
            "unrouted": 2,
            "still_unrouted": 0,
        }
        before = snapshot()
        assert routing.run_lead_sweep() == {**ZERO, "still_unrouted": 2}
        assert snapshot() == before


class Killed(RuntimeError):
    pass


class KilledAfterFirstChunk:
    """A job's progress that dies after the first chunk committed, as a worker
    killed mid-run would."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def set_total(self, total: int) -> None:
        self.total = total

    def advance(self, amount: int = 1) -> None:
        raise Killed


@pytest.mark.django_db(transaction=True)
def test_a_sweep_killed_halfway_resumes_and_routes_every_lead_exactly_once(world):
    with tenant_context(world.tenant):
        a, b, c = (world.partner(name, capacity=5) for name in ("A", "B", "C"))
        start = timezone.now() - timedelta(hours=50)
        overdue = make_leads(4)
        routing.route_leads(via=Via.ARRIVAL, now=start)
        waiting = make_leads(5)

        with pytest.raises(Killed):  # dies after expiring and re-routing 3 offers
            routing.run_lead_sweep(chunk_size=3, progress=KilledAfterFirstChunk())
        assert LeadAssignment.objects.filter(outcome=Outcome.EXPIRED).count() == 3
        assert Lead.objects.filter(status=Status.NEW).count() == 5

        with pytest.raises(Killed):  # the last expiry, then dies
            routing.run_lead_sweep(chunk_size=3, progress=KilledAfterFirstChunk())
        assert LeadAssignment.objects.filter(outcome=Outcome.EXPIRED).count() == 4
        assert Lead.objects.filter(status=Status.NEW).count() == 5

        assert routing.run_lead_sweep(chunk_size=3) == {**ZERO, "offered": 5}
        assert routing.run_lead_sweep(chunk_size=3) == ZERO

        for lead in overdue:
            (expired, offer) = history(lead)
            assert expired[0] == Outcome.EXPIRED
            assert offer[0] == Outcome.PENDING and offer[1] != expired[1]
            assert offer[2] == Via.REROUTE
        for lead in waiting:
            assert [(o, via) for o, _p, via in history(lead)] == [(Outcome.PENDING, Via.SWEEP)]
        # Round-robin survived the kills: 9 leads, 3 partners, 3 each.
        held = sorted(
            Lead.objects.filter(status=Status.OFFERED).values_list("partner_id", flat=True)
        )
        assert held == sorted([a.pk, b.pk, c.pk] * 3)


@pytest.mark.django_db(transaction=True)
def test_a_killed_route_run_resumes_with_every_lead_routed_once(world):
    with tenant_context(world.tenant):
        for name in ("A", "B"):
            world.partner(name)
        make_leads(5)
        with pytest.raises(Killed):
            routing.route_leads(via=Via.SWEEP, chunk_size=2, progress=KilledAfterFirstChunk())
        assert LeadAssignment.objects.count() == 2
        assert routing.route_leads(via=Via.SWEEP, chunk_size=2)["offered"] == 3
        assert sorted(LeadAssignment.objects.values_list("lead_id", flat=True)) == sorted(
            Lead.objects.values_list("pk", flat=True)
        )


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_never_offer_a_lead_twice_nor_overfill_a_partner(world):
    """Each thread has its own connection and transactions; the database (a
    routing lock per tenant, row locks, unique constraints) keeps them apart."""
    with tenant_context(world.tenant):
        partners = [world.partner(f"P{n}", capacity=5) for n in range(6)]
        make_leads(40)
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def sweep(name: str) -> None:
        try:
            with tenant_context(world.tenant):
                barrier.wait(timeout=10)
                results[name] = routing.run_lead_sweep(chunk_size=4)
        except Exception as exc:  # the assertion below shows it
            results[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, args=(name,)) for name in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(isinstance(r, dict) for r in results.values()), results
    total = {key: results["x"][key] + results["y"][key] for key in results["x"]}
    # The later sweep may retry leads the other just found no room for; it
    # writes nothing for them (still_unrouted).
    assert total["still_unrouted"] <= 10
    assert {**total, "still_unrouted": 0} == {**ZERO, "offered": 30, "unrouted": 10}
    with tenant_context(world.tenant):
        per_lead = LeadAssignment.objects.values_list("lead_id", flat=True)
        assert sorted(per_lead) == sorted(Lead.objects.values_list("pk", flat=True))
        held = list(Lead.objects.filter(status=Status.OFFERED).values_list("partner_id", flat=True))
        assert sorted(held) == sorted([p.pk for p in partners] * 5)


# --- Jobs ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_route_task_records_a_job_run_with_counts_and_progress(world):
    with tenant_context(world.tenant):
        world.partner("A")
        ours = make_leads(2) + [make_lead(country="TH")]
        make_lead("Someone else's")  # not in the task's lead ids

    result = route_leads_task.apply(
        kwargs={
            "tenant_id": world.tenant.pk,
            "lead_ids": [lead.pk for lead in ours],
            "via": "arrival",
        }
    )

    assert result.successful()
    with tenant_context(world.tenant):
        run = JobRun.objects.get(pk=result.result)
        assert (run.job, run.run_key, run.status) == (
            "deals.route_leads",
            "arrival",
            JobRun.Status.SUCCEEDED,
        )
        assert run.counts == {"offered": 2, "direct": 0, "unrouted": 1, "still_unrouted": 0}
        assert (run.progress_done, run.progress_total) == (3, 3)
        assert Lead.objects.filter(status=Status.NEW).count() == 1
        assert set(LeadAssignment.objects.values_list("via", flat=True)) == {Via.ARRIVAL}


@pytest.mark.django_db(transaction=True)
def test_the_sweep_task_records_a_job_run_and_is_fanned_out_hourly(world):
    with tenant_context(world.tenant):
        world.partner("A")
        world.partner("B")
        make_lead()
        routing.route_leads(via=Via.ARRIVAL, now=timezone.now() - timedelta(hours=49))
        make_lead()

    result = lead_sweep.apply(kwargs={"tenant_id": world.tenant.pk})

    with tenant_context(world.tenant):
        run = JobRun.objects.get(pk=result.result)
        assert (run.job, run.status) == ("deals.lead_sweep", JobRun.Status.SUCCEEDED)
        assert run.counts == {**ZERO, "expired": 1, "offered": 2}
        assert (run.progress_done, run.progress_total) == (2, 2)
    assert FAN_OUT_JOBS["deals.lead_sweep"] == lead_sweep.name == "deals.tasks.lead_sweep"
    assert lead_sweep.name in celery_app.tasks
    (hourly,) = [
        entry
        for entry in celery_app.conf.beat_schedule.values()
        if entry["kwargs"] == {"job": "deals.lead_sweep"}
    ]
    assert hourly["task"] == "prm.jobs.tasks.fan_out"


@pytest.mark.django_db(transaction=True)
def test_a_failed_sweep_is_recorded_with_the_counts_it_reached(world):
    from prm.jobs.runner import run_job

    with tenant_context(world.tenant):
        world.partner("A")
        make_leads(3)

        class Dies(Killed):
            pass

        def body(progress):
            original = progress.advance

            def advance(amount: int = 1) -> None:
                original(amount)
                raise Dies

            progress.advance = advance
            routing.run_lead_sweep(chunk_size=2, progress=progress)

        with pytest.raises(Dies):
            run_job(job="deals.lead_sweep", body=body)
        failed = JobRun.objects.get()
        assert failed.status == JobRun.Status.FAILED
        assert failed.counts == {**ZERO, "offered": 2}
        assert (failed.progress_done, failed.progress_total) == (2, 3)


# --- Arrival ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_new_lead_is_routed_on_commit_when_the_tenant_routes_on_arrival(world, broker):
    with tenant_context(world.tenant):
        settings = lead_routing()
        settings.route_on_arrival = True
        settings.save()
        lead = lead_services.create_lead(
            membership=world.manager,
            actor=world.manager.user,
            company="Arrival Sdn Bhd",
            contact_name="Ali",
            contact_email="ali@arrival.example",
            country="MY",
        )
        assert lead_services.enqueue_routing(lead_ids=[]) is False
    assert broker() == [
        (
            "deals.tasks.route_leads",
            {"tenant_id": world.tenant.pk, "lead_ids": [lead.pk], "via": "arrival"},
        )
    ]
    with tenant_context(world.tenant):
        settings.route_on_arrival = False
        settings.save()
        lead_services.create_lead(
            membership=world.manager,
            actor=world.manager.user,
            company="Later Sdn Bhd",
            contact_name="Ali",
            contact_email="ali@later.example",
            country="MY",
        )
        assert lead_services.enqueue_routing(lead_ids=[lead.pk]) is False
    assert broker() == []
