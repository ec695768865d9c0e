"""What PostgreSQL itself guarantees about the ledger, proved with raw SQL as the
RLS-bound application role (and, for the triggers, as the owner role)."""

from __future__ import annotations

from decimal import Decimal

import dj_database_url
import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, IntegrityError, ProgrammingError, connection, transaction

from prm.ledger.models import LedgerEntry, LedgerTransaction
from prm.tenancy.context import tenant_context
from tests.ledger.conftest import check_deferred_constraints, earning

pytestmark = pytest.mark.django_db


def insert_transaction(
    tenant_id: int, *, key: str, currency: str = "CNY", partner_id: int | None = None
) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (tenant_id, partner_id, source_type, source_id, "
            "kind, currency, effective_date, period_key, explanation, idempotency_key, memo, "
            "created_at) VALUES (%s, %s, 'deal', 1, 'commission', %s, '2026-11-03', '', "
            "'{}'::jsonb, %s, '', now()) RETURNING id",
            [tenant_id, partner_id, currency, key],
        )
        return cursor.fetchone()[0]


def insert_entry(
    tenant_id: int,
    tx_id: int,
    amount: str,
    *,
    account: str = "commission_expense",
    currency: str = "CNY",
    partner_id: int | None = None,
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_entry (tenant_id, transaction_id, account, partner_id, currency, "
            "amount, created_at) VALUES (%s, %s, %s, %s, %s, %s, now())",
            [tenant_id, tx_id, account, partner_id, currency, Decimal(amount)],
        )


def insert_entries(
    tenant_id: int, tx_id: int, entries: list[tuple[str, str]], *, partner_id: int | None = None
) -> None:
    """``(amount, currency)`` entries of one transaction in one INSERT statement,
    alternating debit and credit accounts."""
    accounts = ["commission_expense", "partner_payable"]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_entry (tenant_id, transaction_id, account, partner_id, currency, "
            "amount, created_at) SELECT %s, %s, e.account, %s, e.currency, e.amount, now() "
            "FROM unnest(%s::text[], %s::text[], %s::numeric[]) AS e(account, currency, amount)",
            [
                tenant_id,
                tx_id,
                partner_id,
                [accounts[n % 2] for n in range(len(entries))],
                [currency for _amount, currency in entries],
                [Decimal(amount) for amount, _currency in entries],
            ],
        )


def raw_transaction(tenant, key: str, entries: list[tuple[str, str]], **kwargs) -> int:
    """A transaction and its ``(amount, currency)`` entries, written with raw SQL
    (the entries in one statement, as ``post_many`` writes them)."""
    tx_id = insert_transaction(tenant.pk, key=key, **kwargs)
    if entries:
        insert_entries(tenant.pk, tx_id, entries, partner_id=kwargs.get("partner_id"))
    return tx_id


# --- balance: per statement for entries, at commit for transactions ---------------


@pytest.mark.django_db(transaction=True)
def test_unbalanced_entries_are_refused_by_the_statement_that_writes_them(tenant_a):
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="does not balance"):
            with transaction.atomic():
                raw_transaction(tenant_a, "k1", [("100.00", "CNY"), ("-99.99", "CNY")])
        assert LedgerTransaction.objects.count() == 0
        assert LedgerEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_entries_of_one_transaction_written_one_by_one_are_refused(tenant_a):
    """Each statement must leave its transactions balanced: the first of two
    separate single-entry INSERTs already fails."""
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="has 1 entries"):
            with transaction.atomic():
                tx_id = insert_transaction(tenant_a.pk, key="k1")
                insert_entry(tenant_a.pk, tx_id, "100.00")
        assert LedgerTransaction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_entries_written_before_their_transaction_are_checked_at_commit(tenant_a):
    """The foreign key is deferred, so entries may come first; the transaction's
    own deferred check then sees them."""
    with tenant_context(tenant_a), connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('ledger_transaction', 'id'))")
        tx_id = cursor.fetchone()[0]
        with pytest.raises(IntegrityError, match="does not balance"):
            with transaction.atomic():
                insert_entries(tenant_a.pk, tx_id, [("100.00", "CNY"), ("-90.00", "CNY")])
                cursor.execute(
                    "INSERT INTO ledger_transaction (id, tenant_id, source_type, source_id, "
                    "kind, currency, effective_date, period_key, explanation, idempotency_key, "
                    "memo, created_at) VALUES (%s, %s, 'deal', 1, 'commission', 'CNY', "
                    "'2026-11-03', '', '{}'::jsonb, 'k1', '', now())",
                    [tx_id, tenant_a.pk],
                )
        assert LedgerTransaction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_balanced_transaction_commits_and_stays(tenant_a):
    with tenant_context(tenant_a):
        with transaction.atomic():
            tx_id = raw_transaction(tenant_a, "k1", [("100.00", "CNY"), ("-100.00", "CNY")])
        assert LedgerTransaction.objects.get().pk == tx_id
        assert LedgerEntry.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_entries_cannot_be_added_to_a_committed_transaction_even_balanced(tenant_a):
    with tenant_context(tenant_a):
        with transaction.atomic():
            tx_id = raw_transaction(tenant_a, "k1", [("100.00", "CNY"), ("-100.00", "CNY")])
        with pytest.raises(IntegrityError, match="does not balance|already has entries"):
            with transaction.atomic():
                insert_entry(tenant_a.pk, tx_id, "5.00")
        # Two lines that cancel out would hide a movement inside the transaction.
        with pytest.raises(IntegrityError, match="already has entries"):
            with transaction.atomic():
                insert_entries(tenant_a.pk, tx_id, [("5.00", "CNY"), ("-5.00", "CNY")])
        assert LedgerEntry.objects.filter(transaction_id=tx_id).count() == 2


