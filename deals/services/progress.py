"""After approval: the deal moves on, closes won or lost, is reversed, is commented."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from deals.models import DealComment, DealRegistration
from deals.services.registration import _event
from deals.services.review import _locked, _require_reviewer
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied

Stage = DealRegistration.Stage


def _require_owner_or_reviewer(deal: DealRegistration, membership) -> None:
    if can(membership, Capability.MANAGE_PARTNERS):
        return
    if membership is not None and membership.partner_id == deal.partner_id:
        return
    raise PermissionDenied()


def _move(
    deal: DealRegistration, *, to: str, allowed_from: tuple, actor, reason: str = "", **data: Any
) -> DealRegistration:
    locked = _locked(deal)
    if locked.stage not in allowed_from:
        raise Conflict(
            _("A registration that is %(stage)s cannot move to %(target)s.")
            % {"stage": locked.get_stage_display(), "target": Stage(to).label}
        )
    before = locked.stage
    locked.stage = to
    for name, value in data.items():
        setattr(locked, name, value)
    locked.save()
    _event(locked, actor=actor, kind="stage_changed", reason=reason, from_stage=before, to_stage=to)
    return locked


def start_progress(*, deal: DealRegistration, membership, actor) -> DealRegistration:
    _require_owner_or_reviewer(deal, membership)
    with transaction.atomic():
        return _move(deal, to=Stage.IN_PROGRESS, allowed_from=(Stage.APPROVED,), actor=actor)


def close_won(
    *,
    deal: DealRegistration,
    membership,
    actor,
    final_amount: Decimal,
    currency: str,
    closed_on: date,
    contract_term_months: int,
) -> DealRegistration:
    _require_owner_or_reviewer(deal, membership)
    if final_amount is None or final_amount <= 0:
        raise DomainError(_("Enter the final amount."), field="final_amount")
    if not contract_term_months or contract_term_months <= 0:
        raise DomainError(_("Enter the contract term in months."), field="contract_term_months")
    with transaction.atomic():
        closed = _move(
            deal,
            to=Stage.CLOSED_WON,
            allowed_from=(Stage.APPROVED, Stage.IN_PROGRESS),
            actor=actor,
            final_amount=final_amount,
            currency=currency,
            closed_on=closed_on,
            contract_term_months=contract_term_months,
        )
        record(
            actor=actor,
            action="deal.closed_won",
            target=closed,
            summary=f"{final_amount} {currency}",
        )
    return closed


def close_lost(*, deal: DealRegistration, membership, actor, reason: str) -> DealRegistration:
    _require_owner_or_reviewer(deal, membership)
    if not (reason or "").strip():
        raise DomainError(_("Say why the deal was lost."), field="reason")
    with transaction.atomic():
        return _move(
            deal,
            to=Stage.CLOSED_LOST,
            allowed_from=(Stage.APPROVED, Stage.IN_PROGRESS),
            actor=actor,
            reason=reason.strip(),
        )


def reverse_closed_won(
    *, deal: DealRegistration, membership, actor, reason: str
) -> DealRegistration:
    """A refund or cancellation after closing; later issues turn it into clawbacks."""
    _require_reviewer(membership)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why the deal is reversed."), field="reason")
    with transaction.atomic():
        locked = _locked(deal)
        if locked.stage != Stage.CLOSED_WON or locked.reversed_at is not None:
            raise Conflict(_("Only a closed-won deal that is not yet reversed can be reversed."))
        locked.reversed_at = timezone.now()
        locked.reversal_reason = reason
        locked.save(update_fields=["reversed_at", "reversal_reason"])
        _event(locked, actor=actor, kind="reversed", reason=reason)
        record(actor=actor, action="deal.reversed", target=locked, summary=reason)
    return locked


def add_comment(*, deal: DealRegistration, membership, actor, body: str) -> DealComment:
    _require_owner_or_reviewer(deal, membership)
    body = (body or "").strip()
    if not body:
        raise DomainError(_("Write a comment."), field="body")
    return DealComment.objects.create(deal=deal, author=actor, body=body)
