"""Write audit events; services call ``record`` inside their own transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from prm.audit.models import AuditEvent


def record(
    *,
    actor,
    action: str,
    target: models.Model,
    summary: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=target._meta.label_lower,
        object_id=str(target.pk),
        summary=summary[:300],
        data=data or {},
    )
