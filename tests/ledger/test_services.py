"""Posting, idempotency, set-based posting, reversal and manual adjustments."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from prm.audit.models import AuditEvent
from prm.errors import Conflict, PermissionDenied
from prm.ledger import selectors
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction, SourceType
from prm.ledger.services import (
    LedgerError,
    Line,
    Posting,
    idempotency_key,
    post,
    post_adjustment,
    post_many,
    reverse,
)
from prm.tenancy.context import tenant_context
from tests.ledger.conftest import (
    DAY,
    check_deferred_constraints,
    earning,
    earning_lines,
    earning_posting,
)

pytestmark = pytest.mark.django_db


def entries_of(tx: LedgerTransaction) -> list[tuple[str, Decimal, str, int | None]]:
    return sorted(
        (entry.account, entry.amount, entry.currency, entry.partner_id)
        for entry in LedgerEntry.objects.filter(transaction=tx)
    )


# --- post -----------------------------------------------------------------------


def test_post_records_a_balanced_transaction_with_its_explanation(world):
    with tenant_context(world.tenant):
        key = idempotency_key(
            source_type=SourceType.DEAL, source_id=41, rule_id=7, kind=Kind.COMMISSION
        )
        tx, created = post(
            key=key,
            kind=Kind.COMMISSION,
            source_type=SourceType.DEAL,
            source_id=41,
            currency="CNY",
            effective_date=DAY,
            lines=earning_lines(Decimal("2400.00")),
            partner=world.partner_x,
            explanation={"base": Decimal("12000.00"), "rate": Decimal("0.20"), "tier": "bronze"},
            rule_id=7,
            plan_version_id=3,
            actor=world.finance.user,
        )
        check_deferred_constraints()
        assert created
        assert key == "deal:41:7:commission:-"
        stored = LedgerTransaction.objects.get()
        assert stored.pk == tx.pk
        assert (stored.rule_id, stored.plan_version_id, stored.created_by_id) == (
            7,
            3,
            world.finance.user.pk,
        )
        assert stored.explanation == {"base": "12000.00", "rate": "0.20", "tier": "bronze"}
        assert tx.explanation == stored.explanation
        assert tx.created_at == stored.created_at
        assert entries_of(stored) == [
            ("commission_expense", Decimal("2400.00"), "CNY", world.partner_x.pk),
            ("partner_payable", Decimal("-2400.00"), "CNY", world.partner_x.pk),
        ]


def test_posting_the_same_key_twice_records_it_once(world):
    with tenant_context(world.tenant):
        first, created_first = earning(partner=world.partner_x, amount="100.00", key="k1")
        again, created_again = earning(partner=world.partner_x, amount="999.00", key="k1")
        assert (created_first, created_again) == (True, False)
        assert again.pk == first.pk
        assert LedgerTransaction.objects.count() == 1
        assert LedgerEntry.objects.count() == 2
        # The first posting under a key wins.
        assert selectors.payable_balances() == {(world.partner_x.pk, "CNY"): Decimal("100.00")}


@pytest.mark.parametrize(
    "amount",
    [100.0, 100, "100.00", True],
    ids=["float", "int", "str", "bool"],
)
def test_amounts_must_be_decimals(amount):
    with pytest.raises(LedgerError) as refused:
        Line(account=Account.CASH, amount=amount)
    assert refused.value.code == "not_decimal"


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (Decimal("0"), "zero_amount"),
        (Decimal("0.001"), "too_precise"),
        (Decimal("NaN"), "not_finite"),
        (Decimal("1e16"), "too_large"),
        (Decimal("-1e40"), "too_large"),
    ],
)
def test_amounts_must_be_usable_money(amount, code):
    with pytest.raises(LedgerError) as refused:
        Line(account=Account.CASH, amount=amount)
    assert refused.value.code == code


def test_an_unknown_account_is_refused():
    with pytest.raises(LedgerError) as refused:
        Line(account="petty_cash", amount=Decimal("1.00"))
    assert refused.value.code == "unknown_account"


def _refusal(world, **overrides) -> str:
    arguments = {
        "key": "k1",
        "kind": Kind.COMMISSION,
        "source_type": SourceType.DEAL,
        "source_id": 1,
        "currency": "CNY",
        "effective_date": DAY,
        "lines": earning_lines(Decimal("10.00")),
        "partner": world.partner_x,
        **overrides,
    }
    with tenant_context(world.tenant):
        with pytest.raises(LedgerError) as refused:
            post(**arguments)
        assert LedgerTransaction.objects.count() == 0
    return refused.value.code


def test_an_unbalanced_posting_is_refused_before_the_database(world):
    lines = [
        Line(account=Account.COMMISSION_EXPENSE, amount=Decimal("10.00")),
        Line(account=Account.PARTNER_PAYABLE, amount=Decimal("-9.99")),
    ]
    assert _refusal(world, lines=lines) == "unbalanced"


def test_a_single_line_posting_is_refused(world):
    lines = [Line(account=Account.COMMISSION_EXPENSE, amount=Decimal("10.00"))]
    assert _refusal(world, lines=lines) == "too_few_entries"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"explanation": {"rate": 0.2}}, "not_decimal"),
        ({"explanation": {"bands": [{"rate": Decimal("0.1")}, {"rate": 0.15}]}}, "not_decimal"),
        ({"currency": "XXX"}, "unknown_currency"),
        ({"kind": "gift"}, "unknown_kind"),
        ({"source_type": "rumour"}, "unknown_source"),
        ({"key": " "}, "missing_key"),
        ({"key": "k" * 201}, "key_too_long"),
        ({"source_id": "41"}, "invalid_id"),
        ({"effective_date": "2026-11-03"}, "invalid_date"),
    ],
)
def test_malformed_postings_are_refused(world, overrides, code):
    assert _refusal(world, **overrides) == code


def test_a_datetime_is_not_an_effective_date(world):
    from datetime import datetime

    assert _refusal(world, effective_date=datetime(2026, 11, 3, 12, 0)) == "invalid_date"


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_key_record_one_transaction(world):
    """Two sessions post the same key at once: the second one's INSERT waits on
    the first's uncommitted row, then finds it and records nothing."""
    first_inserted = threading.Event()
    may_commit = threading.Event()
    results: dict[str, object] = {}

    def first():
        try:
            with tenant_context(world.tenant), transaction.atomic():
                results["first"] = earning(partner=world.partner_x, amount="10.00", key="race")
                first_inserted.set()
                assert may_commit.wait(timeout=20)
        except Exception as exc:  # the assertions below show it
            results["first"] = exc
            first_inserted.set()
        finally:
            connection.close()

    def second():
        try:
            assert first_inserted.wait(timeout=20)
            with tenant_context(world.tenant):
                results["second"] = earning(partner=world.partner_x, amount="10.00", key="race")
        except Exception as exc:
            results["second"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    # Let the first commit only once the second is really blocked on its row.
    deadline = time.monotonic() + 20
    blocked = False
    while time.monotonic() < deadline and not blocked:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO ledger_transaction%%'"
            )
            blocked = cursor.fetchone()[0] == 1
        time.sleep(0.05)
    may_commit.set()
    for thread in threads:
        thread.join(timeout=30)

    assert blocked
    first_tx, first_created = results["first"]
    second_tx, second_created = results["second"]
    assert (first_created, second_created) == (True, False)
    assert first_tx.pk == second_tx.pk
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.count() == 1
        assert LedgerEntry.objects.count() == 2


