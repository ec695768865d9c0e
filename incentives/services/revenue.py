"""Writes for revenue events: the customer payments, refunds and usage charges
a vendor imports (CSV or API) for recurring revenue shares and usage bonuses.

Finance records them (``Capability.MANAGE_MONEY``: revenue is money the vendor
received). Guarantees: an event is validated before it is stored (positive
amount with at most two decimals, a supported currency, the partner's own
deal, a usage quantity only on usage charges); ``external_id`` is unique per
tenant, so an import is safe to repeat — the same id with the same facts
returns the recorded event, with different facts it is refused; every
recorded event writes an audit row in the same transaction.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from deals.models import DealRegistration
from incentives.models import RevenueEvent
from partners.models import PartnerOrganization
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied


def check_revenue_event(
    *,
    partner: PartnerOrganization,
    kind: str,
    amount: Decimal,
    currency: str,
    occurred_on: date,
    external_id: str,
    customer_name: str,
    deal: DealRegistration | None = None,
    usage_quantity: Decimal | None = None,
) -> tuple[str, dict[str, Any]]:
    """The event's external id and facts, validated and normalised, or a
    ``DomainError`` naming the field. Runs no query: ``record_revenue_event``
    and the CSV import (``incentives.revenue_import``) share it."""
    if kind not in RevenueEvent.Kind.values:
        raise DomainError(_("Choose invoice paid, refund or usage charge."), field="kind")
    try:
        amount = Decimal(str(amount))
    except InvalidOperation:
        raise DomainError(_("Enter the amount as a number."), field="amount") from None
    if not amount.is_finite() or amount <= 0:
        raise DomainError(_("The amount is positive (a refund is its own kind)."), field="amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise DomainError(_("The amount has at most two decimals."), field="amount")
    if currency not in settings.CURRENCIES:
        raise DomainError(_("Choose a supported currency."), field="currency")
    external_id = (external_id or "").strip()
    if not external_id:
        raise DomainError(_("Give the event's id in your billing system."), field="external_id")
    customer_name = (customer_name or "").strip()
    if not customer_name:
        raise DomainError(_("Name the customer."), field="customer_name")
    if deal is not None and deal.partner_id != partner.pk:
        raise DomainError(_("That deal belongs to another partner."), field="deal")
    if usage_quantity is not None:
        if kind != RevenueEvent.Kind.USAGE_CHARGE:
            raise DomainError(
                _("Only a usage charge has a usage quantity."), field="usage_quantity"
            )
        if usage_quantity < 0:
            raise DomainError(_("The usage quantity cannot be negative."), field="usage_quantity")
    facts = {
        "kind": kind,
        "amount": amount,
        "currency": currency,
        "occurred_on": occurred_on,
        "customer_name": customer_name,
        "deal_id": deal.pk if deal else None,
        "usage_quantity": usage_quantity,
        "partner_id": partner.pk,
    }
    return external_id, facts


def same_as_recorded(event: RevenueEvent, facts: dict[str, Any]) -> bool:
    """Whether a recorded event has these facts (a repeat, not a conflict)."""
    return all(getattr(event, name) == value for name, value in facts.items())


def record_revenue_event(
    *,
    membership,
    actor,
    partner: PartnerOrganization,
    kind: str,
    amount: Decimal,
    currency: str,
    occurred_on: date,
    external_id: str,
    customer_name: str,
    deal: DealRegistration | None = None,
    usage_quantity: Decimal | None = None,
) -> RevenueEvent:
    """Record one customer payment, refund or usage charge (finance, or an import).

    Safe to repeat: the same ``external_id`` with the same facts returns the
    recorded event; with different facts it is refused (a correction is a new
    event, e.g. a refund, never an edit)."""
    if not can(membership, Capability.MANAGE_MONEY):
        raise PermissionDenied()
    external_id, facts = check_revenue_event(
        partner=partner,
        kind=kind,
        amount=amount,
        currency=currency,
        occurred_on=occurred_on,
        external_id=external_id,
        customer_name=customer_name,
        deal=deal,
        usage_quantity=usage_quantity,
    )
    with transaction.atomic():
        existing = RevenueEvent.objects.filter(external_id=external_id).first()
        if existing is None:
            try:
                with transaction.atomic():
                    event = RevenueEvent.objects.create(
                        external_id=external_id,
                        created_by=actor if getattr(actor, "pk", None) else None,
                        **facts,
                    )
            except IntegrityError:
                existing = RevenueEvent.objects.get(external_id=external_id)
            else:
                record(
                    actor=actor,
                    action="incentives.revenue_event_recorded",
                    target=event,
                    summary=str(event),
                    data={"partner": partner.pk, "kind": kind},
                )
                return event
        if not same_as_recorded(existing, facts):
            raise Conflict(
                _("Event %(id)s was already recorded with different details.")
                % {"id": external_id},
                code="revenue_event_differs",
            )
        return existing
