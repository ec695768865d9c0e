"""The protection window after approval: extensions, expiry reminders and expiry.

Approval protects a deal until ``protected_until``. A partner user of the
deal's own partner may ask for more time (1 to 90 days per request, at most one
pending request per deal); a channel manager approves it, which moves the end
of the window by that many days from its current end, or denies it. While a
request waits for a decision the deal does not expire: the partner asked in
time, and staff's queue must not cost them the deal.

``run_protection_window_job`` is the nightly job. It works in bounded chunks,
each in its own transaction, with set-based statements: it expires lapsed
registrations (one ``expired`` timeline event and one audit row per deal, in
the same transaction as the stage change, so a rerun finds nothing left to do)
and records expiry reminders under a unique key (deal, window end, lead time)
with ``INSERT … ON CONFLICT DO NOTHING RETURNING``; only reminders actually
inserted are mailed, after their chunk commits. A run killed halfway therefore
resumes on the next run with nothing doubled and nothing lost; a mail that
fails after its chunk committed is logged and counted, not retried (at most
once, never twice).

The partner's users hear about both in the portal too (``prm.notifications``):
a decided extension is a notification plus an e-mail, sent once the decision
commits; a reminder is a portal notification written in its chunk's
transaction, and its only e-mail is the reminder e-mail above, in each
person's language (their preference, else the tenant's).
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from deals.models import (
    EXTENSION_MAX_DAYS,
    EXTENSION_MIN_DAYS,
    DealEvent,
    DealProgram,
    DealRegistration,
    ExtensionRequest,
)
from deals.services import deal_path, program
from prm.accounts.roles import PARTNER_ROLES, Capability, can
from prm.audit.models import AuditEvent
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.jobs.runner import JobProgress
from prm.notifications.services import Notice, notify_partners, recipients_of
from prm.tenancy.context import require_tenant

logger = logging.getLogger(__name__)

Stage = DealRegistration.Stage
CHUNK_SIZE = 500


def tenant_today() -> date:
    """Today in the active tenant's time zone: the day its windows end on."""
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(require_tenant().time_zone))


# --- Extensions ----------------------------------------------------------------


def _deal_event(deal: DealRegistration, *, actor, kind: str, reason: str = "", **data) -> DealEvent:
    return DealEvent.objects.create(
        deal=deal,
        actor=actor if getattr(actor, "pk", None) else None,
        kind=kind,
        reason=reason,
        data=data,
    )


def request_extension(
    *,
    deal: DealRegistration,
    membership,
    actor,
    days: int,
    reason: str,
    today: date | None = None,
) -> ExtensionRequest:
    """A user of the deal's own partner asks staff to extend its protection."""
    if (
        not can(membership, Capability.USE_PORTAL)
        or membership.role not in PARTNER_ROLES
        or membership.partner_id != deal.partner_id
    ):
        raise PermissionDenied()
    if not isinstance(days, int) or not EXTENSION_MIN_DAYS <= days <= EXTENSION_MAX_DAYS:
        raise DomainError(
            _("Ask for %(min)d to %(max)d more days.")
            % {"min": EXTENSION_MIN_DAYS, "max": EXTENSION_MAX_DAYS},
            field="days",
        )
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why you need more time."), field="reason")
    today = today or tenant_today()
    with transaction.atomic():
        locked = DealRegistration.objects.select_for_update().get(pk=deal.pk)
        if locked.stage not in DealRegistration.PROTECTED_STAGES:
            raise Conflict(_("Only an approved or in-progress registration can be extended."))
        if locked.protected_until is None or locked.protected_until < today:
            raise Conflict(_("The protection window of this registration has already ended."))
        try:
            # The partial unique constraint, not a read, keeps it to one pending request.
            with transaction.atomic():
                extension = ExtensionRequest.objects.create(
                    deal=locked,
                    requested_by=actor,
                    requested_days=days,
                    reason=reason,
                    protected_until_at_request=locked.protected_until,
                )
        except IntegrityError as exc:
            raise Conflict(
                _("This registration already has an extension request waiting for a decision.")
            ) from exc
        _deal_event(
            locked,
            actor=actor,
            kind="extension_requested",
            reason=reason,
            days=days,
            protected_until=str(locked.protected_until),
        )
        record(
            actor=actor,
            action="deal.extension_requested",
            target=locked,
            summary=reason,
            data={"request": extension.pk, "days": days},
        )
    return extension


