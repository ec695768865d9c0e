"""Platform-level writes: provisioning a tenant for a new vendor.

Only platform operators (superusers, on the bare platform host) call these.
Everything a new tenant owns is written inside ``tenant_context(tenant)`` so
the fail-closed managers and row-level security apply exactly as they do for
the tenant's own staff.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from partners.defaults import seed_catalogue
from prm.accounts.models import Invitation, User
from prm.accounts.roles import Role
from prm.accounts.services import INVITATION_DAYS, send_invitation_email
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.tenancy.context import tenant_context
from prm.tenancy.models import Tenant


def provision_tenant(
    *,
    name: str,
    slug: str,
    default_language: str,
    default_currency: str,
    time_zone: str,
    admin_email: str,
    actor: User,
    base_url: str,
    brand_color: str | None = None,
) -> tuple[Tenant, Invitation]:
    """Create a tenant with the default catalogue and invite its first tenant admin.

    The invitation is e-mailed (in the tenant's default language) once the
    transaction commits; the link points at ``base_url``, the tenant's host.
    """
    if not (actor and actor.is_active and actor.is_superuser):
        raise PermissionDenied(_("Only platform operators can provision tenants."))
    slug = slug.strip().lower()
    admin_email = User.objects.normalize_email(admin_email).strip().lower()
    if Tenant.objects.filter(slug=slug).exists():
        raise Conflict(_("The slug %(slug)s is taken.") % {"slug": slug}, field="slug")
    token, token_hash = Invitation.new_token()
    with transaction.atomic():
        tenant = Tenant(
            name=name.strip(),
            slug=slug,
            default_language=default_language,
            default_currency=default_currency,
            time_zone=time_zone,
        )
        if brand_color:
            tenant.brand_color = brand_color
        try:
            tenant.full_clean()
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise DomainError(messages[0], code="invalid", field=field) from exc
        tenant.save()
        with tenant_context(tenant), translation.override(tenant.default_language):
            seed_catalogue()
            invitation = Invitation.objects.create(
                email=admin_email,
                role=Role.TENANT_ADMIN,
                token_hash=token_hash,
                invited_by=actor,
                expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
            )
            record(
                actor=actor,
                action="tenant.provisioned",
                target=tenant,
                summary=tenant.name,
                data={"slug": tenant.slug, "admin_email": admin_email},
            )
            record(
                actor=actor,
                action="invitation.sent",
                target=invitation,
                summary=f"{admin_email} as {Role.TENANT_ADMIN.value}",
            )
        send_invitation_email(
            tenant=tenant, invitation=invitation, token=token, inviter=actor, base_url=base_url
        )
    return tenant, invitation


TENANT_SETTINGS_FIELDS = (
    "default_language",
    "default_currency",
    "time_zone",
    "brand_color",
    "require_mfa_for_staff",
)


def update_tenant_settings(*, tenant: Tenant, membership, actor, changes: dict) -> Tenant:
    """A tenant admin changes their program's settings (language, currency, time
    zone, brand colour, two-factor requirement for staff); audited with the diff."""
    from prm.accounts.roles import Capability, can

    if not can(membership, Capability.MANAGE_PROGRAM) or membership.tenant_id != tenant.pk:
        raise PermissionDenied()
    unknown = set(changes) - set(TENANT_SETTINGS_FIELDS)
    if unknown:
        raise DomainError(_("These settings cannot be changed here."), field=sorted(unknown)[0])
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        try:
            locked.full_clean()
        except ValidationError as exc:
            name, messages = next(iter(exc.message_dict.items()))
            raise DomainError(messages[0], field=name) from exc
        locked.save(update_fields=list(changes))
        diff = {
            name: {"from": before[name], "to": value}
            for name, value in changes.items()
            if before[name] != value
        }
        if diff:
            record(
                actor=actor,
                action="tenant.settings_changed",
                target=locked,
                summary=", ".join(sorted(diff)),
                data=diff,
            )
    return locked
