"""How close the nightly commission job gets to one hand-written SQL statement.

It builds, with set-based SQL (``generate_series``), 100 tenants (inactive, so
beat never schedules them) each with the default partner types and tier ladder
(``partners.defaults.seed_catalogue``), the default commission plan
(``incentives.services.ensure_default_plan``: one tier-commission rule per
tier, at the tier's rate, on first-year contract value), 100 partners spread
over the four tiers and 10,000 closed-won deals (amounts, close dates over a
year, contract terms of none / 12 / 24 / 36 months): 1,000,000 deals for
10,000 partners. Then, in the same run on the same database:

* ``job``: the real nightly job, ``run_commission_job()`` inside
  ``tenant_context`` per tenant, as the Celery task calls it — facts, the
  engine, ledger postings (balanced transactions, two entries each, checked by
  the ledger's deferred triggers at commit) and the exactly-once markers;
* ``rerun``: the job again over every tenant, which must post nothing;
* ``sql``: the practical limit — one hand-written ``INSERT … SELECT`` per
  tenant (row-level security binds the application role to one tenant per
  transaction) computing the same flat tier-rate commission (first-year value
  × the rule's rate, rounded half up to cents) into a scratch table;
* ``sql into the ledger``: the same computation written by SQL alone into the
  real ledger (keys, two entries, markers, deferred foreign keys and balance
  triggers checked), then rolled back — what the ledger's guarantees cost
  with no Python at all, in one statement per tenant (at a million deals
  this is slower than the job's chunks of 2,000).

It checks that the SQL and the job agree deal by deal, and prints
``job_seconds``, ``sql_seconds``, their ratio, the entries created and the
process's peak resident memory (``ru_maxrss``) before and after the job.

**Where the data lives.** The ledger refuses ``DELETE`` for every role (a row
trigger), so throwaway ledger rows cannot be removed from a shared database
without switching a guarantee off. The benchmark therefore creates a scratch
database (``prm_bench_commissions_<pid>``) on the dev PostgreSQL server as the
owner role, migrates it exactly like the real one (row-level security, the
ledger's triggers), runs everything there as the RLS-bound application role,
and drops the whole database at the end, even after a failure. Nothing is
written to the dev database and no guarantee is ever disabled.

Run it with ``make bench``; ``BENCH_DEALS`` (total, default 1,000,000),
``BENCH_TENANTS`` (default 100) and ``BENCH_PARTNERS`` (per tenant, default
100) scale it down.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.dev")

TENANTS = int(os.environ.get("BENCH_TENANTS", "100"))
DEALS = int(os.environ.get("BENCH_DEALS", "1000000"))
PARTNERS = int(os.environ.get("BENCH_PARTNERS", "100"))
DEALS_PER_TENANT = max(1, DEALS // TENANTS)
SCRATCH_DB = f"prm_bench_commissions_{os.getpid()}"
CURRENCIES = ["MYR", "SGD", "CNY", "USD", "IDR"]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _owner_url() -> str:
    url = os.environ.get("DATABASE_OWNER_URL", "")
    if not url:
        sys.exit("DATABASE_OWNER_URL is not set: run through `make bench`.")
    return url


# Point Django at the scratch database before it reads its settings.
_ADMIN_URL = _owner_url()
_APP_URL = os.environ.get("DATABASE_URL", "postgres://prm_app:prm_app_dev@127.0.0.1:54329/prm")
os.environ["DATABASE_URL"] = _with_database(_APP_URL, SCRATCH_DB)
os.environ["DATABASE_OWNER_URL"] = _with_database(_ADMIN_URL, SCRATCH_DB)
os.environ.pop("PRM_DB_AS_OWNER", None)
# Like the Celery worker (production settings): with DEBUG on, Django keeps the
# last 9,000 SQL strings of the connection in memory, which is not the job's.
os.environ["DEBUG"] = "0"

import dj_database_url  # noqa: E402
import django  # noqa: E402
import psycopg  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.utils import translation  # noqa: E402

from deals.models import DealRegistration  # noqa: E402
from incentives.commissions import CHUNK_SIZE, run_commission_job  # noqa: E402
from incentives.services import ensure_default_plan  # noqa: E402
from partners.defaults import seed_catalogue  # noqa: E402
from partners.models import PartnerOrganization, PartnerType, Tier  # noqa: E402
from prm.accounts.models import User  # noqa: E402
from prm.ledger.models import LedgerEntry, LedgerTransaction  # noqa: E402
from prm.tenancy.context import tenant_context  # noqa: E402
from prm.tenancy.models import Tenant  # noqa: E402

SCRATCH_TABLE = "bench_commission"

_PARTNERS_SQL = f"""
INSERT INTO {PartnerOrganization._meta.db_table} (
    tenant_id, legal_name, display_name, country, region, industries, status,
    default_currency, website, created_at, partner_type_id, tier_id
)
SELECT %(tenant)s, 'Bench Partner ' || lpad(g::text, 5, '0') || ' Sdn Bhd', '',
       (ARRAY['MY','SG','CN','ID','TH','VN'])[g %% 6 + 1], '', ARRAY['software'], 'active',
       %(currency)s, '', now() - interval '2 years',
       (%(types)s::bigint[])[g %% cardinality(%(types)s::bigint[]) + 1],
       (%(tiers)s::bigint[])[g %% cardinality(%(tiers)s::bigint[]) + 1]
