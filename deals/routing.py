"""Lead routing: which partner is offered which lead, and why.

**Rules.** Active ``RoutingRule`` rows are tried in priority order; the first
whose non-empty conditions (countries, regions, industries, company sizes) all
match the lead applies. ``reserve_direct`` keeps the lead for direct sales
(status ``direct``, one ``direct`` assignment with its trace). ``route`` names
what a partner must meet. When no rule applies, the *default rule* routes with
the territory required and nothing else (``{"default": true}`` in the trace).

**Candidates.** The universe is every active partner. A partner is excluded,
with the first reason that holds, when it: does not accept leads
(``not_accepting_leads``; a partner without a ``PartnerLeadProfile`` accepts
them), does not cover the lead's country — its home country plus its
profile's territories — when the rule requires the territory
(``outside_territory``), does not list the lead's industry when the rule
requires it (``industry_not_listed``), is of a type or tier the rule does not
allow (``partner_type_not_allowed``, ``tier_not_allowed``), was offered this
lead before in any earlier assignment (``offered_before``; the constraint
``deals_lead_once_per_partner`` backs this), or holds as many open leads
(offered or accepted) as its capacity — its profile's, else the tenant's
default (``at_capacity``).

**Ranking.** The performance score looks at the partner's offers of the last
180 days (one aggregate query): acceptance rate (accepted / accepted, rejected
or expired), conversion rate (converted / accepted) and response time (the
mean hours from offer to answer, linearly from 0 h → 1 to the SLA → 0). Every
component starts from a *neutral prior*: a rate of 0.5 worth two offers
(``(successes + 1) / (trials + 2)``), so a newcomer scores 0.5 — the middle
of the field, not the bottom — and one lucky or unlucky offer moves a partner
only part of the way. The score is the weighted mean of the three
(``LeadRouting`` weights). Partners whose scores fall in the same band
(``floor(score / score_band)``) are equals; the highest band goes first and
among equals the least recently offered partner (``last_offered_at``, never
first, then id) — round-robin. Each offer moves the partner's cursor by at
least one microsecond past every cursor of the tenant, so the rotation order
is exact across chunks and runs.

**Traces.** Every assignment stores ids, names, codes and numbers only (the UI
translates reason codes): the rule, the requirements, the number of partners
considered and eligible, the chosen partner with its score components and
band, up to 5 runners-up likewise, the count of excluded
partners for every reason code, and up to 50 excluded partners listed with
their reason, nearest misses first; of the far misses (another territory, no
leads taken — for a country, the same partners every time) at most 10 are
listed, which keeps traces small in a tenant of thousands of partners.

**Outcomes.** A chosen partner gets a ``pending`` assignment due after the
tenant's SLA and the lead becomes ``offered``. Without a candidate the lead
becomes ``unrouted`` and keeps an ``unrouted`` assignment with the trace; a
later run retries it, and writes a new ``unrouted`` record only when the
lead's last record is not already one, so a rerun changes nothing. A lead
whose last offer was rejected or expired is routed ``via=reroute`` whatever
started the run.

**Set-based, chunked, concurrent.** A run reads the rules, settings, active
partners with their profiles, and their scores once (a run decides by the
configuration and history as they were when it started); it then works through the
leads in chunks, each chunk in one transaction: a per-tenant advisory lock (so
concurrent runs take turns chunk by chunk and capacity and rotation stay
exact), the leads selected with ``FOR UPDATE SKIP LOCKED``, their earlier
assignments, the open-lead counts and rotation cursors, then three bulk
statements (insert assignments, update leads, upsert profiles). Queries per
chunk are constant. A run killed after a chunk leaves that chunk committed and
the rest untouched; the unique constraints (one pending offer per lead, one
offer per lead and partner) make a double offer impossible whatever runs.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Protocol

from django.db import connection, transaction
from django.db.models import Avg, Count, DurationField, F, Q
from django.urls import reverse
from django.utils import timezone

from deals.models import Lead, LeadAssignment, LeadRouting, PartnerLeadProfile, RoutingRule
from partners.models import PartnerOrganization
from prm.audit.models import AuditEvent
from prm.notifications.services import Notice, notify_partners, recipients_of
from prm.tenancy.context import require_tenant

CHUNK_SIZE = 1000
HISTORY_DAYS = 180
RUNNERS_UP = 5
LISTED_EXCLUDED = 50
# Far misses (another territory, no leads taken) are the same partners for
# every lead of a country and say little: at most this many are listed.
LISTED_FAR = 10
# The neutral prior: every rate starts as PRIOR_RATE observed PRIOR_TRIALS times.
PRIOR_RATE = Decimal("0.5")
PRIOR_TRIALS = 2
# Advisory-lock namespace for "route leads of tenant N one chunk at a time".
_ROUTING_LOCK = 0x4C524F55  # "LROU"
_FOUR_PLACES = Decimal("0.0001")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Outcome = LeadAssignment.Outcome
Via = LeadAssignment.Via
Status = Lead.Status
_DECIDED = (Outcome.ACCEPTED, Outcome.REJECTED, Outcome.EXPIRED)
_ANSWERED = (Outcome.ACCEPTED, Outcome.REJECTED)
_REROUTED_AFTER = frozenset({Outcome.REJECTED, Outcome.EXPIRED})


class Reason(StrEnum):
    """Why a partner was excluded; the UI translates the codes."""

    NOT_ACCEPTING_LEADS = "not_accepting_leads"
    OUTSIDE_TERRITORY = "outside_territory"
    INDUSTRY_NOT_LISTED = "industry_not_listed"
    PARTNER_TYPE_NOT_ALLOWED = "partner_type_not_allowed"
    TIER_NOT_ALLOWED = "tier_not_allowed"
    OFFERED_BEFORE = "offered_before"
    AT_CAPACITY = "at_capacity"


# Traces list the nearest misses first: a partner excluded only for capacity
# is more telling than one in another country. (Offered before and at
# capacity, which change lead by lead, come before these.)
_NEAR_MISSES = (
    Reason.TIER_NOT_ALLOWED,
    Reason.PARTNER_TYPE_NOT_ALLOWED,
    Reason.INDUSTRY_NOT_LISTED,
)
_FAR_MISSES = (Reason.OUTSIDE_TERRITORY, Reason.NOT_ACCEPTING_LEADS)


class Progress(Protocol):
    """What a run reports to (``prm.jobs.runner.JobProgress`` in a job)."""

    def add(self, name: str, amount: int = 1) -> None: ...

    def set_total(self, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


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


# --- The in-memory router ---------------------------------------------------------------


def _fold(value: str) -> str:
    return (value or "").strip().casefold()


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True)
class _Rule:
    """A routing rule (or the default), with its conditions folded for matching."""

    id: int | None
    name: str
    direct: bool
    countries: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    industries: frozenset[str] = frozenset()
    sizes: frozenset[str] = frozenset()
    territory: bool = True
    industry: bool = False
    type_keys: frozenset[str] = frozenset()
    tier_keys: frozenset[str] = frozenset()

    @classmethod
    def of(cls, rule: RoutingRule) -> _Rule:
        return cls(
            id=rule.pk,
            name=rule.name,
            direct=rule.action == RoutingRule.Action.RESERVE_DIRECT,
            countries=frozenset(c.strip().upper() for c in rule.countries),
            regions=frozenset(_fold(r) for r in rule.regions),
            industries=frozenset(_fold(i) for i in rule.industries),
            sizes=frozenset(rule.company_sizes),
            territory=rule.require_territory,
            industry=rule.require_industry,
            type_keys=frozenset(rule.partner_type_keys),
            tier_keys=frozenset(rule.tier_keys),
        )

    def matches(self, country: str, region: str, industry: str, size: str) -> bool:
        return (
            (not self.countries or country in self.countries)
            and (not self.regions or region in self.regions)
            and (not self.industries or industry in self.industries)
            and (not self.sizes or size in self.sizes)
        )

    def trace(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "default": self.id is None,
            "action": "reserve_direct" if self.direct else "route",
        }
        if not self.direct:
            found["requires"] = {
                "territory": self.territory,
                "industry": self.industry,
                "partner_types": sorted(self.type_keys),
                "tiers": sorted(self.tier_keys),
            }
        return found


DEFAULT_RULE = _Rule(id=None, name="", direct=False, territory=True)


@dataclass(slots=True)
class _Partner:
    id: int
    name: str
    accepts: bool
    territories: frozenset[str]
    industries: frozenset[str]
    type_key: str
    tier_key: str
    capacity: int
    band: int
    score: Decimal
    entry: dict[str, Any]  # the partner as the chosen one or a runner-up in a trace


@dataclass(slots=True)
class _Group:
    """Partners that pass a rule's fixed requirements for one kind of lead."""

    eligible: list[int]
    eligible_set: frozenset[int]
    counts: dict[str, int]
    near: list[dict[str, Any]]  # excluded by a requirement of the rule, listed
    far: list[dict[str, Any]]  # another territory or taking no leads, listed
    heap: list[tuple[int, int, int]] = field(default_factory=list)
    saturated: dict[int, None] = field(default_factory=dict)
    epoch: int = -1


