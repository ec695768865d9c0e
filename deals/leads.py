"""Writes for leads: bring a lead in, answer an offer, convert it, withdraw it.

Staff and API keys create leads; ``deals.routing`` offers them to partners;
partner users of the partner holding a lead answer the offer (accept, or
reject with a reason — the lead is re-routed on commit), and convert an
accepted lead into a deal registration in one step. Staff withdraw leads and
set each partner's lead profile (accepts leads, territories, capacity).

Every service runs in one transaction, locks the lead row first (so an answer
and the sweep expiring the same offer cannot both win), checks the actor's
permission and writes an audit row. A partner user asking about a lead their
organisation does not hold learns nothing about it: ``NotFound``.
"""

from __future__ import annotations

import re
import secrets
import zoneinfo
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from deals.models import DealRegistration, Lead, LeadAssignment, LeadRouting, PartnerLeadProfile
from deals.normalize import normalize_company_name
from deals.routing import route_leads
from deals.services import register_deal
from deals.tasks import route_leads_task
from partners.models import PartnerOrganization
from prm.accounts.roles import PARTNER_ROLES, Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, NotFound, PermissionDenied
from prm.jobs.tasks import enqueue_on_commit
from prm.tenancy.context import require_tenant

Status = Lead.Status
Outcome = LeadAssignment.Outcome
# Days from conversion to the deal's estimated close date when none is given.
DEFAULT_CLOSE_DAYS = 90
MAX_CAPACITY = 10000
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

# Optional lead fields a caller may pass to ``create_lead``.
OPTIONAL_FIELDS = frozenset(
    {
        "phone",
        "website",
        "region",
        "industry",
        "company_size",
        "estimated_amount",
        "currency",
        "source",
        "notes",
        "external_id",
    }
)


def lead_routing() -> LeadRouting:
    """The active tenant's routing settings, created with defaults on first use."""
    found, _created = LeadRouting.objects.get_or_create(tenant=require_tenant())
    return found


def new_lead_reference() -> str:
    return "LD-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(7))


def require_lead_manager(membership) -> None:
    """Leads are brought in and managed by channel managers and tenant admins."""
    if not can(membership, Capability.MANAGE_PARTNERS):
        raise PermissionDenied(_("Only channel managers and tenant admins manage leads."))


def build_lead(
    *,
    company: str,
    contact_name: str,
    contact_email: str,
    country: str,
    actor=None,
    **optional: Any,
) -> Lead:
    """An unsaved lead with its matching fields filled in (the import saves many at once)."""
    unknown = set(optional) - OPTIONAL_FIELDS
    if unknown:
        raise DomainError(_("Unknown field."), field=sorted(unknown)[0])
    amount = optional.get("estimated_amount")
    if amount is not None and not isinstance(amount, Decimal):
        raise DomainError(_("Enter an exact amount."), field="estimated_amount")
    if amount is not None and amount < 0:
        raise DomainError(_("The amount cannot be negative."), field="estimated_amount")
    if amount is not None and not optional.get("currency"):
        raise DomainError(_("Give the amount's currency."), field="currency")
    lead = Lead(
        company=company.strip(),
        normalized_name=normalize_company_name(company),
        contact_name=contact_name.strip(),
        contact_email=contact_email.strip().lower(),
        country=country.strip().upper(),
        created_by=actor if getattr(actor, "pk", None) else None,
        **{k: (v.strip() if isinstance(v, str) else v) for k, v in optional.items()},
    )
    lead.reference = new_lead_reference()
    return lead


def create_lead(
    *,
    membership,
    actor,
    company: str,
    contact_name: str,
    contact_email: str,
    country: str,
    **optional: Any,
) -> Lead:
    """Staff (or an API key acting for the tenant, ``membership=None`` with
    ``actor=None``) bring in one lead. Routing picks it up on commit when the
    tenant routes on arrival, otherwise in the hourly sweep."""
    if membership is not None or actor is not None:
        require_lead_manager(membership)
    lead = build_lead(
        company=company,
        contact_name=contact_name,
        contact_email=contact_email,
        country=country,
        actor=actor,
        **optional,
    )
    if lead.external_id and Lead.objects.filter(external_id=lead.external_id).exists():
        raise Conflict(_("A lead with this external id already exists."), field="external_id")
    with transaction.atomic():
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    lead.save()
                break
            except IntegrityError:
                if lead.external_id and Lead.objects.filter(external_id=lead.external_id).exists():
                    raise Conflict(
                        _("A lead with this external id already exists."), field="external_id"
                    ) from None
                lead.reference = new_lead_reference()
        record(actor=actor, action="lead.created", target=lead, summary=lead.reference)
        enqueue_routing(lead_ids=[lead.pk])
    return lead


