"""Period exports as a specification: one valid PDF per statement in the ZIP,
the payout file's exact CSV and XLSX content (Decimal amounts, currencies,
references, blocked partners listed apart), the journal balancing per
currency, audit rows, and refusals (open period, wrong role)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.db.models import Sum
from django.utils import translation
from pypdf import PdfReader

from incentives import payouts
from incentives.models import PayoutPeriod, Statement
from incentives.payouts import exports
from partners.models import PartnerPayee
from prm.audit.models import AuditEvent
from prm.errors import PermissionDenied
from prm.ledger.models import LedgerEntry
from prm.tenancy.context import tenant_context
from tests.payout_exports.conftest import read_csv

pytestmark = pytest.mark.django_db

HEADER = list(exports.PAYOUT_COLUMNS)


def payout_rows(world):
    """The payout file's expected rows: Acme (CNY), Yoyo (USD), the Chinese-named partner."""
    acme, yoyo, chinese = (world.statement(p) for p in (world.acme, world.yoyo, world.chinese))

    def row(statement, amount, currency):
        partner = statement.partner
        return [
            f"PO-202609-{statement.pk:06d}",
            str(partner.pk),
            partner.legal_name,
            partner.legal_name,
            "bank_transfer",
            "Bank of Test",
            "12345678",
            "TESTMYKL",
            "MY",
            amount,
            currency,
            "2026-09",
        ]

    return [
        row(acme, "2400.55", "CNY"),
        row(yoyo, "165.10", "USD"),
        row(chinese, "300.00", "CNY"),
    ]


def test_payment_references_are_stable_and_parse_back(exports_world):
    statement = exports_world.statement(exports_world.acme)
    reference = exports.payment_reference(statement)
    assert reference == f"PO-202609-{statement.pk:06d}"
    assert exports.payment_reference(statement) == reference
    assert exports.parse_payment_reference(f" {reference.lower()} ") == ("202609", statement.pk)
    assert exports.parse_payment_reference("WIRE-1") is None


