"""Job runs and the audit trail in the console: read-only, progress, tenant-scoped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from prm.accounts.roles import Role
from prm.audit.services import record
from prm.jobs.models import JobRun
from prm.tenancy.context import tenant_context
from tests.console.conftest import HOST_A

pytestmark = pytest.mark.django_db

JOBRUNS = reverse("admin:jobs_jobrun_changelist")


def run(tenant, **fields) -> JobRun:
    with tenant_context(tenant):
        return JobRun.objects.create(job=fields.pop("job", "heartbeat"), **fields)


def test_running_job_shows_a_progress_bar_and_the_list_refreshes(client, channel_manager, tenant_a):
    run(tenant_a, job="recompute", progress_done=3, progress_total=12)
    html = client.get(JOBRUNS, HTTP_HOST=HOST_A).content.decode()
    assert '<progress class="jobrun-progress" max="12" value="3"' in html
    assert 'http-equiv="refresh"' in html


def test_finished_jobs_show_counts_and_duration_and_no_refresh(client, channel_manager, tenant_a):
    started = run(tenant_a, status=JobRun.Status.SUCCEEDED, counts={"partners": 1234})
    with tenant_context(tenant_a):
        started.finished_at = started.started_at + timedelta(seconds=75)
        started.save(update_fields=["finished_at"])
    client.cookies["django_language"] = "en"  # numbers follow the locale: 1,234 in English
    html = client.get(JOBRUNS, HTTP_HOST=HOST_A).content.decode()
    assert "partners: 1,234" in html
    assert "1 min 15 s" in html
    assert "jobrun-progress" not in html
    assert 'http-equiv="refresh"' not in html


def test_running_job_page_reloads_itself_until_it_finishes(client, channel_manager, tenant_a):
    job = run(tenant_a)
    url = reverse("admin:jobs_jobrun_change", args=[job.pk])
    assert 'http-equiv="refresh" content="5"' in client.get(url, HTTP_HOST=HOST_A).content.decode()
    with tenant_context(tenant_a):
        JobRun.objects.filter(pk=job.pk).update(
            status=JobRun.Status.SUCCEEDED, finished_at=timezone.now()
        )
    assert 'http-equiv="refresh"' not in client.get(url, HTTP_HOST=HOST_A).content.decode()


def test_job_runs_are_read_only(client, channel_manager, tenant_a):
    job = run(tenant_a)
    url = reverse("admin:jobs_jobrun_change", args=[job.pk])
    assert client.post(url, {"job": "edited"}, HTTP_HOST=HOST_A).status_code == 403
    assert client.get(reverse("admin:jobs_jobrun_add"), HTTP_HOST=HOST_A).status_code == 403
    delete = reverse("admin:jobs_jobrun_delete", args=[job.pk])
    assert client.post(delete, {"post": "yes"}, HTTP_HOST=HOST_A).status_code == 403


def test_job_run_of_tenant_b_is_a_404_and_not_listed(client, channel_manager, tenant_b, tenant_a):
    mine = run(tenant_a, job="mine")
    theirs = run(tenant_b, job="theirs-secret-job")
    assert (
        client.get(
            reverse("admin:jobs_jobrun_change", args=[mine.pk]), HTTP_HOST=HOST_A
        ).status_code
        == 200
    )
    response = client.get(reverse("admin:jobs_jobrun_change", args=[theirs.pk]), HTTP_HOST=HOST_A)
    assert response.status_code == 404
    assert "theirs-secret-job" not in client.get(JOBRUNS, HTTP_HOST=HOST_A).content.decode()


def test_job_run_list_query_count_is_constant(client, channel_manager, tenant_a):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(JOBRUNS, HTTP_HOST=HOST_A).status_code == 200
        return len(captured)

    run(tenant_a)
    few = queries()
    for i in range(20):
        run(tenant_a, job=f"job{i % 3}", status=JobRun.Status.SUCCEEDED, counts={"n": i})
    assert queries() == few


def test_audit_events_are_visible_to_tenant_admins_only_and_scoped(
    client, login_as, tenant_a, tenant_b
):
    admin_a = login_as(Role.TENANT_ADMIN)
    with tenant_context(tenant_a):
        mine = record(actor=admin_a.user, action="test.mine", target=admin_a, summary="alpha-only")
    with tenant_context(tenant_b):
        theirs = record(actor=None, action="test.theirs", target=tenant_b, summary="bravo-only")
    listing = client.get(reverse("admin:audit_auditevent_changelist"), HTTP_HOST=HOST_A)
    assert "alpha-only" in listing.content.decode()
    assert "bravo-only" not in listing.content.decode()
    assert (
        client.get(
            reverse("admin:audit_auditevent_change", args=[mine.pk]), HTTP_HOST=HOST_A
        ).status_code
        == 200
    )
    assert (
        client.get(
            reverse("admin:audit_auditevent_change", args=[theirs.pk]), HTTP_HOST=HOST_A
        ).status_code
        == 404
    )
    index = client.get(reverse("admin:index"), HTTP_HOST=HOST_A).content.decode()
    assert "alpha-only" in index  # recent activity on the console home


def test_console_home_shows_no_recent_activity_to_channel_managers(
    client, channel_manager, tenant_a
):
    with tenant_context(tenant_a):
        record(actor=None, action="test.event", target=channel_manager, summary="hidden-summary")
    index = client.get(reverse("admin:index"), HTTP_HOST=HOST_A).content.decode()
    assert "hidden-summary" not in index
