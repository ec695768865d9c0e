"""Console: the tenant's audit trail, read-only, for tenant admins."""

from __future__ import annotations

from django.contrib import admin

from prm.accounts.roles import Capability
from prm.audit.models import AuditEvent
from prm.console.admin_base import ReadOnlyConsoleAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyConsoleAdmin):
    view_capability = Capability.VIEW_AUDIT
    list_display = ("created_at", "actor", "action", "object_type", "object_id", "summary")
    list_filter = ("action", "object_type")
    search_fields = ("action", "summary", "object_id", "actor__email")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    fields = ("created_at", "actor", "action", "object_type", "object_id", "summary", "data")
    readonly_fields = fields
