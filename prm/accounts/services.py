"""Writes for people and access: invitations, memberships, API credentials."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from prm.accounts.models import ApiKey, Invitation, Membership, User, UserToken
from prm.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Capability, Role, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, NotFound, PermissionDenied
from prm.tenancy.context import require_tenant

INVITATION_DAYS = 14


def _check_may_invite(*, membership, role: str, partner) -> None:
    if role in STAFF_ROLES:
        if partner is not None:
            raise DomainError(_("Staff do not belong to a partner organisation."), field="partner")
        if not can(membership, Capability.MANAGE_STAFF):
            raise PermissionDenied(_("Only a tenant admin can invite staff."))
        return
    if role not in PARTNER_ROLES:
        raise DomainError(_("Choose a valid role."), field="role")
    if partner is None:
        raise DomainError(_("Choose the partner organisation."), field="partner")
    if can(membership, Capability.INVITE_ANY_PARTNER_USER):
        return
    if can(membership, Capability.MANAGE_OWN_ORG_USERS) and membership.partner_id == partner.pk:
        return
    raise PermissionDenied(_("You can only invite people to your own organisation."))


def _not_invitable(*, email: str, membership) -> Conflict:
    """A partner user learns nothing about people outside their organisation."""
    if can(membership, Capability.INVITE_ANY_PARTNER_USER):
        return Conflict(
            _("%(email)s already has access or an open invitation.") % {"email": email},
            field="email",
        )
    return Conflict(
        _("%(email)s cannot be invited to your organisation. Ask your channel manager.")
        % {"email": email},
        field="email",
    )


def _check_address_is_invitable(*, email: str, membership, existing, pending) -> None:
    """Refuse addresses that already have access or an open invitation, and never
    let an invitation revive a membership the inviter could not manage (e.g. a
    partner admin re-inviting a deactivated staff member)."""
    own_org = membership is not None and membership.partner_id is not None
    if pending is not None:
        if own_org and pending.partner_id == membership.partner_id:
            raise Conflict(
                _("An invitation for %(email)s is already open.") % {"email": email},
                field="email",
            )
        raise _not_invitable(email=email, membership=membership)
    if existing is None:
        return
    if existing.is_active:
        if own_org and existing.partner_id == membership.partner_id:
            raise Conflict(_("%(email)s already has access.") % {"email": email}, field="email")
        raise _not_invitable(email=email, membership=membership)
    try:
        _check_may_manage(membership=membership, target=existing)
    except PermissionDenied as exc:
        raise _not_invitable(email=email, membership=membership) from exc


def invite_user(
    *, email: str, role: str, partner=None, actor, membership, base_url: str
) -> Invitation:
    """Invite someone to the tenant with a role; e-mails them a link to join."""
    email = User.objects.normalize_email(email).strip().lower()
    _check_may_invite(membership=membership, role=role, partner=partner)
    tenant = require_tenant()
    existing = Membership.objects.filter(user__email=email).first()
    pending = Invitation.objects.filter(
        email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).first()
    _check_address_is_invitable(
        email=email, membership=membership, existing=existing, pending=pending
    )
    token, token_hash = Invitation.new_token()
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                email=email,
                role=role,
                partner=partner,
                token_hash=token_hash,
                invited_by=actor,
                expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
            )
            record(
                actor=actor,
                action="invitation.sent",
                target=invitation,
                summary=f"{email} as {role}",
            )
    except IntegrityError as exc:
        raise _not_invitable(email=email, membership=membership) from exc
    send_invitation_email(
        tenant=tenant, invitation=invitation, token=token, inviter=actor, base_url=base_url
    )
    return invitation


def send_invitation_email(
    *, tenant, invitation: Invitation, token: str, inviter, base_url: str
) -> None:
    """E-mail the invitation link in the tenant's language once the transaction commits."""
    link = f"{base_url.rstrip('/')}/accounts/invitation/{token}/"
    with translation.override(tenant.default_language):
        body = render_to_string(
            "accounts/email/invitation.txt",
            {"tenant": tenant, "invitation": invitation, "link": link, "inviter": inviter},
        )
        subject = _("You are invited to %(tenant)s's partner portal") % {"tenant": tenant.name}
    recipient = invitation.email
    transaction.on_commit(
        lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient])
    )


