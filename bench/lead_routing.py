"""How fast lead routing decides: 100,000 leads across 5,000 partners.

It creates a throwaway tenant in the dev database: 5,000 active partners in 20
countries (home country plus, for some, extra territories; 1–3 of 10
industries; 3 partner types; 4 tiers; a few that take no leads or have their
own capacity), 20,000 answered offers of the last 180 days so the performance
scores differ, four routing rules (enterprise leads of three countries kept for
direct sales, finance and healthcare for gold and platinum partners listing
the industry, three countries for resellers and MSPs, the default for the
rest) and 100,000 waiting leads. It then measures, in the same run:

* ``baseline``: the floor any routing must pay — the leads read in chunks of
  1,000 under ``FOR UPDATE SKIP LOCKED``, one assignment inserted and the lead
  updated per lead, in one transaction per chunk, with no decision at all;
* ``route_leads``: the real engine (rules, every filter, scores, bands,
  round-robin, capacity, a decision trace per lead) over the same leads.

The baseline runs first (best of ``BENCH_ROUNDS``, its writes undone after
each round), so the engine then works on tables that already carry the
baseline's dead rows: the ratio errs on the engine's side of slow. It prints
leads per second and the engine's ratio to the baseline, then deletes the
tenant and everything in it. Run it with ``make bench``; ``BENCH_LEADS`` /
``BENCH_PARTNERS`` change the sizes.
"""

from __future__ import annotations

import os
import random
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.dev")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import Avg, F, Func, IntegerField, TextField  # noqa: E402
from django.db.models.functions import Cast, Length  # noqa: E402
from django.utils import timezone  # noqa: E402

from deals import routing  # noqa: E402
from deals.models import (  # noqa: E402
    Lead,
    LeadAssignment,
    LeadRouting,
    PartnerLeadProfile,
    RoutingRule,
)
from partners.models import PartnerOrganization, PartnerType, Tier  # noqa: E402
from prm.tenancy.context import tenant_context  # noqa: E402
from prm.tenancy.models import Tenant  # noqa: E402

LEADS = int(os.environ.get("BENCH_LEADS", "100000"))
PARTNERS = int(os.environ.get("BENCH_PARTNERS", "5000"))
HISTORY = int(os.environ.get("BENCH_HISTORY", str(PARTNERS * 4)))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CHUNK = routing.CHUNK_SIZE
COUNTRIES = [
    "MY", "SG", "CN", "ID", "TH", "VN", "PH", "HK", "TW", "JP",
    "KR", "IN", "AU", "NZ", "US", "GB", "DE", "FR", "AE", "SA",
]  # fmt: skip
INDUSTRIES = [
    "software", "finance", "healthcare", "retail", "logistics",
    "manufacturing", "education", "government", "media", "energy",
]  # fmt: skip
SIZES = ["micro", "small", "medium", "enterprise"]
# The tables the benchmark writes, children first, for the clean-up.
TABLES = [
    LeadAssignment._meta.db_table,
    Lead._meta.db_table,
    PartnerLeadProfile._meta.db_table,
    RoutingRule._meta.db_table,
    LeadRouting._meta.db_table,
    PartnerOrganization._meta.db_table,
    PartnerType._meta.db_table,
    Tier._meta.db_table,
]


def build_world(tenant: Tenant, rng: random.Random) -> None:
    """Partners, profiles, history, rules and waiting leads, all in bulk."""
    LeadRouting.objects.create(tenant=tenant, default_capacity=25, route_on_arrival=False)
    types = PartnerType.objects.bulk_create(
        PartnerType(tenant=tenant, key=key, name=key.title())
        for key in ("reseller", "referral", "msp")
    )
    tiers = Tier.objects.bulk_create(
        Tier(tenant=tenant, key=key, name=key.title(), rank=rank)
        for rank, key in enumerate(("bronze", "silver", "gold", "platinum"), start=1)
    )
    partners = PartnerOrganization.objects.bulk_create(
        (
            PartnerOrganization(
                tenant=tenant,
                legal_name=f"Bench Partner {n:05d} Sdn Bhd",
                country=rng.choice(COUNTRIES),
                industries=rng.sample(INDUSTRIES, rng.randint(1, 3)),
                partner_type=rng.choice(types),
                tier=rng.choice(tiers),
                status=PartnerOrganization.Status.ACTIVE,
            )
            for n in range(PARTNERS)
        ),
        batch_size=5000,
    )
    PartnerLeadProfile.objects.bulk_create(
        (
            PartnerLeadProfile(
                tenant=tenant,
                partner=partner,
                accepts_leads=rng.random() > 0.05,
                territories=rng.sample(COUNTRIES, rng.randint(1, 2)),
                capacity=rng.choice((None, 10, 40)),
            )
            for partner in partners
            if rng.random() < 0.3
        ),
        batch_size=5000,
    )
    RoutingRule.objects.bulk_create(
        [
            RoutingRule(
                tenant=tenant,
                name="Enterprise in CN, JP, US is direct",
                priority=10,
                action=RoutingRule.Action.RESERVE_DIRECT,
                countries=["CN", "JP", "US"],
                company_sizes=["enterprise"],
            ),
            RoutingRule(
                tenant=tenant,
                name="Finance and healthcare to gold and platinum specialists",
                priority=20,
                action=RoutingRule.Action.ROUTE,
                industries=["finance", "healthcare"],
                require_industry=True,
                tier_keys=["gold", "platinum"],
            ),
            RoutingRule(
                tenant=tenant,
                name="ID, TH, VN to resellers and MSPs",
                priority=30,
                action=RoutingRule.Action.ROUTE,
                countries=["ID", "TH", "VN"],
                partner_type_keys=["reseller", "msp"],
            ),
        ]
    )

    def lead(n: int, prefix: str, status: str = Lead.Status.NEW) -> Lead:
        return Lead(
            tenant=tenant,
            reference=f"{prefix}-{n:07d}",
            company=f"Customer {prefix} {n}",
            normalized_name=f"customer {prefix} {n}",
            contact_name="Siti Aminah",
            contact_email=f"buyer{n}@customer.example",
            country=rng.choice(COUNTRIES),
            industry=rng.choice(INDUSTRIES),
            company_size=rng.choice(SIZES),
            status=status,
        )

    # Answered offers of the last 180 days, on leads that are no longer open.
    past = Lead.objects.bulk_create(
        (lead(n, "HIST", Lead.Status.WITHDRAWN) for n in range(HISTORY)), batch_size=10000
    )
    now = timezone.now()
    outcomes = [
        LeadAssignment.Outcome.ACCEPTED,
        LeadAssignment.Outcome.REJECTED,
        LeadAssignment.Outcome.EXPIRED,
    ]
    history = LeadAssignment.objects.bulk_create(
        (
            LeadAssignment(
                tenant=tenant,
                lead=past_lead,
                partner=rng.choice(partners),
                via=LeadAssignment.Via.SWEEP,
                outcome=rng.choice(outcomes),
            )
            for past_lead in past
        ),
        batch_size=10000,
    )
    with connection.cursor() as cursor:  # spread offers and answers over the window
        cursor.execute(
            f"UPDATE {LeadAssignment._meta.db_table} SET "  # noqa: S608 (table names only)
            "offered_at = %s - (id %% 170) * interval '1 day', "
            "responded_at = CASE WHEN outcome = 'expired' THEN NULL ELSE "
            "%s - (id %% 170) * interval '1 day' + (id %% 60) * interval '1 hour' END "
            "WHERE tenant_id = %s",
            [now, now, tenant.pk],
        )
    assert len(history) == HISTORY
    Lead.objects.bulk_create((lead(n, "BL") for n in range(LEADS)), batch_size=10000)


