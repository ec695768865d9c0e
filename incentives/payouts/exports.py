"""Exports of a closed payout period for finance: statement PDFs, the payout
file for the bank or payout provider, and the journal for the accounting system.

Only a **closed** period is exported (``PeriodOpen`` otherwise): its
statements never change, so every export of it says the same thing. Each
export checks the reader's capability itself and writes an audit row, because
the data leaves the system:

* ``statements_zip`` (``VIEW_MONEY``: finance, tenant admin) — one PDF per
  statement, drawn by ``incentives.statement_pdf`` in the language that
  renderer uses for the console (``statement_language``), named
  ``<period>-<partner slug or partner-id>-<statement id>.pdf`` (ASCII, unique).
  PDFs are drawn one at a time into a temporary file, statements are read in
  chunks: memory does not grow with the period.
* ``payout_file`` / ``payout_csv`` / ``payout_xlsx`` (``MANAGE_MONEY``:
  finance only, because it holds full bank account numbers) — one row per
  statement that is closed (not held, blocked or paid) with a positive payable
  amount and whose partner has complete payee details *now*: partner, payee
  name, payment method, bank name, account number (decrypted), SWIFT/BIC,
  bank country, amount and currency, and the payment reference
  (``payment_reference``: ``PO-<yyyymm>-<statement id>``, deterministic, what
  the payment results file quotes back). The tax id is not exported: a
  payment does not need it. **Blocked partners are listed separately**, not
  refused: every other statement of the period is in ``excluded`` with the
  reason (held, blocked with the missing details, already paid, carried
  forward), shown on the period page and on the XLSX's second sheet; the CSV
  holds the payable rows only, ready for the bank. Exporting decrypts payee
  details, so it is audited like the console's reveal: one
  ``partner_payee.revealed`` row per payee (``via: payout_file``) and one
  ``payouts.payout_file_exported`` row on the period.
* ``journal`` / ``journal_csv`` (``VIEW_MONEY``) — the ledger entries of the
  transactions on the period's statements and of the currency conversions
  its close posted for them (``fx_clearing``: the statements' money moved
  into each payout currency), summed per currency and account: debits
  (positive entries) and credits (negative entries) on separate lines, then a
  total line per currency whose debits equal its credits (the ledger balances
  every transaction per currency, so every currency balances).

Amounts are ``Decimal`` throughout: as text with the currency's minor units
(``prm.money.currency.quantize``), and in the XLSX also as a numeric cell
with a number format. Column headers are stable machine names, not
translated: banks and accounting systems map them once. Free text that a
spreadsheet would run as a formula (leading ``=``, ``+``, ``-``, ``@``) is
prefixed with an apostrophe in CSV and stored as text in XLSX.

Page and CSV costs are a fixed number of queries however many statements the
period has.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.db import transaction as db
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from incentives.models import PayoutPeriod, Statement, StatementLine
from incentives.statement_pdf import lines_prefetch, render_statement_pdf, statement_language
from partners.models import PartnerPayee
from partners.payee import blockers_of, payees_by_partner
from prm.accounts.roles import Capability, can
from prm.audit.models import AuditEvent
from prm.audit.services import record
from prm.errors import Conflict, PermissionDenied
from prm.ledger.models import Account, Kind, LedgerEntry, SourceType
from prm.money.currency import minor_units, quantize
from prm.money.sealed import unseal
from prm.tenancy.context import require_tenant

REFERENCE_PREFIX = "PO"
REFERENCE = re.compile(r"^\s*PO-(\d{6})-(\d{1,18})\s*$", re.IGNORECASE)
PDF_CHUNK = 50
SPOOL_BYTES = 1024 * 1024
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

PAYOUT_COLUMNS = (
    "payment_reference",
    "partner_id",
    "partner_name",
    "payee_name",
    "payment_method",
    "bank_name",
    "account_number",
    "swift_bic",
    "bank_country",
    "amount",
    "currency",
    "period",
)
JOURNAL_COLUMNS = (
    "line",
    "period",
    "date",
    "currency",
    "account",
    "account_name",
    "debit",
    "credit",
)


class PeriodOpen(Conflict):
    code = "period_open"
    default_message = _(
        "This period is still open: only a closed period is exported, because its "
        "statements never change. Close it first."
    )


# --- who may export what ------------------------------------------------------------


def can_export(membership) -> bool:
    """Statement PDFs and the journal: whoever reads money (finance, tenant admin)."""
    return can(membership, Capability.VIEW_MONEY)


def can_export_payout_file(membership) -> bool:
    """The payout file holds full bank details: finance only."""
    return can(membership, Capability.MANAGE_MONEY)


def _require(allowed: bool, message) -> None:
    if not allowed:
        raise PermissionDenied(message)


def _require_closed(period: PayoutPeriod) -> None:
    if period.is_open:
        raise PeriodOpen()


# --- references and names -----------------------------------------------------------


def payment_reference(statement: Statement, period: PayoutPeriod | None = None) -> str:
    """The statement's payment reference, ``PO-<yyyymm>-<statement id>``: the
    same every time, unique in the tenant, letters, digits and dashes only."""
    start = (period or statement.period).start
    return f"{REFERENCE_PREFIX}-{start:%Y%m}-{statement.pk:06d}"


def parse_payment_reference(text: str) -> tuple[str, int] | None:
    """``(yyyymm, statement id)`` of a payment reference, or ``None``."""
    found = REFERENCE.match(text or "")
    if found is None:
        return None
    return found.group(1), int(found.group(2))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:60].strip("-")


def pdf_name(statement: Statement, period: PayoutPeriod) -> str:
    """``<period>-<partner slug>-<statement id>.pdf``; a partner whose name has
    no ASCII letters (a Chinese name) is ``partner-<id>``."""
    partner = _slug(statement.partner.legal_name) or f"partner-{statement.partner_id}"
    return f"{period.key}-{partner}-{statement.pk}.pdf"


def amount_text(amount: Decimal, currency: str) -> str:
    """The amount as plain text with the currency's minor units: 1234.50, JPY 1235."""
    return f"{quantize(amount, currency):f}"


