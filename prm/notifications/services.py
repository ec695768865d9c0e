"""Writes for notifications: tell a partner organisation's people, mark as read.

``notify_partner`` (and ``notify_partners`` for many at once) writes one
notification per active user of the organisation and, unless told not to,
e-mails each of them in their own language — their preferred language, else
the tenant's default. The rows are written in the caller's transaction and the
e-mails are sent only once it commits, so a decision that rolls back leaves
neither a notification nor an e-mail behind. A mail server failure after the
commit is logged, never raised: the decision stands and the portal copy is there.

Notifications are themselves the record of what was said to whom, and reading
one is not a business event, so these services write no audit rows (the
actions that cause notifications audit themselves).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from prm.accounts.models import Membership
from prm.accounts.roles import PARTNER_ROLES
from prm.errors import PermissionDenied
from prm.i18n import SUPPORTED
from prm.notifications.models import Notification
from prm.notifications.rendering import encode_params, render
from prm.notifications.selectors import notifications_for, unread_notifications_for
from prm.tenancy.context import require_tenant
from prm.tenancy.models import Tenant

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """What to tell one partner organisation; see ``prm.notifications.rendering``."""

    partner_id: int
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    link: str = ""


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str
    language: str


def recipients_of(*, partner_ids: Sequence[int]) -> dict[int, list[Recipient]]:
    """The active users of each partner organisation, with the language to write
    to them in (one query)."""
    default = require_tenant().default_language
    found: dict[int, list[Recipient]] = defaultdict(list)
    rows = (
        Membership.objects.filter(
            partner_id__in=set(partner_ids),
            role__in=sorted(PARTNER_ROLES),
            is_active=True,
            user__is_active=True,
        )
        .order_by("pk")
        .values_list("partner_id", "user_id", "user__email", "user__preferred_language")
    )
    for partner_id, user_id, email, preferred in rows:
        language = preferred if preferred in SUPPORTED else default
        found[partner_id].append(Recipient(user_id=user_id, email=email, language=language))
    return found


def portal_base_url(tenant: Tenant) -> str:
    """The tenant portal's address for links in e-mails (one query), e.g.
    ``https://alpha.example.com``. ``PORTAL_URL_SCHEME`` overrides the scheme."""
    scheme = getattr(settings, "PORTAL_URL_SCHEME", "http" if settings.DEBUG else "https")
    return f"{scheme}://{tenant.primary_host}"


def _validate(notice: Notice) -> None:
    app, dot, name = notice.kind.partition(".")
    if not (app and dot and name):
        raise ValueError(f"A notification kind is '<app>.<name>', not {notice.kind!r}.")
    if notice.link and not (notice.link.startswith("/") and not notice.link.startswith("//")):
        raise ValueError(f"A notification link is a path on the tenant's host: {notice.link!r}")


def _email_messages(
    *, tenant: Tenant, notices: Sequence[Notice], recipients: dict[int, list[Recipient]]
) -> list[EmailMessage]:
    messages: list[EmailMessage] = []
    base_url = portal_base_url(tenant)
    for notice in notices:
        url = f"{base_url}{notice.link}" if notice.link else ""
        by_language: dict[str, tuple[str, str]] = {}
        for recipient in recipients.get(notice.partner_id, []):
            if recipient.language not in by_language:
                # Times read in the tenant's time zone, as in the portal.
                with translation.override(recipient.language), timezone.override(tenant.time_zone):
                    rendered = render(notice.kind, notice.params, language=recipient.language)
                    text = render_to_string(
                        "notifications/email/notification.txt",
                        {"tenant": tenant, "body": rendered.body, "url": url},
                    )
                by_language[recipient.language] = (rendered.title, str(text))
            subject, body = by_language[recipient.language]
            # One message per person: partner users do not see each other's addresses.
            messages.append(
                EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient.email])
            )
    return messages


def _send(messages: list[EmailMessage]) -> None:
    try:
        get_connection().send_messages(messages)
    except Exception:
        logger.exception("Sending %d notification e-mails failed", len(messages))


def notify_partners(
    *,
    notices: Sequence[Notice],
    email: bool = True,
    recipients: dict[int, list[Recipient]] | None = None,
) -> list[Notification]:
    """Notify every active user of each notice's partner organisation.

    Costs a fixed number of queries however many notices and people there are.
    ``recipients`` (from ``recipients_of``) saves the query when the caller has them.
    """
    notices = list(notices)
    for notice in notices:
        _validate(notice)
    if not notices:
        return []
    tenant = require_tenant()
    if recipients is None:
        recipients = recipients_of(partner_ids=[notice.partner_id for notice in notices])
    rows = [
        Notification(
            tenant_id=tenant.pk,
            recipient_id=recipient.user_id,
            partner_id=notice.partner_id,
            kind=notice.kind,
            params=encode_params(notice.params),
            link=notice.link,
        )
        for notice in notices
        for recipient in recipients.get(notice.partner_id, [])
    ]
    if not rows:
        return []
    with transaction.atomic():
        created = Notification.objects.bulk_create(rows)
        if email:
            messages = _email_messages(tenant=tenant, notices=notices, recipients=recipients)
            transaction.on_commit(lambda: _send(messages))
    return created


def notify_partner(
    *,
    partner,
    kind: str,
    params: dict[str, Any] | None = None,
    link: str = "",
    email: bool = True,
) -> list[Notification]:
    """Notify every active user of ``partner``: one notification each, and an
    e-mail in their language once the transaction commits (unless ``email=False``)."""
    notice = Notice(partner_id=partner.pk, kind=kind, params=params or {}, link=link)
    return notify_partners(notices=[notice], email=email)


def _require_own(notification: Notification, membership) -> None:
    if (
        membership is None
        or not membership.is_active
        or notification.recipient_id != membership.user_id
        or notification.partner_id not in (None, membership.partner_id)
    ):
        raise PermissionDenied()


def mark_read(*, notification: Notification, membership) -> Notification:
    """Mark one of the membership's own notifications as read (idempotent)."""
    _require_own(notification, membership)
    if notification.read_at is None:
        now = timezone.now()
        with transaction.atomic():
            notifications_for(membership=membership).filter(
                pk=notification.pk, read_at__isnull=True
            ).update(read_at=now)
        notification.read_at = now
    return notification


def mark_all_read(*, membership) -> int:
    """Mark every unread notification of the membership as read; returns how many."""
    if membership is None or not membership.is_active:
        raise PermissionDenied()
    with transaction.atomic():
        return unread_notifications_for(membership=membership).update(read_at=timezone.now())
