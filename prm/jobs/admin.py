"""Console: job runs, read-only, with progress for running jobs.

A running job's page reloads itself every few seconds (a meta refresh: no
script needed), so staff watch its progress and counts move.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from prm.accounts.roles import Capability
from prm.console.admin_base import ReadOnlyConsoleAdmin
from prm.jobs.models import JobRun

REFRESH_SECONDS = 5


def format_duration(delta) -> str:
    if delta is None:
        return "—"
    seconds = delta.total_seconds()
    if seconds < 60:
        return _("%(seconds)s s") % {"seconds": number_format(round(seconds, 1), 1)}
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": seconds}
    hours, minutes = divmod(minutes, 60)
    return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyConsoleAdmin):
    view_capability = Capability.VIEW_JOBS
    list_display = ("job", "status", "started_at", "duration_display", "progress", "counts_display")
    list_filter = ("status", "job")
    search_fields = ("job", "run_key", "task_id")
    date_hierarchy = "started_at"
    fields = (
        "job",
        "run_key",
        "status",
        "progress",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "duration_display",
        "counts_display",
        "error",
        "task_id",
    )
    readonly_fields = fields
    change_form_template = "admin/jobs/jobrun/change_form.html"
    change_list_template = "admin/jobs/jobrun/change_list.html"

    @admin.display(description=_("duration"))
    def duration_display(self, obj) -> str:
        return format_duration(obj.duration)

    @admin.display(description=_("counts"))
    def counts_display(self, obj) -> str:
        if not obj.counts:
            return "—"
        return format_html_join(
            ", ", "{}: {}", ((name, number_format(value)) for name, value in obj.counts.items())
        )

    @admin.display(description=_("progress"))
    def progress(self, obj) -> str:
        label = _("%(done)s of %(total)s") % {
            "done": number_format(obj.progress_done),
            "total": number_format(obj.progress_total) if obj.progress_total else "?",
        }
        if obj.status != JobRun.Status.RUNNING:
            return label if obj.progress_total else "—"
        if not obj.progress_total:
            return format_html(
                '<progress class="jobrun-progress" aria-label="{}"></progress>', label
            )
        return format_html(
            '<progress class="jobrun-progress" max="{}" value="{}" aria-label="{}">{}</progress>',
            obj.progress_total,
            obj.progress_done,
            label,
            label,
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": REFRESH_SECONDS,
            "has_running": JobRun.objects.filter(status=JobRun.Status.RUNNING).exists(),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "refresh_seconds": REFRESH_SECONDS}
        return super().change_view(request, object_id, form_url, extra_context)
