"""Celery entry points for incentives: resolve the tenant, call one service.

``compute_commissions`` runs nightly per tenant (beat → ``prm.jobs.tasks.fan_out``)
and is recorded as a ``JobRun`` with its counts and progress. It first makes
sure the current month's payout period is open, so new earnings always have a
period to fall into, and after the deals and revenue events it posts the
period-based earnings (stepped rebates, renewal and usage bonuses) of every
period that has ended but is not closed yet.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from incentives.commissions import run_commission_job
from incentives.payouts import ensure_open_period
from incentives.period_earnings import post_due_period_earnings
from prm.jobs.runner import JobProgress, TenantTask, run_job

COMMISSION_JOB = "incentives.compute_commissions"


@shared_task(bind=True, base=TenantTask, name="incentives.tasks.compute_commissions")
def compute_commissions(self, *, tenant_id: int) -> int:
    def body(progress: JobProgress) -> None:
        ensure_open_period()
        run_commission_job(progress=progress)
        post_due_period_earnings(today=timezone.localdate(), progress=progress)

    run = run_job(job=COMMISSION_JOB, body=body, task_id=self.request.id or "")
    return run.pk
