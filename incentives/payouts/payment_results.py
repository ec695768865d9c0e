"""Import the bank's or payout provider's payment results for a closed period.

Finance uploads a CSV answering the payout file (``exports.payout_csv``), one
row per payment::

    payment_reference,paid_on,provider_reference,status,amount,currency,message
    PO-202609-000123,2026-10-05,WIRE-88123,paid,2400.00,CNY,
    PO-202609-000124,2026-10-05,,failed,,,Account closed

Columns (header names as in ``COLUMNS``; order free; UTF-8 with or without a
byte order mark, or UTF-16 with one; comma, semicolon or tab separated — read
with ``deals.imports.files``' helpers, with the same limits as the deal
imports: ``MAX_ROWS`` rows, ``MAX_BYTES`` bytes):

* ``payment_reference`` — the reference from the payout file; it must name a
  statement of *this* period, once per file.
* ``paid_on`` — ``YYYY-MM-DD``, not in the future.
* ``provider_reference`` — the provider's transaction id; required for a paid
  row, it becomes the statement's payment reference.
* ``status`` — ``paid`` or ``failed``.
* ``amount``, ``currency`` (optional checks) — when given they must equal the
  statement's payable amount and currency exactly.
* ``message`` (optional) — why a payment failed.

``preview_payment_results`` validates every row and reports errors per row and
field, in the active language; it writes nothing. ``import_payment_results``
validates again (the preview may be stale) inside one transaction, with the
period's statements locked, and then either imports **every row or none**: a
file with any invalid row raises ``PaymentResultsInvalid`` (carrying the
errors) and changes nothing. A paid row calls
``incentives.payouts.services.mark_paid`` (one ledger payment per statement,
key ``payout:<statement id>``); a failed row leaves the statement unpaid and
writes a ``payouts.payment_failed`` audit row with the provider's message.

Re-importing a file that was already imported is **refused**: its paid rows
now name paid statements, which is a row error ("already paid"), so nothing is
imported twice and the ledger payment is posted once. A file of failed rows
only may be imported again; it records the failures again and changes no
money. Finance only (``MANAGE_MONEY``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.db import transaction as db
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from deals.imports.files import (
    MAX_ROWS,
    Column,
    ImportFileError,
    PreviewRow,
    SourceRow,
    decode,
    preview_of,
    read_rows_of,
)
from deals.imports.files import (
    too_large_message as file_too_large,
)
from deals.imports.rows import CodeField, RowForm
from incentives.models import PayoutPeriod, Statement
from incentives.payouts.exports import parse_payment_reference, payment_reference
from incentives.payouts.services import mark_paid
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import DomainError, PermissionDenied
from prm.money.currency import minor_units

# Small enough that the confirm step can carry the signed file in its form.
MAX_BYTES = 1024 * 1024
PAID, FAILED = "paid", "failed"

COLUMNS = (
    Column(
        "payment_reference",
        True,
        _("The payment reference from the payout file, like PO-202609-000123."),
    ),
    Column("paid_on", True, _("The day the payment was made or failed, as YYYY-MM-DD.")),
    Column(
        "provider_reference",
        False,
        _("The bank's or provider's transaction id. Required for a paid row."),
    ),
    Column("status", True, _("One of: %(choices)s."), (PAID, FAILED)),
    Column("amount", False, _("Optional check: the amount paid, like 2400.00.")),
    Column("currency", False, _("Optional check: the currency paid, like CNY.")),
    Column("message", False, _("Optional: why the payment failed.")),
)
NAMES = tuple(column.name for column in COLUMNS)


class PaymentResultsInvalid(DomainError):
    """Rows of the file are invalid, so nothing was imported; ``errors`` says why."""

    code = "invalid_rows"

    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        rows = len({error["row"] for error in errors})
        super().__init__(
            ngettext(
                "%(count)s row of this file is invalid, so nothing was imported. Fix it and "
                "upload the file again.",
                "%(count)s rows of this file are invalid, so nothing was imported. Fix them and "
                "upload the file again.",
                rows,
            )
            % {"count": number_format(rows)}
        )


def require_finance(membership) -> None:
    if not can(membership, Capability.MANAGE_MONEY):
        raise PermissionDenied(_("Only finance imports payment results."))


def too_large_message(size: int) -> str:
    return file_too_large(size, limit=MAX_BYTES)


# --- reading the file ---------------------------------------------------------------


def read_rows(text: str) -> list[SourceRow]:
    """Every non-blank data row, after checking the header row. A problem with
    the file as a whole raises ``ImportFileError`` with every reason."""
    return read_rows_of(COLUMNS, text, max_rows=MAX_ROWS)


def decode_upload(data: bytes) -> str:
    """The uploaded file's text, or ``ImportFileError`` (size, encoding)."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(too_large_message(len(data)), code="too_large")
    if not data:
        raise ImportFileError(_("The file is empty."), code="empty")
    return decode(data)