@dataclass(slots=True)
class _LeadRow:
    id: int
    country: str
    region: str
    industry: str
    size: str


@dataclass(slots=True)
class _Decision:
    lead: _LeadRow
    rule: _Rule
    outcome: str
    trace: dict[str, Any]
    partner: _Partner | None = None
    cursor: int = 0


class _Router:
    """Routing state for one run: fixed data read once, live data per chunk."""

    def __init__(self, *, now: datetime) -> None:
        self.now = now
        self.tenant_id = require_tenant().pk
        self.routing = _routing_settings()
        self.rules = [_Rule.of(r) for r in RoutingRule.objects.filter(is_active=True)]
        self._load_partners()
        self.groups: dict[tuple[Any, ...], _Group] = {}
        self.partner_groups: dict[int, list[_Group]] = defaultdict(list)
        self.rule_cache: dict[tuple[str, str, str, str], _Rule] = {}
        self.excluded_entries: dict[tuple[int, str], dict[str, Any]] = {}
        self.open: dict[int, int] = {}
        self.cursor: dict[int, int] = {}
        self.saturated: set[int] = set()
        self.epoch = 0
        self.next_cursor = 0

    def _load_partners(self) -> None:
        rows = list(
            PartnerOrganization.objects.filter(status=PartnerOrganization.Status.ACTIVE)
            .order_by("pk")
            .values_list(
                "pk",
                "legal_name",
                "display_name",
                "country",
                "industries",
                "partner_type__key",
                "tier__key",
                "lead_profile__accepts_leads",
                "lead_profile__territories",
                "lead_profile__capacity",
            )
        )
        scores = _scores(
            routing=self.routing,
            partner_ids=[r[0] for r in rows],
            now=self.now,
            by_id=False,
        )
        width = self.routing.score_band
        self.partners: dict[int, _Partner] = {}
        self.by_country: dict[str, list[_Partner]] = defaultdict(list)
        self.accepting: list[_Partner] = []
        self.not_accepting: list[_Partner] = []
        for (
            pk,
            legal,
            display,
            country,
            industries,
            type_key,
            tier_key,
            accepts,
            extra,
            cap,
        ) in rows:
            score = scores[pk]
            band = score_band(score.score, width)
            partner = _Partner(
                id=pk,
                name=display or legal,
                accepts=accepts is not False,
                territories=frozenset([country.upper(), *(t.upper() for t in extra or ())]),
                industries=frozenset(_fold(i) for i in industries or ()),
                type_key=type_key or "",
                tier_key=tier_key or "",
                capacity=self.routing.default_capacity if cap is None else cap,
                band=band,
                score=score.score,
                entry={
                    "id": pk,
                    "name": display or legal,
                    "score": str(score.score),
                    "band": band,
                    "acceptance": str(score.acceptance),
                    "conversion": str(score.conversion),
                    "response": str(score.response),
                    "response_hours": (
                        None if score.response_hours is None else str(score.response_hours)
                    ),
                    "history": score.has_history,
                },
            )
            self.partners[pk] = partner
            if partner.accepts:
                self.accepting.append(partner)
                for territory in partner.territories:
                    self.by_country[territory].append(partner)
            else:
                self.not_accepting.append(partner)
        self.settings_trace = {
            "score_band": str(width),
            "weights": {
                "acceptance": str(self.routing.weight_acceptance),
                "conversion": str(self.routing.weight_conversion),
                "response": str(self.routing.weight_response),
            },
            "sla_hours": self.routing.sla_hours,
            "history_days": HISTORY_DAYS,
            "prior": {"rate": str(PRIOR_RATE), "offers": PRIOR_TRIALS},
        }

    # Live data, per chunk -------------------------------------------------------------

    def refresh(self) -> None:
        """Read open-lead counts and rotation cursors under the routing lock.

        When they are what this run left behind (nobody else routed or answered
        in between) the rankings built so far stay valid; otherwise they are
        rebuilt lazily, group by group."""
        open_counts = {
            pid: n
            for pid, n in Lead.objects.filter(status__in=Lead.OPEN)
            .values("partner_id")
            .annotate(n=Count("pk"))
            .order_by()
            .values_list("partner_id", "n")
            if pid in self.partners
        }
        cursors = {
            pid: _micros(at)
            for pid, at in PartnerLeadProfile.objects.filter(last_offered_at__isnull=False)
            .values_list("partner_id", "last_offered_at")
            .order_by()
            if pid in self.partners and at is not None
        }
        if open_counts != self.open or cursors != self.cursor:
            self.open, self.cursor = open_counts, cursors
            self.saturated = {
                pid for pid, p in self.partners.items() if open_counts.get(pid, 0) >= p.capacity
            }
            self.epoch += 1
        latest = max(self.cursor.values(), default=-1)
        self.next_cursor = max(_micros(self.now), latest + 1, self.next_cursor)

    def rule_for(self, lead: _LeadRow) -> _Rule:
        key = (lead.country, lead.region, lead.industry, lead.size)
        found = self.rule_cache.get(key)
        if found is None:
            found = next((r for r in self.rules if r.matches(*key)), DEFAULT_RULE)
            self.rule_cache[key] = found
        return found

    def group(self, rule: _Rule, lead: _LeadRow) -> _Group:
        key = (
            rule.id,
            lead.country if rule.territory else None,
            lead.industry if rule.industry else None,
        )
        found = self.groups.get(key)
        if found is None:
            found = self._build_group(rule, lead)
            self.groups[key] = found
            for pid in found.eligible:
                self.partner_groups[pid].append(found)
        if found.epoch != self.epoch:
            found.heap = [
                (-self.partners[pid].band, self.cursor.get(pid, -1), pid)
                for pid in found.eligible
                if pid not in self.saturated
            ]
            heapq.heapify(found.heap)
            found.saturated = dict.fromkeys(p for p in found.eligible if p in self.saturated)
            found.epoch = self.epoch
        return found

    def _build_group(self, rule: _Rule, lead: _LeadRow) -> _Group:
        counts = dict.fromkeys(Reason, 0)
        excluded: dict[Reason, list[int]] = defaultdict(list)
        eligible: list[int] = []
        pool = self.by_country.get(lead.country, []) if rule.territory else self.accepting
        counts[Reason.NOT_ACCEPTING_LEADS] = len(self.not_accepting)
        counts[Reason.OUTSIDE_TERRITORY] = len(self.accepting) - len(pool)
        for partner in pool:
            if rule.industry and lead.industry not in partner.industries:
                reason = Reason.INDUSTRY_NOT_LISTED
            elif rule.type_keys and partner.type_key not in rule.type_keys:
                reason = Reason.PARTNER_TYPE_NOT_ALLOWED
            elif rule.tier_keys and partner.tier_key not in rule.tier_keys:
                reason = Reason.TIER_NOT_ALLOWED
            else:
                eligible.append(partner.id)
                continue
            counts[reason] += 1
            if len(excluded[reason]) < LISTED_EXCLUDED:
                excluded[reason].append(partner.id)
        if rule.territory:
            for partner in self.accepting:
                if len(excluded[Reason.OUTSIDE_TERRITORY]) >= LISTED_FAR:
                    break
                if lead.country not in partner.territories:
                    excluded[Reason.OUTSIDE_TERRITORY].append(partner.id)
        excluded[Reason.NOT_ACCEPTING_LEADS] = [p.id for p in self.not_accepting[:LISTED_FAR]]
        return _Group(
            eligible=eligible,
            eligible_set=frozenset(eligible),
            counts={str(k): v for k, v in counts.items()},
            near=[self._excluded(pid, r) for r in _NEAR_MISSES for pid in excluded[r]][
                :LISTED_EXCLUDED
            ],
            far=[self._excluded(pid, r) for r in _FAR_MISSES for pid in excluded[r]][:LISTED_FAR],
        )

    def _excluded(self, pid: int, reason: str) -> dict[str, Any]:
        key = (pid, reason)
        found = self.excluded_entries.get(key)
        if found is None:
            found = {"id": pid, "name": self.partners[pid].name, "reason": reason}
            self.excluded_entries[key] = found
        return found

    # Deciding ------------------------------------------------------------------------

    def decide(self, lead: _LeadRow, earlier: set[int]) -> _Decision:
        rule = self.rule_for(lead)
        if rule.direct:
            return _Decision(
                lead=lead, rule=rule, outcome=Outcome.DIRECT, trace={"rule": rule.trace()}
            )
        group = self.group(rule, lead)
        picks = self._best(group, earlier, RUNNERS_UP + 1)
        before = sorted(pid for pid in earlier if pid in group.eligible_set)
        counts = dict(group.counts)
        counts[Reason.OFFERED_BEFORE] = len(before)
        counts[Reason.AT_CAPACITY] = len(group.saturated) - sum(
            1 for pid in before if pid in group.saturated
        )
        listed = [self._excluded(pid, Reason.OFFERED_BEFORE) for pid in before[:LISTED_EXCLUDED]]
        if len(listed) < LISTED_EXCLUDED:
            for pid in group.saturated:
                if pid not in earlier:
                    listed.append(self._excluded(pid, Reason.AT_CAPACITY))
                    if len(listed) >= LISTED_EXCLUDED:
                        break
        listed.extend(group.near[: max(0, LISTED_EXCLUDED - len(listed))])
        listed.extend(group.far[: max(0, min(LISTED_FAR, LISTED_EXCLUDED - len(listed)))])
        eligible = len(group.eligible) - counts[Reason.OFFERED_BEFORE] - counts[Reason.AT_CAPACITY]
        chosen = self.partners[picks[0]] if picks else None
        trace: dict[str, Any] = {
            "rule": rule.trace(),
            "considered": len(self.partners),
            "eligible": eligible,
            "chosen": chosen.entry if chosen else None,
            "runners_up": [self.partners[pid].entry for pid in picks[1:]],
            "excluded_counts": counts,
            "excluded": listed,
            "settings": self.settings_trace,
        }
        if chosen is None:
            return _Decision(lead=lead, rule=rule, outcome=Outcome.UNROUTED, trace=trace)
        return _Decision(
            lead=lead,
            rule=rule,
            outcome=Outcome.PENDING,
            trace=trace,
            partner=chosen,
            cursor=self._offer(chosen),
        )

    def _best(self, group: _Group, earlier: set[int], wanted: int) -> list[int]:
        """The ``wanted`` best partners of a group, best first, skipping earlier
        assignees; stale heap entries (a partner offered since) are refreshed."""
        heap = group.heap
        picks: list[int] = []
        kept: list[tuple[int, int, int]] = []
        while heap and len(picks) < wanted:
            entry = heapq.heappop(heap)
            pid = entry[2]
            if pid in self.saturated:
                continue  # out for the rest of the epoch: capacity only fills up
            current = self.cursor.get(pid, -1)
            if entry[1] != current:
                heapq.heappush(heap, (entry[0], current, pid))
                continue
            kept.append(entry)
            if pid not in earlier:
                picks.append(pid)
        for entry in kept:
            heapq.heappush(heap, entry)
        return picks

    def _offer(self, partner: _Partner) -> int:
        cursor = self.next_cursor
        self.next_cursor += 1
        self.cursor[partner.id] = cursor
        self.open[partner.id] = self.open.get(partner.id, 0) + 1
        if self.open[partner.id] >= partner.capacity:
            self.saturated.add(partner.id)
            for group in self.partner_groups[partner.id]:
                if group.epoch == self.epoch:
                    group.saturated[partner.id] = None
        return cursor


