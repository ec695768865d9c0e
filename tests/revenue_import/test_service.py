"""The revenue events import as a specification: a file's events are recorded
with their exact amounts; every row's problems are reported per field, in the
user's language, and a file with any invalid row records nothing unless the
valid rows only are chosen; external ids follow the API's idempotency; file
encodings, separators and limits; finance only; other tenants' partners and
deals are not found; queries grow by chunks, not rows; and the nightly job pays
revenue shares on imported events."""

from __future__ import annotations

import codecs
from datetime import date
from decimal import Decimal

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from incentives import revenue_import, services
from incentives.commissions import run_commission_job
from incentives.models import RevenueEvent
from incentives.revenue_import import (
    ImportFileError,
    RevenueImportInvalid,
    import_revenue_events,
    preview_revenue_import,
)
from prm.audit.models import AuditEvent
from prm.errors import PermissionDenied
from prm.ledger.models import Kind, LedgerTransaction
from prm.tenancy.context import tenant_context
from tests.revenue_import.conftest import HEADER, events_csv

pytestmark = pytest.mark.django_db


def good_rows(world) -> list[str]:
    p = world.huatong.pk
    return [
        f"INV-1,{p},{world.deal.reference.lower()},Acme Holdings,invoice_paid,1000.00,CNY,"
        "2026-04-01,",
        f"CN-1,{p},,Acme Holdings,refund,200.05,CNY,2026-04-15,",
        f"USE-1,{world.lianhe.pk},,Beta Foods,usage_charge,0.10,usd,2026-04-30,1250.5",
    ]


def imported(world, data: bytes, **kwargs):
    text = revenue_import.decode_upload(data)
    return import_revenue_events(
        membership=world.finance, actor=world.finance.user, text=text, filename="b.csv", **kwargs
    )


def errors_of(world, *rows: str) -> list[dict]:
    with tenant_context(world.tenant), translation.override("en"):
        return preview_revenue_import(membership=world.finance, data=events_csv(*rows)).errors


def imports_audited():
    return AuditEvent.objects.filter(action="incentives.revenue_events_imported")


def test_a_valid_file_is_previewed_without_writing_then_recorded_exactly(world):
    data = events_csv(*good_rows(world))
    with tenant_context(world.tenant):
        preview = preview_revenue_import(membership=world.finance, data=data)
        assert preview.errors == []
        assert (preview.row_count, len(preview.valid), preview.repeats) == (3, 3, [])
        assert not RevenueEvent.objects.exists()  # the preview writes nothing
        assert not imports_audited().exists()

        report = imported(world, data)

        assert [event.external_id for event in report.recorded] == ["INV-1", "CN-1", "USE-1"]
        events = {event.external_id: event for event in RevenueEvent.objects.all()}
        invoice, refund, usage = events["INV-1"], events["CN-1"], events["USE-1"]
        assert (invoice.kind, invoice.amount, invoice.currency) == (
            "invoice_paid",
            Decimal("1000.00"),
            "CNY",
        )
        assert invoice.deal_id == world.deal.pk  # the reference matched case-insensitively
        assert invoice.partner_id == world.huatong.pk
        assert invoice.occurred_on == date(2026, 4, 1)
        assert invoice.created_by_id == world.finance.user.pk
        assert (refund.kind, refund.amount, refund.deal_id) == ("refund", Decimal("200.05"), None)
        assert (usage.kind, usage.amount, usage.currency) == (
            "usage_charge",
            Decimal("0.10"),
            "USD",
        )
        assert usage.usage_quantity == Decimal("1250.5000")
        assert usage.partner_id == world.lianhe.pk
        audit = imports_audited().get()
        assert audit.data == {
            "rows": 3,
            "recorded": 3,
            "repeats": 0,
            "skipped": 0,
            "valid_only": False,
        }
        assert audit.actor_id == world.finance.user.pk
        assert audit.summary == "b.csv"