@pytest.mark.django_db(transaction=True)
def test_entries_written_in_another_savepoint_than_their_transaction_are_checked(tenant_a):
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="does not balance"):
            with transaction.atomic():
                tx_id = insert_transaction(tenant_a.pk, key="k1")
                with transaction.atomic():
                    insert_entries(tenant_a.pk, tx_id, [("10.00", "CNY"), ("-9.00", "CNY")])
        assert LedgerTransaction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_session_that_moved_to_another_tenant_still_has_its_writes_checked(tenant_a, tenant_b):
    with pytest.raises(IntegrityError, match="has 0 entries"):
        with transaction.atomic():
            with tenant_context(tenant_a):
                raw_transaction(tenant_a, "k1", [])
            with tenant_context(tenant_b):
                assert LedgerTransaction.objects.count() == 0
    with transaction.atomic():
        with tenant_context(tenant_a):
            raw_transaction(tenant_a, "k1", [("100.00", "CNY"), ("-100.00", "CNY")])
        with tenant_context(tenant_b):
            assert LedgerTransaction.objects.count() == 0
        # Commits with no tenant active at all.
    with tenant_context(tenant_a):
        assert LedgerTransaction.objects.count() == 1


def test_an_entry_added_after_an_early_check_is_checked_again(tenant_a):
    """Forcing the checks early (SET CONSTRAINTS … IMMEDIATE) does not let a later
    entry of the same transaction, in the same savepoint, slip through."""
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="already has entries"), transaction.atomic():
            tx_id = raw_transaction(tenant_a, "k1", [("100.00", "CNY"), ("-100.00", "CNY")])
            check_deferred_constraints()
            insert_entry(tenant_a.pk, tx_id, "5.00")
            check_deferred_constraints()


def test_entries_must_balance_per_currency_not_just_in_total(tenant_a):
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
            raw_transaction(tenant_a, "k1", [("100.00", "CNY"), ("-100.00", "USD")])
            check_deferred_constraints()


def test_entries_in_another_currency_than_their_transaction_are_refused(tenant_a):
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="is in CNY"), transaction.atomic():
            raw_transaction(
                tenant_a,
                "k1",
                [("10.00", "CNY"), ("-10.00", "CNY"), ("7.00", "USD"), ("-7.00", "USD")],
            )
            check_deferred_constraints()


def test_a_transaction_with_a_single_entry_is_refused(tenant_a):
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="has 1 entries"), transaction.atomic():
            raw_transaction(tenant_a, "k1", [("100.00", "CNY")])
            check_deferred_constraints()


def test_a_transaction_without_entries_is_refused(tenant_a):
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="has 0 entries"), transaction.atomic():
            raw_transaction(tenant_a, "k1", [])
            check_deferred_constraints()


def test_entries_must_name_their_transactions_partner(tenant_a, world):
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="name another partner"), transaction.atomic():
            tx_id = insert_transaction(tenant_a.pk, key="k1", partner_id=world.partner_x.pk)
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO ledger_entry (tenant_id, transaction_id, account, partner_id, "
                    "currency, amount, created_at) VALUES "
                    "(%s, %s, 'commission_expense', %s, 'CNY', 10, now()), "
                    "(%s, %s, 'partner_payable', %s, 'CNY', -10, now())",
                    [tenant_a.pk, tx_id, world.partner_x.pk]
                    + [tenant_a.pk, tx_id, world.partner_y.pk],
                )