def _safe_text(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (returned open)


# --- the statements ZIP -----------------------------------------------------------


def statements_zip(*, period: PayoutPeriod, membership, actor) -> IO[bytes]:
    """Every statement of the closed ``period`` as a PDF in one ZIP, as an open
    temporary file positioned at its start (the caller streams and closes it)."""
    _require(can_export(membership), _("Only finance and tenant admins export statements."))
    _require_closed(period)
    language = statement_language()
    statements = (
        Statement.objects.filter(period=period)
        .select_related("period", "partner", "paid_by")
        .prefetch_related(lines_prefetch())
        .order_by("partner__legal_name", "id")
    )
    output = tempfile.TemporaryFile()  # noqa: SIM115 (returned open)
    count = 0
    try:
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for statement in statements.iterator(chunk_size=PDF_CHUNK):
                archive.writestr(
                    pdf_name(statement, period),
                    render_statement_pdf(statement=statement, language=language),
                )
                count += 1
        record(
            actor=actor,
            action="payouts.statements_exported",
            target=period,
            summary=str(period),
            data={"statements": count, "language": language},
        )
    except BaseException:
        output.close()
        raise
    output.seek(0)
    return output


# --- the payout file ----------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPayout:
    """A statement that goes into the payout file, with its payee (still sealed)."""

    statement: Statement
    payee: PartnerPayee
    reference: str


@dataclass(frozen=True)
class Excluded:
    """A statement of the period that is not in the payout file, and why."""

    statement: Statement
    reference: str
    reasons: list[str]


@dataclass
class PayoutPlan:
    """Every statement of a closed period, either to pay or excluded with reasons."""

    period: PayoutPeriod
    payable: list[PlannedPayout] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)

    def totals(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for item in self.payable:
            currency = item.statement.currency
            totals[currency] = totals.get(currency, Decimal(0)) + item.statement.payable_amount
        return dict(sorted(totals.items()))


def _period_statements(period: PayoutPeriod) -> QuerySet[Statement]:
    return (
        Statement.objects.filter(period=period)
        .select_related("partner")
        .order_by("partner__legal_name", "id")
    )


def _exclusion(statement: Statement, payee: PartnerPayee | None) -> list[str]:
    Status = Statement.Status
    if statement.status == Status.PAID:
        return [
            str(
                _("Already paid, reference %(reference)s.")
                % {"reference": statement.payment_reference}
            )
        ]
    if statement.status == Status.HELD:
        return [str(_("Held: %(reason)s") % {"reason": statement.hold_reason})]
    if statement.status == Status.BLOCKED:
        return [str(reason) for reason in statement.blockers] or [str(_("Blocked."))]
    if statement.payable_amount <= 0:
        return [str(_("Nothing payable: the balance is carried forward."))]
    # Closed with an amount to pay, but the payee details may have changed since.
    return blockers_of(payee)


def payout_plan(
    *, period: PayoutPeriod, statements: Iterable[Statement] | None = None
) -> PayoutPlan:
    """Which statements of the closed ``period`` the payout file pays, and why
    the others are left out (``statements``: the period's, already loaded with
    their partner, else read here). Decrypts nothing; callers check
    ``VIEW_MONEY``. Two queries, one with ``statements``."""
    _require_closed(period)
    statements = list(_period_statements(period) if statements is None else statements)
    payees = payees_by_partner(partner_ids={s.partner_id for s in statements})
    plan = PayoutPlan(period=period)
    for statement in statements:
        payee = payees.get(statement.partner_id)
        reference = payment_reference(statement, period)
        reasons = _exclusion(statement, payee)
        if reasons or payee is None:
            plan.excluded.append(Excluded(statement, reference, reasons))
        else:
            plan.payable.append(PlannedPayout(statement, payee, reference))
    return plan


@dataclass(frozen=True)
class PayoutRow:
    reference: str
    partner_id: int
    partner_name: str
    payee_name: str
    payment_method: str
    bank_name: str
    account_number: str
    swift_bic: str
    bank_country: str
    amount: Decimal
    currency: str
    period: str

    def values(self) -> list[Any]:
        return [
            self.reference,
            self.partner_id,
            self.partner_name,
            self.payee_name,
            self.payment_method,
            self.bank_name,
            self.account_number,
            self.swift_bic,
            self.bank_country,
            self.amount,
            self.currency,
            self.period,
        ]


@dataclass(frozen=True)
class PayoutFile:
    period: PayoutPeriod
    rows: list[PayoutRow]
    excluded: list[Excluded]
    totals: dict[str, Decimal]


def payout_file(*, period: PayoutPeriod, membership, actor) -> PayoutFile:
    """The payout rows of the closed ``period`` with the payees' bank details
    decrypted, for finance only; audited as a reveal of each payee's details.
    A fixed number of queries however many statements."""
    _require(
        can_export_payout_file(membership),
        _("Only finance exports the payout file: it holds the partners' bank details."),
    )
    plan = payout_plan(period=period)
    rows = [
        PayoutRow(
            reference=item.reference,
            partner_id=item.statement.partner_id,
            partner_name=item.statement.partner.legal_name,
            payee_name=item.payee.legal_name,
            payment_method=item.payee.payment_method,
            bank_name=item.payee.bank_name,
            account_number=unseal(item.payee.account_number_sealed)
            if item.payee.account_number_sealed
            else "",
            swift_bic=item.payee.swift_bic,
            bank_country=item.payee.bank_country,
            amount=quantize(item.statement.payable_amount, item.statement.currency),
            currency=item.statement.currency,
            period=period.key,
        )
        for item in plan.payable
    ]
    tenant = require_tenant()
    user = actor if getattr(actor, "pk", None) else None
    with db.atomic():
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    tenant=tenant,
                    actor=user,
                    action="partner_payee.revealed",
                    object_type=PartnerPayee._meta.label_lower,
                    object_id=str(item.payee.pk),
                    summary=str(item.payee)[:300],
                    data={
                        "partner": item.payee.partner_id,
                        "fields": ["account_number"],
                        "via": "payout_file",
                        "period": period.pk,
                    },
                )
                for item in plan.payable
            ],
            batch_size=1000,
        )
        totals = plan.totals()
        record(
            actor=actor,
            action="payouts.payout_file_exported",
            target=period,
            summary=str(period),
            data={
                "rows": len(rows),
                "excluded": len(plan.excluded),
                "totals": {currency: str(total) for currency, total in totals.items()},
            },
        )
    return PayoutFile(period=period, rows=rows, excluded=plan.excluded, totals=totals)