# --- post_many ----------------------------------------------------------------


def postings(world, count: int, prefix: str = "deal") -> list[Posting]:
    partners = [world.partner_x.pk, world.partner_y.pk]
    return [
        earning_posting(key=f"{prefix}:{n}", partner_id=partners[n % 2], amount=f"{n + 1}.50")
        for n in range(count)
    ]


def test_post_many_writes_each_posting_once_and_reruns_add_nothing(world):
    with tenant_context(world.tenant):
        assert post_many(postings=postings(world, 5)) == 5
        check_deferred_constraints()
        assert post_many(postings=postings(world, 5)) == 0
        # A rerun that also carries new work writes only the new work.
        assert post_many(postings=postings(world, 8)) == 3
        check_deferred_constraints()
        assert LedgerTransaction.objects.count() == 8
        assert LedgerEntry.objects.count() == 16
        expected_x = sum(Decimal(f"{n + 1}.50") for n in range(0, 8, 2))
        expected_y = sum(Decimal(f"{n + 1}.50") for n in range(1, 8, 2))
        assert selectors.payable_balances() == {
            (world.partner_x.pk, "CNY"): expected_x,
            (world.partner_y.pk, "CNY"): expected_y,
        }
        tx = LedgerTransaction.objects.get(idempotency_key="deal:0")
        assert tx.explanation == {"base": "1000.00", "rate": "0.20"}


