"""Celery entry points for deal registration and leads: resolve the tenant, call one service.

``protection_window`` runs nightly per tenant (beat → ``prm.jobs.tasks.fan_out``):
it expires lapsed registrations and sends expiry reminders, recorded as a
``JobRun``. ``today`` (an ISO date) lets staff rerun a given day; by default it
is today in the tenant's time zone.

``route_leads_task`` routes given leads (enqueued on commit when leads arrive
or an offer is rejected); ``lead_sweep`` runs hourly per tenant: it expires
unanswered offers, re-routes them and routes every waiting lead. Both are
recorded as ``JobRun`` rows with their counts and progress.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task

from deals.routing import route_leads, run_lead_sweep
from deals.window import run_protection_window_job, tenant_today
from prm.jobs.runner import JobProgress, TenantTask, run_job

PROTECTION_WINDOW_JOB = "deals.protection_window"
ROUTE_LEADS_JOB = "deals.route_leads"
LEAD_SWEEP_JOB = "deals.lead_sweep"


@shared_task(bind=True, base=TenantTask, name="deals.tasks.protection_window")
def protection_window(self, *, tenant_id: int, today: str | None = None) -> int:
    day = date.fromisoformat(today) if today else tenant_today()

    def body(progress: JobProgress) -> None:
        run_protection_window_job(today=day, progress=progress)

    run = run_job(
        job=PROTECTION_WINDOW_JOB, body=body, run_key=day.isoformat(), task_id=self.request.id or ""
    )
    return run.pk


@shared_task(bind=True, base=TenantTask, name="deals.tasks.route_leads")
def route_leads_task(
    self, *, tenant_id: int, lead_ids: list[int] | None = None, via: str = "arrival"
) -> int:
    def body(progress: JobProgress) -> None:
        route_leads(lead_ids=lead_ids, via=via, progress=progress)

    run = run_job(job=ROUTE_LEADS_JOB, body=body, run_key=via, task_id=self.request.id or "")
    return run.pk


@shared_task(bind=True, base=TenantTask, name="deals.tasks.lead_sweep")
def lead_sweep(self, *, tenant_id: int) -> int:
    def body(progress: JobProgress) -> None:
        run_lead_sweep(progress=progress)

    run = run_job(job=LEAD_SWEEP_JOB, body=body, task_id=self.request.id or "")
    return run.pk