def _csv_file(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> IO[bytes]:
    """UTF-8 CSV with a byte order mark (spreadsheets then read it as UTF-8),
    written to a spooled temporary file positioned at its start."""
    output = _spool()
    text = io.TextIOWrapper(output, encoding="utf-8", newline="", write_through=True)
    text.write("\ufeff")
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    text.flush()
    text.detach()
    output.seek(0)
    return output


def payout_csv(payout: PayoutFile) -> IO[bytes]:
    """The payout rows as CSV: payable statements only, amounts as exact text."""

    def rows() -> Iterator[list[Any]]:
        for row in payout.rows:
            values = row.values()
            for index in (2, 3, 5):  # partner, payee and bank names: free text
                values[index] = _safe_text(values[index])
            values[9] = amount_text(row.amount, row.currency)
            yield values

    return _csv_file(PAYOUT_COLUMNS, rows())


def _number_format(currency: str) -> str:
    places = minor_units(currency)
    return "#,##0." + "0" * places if places else "#,##0"


def payout_xlsx(payout: PayoutFile) -> IO[bytes]:
    """The payout file as XLSX: sheet "payouts" (the CSV's columns, the amount
    as a numeric cell with the currency's number format, plus ``amount_text``)
    and sheet "excluded" (every other statement with the reasons)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("payouts")

    def text_cell(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # never a formula, whatever the text starts with
        return cell

    sheet.append([*PAYOUT_COLUMNS, "amount_text"])
    for row in payout.rows:
        amount = WriteOnlyCell(sheet, value=row.amount)  # Decimal, written as a number
        amount.number_format = _number_format(row.currency)
        values: list[Any] = [
            text_cell(value) if isinstance(value, str) else value for value in row.values()
        ]
        values[9] = amount
        values.append(text_cell(amount_text(row.amount, row.currency)))
        sheet.append(values)
    excluded = workbook.create_sheet("excluded")
    excluded.append(
        ["payment_reference", "partner_id", "partner_name", "status", "currency", "reasons"]
    )
    for item in payout.excluded:
        statement = item.statement
        excluded.append(
            [
                text_cell(item.reference),
                statement.partner_id,
                text_cell(statement.partner.legal_name),
                text_cell(statement.status),
                text_cell(statement.currency),
                text_cell(" ".join(item.reasons)),
            ]
        )
    output = tempfile.TemporaryFile()  # noqa: SIM115 (returned open)
    workbook.save(output)
    output.seek(0)
    return output


# --- the journal --------------------------------------------------------------------


@dataclass(frozen=True)
class JournalLine:
    """One journal line: an account's debits or credits in one currency, or
    (``account`` empty) the currency's total."""

    currency: str
    account: str
    debit: Decimal
    credit: Decimal

    @property
    def is_total(self) -> bool:
        return not self.account

    @property
    def account_name(self) -> str:
        return str(Account(self.account).label) if self.account in Account.values else ""


@dataclass(frozen=True)
class Journal:
    period: PayoutPeriod
    lines: list[JournalLine]

    def totals(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Debits and credits per currency (equal: the ledger balances)."""
        return {line.currency: (line.debit, line.credit) for line in self.lines if line.is_total}


def journal(*, period: PayoutPeriod, membership) -> Journal:
    """The ledger entries of the transactions on the closed ``period``'s
    statements and of the currency conversions of its close, per currency and
    account: a debit line and a credit line per account that has them, then
    the currency's total. One query."""
    _require(can_export(membership), _("Only finance and tenant admins export the journal."))
    _require_closed(period)
    on_a_statement = StatementLine.objects.filter(
        transaction_id=OuterRef("transaction_id"), statement__period=period
    )
    converts_a_statement = Statement.objects.filter(
        period=period, pk=OuterRef("transaction__source_id")
    )
    sums = (
        LedgerEntry.objects.filter(
            Q(Exists(on_a_statement))
            | Q(
                Exists(converts_a_statement),
                transaction__kind=Kind.CONVERSION,
                transaction__source_type=SourceType.PAYOUT,
            )
        )
        .values("currency", "account")
        .annotate(
            debits=Sum("amount", filter=Q(amount__gt=0), default=Decimal(0)),
            credits=Sum("amount", filter=Q(amount__lt=0), default=Decimal(0)),
        )
        .order_by("currency", "account")
    )
    lines: list[JournalLine] = []
    totals: dict[str, list[Decimal]] = {}
    for row in sums:
        currency, account = row["currency"], row["account"]
        debit, credit = row["debits"], -row["credits"]
        total = totals.setdefault(currency, [Decimal(0), Decimal(0)])
        if debit:
            lines.append(JournalLine(currency, account, debit, Decimal(0)))
            total[0] += debit
        if credit:
            lines.append(JournalLine(currency, account, Decimal(0), credit))
            total[1] += credit
    ordered: list[JournalLine] = []
    for currency in sorted(totals):
        ordered.extend(line for line in lines if line.currency == currency)
        ordered.append(JournalLine(currency, "", totals[currency][0], totals[currency][1]))
    return Journal(period=period, lines=ordered)


def journal_csv(*, period: PayoutPeriod, membership, actor) -> IO[bytes]:
    """The journal as CSV (``line`` is ``entry`` or ``total``), audited."""
    found = journal(period=period, membership=membership)

    def cell(amount: Decimal, currency: str) -> str:
        return amount_text(amount, currency) if amount else ""

    rows = [
        [
            "total" if line.is_total else "entry",
            period.key,
            period.end.isoformat(),
            line.currency,
            line.account,
            line.account_name,
            amount_text(line.debit, line.currency)
            if line.is_total
            else cell(line.debit, line.currency),
            amount_text(line.credit, line.currency)
            if line.is_total
            else cell(line.credit, line.currency),
        ]
        for line in found.lines
    ]
    record(
        actor=actor,
        action="payouts.journal_exported",
        target=period,
        summary=str(period),
        data={
            "lines": len(rows),
            "totals": {c: [str(d), str(k)] for c, (d, k) in found.totals().items()},
        },
    )
    return _csv_file(JOURNAL_COLUMNS, rows)
