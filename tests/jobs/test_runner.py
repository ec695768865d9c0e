"""TenantTask, run_job and enqueue_on_commit, in process (the worker test runs them for real)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from prm.celery import app as celery_app
from prm.jobs.models import JobRun
from prm.jobs.runner import STALE_AFTER, MissingTenant, TenantTask, mark_interrupted, run_job
from prm.jobs.tasks import enqueue_on_commit, fan_out, heartbeat
from prm.tenancy.context import (
    activate,
    current_tenant,
    current_user_id,
    tenant_context,
    user_context,
)

seen: list = []
clocks: list[str] = []


@celery_app.task(bind=True, base=TenantTask, name="tests.jobs.remember_tenant")
def remember_tenant(self, *, tenant_id: int, fail: bool = False) -> int:
    """Test-only task (never sent to a broker): records the tenant it ran under."""
    seen.append(current_tenant())
    clocks.append(timezone.get_current_timezone_name())
    if fail:
        raise RuntimeError("the job body failed")
    return tenant_id


@pytest.fixture(autouse=True)
def _forget():
    seen.clear()
    clocks.clear()
    yield
    seen.clear()


@pytest.mark.django_db
def test_tenant_task_activates_the_tenant_and_clears_it_after_success(tenant_a, tenant_b):
    activate(tenant_b)  # as if a previous task had leaked its tenant
    result = remember_tenant.apply(kwargs={"tenant_id": tenant_a.pk})
    assert result.successful()
    assert seen == [tenant_a]
    assert current_tenant() is None


@pytest.mark.django_db
def test_tenant_task_runs_on_the_tenants_clock_and_restores_the_default(tenant_a, tenant_b):
    tenant_b.time_zone = "Asia/Kuala_Lumpur"
    tenant_b.save(update_fields=["time_zone"])
    tenant_a.time_zone = "America/New_York"
    tenant_a.save(update_fields=["time_zone"])
    default = timezone.get_current_timezone_name()
    remember_tenant.apply(kwargs={"tenant_id": tenant_a.pk})
    remember_tenant.apply(kwargs={"tenant_id": tenant_b.pk})
    assert clocks == ["America/New_York", "Asia/Kuala_Lumpur"]
    assert timezone.get_current_timezone_name() == default


@pytest.mark.django_db
def test_tenant_task_clears_the_tenant_after_failure(tenant_a):
    with user_context(42):
        result = remember_tenant.apply(kwargs={"tenant_id": tenant_a.pk, "fail": True})
        assert current_user_id() is None  # the task cleared the user too
    assert result.failed()
    assert isinstance(result.result, RuntimeError)
    assert seen == [tenant_a]
    assert current_tenant() is None


@pytest.mark.django_db
def test_tenant_task_without_tenant_id_fails_loudly_before_running(tenant_a):
    activate(tenant_a)  # a leaked tenant must not be used as a fallback
    result = remember_tenant.apply(kwargs={})
    assert result.failed()
    assert isinstance(result.result, MissingTenant)
    assert seen == []
    with pytest.raises(MissingTenant):
        heartbeat()


@pytest.mark.django_db
def test_tenant_task_refuses_an_inactive_tenant(tenant_a):
    tenant_a.is_active = False
    tenant_a.save(update_fields=["is_active"])
    result = remember_tenant.apply(kwargs={"tenant_id": tenant_a.pk})
    assert result.failed()
    assert seen == []
    assert current_tenant() is None


@pytest.mark.django_db(transaction=True)
def test_heartbeat_records_a_job_run_for_its_tenant_only(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        JobRun.objects.create(job="import", status=JobRun.Status.SUCCEEDED)
    result = heartbeat.apply(kwargs={"tenant_id": tenant_b.pk})
    assert result.successful()
    with tenant_context(tenant_b):
        run = JobRun.objects.get(pk=result.result)
        assert run.job == "heartbeat"
        assert run.status == JobRun.Status.SUCCEEDED
        assert run.counts == {
            "previous_runs": 0,
            "interrupted_runs": 0,
        }  # tenant A's run is invisible here
        assert (run.progress_done, run.progress_total) == (1, 1)
        assert run.finished_at >= run.started_at
    with tenant_context(tenant_a):
        assert not JobRun.objects.filter(job="heartbeat").exists()


@pytest.mark.django_db(transaction=True)
def test_run_job_records_a_failure_with_its_counts_and_error(tenant_a):
    def body(progress):
        progress.add("partners", 3)
        raise ValueError("bad row 4")

    with tenant_context(tenant_a):
        with pytest.raises(ValueError, match="bad row 4"):
            run_job(job="import", body=body)
        run = JobRun.objects.get(job="import")
    assert run.status == JobRun.Status.FAILED
    assert run.counts == {"partners": 3}
    assert "bad row 4" in run.error
    assert run.finished_at is not None


@pytest.mark.django_db
def test_run_job_refuses_to_run_inside_a_transaction(tenant_a):
    with tenant_context(tenant_a), pytest.raises(RuntimeError, match="outside"):
        run_job(job="import", body=lambda progress: None)


def _queued() -> int:
    with celery_app.connection_for_write() as connection:
        return connection.default_channel.queue_declare(queue="celery").message_count


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_sends_only_after_the_transaction_commits(tenant_a):
    celery_app.control.purge()
    try:
        with transaction.atomic():
            enqueue_on_commit(heartbeat, tenant_id=tenant_a.pk)
            assert _queued() == 0
        assert _queued() == 1
    finally:
        celery_app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_enqueue_on_commit_sends_nothing_when_the_transaction_rolls_back(tenant_a):
    celery_app.control.purge()
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            enqueue_on_commit(heartbeat, tenant_id=tenant_a.pk)
            raise RuntimeError("roll back")
        assert _queued() == 0
    finally:
        celery_app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_fan_out_enqueues_the_job_once_per_active_tenant(tenant_a, tenant_b):
    from tests.factories import TenantFactory

    TenantFactory(slug="dormant", is_active=False)
    celery_app.control.purge()
    try:
        assert fan_out.apply(kwargs={"job": "heartbeat"}).result == 2
        assert _queued() == 2
    finally:
        celery_app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_a_run_that_stopped_beating_is_marked_interrupted_by_the_next_run(tenant_a):
    now = timezone.now()
    with tenant_context(tenant_a):
        dead = JobRun.objects.create(job="heartbeat", heartbeat_at=now - STALE_AFTER * 2)
        alive = JobRun.objects.create(job="heartbeat", heartbeat_at=now - STALE_AFTER / 2)
        other_job = JobRun.objects.create(
            job="deals.lead_sweep", heartbeat_at=now - STALE_AFTER * 2
        )
        done = JobRun.objects.create(
            job="heartbeat", status=JobRun.Status.SUCCEEDED, heartbeat_at=now - STALE_AFTER * 2
        )
        run_job(job="heartbeat", body=lambda progress: None)
        statuses = dict(JobRun.objects.values_list("pk", "status"))
        assert statuses[dead.pk] == JobRun.Status.INTERRUPTED
        assert statuses[alive.pk] == JobRun.Status.RUNNING  # beat recently
        assert statuses[other_job.pk] == JobRun.Status.RUNNING  # another job: left alone
        assert statuses[done.pk] == JobRun.Status.SUCCEEDED
    # The heartbeat sweeps every job, and never its own run.
    heartbeat.apply(kwargs={"tenant_id": tenant_a.pk})
    with tenant_context(tenant_a):
        beat = JobRun.objects.filter(job="heartbeat").order_by("-pk").first()
        assert beat.status == JobRun.Status.SUCCEEDED
        assert beat.counts["interrupted_runs"] == 1
        assert JobRun.objects.get(pk=other_job.pk).status == JobRun.Status.INTERRUPTED
        # Later, the silent "alive" run is stale too.
        assert mark_interrupted(now=now + STALE_AFTER) == 1
        assert JobRun.objects.get(pk=alive.pk).status == JobRun.Status.INTERRUPTED


@pytest.mark.django_db(transaction=True)
def test_progress_is_a_heartbeat(tenant_a):
    with tenant_context(tenant_a):

        def body(progress):
            JobRun.objects.filter(pk=progress.run.pk).update(
                heartbeat_at=timezone.now() - STALE_AFTER * 2
            )
            progress.advance()
            assert mark_interrupted(job="other", now=timezone.now()) == 0
            fresh = JobRun.objects.get(pk=progress.run.pk)
            assert fresh.heartbeat_at > timezone.now() - STALE_AFTER
            assert mark_interrupted(job="heartbeat") == 0  # it has just beaten

        run = run_job(job="heartbeat", body=body)
        assert run.status == JobRun.Status.SUCCEEDED