# --- Writing a chunk ------------------------------------------------------------------

# One JSON document per chunk: psycopg quotes one string fast, while quoting
# an array of JSON texts element by element costs more than routing itself.
_INSERT_ASSIGNMENTS = """
    INSERT INTO {table} (tenant_id, lead_id, partner_id, rule_id, rule_name, via, score, trace,
                         outcome, offered_at, due_at, reason)
    SELECT %s, a.lead_id, a.partner_id, a.rule_id, a.rule_name, a.via, a.score, a.trace,
           a.outcome, %s, a.due_at, ''
    FROM jsonb_to_recordset(%s::jsonb)
         AS a(lead_id bigint, partner_id bigint, rule_id bigint, rule_name text, via text,
              score numeric, trace jsonb, outcome text, due_at timestamptz)
"""

_UPDATE_LEADS = """
    UPDATE {table} AS l
    SET status = d.status, partner_id = d.partner_id, offered_at = d.offered_at,
        due_at = d.due_at, accepted_at = NULL
    FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::timestamptz[], %s::timestamptz[])
         AS d(id, status, partner_id, offered_at, due_at)
    WHERE l.tenant_id = %s AND l.id = ANY(%s::bigint[]) AND l.id = d.id
"""

_UPSERT_PROFILES = """
    INSERT INTO {table} AS p (tenant_id, partner_id, accepts_leads, territories, capacity,
                              last_offered_at)
    SELECT %s, c.partner_id, true, '{{}}', NULL, c.at
    FROM unnest(%s::bigint[], %s::timestamptz[]) AS c(partner_id, at)
    ON CONFLICT (partner_id)
    DO UPDATE SET last_offered_at = GREATEST(p.last_offered_at, EXCLUDED.last_offered_at)
"""

