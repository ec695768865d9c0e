"""Celery entry points for deal registration: resolve the tenant, call one service.

``protection_window`` runs nightly per tenant (beat → ``prm.jobs.tasks.fan_out``):
it expires lapsed registrations and sends expiry reminders, recorded as a
``JobRun``. ``today`` (an ISO date) lets staff rerun a given day; by default it
is today in the tenant's time zone.
"""

from __future__ import annotations

from datetime import date

from celery import shared_task

from deals.window import run_protection_window_job, tenant_today
from prm.jobs.runner import JobProgress, TenantTask, run_job

PROTECTION_WINDOW_JOB = "deals.protection_window"


@shared_task(bind=True, base=TenantTask, name="deals.tasks.protection_window")
def protection_window(self, *, tenant_id: int, today: str | None = None) -> int:
    day = date.fromisoformat(today) if today else tenant_today()

    def body(progress: JobProgress) -> None:
        run_protection_window_job(today=day, progress=progress)

    run = run_job(
        job=PROTECTION_WINDOW_JOB, body=body, run_key=day.isoformat(), task_id=self.request.id or ""
    )
    return run.pk
