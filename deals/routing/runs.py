"""Routing runs: chunks under a per-tenant lock, the bulk writes, notices to partners, the sweep."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from deals.models import Lead, LeadAssignment, PartnerLeadProfile
from deals.routing.reasons import (
    _REROUTED_AFTER,
    _ROUTING_LOCK,
    CHUNK_SIZE,
    Outcome,
    Progress,
    Status,
    Via,
)
from deals.routing.router import _Decision, _fold, _LeadRow, _moment, _Router
from prm.audit.models import AuditEvent
from prm.notifications.services import Notice, notify_partners, recipients_of

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