_COUNT_NAME: dict[str, str] = {
    Outcome.PENDING: "offered",
    Outcome.DIRECT: "direct",
    Outcome.UNROUTED: "unrouted",
}
_LEAD_STATUS: dict[str, str] = {
    Outcome.PENDING: Status.OFFERED,
    Outcome.DIRECT: Status.DIRECT,
    Outcome.UNROUTED: Status.UNROUTED,
}


def _lock_routing(tenant_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_ROUTING_LOCK, tenant_id])


def _lead_rows(rows: Iterable[Sequence[Any]]) -> list[_LeadRow]:
    return [
        _LeadRow(
            id=pk,
            country=(country or "").strip().upper(),
            region=_fold(region),
            industry=_fold(industry),
            size=size or "",
        )
        for pk, country, region, industry, size in rows
    ]


_LEAD_FIELDS = ("pk", "country", "region", "industry", "company_size")


def _route_locked(
    router: _Router, *, leads: list[_LeadRow], statuses: dict[int, str], via: str
) -> dict[str, int]:
    """Route leads this transaction holds locked; returns the chunk's counts."""
    counts = {"offered": 0, "direct": 0, "unrouted": 0, "still_unrouted": 0}
    if not leads:
        return counts
    earlier: dict[int, set[int]] = defaultdict(set)
    last: dict[int, str] = {}
    for lead_id, partner_id, outcome in (
        LeadAssignment.objects.filter(lead_id__in=[lead.id for lead in leads])
        .order_by("offered_at", "pk")
        .values_list("lead_id", "partner_id", "outcome")
    ):
        if partner_id is not None:
            earlier[lead_id].add(partner_id)
        last[lead_id] = outcome
    router.refresh()
    new: list[_Decision] = []
    changed: list[_Decision] = []
    for lead in leads:
        decision = router.decide(lead, earlier[lead.id])
        repeat = decision.outcome == Outcome.UNROUTED and last.get(lead.id) == Outcome.UNROUTED
        if not repeat:
            new.append(decision)
        if _LEAD_STATUS[decision.outcome] != statuses[lead.id]:
            changed.append(decision)
        if repeat:
            counts["still_unrouted"] += 1
        else:
            counts[_COUNT_NAME[decision.outcome]] += 1
    now = router.now
    due = now + timedelta(hours=router.routing.sla_hours)
    with connection.cursor() as cursor:
        if new:
            due_text = due.isoformat()
            rows = [
                {
                    "lead_id": d.lead.id,
                    "partner_id": d.partner.id if d.partner else None,
                    "rule_id": d.rule.id,
                    "rule_name": d.rule.name,
                    "via": Via.REROUTE if last.get(d.lead.id) in _REROUTED_AFTER else via,
                    "score": str(d.partner.score) if d.partner else None,
                    "trace": d.trace,
                    "outcome": d.outcome,
                    "due_at": due_text if d.partner else None,
                }
                for d in new
            ]
            cursor.execute(
                _INSERT_ASSIGNMENTS.format(table=LeadAssignment._meta.db_table),
                [router.tenant_id, now, json.dumps(rows, separators=(",", ":"))],
            )
        if changed:
            cursor.execute(
                _UPDATE_LEADS.format(table=Lead._meta.db_table),
                [
                    [d.lead.id for d in changed],
                    [str(_LEAD_STATUS[d.outcome]) for d in changed],
                    [d.partner.id if d.partner else None for d in changed],
                    [now if d.partner else None for d in changed],
                    [due if d.partner else None for d in changed],
                    router.tenant_id,
                    [d.lead.id for d in changed],  # the primary key, whatever the statistics
                ],
            )
        cursors: dict[int, int] = {}
        for d in new:
            if d.partner is not None:
                cursors[d.partner.id] = max(d.cursor, cursors.get(d.partner.id, -1))
        if cursors:
            cursor.execute(
                _UPSERT_PROFILES.format(table=PartnerLeadProfile._meta.db_table),
                [router.tenant_id, list(cursors), [_moment(c) for c in cursors.values()]],
            )
    _tell_partners(Counter(d.partner.id for d in new if d.partner is not None), due=due)
    return counts


