"""The in-memory router: rules, candidate filters, ranking, round-robin and the decision trace."""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count

from deals.models import Lead, PartnerLeadProfile, RoutingRule
from deals.routing.reasons import (
    _EPOCH,
    _FAR_MISSES,
    _MICROSECOND,
    _NEAR_MISSES,
    HISTORY_DAYS,
    LISTED_EXCLUDED,
    LISTED_FAR,
    PRIOR_RATE,
    PRIOR_TRIALS,
    RUNNERS_UP,
    Outcome,
    Reason,
)
from deals.routing.scores import _routing_settings, _scores, score_band
from partners.models import PartnerOrganization
from prm.tenancy.context import require_tenant

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
