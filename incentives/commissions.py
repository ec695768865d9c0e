"""The nightly commission job: closed-won deals and revenue events become ledger
earnings; reversed deals give back what they earned.

Guarantees:

* **One implementation.** Amounts come from ``incentives.engine`` through the
  same selectors the portal's estimates use, under every plan version in force
  on the deal's close date or the event's date.
* **Exactly once.** Each source is handled in one transaction with its ledger
  postings and a ``Computation`` marker. Sources are picked in chunks of
  ``CHUNK_SIZE`` with ``FOR UPDATE SKIP LOCKED`` among those without a marker,
  so a second run finds nothing to do and a run killed halfway resumes where
  the last committed chunk ended. The ledger's idempotency key
  (``source:id:rule:kind``) backs this up: a posting is never made twice.
* **Sets, not rows.** A chunk costs a fixed number of queries: the ids, the
  facts, one bulk posting and one bulk marker insert; the plans are read and
  compiled once per run (``selectors.PlansInForce``).
* **Clawbacks mirror earnings.** A closed-won deal reversed within the tenant's
  clawback window (``IncentiveSettings.clawback_days``, counted from the close
  date) gets one mirror transaction per earning it posted, pointing at the
  original; reversals after the window keep their earnings and are marked so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet

from deals.models import DealRegistration
from incentives.engine import (
    CompiledPlan,
    EarningLine,
    earnings_for_deal,
    earnings_for_revenue_event,
    under_plans,
)
from incentives.engine.rules import (
    KIND_REFERRAL_FEE,
    KIND_REVENUE_SHARE,
    KIND_STEPPED_REBATE,
    KIND_TIER_COMMISSION,
)
from incentives.models import Computation, IncentiveSettings, RevenueEvent
from incentives.selectors import PlansInForce, deal_facts_for, revenue_event_facts_for
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction, SourceType
from prm.ledger.postings import Line, Posting, idempotency_key
from prm.ledger.services import post_many
from prm.tenancy.context import require_tenant

CHUNK_SIZE = 2000
Phase = Computation.Phase

# Engine rule kinds → ledger transaction kinds (every other kind is a bonus).
LEDGER_KIND = {
    KIND_TIER_COMMISSION: Kind.COMMISSION,
    KIND_REFERRAL_FEE: Kind.REFERRAL_FEE,
    KIND_REVENUE_SHARE: Kind.REVENUE_SHARE,
    KIND_STEPPED_REBATE: Kind.REBATE,
}


class Progress(Protocol):
    def add(self, name: str, amount: int = 1) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


def incentive_settings() -> IncentiveSettings:
    """The active tenant's incentive settings, created with defaults on first use."""
    found, _created = IncentiveSettings.objects.get_or_create(tenant=require_tenant())
    return found


def _unmarked(queryset: QuerySet, source_type: str, phase: str) -> QuerySet:
    marked = Computation.objects.filter(
        source_type=source_type, source_id=OuterRef("pk"), phase=phase
    )
    return queryset.filter(~Exists(marked))


def earning_posting(line: EarningLine, *, source_type: str, effective_date: date) -> Posting:
    kind = LEDGER_KIND.get(line.kind, Kind.BONUS)
    amount = line.amount
    return Posting(
        key=idempotency_key(
            source_type=source_type,
            source_id=line.source_id,
            rule_id=line.rule_id,
            kind=line.kind,
        ),
        kind=kind,
        source_type=source_type,
        source_id=line.source_id,
        currency=line.currency,
        effective_date=effective_date,
        # Earned: the vendor's expense, owed to the partner. A refund's negative
        # line runs the other way.
        lines=[
            Line(account=Account.COMMISSION_EXPENSE, amount=amount),
            Line(account=Account.PARTNER_PAYABLE, amount=-amount),
        ],
        partner_id=line.partner_id,
        explanation={**line.explanation, "rule_kind": line.kind},
        rule_id=line.rule_id,
        plan_version_id=line.plan_version_id,
    )


_MARK = f"""
INSERT INTO {Computation._meta.db_table}
    (tenant_id, source_type, source_id, phase, postings, computed_at)
SELECT %s, %s, u.source_id, %s, u.postings, now()
FROM unnest(%s::bigint[], %s::integer[]) AS u(source_id, postings)
ON CONFLICT DO NOTHING
"""  # noqa: S608 (table name only)


