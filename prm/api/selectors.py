"""Reads for API credentials that belong to a person rather than a tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from prm.accounts.models import UserToken


def personal_tokens_of(*, user) -> QuerySet[UserToken]:
    """The person's working (unrevoked) personal tokens, newest first."""
    return UserToken.objects.filter(user=user, revoked_at__isnull=True).order_by(
        "-created_at", "-id"
    )
