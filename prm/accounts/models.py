"""People, their memberships in tenants, invitations and API credentials.

A ``User`` is global (one login for a person who works with several vendors);
everything that gives them access to a tenant is a tenant-owned row.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from prm.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Role
from prm.tenancy.context import all_tenants
from prm.tenancy.models import TenantManager, TenantModel, TenantQuerySet


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person. ``is_superuser`` marks platform operators (tenant provisioning)."""

    # Removing AbstractUser's fields is supported by Django; the stubs type them as str.
    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=settings.LANGUAGES, blank=True
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    # The stubs pin AbstractUser.objects to auth's username-based UserManager.
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class MembershipQuerySet(TenantQuerySet):
    def active(self):
        return self.filter(is_active=True)


class Membership(TenantModel):
    """Gives a user one role in one tenant; partner roles also name the partner."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("partner organisation"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects: ClassVar = TenantManager.from_queryset(MembershipQuerySet)()
    # A person may list their own memberships in every tenant (tenant switcher).
    rls_extra_read_predicate = "user_id = NULLIF(current_setting('app.user_id', true), '')::bigint"

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="accounts_membership_once"),
            models.CheckConstraint(
                condition=(
                    Q(role__in=sorted(PARTNER_ROLES), partner__isnull=False)
                    | Q(role__in=sorted(STAFF_ROLES), partner__isnull=True)
                ),
                name="accounts_membership_partner_matches_role",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "partner", "role"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_partner_role(self) -> bool:
        return self.role in PARTNER_ROLES

    @classmethod
    def for_user_everywhere(cls, user) -> list[Membership]:
        """The user's active memberships in every tenant (RLS lets a user read their own)."""
        with all_tenants():
            return list(
                cls.objects.filter(user=user, is_active=True, tenant__is_active=True)
                .select_related("tenant", "partner")
                .order_by("tenant__name")
            )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Invitation(TenantModel):
    """An invitation to join a tenant with a role; staff and partner users alike."""

    email = models.EmailField(_("e-mail address"))
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    partner = models.ForeignKey(
        "partners.PartnerOrganization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations",
        verbose_name=_("partner organisation"),
    )
    token_hash = models.CharField(max_length=64, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "token_hash"], name="accounts_invite_token"),
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="accounts_one_open_invitation_per_email",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @staticmethod
    def new_token() -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, _hash(token)

    @staticmethod
    def hash_token(token: str) -> str:
        return _hash(token)

    @property
    def is_open(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class ApiKey(TenantModel):
    """A tenant-wide key for integrations (CRM sync, billing imports).

    Only a hash is stored; the key is shown once. It acts with a staff role.
    """

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    role = models.CharField(
        _("acts as"),
        max_length=32,
        choices=[(r.value, r.label) for r in Role if r in STAFF_ROLES],
        default=Role.CHANNEL_MANAGER,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "prefix"], name="accounts_apikey_prefix")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return (full key, prefix, hash)."""
        prefix = secrets.token_hex(4)
        key = f"prm_{prefix}_{secrets.token_urlsafe(32)}"
        return key, prefix, _hash(key)

    @staticmethod
    def hash_key(key: str) -> str:
        return _hash(key)


class UserToken(models.Model):
    """A personal API token. Global like the user; the tenant comes from the
    Host header and the user's membership there decides what it may do."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    # Not stored: set on a token just created so the API can show it once.
    key: str

    class Meta:
        verbose_name = _("personal API token")
        verbose_name_plural = _("personal API tokens")

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def generate() -> tuple[str, str]:
        key = f"prmu_{secrets.token_urlsafe(32)}"
        return key, _hash(key)

    @staticmethod
    def hash_key(key: str) -> str:
        return _hash(key)
