"""``notification_badge``: the signed-in person's unread count for the header.

The count is computed at most once per request, and only if a template asks
for it (``{{ notification_badge.unread }}``): one query, none on pages that
do not show it, none for visitors without a membership in this tenant.
"""

from __future__ import annotations

from django.utils.functional import cached_property

from prm.notifications.selectors import unread_count


class NotificationBadge:
    def __init__(self, membership) -> None:
        self.membership = membership

    @property
    def available(self) -> bool:
        """Whether the person has an inbox here (a membership in this tenant)."""
        return self.membership is not None and self.membership.is_active

    @cached_property
    def unread(self) -> int:
        return unread_count(membership=self.membership) if self.available else 0


def notification_badge(request) -> dict:
    badge = getattr(request, "_notification_badge", None)
    if badge is None:
        badge = NotificationBadge(getattr(request, "membership", None))
        request._notification_badge = badge
    return {"notification_badge": badge}