def _tell_partners(offers: Counter[int], *, due: datetime) -> None:
    """One notification per partner and chunk ("3 new leads wait for your
    answer"), e-mailed once the chunk commits; one query when nobody is told."""
    if not offers:
        return
    recipients = recipients_of(partner_ids=list(offers))
    notices = [
        Notice(
            partner_id=partner_id,
            kind="deals.leads_offered",
            params={"count": count, "due_at": due},
            link=reverse("leads:list") + "?state=waiting",
        )
        for partner_id, count in offers.items()
        if recipients.get(partner_id)
    ]
    notify_partners(notices=notices, recipients=recipients)


def _ensure_counts(counts: dict[str, int], progress: Progress | None, names: Sequence[str]):
    for name in names:
        counts.setdefault(name, 0)
        if progress is not None:
            progress.add(name, 0)


def _add(counts: dict[str, int], chunk: dict[str, int], progress: Progress | None) -> None:
    for name, amount in chunk.items():
        counts[name] = counts.get(name, 0) + amount
        if progress is not None:
            progress.add(name, amount)


_ROUTE_COUNTS = ("offered", "direct", "unrouted", "still_unrouted")


def _route_phase(
    router: _Router,
    *,
    lead_ids: Sequence[int] | None,
    via: str,
    size: int,
    progress: Progress | None,
    counts: dict[str, int],
    skip: set[int] | None = None,
) -> None:
    after = 0
    while True:
        with transaction.atomic():
            _lock_routing(router.tenant_id)
            queryset = Lead.objects.filter(status__in=Lead.ROUTABLE, pk__gt=after)
            if lead_ids is not None:
                queryset = queryset.filter(pk__in=lead_ids)
            rows = list(
                queryset.order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("status", *_LEAD_FIELDS)[:size]
            )
            if not rows:
                return
            after = rows[-1][1]
            todo = [row for row in rows if not skip or row[1] not in skip]
            chunk = _route_locked(
                router,
                leads=_lead_rows(row[1:] for row in todo),
                statuses={row[1]: row[0] for row in todo},
                via=via,
            )
        _add(counts, chunk, progress)
        if progress is not None:
            progress.advance(len(todo))


