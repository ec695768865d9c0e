"""Reads for the payout console: periods, statements, lines and holds.

Each returns a queryset with its related rows joined or counted, so pages
run a constant number of queries however many rows they show.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from incentives.models import Hold, PayoutPeriod, Statement, StatementLine


@dataclass(frozen=True)
class StatementFilters:
    period_id: int | None = None
    partner_id: int | None = None
    status: str | None = None


def periods() -> QuerySet[PayoutPeriod]:
    return PayoutPeriod.objects.select_related("closed_by").annotate(
        statement_count=Count("statements")
    )


def statements(*, filters: StatementFilters | None = None) -> QuerySet[Statement]:
    queryset = Statement.objects.select_related("period", "partner", "paid_by").annotate(
        line_count=Count("lines")
    )
    if filters is not None:
        conditions = {
            "period_id": filters.period_id,
            "partner_id": filters.partner_id,
            "status": filters.status,
        }
        queryset = queryset.filter(
            **{name: value for name, value in conditions.items() if value is not None}
        )
    return queryset.order_by("-period__start", "partner__legal_name", "id")


def lines_of(statement: Statement) -> QuerySet[StatementLine]:
    return StatementLine.objects.filter(statement=statement).order_by("effective_date", "id")


def holds(*, active_only: bool = False) -> QuerySet[Hold]:
    queryset = Hold.objects.select_related("partner", "created_by", "released_by", "transaction")
    if active_only:
        queryset = queryset.filter(released_at__isnull=True)
    return queryset.order_by("-created_at", "-id")
