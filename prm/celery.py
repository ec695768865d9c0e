"""The Celery application: Redis broker, Django settings, the beat schedule."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.dev")

app = Celery("prm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["prm.jobs"])

app.conf.beat_schedule = {
    "heartbeat-hourly": {
        "task": "prm.jobs.tasks.fan_out",
        "schedule": crontab(minute=5),
        "kwargs": {"job": "heartbeat"},
    },
    # Expires lapsed deal registrations and sends expiry reminders.
    "deals-protection-window-nightly": {
        "task": "prm.jobs.tasks.fan_out",
        "schedule": crontab(hour=0, minute=30),
        "kwargs": {"job": "deals.protection_window"},
    },
    # Expires unanswered lead offers, re-routes them and routes waiting leads.
    # Hourly, so a lapsed 48-hour offer moves on within the hour.
    "deals-lead-sweep-hourly": {
        "task": "prm.jobs.tasks.fan_out",
        "schedule": crontab(minute=15),
        "kwargs": {"job": "deals.lead_sweep"},
    },
    # Turns closed-won deals, revenue events and reversals into ledger entries.
    "incentives-commissions-nightly": {
        "task": "prm.jobs.tasks.fan_out",
        "schedule": crontab(hour=1, minute=30),
        "kwargs": {"job": "incentives.compute_commissions"},
    },
}