def test_post_many_keeps_text_exactly_as_given(world):
    tricky = 'He said "hi" \\ {braces}, NULL, 佣金'
    posting = Posting(
        key=f"deal:1:-:commission:{tricky}",
        kind=Kind.COMMISSION,
        source_type=SourceType.DEAL,
        source_id=None,
        currency="CNY",
        effective_date=DAY,
        lines=earning_lines(Decimal("1.00")),
        partner_id=world.partner_x.pk,
        explanation={"note": tricky, "split": [Decimal("0.70"), None]},
        memo=tricky,
    )
    with tenant_context(world.tenant):
        assert post_many(postings=[posting]) == 1
        check_deferred_constraints()
        stored = LedgerTransaction.objects.get()
        assert (stored.idempotency_key, stored.memo, stored.source_id) == (
            posting.key,
            tricky,
            None,
        )
        assert stored.explanation == {"note": tricky, "split": ["0.70", None]}


def test_post_many_uses_the_same_number_of_statements_for_any_batch(world):
    with tenant_context(world.tenant):
        with CaptureQueriesContext(connection) as small:
            assert post_many(postings=postings(world, 3, prefix="small")) == 3
        with CaptureQueriesContext(connection) as large:
            assert post_many(postings=postings(world, 400, prefix="large")) == 400
        with CaptureQueriesContext(connection) as rerun:
            assert post_many(postings=postings(world, 400, prefix="large")) == 0
        check_deferred_constraints()
    assert len(small) == len(large)
    inserts = [q["sql"] for q in large.captured_queries if q["sql"].lstrip().startswith("INSERT")]
    assert len(inserts) == 2
    # Nothing new: the entries statement is skipped.
    assert len(rerun) == len(large) - 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_sharing_keys_write_each_key_once(world):
    """Two workers post overlapping batches, in opposite orders, at the same time."""
    first = postings(world, 3000, prefix="shared")
    second = list(reversed(postings(world, 4000, prefix="shared")))
    barrier = threading.Barrier(2)
    created: dict[str, object] = {}

    def work(name: str, batch: list[Posting]) -> None:
        try:
            with tenant_context(world.tenant):
                barrier.wait(timeout=10)
                created[name] = post_many(postings=batch)
        except Exception as exc:  # the assertion below shows it
            created[name] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=("first", first)),
        threading.Thread(target=work, args=("second", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(isinstance(count, int) for count in created.values()), created
    assert created["first"] + created["second"] == 4000
    with tenant_context(world.tenant):
        assert LedgerTransaction.objects.count() == 4000
        assert LedgerEntry.objects.count() == 8000


def test_post_many_refuses_a_key_twice_in_one_batch(world):
    batch = postings(world, 2) + postings(world, 1)
    with tenant_context(world.tenant):
        with pytest.raises(LedgerError) as refused:
            post_many(postings=batch)
        assert refused.value.code == "duplicate_key"
        assert LedgerTransaction.objects.count() == 0


def test_post_many_validates_every_posting_before_writing(world):
    batch = postings(world, 3)
    bad = Posting(
        key="bad",
        kind=Kind.COMMISSION,
        source_type=SourceType.DEAL,
        source_id=1,
        currency="CNY",
        effective_date=DAY,
        lines=[
            Line(account=Account.COMMISSION_EXPENSE, amount=Decimal("1.00")),
            Line(account=Account.PARTNER_PAYABLE, amount=Decimal("-2.00")),
        ],
    )
    with tenant_context(world.tenant):
        with pytest.raises(LedgerError):
            post_many(postings=[*batch, bad])
        assert LedgerTransaction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_post_many_commits_ten_thousand_postings_quickly(world):
    batch = [
        earning_posting(key=f"bulk:{n}", partner_id=world.partner_x.pk, amount="12.34")
        for n in range(10_000)
    ]
    with tenant_context(world.tenant):
        started = time.monotonic()
        with CaptureQueriesContext(connection) as queries:
            assert post_many(postings=batch) == 10_000
        elapsed = time.monotonic() - started
        # The commit ran the balance trigger for all 10,000 transactions.
        assert LedgerEntry.objects.count() == 20_000
        assert selectors.payable_balances() == {(world.partner_x.pk, "CNY"): Decimal("123400.00")}
        assert post_many(postings=batch) == 0
    assert len([q for q in queries.captured_queries if q["sql"].lstrip().startswith("INSERT")]) == 2
    assert elapsed < 12, f"10,000 postings took {elapsed:.1f} s"


# --- reverse --------------------------------------------------------------------


def test_reverse_posts_the_exact_mirror_once(world):
    with tenant_context(world.tenant):
        original, _ = earning(
            partner=world.partner_x,
            amount="300.00",
            key="deal:9:1:commission:-",
            rule_id=1,
            plan_version_id=2,
            explanation={"base": Decimal("1500.00"), "rate": Decimal("0.20")},
        )
        original = LedgerTransaction.objects.get(pk=original.pk)
        mirror, created = reverse(
            transaction=original,
            key="deal:9:1:clawback:-",
            effective_date=date(2026, 12, 1),
            memo="Deal reversed: customer cancelled",
            actor=world.finance.user,
        )
        check_deferred_constraints()
        assert created
        stored = LedgerTransaction.objects.get(pk=mirror.pk)
        assert stored.reverses_id == original.pk
        assert stored.kind == Kind.CLAWBACK
        assert (stored.source_type, stored.source_id, stored.rule_id, stored.plan_version_id) == (
            SourceType.DEAL,
            1,
            1,
            2,
        )
        assert stored.effective_date == date(2026, 12, 1)
        assert stored.explanation == {
            "reverses": original.pk,
            "original": {"base": "1500.00", "rate": "0.20"},
        }
        assert entries_of(stored) == sorted(
            (account, -amount, currency, partner)
            for account, amount, currency, partner in entries_of(original)
        )
        assert selectors.payable_balances() == {(world.partner_x.pk, "CNY"): Decimal("0.00")}

        again, created_again = reverse(
            transaction=original,
            key="deal:9:1:clawback:-",
            effective_date=date(2026, 12, 1),
            memo="retry",
            actor=None,
        )
        assert (again.pk, created_again) == (mirror.pk, False)
        with pytest.raises(Conflict) as refused:
            reverse(
                transaction=original,
                key="another-key",
                effective_date=date(2026, 12, 2),
                memo="twice",
                actor=None,
            )
        assert refused.value.code == "already_reversed"
        assert LedgerTransaction.objects.count() == 2


def test_a_reversal_is_not_reversed_unless_asked(world):
    with tenant_context(world.tenant):
        original, _ = earning(partner=world.partner_x, amount="50.00", key="k1")
        mirror, _ = reverse(
            transaction=original, key="k1:clawback", effective_date=DAY, memo="reversed"
        )
        with pytest.raises(Conflict) as refused:
            reverse(transaction=mirror, key="k1:reinstate", effective_date=DAY, memo="oops")
        assert refused.value.code == "reversing_a_reversal"
        reinstated, created = reverse(
            transaction=mirror,
            key="k1:reinstate",
            kind=Kind.ADJUSTMENT,
            effective_date=DAY,
            memo="Reversal was a mistake",
            allow_reversing_a_reversal=True,
        )
        check_deferred_constraints()
        assert created and reinstated.reverses_id == mirror.pk
        assert selectors.payable_balances() == {(world.partner_x.pk, "CNY"): Decimal("50.00")}


def test_a_key_used_by_another_transaction_is_not_a_reversal(world):
    with tenant_context(world.tenant):
        original, _ = earning(partner=world.partner_x, amount="50.00", key="k1")
        earning(partner=world.partner_x, amount="20.00", key="k2")
        with pytest.raises(Conflict) as refused:
            reverse(transaction=original, key="k2", effective_date=DAY, memo="wrong key")
        assert refused.value.code == "key_in_use"


# --- manual adjustments ----------------------------------------------------------


def test_finance_posts_an_audited_adjustment(world):
    with tenant_context(world.tenant):
        tx = post_adjustment(
            membership=world.finance,
            actor=world.finance.user,
            partner=world.partner_x,
            currency="CNY",
            amount=Decimal("-80.00"),
            reason="Duplicate payment in October",
            effective_date=DAY,
        )
        check_deferred_constraints()
        stored = LedgerTransaction.objects.get(pk=tx.pk)
        assert (stored.kind, stored.source_type, stored.memo) == (
            Kind.ADJUSTMENT,
            SourceType.ADJUSTMENT,
            "Duplicate payment in October",
        )
        assert stored.created_by_id == world.finance.user.pk
        assert entries_of(stored) == [
            ("adjustment_expense", Decimal("-80.00"), "CNY", world.partner_x.pk),
            ("partner_payable", Decimal("80.00"), "CNY", world.partner_x.pk),
        ]
        assert selectors.payable_balances() == {(world.partner_x.pk, "CNY"): Decimal("-80.00")}
        event = AuditEvent.objects.get()
        assert (event.action, event.object_id, event.actor_id, event.summary) == (
            "ledger.adjustment_posted",
            str(tx.pk),
            world.finance.user.pk,
            "Duplicate payment in October",
        )
        assert event.data["amount"] == "-80.00"


def test_two_identical_adjustments_are_two_transactions_unless_keyed(world):
    arguments = {
        "membership": world.finance,
        "actor": world.finance.user,
        "partner": world.partner_x,
        "currency": "CNY",
        "amount": Decimal("10.00"),
        "reason": "Goodwill",
        "effective_date": DAY,
    }
    with tenant_context(world.tenant):
        post_adjustment(**arguments)
        post_adjustment(**arguments)
        assert LedgerTransaction.objects.count() == 2
        keyed = post_adjustment(**arguments, key="form-token-1")
        assert post_adjustment(**arguments, key="form-token-1").pk == keyed.pk
        assert LedgerTransaction.objects.count() == 3
        assert AuditEvent.objects.count() == 3


@pytest.mark.parametrize("member", ["tenant_admin", "manager", "rep_x"])
def test_only_finance_may_post_adjustments(world, member):
    membership = getattr(world, member)
    with tenant_context(world.tenant):
        with pytest.raises(PermissionDenied):
            post_adjustment(
                membership=membership,
                actor=membership.user,
                partner=world.partner_x,
                currency="CNY",
                amount=Decimal("10.00"),
                reason="Because",
                effective_date=DAY,
            )
        assert LedgerTransaction.objects.count() == 0
        assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("amount", "reason", "code"),
    [
        (Decimal("10.00"), "  ", "reason_required"),
        (10.0, "Because", "not_decimal"),
        (Decimal("0.00"), "Because", "zero_amount"),
    ],
)
def test_an_adjustment_needs_a_reason_and_a_decimal_amount(world, amount, reason, code):
    with tenant_context(world.tenant):
        with pytest.raises(LedgerError) as refused:
            post_adjustment(
                membership=world.finance,
                actor=world.finance.user,
                partner=world.partner_x,
                currency="CNY",
                amount=amount,
                reason=reason,
                effective_date=DAY,
            )
        assert refused.value.code == code
        assert LedgerTransaction.objects.count() == 0
