"""Reads of a person's notifications, always through their membership.

A membership sees its own user's notifications in its tenant (the tenant
manager and row-level security scope the tenant) and, of those, only the ones
about its current organisation — or about none, for staff. Somebody moved from
one partner to another does not take the old partner's news along.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from prm.notifications.models import Notification


def notifications_for(*, membership) -> QuerySet[Notification]:
    """The membership's notifications, newest first (none without a membership)."""
    if membership is None or not membership.is_active:
        return Notification.objects.none()
    scope = Q(partner__isnull=True)
    if membership.partner_id:
        scope |= Q(partner_id=membership.partner_id)
    return Notification.objects.filter(scope, recipient_id=membership.user_id).order_by(
        "-created_at", "-id"
    )


def unread_notifications_for(*, membership) -> QuerySet[Notification]:
    return notifications_for(membership=membership).filter(read_at__isnull=True)


@dataclass(frozen=True)
class NotificationCounts:
    total: int
    unread: int


def notification_counts(*, membership) -> NotificationCounts:
    """How many notifications the membership has, and how many are unread (one query)."""
    counts = notifications_for(membership=membership).aggregate(
        total=Count("id"), unread=Count("id", filter=Q(read_at__isnull=True))
    )
    return NotificationCounts(total=counts["total"] or 0, unread=counts["unread"] or 0)


def unread_count(*, membership) -> int:
    """The number of unread notifications (one query; none without a membership)."""
    if membership is None or not membership.is_active:
        return 0
    return unread_notifications_for(membership=membership).count()