def test_the_zip_holds_one_valid_pdf_per_statement(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        statements = list(Statement.objects.filter(period=world.period).select_related("partner"))
        archive = exports.statements_zip(
            period=world.period, membership=world.finance, actor=world.finance.user
        )
        with archive, zipfile.ZipFile(archive) as opened:
            names = opened.namelist()
            expected = {exports.pdf_name(s, world.period): s for s in statements}
            assert len(statements) == 6
            assert sorted(names) == sorted(expected)
            chinese = world.statement(world.chinese)
            assert f"2026-09-partner-{world.chinese.pk}-{chinese.pk}.pdf" in names
            assert f"2026-09-acme-channel-co-{world.statement(world.acme).pk}.pdf" in names
            for name, statement in expected.items():
                data = opened.read(name)
                assert data.startswith(b"%PDF-")
                text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
                assert statement.partner.legal_name in text
        event = AuditEvent.objects.get(action="payouts.statements_exported")
        assert event.object_id == str(world.period.pk)
        assert event.data["statements"] == 6
        assert event.data["language"] == "zh-hans"  # the tenant's language, as the renderer decides


def test_the_payout_csv_lists_exactly_the_payable_statements(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        payout = exports.payout_file(
            period=world.period, membership=world.finance, actor=world.finance.user
        )
        with exports.payout_csv(payout) as output:
            rows = read_csv(output.read())
    assert rows[0] == HEADER
    assert sorted(rows[1:]) == sorted(payout_rows(world))
    assert payout.totals == {"CNY": Decimal("2700.55"), "USD": Decimal("165.10")}
    assert all(isinstance(row.amount, Decimal) for row in payout.rows)


def test_exporting_the_payout_file_is_audited_as_a_reveal_of_each_payee(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        exports.payout_file(period=world.period, membership=world.finance, actor=world.finance.user)
        reveals = AuditEvent.objects.filter(action="partner_payee.revealed")
        payees = PartnerPayee.objects.filter(partner__in=[world.acme, world.yoyo, world.chinese])
        assert sorted(int(e.object_id) for e in reveals) == sorted(p.pk for p in payees)
        assert {e.actor_id for e in reveals} == {world.finance.user.pk}
        assert all(e.data["via"] == "payout_file" for e in reveals)
        assert all("12345678" not in str(e.data) for e in reveals)
        exported = AuditEvent.objects.get(action="payouts.payout_file_exported")
        assert exported.data["rows"] == 3
        assert exported.data["excluded"] == 3
        assert exported.data["totals"] == {"CNY": "2700.55", "USD": "165.10"}


def test_the_payout_xlsx_has_decimal_amounts_and_the_excluded_statements(exports_world):
    world = exports_world
    with tenant_context(world.tenant), translation.override("en"):
        payout = exports.payout_file(
            period=world.period, membership=world.finance, actor=world.finance.user
        )
        with exports.payout_xlsx(payout) as output:
            data = output.read()
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["payouts", "excluded"]
    sheet = list(book["payouts"].iter_rows())
    assert [cell.value for cell in sheet[0]] == [*HEADER, "amount_text"]
    found = []
    for cells in sheet[1:]:
        values = [cell.value for cell in cells]
        amount = cells[9]
        assert amount.data_type == "n"
        assert amount.number_format == "#,##0.00"
        assert Decimal(str(amount.value)) == Decimal(values[12])
        values[1] = str(values[1])
        values[9] = values.pop()  # the exact text, compared with the CSV's
        found.append(values)
    assert sorted(found) == sorted(payout_rows(world))
    excluded = {
        row[2]: (row[3], row[4], row[5])
        for row in book["excluded"].iter_rows(min_row=2, values_only=True)
    }
    assert excluded == {
        "Held Partner Ltd": ("held", "CNY", "Held: Invoice check"),
        "Bare Partner Ltd": ("blocked", "CNY", "No payee or tax details are on file."),
        "Clawed Partner Ltd": (
            "closed",
            "CNY",
            "Nothing payable: the balance is carried forward.",
        ),
    }


def test_the_xlsx_amount_is_exact_to_the_cent_for_large_amounts(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        payout = exports.payout_file(
            period=world.period, membership=world.finance, actor=world.finance.user
        )
        row = payout.rows[0]
        big = exports.PayoutFile(
            period=payout.period,
            rows=[exports.PayoutRow(**{**row.__dict__, "amount": Decimal("98765432101.23")})],
            excluded=[],
            totals={},
        )
        with exports.payout_xlsx(big) as output:
            book = openpyxl.load_workbook(output)
    cells = list(book["payouts"].iter_rows(min_row=2))[0]
    assert Decimal(str(cells[9].value)) == Decimal("98765432101.23")
    assert cells[12].value == "98765432101.23"


def test_text_that_a_spreadsheet_would_run_is_kept_as_text(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        PartnerPayee.objects.filter(partner=world.acme).update(legal_name="=HYPERLINK(1)")
        payout = exports.payout_file(
            period=world.period, membership=world.finance, actor=world.finance.user
        )
        with exports.payout_csv(payout) as output:
            rows = read_csv(output.read())
        with exports.payout_xlsx(payout) as output:
            book = openpyxl.load_workbook(output)
    assert [row[3] for row in rows[1:] if row[2] == "Acme Channel Co"] == ["'=HYPERLINK(1)"]
    cells = [c for c in book["payouts"].iter_rows(min_row=2) if c[2].value == "Acme Channel Co"]
    assert cells[0][3].value == "=HYPERLINK(1)"
    assert cells[0][3].data_type == "s"


def test_paid_statements_and_partners_blocked_since_the_close_are_left_out(exports_world):
    world = exports_world
    with tenant_context(world.tenant), translation.override("en"):
        payouts.mark_paid(
            statement=world.statement(world.acme),
            reference="WIRE-1",
            paid_on=date(2026, 10, 5),
            membership=world.finance,
            actor=world.finance.user,
        )
        PartnerPayee.objects.filter(partner=world.chinese).delete()
        payout = exports.payout_file(
            period=world.period, membership=world.finance, actor=world.finance.user
        )
    assert [row.partner_name for row in payout.rows] == ["Yoyo Resellers Inc"]
    reasons = {item.statement.partner.legal_name: item.reasons for item in payout.excluded}
    assert reasons["Acme Channel Co"] == ["Already paid, reference WIRE-1."]
    assert reasons[world.chinese.legal_name] == ["No payee or tax details are on file."]
    assert len(payout.excluded) == 5


def test_the_journal_has_balanced_lines_per_currency_and_account(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        with exports.journal_csv(
            period=world.period, membership=world.tenant_admin, actor=world.tenant_admin.user
        ) as output:
            rows = read_csv(output.read())
        assert AuditEvent.objects.filter(action="payouts.journal_exported").count() == 1
    assert rows[0] == list(exports.JOURNAL_COLUMNS)

    def line(kind, currency, account, name, debit, credit):
        return [kind, "2026-09", "2026-09-30", currency, account, name, debit, credit]

    assert rows[1:] == [
        line("entry", "CNY", "commission_expense", "Commission expense", "3860.55", ""),
        line("entry", "CNY", "commission_expense", "Commission expense", "", "150.00"),
        # Yoyo is paid in USD: its 1,000.00 CNY move out of CNY (×0.14 = 140.00 USD).
        line("entry", "CNY", "fx_clearing", "FX clearing", "", "1000.00"),
        line("entry", "CNY", "partner_payable", "Partner payable", "1150.00", ""),
        line("entry", "CNY", "partner_payable", "Partner payable", "", "3860.55"),
        line("total", "CNY", "", "", "5010.55", "5010.55"),
        line("entry", "USD", "commission_expense", "Commission expense", "25.10", ""),
        line("entry", "USD", "fx_clearing", "FX clearing", "140.00", ""),
        line("entry", "USD", "partner_payable", "Partner payable", "", "165.10"),
        line("total", "USD", "", "", "165.10", "165.10"),
    ]


def test_every_currency_of_the_journal_balances_to_zero(exports_world):
    world = exports_world
    with tenant_context(world.tenant):
        journal = exports.journal(period=world.period, membership=world.finance)
        entries = LedgerEntry.objects.filter(
            transaction__statement_lines__statement__period=world.period
        )
        by_currency = dict(entries.values_list("currency").annotate(net=Sum("amount")))
    assert set(journal.totals()) == {"CNY", "USD"} == set(by_currency)
    for currency, (debit, credit) in journal.totals().items():
        assert debit == credit > 0
        assert by_currency[currency] == 0
        lines = [line for line in journal.lines if line.currency == currency and not line.is_total]
        assert sum(line.debit for line in lines) - sum(line.credit for line in lines) == 0


@pytest.mark.parametrize(
    "export",
    [
        lambda w, p: exports.statements_zip(period=p, membership=w.finance, actor=w.finance.user),
        lambda w, p: exports.payout_file(period=p, membership=w.finance, actor=w.finance.user),
        lambda w, p: exports.journal_csv(period=p, membership=w.finance, actor=w.finance.user),
        lambda w, p: exports.payout_plan(period=p),
    ],
)
def test_an_open_period_is_not_exported(exports_world, export):
    world = exports_world
    with tenant_context(world.tenant):
        following = PayoutPeriod.objects.get(status="open")
        with pytest.raises(exports.PeriodOpen) as refused:
            export(world, following)
        assert "still open" in str(refused.value.message)
        assert (
            not AuditEvent.objects.filter(action__startswith="payouts.")
            .exclude(action__in=["payouts.period_closed", "payouts.held"])
            .exists()
        )


@pytest.mark.parametrize("member", ["tenant_admin", "manager", "partner_admin", "partner_rep"])
def test_only_finance_exports_the_payout_file(exports_world, member):
    world = exports_world
    membership = getattr(world, member)
    with tenant_context(world.tenant):
        with pytest.raises(PermissionDenied):
            exports.payout_file(period=world.period, membership=membership, actor=membership.user)
        assert not AuditEvent.objects.filter(action="partner_payee.revealed").exists()


@pytest.mark.parametrize("member", ["manager", "partner_admin", "partner_rep"])
def test_only_money_readers_export_statements_and_the_journal(exports_world, member):
    world = exports_world
    membership = getattr(world, member)
    with tenant_context(world.tenant):
        with pytest.raises(PermissionDenied):
            exports.statements_zip(
                period=world.period, membership=membership, actor=membership.user
            )
        with pytest.raises(PermissionDenied):
            exports.journal_csv(period=world.period, membership=membership, actor=membership.user)