def test_a_zero_amount_entry_is_refused(tenant_a):
    with tenant_context(tenant_a):
        with pytest.raises(IntegrityError, match="amount_not_zero"), transaction.atomic():
            raw_transaction(tenant_a, "k1", [("0.00", "CNY"), ("0.00", "CNY")])


def test_entries_are_checked_per_statement_and_transactions_at_commit():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgdeferrable, tginitdeferred, (tgtype & 1) = 1 AS per_row "
            "FROM pg_trigger WHERE tgname LIKE 'ledger_%%balanced'"
        )
        assert sorted(cursor.fetchall()) == [
            ("ledger_entries_balanced", False, False, False),
            ("ledger_transaction_balanced", True, True, True),
        ]


# --- append-only -----------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entry SET amount = amount * 2",
        "DELETE FROM ledger_entry",
        "UPDATE ledger_transaction SET memo = 'edited'",
        "DELETE FROM ledger_transaction",
    ],
)
def test_the_app_role_cannot_update_or_delete_posted_rows(tenant_a, world, statement):
    with tenant_context(tenant_a):
        earning(partner=world.partner_x, amount="100.00", key="k1")
        with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
        assert sorted(LedgerEntry.objects.values_list("amount", flat=True)) == [
            Decimal("-100.00"),
            Decimal("100.00"),
        ]
        assert LedgerTransaction.objects.get().memo == ""


def owner_connection(tenant) -> psycopg.Connection:
    """A session as the owner role (not the app role), bound to ``tenant`` for RLS."""
    owner = dj_database_url.parse(settings.DATABASE_OWNER_URL)
    conn = psycopg.connect(
        host=owner["HOST"],
        port=owner["PORT"] or 5432,
        user=owner["USER"],
        password=owner["PASSWORD"],
        dbname=connection.settings_dict["NAME"],
    )
    conn.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant.pk)])
    return conn


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entry SET amount = amount * 2",
        "DELETE FROM ledger_entry",
        "UPDATE ledger_transaction SET memo = 'edited'",
        "DELETE FROM ledger_transaction",
    ],
)
def test_triggers_refuse_update_and_delete_even_for_the_owner(tenant_a, world, statement):
    with tenant_context(tenant_a):
        earning(partner=world.partner_x, amount="100.00", key="k1")
    with owner_connection(tenant_a) as owner:
        assert owner.execute("SELECT count(*) FROM ledger_entry").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute(statement)
    with tenant_context(tenant_a):
        assert LedgerEntry.objects.count() == 2
        assert LedgerTransaction.objects.get().memo == ""


# --- tenant isolation --------------------------------------------------------------


def test_raw_sql_sees_only_the_active_tenants_ledger(tenant_a, tenant_b, world, partner_b):
    with tenant_context(tenant_a):
        earning(partner=world.partner_x, amount="100.00", key="shared-key")
        check_deferred_constraints()
    with tenant_context(tenant_b):
        # The same key is free in another tenant: keys are unique per tenant.
        earning(partner=partner_b, amount="7.00", key="shared-key", currency="MYR")
        check_deferred_constraints()
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT tenant_id FROM ledger_transaction")
            assert cursor.fetchall() == [(tenant_b.pk,)]
            cursor.execute("SELECT sum(abs(amount)) FROM ledger_entry")
            assert cursor.fetchone() == (Decimal("14.00"),)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_entry")
        assert cursor.fetchone() == (0,)


def test_raw_sql_cannot_post_into_another_tenant(tenant_a, tenant_b):
    with tenant_context(tenant_b):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            insert_transaction(tenant_a.pk, key="sneaky")


def test_an_entry_cannot_point_at_another_tenants_transaction(tenant_a, tenant_b, world):
    with tenant_context(tenant_a):
        theirs, _ = earning(partner=world.partner_x, amount="10.00", key="k1")
    with tenant_context(tenant_b):
        with pytest.raises(IntegrityError), transaction.atomic():
            insert_entry(tenant_b.pk, theirs.pk, "10.00")
            insert_entry(tenant_b.pk, theirs.pk, "-10.00")
            check_deferred_constraints()