def route_leads(
    *,
    lead_ids: Sequence[int] | None = None,
    via: str,
    now: datetime | None = None,
    progress: Progress | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, int]:
    """Route the waiting (new or unrouted) leads — all, or those of ``lead_ids``.

    Returns counts: ``offered``, ``direct``, ``unrouted`` (newly recorded) and
    ``still_unrouted`` (retried, still without a partner, nothing written).
    Each chunk commits on its own (inside a caller's transaction each chunk is
    a savepoint of it instead).
    """
    if via not in Via.values:
        raise ValueError(f"unknown routing trigger {via!r}")
    now = now or timezone.now()
    counts: dict[str, int] = {}
    _ensure_counts(counts, progress, _ROUTE_COUNTS)
    if lead_ids is not None and not lead_ids:
        return counts
    if progress is not None:
        waiting = Lead.objects.filter(status__in=Lead.ROUTABLE)
        if lead_ids is not None:
            waiting = waiting.filter(pk__in=lead_ids)
        progress.set_total(waiting.count())
    router = _Router(now=now)
    _route_phase(
        router,
        lead_ids=lead_ids,
        via=via,
        size=chunk_size,
        progress=progress,
        counts=counts,
    )
    return counts


def _expire_chunk(router: _Router, *, size: int) -> tuple[int, dict[str, int], set[int]]:
    """Expire the next chunk of overdue offers and re-route those leads at once."""
    rows = list(
        Lead.objects.filter(status=Status.OFFERED, due_at__lt=router.now)
        .order_by("pk")
        .select_for_update(skip_locked=True)
        .values_list("partner_id", "reference", *_LEAD_FIELDS)[:size]
    )
    if not rows:
        return 0, {}, set()
    ids = [row[2] for row in rows]
    LeadAssignment.objects.filter(lead_id__in=ids, outcome=Outcome.PENDING).update(
        outcome=Outcome.EXPIRED
    )
    Lead.objects.filter(pk__in=ids).update(
        status=Status.NEW, partner=None, offered_at=None, due_at=None, accepted_at=None
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant_id=router.tenant_id,
            action="lead.offer_expired",
            object_type=Lead._meta.label_lower,
            object_id=str(row[2]),
            summary=row[1],
            data={"partner": row[0]},
        )
        for row in rows
    )
    chunk = _route_locked(
        router,
        leads=_lead_rows(row[2:] for row in rows),
        statuses=dict.fromkeys(ids, Status.NEW),
        via=Via.REROUTE,
    )
    chunk["expired"] = len(rows)
    return len(rows), chunk, set(ids)


def run_lead_sweep(
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, int]:
    """Expire offers past their due time and re-route those leads (``via=reroute``),
    then route every waiting lead (``via=sweep``). Returns counts: ``expired``
    plus those of ``route_leads``. A second run right after changes nothing."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    _ensure_counts(counts, progress, ("expired", *_ROUTE_COUNTS))
    if progress is not None:
        progress.set_total(
            Lead.objects.filter(status=Status.OFFERED, due_at__lt=now).count()
            + Lead.objects.filter(status__in=Lead.ROUTABLE).count()
        )
    router = _Router(now=now)
    rerouted: set[int] = set()
    while True:
        with transaction.atomic():
            _lock_routing(router.tenant_id)
            scanned, chunk, ids = _expire_chunk(router, size=chunk_size)
        if not scanned:
            break
        rerouted |= ids
        _add(counts, chunk, progress)
        if progress is not None:
            progress.advance(scanned)
    _route_phase(
        router,
        lead_ids=None,
        via=Via.SWEEP,
        size=chunk_size,
        progress=progress,
        counts=counts,
        skip=rerouted,
    )
    return counts