FROM generate_series(1, %(partners)s) AS g
"""  # noqa: S608 (table names only)

# Closed-won deals: amounts 1,000.00–99,999.99, closed over the past year,
# contract terms of none / 12 / 24 / 36 months, spread evenly over partners.
_DEALS_SQL = f"""
INSERT INTO {DealRegistration._meta.db_table} (
    tenant_id, reference, customer_company, normalized_name, contact_name, contact_email,
    email_domain, website, website_domain, country, region, industry, company_size, deal_type,
    estimated_close_date, estimated_amount, currency, notes, stage, is_conflict, submitted_at,
    approved_at, protected_until, final_amount, closed_on, contract_term_months, reversed_at,
    reversal_reason, partner_share, partner_id, registered_by_id
)
SELECT %(tenant)s, 'BENCH-' || lpad(g::text, 7, '0'), 'Customer ' || g, 'customer ' || g,
       'Siti Aminah', 'buyer' || g || '@customer' || g || '.example', 'customer' || g || '.example',
       '', '', 'MY', '', 'software', 'medium', 'new',
       day, amount, %(currency)s, '', 'closed_won', false, day - 60,
       day - 59, day + 30, amount, day, (ARRAY[NULL, 12, 24, 36]::smallint[])[g %% 4 + 1], NULL,
       '', 100, (%(partners)s::bigint[])[g %% cardinality(%(partners)s::bigint[]) + 1], %(user)s
FROM generate_series(1, %(deals)s) AS g,
     LATERAL (SELECT date '2026-10-31' - (g %% 365) AS day,
                     (1000 + (g * 7919) %% 99000)::numeric + ((g * 31) %% 100) / 100.0 AS amount) v
"""  # noqa: S608

# The practical limit: the flat tier-rate commission on first-year value, in
# one statement, rounded half up to cents like the engine (PostgreSQL rounds
# numeric ties away from zero; every amount here is positive).
_LIMIT_SQL = f"""
INSERT INTO {SCRATCH_TABLE} (tenant_id, deal_id, partner_id, currency, amount)
SELECT d.tenant_id, d.id, d.partner_id, d.currency,
       round(CASE WHEN coalesce(d.contract_term_months, 0) > 0
                  THEN d.final_amount * least(d.contract_term_months, 12) / d.contract_term_months
                  ELSE d.final_amount END
             * r.rate / 100 * d.partner_share / 100, 2)
FROM deals_dealregistration d
JOIN partners_partnerorganization p ON p.tenant_id = d.tenant_id AND p.id = d.partner_id
JOIN partners_tier t ON t.tenant_id = p.tenant_id AND t.id = p.tier_id
JOIN incentives_commissionrule r ON r.tenant_id = d.tenant_id AND r.version_id = %s
     AND t.key = ANY (r.tier_keys)
