"""Run a job under a JobRun record, and the Celery task base that activates a tenant.

``TenantTask`` is the base of every tenant-scoped task: it takes
``tenant_id`` as a keyword argument (never a model instance), refuses to run
without it, activates the tenant for the task's duration and always clears it
afterwards, so nothing leaks into the next task in the same worker process.

``run_job`` wraps a job body: it records a ``JobRun`` in its own committed
transaction (so staff see a running job and its progress), calls the body
with a ``JobProgress`` handle, and records the outcome and counts. A run
whose process died before recording an outcome (no progress for
``STALE_AFTER``) is marked interrupted (``mark_interrupted``) by the next run
of the same job or by the heartbeat.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from prm.jobs.models import JobRun
from prm.tenancy.context import deactivate, tenant_context
from prm.tenancy.models import Tenant


class MissingTenant(ValueError):
    """A tenant-scoped task was called without tenant_id."""


class TenantTask(Task):
    abstract = True

    def __call__(self, *args, **kwargs):
        tenant_id = kwargs.get("tenant_id")
        if tenant_id is None:
            raise MissingTenant(f"{self.name} must be called with tenant_id=…")
        deactivate()
        try:
            tenant = Tenant.objects.get(pk=tenant_id, is_active=True)
            # The tenant's clock as well as its rows: "today" in a job (the
            # payout period to open, the periods that have ended) is the
            # tenant's today, as it is in its requests.
            with tenant_context(tenant), timezone.override(tenant.time_zone):
                return super().__call__(*args, **kwargs)
        finally:
            deactivate()


@dataclass
class JobProgress:
    run: JobRun
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def set_total(self, total: int) -> None:
        self.run.progress_total = total
        self._save(["progress_total"])

    def advance(self, amount: int = 1) -> None:
        self.run.progress_done += amount
        self.run.counts = self.counts
        self._save(["progress_done", "counts"])

    def _save(self, fields: list[str]) -> None:
        # Progress is committed on its own so a console viewer sees it while
        # the job's work is still in flight.
        with transaction.atomic():
            JobRun.objects.filter(pk=self.run.pk).update(
                heartbeat_at=timezone.now(), **{name: getattr(self.run, name) for name in fields}
            )


# A run beats (``JobRun.heartbeat_at``) whenever it records progress, which
# every job does at least once per chunk. A run still "running" whose last beat
# is older than this has no live process behind it. A clock rather than a
# per-run database lock: a lock is tied to one server connection, which
# transaction pooling (PgBouncer), supported by the backend, does not keep.
STALE_AFTER = timedelta(minutes=15)


def mark_interrupted(
    *, job: str | None = None, current: JobRun | None = None, now: datetime | None = None
) -> int:
    """Mark the active tenant's runs (of ``job``, else of every job) that are
    still "running" but have not beaten for ``STALE_AFTER`` as interrupted;
    returns how many.

    Called when a job starts (for earlier runs of the same job) and by the
    heartbeat (for all jobs), so a killed worker's run does not show as
    running for ever. The work itself needs no repair: jobs are idempotent
    and the next run picks up what the dead one left. A run that was only
    slow and finishes after all records its real outcome over this one.
    """
    cutoff = (now or timezone.now()) - STALE_AFTER
    stale = JobRun.objects.filter(status=JobRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    if current is not None:
        stale = stale.exclude(pk=current.pk)
    if job is not None:
        stale = stale.filter(job=job)
    with transaction.atomic():
        return stale.update(status=JobRun.Status.INTERRUPTED, finished_at=timezone.now())


def run_job(
    *, job: str, body: Callable[[JobProgress], Any], run_key: str = "", task_id: str = ""
) -> JobRun:
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("run_job records progress in its own transactions; call it outside one")
    mark_interrupted(job=job)
    run = JobRun.objects.create(
        job=job, run_key=run_key, task_id=task_id or "", heartbeat_at=timezone.now()
    )
    progress = JobProgress(run=run)
    try:
        body(progress)
    except Exception:
        run.status = JobRun.Status.FAILED
        run.error = traceback.format_exc(limit=20)
        raise
    else:
        run.status = JobRun.Status.SUCCEEDED
    finally:
        run.finished_at = timezone.now()
        run.counts = progress.counts
        run.save(update_fields=["status", "error", "finished_at", "counts"])
    return run
