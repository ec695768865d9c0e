"""Replay corrections under concurrency (real transactions, a second session):
a correction holds the tenant's correction lock and the rows of the deals it
corrects until it commits, so a second correction (of any period) waits and
then finds nothing left, and the nightly clawback leaves those deals for its
next run, when it mirrors the correction too."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection, transaction

from deals import services as deal_services
from deals.models import DealRegistration
from incentives.commissions import run_commission_job
from incentives.payouts.replay import CORRECTION_LOCK, correct_period, replay_period
from prm.ledger.models import Kind, LedgerTransaction, SourceType
from prm.tenancy.context import tenant_context
from tests.replay.conftest import CORRECTED_ON, NOVEMBER_20, D

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def other_session(tenant) -> Iterator[psycopg.Connection]:
    """A second database session as the app role, bound to ``tenant``."""
    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
        autocommit=True,
    )
    try:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant.pk)])
        yield conn
    finally:
        conn.close()


def try_lock(session: psycopg.Connection, tenant_id: int) -> bool:
    row = session.execute(
        "SELECT pg_try_advisory_xact_lock(%s, %s)", [CORRECTION_LOCK, tenant_id]
    ).fetchone()
    assert row is not None
    return bool(row[0])


def free_deals(session: psycopg.Connection, ids: list[int]) -> list[int]:
    """The deals among ``ids`` nobody holds (what ``SKIP LOCKED`` would take)."""
    table = DealRegistration._meta.db_table
    rows = session.execute(
        f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED",  # noqa: S608
        [ids],
    ).fetchall()
    return [row[0] for row in rows]


def in_thread(tenant, work) -> tuple[threading.Thread, dict]:
    """Run ``work()`` for ``tenant`` in a thread, on its own database connection."""
    outcome: dict = {}

    def run() -> None:
        try:
            with tenant_context(tenant):
                outcome["result"] = work()
        except Exception as error:  # reported by the test
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def correct(world, period, today=CORRECTED_ON) -> int:
    return correct_period(
        period=period,
        membership=world.finance,
        actor=world.finance.user,
        reason="Replay",
        today=today,
    )


def test_a_correction_holds_the_tenants_lock_and_its_deals_until_it_commits(world, closed):
    corrected, untouched = world.deals  # Huatong 20,000 and Lianhe 10,000
    ids = [corrected.pk, untouched.pk]
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=corrected.pk).update(final_amount=D("24000.00"))
    with other_session(world.tenant) as other:
        assert try_lock(other, world.tenant.pk)
        with tenant_context(world.tenant), transaction.atomic():
            assert correct(world, closed) == 1
            assert not try_lock(other, world.tenant.pk)
            assert try_lock(other, world.tenant.pk + 1)  # per tenant
            assert free_deals(other, ids) == [untouched.pk]
        assert try_lock(other, world.tenant.pk)
        assert free_deals(other, ids) == sorted(ids)


def test_a_second_correction_waits_for_the_first_and_posts_nothing(world, shared_source):
    deal = shared_source.deal
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=deal.pk).update(final_amount=D("24000.00"))
    with other_session(world.tenant) as watcher:
        with tenant_context(world.tenant), transaction.atomic():
            assert correct(world, shared_source.september, today=NOVEMBER_20) == 1
            thread, outcome = in_thread(
                world.tenant,
                lambda: correct(world, shared_source.october, today=NOVEMBER_20),
            )
            # The October correction waits on the lock while September's is uncommitted.
            deadline = time.monotonic() + 20
            while not watcher.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()[0]:
                assert thread.is_alive(), outcome
                assert time.monotonic() < deadline, "the second correction did not wait"
                time.sleep(0.05)
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome == {"result": 0}
    with tenant_context(world.tenant):
        assert (
            LedgerTransaction.objects.filter(idempotency_key__startswith="correction:").count() == 1
        )
        for period in (shared_source.september, shared_source.october):
            assert replay_period(period=period, membership=world.finance).rows == []


def test_the_nightly_clawback_leaves_a_deal_being_corrected_for_its_next_run(world, closed):
    deal = world.deals[0]  # Huatong, 20,000: 5,000 posted
    with tenant_context(world.tenant):
        DealRegistration.objects.filter(pk=deal.pk).update(final_amount=D("24000.00"))
        deal_services.reverse_closed_won(
            deal=DealRegistration.objects.get(pk=deal.pk),
            membership=world.manager,
            actor=world.manager.user,
            reason="Customer refunded",
        )
    with tenant_context(world.tenant), transaction.atomic():
        # Reversed, clawback not yet run: 6,000 is expected, 1,000 more is posted.
        assert correct(world, closed) == 1
        thread, outcome = in_thread(world.tenant, run_commission_job)
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert "error" not in outcome, outcome
        assert outcome["result"]["clawbacks_posted"] == 0  # the deal is locked
    counts = world.run_job()
    assert counts["clawbacks_posted"] == 2  # the earning and its correction
    with tenant_context(world.tenant):
        mirrored = LedgerTransaction.objects.filter(
            source_type=SourceType.DEAL, source_id=deal.pk, kind=Kind.CLAWBACK
        )
        assert mirrored.count() == 2
        assert replay_period(period=closed, membership=world.finance).rows == []