WHERE d.stage = 'closed_won'
"""  # noqa: S608

# The same computation posted into the real ledger by SQL alone: transactions
# with idempotency keys, two entries each, exactly-once markers, and the
# deferred foreign keys and balance triggers fired (``SET CONSTRAINTS ALL
# IMMEDIATE``) — what the ledger's guarantees cost without any Python. It runs
# after the job (its own key prefix and marker phase, so nothing conflicts) and
# is rolled back: rolled-back rows before the job would leave the job dead
# tuples and, once vacuumed, an empty-looking ledger to plan the checks for.
_LEDGER_SQL = """
WITH computed AS (
    SELECT d.tenant_id, d.id AS deal_id, d.partner_id, d.currency, d.closed_on, r.id AS rule_id,
           r.version_id,
           round(CASE WHEN coalesce(d.contract_term_months, 0) > 0
                      THEN d.final_amount * least(d.contract_term_months, 12)
                           / d.contract_term_months
                      ELSE d.final_amount END
                 * r.rate / 100 * d.partner_share / 100, 2) AS amount
    FROM deals_dealregistration d
    JOIN partners_partnerorganization p ON p.tenant_id = d.tenant_id AND p.id = d.partner_id
    JOIN partners_tier t ON t.tenant_id = p.tenant_id AND t.id = p.tier_id
    JOIN incentives_commissionrule r ON r.tenant_id = d.tenant_id AND r.version_id = %s
         AND t.key = ANY (r.tier_keys)
    WHERE d.stage = 'closed_won'
), posted AS (
    INSERT INTO ledger_transaction (
        tenant_id, partner_id, source_type, source_id, kind, currency, effective_date,
        period_key, rule_id, plan_version_id, explanation, idempotency_key, memo, created_at
    )
    SELECT tenant_id, partner_id, 'deal', deal_id, 'commission', currency, closed_on, '',
           rule_id, version_id, jsonb_build_object('amount', amount::text),
           'bench-floor:deal:' || deal_id || ':' || rule_id || ':tier_commission:-', '', now()
    FROM computed ORDER BY deal_id
    ON CONFLICT DO NOTHING
    RETURNING id, tenant_id, source_id, partner_id, currency
), entries AS (
    INSERT INTO ledger_entry (tenant_id, transaction_id, account, partner_id, currency, amount,
                              created_at)
    SELECT posted.tenant_id, posted.id, side.account, posted.partner_id, posted.currency,
           side.sign * computed.amount, now()
    FROM posted JOIN computed ON computed.deal_id = posted.source_id,
         (VALUES ('commission_expense', 1), ('partner_payable', -1)) AS side(account, sign)
)
INSERT INTO incentives_computation (tenant_id, source_type, source_id, phase, postings,
                                    computed_at)
SELECT tenant_id, 'deal', deal_id, 'floor', 1, now() FROM computed
"""  # noqa: S608


# Deal by deal: the job's credit to partner payable against the SQL's amount.
_DISAGREEMENTS_SQL = f"""
SELECT count(*) FROM (SELECT * FROM {SCRATCH_TABLE} WHERE tenant_id = %s) b
FULL JOIN (
    SELECT t.source_id AS deal_id, -e.amount AS amount
    FROM ledger_transaction t
    JOIN ledger_entry e ON e.tenant_id = t.tenant_id AND e.transaction_id = t.id
    WHERE t.source_type = 'deal' AND e.account = 'partner_payable'
) j ON j.deal_id = b.deal_id
WHERE b.amount IS DISTINCT FROM j.amount
"""  # noqa: S608


def _credentials(url: str) -> dict:
    parsed = dj_database_url.parse(url)
    return {"USER": parsed["USER"], "PASSWORD": parsed["PASSWORD"]}


def create_scratch_database() -> None:
    """Create and migrate the scratch database as the owner role, as in production."""
    with psycopg.connect(_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{SCRATCH_DB}"')
    default = connections["default"]
    default.close()
    default.settings_dict.update(_credentials(os.environ["DATABASE_OWNER_URL"]))
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {SCRATCH_TABLE} (tenant_id bigint NOT NULL, deal_id bigint NOT NULL, "
            "partner_id bigint NOT NULL, currency varchar(3) NOT NULL, "
            "amount numeric(14, 2) NOT NULL, PRIMARY KEY (tenant_id, deal_id))"
        )
        cursor.execute(f"GRANT SELECT, INSERT ON {SCRATCH_TABLE} TO {settings.APP_DB_ROLE}")
    default.close()
    default.settings_dict.update(_credentials(os.environ["DATABASE_URL"]))


def as_owner(*statements: str) -> None:
    """Maintenance statements as the owner role, outside any transaction."""
    default = connections["default"]
    default.close()
    default.settings_dict.update(_credentials(os.environ["DATABASE_OWNER_URL"]))
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    default.close()
    default.settings_dict.update(_credentials(os.environ["DATABASE_URL"]))


def drop_scratch_database() -> None:
    connections.close_all()
    with psycopg.connect(_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)')


def build_tenant(n: int, user: User) -> tuple[Tenant, int]:
    """One tenant's catalogue, default plan, partners and deals; returns the
    tenant and its default plan version's id."""
    currency = CURRENCIES[n % len(CURRENCIES)]
    tenant = Tenant.objects.create(
        name=f"Commission benchmark {n:03d}",
        slug=f"bench-commissions-{n:03d}",
        default_currency=currency,
        is_active=False,
    )
    with tenant_context(tenant), translation.override("en"), transaction.atomic():
        seed_catalogue()
        version = ensure_default_plan()
        types = list(PartnerType.objects.order_by("pk").values_list("pk", flat=True))
        tiers = list(Tier.objects.order_by("rank").values_list("pk", flat=True))
        with connection.cursor() as cursor:
            cursor.execute(
                _PARTNERS_SQL,
                {
                    "tenant": tenant.pk,
                    "currency": currency,
                    "types": types,
                    "tiers": tiers,
                    "partners": PARTNERS,
                },
            )
            partners = list(PartnerOrganization.objects.order_by("pk").values_list("pk", flat=True))
            cursor.execute(
                _DEALS_SQL,
                {
                    "tenant": tenant.pk,
                    "currency": currency,
                    "partners": partners,
                    "user": user.pk,
                    "deals": DEALS_PER_TENANT,
                },
            )
    return tenant, version.pk


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def ledger_counts(tenants: list[Tenant]) -> tuple[int, int]:
    transactions = entries = 0
    for tenant in tenants:
        with tenant_context(tenant):
            transactions += LedgerTransaction.objects.count()
            entries += LedgerEntry.objects.count()
    return transactions, entries


