"""What fail-closed tenancy costs per query.

Every query the application makes runs as the RLS-bound app role, through the
tenant manager, with ``app.tenant_id`` set for its transaction by
``prm.db.backend``. This benchmark reads one partner by primary key, the most
common query shape, several ways in the same run against the same database:

* ``baseline``: the ORM in one transaction per "request" of 10 queries with
  the tenant set *by hand* once per transaction and the backend's tenant
  wrapper switched off — the least any RLS-backed design must do;
* ``orm_request``: the same with the production path (``ATOMIC_REQUESTS``):
  the backend's wrapper checks the tenant before every statement and sets it
  once per transaction — the ratio to the baseline is what the wrapper costs;
* ``orm_autocommit``: the ORM outside a transaction, so the wrapper puts each
  query in its own short transaction (what a management command does);
* ``raw``: plain psycopg on the same connection, ``set_config`` + ``SELECT``
  per transaction, for scale (no ORM at all).

It prints queries per second and each variant's ratio to the baseline.
Run it with ``make bench`` (needs the demo data: ``make seed``).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.dev")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from partners.models import PartnerOrganization  # noqa: E402
from prm.tenancy.context import tenant_context  # noqa: E402
from prm.tenancy.models import Tenant  # noqa: E402

QUERIES = int(os.environ.get("BENCH_QUERIES", "3000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PER_REQUEST = 10


def timed(body) -> float:
    """Best-of-ROUNDS queries per second (the least disturbed round)."""
    rates = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        body()
        rates.append(QUERIES / (time.perf_counter() - started))
    return max(rates)


def main() -> int:
    tenant = Tenant.objects.order_by("pk").first()
    if tenant is None:
        print("No tenant found: run `make seed` first.", file=sys.stderr)
        return 1
    with tenant_context(tenant):
        ids = list(PartnerOrganization.objects.values_list("pk", flat=True))
    if not ids:
        print("No partners found: run `make seed` first.", file=sys.stderr)
        return 1

    connection.ensure_connection()
    raw = connection.connection  # the same psycopg connection, app role

    def read(n: int) -> None:
        PartnerOrganization.objects.filter(pk=ids[n % len(ids)]).values_list(
            "id", "legal_name", "tier_id"
        ).first()

    def baseline() -> None:
        wrapper = connection.execute_wrappers.pop(0)
        try:
            with tenant_context(tenant):
                for start in range(0, QUERIES, PER_REQUEST):
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)]
                        )
                        for n in range(start, start + PER_REQUEST):
                            read(n)
        finally:
            connection.execute_wrappers.insert(0, wrapper)

    def raw_psycopg() -> None:
        for n in range(QUERIES):
            with raw.transaction(), raw.cursor() as cursor:
                cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
                cursor.execute(
                    "SELECT id, legal_name, tier_id FROM partners_partnerorganization "
                    "WHERE id = %s",
                    [ids[n % len(ids)]],
                )
                cursor.fetchall()

    def orm_autocommit() -> None:
        with tenant_context(tenant):
            for n in range(QUERIES):
                read(n)

    def orm_request() -> None:
        with tenant_context(tenant):
            for start in range(0, QUERIES, PER_REQUEST):
                with transaction.atomic():
                    for n in range(start, start + PER_REQUEST):
                        read(n)

    assert connection.get_autocommit()
    results = {
        f"baseline: ORM, tenant set by hand per {PER_REQUEST} queries": timed(baseline),
        f"ORM + tenant wrapper, a transaction per {PER_REQUEST}": timed(orm_request),
        "ORM + tenant wrapper, autocommit": timed(orm_autocommit),
        "raw psycopg, set_config + SELECT per transaction": timed(raw_psycopg),
    }
    base = next(iter(results.values()))
    print(f"Tenancy overhead: {QUERIES} primary-key reads, best of {ROUNDS} rounds")
    for name, rate in results.items():
        print(f"  {name:<52} {rate:>7,.0f} queries/s  ratio {rate / base:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