def open_invitation(*, token: str) -> Invitation:
    invitation = (
        Invitation.objects.filter(token_hash=Invitation.hash_token(token))
        .select_related("partner")
        .first()
    )
    if invitation is None or not invitation.is_open:
        raise NotFound(_("This invitation link is invalid or has expired."))
    return invitation


def accept_invitation(
    *, token: str, user: User | None, full_name: str = "", password: str = ""
) -> Membership:
    """Accept an invitation: create the person's login if new, then the membership.

    ``user`` is the signed-in person, if any; they must be the invited address.
    """
    with transaction.atomic():
        # Lock first, then check: a concurrent revoke or second accept waits
        # for this transaction and then finds the invitation closed.
        invitation = (
            Invitation.objects.select_for_update()
            .filter(token_hash=Invitation.hash_token(token))
            .first()
        )
        if invitation is None or not invitation.is_open:
            raise NotFound(_("This invitation link is invalid or has expired."))
        if user is not None and user.is_authenticated:
            if user.email.lower() != invitation.email:
                raise PermissionDenied(
                    _("This invitation was sent to %(email)s. Sign out and open the link again.")
                    % {"email": invitation.email}
                )
        else:
            if User.objects.filter(email=invitation.email).exists():
                # Never sign someone in as an existing login without its password.
                raise PermissionDenied(
                    _("%(email)s already has a login. Sign in first, then open the link again.")
                    % {"email": invitation.email}
                )
            if not password:
                raise DomainError(_("Choose a password."), field="password")
            user = User.objects.create_user(
                email=invitation.email, password=password, full_name=full_name.strip()
            )
        membership, created = Membership.objects.get_or_create(
            user=user,
            defaults={"role": invitation.role, "partner": invitation.partner},
        )
        if not created:
            membership.role = invitation.role
            membership.partner = invitation.partner
            membership.is_active = True
            membership.save(update_fields=["role", "partner", "is_active"])
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        record(
            actor=user,
            action="invitation.accepted",
            target=membership,
            summary=f"{user.email} as {membership.role}",
        )
    return membership


def _check_may_manage(*, membership, target: Membership) -> None:
    if target.is_staff_role:
        if not can(membership, Capability.MANAGE_STAFF):
            raise PermissionDenied()
        return
    if can(membership, Capability.INVITE_ANY_PARTNER_USER):
        return
    if (
        can(membership, Capability.MANAGE_OWN_ORG_USERS)
        and membership.partner_id == target.partner_id
    ):
        return
    raise PermissionDenied()


def set_membership_active(*, target: Membership, active: bool, actor, membership) -> Membership:
    """Deactivate (or reactivate) someone's access; nobody can lock themselves out."""
    _check_may_manage(membership=membership, target=target)
    if target.user_id == getattr(actor, "pk", None) and not active:
        raise DomainError(_("You cannot deactivate your own access."), code="self")
    with transaction.atomic():
        target.is_active = active
        target.save(update_fields=["is_active"])
        record(
            actor=actor,
            action="membership.activated" if active else "membership.deactivated",
            target=target,
            summary=str(target.user),
        )
    return target


def change_role(*, target: Membership, role: str, actor, membership) -> Membership:
    """Change a partner user's role within their organisation (admin ↔ rep)."""
    _check_may_manage(membership=membership, target=target)
    if target.is_partner_role != (role in PARTNER_ROLES):
        raise DomainError(_("A partner user keeps a partner role."), field="role")
    if target.user_id == getattr(actor, "pk", None):
        raise DomainError(_("You cannot change your own role."), code="self")
    with transaction.atomic():
        old = target.role
        target.role = role
        target.save(update_fields=["role"])
        record(
            actor=actor,
            action="membership.role_changed",
            target=target,
            data={"from": old, "to": role},
        )
    return target


def create_api_key(
    *, name: str, role: str = Role.CHANNEL_MANAGER, actor, membership
) -> tuple[ApiKey, str]:
    """Create a tenant API key; the full key is returned once and never stored."""
    if not can(membership, Capability.MANAGE_API_KEYS):
        raise PermissionDenied()
    if role not in STAFF_ROLES:
        raise DomainError(_("An API key acts with a staff role."), field="role")
    key, prefix, key_hash = ApiKey.generate()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            name=name, prefix=prefix, key_hash=key_hash, role=role, created_by=actor
        )
        record(actor=actor, action="api_key.created", target=api_key, summary=name)
    return api_key, key


