"""Reads for leads: the partner's own offers, the staff lists, the fairness report.

A partner sees a lead only through *its own* offer of it (its
``LeadAssignment``): the selector joins exactly that one assignment, so a lead
never offered to the partner — or offered to it in another tenant — is simply
not found, and nothing about the other partners routing considered ever
leaves the database for a partner's page. What the partner may see of a lead
depends on where its offer stands (``PartnerLeadState``): contact details only
while the offer is open or the lead is the partner's, its own reason only
once it declined, the deal only once it converted the lead itself.

The fairness report aggregates the offers made in a period by partner, tier
and region in a fixed number of set-based queries, whatever the data size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict
from zoneinfo import ZoneInfo

from django.db import models
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    FilteredRelation,
    Q,
    QuerySet,
    Value,
    When,
)
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _

from deals.models import Lead, LeadAssignment
from partners.models import PartnerOrganization
from prm.tenancy.context import require_tenant

Status = Lead.Status
Outcome = LeadAssignment.Outcome


class PartnerLeadFacts(TypedDict):
    """What ``leads_for_partner`` adds to each lead: the partner's own offer."""

    partner_state: str
    offered_to_partner_at: datetime
    answer_due_at: datetime | None
    answered_at: datetime | None
    declined_reason: str
    deal_reference: str


if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    PartnerLead = WithAnnotations[Lead, PartnerLeadFacts]
else:
    PartnerLead = Lead


class PartnerLeadState(models.TextChoices):
    """Where a lead stands *for the partner it was offered to*."""

    WAITING = "waiting", _("Waiting for your answer")
    ACCEPTED = "accepted", _("Accepted")
    CONVERTED = "converted", _("Converted to a deal")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Not answered in time")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# ``values()`` on the state annotation (a tuple, which the type checker does not
# resolve against the model's fields).
STATE_FIELD = ("partner_state",)

# States in which the lead is (still) the partner's: its contact details show.
PARTNER_HOLDS = (PartnerLeadState.WAITING, PartnerLeadState.ACCEPTED, PartnerLeadState.CONVERTED)


@dataclass(frozen=True)
class LeadFilters:
    """What a list asked for; empty values filter nothing.

    ``state`` is a ``PartnerLeadState`` (partner lists); ``status``, ``partner_id``,
    ``country`` and ``industry`` apply to the staff list.
    """

    search: str = ""
    state: str = ""
    status: str = ""
    partner_id: int | None = None
    country: str = ""
    industry: str = ""


# --- the partner's leads --------------------------------------------------------------


def _partner_state(partner: PartnerOrganization) -> Case:
    holds = Q(partner=partner)
    return Case(
        When(
            holds & Q(offer__outcome=Outcome.PENDING, status=Status.OFFERED),
            then=Value(PartnerLeadState.WAITING.value),
        ),
        When(
            holds & Q(offer__outcome=Outcome.ACCEPTED, status=Status.CONVERTED),
            then=Value(PartnerLeadState.CONVERTED.value),
        ),
        When(
            holds & Q(offer__outcome=Outcome.ACCEPTED, status=Status.ACCEPTED),
            then=Value(PartnerLeadState.ACCEPTED.value),
        ),
        When(offer__outcome=Outcome.REJECTED, then=Value(PartnerLeadState.DECLINED.value)),
        When(offer__outcome=Outcome.EXPIRED, then=Value(PartnerLeadState.EXPIRED.value)),
        default=Value(PartnerLeadState.WITHDRAWN.value),
        output_field=CharField(),
    )


