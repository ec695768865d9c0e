"""The portal home's "Notifications" panel: the unread count and the latest few."""

from __future__ import annotations

from prm.notifications.rendering import render
from prm.notifications.selectors import notification_counts, notifications_for
from prm.portal.panels import Panel, register

LATEST = 3


def home_panel_context(request) -> dict | None:
    """Two queries: the counts and the latest notifications."""
    membership = getattr(request, "membership", None)
    if membership is None or not membership.is_active:
        return None
    latest = list(notifications_for(membership=membership)[:LATEST])
    return {
        "counts": notification_counts(membership=membership),
        "latest": [(note, render(note.kind, note.params).title) for note in latest],
    }


def register_home_panel() -> None:
    register(
        Panel(
            key="notifications",
            template="notifications/_home_panel.html",
            context=home_panel_context,
            order=10,
        )
    )