def test_every_problem_of_a_row_is_reported_on_its_field(world):
    p = world.huatong.pk
    errors = errors_of(
        world,
        f",{p},,,invoice_paid,abc,CNY,01/04/2026,",
        f"INV-2,{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,",
    )
    assert {(e["row"], e["field"]) for e in errors} == {
        (2, "external_id"),
        (2, "customer_name"),
        (2, "amount"),
        (2, "occurred_on"),
    }
    by_field = {e["field"]: e["message"] for e in errors}
    assert by_field["external_id"] == "This field is required."
    assert by_field["amount"] == (
        "Enter the amount as a plain number with a dot for decimals, like 1000.00."
    )
    assert by_field["occurred_on"] == "Enter the date as YYYY-MM-DD, like 2026-04-01."


@pytest.mark.parametrize(
    ("cells", "field", "message"),
    [
        ("{long},{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,", "external_id", "at most 100"),
        ("E,abc,,Acme,invoice_paid,10.00,CNY,2026-04-01,", "partner", "Enter a whole number."),
        ("E,0,,Acme,invoice_paid,10.00,CNY,2026-04-01,", "partner", "greater than or equal"),
        ("E,999999,,Acme,invoice_paid,10.00,CNY,2026-04-01,", "partner", "No partner has this id."),
        ("E,{p},DR-NOPE,Acme,invoice_paid,10.00,CNY,2026-04-01,", "deal", "no deal with this"),
        ("E,{q},{deal},Acme,invoice_paid,10.00,CNY,2026-04-01,", "deal", "no deal with this"),
        ("E,{p},,{long}{long}{long},invoice_paid,10.00,CNY,2026-04-01,", "customer_name", "200"),
        ("E,{p},,   ,invoice_paid,10.00,CNY,2026-04-01,", "customer_name", "required"),
        ("E,{p},,Acme,paid,10.00,CNY,2026-04-01,", "kind", "“paid” is not allowed here"),
        ("E,{p},,Acme,,10.00,CNY,2026-04-01,", "kind", "This field is required."),
        ("E,{p},,Acme,invoice_paid,0,CNY,2026-04-01,", "amount", "greater than or equal to 0.01"),
        ("E,{p},,Acme,refund,-5.00,CNY,2026-04-01,", "amount", "greater than or equal to 0.01"),
        ("E,{p},,Acme,invoice_paid,12.345,CNY,2026-04-01,", "amount", "2 decimal places"),
        ('E,{p},,Acme,invoice_paid,"1,000.00",CNY,2026-04-01,', "amount", "plain number"),
        ("E,{p},,Acme,invoice_paid,1e20,CNY,2026-04-01,", "amount", "14 digits"),
        ("E,{p},,Acme,invoice_paid,10.00,XYZ,2026-04-01,", "currency", "supported currency"),
        ("E,{p},,Acme,invoice_paid,10.00,,2026-04-01,", "currency", "This field is required."),
        ("E,{p},,Acme,invoice_paid,10.00,CNY,2026-02-30,", "occurred_on", "YYYY-MM-DD"),
        ("E,{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,5", "usage_quantity", "Only a usage"),
        (
            "E,{p},,Acme,usage_charge,10.00,CNY,2026-04-01,-1",
            "usage_quantity",
            "cannot be negative",
        ),
        ("E,{p},,Acme,usage_charge,10.00,CNY,2026-04-01,x", "usage_quantity", "Enter a number."),
        ("E,{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,,extra", "", "more values than the header"),
    ],
)
def test_each_invalid_value_is_an_error_of_its_row_and_field(world, cells, field, message):
    row = cells.format(
        p=world.huatong.pk, q=world.lianhe.pk, deal=world.deal.reference, long="x" * 101
    )
    errors = errors_of(
        world, f"OK-1,{world.huatong.pk},,Acme,invoice_paid,1.00,CNY,2026-04-01,", row
    )
    assert [(e["row"], e["field"]) for e in errors] == [(3, field)]
    assert message in errors[0]["message"]


def test_errors_are_in_the_users_language(world):
    row = f"E,{world.huatong.pk},,,invoice_paid,10.00,CNY,2026-04-01,"
    with translation.override("zh-hans"):
        required = str(forms.Field.default_error_messages["required"])
    assert required != "This field is required."  # Django ships its Chinese
    with tenant_context(world.tenant), translation.override("zh-hans"):
        errors = preview_revenue_import(membership=world.finance, data=events_csv(row)).errors
    assert errors == [{"row": 2, "field": "customer_name", "message": required}]


