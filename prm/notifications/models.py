"""A person's portal notifications: what happened, for whom, and whether they read it.

A notification stores its ``kind`` and the ``params`` needed to say it, not the
sentence itself; ``prm.notifications.rendering`` turns them into a title and a
body in the reader's language when they are shown (see that module for why).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from prm.tenancy.models import TenantModel


class Notification(TenantModel):
    """One message to one person in one tenant.

    ``partner`` is the organisation the message is about (the recipient's own):
    a person moved to another organisation no longer sees the old one's news.
    ``link`` is a path on the tenant's own host (``/deals/DR-…/``).
    """

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("recipient"),
    )
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner organisation"),
    )
    kind = models.CharField(_("kind"), max_length=60)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    link = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["tenant", "recipient", "-created_at", "-id"],
                name="notifications_inbox",
            ),
            models.Index(
                fields=["tenant", "recipient"],
                condition=Q(read_at__isnull=True),
                name="notifications_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.kind}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