def _mark(*, source_type: str, phase: str, ids: list[int], postings: dict[int, int]) -> None:
    """The chunk's ``Computation`` markers, in one statement (a marker that
    already exists is left as it is)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _MARK,
            [
                require_tenant().pk,
                source_type,
                phase,
                ids,
                [postings.get(pk, 0) for pk in ids],
            ],
        )


@dataclass(frozen=True)
class _Source:
    """How one kind of source becomes earning lines."""

    model: type
    facts_of: Callable[[QuerySet], Sequence[Any]]
    compute: Callable[[CompiledPlan, Any], list[EarningLine]]
    day_of: Callable[[Any], date]


SOURCES: dict[str, _Source] = {
    SourceType.DEAL: _Source(
        model=DealRegistration,
        facts_of=deal_facts_for,
        compute=earnings_for_deal,
        day_of=lambda facts: facts.closed_on,
    ),
    SourceType.REVENUE_EVENT: _Source(
        model=RevenueEvent,
        facts_of=revenue_event_facts_for,
        compute=earnings_for_revenue_event,
        day_of=lambda facts: facts.occurred_on,
    ),
}


def earning_postings(
    sources: QuerySet, *, source_type: str, plans: PlansInForce | None = None
) -> list[Posting]:
    """The ledger postings these deals or revenue events earn under every plan
    version in force on their day: exactly what the job posts for them (same
    keys, amounts and explanations), so a replay can compare against the
    ledger. Reads only."""
    source = SOURCES[source_type]
    plans = plans or PlansInForce()
    return [
        earning_posting(line, source_type=source_type, effective_date=source.day_of(facts))
        for facts in source.facts_of(sources)
        for line in under_plans(plans.on(source.day_of(facts)), source.compute, facts)
        if line.amount != 0
    ]


def _earn_chunk(
    *, queryset: QuerySet, source_type: str, plans: PlansInForce, size: int
) -> tuple[int, int]:
    """Compute and post one chunk in one transaction; returns (sources, postings)."""
    with transaction.atomic():
        ids = list(
            _unmarked(queryset, source_type, Phase.EARN)
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return 0, 0
        postings = earning_postings(
            queryset.model.objects.filter(pk__in=ids), source_type=source_type, plans=plans
        )
        created = post_many(postings=postings)
        per_source: dict[int, int] = {}
        for posting in postings:
            assert posting.source_id is not None
            per_source[posting.source_id] = per_source.get(posting.source_id, 0) + 1
        _mark(source_type=source_type, phase=Phase.EARN, ids=ids, postings=per_source)
    return len(ids), created


def _clawback_chunk(*, window_days: int, size: int) -> tuple[int, int]:
    """Mirror the earnings of reversed deals inside the window; one chunk."""
    with transaction.atomic():
        reversed_deals = list(
            _unmarked(
                DealRegistration.objects.filter(
                    stage=DealRegistration.Stage.CLOSED_WON, reversed_at__isnull=False
                ).filter(
                    Exists(
                        Computation.objects.filter(
                            source_type=SourceType.DEAL, source_id=OuterRef("pk"), phase=Phase.EARN
                        )
                    )
                ),
                SourceType.DEAL,
                Phase.CLAWBACK,
            )
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))
            .only("pk", "closed_on", "reversed_at", "reversal_reason")[:size]
        )
        if not reversed_deals:
            return 0, 0
        inside = {
            deal.pk: deal
            for deal in reversed_deals
            if deal.closed_on is not None
            and deal.reversed_at is not None
            and deal.reversed_at.date() <= deal.closed_on + timedelta(days=window_days)
        }
        earned = list(
            LedgerTransaction.objects.filter(
                source_type=SourceType.DEAL,
                source_id__in=list(inside),
                reverses__isnull=True,
            )
            .exclude(kind=Kind.CLAWBACK)
            .order_by("pk")
        )
        entries: dict[int, list[LedgerEntry]] = {}
        for entry in LedgerEntry.objects.filter(transaction__in=earned).order_by("pk"):
            entries.setdefault(entry.transaction_id, []).append(entry)
        postings = []
        for original in earned:
            deal = inside[original.source_id]
            assert deal.reversed_at is not None
            postings.append(
                Posting(
                    key=f"clawback:{original.idempotency_key}",
                    kind=Kind.CLAWBACK,
                    source_type=SourceType.DEAL,
                    source_id=original.source_id,
                    currency=original.currency,
                    effective_date=deal.reversed_at.date(),
                    lines=[
                        Line(account=entry.account, amount=-entry.amount)
                        for entry in entries.get(original.pk, [])
                    ],
                    partner_id=original.partner_id,
                    explanation={
                        **original.explanation,
                        "clawback_of": original.pk,
                        "reason": deal.reversal_reason,
                        "amount": str(-_paid(entries.get(original.pk, []))),
                    },
                    rule_id=original.rule_id,
                    plan_version_id=original.plan_version_id,
                    reverses_id=original.pk,
                    memo=deal.reversal_reason,
                )
            )
        created = post_many(postings=postings)
        per_deal: dict[int, int] = {}
        for posting in postings:
            assert posting.source_id is not None
            per_deal[posting.source_id] = per_deal.get(posting.source_id, 0) + 1
        _mark(
            source_type=SourceType.DEAL,
            phase=Phase.CLAWBACK,
            ids=[deal.pk for deal in reversed_deals],
            postings=per_deal,
        )
    return len(reversed_deals), created


def _paid(entries: list[LedgerEntry]) -> Decimal:
    """What an earning owes the partner (the credit on partner payable)."""
    return -sum(
        (entry.amount for entry in entries if entry.account == Account.PARTNER_PAYABLE),
        Decimal("0"),
    )


def run_commission_job(*, progress: Progress | None = None, size: int = CHUNK_SIZE) -> dict:
    """Compute everything new since the last run; returns the counts."""
    counts = {
        "deals": 0,
        "revenue_events": 0,
        "reversed_deals": 0,
        "earnings_posted": 0,
        "clawbacks_posted": 0,
    }
    plans = PlansInForce()
    window = incentive_settings().clawback_days
    phases: list[tuple[str, str, Callable[[], tuple[int, int]]]] = [
        (
            "deals",
            "earnings_posted",
            lambda: _earn_chunk(
                queryset=DealRegistration.objects.filter(stage=DealRegistration.Stage.CLOSED_WON),
                source_type=SourceType.DEAL,
                plans=plans,
                size=size,
            ),
        ),
        (
            "revenue_events",
            "earnings_posted",
            lambda: _earn_chunk(
                queryset=RevenueEvent.objects.all(),
                source_type=SourceType.REVENUE_EVENT,
                plans=plans,
                size=size,
            ),
        ),
        (
            "reversed_deals",
            "clawbacks_posted",
            lambda: _clawback_chunk(window_days=window, size=size),
        ),
    ]
    for sources_name, postings_name, chunk in phases:
        while True:
            sources, created = chunk()
            if not sources:
                break
            counts[sources_name] += sources
            counts[postings_name] += created
            if progress is not None:
                progress.add(sources_name, sources)
                progress.add(postings_name, created)
                progress.advance(sources)
    return counts