def test_a_file_with_an_invalid_row_records_nothing(world):
    rows = [*good_rows(world), f"BAD,{world.huatong.pk},,Acme,refund,-1,CNY,2026-04-01,"]
    with tenant_context(world.tenant), pytest.raises(RevenueImportInvalid) as raised:
        imported(world, events_csv(*rows))
    assert [(e["row"], e["field"]) for e in raised.value.errors] == [(5, "amount")]
    assert raised.value.code == "invalid_rows"
    with tenant_context(world.tenant):
        assert not RevenueEvent.objects.exists()
        assert not imports_audited().exists()


def test_the_valid_rows_only_are_recorded_when_chosen(world):
    rows = [*good_rows(world), f"BAD,{world.huatong.pk},,Acme,refund,-1,CNY,2026-04-01,"]
    with tenant_context(world.tenant):
        report = imported(world, events_csv(*rows), valid_only=True)
        assert (len(report.recorded), report.skipped) == (3, 1)
        assert set(RevenueEvent.objects.values_list("external_id", flat=True)) == {
            "INV-1",
            "CN-1",
            "USE-1",
        }
        assert imports_audited().get().data["skipped"] == 1
        assert imports_audited().get().data["valid_only"] is True


def test_valid_rows_only_refuses_a_file_without_any_valid_row(world):
    with tenant_context(world.tenant), pytest.raises(RevenueImportInvalid) as raised:
        imported(
            world, events_csv(f"BAD,{world.huatong.pk},,Acme,x,1,CNY,2026-04-01,"), valid_only=True
        )
    assert "nothing to import" in str(raised.value.message)


def test_an_external_id_twice_in_the_file_is_an_error_of_the_later_row(world):
    p = world.huatong.pk
    errors = errors_of(
        world,
        f"INV-9,{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,",
        f"INV-8,{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,",
        f"INV-9,{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,",
    )
    assert errors == [
        {"row": 4, "field": "external_id", "message": "Row 2 has the same external id."}
    ]


def record(world, external_id: str, amount: str) -> RevenueEvent:
    with tenant_context(world.tenant):
        return services.record_revenue_event(
            membership=world.finance,
            actor=world.finance.user,
            partner=world.huatong,
            kind="invoice_paid",
            amount=Decimal(amount),
            currency="CNY",
            occurred_on=date(2026, 4, 1),
            external_id=external_id,
            customer_name="Acme",
        )


def test_recorded_ids_follow_the_apis_idempotency(world):
    """Same details: a repeat, recorded once (no error). Other details: refused."""
    record(world, "INV-1", "10.00")
    record(world, "INV-2", "10.00")
    p = world.huatong.pk
    rows = (
        f"INV-1,{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,",
        f"INV-2,{p},,Acme,invoice_paid,99.00,CNY,2026-04-01,",
        f"INV-3,{p},,Acme,invoice_paid,10.00,CNY,2026-04-01,",
    )
    with tenant_context(world.tenant), translation.override("en"):
        preview = preview_revenue_import(membership=world.finance, data=events_csv(*rows))
        assert preview.repeats == [2]
        assert preview.errors == [
            {
                "row": 3,
                "field": "external_id",
                "message": "Event INV-2 was already recorded with different details.",
            }
        ]
        assert [row.event.external_id for row in preview.valid] == ["INV-3"]
        report = imported(world, events_csv(*rows), valid_only=True)
        assert ([e.external_id for e in report.recorded], report.repeats) == (["INV-3"], 1)
        assert RevenueEvent.objects.get(external_id="INV-2").amount == Decimal("10.00")
        assert RevenueEvent.objects.count() == 3


def test_importing_the_same_file_again_records_nothing_new(world):
    data = events_csv(*good_rows(world))
    with tenant_context(world.tenant):
        imported(world, data)
        again = imported(world, data)
        assert (again.recorded, again.repeats, again.skipped) == ([], 3, 0)
        assert RevenueEvent.objects.count() == 3
        assert imports_audited().count() == 2