def decide_extension(
    *,
    request: ExtensionRequest,
    membership,
    actor,
    approve: bool,
    reason: str = "",
) -> ExtensionRequest:
    """A channel manager approves (the window grows by the requested days from
    its current end) or denies (with a reason; the window stays as it is)."""
    if not can(membership, Capability.MANAGE_PARTNERS):
        raise PermissionDenied()
    reason = (reason or "").strip()
    if not approve and not reason:
        raise DomainError(_("Say why the extension is denied."), field="reason")
    with transaction.atomic():
        locked = ExtensionRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != ExtensionRequest.Status.PENDING:
            raise Conflict(_("This extension request has already been decided."))
        deal = DealRegistration.objects.select_for_update().get(pk=locked.deal_id)
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_reason = reason
        if approve:
            if deal.stage not in DealRegistration.PROTECTED_STAGES or deal.protected_until is None:
                raise Conflict(_("Only an approved or in-progress registration can be extended."))
            before = deal.protected_until
            deal.protected_until = before + timedelta(days=locked.requested_days)
            deal.save(update_fields=["protected_until"])
            locked.status = ExtensionRequest.Status.APPROVED
            _deal_event(
                deal,
                actor=actor,
                kind="extension_approved",
                reason=reason,
                days=locked.requested_days,
                protected_until_before=str(before),
                protected_until=str(deal.protected_until),
            )
            summary = f"{before} → {deal.protected_until}"
        else:
            locked.status = ExtensionRequest.Status.DENIED
            _deal_event(
                deal,
                actor=actor,
                kind="extension_denied",
                reason=reason,
                days=locked.requested_days,
                protected_until=str(deal.protected_until),
            )
            summary = reason
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        record(
            actor=actor,
            action=f"deal.extension_{locked.status}",
            target=deal,
            summary=summary,
            data={"request": locked.pk, "days": locked.requested_days},
        )
        notify_partners(
            notices=[
                Notice(
                    partner_id=deal.partner_id,
                    kind="deals.extension_decided",
                    params={
                        "reference": deal.reference,
                        "company": deal.customer_company,
                        "approved": approve,
                        "days": locked.requested_days,
                        "protected_until": deal.protected_until,
                        "reason": reason,
                    },
                    link=deal_path(deal),
                )
            ]
        )
    return locked


def extension_requests_of(*, deal: DealRegistration) -> list[ExtensionRequest]:
    """The deal's extension requests, newest first (one query)."""
    return list(ExtensionRequest.objects.filter(deal=deal).order_by("-requested_at", "-id"))


# --- The nightly job -------------------------------------------------------------


@dataclass(frozen=True)
class ReminderWindow:
    """Deals whose window ends in (``after``, ``days_before``] days get this reminder.

    Reminders cover a range rather than one exact day, so a night the job did
    not run is caught up the next night; the nearest lead time wins.
    """

    days_before: int
    after: int


def reminder_windows(rules: DealProgram) -> list[ReminderWindow]:
    leads = sorted({rules.first_reminder_days, rules.last_reminder_days}, reverse=True)
    return [
        ReminderWindow(days_before=lead, after=leads[i + 1] if i + 1 < len(leads) else -1)
        for i, lead in enumerate(leads)
    ]


def _pending_extension():
    return Exists(
        ExtensionRequest.objects.filter(deal=OuterRef("pk"), status=ExtensionRequest.Status.PENDING)
    )


def _lapsed(today: date):
    return DealRegistration.objects.filter(
        stage__in=DealRegistration.PROTECTED_STAGES, protected_until__lt=today
    ).exclude(_pending_extension())


def _due_for_reminder(today: date, window: ReminderWindow):
    return DealRegistration.objects.filter(
        stage__in=DealRegistration.PROTECTED_STAGES,
        protected_until__gt=today + timedelta(days=window.after),
        protected_until__lte=today + timedelta(days=window.days_before),
    )


def _expire_chunk(*, today: date, after_pk: int, size: int) -> tuple[int, int, int]:
    """Expire the next chunk of lapsed deals; returns (scanned, expired, last pk)."""
    tenant_id = require_tenant().pk
    scanned = list(
        _lapsed(today)
        .filter(pk__gt=after_pk)
        .order_by("pk")
        .select_for_update()
        .values_list("pk", flat=True)[:size]
    )
    if not scanned:
        return 0, 0, after_pk
    # Re-read under the locks with a fresh snapshot: an extension requested
    # while we waited for a row lock holds that deal.
    rows = list(
        _lapsed(today)
        .filter(pk__in=scanned)
        .order_by("pk")
        .values_list("pk", "stage", "protected_until", "reference")
    )
    DealRegistration.objects.filter(pk__in=[pk for pk, *_rest in rows]).update(stage=Stage.EXPIRED)
    DealEvent.objects.bulk_create(
        DealEvent(
            tenant_id=tenant_id,
            deal_id=pk,
            kind="expired",
            from_stage=stage,
            to_stage=Stage.EXPIRED,
            data={"protected_until": str(until)},
        )
        for pk, stage, until, _reference in rows
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant_id=tenant_id,
            action="deal.expired",
            object_type=DealRegistration._meta.label_lower,
            object_id=str(pk),
            summary=reference,
            data={"protected_until": str(until), "from_stage": stage},
        )
        for pk, stage, until, reference in rows
    )
    return len(scanned), len(rows), scanned[-1]


_INSERT_REMINDERS = """
    INSERT INTO deals_expiryreminder (tenant_id, deal_id, protected_until, days_before, created_at)
    SELECT %s, due.deal_id, due.protected_until, %s, %s
    FROM unnest(%s::bigint[], %s::date[]) AS due(deal_id, protected_until)
    ON CONFLICT (tenant_id, deal_id, protected_until, days_before) DO NOTHING
    RETURNING deal_id
"""


