"""Payment results import as a specification: the happy path marks statements
paid with the provider's reference and posts one ledger payment each; failed
rows are audited and leave the statement unpaid; any invalid row imports
nothing; re-importing the same file is refused; file-level problems; finance only."""

from __future__ import annotations

import codecs
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from incentives import payouts
from incentives.models import PayoutPeriod, Statement
from incentives.payouts import exports, payment_results
from incentives.payouts.payment_results import (
    ImportFileError,
    PaymentResultsInvalid,
    import_payment_results,
    preview_payment_results,
)
from prm.audit.models import AuditEvent
from prm.errors import DomainError, PermissionDenied
from prm.ledger.models import Account, Kind, LedgerEntry, LedgerTransaction
from prm.tenancy.context import tenant_context
from tests.payout_exports.conftest import results_csv

pytestmark = pytest.mark.django_db


def ref(world, partner) -> str:
    return exports.payment_reference(world.statement(partner))


def happy_file(world) -> bytes:
    return results_csv(
        f"{ref(world, world.acme)},2026-10-05,WIRE-88123,paid,2400.55,CNY,",
        f"{ref(world, world.yoyo)},2026-10-06,WIRE-88124,PAID,,,",
        f"{ref(world, world.chinese)},2026-10-05,,failed,,,Account closed",
    )


def payments():
    return LedgerTransaction.objects.filter(kind=Kind.PAYMENT)


def test_importing_results_marks_paid_posts_once_and_records_failures(exports_world):
    world = exports_world
    data = happy_file(world)
    with tenant_context(world.tenant):
        preview = preview_payment_results(period=world.period, membership=world.finance, data=data)
        assert preview.errors == []
        assert (len(preview.paid()), len(preview.failed())) == (2, 1)
        assert not payments().exists()  # the preview writes nothing
        report = import_payment_results(
            period=world.period,
            membership=world.finance,
            actor=world.finance.user,
            text=preview.text,
            filename="results.csv",
        )
        assert [r.statement.partner_id for r in report.paid] == [world.acme.pk, world.yoyo.pk]
        assert [r.statement.partner_id for r in report.failed] == [world.chinese.pk]
        acme, yoyo, chinese = (world.statement(p) for p in (world.acme, world.yoyo, world.chinese))
        assert (acme.status, acme.payment_reference, acme.paid_on) == (
            Statement.Status.PAID,
            "WIRE-88123",
            date(2026, 10, 5),
        )
        assert (yoyo.status, yoyo.payment_reference) == (Statement.Status.PAID, "WIRE-88124")
        assert chinese.status == Statement.Status.CLOSED and not chinese.payment_reference
        assert payments().count() == 2
        payment = payments().get(partner=world.yoyo)
        assert payment.idempotency_key == f"payout:{yoyo.pk}"
        assert payment.currency == "USD"
        entries = dict(
            LedgerEntry.objects.filter(transaction=payment).values_list("account", "amount")
        )
        assert entries == {
            Account.PARTNER_PAYABLE: Decimal("165.10"),
            Account.CASH: Decimal("-165.10"),
        }
        failed = AuditEvent.objects.get(action="payouts.payment_failed")
        assert failed.object_id == str(chinese.pk)
        assert failed.data["message"] == "Account closed"
        assert failed.data["payment_reference"] == ref(world, world.chinese)
        imported = AuditEvent.objects.get(action="payouts.payment_results_imported")
        assert imported.data == {"rows": 3, "paid": [acme.pk, yoyo.pk], "failed": [chinese.pk]}

        # The same file again is refused: its paid rows now name paid statements.
        with pytest.raises(PaymentResultsInvalid) as refused:
            import_payment_results(
                period=world.period,
                membership=world.finance,
                actor=world.finance.user,
                text=preview.text,
            )
        assert {(e["row"], e["field"]) for e in refused.value.errors} == {
            (2, "payment_reference"),
            (3, "payment_reference"),
        }
        assert "already paid" in refused.value.errors[0]["message"]
        assert payments().count() == 2
        assert AuditEvent.objects.filter(action="payouts.payment_failed").count() == 1