def leads_for_partner(
    *, partner: PartnerOrganization, filters: LeadFilters | None = None
) -> QuerySet[PartnerLead]:
    """Every lead ever offered to the partner, each with its own offer's facts.

    Annotations: ``partner_state`` (a ``PartnerLeadState``), ``offered_to_partner_at``,
    ``answer_due_at``, ``answered_at``, ``declined_reason`` (the partner's own
    reason, only once it declined) and ``deal_reference`` (only once the partner
    converted the lead). Waiting offers come first, the nearest due first, then the
    rest, newest offer first. ``search`` looks in the company and the reference.
    """
    filters = filters or LeadFilters()
    state = _partner_state(partner)
    queryset = (
        Lead.objects.annotate(
            offer=FilteredRelation("assignments", condition=Q(assignments__partner=partner))
        )
        .filter(offer__id__isnull=False)
        .annotate(
            partner_state=state,
            offered_to_partner_at=F("offer__offered_at"),
            answer_due_at=F("offer__due_at"),
            answered_at=F("offer__responded_at"),
            declined_reason=Case(
                When(offer__outcome=Outcome.REJECTED, then=F("offer__reason")),
                default=Value(""),
                output_field=models.TextField(),
            ),
            deal_reference=Case(
                When(
                    Q(partner=partner, status=Status.CONVERTED, deal__isnull=False),
                    then=F("deal__reference"),
                ),
                default=Value(""),
                output_field=CharField(),
            ),
            waiting_first=Case(
                When(Q(partner_state=PartnerLeadState.WAITING.value), then=Value(0)),
                default=Value(1),
                output_field=models.IntegerField(),
            ),
            waiting_due=Case(
                When(Q(partner_state=PartnerLeadState.WAITING.value), then=F("offer__due_at")),
                default=None,
                output_field=models.DateTimeField(),
            ),
        )
    )
    search = filters.search.strip()
    if search:
        queryset = queryset.filter(Q(company__icontains=search) | Q(reference__icontains=search))
    if filters.state:
        queryset = queryset.filter(Q(partner_state=filters.state))
    return queryset.order_by(
        "waiting_first",
        F("waiting_due").asc(nulls_last=True),
        F("offered_to_partner_at").desc(),
        "-id",
    )


def lead_for_partner(*, partner: PartnerOrganization, reference: str) -> PartnerLead:
    """One lead offered to the partner, by reference; anything else is a 404."""
    return get_object_or_404(leads_for_partner(partner=partner), reference=reference)


def lead_state_counts(*, partner: PartnerOrganization) -> dict[str, int]:
    """How many of the partner's leads are in each state (one query, for the tabs)."""
    rows = (
        leads_for_partner(partner=partner)
        .order_by()
        .values(*STATE_FIELD)
        .annotate(count=Count("id"))
    )
    counts = dict.fromkeys(PartnerLeadState.values, 0)
    for row in rows:
        counts[row["partner_state"]] = row["count"]
    return counts


def leads_waiting_for(*, partner: PartnerOrganization) -> QuerySet[Lead]:
    """The offers the partner still has to answer, the nearest due first."""
    return leads_for_partner(partner=partner, filters=LeadFilters(state=PartnerLeadState.WAITING))


# --- staff ------------------------------------------------------------------------------


def leads_for_staff(*, filters: LeadFilters | None = None) -> QuerySet[Lead]:
    """All the tenant's leads, newest first, with the partner holding each.

    ``search`` looks in the reference, company, contact e-mail and external id.
    """
    filters = filters or LeadFilters()
    queryset = Lead.objects.select_related("partner", "deal")
    search = filters.search.strip()
    if search:
        queryset = queryset.filter(
            Q(reference__icontains=search)
            | Q(company__icontains=search)
            | Q(contact_email__icontains=search)
            | Q(external_id=search)
        )
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.partner_id is not None:
        queryset = queryset.filter(partner_id=filters.partner_id)
    if filters.country:
        queryset = queryset.filter(country=filters.country.upper())
    if filters.industry:
        queryset = queryset.filter(industry__iexact=filters.industry)
    return queryset.order_by("-created_at", "-id")


def assignments_of(*, lead: Lead) -> list[LeadAssignment]:
    """Every routing decision on a lead, oldest first, with who and which rule."""
    return list(
        lead.assignments.select_related("partner", "rule", "responded_by").order_by(
            "offered_at", "id"
        )
    )


# --- the fairness report ------------------------------------------------------------------


def _ratio(part: int, whole: int) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


@dataclass(frozen=True)
class FairnessRow:
    """Offers made to one partner, tier or region (or all of them) in the period.

    ``share`` is the part of all offers; ``acceptance_rate`` is accepted over the
    offers answered or lapsed (accepted, rejected, expired); ``conversion_rate`` is
    converted over accepted. Rates are ``None`` when there is nothing to divide.
    """

    label: str
    offered: int
    accepted: int
    rejected: int
    expired: int
    converted: int
    pending: int
    share: Decimal | None
    detail: str = ""
    key: Any = None

    @property
    def decided(self) -> int:
        return self.accepted + self.rejected + self.expired

    @property
    def acceptance_rate(self) -> Decimal | None:
        return _ratio(self.accepted, self.decided)

    @property
    def conversion_rate(self) -> Decimal | None:
        return _ratio(self.converted, self.accepted)

    @property
    def share_percent(self) -> Decimal:
        """The share as a percentage for a bar's width (0–100, two decimals)."""
        return ((self.share or Decimal(0)) * 100).quantize(Decimal("0.01"))