def test_the_import_validates_again_because_the_preview_may_be_stale(world):
    data = events_csv(*good_rows(world))
    with tenant_context(world.tenant):
        assert preview_revenue_import(membership=world.finance, data=data).errors == []
    record(world, "CN-1", "1.00")  # someone records CN-1 meanwhile, differently
    with tenant_context(world.tenant), pytest.raises(RevenueImportInvalid) as raised:
        imported(world, data)
    assert [(e["row"], e["field"]) for e in raised.value.errors] == [(3, "external_id")]
    with tenant_context(world.tenant):
        assert list(RevenueEvent.objects.values_list("external_id", flat=True)) == ["CN-1"]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda rows: events_csv(*rows, bom=True), id="utf-8 with BOM"),
        pytest.param(lambda rows: events_csv(*rows, encoding="utf-16"), id="utf-16"),
        pytest.param(
            lambda rows: codecs.BOM_UTF16_BE + events_csv(*rows, encoding="utf-16-be"),
            id="utf-16 big endian",
        ),
        pytest.param(
            lambda rows: events_csv(
                *(row.replace(",", ";") for row in rows), header=HEADER.replace(",", ";")
            ),
            id="semicolons",
        ),
        pytest.param(
            lambda rows: events_csv(
                *(row.replace(",", "\t") for row in rows), header=HEADER.replace(",", "\t")
            ),
            id="tabs",
        ),
    ],
)
def test_encodings_and_separators(world, data):
    p = world.huatong.pk
    rows = [f"发票-1,{p},,华通客户有限公司,invoice_paid,1234.56,CNY,2026-04-01,"]
    with tenant_context(world.tenant):
        preview = preview_revenue_import(membership=world.finance, data=data(rows))
        assert preview.errors == []
        event = preview.valid[0].event
        assert (event.external_id, event.customer_name, event.amount) == (
            "发票-1",
            "华通客户有限公司",
            Decimal("1234.56"),
        )


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out(world):
    data = events_csv(
        f"2026-04-01,CNY,7.00,invoice_paid,Acme,{world.huatong.pk},INV-7",
        header="Occurred On,currency,amount,kind,customer_name,partner,external-id",
    )
    with tenant_context(world.tenant):
        preview = preview_revenue_import(membership=world.finance, data=data)
    assert preview.errors == []
    assert preview.valid[0].event.amount == Decimal("7.00")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (HEADER.encode() + b"\r\n", "no_rows"),
        (b"external_id,partner,amount\r\nA,1,1\r\n", "columns"),
        (HEADER.encode() + b",colour\r\n", "columns"),
        ("external_id;partner\n".encode("latin-1") + "é".encode("latin-1"), "encoding"),
        (HEADER.encode() + b'\r\n"A,1,,x,refund,1,CNY\r\n' + b"x" * 140_000, "csv"),
    ],
)
def test_file_level_problems_record_nothing(world, data, code):
    with tenant_context(world.tenant), pytest.raises(ImportFileError) as raised:
        preview_revenue_import(membership=world.finance, data=data)
    assert raised.value.code == code