def create_user_token(*, user: User, name: str) -> tuple[UserToken, str]:
    key, key_hash = UserToken.generate()
    token = UserToken.objects.create(user=user, name=name, key_hash=key_hash)
    return token, key


def revoke_invitation(*, invitation: Invitation, actor, membership) -> Invitation:
    """Withdraw an open invitation so its link stops working."""
    _check_may_invite(membership=membership, role=invitation.role, partner=invitation.partner)
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None or locked.revoked_at is not None:
            raise Conflict(_("This invitation is no longer open."), code="invitation_closed")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        record(actor=actor, action="invitation.revoked", target=locked, summary=locked.email)
    return locked


# --- Tenant switching ---------------------------------------------------------
# Sessions are per host, so moving to another tenant's portal hands the person
# over with a signed token: it names the user, the membership and the target
# tenant, lives HANDOFF_MAX_AGE seconds and is single-use (its nonce is claimed
# in the shared cache with ``cache.add``, which only one request can win).

HANDOFF_SALT = "prm.accounts.handoff"
HANDOFF_MAX_AGE = 60


def _handoff_invalid() -> NotFound:
    return NotFound(
        _("This sign-in link is invalid, expired or already used. Sign in again."),
        code="handoff_invalid",
    )


def create_handoff_token(*, user: User, membership: Membership) -> str:
    """A short-lived token that signs ``user`` in on ``membership``'s tenant host."""
    if membership.user_id != user.pk or not membership.is_active or not user.is_active:
        raise PermissionDenied()
    payload = {
        "u": user.pk,
        "m": membership.pk,
        "t": membership.tenant_id,
        "n": secrets.token_urlsafe(16),
    }
    return signing.dumps(payload, salt=HANDOFF_SALT)


def redeem_handoff_token(*, token: str, claim: bool = True) -> Membership:
    """Check a handoff token for the active tenant and claim it; returns the membership.

    With ``claim=False`` the token is only checked (for the confirmation page)
    and stays usable.

    Raises ``NotFound`` when the token is tampered with, expired, meant for
    another tenant, already used, or its membership is no longer active.
    """
    tenant = require_tenant()
    try:
        payload = signing.loads(token, salt=HANDOFF_SALT, max_age=HANDOFF_MAX_AGE)
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise _handoff_invalid() from exc
    if not isinstance(payload, dict):
        raise _handoff_invalid()
    user_id, membership_id = payload.get("u"), payload.get("m")
    nonce, tenant_id = payload.get("n"), payload.get("t")
    if not (isinstance(user_id, int) and isinstance(membership_id, int) and nonce):
        raise _handoff_invalid()
    if tenant_id != tenant.pk:
        raise _handoff_invalid()
    nonce_key = f"accounts:handoff:{nonce}"
    if claim:
        if not cache.add(nonce_key, 1, timeout=HANDOFF_MAX_AGE * 2):
            raise _handoff_invalid()
    elif cache.get(nonce_key) is not None:
        raise _handoff_invalid()
    membership = (
        Membership.objects.filter(
            pk=membership_id, user_id=user_id, is_active=True, user__is_active=True
        )
        .select_related("user")
        .first()
    )
    if membership is None:
        raise _handoff_invalid()
    return membership


# --- Personal API tokens --------------------------------------------------------


def revoke_user_token(*, token: UserToken, actor) -> UserToken:
    """Revoke one of the actor's own personal API tokens; it stops working at once."""
    if token.user_id != getattr(actor, "pk", None):
        raise PermissionDenied()
    if token.revoked_at is None:
        with transaction.atomic():
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            record(actor=actor, action="api_token.revoked", target=token, summary=token.name)
    return token


def revoke_api_key(*, api_key: ApiKey, actor, membership) -> ApiKey:
    """Revoke a tenant API key; integrations using it are refused from then on."""
    if not can(membership, Capability.MANAGE_API_KEYS):
        raise PermissionDenied()
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is not None:
            raise Conflict(_("This API key is already revoked."), code="api_key_revoked")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        record(actor=actor, action="api_key.revoked", target=locked, summary=locked.name)
    return locked