def baseline(tenant: Tenant) -> float:
    """Seconds to read every waiting lead in chunks and write one assignment
    (and the lead's new status) per lead, without deciding anything."""
    started = time.perf_counter()
    after = 0
    while True:
        with transaction.atomic():
            rows = list(
                Lead.objects.filter(status__in=Lead.ROUTABLE, pk__gt=after)
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", "country", "region", "industry", "company_size")[:CHUNK]
            )
            if not rows:
                break
            after = rows[-1][0]
            ids = [row[0] for row in rows]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {LeadAssignment._meta.db_table} "  # noqa: S608
                    "(tenant_id, lead_id, rule_name, via, trace, outcome, offered_at, reason) "
                    "SELECT %s, id, '', 'manual', '{}'::jsonb, 'unrouted', %s, '' "
                    "FROM unnest(%s::bigint[]) AS id",
                    [tenant.pk, timezone.now(), ids],
                )
            Lead.objects.filter(pk__in=ids).update(status=Lead.Status.UNROUTED)
    return time.perf_counter() - started


def undo_baseline() -> None:
    LeadAssignment.objects.filter(via=LeadAssignment.Via.MANUAL).delete()
    Lead.objects.filter(status=Lead.Status.UNROUTED).update(status=Lead.Status.NEW)


def clean_up(tenant: Tenant) -> None:
    """Delete the benchmark tenant's rows, table by table, then the tenant."""
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Tenant._meta.db_table} WHERE id = %s", [tenant.pk])  # noqa: S608


def main() -> int:
    rng = random.Random(20261123)  # the same world every run
    tenant = Tenant.objects.create(
        name="Lead routing benchmark", slug=f"bench-routing-{os.getpid()}", is_active=False
    )
    try:
        with tenant_context(tenant):
            started = time.perf_counter()
            build_world(tenant, rng)
            built = time.perf_counter() - started
            base = float("inf")
            for _round in range(ROUNDS):  # the least disturbed round
                base = min(base, baseline(tenant))
                undo_baseline()
            started = time.perf_counter()
            counts = routing.route_leads(via=LeadAssignment.Via.SWEEP)
            routed = time.perf_counter() - started
            decided = counts["offered"] + counts["direct"] + counts["unrouted"]
            assert decided == LEADS, counts
            sizes = LeadAssignment.objects.filter(lead__reference__startswith="BL-").aggregate(
                stored=Avg(
                    Func(F("trace"), function="pg_column_size", output_field=IntegerField())
                ),
                text=Avg(Length(Cast(F("trace"), TextField()))),
            )
    finally:
        clean_up(tenant)

    base_rate, rate = LEADS / base, LEADS / routed
    print(
        f"Lead routing: {LEADS:,} leads across {PARTNERS:,} partners "
        f"({len(COUNTRIES)} countries, {len(INDUSTRIES)} industries, 3 rules + default), "
        f"chunks of {CHUNK:,}; world built in {built:.0f} s"
    )
    print(
        f"  {'baseline: read + one assignment per lead, no decisions':<58} "
        f"{base_rate:>8,.0f} leads/s  ratio 1.00"
    )
    print(
        f"  {'route_leads: rules, filters, scores, round-robin, traces':<58} "
        f"{rate:>8,.0f} leads/s  ratio {rate / base_rate:4.2f}  ({routed:.1f} s)"
    )
    print(
        f"  outcome: {counts['offered']:,} offered, {counts['direct']:,} kept for direct "
        f"sales, {counts['unrouted']:,} unrouted; a trace averages {sizes['text']:,.0f} bytes "
        f"of JSON, {sizes['stored']:,.0f} stored"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