def test_a_file_with_any_invalid_row_imports_nothing(exports_world):
    world = exports_world
    today = timezone.localdate()
    data = results_csv(
        f"{ref(world, world.acme)},2026-10-05,WIRE-1,paid,2400.55,CNY,",  # 2: valid
        f"{ref(world, world.yoyo)},2026-10-05,WIRE-2,paid,165.00,USD,",  # 3: amount
        "PO-202609-999999,2026-10-05,WIRE-3,paid,,,",  # 4: unknown statement
        f"{ref(world, world.chinese)},05/10/2026,WIRE-4,paid,,,",  # 5: bad date
        "PO-202610-000001,2026-10-05,WIRE-5,paid,,,",  # 6: another period
        f"{ref(world, world.held)},2026-10-05,WIRE-6,paid,,,",  # 7: held
        f"{ref(world, world.yoyo)},2026-10-05,,maybe,,CNY,",  # 8: status, repeated, currency
        f"{ref(world, world.chinese)},{today + timedelta(days=1)},,paid,,,",  # 9: future, ref
        "WIRE-77,2026-10-05,WIRE-9,paid,,,",  # 10: not a payment reference
    )
    with tenant_context(world.tenant), translation.override("en"):
        preview = preview_payment_results(period=world.period, membership=world.finance, data=data)
        found = {(e["row"], e["field"]) for e in preview.errors}
        assert found == {
            (3, "amount"),
            (4, "payment_reference"),
            (5, "paid_on"),
            (6, "payment_reference"),
            (7, "payment_reference"),
            (8, "status"),
            (8, "payment_reference"),
            (8, "currency"),
            (9, "paid_on"),
            (9, "payment_reference"),
            (9, "provider_reference"),
            (10, "payment_reference"),
        }
        messages = {(e["row"], e["field"]): e["message"] for e in preview.errors}
        assert messages[(3, "amount")] == (
            "The amount 165.00 differs from the payable amount 165.10 USD."
        )
        assert messages[(4, "payment_reference")] == (
            "No statement of this period has this payment reference."
        )
        assert messages[(5, "paid_on")] == "Enter the date as YYYY-MM-DD, like 2026-10-05."
        assert messages[(8, "payment_reference")] == "Row 3 has the same payment reference."
        assert messages[(8, "currency")] == "This statement is paid in USD, not CNY."
        assert messages[(9, "paid_on")] == "This date is in the future."
        assert preview.invalid_count == 8
        with pytest.raises(PaymentResultsInvalid) as refused:
            import_payment_results(
                period=world.period,
                membership=world.finance,
                actor=world.finance.user,
                text=preview.text,
            )
        assert "8 rows of this file are invalid" in str(refused.value.message)
        assert not payments().exists()
        assert not Statement.objects.filter(status=Statement.Status.PAID).exists()
        assert not AuditEvent.objects.filter(
            action__in=["payouts.payment_failed", "payouts.payment_results_imported"]
        ).exists()


def test_row_errors_are_in_the_users_language(exports_world):
    world = exports_world
    data = results_csv(f"{ref(world, world.acme)},,WIRE-1,paid,,,")
    with tenant_context(world.tenant), translation.override("zh-hans"):
        preview = preview_payment_results(period=world.period, membership=world.finance, data=data)
    assert preview.errors == [{"row": 2, "field": "paid_on", "message": "该字段是必填项。"}]


def test_a_byte_order_mark_semicolons_and_any_column_order_are_read(exports_world):
    world = exports_world
    data = (
        codecs.BOM_UTF8
        + (
            f"Status;Payment Reference;Paid On;Provider Reference\n"
            f"paid;{ref(world, world.acme)};2026-10-05;WIRE-1\n"
        ).encode()
    )
    with tenant_context(world.tenant):
        preview = preview_payment_results(period=world.period, membership=world.finance, data=data)
        assert preview.errors == []
        import_payment_results(
            period=world.period,
            membership=world.finance,
            actor=world.finance.user,
            text=preview.text,
        )
        assert world.statement(world.acme).payment_reference == "WIRE-1"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"payment_reference,status\nPO-202609-000001,paid\n", "columns"),
        (b"payment_reference,paid_on,status,colour\n", "columns"),
        (b"payment_reference,paid_on,status\n", "no_rows"),
        (
            "payment_reference,paid_on,status\nPO,2026-10-05,paid\n".encode("latin-1") + b"\xe9",
            "encoding",
        ),
        (b"x" * (payment_results.MAX_BYTES + 1), "too_large"),
    ],
)
def test_problems_with_the_whole_file_are_refused(exports_world, data, code):
    world = exports_world
    with tenant_context(world.tenant), pytest.raises(ImportFileError) as refused:
        preview_payment_results(period=world.period, membership=world.finance, data=data)
    assert refused.value.code == code


def test_too_many_rows_are_refused(exports_world, monkeypatch):
    world = exports_world
    monkeypatch.setattr(payment_results, "MAX_ROWS", 2)
    data = results_csv(*[f"{ref(world, world.acme)},2026-10-05,W,paid,,," for _ in range(3)])
    with tenant_context(world.tenant), pytest.raises(ImportFileError) as refused:
        preview_payment_results(period=world.period, membership=world.finance, data=data)
    assert refused.value.code == "too_many_rows"


def test_a_statement_paid_after_the_preview_refuses_the_import(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        preview = preview_payment_results(
            period=world.period, membership=world.finance, data=happy_file(world)
        )
        assert preview.errors == []
        payouts.mark_paid(
            statement=world.statement(world.acme),
            reference="BY-HAND",
            paid_on=date(2026, 10, 4),
            membership=world.finance,
            actor=world.finance.user,
        )
        with pytest.raises(PaymentResultsInvalid):
            import_payment_results(
                period=world.period,
                membership=world.finance,
                actor=world.finance.user,
                text=preview.text,
            )
        assert payments().count() == 1
        assert world.statement(world.yoyo).status == Statement.Status.CLOSED


def test_an_open_period_takes_no_results(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        following = PayoutPeriod.objects.get(status="open")
        with pytest.raises(DomainError) as refused:
            preview_payment_results(
                period=following, membership=world.finance, data=happy_file(world)
            )
        assert refused.value.code == "period_open"


@pytest.mark.parametrize("member", ["tenant_admin", "manager", "partner_admin", "partner_rep"])
def test_only_finance_imports_payment_results(exports_world, member):
    world = exports_world
    membership = getattr(world, member)
    with tenant_context(world.tenant):
        with pytest.raises(PermissionDenied):
            preview_payment_results(
                period=world.period, membership=membership, data=happy_file(world)
            )
        with pytest.raises(PermissionDenied):
            import_payment_results(
                period=world.period,
                membership=membership,
                actor=membership.user,
                text=happy_file(world).decode(),
            )
        assert not payments().exists()