def ledger_floor(tenants: list[Tenant], versions: dict[int, int]) -> tuple[float, int]:
    """Seconds for SQL alone to post the same earnings into the real ledger,
    triggers and deferred foreign keys checked; every tenant rolled back."""
    seconds, posted = 0.0, 0
    for tenant in tenants:
        with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(_LEDGER_SQL, [versions[tenant.pk]])
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            seconds += time.perf_counter() - started
            posted += LedgerTransaction.objects.filter(
                idempotency_key__startswith="bench-floor:"
            ).count()
            transaction.set_rollback(True)
    return seconds, posted


def run(tenants: list[Tenant], versions: dict[int, int]) -> int:
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    posted = 0
    for tenant in tenants:
        with tenant_context(tenant):
            posted += run_commission_job()["earnings_posted"]
    job_seconds = time.perf_counter() - started
    rss_after = peak_rss_mb()
    transactions, entries = ledger_counts(tenants)

    started = time.perf_counter()
    reposted = 0
    for tenant in tenants:
        with tenant_context(tenant):
            reposted += run_commission_job()["earnings_posted"]
    rerun_seconds = time.perf_counter() - started
    again = ledger_counts(tenants)

    started = time.perf_counter()
    rows = 0
    for tenant in tenants:
        with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_LIMIT_SQL, [versions[tenant.pk]])
            rows += cursor.rowcount
    sql_seconds = time.perf_counter() - started

    floor_seconds, floor_posted = ledger_floor(tenants, versions)

    disagreements = 0
    for tenant in tenants:
        with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_DISAGREEMENTS_SQL, [tenant.pk])
            disagreements += cursor.fetchone()[0]

    deals = DEALS_PER_TENANT * len(tenants)
    print(
        f"Commission job: {deals:,} closed-won deals for {PARTNERS * len(tenants):,} partners "
        f"across {len(tenants)} tenants (default plan: tier rate on first-year value), "
        f"chunks of {CHUNK_SIZE:,}"
    )
    print(
        f"  {'sql: one INSERT … SELECT per tenant into a scratch table':<60} "
        f"{sql_seconds:>8.1f} s  {rows / sql_seconds:>9,.0f} deals/s"
    )
    print(
        f"  {'sql into the real ledger: keys, entries, markers, triggers':<60} "
        f"{floor_seconds:>8.1f} s  {floor_posted / floor_seconds:>9,.0f} deals/s  "
        f"(rolled back)"
    )
    print(
        f"  {'job: run_commission_job() per tenant (facts, engine, ledger)':<60} "
        f"{job_seconds:>8.1f} s  {deals / job_seconds:>9,.0f} deals/s"
    )
    print(
        f"  job_seconds / sql_seconds = {job_seconds / sql_seconds:.2f}  (target ≤ 1.5); "
        f"job / sql into the ledger = {job_seconds / floor_seconds:.2f}"
    )
    print(
        f"  posted {posted:,} transactions, {entries:,} entries; "
        f"the job and the SQL disagree on {disagreements:,} deals"
    )
    print(
        f"  rerun: {reposted:,} new transactions, "
        f"{again[1] - entries:,} new entries in {rerun_seconds:.1f} s"
    )
    print(f"  peak RSS: {rss_before:,.0f} MB before the job, {rss_after:,.0f} MB after (< 500 MB)")
    ok = (
        reposted == 0
        and again == (transactions, entries)
        and disagreements == 0
        and rows == deals
        and posted == deals
        and floor_posted == deals
        and rss_after < 500
    )
    return 0 if ok else 1


def main() -> int:
    started = time.perf_counter()
    create_scratch_database()
    try:
        user = User.objects.create(email="bench-commissions@bench.example", full_name="Bench")
        tenants: list[Tenant] = []
        versions: dict[int, int] = {}
        for n in range(TENANTS):
            tenant, version_id = build_tenant(n, user)
            tenants.append(tenant)
            versions[tenant.pk] = version_id
        as_owner("ANALYZE")  # fresh planner statistics, as a live database has
        print(f"(scratch database {SCRATCH_DB} built in {time.perf_counter() - started:.0f} s)")
        return run(tenants, versions)
    finally:
        drop_scratch_database()


if __name__ == "__main__":
    sys.exit(main())
