"""Reads for the partner portal's deal pages, scoped to one partner organisation.

Every selector starts from the partner's own registrations, so a reference of
another partner (or, through the tenant manager, another tenant) is simply not
found. Querysets come with their relations loaded: the deal list costs the
same number of queries for 3 deals as for 300, and the deal page a fixed
number whatever its timeline's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from deals.models import (
    DealComment,
    DealEvent,
    DealLine,
    DealMatch,
    DealRegistration,
    Decision,
    ExtensionRequest,
    Product,
)
from partners.models import PartnerOrganization


@dataclass(frozen=True)
class DealFilters:
    """What the partner asked the deal list for; empty values filter nothing."""

    search: str = ""
    stage: str = ""
    expiring_within_days: int | None = None
    product_id: int | None = None


def _lines() -> Prefetch:
    return Prefetch("lines", queryset=DealLine.objects.select_related("product").order_by("id"))


def deals_for_partner(
    *,
    partner: PartnerOrganization,
    filters: DealFilters | None = None,
    today: date | None = None,
) -> QuerySet[DealRegistration]:
    """The partner's registrations, newest first, with their product lines.

    ``search`` looks in the customer company and the reference; ``expiring_within_days``
    keeps protected deals whose protection ends between today and that many days on;
    ``product_id`` keeps deals with a line for that product.
    """
    filters = filters or DealFilters()
    queryset = (
        DealRegistration.objects.filter(partner=partner)
        .select_related("registered_by")
        .prefetch_related(_lines())
    )
    search = filters.search.strip()
    if search:
        queryset = queryset.filter(
            Q(customer_company__icontains=search) | Q(reference__icontains=search)
        )
    if filters.stage:
        queryset = queryset.filter(stage=filters.stage)
    if filters.expiring_within_days is not None:
        today = today or timezone.localdate()
        queryset = queryset.filter(
            stage__in=DealRegistration.PROTECTED_STAGES,
            protected_until__gte=today,
            protected_until__lte=today + timedelta(days=filters.expiring_within_days),
        )
    if filters.product_id is not None:
        queryset = queryset.filter(
            Exists(DealLine.objects.filter(deal=OuterRef("pk"), product_id=filters.product_id))
        )
    return queryset.order_by("-submitted_at", "-id")


def deal_page_for_partner(*, partner: PartnerOrganization) -> QuerySet[DealRegistration]:
    """The partner's registrations with everything the deal page shows: lines,
    timeline, comments, decisions, and only the *number* of matches (partners never
    see what a match points at)."""
    return (
        DealRegistration.objects.filter(partner=partner)
        .select_related("registered_by")
        .annotate(match_count=Count("matches"))
        .prefetch_related(
            _lines(),
            Prefetch(
                "events",
                queryset=DealEvent.objects.select_related("actor").order_by("created_at", "id"),
            ),
            Prefetch(
                "comments",
                queryset=DealComment.objects.select_related("author").order_by("created_at", "id"),
            ),
            Prefetch("decisions", queryset=Decision.objects.order_by("-decided_at", "-id")),
        )
    )


def products_for_registration() -> list[Product]:
    """Active products a partner can put on a registration, in catalogue order."""
    return list(Product.objects.filter(is_active=True).order_by("product_line", "name", "id"))


def products_on_deals_of(*, partner: PartnerOrganization) -> list[Product]:
    """Products that appear on the partner's registrations (for the list's filter),
    plus every active product."""
    on_deals = DealLine.objects.filter(deal__partner=partner, product_id=OuterRef("pk"))
    return list(
        Product.objects.filter(Q(is_active=True) | Exists(on_deals)).order_by(
            "product_line", "name", "id"
        )
    )


# --- the API: lists, the deal page, the review queue ------------------------------


def deal_list(scope: QuerySet[DealRegistration]) -> QuerySet[DealRegistration]:
    return scope.select_related("partner", "registered_by").prefetch_related(_lines())


def deal_page(scope: QuerySet[DealRegistration]) -> QuerySet[DealRegistration]:
    """Everything the deal page shows, in a fixed number of queries."""
    return (
        deal_list(scope)
        .annotate(match_count=Count("matches"))
        .prefetch_related(
            Prefetch(
                "events",
                queryset=DealEvent.objects.select_related("actor").order_by("created_at", "id"),
            ),
            Prefetch(
                "comments",
                queryset=DealComment.objects.select_related("author").order_by("created_at", "id"),
            ),
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("decided_by").order_by(
                    "-decided_at", "-id"
                ),
            ),
            Prefetch(
                "extension_requests",
                queryset=ExtensionRequest.objects.select_related(
                    "requested_by", "decided_by"
                ).order_by("-requested_at", "-id"),
            ),
        )
    )


def review_queue() -> QuerySet[DealRegistration]:
    """Registrations with every match (and what it points at) and every decision."""
    return (
        deal_list(DealRegistration.objects.all())
        .prefetch_related(
            Prefetch(
                "matches",
                queryset=DealMatch.objects.select_related(
                    "other_deal__partner", "account"
                ).order_by("-confidence", "id"),
            ),
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("decided_by").order_by(
                    "-decided_at", "-id"
                ),
            ),
        )
        .order_by("submitted_at", "id")
    )


def comments_of(deal: DealRegistration) -> QuerySet[DealComment]:
    return (
        DealComment.objects.filter(deal=deal).select_related("author").order_by("created_at", "id")
    )
