"""Tenants (platform-level) and the base class of every tenant-owned model."""

from __future__ import annotations

import zoneinfo
from typing import cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from prm.tenancy.context import crossing_tenants, current_tenant, require_tenant

hex_color = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Enter a colour such as #1f6feb."))


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class Tenant(models.Model):
    """A SaaS vendor running a partner program. Platform table: no RLS."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=63, unique=True)
    default_language = models.CharField(
        _("default language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    default_currency = models.CharField(
        _("default currency"),
        max_length=3,
        choices=[(c, c) for c in settings.CURRENCIES],
        default="USD",
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    brand_color = models.CharField(
        _("brand colour"), max_length=7, default="#1f6feb", validators=[hex_color]
    )
    require_mfa_for_staff = models.BooleanField(
        _("require two-factor authentication for staff"), default=False
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def primary_host(self) -> str:
        domain = next((d for d in self.domains.all() if d.is_primary), None)
        if domain:
            return domain.domain
        return f"{self.slug}.{settings.TENANT_SUBDOMAIN_BASE}"


class TenantDomain(models.Model):
    """A host name (custom domain) that resolves to a tenant. Platform table."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(_("domain"), max_length=253, unique=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("tenant domain")
        verbose_name_plural = _("tenant domains")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(is_primary=True),
                name="tenancy_one_primary_domain",
            )
        ]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs):
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.domain = self.domain.strip().lower().rstrip(".")
        reserved_suffix = "." + settings.TENANT_SUBDOMAIN_BASE.lower()
        if self.domain in {settings.PLATFORM_HOST.lower(), settings.TENANT_SUBDOMAIN_BASE.lower()}:
            raise ValidationError(
                {"domain": _("%(domain)s is the platform's own host.") % {"domain": self.domain}}
            )
        if self.domain.endswith(reserved_suffix):
            # <slug>.<base> already names a tenant by its slug; a custom domain
            # there could take over another tenant's host.
            raise ValidationError(
                {
                    "domain": _("Domains ending in %(suffix)s are reserved for tenant slugs.")
                    % {"suffix": reserved_suffix}
                }
            )


class TenantQuerySet(models.QuerySet):
    pass


# Named at module level so django-stubs can type the generated manager class.
_TenantManagerBase = models.Manager.from_queryset(TenantQuerySet)


class TenantManager(_TenantManagerBase):
    """Returns the active tenant's rows only; raises when no tenant is active."""

    def get_queryset(self) -> TenantQuerySet:
        # from_queryset() makes get_queryset() build a TenantQuerySet; the stubs
        # only know Manager.get_queryset() -> QuerySet.
        queryset = cast(TenantQuerySet, super().get_queryset())
        if crossing_tenants():
            return queryset
        return queryset.filter(tenant_id=require_tenant().pk)


class TenantModel(models.Model):
    """Base class of every tenant-owned table.

    The tenant is filled in from the active tenant and can never be changed to
    another one by the application. At the database level every subclass gets
    row-level security, ``UNIQUE (tenant_id, id)`` and composite foreign keys
    from ``prm.tenancy.security``. Subclasses lead their indexes and unique
    constraints with ``tenant``.

    ``rls_extra_read_predicate`` lets a table widen *reads* (never writes)
    with one more SQL condition, e.g. "a user sees their own memberships".
    ``append_only = True`` withholds UPDATE and DELETE from the app role.
    ``composite_key_exempt`` names foreign keys that get no composite key
    because another database check already covers them (say why next to the
    field).
    """

    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        editable=False,
        related_name="+",
        verbose_name=_("tenant"),
    )

    objects = TenantManager()

    rls_extra_read_predicate: str = ""
    append_only: bool = False
    composite_key_exempt: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        active = current_tenant()
        if self.tenant_id is None:
            self.tenant = require_tenant()
        elif active is None and not crossing_tenants():
            require_tenant()
        elif active is not None and self.tenant_id != active.pk:
            raise ValueError("A tenant-owned row cannot be written for another tenant.")
        super().save(*args, **kwargs)