# --- validating the rows ------------------------------------------------------------


class ResultRowForm(RowForm):
    payment_reference = forms.CharField(max_length=40)
    paid_on = forms.DateField(
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": _("Enter the date as YYYY-MM-DD, like 2026-10-05.")},
    )
    provider_reference = forms.CharField(max_length=200, required=False)
    status = CodeField(codes=(PAID, FAILED), upper=False)
    amount = forms.DecimalField(
        max_digits=18,
        decimal_places=2,
        required=False,
        error_messages={
            "invalid": _(
                "Enter the amount as a plain number with a dot for decimals, like 2400.00."
            )
        },
    )
    currency = CodeField(codes=tuple(settings.CURRENCIES), upper=True)
    message = forms.CharField(max_length=500, required=False)

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        if not status:
            raise forms.ValidationError(_("Say whether the payment was paid or failed."))
        return status

    def clean_paid_on(self) -> date:
        day = self.cleaned_data["paid_on"]
        if day > timezone.localdate():
            raise forms.ValidationError(_("This date is in the future."))
        return day

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("status") == PAID
            and "provider_reference" in data
            and not data["provider_reference"]
        ):
            self.add_error(
                "provider_reference",
                _("Give the bank's or provider's transaction id for a paid row."),
            )
        return data


@dataclass(frozen=True)
class ResultRow:
    """A valid row, matched to its statement."""

    number: int
    statement: Statement
    reference: str
    paid_on: date
    status: str
    provider_reference: str
    message: str


@dataclass
class Validation:
    period: PayoutPeriod
    text: str
    rows: list[SourceRow]
    valid: list[ResultRow] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"row", "field", "message"}

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def invalid_count(self) -> int:
        return len({error["row"] for error in self.errors})

    def paid(self) -> list[ResultRow]:
        return [row for row in self.valid if row.status == PAID]

    def failed(self) -> list[ResultRow]:
        return [row for row in self.valid if row.status == FAILED]

    def preview(self, *, limit: int = 200) -> tuple[list[str], list[PreviewRow]]:
        """The columns and the first rows, each cell with the errors about it
        (invalid rows first, so problems are visible)."""
        return preview_of(self.rows, self.errors, NAMES, limit=limit)


def _statements_by_id(period: PayoutPeriod, ids: set[int], *, lock: bool) -> dict[int, Statement]:
    queryset = Statement.objects.filter(period=period, pk__in=ids).select_related("partner")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    return {statement.pk: statement for statement in queryset}


def _check_statement(cleaned: dict[str, Any], statement: Statement) -> list[tuple[str, Any]]:
    errors: list[tuple[str, Any]] = []
    if statement.status == Statement.Status.PAID:
        errors.append(
            (
                "payment_reference",
                _("This statement was already paid on %(day)s, reference %(reference)s.")
                % {
                    "day": date_format(statement.paid_on, "SHORT_DATE_FORMAT")
                    if statement.paid_on
                    else "",
                    "reference": statement.payment_reference,
                },
            )
        )
        return errors
    if statement.status != Statement.Status.CLOSED or statement.payable_amount <= 0:
        errors.append(
            (
                "payment_reference",
                _("Nothing on this statement is payable: it is held, blocked or carried forward."),
            )
        )
        return errors
    currency = cleaned.get("currency")
    if currency and currency != statement.currency:
        errors.append(
            (
                "currency",
                _("This statement is paid in %(expected)s, not %(given)s.")
                % {"expected": statement.currency, "given": currency},
            )
        )
    amount = cleaned.get("amount")
    if amount is not None and amount != statement.payable_amount:
        places = minor_units(statement.currency)
        errors.append(
            (
                "amount",
                _("The amount %(given)s differs from the payable amount %(expected)s %(currency)s.")
                % {
                    "given": number_format(amount, places),
                    "expected": number_format(statement.payable_amount, places),
                    "currency": statement.currency,
                },
            )
        )
    return errors


