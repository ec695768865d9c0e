"""Writes for deal registration: register, review, decide, appeal, progress, close.

Registrations for one tenant are decided one at a time: ``register_deal``
takes a transaction-scoped PostgreSQL advisory lock for the tenant before it
looks for conflicts, so of two partners registering the same customer at the
same moment exactly one is first and the other finds it and goes to review.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from deals.matching import Candidate, Match, find_matches
from deals.models import (
    Account,
    DealComment,
    DealEvent,
    DealLine,
    DealProgram,
    DealRegistration,
    Decision,
    DomainAlias,
    EngagementRule,
    Product,
)
from deals.normalize import (
    domain_of_email,
    is_free_mail,
    normalize_company_name,
    normalize_domain,
    registrable_domain,
)
from prm.accounts.roles import PARTNER_ROLES, Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.notifications.services import Notice, notify_partners
from prm.tenancy.context import require_tenant

Stage = DealRegistration.Stage
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Advisory-lock namespace for "decide registrations of tenant N one at a time".
_REGISTRATION_LOCK = 0x44524547  # "DREG"


def program() -> DealProgram:
    """The active tenant's deal-registration rules, created with defaults on first use."""
    found, _created = DealProgram.objects.get_or_create(tenant=require_tenant())
    return found


def _aliases() -> dict[str, str]:
    return {
        registrable_domain(normalize_domain(a.alias)): registrable_domain(
            normalize_domain(a.canonical)
        )
        for a in DomainAlias.objects.all()
    }


def refold_domains() -> int:
    """Apply the tenant's current domain aliases to what is already stored, so a
    new alias matches existing accounts and active registrations too; returns
    how many rows changed. Accounts keep only their folded domain, so removing
    an alias does not unfold them; registrations are recomputed from the
    website and e-mail the partner entered."""
    aliases = _aliases()
    changed = 0
    with transaction.atomic():
        for alias, canonical in aliases.items():
            changed += Account.objects.filter(domain=alias).update(domain=canonical)
        refolded = []
        for deal in DealRegistration.objects.filter(stage__in=DealRegistration.ACTIVE_STAGES).only(
            "pk", "website", "contact_email", "website_domain", "email_domain"
        ):
            website = company_domain(deal.website, aliases=aliases)
            email = company_domain(deal.contact_email, aliases=aliases, email=True)
            if (website, email) != (deal.website_domain, deal.email_domain):
                deal.website_domain, deal.email_domain = website, email
                refolded.append(deal)
        DealRegistration.objects.bulk_update(
            refolded, ["website_domain", "email_domain"], batch_size=500
        )
    return changed + len(refolded)


def company_domain(value: str, *, aliases: dict[str, str], email: bool = False) -> str:
    """The registrable company domain of a website or e-mail, with aliases folded in;
    free-mail providers are never a company's domain."""
    host = domain_of_email(value) if email else normalize_domain(value)
    if not host or is_free_mail(host):
        return ""
    domain = registrable_domain(host)
    return aliases.get(domain, domain)


def _candidate(*, company: str, email: str, website: str, aliases: dict[str, str]) -> Candidate:
    domains = {
        company_domain(email, aliases=aliases, email=True),
        company_domain(website, aliases=aliases),
    }
    return Candidate(
        normalized_name=normalize_company_name(company), domains={d for d in domains if d}
    )


def is_customer_claimed(*, membership, company: str, email: str = "", website: str = "") -> bool:
    """May a partner register this customer? They learn only *whether* it is
    already claimed — never by whom, nor for how much."""
    if membership is None or membership.role not in PARTNER_ROLES:
        raise PermissionDenied()
    candidate = _candidate(company=company, email=email, website=website, aliases=_aliases())
    candidate.exclude_partner_id = membership.partner_id
    matches = find_matches(candidate, threshold=program().match_threshold)
    return bool(matches)


@dataclass
class LineInput:
    product: Product
    quantity: int
    amount: Decimal


def _new_reference() -> str:
    return "DR-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(7))


def _event(deal: DealRegistration, *, actor, kind: str, reason: str = "", **data: Any) -> None:
    DealEvent.objects.create(
        deal=deal,
        actor=actor if getattr(actor, "pk", None) else None,
        kind=kind,
        from_stage=data.pop("from_stage", ""),
        to_stage=data.pop("to_stage", ""),
        reason=reason,
        data=data,
    )


def _rules_broken(deal: DealRegistration) -> list[EngagementRule]:
    broken = []
    for rule in EngagementRule.objects.filter(is_active=True):
        value = getattr(deal, rule.field, "")
        values = {str(v).strip().lower() for v in rule.values or []}
        if value and value.strip().lower() in values:
            broken.append(rule)
    return broken


def _store_matches(deal: DealRegistration, matches: list[Match]) -> None:
    deal.matches.all().delete()
    from deals.models import DealMatch

    DealMatch.objects.bulk_create(
        DealMatch(
            tenant_id=deal.tenant_id,
            deal=deal,
            other_deal=m.other_deal,
            account=m.account,
            reasons=m.reasons,
            confidence=m.confidence,
        )
        for m in matches
    )