def test_files_over_the_size_limit_are_refused(world):
    row = f"E,{world.huatong.pk},,{'A' * 180},invoice_paid,1.00,CNY,2026-04-01,"
    data = events_csv(*[row] * (revenue_import.MAX_BYTES // len(row) + 1))
    assert len(data) > revenue_import.MAX_BYTES
    with tenant_context(world.tenant), pytest.raises(ImportFileError) as raised:
        preview_revenue_import(membership=world.finance, data=data)
    assert raised.value.code == "too_large"


def test_files_over_the_row_limit_are_refused(world):
    rows = [f"E{n},1,,A,refund,1,CNY,2026-04-01," for n in range(revenue_import.MAX_ROWS + 1)]
    data = events_csv(*rows)
    assert len(data) <= revenue_import.MAX_BYTES
    with tenant_context(world.tenant), pytest.raises(ImportFileError) as raised:
        preview_revenue_import(membership=world.finance, data=data)
    assert raised.value.code == "too_many_rows"
    assert revenue_import.MAX_ROWS == 10_000


@pytest.mark.parametrize("role", ["admin", "manager", "partner_admin", "rep"])
def test_only_finance_previews_and_imports(world, role):
    membership = getattr(world, role)
    data = events_csv(*good_rows(world))
    with tenant_context(world.tenant):
        with pytest.raises(PermissionDenied):
            preview_revenue_import(membership=membership, data=data)
        with pytest.raises(PermissionDenied):
            import_revenue_events(membership=membership, actor=membership.user, text=data.decode())
        assert not RevenueEvent.objects.exists()


def test_another_tenants_partner_and_deal_are_not_found_like_unknown_ones(world, other):
    with translation.override("en"):
        errors = errors_of(
            world,
            f"E1,{other.partner.pk},,Acme,invoice_paid,1.00,CNY,2026-04-01,",
            f"E2,{world.huatong.pk},{other.deal.reference},Acme,invoice_paid,1.00,CNY,2026-04-01,",
        )
    assert errors == [
        {"row": 2, "field": "partner", "message": "No partner has this id."},
        {"row": 3, "field": "deal", "message": "This partner has no deal with this reference."},
    ]


def test_another_tenants_external_ids_do_not_collide(world, other):
    with tenant_context(other.tenant):
        services.record_revenue_event(
            membership=other.finance,
            actor=other.finance.user,
            partner=other.partner,
            kind="invoice_paid",
            amount=Decimal("5.00"),
            currency="MYR",
            occurred_on=date(2026, 4, 1),
            external_id="INV-1",
            customer_name="Bravo",
        )
    with tenant_context(world.tenant):
        report = imported(world, events_csv(*good_rows(world)))
    assert len(report.recorded) == 3


def queries(action) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def many_rows(world, count: int, prefix: str) -> bytes:
    rows = []
    for n in range(count):
        partner = world.huatong if n % 2 else world.lianhe
        deal = world.deal.reference if partner == world.huatong else ""
        rows.append(
            f"{prefix}-{n},{partner.pk},{deal},Customer {n},invoice_paid,{n + 1}.25,CNY,2026-04-01,"
        )
    return events_csv(*rows)


def test_preview_and_import_queries_do_not_grow_with_rows(world):
    record(world, "ALREADY", "1.00")
    with tenant_context(world.tenant):
        small, large = many_rows(world, 4, "S"), many_rows(world, 120, "L")
        preview = (
            queries(lambda: preview_revenue_import(membership=world.finance, data=small)),
            queries(lambda: preview_revenue_import(membership=world.finance, data=large)),
        )
        assert preview[0] == preview[1] <= 3
        commit = (queries(lambda: imported(world, small)), queries(lambda: imported(world, large)))
        assert commit[0] == commit[1]
        assert RevenueEvent.objects.count() == 1 + 4 + 120


def test_queries_grow_by_chunks(world, monkeypatch):
    monkeypatch.setattr(revenue_import, "CHUNK", 10)
    with tenant_context(world.tenant):
        ten = queries(
            lambda: preview_revenue_import(membership=world.finance, data=many_rows(world, 10, "A"))
        )
        eleven = queries(
            lambda: preview_revenue_import(membership=world.finance, data=many_rows(world, 11, "B"))
        )
    assert eleven == ten + 1  # one more chunk of recorded external ids (partners and deals repeat)


def test_the_nightly_job_pays_revenue_shares_on_imported_events(world):
    p = world.huatong.pk
    data = events_csv(
        f"INV-1,{p},,Acme,invoice_paid,1000.00,CNY,2026-04-01,",
        f"CN-1,{p},,Acme,refund,200.00,CNY,2026-04-15,",
    )
    with tenant_context(world.tenant):
        imported(world, data)
        counts = run_commission_job()
        assert counts["revenue_events"] == 2
        shares = sorted(
            LedgerTransaction.objects.filter(kind=Kind.REVENUE_SHARE).values_list(
                "explanation__amount", flat=True
            )
        )
    # 15 % of 1,000.00 = 150.00; of the 200.00 refund = −30.00.
    assert shares == ["-30.00", "150.00"]
