"""A record of every background job run, per tenant, visible to staff."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from prm.tenancy.models import TenantModel


class JobRun(TenantModel):
    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        # The process running it died (killed, out of memory, machine lost)
        # before it could record an outcome; see ``runner.mark_interrupted``.
        INTERRUPTED = "interrupted", _("Interrupted")

    job = models.CharField(_("job"), max_length=100)
    # Identifies the unit of work (e.g. the date a nightly job covers). A second
    # run with the same key is recorded too; idempotency lives in the job's own
    # unique keys, the run key only groups runs for staff.
    run_key = models.CharField(_("run key"), max_length=100, blank=True)
    task_id = models.CharField(_("task id"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RUNNING
    )
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        _("last progress"),
        null=True,
        blank=True,
        help_text=_("When the run last recorded progress; a silent run is marked interrupted."),
    )
    progress_done = models.PositiveIntegerField(_("done"), default=0)
    progress_total = models.PositiveIntegerField(_("total"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, encoder=DjangoJSONEncoder)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["tenant", "job", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self):
        if self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def progress_percent(self) -> int | None:
        if not self.progress_total:
            return None
        return min(100, round(100 * self.progress_done / self.progress_total))