def _offer_counts() -> dict[str, Count]:
    converted = Q(
        outcome=Outcome.ACCEPTED,
        lead__status=Status.CONVERTED,
        lead__partner_id=F("partner_id"),
    )
    return {
        "offered": Count("id"),
        "accepted": Count("id", filter=Q(outcome=Outcome.ACCEPTED)),
        "rejected": Count("id", filter=Q(outcome=Outcome.REJECTED)),
        "expired": Count("id", filter=Q(outcome=Outcome.EXPIRED)),
        "pending": Count("id", filter=Q(outcome=Outcome.PENDING)),
        "converted": Count("id", filter=converted),
    }


@dataclass
class FairnessReport:
    """How the offers made between ``start`` and ``end`` (dates, inclusive, in the
    tenant's time zone) spread across partners, tiers and regions.

    ``by_partner`` is a queryset of aggregated rows (a dict each) for the caller to
    paginate; ``partner_rows(page)`` turns a page of it into ``FairnessRow``\\ s.
    """

    start: date
    end: date
    leads_received: int
    kept_direct: int
    unrouted: int
    total: FairnessRow
    by_tier: list[FairnessRow]
    by_region: list[FairnessRow]
    by_partner: QuerySet = field(repr=False)

    def row(
        self, values: Mapping[str, Any], *, label: str, detail: str = "", key=None
    ) -> FairnessRow:
        return FairnessRow(
            label=label,
            detail=detail,
            key=key,
            offered=values["offered"],
            accepted=values["accepted"],
            rejected=values["rejected"],
            expired=values["expired"],
            converted=values["converted"],
            pending=values["pending"],
            share=_ratio(values["offered"], self.total.offered),
        )

    def partner_rows(self, values: Any) -> list[FairnessRow]:
        return [
            self.row(
                item,
                label=item["partner__display_name"] or item["partner__legal_name"],
                detail=item["partner__tier__name"] or "",
                key=item["partner_id"],
            )
            for item in values
        ]


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """``start`` 00:00 to the day after ``end`` 00:00 in the tenant's time zone."""
    zone = ZoneInfo(require_tenant().time_zone)
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


def fairness_report(*, start: date, end: date) -> FairnessReport:
    """The fairness report for the period (six queries once the partner table is paged)."""
    since, until = period_bounds(start, end)
    in_period = LeadAssignment.objects.filter(offered_at__gte=since, offered_at__lt=until)
    offers = in_period.filter(partner__isnull=False)
    counts = _offer_counts()

    totals = in_period.aggregate(
        kept_direct=Count("id", filter=Q(outcome=Outcome.DIRECT)),
        unrouted=Count("id", filter=Q(outcome=Outcome.UNROUTED)),
        **{
            name: Count("id", filter=Q(partner__isnull=False) & (count.filter or Q()))
            for name, count in counts.items()
        },
    )
    total = FairnessRow(
        label=str(_("All partners")),
        offered=totals["offered"],
        accepted=totals["accepted"],
        rejected=totals["rejected"],
        expired=totals["expired"],
        converted=totals["converted"],
        pending=totals["pending"],
        share=Decimal(1) if totals["offered"] else None,
    )
    report = FairnessReport(
        start=start,
        end=end,
        leads_received=Lead.objects.filter(created_at__gte=since, created_at__lt=until).count(),
        kept_direct=totals["kept_direct"],
        unrouted=totals["unrouted"],
        total=total,
        by_tier=[],
        by_region=[],
        by_partner=offers.values(
            "partner_id",
            "partner__legal_name",
            "partner__display_name",
            "partner__tier__name",
        )
        .annotate(**counts)
        .order_by(F("offered").desc(), "partner__legal_name", "partner_id"),
    )
    tiers = (
        offers.values("partner__tier_id", "partner__tier__name", "partner__tier__rank")
        .annotate(**counts)
        .order_by(F("partner__tier__rank").desc(nulls_last=True), "partner__tier_id")
    )
    report.by_tier = [
        report.row(
            item,
            label=item["partner__tier__name"] or str(_("No tier")),
            key=item["partner__tier_id"],
        )
        for item in tiers
    ]
    regions = (
        offers.values("partner__country", "partner__region")
        .annotate(**counts)
        .order_by(F("offered").desc(), "partner__country", "partner__region")
    )
    report.by_region = [
        report.row(
            item,
            label=item["partner__country"],
            detail=item["partner__region"] or "",
            key=(item["partner__country"], item["partner__region"]),
        )
        for item in regions
    ]
    return report
