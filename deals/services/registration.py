"""A partner registers a deal: matched, checked against the rules of engagement,
approved at once or sent to the review queue.

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
from django.utils import timezone
from django.utils.translation import gettext as _

from deals.matching import Candidate, Match, find_matches
from deals.models import DealEvent, DealLine, DealRegistration, Decision, EngagementRule, Product
from deals.normalize import normalize_company_name
from deals.services.customers import _aliases, company_domain, program
from prm.accounts.roles import PARTNER_ROLES
from prm.audit.services import record
from prm.errors import DomainError, PermissionDenied

Stage = DealRegistration.Stage


REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Advisory-lock namespace for "decide registrations of tenant N one at a time".
_REGISTRATION_LOCK = 0x44524547  # "DREG"


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
