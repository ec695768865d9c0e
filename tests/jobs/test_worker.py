"""End to end: a real Celery worker process, the real Redis broker, the test database.

The worker is started as ``celery -A prm worker`` with the test settings and a
DATABASE_URL naming this run's test database, connecting as the RLS-bound app
role. Rows are committed (transactional test) so the worker sees them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from celery.result import AsyncResult
from django.db import connection

from prm.celery import app as celery_app
from prm.jobs.models import JobRun
from prm.tenancy.context import tenant_context

ROOT = Path(__file__).resolve().parent.parent.parent
DEADLINE_SECONDS = 90


def _worker_env() -> dict[str, str]:
    db = connection.settings_dict  # the test database, as the app role
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "prm.settings.test",
        "DATABASE_URL": (
            f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
            f"@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PRM_DB_AS_OWNER", None)
    return env


@pytest.fixture
def worker():
    """A solo-pool worker (one process runs every task in turn); stopped afterwards."""
    celery_app.control.purge()
    log = tempfile.NamedTemporaryFile(prefix="prm-worker-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "prm",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
        ],
        cwd=ROOT,
        env=_worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.log_path = log.name
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        celery_app.control.purge()
        Path(log.name).unlink(missing_ok=True)


def _wait_for(predicate, worker, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker.poll() is not None:
            log = Path(worker.log_path).read_text()
            pytest.fail(f"the worker exited ({worker.returncode}):\n{log}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{Path(worker.log_path).read_text()}")


def _finished_heartbeats(tenant) -> list[JobRun]:
    with tenant_context(tenant):
        return list(
            JobRun.objects.filter(job="heartbeat")
            .exclude(status=JobRun.Status.RUNNING)
            .order_by("started_at", "id")
        )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_heartbeat_per_tenant_without_leaking_context(tenant_a, tenant_b, worker):
    # Different histories, so each run's counts show which tenant it saw.
    with tenant_context(tenant_a):
        for _ in range(2):
            JobRun.objects.create(job="import", status=JobRun.Status.SUCCEEDED)
    with tenant_context(tenant_b):
        for _ in range(5):
            JobRun.objects.create(job="import", status=JobRun.Status.SUCCEEDED)

    # Beat's path: fan_out enqueues heartbeat once per active tenant. A task
    # without tenant_id follows in the same queue, then tenant A once more, so
    # one worker process runs A, B, a tenant-less call and A back to back.
    fanned = celery_app.send_task("prm.jobs.tasks.fan_out", kwargs={"job": "heartbeat"})
    assert fanned.get(timeout=DEADLINE_SECONDS) == 2
    _wait_for(
        lambda: _finished_heartbeats(tenant_a) and _finished_heartbeats(tenant_b),
        worker,
        "both tenants' heartbeats",
    )
    missing = celery_app.send_task("prm.jobs.tasks.heartbeat", kwargs={})
    again = celery_app.send_task("prm.jobs.tasks.heartbeat", kwargs={"tenant_id": tenant_a.pk})

    # No tenant: it fails loudly, and the result backend says why.
    missing.get(timeout=DEADLINE_SECONDS, propagate=False)
    assert missing.state == "FAILURE"
    assert type(missing.result).__name__ == "MissingTenant"
    assert "tenant_id" in str(missing.result)

    run_id = again.get(timeout=DEADLINE_SECONDS)  # the task returns once its run is recorded
    runs_a = _finished_heartbeats(tenant_a)
    runs_b = _finished_heartbeats(tenant_b)

    # Each tenant's runs are its own, with its own counts; the tenant-less call
    # between them left no run anywhere and did not disturb the next task.
    assert [(r.status, r.counts) for r in runs_a] == [
        (JobRun.Status.SUCCEEDED, {"previous_runs": 2, "interrupted_runs": 0}),
        (JobRun.Status.SUCCEEDED, {"previous_runs": 2, "interrupted_runs": 0}),
    ]
    assert [(r.status, r.counts) for r in runs_b] == [
        (JobRun.Status.SUCCEEDED, {"previous_runs": 5, "interrupted_runs": 0}),
    ]
    assert runs_a[1].pk == run_id
    assert runs_a[1].task_id == again.id
    assert {r.tenant_id for r in runs_a} == {tenant_a.pk}
    assert {r.tenant_id for r in runs_b} == {tenant_b.pk}
    assert all(r.finished_at and r.progress_done == 1 for r in runs_a + runs_b)
    assert len({r.task_id for r in runs_a + runs_b}) == 3

    # All of it happened in one worker process (solo pool).
    assert worker.poll() is None
    assert AsyncResult(again.id, app=celery_app).successful()