def _approve(deal: DealRegistration, *, actor, today: date, days: int) -> None:
    deal.stage = Stage.APPROVED
    deal.approved_at = timezone.now()
    deal.protected_until = today + timedelta(days=days)


def register_deal(
    *,
    membership,
    actor,
    customer_company: str,
    contact_name: str,
    contact_email: str,
    estimated_close_date: date,
    currency: str = "",
    lines: list[LineInput] | None = None,
    today: date | None = None,
    **optional: Any,
) -> DealRegistration:
    """A partner user registers a deal. Without conflicts and within the rules of
    engagement it is approved at once (when the tenant allows it); otherwise it
    waits in the review queue with its matches explained."""
    if membership is None or membership.role not in PARTNER_ROLES or not membership.partner_id:
        raise PermissionDenied(_("Only partner users register deals."))
    today = today or timezone.localdate()
    if estimated_close_date < today:
        raise DomainError(
            _("The estimated close date cannot be in the past."), field="estimated_close_date"
        )
    allowed = {
        "website",
        "country",
        "region",
        "industry",
        "company_size",
        "deal_type",
        "estimated_amount",
        "notes",
    }
    unknown = set(optional) - allowed
    if unknown:
        raise DomainError(_("Unknown field."), field=sorted(unknown)[0])
    rules = program()
    partner = membership.partner
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_REGISTRATION_LOCK, rules.tenant_id]
            )
        aliases = _aliases()
        deal = DealRegistration(
            partner=partner,
            registered_by=actor,
            customer_company=customer_company.strip(),
            contact_name=contact_name.strip(),
            contact_email=contact_email.strip().lower(),
            estimated_close_date=estimated_close_date,
            currency=currency or partner.default_currency,
            **optional,
        )
        deal.country = (deal.country or "").upper()
        deal.normalized_name = normalize_company_name(deal.customer_company)
        deal.email_domain = company_domain(deal.contact_email, aliases=aliases, email=True)
        deal.website_domain = company_domain(deal.website, aliases=aliases)
        for _attempt in range(5):
            deal.reference = _new_reference()
            try:
                with transaction.atomic():
                    deal.save()
                break
            except IntegrityError:
                continue
        for line in lines or []:
            DealLine.objects.create(
                deal=deal, product=line.product, quantity=line.quantity, amount=line.amount
            )
        _event(deal, actor=actor, kind="submitted", to_stage=Stage.SUBMITTED)
        candidate = Candidate(
            normalized_name=deal.normalized_name,
            domains={d for d in (deal.email_domain, deal.website_domain) if d},
            exclude_partner_id=partner.pk,
            exclude_deal_id=deal.pk,
        )
        matches = find_matches(candidate, threshold=rules.match_threshold)
        _store_matches(deal, matches)
        broken = _rules_broken(deal)
        if matches:
            deal.is_conflict = True
            deal.save(update_fields=["is_conflict"])
            _event(deal, actor=None, kind="conflict_found", matches=len(matches))
        elif broken:
            _event(
                deal,
                actor=None,
                kind="needs_review",
                reason=", ".join(rule.name for rule in broken),
            )
        elif rules.auto_approve:
            _approve(deal, actor=None, today=today, days=rules.protection_days)
            deal.save(update_fields=["stage", "approved_at", "protected_until"])
            Decision.objects.create(
                deal=deal,
                outcome=Decision.Outcome.APPROVED,
                policy=_("First to register; no conflict; within the rules of engagement"),
                reason=_("Approved automatically."),
                matches_considered=[],
            )
            _event(
                deal,
                actor=None,
                kind="auto_approved",
                from_stage=Stage.SUBMITTED,
                to_stage=Stage.APPROVED,
                protected_until=str(deal.protected_until),
            )
        record(actor=actor, action="deal.registered", target=deal, summary=deal.reference)
    return deal


# --- Review -----------------------------------------------------------------


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


# --- Progress and closing ----------------------------------------------------


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


def import_account(
    *,
    kind: str,
    name: str,
    domain: str = "",
    country: str = "",
    owner: str = "",
    external_id: str = "",
) -> Account:
    """Create one vendor account with its matching fields filled in. No
    permission check: ``add_account`` is the action people take; seeding and
    tests call this directly."""
    aliases = _aliases()
    return Account.objects.create(
        kind=kind,
        name=name.strip(),
        normalized_name=normalize_company_name(name),
        domain=company_domain(domain, aliases=aliases),
        country=country.upper(),
        owner=owner,
        external_id=external_id,
    )


def add_account(*, membership, actor, **fields: Any) -> Account:
    """Staff add one account to the vendor's book (console and API). Channel
    managers and tenant admins keep the book, as they do through CSV imports."""
    if not can(membership, Capability.MANAGE_PARTNERS):
        raise PermissionDenied(_("Only channel managers and tenant admins add accounts."))
    with transaction.atomic():
        account = import_account(**fields)
        record(actor=actor, action="account.added", target=account, summary=account.name)
    return account