def _remind_chunk(
    *, today: date, window: ReminderWindow, after_pk: int, size: int, on_mail_failure
) -> tuple[int, int, int]:
    """Record and mail the next chunk of due reminders; returns (scanned, inserted, last pk)."""
    tenant = require_tenant()
    due = list(
        _due_for_reminder(today, window)
        .filter(pk__gt=after_pk)
        .order_by("pk")
        .select_for_update()
        .values_list("pk", "protected_until")[:size]
    )
    if not due:
        return 0, 0, after_pk
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_REMINDERS,
            [
                tenant.pk,
                window.days_before,
                timezone.now(),
                [pk for pk, _until in due],
                [until for _pk, until in due],
            ],
        )
        inserted = [row[0] for row in cursor.fetchall()]
    if inserted:
        messages = _notify_reminders(deal_ids=inserted, today=today)
        transaction.on_commit(lambda: _send(messages, on_failure=on_mail_failure))
    return len(due), len(inserted), due[-1][0]


def _notify_reminders(*, deal_ids: Sequence[int], today: date) -> list[EmailMessage]:
    """Put the reminders in the partner users' portal inboxes (in the chunk's
    transaction) and return the reminder e-mails to send once it commits: one
    per person, in their language (their preference, else the tenant's)."""
    tenant = require_tenant()
    deals = list(DealRegistration.objects.filter(pk__in=deal_ids).order_by("pk"))
    recipients = recipients_of(partner_ids=[deal.partner_id for deal in deals])
    # The e-mail below is the reminder's only e-mail; the portal copy is silent.
    notify_partners(
        notices=[
            Notice(
                partner_id=deal.partner_id,
                kind="deals.expiry_reminder",
                params={
                    "reference": deal.reference,
                    "company": deal.customer_company,
                    "protected_until": deal.protected_until,
                },
                link=deal_path(deal),
            )
            for deal in deals
        ],
        email=False,
        recipients=recipients,
    )
    messages: list[EmailMessage] = []
    for deal in deals:
        until = deal.protected_until or today  # always set: selected by it
        context = {"tenant": tenant, "deal": deal, "days_left": (until - today).days}
        rendered: dict[str, tuple[str, str]] = {}
        for recipient in recipients.get(deal.partner_id, []):
            if recipient.language not in rendered:
                with translation.override(recipient.language):
                    title = " ".join(
                        render_to_string("deals/email/expiry_reminder_subject.txt", context).split()
                    )
                    text = render_to_string("deals/email/expiry_reminder.txt", context)
                rendered[recipient.language] = (title, str(text))
            subject, body = rendered[recipient.language]
            # One message per person: partner users do not see each other's addresses.
            messages.append(
                EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [recipient.email])
            )
    return messages


def _send(messages: list[EmailMessage], *, on_failure: Callable[[int], None]) -> None:
    try:
        get_connection().send_messages(messages)
    except Exception:
        # The reminders are committed: they are not sent twice, so a mail
        # failure is logged and counted on the job run for staff to see.
        logger.exception("Sending %d expiry reminder e-mails failed", len(messages))
        on_failure(len(messages))


def run_protection_window_job(
    *,
    today: date,
    progress: JobProgress | None = None,
    chunk_size: int = CHUNK_SIZE,
    after_chunk: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Expire lapsed registrations, then send due expiry reminders.

    Returns ``{"expired": n, "reminded": n}`` (plus ``mail_failed`` when
    mail could not be sent). ``after_chunk(phase, count)`` is called after each
    committed chunk; tests use it to kill a run halfway.
    """
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "the protection-window job commits chunk by chunk; run it outside a transaction"
        )
    counts = {"expired": 0, "reminded": 0}

    def add(name: str, amount: int) -> None:
        counts[name] = counts.get(name, 0) + amount
        if progress is not None:
            progress.add(name, amount)

    if progress is not None:
        for name in counts:
            progress.add(name, 0)
    windows = reminder_windows(program())
    if progress is not None:
        progress.set_total(
            _lapsed(today).count() + sum(_due_for_reminder(today, w).count() for w in windows)
        )

    after_pk = 0
    while True:
        with transaction.atomic():
            scanned, expired, after_pk = _expire_chunk(
                today=today, after_pk=after_pk, size=chunk_size
            )
        if not scanned:
            break
        add("expired", expired)
        if progress is not None:
            progress.advance(scanned)
        if after_chunk is not None:
            after_chunk("expire", expired)

    for window in windows:
        after_pk = 0
        while True:
            with transaction.atomic():
                scanned, reminded, after_pk = _remind_chunk(
                    today=today,
                    window=window,
                    after_pk=after_pk,
                    size=chunk_size,
                    on_mail_failure=lambda n: add("mail_failed", n),
                )
            if not scanned:
                break
            add("reminded", reminded)
            if progress is not None:
                progress.advance(scanned)
            if after_chunk is not None:
                after_chunk("remind", reminded)
    return counts
