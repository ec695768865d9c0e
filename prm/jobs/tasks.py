"""Platform jobs: per-tenant fan-out and the heartbeat that proves the path.

Beat calls ``fan_out`` with a job name; it enqueues that job once per active
tenant, each with ``tenant_id`` so the worker activates the right tenant.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from prm.jobs.models import JobRun
from prm.jobs.runner import JobProgress, TenantTask, mark_interrupted, run_job
from prm.tenancy.models import Tenant

# Jobs beat may fan out, by name. Later apps register theirs here.
FAN_OUT_JOBS: dict[str, str] = {
    "heartbeat": "prm.jobs.tasks.heartbeat",
    "deals.protection_window": "deals.tasks.protection_window",
    "deals.lead_sweep": "deals.tasks.lead_sweep",
    "incentives.compute_commissions": "incentives.tasks.compute_commissions",
}


@shared_task(name="prm.jobs.tasks.fan_out")
def fan_out(job: str) -> int:
    from prm.celery import app

    task_name = FAN_OUT_JOBS[job]
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        app.send_task(task_name, kwargs={"tenant_id": tenant_id})
    return len(tenant_ids)


@shared_task(bind=True, base=TenantTask, name="prm.jobs.tasks.heartbeat")
def heartbeat(self, *, tenant_id: int) -> int:
    """Counts the tenant's job history and marks runs whose process died as
    interrupted; proves beat → broker → worker → DB."""

    def body(progress: JobProgress) -> None:
        progress.add("interrupted_runs", mark_interrupted(current=progress.run))
        progress.set_total(1)
        progress.add("previous_runs", JobRun.objects.exclude(job="heartbeat").count())
        progress.advance()

    run = run_job(job="heartbeat", body=body, task_id=self.request.id or "")
    return run.pk


def enqueue_on_commit(task, **kwargs) -> None:
    """Enqueue a task only once the surrounding transaction has committed."""
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs))
