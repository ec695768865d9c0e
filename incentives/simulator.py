"""The plan simulator: what a plan version would have paid over the last months
of real deals and revenue events, against what the published plans paid.

Guarantees:

* **Read-only.** Nothing is written: no ledger posting, no computation
  marker, no audit row; only SELECT statements reach the database (a test
  captures them).
* **One implementation.** Both sides are computed by ``incentives.engine``
  from the facts ``incentives.selectors`` builds for the nightly job
  (``deal_facts_for``, ``revenue_event_facts_for``), so the "current" side is
  what the job computes. The *current* side runs every plan version in force
  on each deal's close date or event's date (the rule of
  ``selectors.versions_in_force``); the *simulated* side runs the same plans
  with the simulated version in place of its own plan's version on every
  date of the window (added when its plan had none in force), whatever that
  version's status or effective date. The *posted* figure is what the ledger
  actually credited the partners for the same deals and events (earnings and
  any clawbacks), so finance sees drift between the ledger and the engine.
* **The window.** The last ``months`` months (1 to 24) up to ``today``, both
  ends included: closed-won deals closed in it and not reversed (a reversal
  gives back what a deal earned), and revenue events that occurred in it.
  Period rebates, renewal-rate and usage-growth bonuses are not simulated
  (they are computed per payout period, not per deal or event).
* **Sets, not rows.** Facts are loaded in chunks of ``CHUNK_SIZE`` with a
  fixed number of queries per chunk (ids, facts, ledger totals); every
  non-draft version is loaded and compiled once, and the versions in force on
  a date are chosen in memory, so the query count does not grow with the
  number of deals, events or distinct dates.
* **Money.** Exact ``Decimal`` sums of the engine's rounded lines, per
  partner and currency (an earning is in its fact's currency, or a fixed
  amount's own); currencies are never added together.
* **Permissions.** Tenant admins (``MANAGE_PROGRAM``) and finance
  (``VIEW_MONEY``) only.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from deals.models import DealRegistration
from incentives.engine import (
    CompiledPlan,
    EarningLine,
    earnings_for_deal,
    earnings_for_revenue_event,
    under_plans,
)
from incentives.models import CommissionRule, PlanVersion, RevenueEvent
from incentives.selectors import PlansInForce, deal_facts_for, revenue_event_facts_for
from partners.models import PartnerOrganization
from prm.accounts.roles import Capability, can
from prm.errors import DomainError
from prm.ledger.models import Account, LedgerEntry, SourceType

CHUNK_SIZE = 500
MIN_MONTHS = 1
MAX_MONTHS = 24
ZERO = Decimal("0")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Figures:
    """Current (published plans), simulated and posted (ledger) amounts in one currency."""

    currency: str
    current: Decimal = ZERO
    simulated: Decimal = ZERO
    posted: Decimal = ZERO
    deals: int = 0
    revenue_events: int = 0

    @property
    def difference(self) -> Decimal:
        return self.simulated - self.current

    @property
    def difference_percent(self) -> Decimal | None:
        """The difference as a percentage of the current amount (none when nothing is paid now)."""
        if self.current == 0:
            return None
        return (self.difference * HUNDRED / abs(self.current)).quantize(CENT)

    @property
    def drift(self) -> Decimal:
        """What the ledger posted minus what the published plans compute."""
        return self.posted - self.current


@dataclass(frozen=True)
class PartnerFigures(Figures):
    partner_id: int = 0
    partner_name: str = ""


@dataclass(frozen=True)
class Simulation:
    version: PlanVersion
    months: int
    start: date
    end: date
    deals: int
    revenue_events: int
    totals: list[Figures]
    partners: list[PartnerFigures]


def window(*, months: int, today: date) -> tuple[date, date]:
    """The last ``months`` months up to ``today``, both ends included: from the
    same day ``months`` months before tomorrow (clamped to the month's length).
    Six months to 30 June start on 1 January; one month to 15 March, on 16 February."""
    tomorrow = today + timedelta(days=1)
    month_index = tomorrow.year * 12 + (tomorrow.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(tomorrow.day, calendar.monthrange(year, month)[1])
    return date(year, month, day), today


class _Versions:
    """The plans in force per date (``selectors.PlansInForce``), and the same
    with the simulated version standing in for its own plan's version."""

    def __init__(self, simulated: PlanVersion) -> None:
        self.in_force = PlansInForce()
        compiled = self.in_force.compiled.get(simulated.pk)
        if compiled is None:
            # A draft: never in force, compiled on its own.
            rules = Prefetch("rules", queryset=CommissionRule.objects.order_by("id"))
            draft = PlanVersion.objects.prefetch_related(rules).get(pk=simulated.pk)
            compiled = CompiledPlan.from_version(draft)
        self.simulated = simulated
        self.simulated_plan = compiled
        self._proposed: dict[date, list[CompiledPlan]] = {}

    def current(self, on: date) -> list[CompiledPlan]:
        return self.in_force.on(on)

    def proposed(self, on: date) -> list[CompiledPlan]:
        if on not in self._proposed:
            others = [
                self.in_force.compiled[v.pk]
                for v in self.in_force.versions(on)
                if v.plan_id != self.simulated.plan_id
            ]
            self._proposed[on] = [*others, self.simulated_plan]
        return self._proposed[on]


class _Tally:
    def __init__(self) -> None:
        self.amounts: dict[tuple[int, str], dict[str, Any]] = defaultdict(
            lambda: {"current": ZERO, "simulated": ZERO, "posted": ZERO, "deals": 0, "events": 0}
        )

    def add_lines(self, lines: Iterable[EarningLine], side: str) -> None:
        for line in lines:
            self.amounts[(line.partner_id, line.currency)][side] += line.amount

    def count(self, partner_id: int, currency: str, what: str) -> None:
        self.amounts[(partner_id, currency)][what] += 1

    def add_posted(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            # What the partner is owed is minus its partner-payable entries.
            self.amounts[(row["partner_id"], row["currency"])]["posted"] -= row["total"]


def _posted(source_type: str, ids: Sequence[int]) -> QuerySet:
    return (
        LedgerEntry.objects.filter(
            account=Account.PARTNER_PAYABLE,
            partner_id__isnull=False,
            transaction__source_type=source_type,
            transaction__source_id__in=list(ids),
        )
        .values("partner_id", "currency")
        .annotate(total=Sum("amount"))
        .order_by()
    )


def _run(
    *,
    queryset: QuerySet,
    source_type: str,
    facts_of: Callable[[QuerySet], Sequence[Any]],
    compute: Callable[[CompiledPlan, Any], list[EarningLine]],
    day_of: Callable[[Any], date],
    versions: _Versions,
    tally: _Tally,
    counter: str,
    size: int,
) -> int:
    """Tally one kind of source chunk by chunk; returns how many were considered."""
    considered = 0
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return considered
        last = ids[-1]
        considered += len(ids)
        for facts in facts_of(queryset.model.objects.filter(pk__in=ids)):
            on = day_of(facts)
            tally.count(facts.partner.partner_id, facts.currency, counter)
            tally.add_lines(under_plans(versions.current(on), compute, facts), "current")
            tally.add_lines(under_plans(versions.proposed(on), compute, facts), "simulated")
        tally.add_posted(_posted(source_type, ids))


def _figures(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "current": values["current"],
        "simulated": values["simulated"],
        "posted": values["posted"],
        "deals": values["deals"],
        "revenue_events": values["events"],
    }


def simulate(
    *,
    membership,
    version: PlanVersion,
    months: int,
    today: date | None = None,
    size: int = CHUNK_SIZE,
) -> Simulation:
    """Run ``version`` over the last ``months`` months of closed-won deals and
    revenue events; per partner and in total, per currency, what it would have
    paid against what the published plans pay and what the ledger posted."""
    if not (can(membership, Capability.MANAGE_PROGRAM) or can(membership, Capability.VIEW_MONEY)):
        raise PermissionDenied()
    if not isinstance(months, int) or not MIN_MONTHS <= months <= MAX_MONTHS:
        raise DomainError(
            _("Simulate from 1 to 24 months."), code="simulator_months", field="months"
        )
    start, end = window(months=months, today=today or timezone.localdate())
    versions = _Versions(version)
    tally = _Tally()
    deal_count = _run(
        queryset=DealRegistration.objects.filter(
            stage=DealRegistration.Stage.CLOSED_WON,
            closed_on__range=(start, end),
            reversed_at__isnull=True,
        ),
        source_type=SourceType.DEAL,
        facts_of=deal_facts_for,
        compute=earnings_for_deal,
        day_of=lambda facts: facts.closed_on,
        versions=versions,
        tally=tally,
        counter="deals",
        size=size,
    )
    event_count = _run(
        queryset=RevenueEvent.objects.filter(occurred_on__range=(start, end)),
        source_type=SourceType.REVENUE_EVENT,
        facts_of=revenue_event_facts_for,
        compute=earnings_for_revenue_event,
        day_of=lambda facts: facts.occurred_on,
        versions=versions,
        tally=tally,
        counter="events",
        size=size,
    )
    names = dict(
        PartnerOrganization.objects.filter(
            pk__in={partner_id for partner_id, _currency in tally.amounts}
        ).values_list("pk", "legal_name")
    )
    partners = [
        PartnerFigures(
            currency=currency,
            partner_id=partner_id,
            partner_name=names.get(partner_id, ""),
            **_figures(values),
        )
        for (partner_id, currency), values in tally.amounts.items()
    ]
    partners.sort(key=lambda row: (-abs(row.difference), row.partner_name, row.currency))
    totals: dict[str, dict[str, Any]] = {}
    for row in partners:
        total = totals.setdefault(
            row.currency,
            {"current": ZERO, "simulated": ZERO, "posted": ZERO, "deals": 0, "events": 0},
        )
        total["current"] += row.current
        total["simulated"] += row.simulated
        total["posted"] += row.posted
        total["deals"] += row.deals
        total["events"] += row.revenue_events
    return Simulation(
        version=version,
        months=months,
        start=start,
        end=end,
        deals=deal_count,
        revenue_events=event_count,
        totals=[
            Figures(currency=currency, **_figures(values))
            for currency, values in sorted(totals.items())
        ],
        partners=partners,
    )
