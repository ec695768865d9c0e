"""Performance scores (acceptance, conversion, response time; neutral prior) and bands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Avg, Count, DurationField, F, Q
from django.utils import timezone

from deals.models import Lead, LeadAssignment, LeadRouting
from deals.routing.reasons import (
    _ANSWERED,
    _DECIDED,
    _FOUR_PLACES,
    _MICROSECOND,
    HISTORY_DAYS,
    PRIOR_RATE,
    PRIOR_TRIALS,
    Outcome,
    Status,
)
from partners.models import PartnerOrganization
from prm.tenancy.context import require_tenant

# --- Scores ------------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerScore:
    """A partner's routing performance over the last ``HISTORY_DAYS`` days.

    ``decided`` counts offers accepted, rejected or expired; ``answered`` those
    the partner answered (the response-time sample). Rates include the
    neutral prior; ``response_hours`` is the raw mean (``None`` without answers).
    """

    decided: int
    accepted: int
    converted: int
    answered: int
    acceptance: Decimal
    conversion: Decimal
    response_hours: Decimal | None
    response: Decimal
    score: Decimal

    @property
    def has_history(self) -> bool:
        return self.decided > 0


def _q4(value: Decimal) -> Decimal:
    return value.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)


def _rate(successes: Decimal | int, trials: int) -> Decimal:
    return (Decimal(successes) + PRIOR_RATE * PRIOR_TRIALS) / (trials + PRIOR_TRIALS)


def _partner_score(row: dict[str, Any], routing: LeadRouting) -> PartnerScore:
    decided, accepted = row.get("decided", 0), row.get("accepted", 0)
    converted, answered = row.get("converted", 0), row.get("answered", 0)
    mean: timedelta | None = row.get("response_time")
    hours: Decimal | None = None
    response = _rate(0, 0)
    if answered and mean is not None:
        hours = Decimal(mean // _MICROSECOND) / Decimal(3_600_000_000)
        speed = max(Decimal(0), 1 - min(hours, Decimal(routing.sla_hours)) / routing.sla_hours)
        response = _rate(speed * answered, answered)
    acceptance = _rate(accepted, decided)
    conversion = _rate(converted, accepted)
    weights = (routing.weight_acceptance, routing.weight_conversion, routing.weight_response)
    total = sum(weights, Decimal(0))
    weighted = (
        (weights[0] * acceptance + weights[1] * conversion + weights[2] * response) / total
        if total
        else Decimal(0)
    )
    return PartnerScore(
        decided=decided,
        accepted=accepted,
        converted=converted,
        answered=answered,
        acceptance=_q4(acceptance),
        conversion=_q4(conversion),
        response_hours=None if hours is None else hours.quantize(Decimal("0.01")),
        response=_q4(response),
        score=_q4(weighted),
    )


def _scores(
    *, routing: LeadRouting, partner_ids: Iterable[int], now: datetime, by_id: bool = True
) -> dict[int, PartnerScore]:
    """Scores for the given partners from one aggregate query over the offers of
    the window (only theirs with ``by_id``; routing reads all, it needs most)."""
    ids = list(partner_ids)
    answered = Q(outcome__in=_ANSWERED, responded_at__isnull=False)
    # A hashed set of converted leads, not a join: the plan stays cheap even
    # before the planner has statistics on freshly imported leads and offers.
    converted = Q(lead_id__in=Lead.objects.filter(status=Status.CONVERTED).values("pk"))
    offers = LeadAssignment.objects.filter(
        partner__isnull=False, offered_at__gte=now - timedelta(days=HISTORY_DAYS)
    )
    if by_id:
        offers = offers.filter(partner_id__in=ids)
    rows = (
        offers.values("partner_id")
        .annotate(
            decided=Count("pk", filter=Q(outcome__in=_DECIDED)),
            accepted=Count("pk", filter=Q(outcome=Outcome.ACCEPTED)),
            converted=Count("pk", filter=Q(converted, outcome=Outcome.ACCEPTED)),
            answered=Count("pk", filter=answered),
            response_time=Avg(
                F("responded_at") - F("offered_at"), filter=answered, output_field=DurationField()
            ),
        )
        .order_by()
    )
    found: dict[int, dict[str, Any]] = {row["partner_id"]: dict(row) for row in rows}
    return {pid: _partner_score(found.get(pid, {}), routing) for pid in ids}


def _routing_settings() -> LeadRouting:
    found, _created = LeadRouting.objects.get_or_create(tenant=require_tenant())
    return found


def partner_scores(
    *, partner_ids: Iterable[int] | None = None, now: datetime | None = None
) -> dict[int, PartnerScore]:
    """Every partner's (or the given partners') score; partners without
    history get the neutral prior (0.5 in every component)."""
    ids = (
        list(PartnerOrganization.objects.values_list("pk", flat=True))
        if partner_ids is None
        else list(partner_ids)
    )
    return _scores(
        routing=_routing_settings(),
        partner_ids=ids,
        now=now or timezone.now(),
        by_id=partner_ids is not None,
    )


def score_band(score: Decimal, width: Decimal) -> int:
    """The band of equals a score falls in (every distinct score without a width)."""
    if width <= 0:
        return int(score / _FOUR_PLACES)
    return int((score / width).to_integral_value(rounding=ROUND_FLOOR))
