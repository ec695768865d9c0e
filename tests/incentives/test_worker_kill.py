"""Kill the nightly commission job halfway with SIGKILL, rerun it on a new
worker, and find every deal's earnings posted exactly once.

End to end with a real ``celery -A prm worker`` process, the real Redis broker
and this run's test database (connected as the RLS-bound app role); the rows
are committed (transactional test) so the worker sees them.

The kill lands at a known point, whatever the machine's speed: before the job
starts, the test posts (and keeps uncommitted) a ledger transaction under the
idempotency key the *last* deal's earning will use. The job commits its
earlier chunks, then its insert of that key waits on the test's open
transaction, so the worker is provably stuck in the middle of a chunk when it
is killed. The test then rolls its transaction back, waits until the killed
worker's database sessions are gone (their uncommitted chunk rolls back with
them), starts a second worker and runs the job again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from deals.models import DealRegistration
from incentives.commissions import CHUNK_SIZE
from incentives.engine import earnings_for_deal, under_plans
from incentives.models import Computation
from incentives.selectors import deal_facts_for, plans_in_force
from prm.celery import app as celery_app
from prm.jobs.models import JobRun
from prm.jobs.runner import STALE_AFTER, mark_interrupted
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction, SourceType
from prm.ledger.postings import idempotency_key
from prm.ledger.services import Line, post
from prm.tenancy.context import tenant_context
from tests.incentives.test_commission_job import plan  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent.parent
DEADLINE_SECONDS = 180
TASK = "incentives.tasks.compute_commissions"
JOB = "incentives.compute_commissions"
CLOSED_ON = date(2026, 3, 10)
DEALS = 3 * CHUNK_SIZE  # several chunks: some commit before the kill, one is cut off


# --- the worker -------------------------------------------------------------------------


WORKER_APP_NAME = "prm-worker-kill-test"


def _worker_env() -> dict[str, str]:
    db = connection.settings_dict  # this run's test database, as the app role
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "prm.settings.test",
        "DATABASE_URL": (
            f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
            f"@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "PYTHONUNBUFFERED": "1",
        # libpq names the workers' sessions, so the test watches only theirs
        # (earlier tests may leave idle sessions of their own on this database).
        "PGAPPNAME": WORKER_APP_NAME,
    }
    env.pop("PRM_DB_AS_OWNER", None)
    return env  # PRM_TEST_REDIS_DB is inherited: the worker uses this run's broker


class Worker:
    """One ``celery -A prm worker`` process in a process group of its own."""

    def __init__(self) -> None:
        self.log = Path(tempfile.mkstemp(prefix="prm-kill-worker-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "prm",
                    "worker",
                    "--pool",
                    "solo",
                    "--loglevel",
                    "info",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--hostname",
                    f"kill-{uuid.uuid4().hex[:8]}@%h",
                ],
                cwd=ROOT,
                env=_worker_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: no shutdown handler, no ack, no rollback sent."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.unlink(missing_ok=True)


@pytest.fixture
def workers() -> Iterator[Callable[[], Worker]]:
    """Starts workers on demand; all of them are stopped afterwards, and the
    broker (this run's own Redis database) is emptied, including the message
    the killed worker took and never acknowledged."""
    started: list[Worker] = []

    def start() -> Worker:
        started.append(Worker())
        return started[-1]

    celery_app.control.purge()
    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
        cache.clear()  # flushes this run's Redis database (broker and cache)


def wait_for(predicate: Callable[[], Any], worker: Worker | None, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker is not None and not worker.alive():
            pytest.fail(f"the worker exited ({worker.process.returncode}):\n{worker.output()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}:\n{worker.output() if worker else ''}")


# --- the database ---------------------------------------------------------------------


def other_sessions() -> set[int]:
    """The workers' backends on this test database (named by ``PGAPPNAME``)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND application_name = %s",
            [WORKER_APP_NAME],
        )
        return {pid for (pid,) in cursor.fetchall()}


def sessions_waiting_on_a_lock() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            " AND application_name = %s",
            [WORKER_APP_NAME],
        )
        return {pid for (pid,) in cursor.fetchall()}


def seed_deals(world) -> None:
    """``DEALS`` closed-won deals of the Gold reseller, amounts all different."""
    rows = [
        DealRegistration(
            tenant=world.tenant,
            reference=f"KILL-{n:06d}",
            partner=world.partner,
            registered_by=world.rep.user,
            customer_company=f"Customer {n}",
            normalized_name=f"customer {n}",
            contact_name="Li Na",
            contact_email=f"buyer{n}@customer{n}.cn",
            email_domain=f"customer{n}.cn",
            country="CN",
            estimated_close_date=CLOSED_ON,
            currency="CNY",
            stage=DealRegistration.Stage.CLOSED_WON,
            final_amount=Decimal(1000 + 7 * n) + Decimal(n % 100) / 100,
            closed_on=CLOSED_ON,
            contract_term_months=12 if n % 2 else 24,
        )
        for n in range(DEALS)
    ]
    DealRegistration.objects.bulk_create(rows)


def expected_earnings() -> dict[str, tuple[int, Decimal]]:
    """Idempotency key → (deal id, what the partner is owed), from the engine."""
    expected = {}
    for facts in deal_facts_for(DealRegistration.objects.all()):
        for line in under_plans(plans_in_force(on=facts.closed_on), earnings_for_deal, facts):
            if line.amount:
                key = idempotency_key(
                    source_type=SourceType.DEAL,
                    source_id=line.source_id,
                    rule_id=line.rule_id,
                    kind=line.kind,
                )
                expected[key] = (line.source_id, line.amount)
    return expected