def enqueue_routing(*, lead_ids: Sequence[int]) -> bool:
    """Route newly arrived leads once the current transaction commits, when the
    tenant routes on arrival (otherwise the sweep picks them up). Returns
    whether routing was enqueued. The CSV import calls this after its bulk insert."""
    ids = [int(pk) for pk in lead_ids]
    if not ids or not lead_routing().route_on_arrival:
        return False
    enqueue_on_commit(
        route_leads_task,
        tenant_id=require_tenant().pk,
        lead_ids=ids,
        via=LeadAssignment.Via.ARRIVAL,
    )
    return True


# --- Answering an offer ----------------------------------------------------------------


def _require_partner_user(membership) -> None:
    if (
        not can(membership, Capability.USE_PORTAL)
        or membership.role not in PARTNER_ROLES
        or not membership.partner_id
    ):
        raise PermissionDenied(_("Only users of the partner holding a lead can act on it."))


def _locked_lead(lead: Lead) -> Lead:
    try:
        return Lead.objects.select_for_update().get(pk=lead.pk)
    except Lead.DoesNotExist:
        raise NotFound(_("Lead not found.")) from None


def _held_lead(lead: Lead, membership) -> Lead:
    """The lead locked, when the member's organisation holds it (else NotFound)."""
    _require_partner_user(membership)
    locked = _locked_lead(lead)
    if locked.partner_id is None or locked.partner_id != membership.partner_id:
        raise NotFound(_("Lead not found."))
    return locked


def _pending_offer(lead: Lead) -> LeadAssignment:
    return LeadAssignment.objects.select_for_update().get(
        lead=lead, partner_id=lead.partner_id, outcome=Outcome.PENDING
    )


def _due_text(moment) -> str:
    zone = zoneinfo.ZoneInfo(require_tenant().time_zone)
    return formats.date_format(timezone.localtime(moment, zone), "DATETIME_FORMAT")


def _require_open_offer(lead: Lead) -> None:
    if lead.status == Status.ACCEPTED:
        raise Conflict(_("Your organisation has already accepted this lead."))
    if lead.status != Status.OFFERED:
        raise Conflict(_("This lead is no longer offered to your organisation."))


def accept_lead(*, lead: Lead, membership, actor) -> Lead:
    """A user of the partner the lead is offered to accepts it, before its due time."""
    now = timezone.now()
    with transaction.atomic():
        locked = _held_lead(lead, membership)
        _require_open_offer(locked)
        if locked.due_at is not None and locked.due_at <= now:
            raise Conflict(
                _(
                    "The time to accept this lead ended at %(due)s; it is being offered "
                    "to another partner."
                )
                % {"due": _due_text(locked.due_at)},
                code="offer_expired",
            )
        offer = _pending_offer(locked)
        offer.outcome = Outcome.ACCEPTED
        offer.responded_at = now
        offer.responded_by = actor
        offer.save(update_fields=["outcome", "responded_at", "responded_by"])
        locked.status = Status.ACCEPTED
        locked.accepted_at = now
        locked.save(update_fields=["status", "accepted_at"])
        record(
            actor=actor,
            action="lead.accepted",
            target=locked,
            summary=locked.reference,
            data={"partner": locked.partner_id, "assignment": offer.pk},
        )
    return locked