def validate_results(*, period: PayoutPeriod, text: str, lock: bool = False) -> Validation:
    """Every row through the row form, then matched to the period's statements
    (one query; ``lock`` locks them for the import). Messages are in the active
    language."""
    rows = read_rows(text)
    result = Validation(period=period, text=text, rows=rows)
    form = ResultRowForm()
    checked = []
    ids: set[int] = set()
    for row in rows:
        cleaned, field_errors = form.check(row.values)
        errors = [("", problem) for problem in row.problems]
        errors += [
            ("" if name == "__all__" else name, message)
            for name, messages in field_errors
            for message in messages
        ]
        statement_id = None
        if cleaned.get("payment_reference"):
            parsed = parse_payment_reference(cleaned["payment_reference"])
            if parsed is None or parsed[0] != f"{period.start:%Y%m}":
                errors.append(
                    (
                        "payment_reference",
                        str(
                            _("This is not a payment reference of period %(period)s.")
                            % {"period": period.key}
                        ),
                    )
                )
            else:
                statement_id = parsed[1]
                ids.add(statement_id)
        checked.append((row, dict(cleaned), errors, statement_id))
    statements = _statements_by_id(period, ids, lock=lock)
    first_row: dict[int, int] = {}
    for row, cleaned, errors, statement_id in checked:
        statement = statements.get(statement_id) if statement_id is not None else None
        if statement_id is not None and statement is None:
            errors.append(
                (
                    "payment_reference",
                    str(_("No statement of this period has this payment reference.")),
                )
            )
        elif statement is not None:
            if statement.pk in first_row:
                errors.append(
                    (
                        "payment_reference",
                        str(
                            _("Row %(row)s has the same payment reference.")
                            % {"row": first_row[statement.pk]}
                        ),
                    )
                )
            else:
                first_row[statement.pk] = row.number
            errors += [(name, str(text)) for name, text in _check_statement(cleaned, statement)]
        if errors:
            result.errors.extend(
                {"row": row.number, "field": name, "message": str(message)}
                for name, message in errors
            )
        elif statement is not None:
            result.valid.append(
                ResultRow(
                    number=row.number,
                    statement=statement,
                    reference=payment_reference(statement, period),
                    paid_on=cleaned["paid_on"],
                    status=cleaned["status"],
                    provider_reference=cleaned.get("provider_reference", ""),
                    message=cleaned.get("message", ""),
                )
            )
    return result


# --- the services -------------------------------------------------------------------


def _require_closed(period: PayoutPeriod) -> None:
    if period.is_open:
        raise DomainError(
            _("This period is still open: payments are recorded for closed periods only."),
            code="period_open",
        )


def preview_payment_results(*, period: PayoutPeriod, membership, data: bytes) -> Validation:
    """Read and validate an uploaded results file; writes nothing."""
    require_finance(membership)
    _require_closed(period)
    return validate_results(period=period, text=decode_upload(data))


@dataclass(frozen=True)
class ImportReport:
    paid: list[ResultRow]
    failed: list[ResultRow]


def import_payment_results(
    *, period: PayoutPeriod, membership, actor, text: str, filename: str = ""
) -> ImportReport:
    """Import a results file: every row or none, in one transaction. Paid rows
    go through ``mark_paid``; failed rows are audited and leave the statement
    unpaid. Raises ``PaymentResultsInvalid`` (nothing imported) when any row is
    invalid, including rows naming a statement that is already paid."""
    require_finance(membership)
    _require_closed(period)
    with db.atomic():
        result = validate_results(period=period, text=text, lock=True)
        if result.errors:
            raise PaymentResultsInvalid(result.errors)
        for row in result.paid():
            mark_paid(
                statement=row.statement,
                reference=row.provider_reference,
                paid_on=row.paid_on,
                membership=membership,
                actor=actor,
            )
        for row in result.failed():
            record(
                actor=actor,
                action="payouts.payment_failed",
                target=row.statement,
                summary=(row.message or row.reference)[:300],
                data={
                    "payment_reference": row.reference,
                    "provider_reference": row.provider_reference,
                    "on": row.paid_on.isoformat(),
                    "message": row.message,
                    "file": filename,
                },
            )
        record(
            actor=actor,
            action="payouts.payment_results_imported",
            target=period,
            summary=filename or str(period),
            data={
                "rows": result.row_count,
                "paid": [row.statement.pk for row in result.paid()],
                "failed": [row.statement.pk for row in result.failed()],
            },
        )
    return ImportReport(paid=result.paid(), failed=result.failed())


def iter_columns() -> Iterator[tuple[str, bool, str]]:
    """The documented columns (name, required, help) for the upload page."""
    for column in COLUMNS:
        yield column.name, column.required, column.describe()


def template_csv() -> str:
    """An empty results file with its header row (and a byte order mark)."""
    return "\ufeff" + ",".join(NAMES) + "\r\n"