def posted_earnings() -> dict[str, tuple[int, int, Decimal]]:
    """Idempotency key → (deal id, transactions under it, owed) as posted."""
    rows = (
        LedgerTransaction.objects.filter(source_type=SourceType.DEAL)
        .values("idempotency_key", "source_id")
        .annotate(
            n=Count("id", distinct=True),
            payable=Sum("entries__amount", filter=Q(entries__account=Account.PARTNER_PAYABLE)),
        )
    )
    return {row["idempotency_key"]: (row["source_id"], row["n"], -row["payable"]) for row in rows}


def runs() -> list[JobRun]:
    return list(JobRun.objects.filter(job=JOB).order_by("started_at", "id"))


class _RollBack(Exception):
    pass


# --- the test ---------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_commission_job_resumes_and_posts_every_deal_exactly_once(
    plan_world,
    plan,  # noqa: F811
    workers,
):
    world = plan_world
    with tenant_context(world.tenant):
        seed_deals(world)
        expected = expected_earnings()
        # Gold 26 % of first-year value, by hand: one earning per deal.
        by_hand = {
            deal.pk: (
                deal.final_amount * 12 / deal.contract_term_months * Decimal("0.26")
            ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            for deal in DealRegistration.objects.all()
        }
    assert len(by_hand) == DEALS
    assert sorted(expected.values()) == sorted(by_hand.items())
    hand = sum(by_hand.values(), Decimal("0"))
    last_key = max(expected, key=lambda key: expected[key][0])
    kwargs = {"tenant_id": world.tenant.pk}

    # Run 1: the worker commits chunks, then waits on the last deal's key; kill it there.
    first = workers()
    try:
        with tenant_context(world.tenant), transaction.atomic():
            post(
                key=last_key,
                kind=Kind.COMMISSION,
                source_type=SourceType.DEAL,
                source_id=expected[last_key][0],
                currency="CNY",
                effective_date=CLOSED_ON,
                lines=[
                    Line(account=Account.COMMISSION_EXPENSE, amount=Decimal("1.00")),
                    Line(account=Account.PARTNER_PAYABLE, amount=Decimal("-1.00")),
                ],
                partner=world.partner,
            )
            celery_app.send_task(TASK, kwargs=kwargs)
            # Each poll is its own statement: it sees what the worker committed.
            stuck = wait_for(
                lambda: Computation.objects.exists() and sessions_waiting_on_a_lock(),
                first,
                "the job to commit a chunk and wait on the last deal",
            )
            committed = Computation.objects.count()
            assert 0 < committed < DEALS
            assert [r.status for r in runs()] == [JobRun.Status.RUNNING]
            killed_sessions = other_sessions()
            assert stuck <= killed_sessions
            first.kill()
            raise _RollBack
    except _RollBack:
        pass
    # The killed worker's sessions end; the chunk it had in flight rolls back.
    wait_for(lambda: not (killed_sessions & other_sessions()), None, "the killed sessions to end")

    with tenant_context(world.tenant):
        assert Computation.objects.count() == committed
        done = set(Computation.objects.values_list("source_id", flat=True))
        posted = posted_earnings()
        assert {deal for deal, _, _ in posted.values()} == done  # nothing half-posted
        assert all(n == 1 for _, n, _ in posted.values())
        [killed] = runs()
        assert killed.status == JobRun.Status.RUNNING and killed.finished_at is None
        assert killed.progress_done <= committed

    # Run 2 on a new worker picks up where the committed chunks ended.
    second = workers()
    result = celery_app.send_task(TASK, kwargs=kwargs)
    rerun_id = wait_for(lambda: result.ready() and result.get(), second, "the rerun")
    with tenant_context(world.tenant):
        killed, rerun = runs()
        assert rerun.pk == rerun_id
        assert rerun.status == JobRun.Status.SUCCEEDED and rerun.finished_at is not None
        # The killed run stays "running" until it has been silent for
        # STALE_AFTER; then the next sweep marks it interrupted.
        assert killed.status == JobRun.Status.RUNNING
        assert mark_interrupted(now=timezone.now() + STALE_AFTER) == 1
        killed.refresh_from_db()
        assert killed.status == JobRun.Status.INTERRUPTED and killed.finished_at is not None
        rerun.refresh_from_db()
        assert rerun.status == JobRun.Status.SUCCEEDED
        assert rerun.counts["deals"] == DEALS - committed
        assert rerun.counts["earnings_posted"] == DEALS - committed
        assert not rerun.counts.get("clawbacks_posted")
        assert Computation.objects.count() == DEALS

        # Every deal: exactly its expected earning, once, for the expected amount.
        posted = posted_earnings()
        assert {key: (deal, amount) for key, (deal, _, amount) in posted.items()} == expected
        assert all(n == 1 for _, n, _ in posted.values())
        owed = LedgerEntry.objects.filter(account=Account.PARTNER_PAYABLE).aggregate(
            total=Sum("amount")
        )["total"]
        assert -owed == hand
        entry_count = LedgerEntry.objects.count()
        assert entry_count == 2 * DEALS

    # Run 3 finds nothing to do.
    result = celery_app.send_task(TASK, kwargs=kwargs)
    third_id = wait_for(lambda: result.ready() and result.get(), second, "the third run")
    with tenant_context(world.tenant):
        *_, third = runs()
        assert third.pk == third_id and third.status == JobRun.Status.SUCCEEDED
        assert not any(third.counts.values()), third.counts
        assert LedgerEntry.objects.count() == entry_count
        assert Computation.objects.count() == DEALS
    assert second.alive()