def reject_lead(*, lead: Lead, membership, actor, reason: str) -> Lead:
    """A user of the partner the lead is offered to declines it with a reason;
    once committed the lead is routed to the next best partner (never back to
    this one)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why you decline this lead."), field="reason")
    with transaction.atomic():
        locked = _held_lead(lead, membership)
        _require_open_offer(locked)
        offer = _pending_offer(locked)
        offer.outcome = Outcome.REJECTED
        offer.responded_at = timezone.now()
        offer.responded_by = actor
        offer.reason = reason
        offer.save(update_fields=["outcome", "responded_at", "responded_by", "reason"])
        partner_id = locked.partner_id
        locked.status = Status.NEW
        locked.partner = None
        locked.offered_at = None
        locked.due_at = None
        locked.save(update_fields=["status", "partner", "offered_at", "due_at"])
        record(
            actor=actor,
            action="lead.rejected",
            target=locked,
            summary=reason,
            data={"partner": partner_id, "assignment": offer.pk},
        )
        enqueue_on_commit(
            route_leads_task,
            tenant_id=require_tenant().pk,
            lead_ids=[locked.pk],
            via=LeadAssignment.Via.REROUTE,
        )
    return locked


def convert_lead(
    *, lead: Lead, membership, actor, estimated_close_date: date | None = None
) -> DealRegistration:
    """Register a deal from an accepted lead in one step: the lead's customer,
    contact and estimate become the registration (conflict detection applies as
    for any registration), and the lead is marked converted."""
    with transaction.atomic():
        locked = _held_lead(lead, membership)
        if locked.status == Status.CONVERTED:
            raise Conflict(_("This lead has already been converted into a deal registration."))
        if locked.status != Status.ACCEPTED:
            raise Conflict(_("Accept the lead before converting it into a deal registration."))
        note = _("Registered from lead %(reference)s.") % {"reference": locked.reference}
        deal = register_deal(
            membership=membership,
            actor=actor,
            customer_company=locked.company,
            contact_name=locked.contact_name,
            contact_email=locked.contact_email,
            estimated_close_date=estimated_close_date
            or timezone.localdate() + timedelta(days=DEFAULT_CLOSE_DAYS),
            currency=locked.currency,
            website=locked.website,
            country=locked.country,
            region=locked.region,
            industry=locked.industry,
            company_size=locked.company_size,
            estimated_amount=locked.estimated_amount,
            notes="\n\n".join(part for part in (note, locked.notes) if part),
        )
        locked.deal = deal
        locked.status = Status.CONVERTED
        locked.save(update_fields=["deal", "status"])
        record(
            actor=actor,
            action="lead.converted",
            target=locked,
            summary=deal.reference,
            data={"deal": deal.pk, "partner": locked.partner_id},
        )
    return deal


# --- Staff ------------------------------------------------------------------------------


def withdraw_lead(*, lead: Lead, membership, actor, reason: str) -> Lead:
    """Staff take a lead out of routing (a pending offer is withdrawn with it)."""
    require_lead_manager(membership)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Say why the lead is withdrawn."), field="reason")
    with transaction.atomic():
        locked = _locked_lead(lead)
        if locked.status == Status.WITHDRAWN:
            raise Conflict(_("This lead has already been withdrawn."))
        if locked.status == Status.CONVERTED:
            raise Conflict(_("A lead converted into a deal registration cannot be withdrawn."))
        LeadAssignment.objects.filter(lead=locked, outcome=Outcome.PENDING).update(
            outcome=Outcome.WITHDRAWN, reason=reason
        )
        before = locked.status
        locked.status = Status.WITHDRAWN
        locked.save(update_fields=["status"])
        record(
            actor=actor,
            action="lead.withdrawn",
            target=locked,
            summary=reason,
            data={"from_status": before, "partner": locked.partner_id},
        )
    return locked


def route_lead_now(*, lead: Lead, membership, actor) -> dict[str, int]:
    """Staff route a waiting lead at once instead of at the next sweep; returns
    the routing counts (``offered``, ``direct``, ``unrouted``, ``still_unrouted``)."""
    require_lead_manager(membership)
    if lead.status not in Lead.ROUTABLE:
        raise Conflict(
            _(
                "Only a lead waiting for routing (new, or with no partner available) "
                "can be routed now."
            )
        )
    with transaction.atomic():
        counts = route_leads(lead_ids=[lead.pk], via=LeadAssignment.Via.MANUAL)
        record(
            actor=actor,
            action="lead.routed_now",
            target=lead,
            summary=lead.reference,
            data=counts,
        )
    return counts


def _territories(values: Sequence[str]) -> list[str]:
    found: list[str] = []
    for value in values or ():
        code = (value or "").strip().upper()
        if not _COUNTRY_CODE.match(code):
            raise DomainError(
                _("Enter territories as two-letter country codes, such as MY or CN."),
                field="territories",
            )
        if code not in found:
            found.append(code)
    return found


def set_lead_profile(
    *,
    partner: PartnerOrganization,
    membership,
    actor,
    accepts_leads: bool,
    territories: Sequence[str],
    capacity: int | None,
) -> PartnerLeadProfile:
    """Staff set whether a partner takes leads, the countries it covers besides
    its home country, and its own capacity (``None`` uses the tenant's default)."""
    require_lead_manager(membership)
    codes = _territories(territories)
    if capacity is not None and (
        isinstance(capacity, bool)
        or not isinstance(capacity, int)
        or not 1 <= capacity <= MAX_CAPACITY
    ):
        raise DomainError(
            _("Enter a capacity from 1 to %(max)d open leads, or leave it empty.")
            % {"max": MAX_CAPACITY},
            field="capacity",
        )
    with transaction.atomic():
        if not PartnerOrganization.objects.filter(pk=partner.pk).exists():
            raise NotFound(_("Partner not found."))
        profile, _created = PartnerLeadProfile.objects.select_for_update().get_or_create(
            partner_id=partner.pk
        )
        before = {
            "accepts_leads": profile.accepts_leads,
            "territories": list(profile.territories),
            "capacity": profile.capacity,
        }
        profile.accepts_leads = bool(accepts_leads)
        profile.territories = codes
        profile.capacity = capacity
        profile.save(update_fields=["accepts_leads", "territories", "capacity"])
        record(
            actor=actor,
            action="lead_profile.changed",
            target=partner,
            summary=str(partner),
            data={
                "before": before,
                "after": {
                    "accepts_leads": profile.accepts_leads,
                    "territories": codes,
                    "capacity": capacity,
                },
            },
        )
    return profile
