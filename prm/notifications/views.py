"""The inbox at /notifications/: a person's own notifications, newest first.

Anyone with a membership in the tenant has an inbox (partner users get the
deal notifications; staff have one too, empty until something tells them
anything). Notifications are looked up through the membership, so another
person's, another organisation's or another tenant's id answers 404. Marking
read is a POST form (works without JavaScript, answered with a redirect); an
htmx post gets the re-rendered notification back, plus the header's count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from prm.notifications import services
from prm.notifications.context_processors import NotificationBadge
from prm.notifications.models import Notification
from prm.notifications.rendering import render
from prm.notifications.selectors import notification_counts, notifications_for
from prm.portal.context import render_page

PAGE_SIZE = 20


@dataclass(frozen=True)
class Item:
    notification: Notification
    title: str
    body: str


def _member(request):
    membership = request.membership
    if membership is None or not membership.is_active:
        raise PermissionDenied
    return membership


def _item(notification: Notification) -> Item:
    rendered = render(notification.kind, notification.params)
    return Item(notification=notification, title=rendered.title, body=rendered.body)


def _own(membership, pk: int) -> Notification:
    return get_object_or_404(notifications_for(membership=membership), pk=pk)


def _back(request) -> str:
    """Where a form sent us from: a page of the inbox, else the inbox."""
    target = request.POST.get("next", "")
    if target.startswith("/notifications/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/notifications/"


@login_required
@require_GET
def inbox(request):
    membership = _member(request)
    page = Paginator(notifications_for(membership=membership), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render_page(
        request,
        "notifications/list.html",
        {
            "page": page,
            "items": [_item(notification) for notification in page.object_list],
            "counts": notification_counts(membership=membership),
            "next": request.get_full_path(),
        },
    )


@login_required
@require_POST
def read(request, pk: int):
    membership = _member(request)
    notification = services.mark_read(notification=_own(membership, pk), membership=membership)
    if request.htmx:
        return render_page(
            request,
            "notifications/_item_response.html",
            {
                "item": _item(notification),
                "next": _back(request),
                "notification_badge": NotificationBadge(membership),
            },
        )
    return redirect(_back(request))


@login_required
@require_POST
def open_link(request, pk: int):
    """Mark the notification read and go to what it is about."""
    membership = _member(request)
    notification = services.mark_read(notification=_own(membership, pk), membership=membership)
    link = notification.link
    if link and url_has_allowed_host_and_scheme(link, allowed_hosts={request.get_host()}):
        return redirect(link)
    return redirect(_back(request))


@login_required
@require_POST
def read_all(request):
    membership = _member(request)
    if services.mark_all_read(membership=membership):
        messages.success(request, _("All your notifications are marked as read."))
    return redirect("notifications:list")
