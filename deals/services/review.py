"""The review queue's writes: match again, decide (and tell the partners), appeal."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from deals.matching import Candidate, Match, find_matches
from deals.models import DealRegistration, Decision
from deals.services.customers import program
from deals.services.registration import _approve, _event, _store_matches
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.notifications.services import Notice, notify_partners

Stage = DealRegistration.Stage


def refresh_matches(*, deal: DealRegistration) -> list[Match]:
    """Match the registration again (on review the vendor's book or other
    registrations may have changed since it was submitted)."""
    candidate = Candidate(
        normalized_name=deal.normalized_name,
        domains={d for d in (deal.email_domain, deal.website_domain) if d},
        exclude_partner_id=deal.partner_id,
        exclude_deal_id=deal.pk,
    )
    matches = find_matches(candidate, threshold=program().match_threshold)
    _store_matches(deal, matches)
    if bool(matches) != deal.is_conflict:
        deal.is_conflict = bool(matches)
        deal.save(update_fields=["is_conflict"])
    return matches


def _require_reviewer(membership) -> None:
    if not can(membership, Capability.MANAGE_PARTNERS):
        raise PermissionDenied()


def _locked(deal: DealRegistration) -> DealRegistration:
    return DealRegistration.objects.select_for_update().get(pk=deal.pk)


def _matches_snapshot(deal: DealRegistration) -> list[dict]:
    return [
        {
            "deal": m.other_deal_id,
            "account": m.account_id,
            "confidence": str(m.confidence),
            "reasons": m.reasons,
        }
        for m in deal.matches.all()
    ]


def decide_registration(
    *,
    deal: DealRegistration,
    membership,
    actor,
    outcome: str,
    reason: str,
    partner_share: Decimal | None = None,
    today: date | None = None,
) -> Decision:
    """A channel manager approves, rejects, awards to the first registrant or
    marks co-sell; the decision record is what the affected partners read, and
    they are notified in the portal and by e-mail once it commits."""
    _require_reviewer(membership)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the reason for the decision."), field="reason")
    today = today or timezone.localdate()
    rules = program()
    with transaction.atomic():
        deal = _locked(deal)
        if deal.stage != Stage.SUBMITTED:
            raise Conflict(_("Only a submitted registration can be decided."))
        refresh_matches(deal=deal)
        before = deal.stage
        policies: dict[str, str] = {
            Decision.Outcome.APPROVED: _("Approved on review"),
            Decision.Outcome.REJECTED: _("Rejected on review"),
            Decision.Outcome.AWARDED_FIRST: _("First to register wins"),
            Decision.Outcome.CO_SELL: _("Co-sell with a commission split"),
        }
        policy = policies.get(outcome)
        if policy is None:
            raise DomainError(_("Choose a valid decision."), field="outcome")
        share = None
        if outcome == Decision.Outcome.CO_SELL:
            share = (
                partner_share if partner_share is not None else rules.partner_sourced_partner_share
            )
            if not Decimal("0") <= share <= Decimal("100"):
                raise DomainError(
                    _("The partner share is a percentage from 0 to 100."), field="partner_share"
                )
            deal.partner_share = share
        rivals = [
            m.other_deal
            for m in deal.matches.select_related("other_deal").order_by("id")
            if m.other_deal is not None
        ]
        first = min([deal, *rivals], key=lambda d: (d.submitted_at, d.pk))
        if outcome == Decision.Outcome.AWARDED_FIRST:
            if first.pk == deal.pk:
                _approve(deal, actor=actor, today=today, days=rules.protection_days)
            else:
                deal.stage = Stage.REJECTED
        elif outcome == Decision.Outcome.REJECTED:
            deal.stage = Stage.REJECTED
        else:
            _approve(deal, actor=actor, today=today, days=rules.protection_days)
        deal.save()
        after_appeal = deal.decisions.exclude(appealed_at=None).exists()
        decision = Decision.objects.create(
            deal=deal,
            outcome=outcome,
            policy=policy,
            reason=reason,
            matches_considered=_matches_snapshot(deal),
            partner_share=share,
            decided_by=actor,
        )
        _event(
            deal,
            actor=actor,
            kind="decided",
            reason=reason,
            from_stage=before,
            to_stage=deal.stage,
            outcome=outcome,
        )
        record(actor=actor, action=f"deal.{outcome}", target=deal, summary=reason)
        _notify_decision(deal, decision, rivals=rivals, first=first, after_appeal=after_appeal)
    return decision


def deal_path(deal: DealRegistration) -> str:
    """The deal's page in the partner portal."""
    return reverse("deals:detail", args=[deal.reference])


def _notify_decision(
    deal: DealRegistration,
    decision: Decision,
    *,
    rivals: list[DealRegistration],
    first: DealRegistration,
    after_appeal: bool,
) -> None:
    """Tell the registering partner the decision and, when the customer was
    awarded to the first registrant or marked co-sell, tell the partners whose
    active registrations claim the same customer — about their own registration
    only: never who the other partner is, nor any amount or share of theirs
    (partners learn only *that* a customer is claimed). Written in the decision's
    transaction; e-mailed once it commits."""
    notices = [
        Notice(
            partner_id=deal.partner_id,
            kind="deals.decided",
            params={
                "reference": deal.reference,
                "company": deal.customer_company,
                "outcome": decision.outcome,
                "stage": deal.stage,
                "protected_until": deal.protected_until,
                "partner_share": decision.partner_share,
                "reason": decision.reason,
                "after_appeal": after_appeal,
            },
            link=deal_path(deal),
        )
    ]
    if decision.outcome in (Decision.Outcome.AWARDED_FIRST, Decision.Outcome.CO_SELL):
        notices.extend(
            Notice(
                partner_id=rival.partner_id,
                kind="deals.conflict_decided",
                params={
                    "reference": rival.reference,
                    "company": rival.customer_company,
                    "outcome": decision.outcome,
                    "first": rival.pk == first.pk,
                },
                link=deal_path(rival),
            )
            for rival in rivals
            if rival.stage in DealRegistration.ACTIVE_STAGES and rival.partner_id != deal.partner_id
        )
    notify_partners(notices=notices)


def appeal_decision(*, decision: Decision, membership, actor, comment: str) -> Decision:
    """The affected partner appeals once; the registration returns to the queue."""
    if membership is None or membership.partner_id != decision.deal.partner_id:
        raise PermissionDenied()
    comment = (comment or "").strip()
    if not comment:
        raise DomainError(_("Say why you appeal."), field="comment")
    with transaction.atomic():
        decision = Decision.objects.select_for_update().select_related("deal").get(pk=decision.pk)
        if decision.deal.decisions.exclude(appealed_at=None).exists():
            raise Conflict(_("This registration has already been appealed once."))
        deal = _locked(decision.deal)
        if deal.stage not in (Stage.APPROVED, Stage.REJECTED):
            raise Conflict(_("Only an approved or rejected registration can be appealed."))
        decision.appeal_comment = comment
        decision.appealed_at = timezone.now()
        decision.appealed_by = actor
        decision.save(update_fields=["appeal_comment", "appealed_at", "appealed_by"])
        before = deal.stage
        deal.stage = Stage.SUBMITTED
        deal.approved_at = None
        deal.protected_until = None
        deal.save(update_fields=["stage", "approved_at", "protected_until"])
        _event(
            deal,
            actor=actor,
            kind="appealed",
            reason=comment,
            from_stage=before,
            to_stage=Stage.SUBMITTED,
        )
        record(actor=actor, action="deal.appealed", target=deal, summary=comment)
    return decision
