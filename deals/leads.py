"""Writes for leads: bring a lead in, and (in ``deals.routing``) route it.

Staff and API keys create leads; partners answer the offers routing makes.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from deals.models import Lead, LeadRouting
from deals.normalize import normalize_company_name
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.tenancy.context import require_tenant

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
    tenant routes on arrival, otherwise in the nightly sweep."""
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
    return lead
