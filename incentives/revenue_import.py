"""Import revenue events (customer payments, refunds, usage charges) from a CSV file.

Finance uploads the billing system's export, one row per event, with the same
fields as the API (``POST /api/v1/revenue-events/``)::

    external_id,partner,deal,customer_name,kind,amount,currency,occurred_on,usage_quantity
    INV-2026-0001,12,DR-8F3K2Q,Acme Trading,invoice_paid,1000.00,CNY,2026-04-01,
    CN-2026-0001,12,,Acme Trading,refund,200.00,CNY,2026-04-15,
    USE-2026-0001,12,,Acme Trading,usage_charge,350.50,CNY,2026-04-30,1250

Columns (header names as in ``COLUMNS``; order free; UTF-8 with or without a
byte order mark, or UTF-16 with one; comma, semicolon or tab separated — read
with ``deals.imports.files``' helpers, with the deal imports' row limit
``MAX_ROWS`` and the payment results' size limit ``MAX_BYTES``). Each row is
validated like one item of the API: the row form mirrors the API serializer,
the partner is the partner's id and the deal the partner's deal reference
(looked up as the API does, but for the whole file at once), and then
``incentives.services.revenue.check_revenue_event`` — the very checks
``record_revenue_event`` runs — decides. A partner or deal of another tenant
is simply not found (the fail-closed managers hide it), the same row error as
an unknown id.

External ids follow the API's idempotency: an id already recorded with the
same details is a *repeat* — nothing is recorded again and it is no error, so
a file can be uploaded again safely; with different details it is a row error
(a correction is a new event, never an edit). An id given twice in one file is
a row error on the later row.

``preview_revenue_import`` writes nothing and reports every row's errors per
field in the active language. ``import_revenue_events`` validates again (the
preview may be stale) inside one transaction and records every new event or
none: a file with any invalid row raises ``RevenueImportInvalid`` unless the
user chose to import the valid rows only. Events are inserted in bulk, with
one ``incentives.revenue_events_imported`` audit row per import carrying the
counts; the nightly commission job (``incentives.commissions``) picks them up
like events recorded through the API. Finance only (``MANAGE_MONEY``, as the
API's create action).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.db import IntegrityError, transaction
from django.db.models.functions import Upper
from django.utils.formats import number_format
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
from deals.models import DealRegistration
from incentives.models import RevenueEvent
from incentives.services.revenue import check_revenue_event, same_as_recorded
from partners.models import PartnerOrganization
from prm.accounts.roles import Capability, can
from prm.audit.services import record
from prm.errors import Conflict, DomainError, PermissionDenied
from prm.tenancy.context import require_tenant

__all__ = [
    "COLUMNS",
    "MAX_BYTES",
    "MAX_ROWS",
    "ImportFileError",
    "ImportReport",
    "RevenueImportInvalid",
    "Validation",
    "decode_upload",
    "import_revenue_events",
    "iter_columns",
    "preview_revenue_import",
    "require_finance",
    "template_csv",
    "too_large_message",
    "validate_events",
]

# Small enough that the confirm step can carry the signed file in its form.
MAX_BYTES = 1024 * 1024
# Lookups and inserts go by this many rows, so queries grow by chunks, not rows.
CHUNK = 1000
Kind = RevenueEvent.Kind

COLUMNS = (
    Column(
        "external_id",
        True,
        _("The event's id in your billing system, like an invoice number; unique."),
    ),
    Column("partner", True, _("The partner's id, as in the API.")),
    Column("deal", False, _("The partner's deal reference, when the payment belongs to one.")),
    Column("customer_name", True, _("The customer's name.")),
    Column("kind", True, _("One of: %(choices)s."), tuple(Kind.values)),
    Column(
        "amount",
        True,
        _("Positive, with a dot for decimals, like 1000.00; a refund is its own kind."),
    ),
    Column("currency", True, _("The amount's currency, like CNY.")),
    Column("occurred_on", True, _("The day of the payment, refund or charge, as YYYY-MM-DD.")),
    Column("usage_quantity", False, _("Usage charges only: the units charged, like 1250.")),
)
NAMES = tuple(column.name for column in COLUMNS)


class RevenueImportInvalid(DomainError):
    """Rows of the file are invalid, so nothing was imported; ``errors`` says why."""

    code = "invalid_rows"

    def __init__(self, errors: list[dict[str, Any]], *, valid: int):
        self.errors = errors
        rows = len({error["row"] for error in errors})
        if valid:
            message = ngettext(
                "%(count)s row of this file is invalid, so nothing was imported. Fix it and "
                "upload the file again, or import the valid rows only.",
                "%(count)s rows of this file are invalid, so nothing was imported. Fix them and "
                "upload the file again, or import the valid rows only.",
                rows,
            ) % {"count": number_format(rows)}
        else:
            message = str(_("No row of this file is valid: there is nothing to import."))
        super().__init__(message)


def require_finance(membership) -> None:
    """The API's create permission: ``MANAGE_MONEY``."""
    if not can(membership, Capability.MANAGE_MONEY):
        raise PermissionDenied(_("Only finance imports revenue events."))


def too_large_message(size: int) -> str:
    return file_too_large(size, limit=MAX_BYTES)


def decode_upload(data: bytes) -> str:
    """The uploaded file's text, or ``ImportFileError`` (size, encoding)."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(too_large_message(len(data)), code="too_large")
    if not data:
        raise ImportFileError(_("The file is empty."), code="empty")
    return decode(data)


# --- reading the file ---------------------------------------------------------------


def read_rows(text: str) -> list[SourceRow]:
    """Every non-blank data row, after checking the header row. A problem with
    the file as a whole raises ``ImportFileError`` with every reason."""
    return read_rows_of(COLUMNS, text, max_rows=MAX_ROWS)


# --- validating the rows ------------------------------------------------------------


class EventRowForm(RowForm):
    """One row, field by field, as ``RevenueEventInputSerializer`` checks one item."""

    external_id = forms.CharField(max_length=100)
    partner = forms.IntegerField(min_value=1)
    deal = forms.CharField(max_length=40, required=False)
    customer_name = forms.CharField(max_length=200)
    kind = CodeField(codes=tuple(Kind.values), upper=False)
    amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        error_messages={
            "invalid": _(
                "Enter the amount as a plain number with a dot for decimals, like 1000.00."
            )
        },
    )
    currency = forms.CharField(max_length=3)
    occurred_on = forms.DateField(
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": _("Enter the date as YYYY-MM-DD, like 2026-04-01.")},
    )
    usage_quantity = forms.DecimalField(max_digits=18, decimal_places=4, required=False)

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        if not kind:
            raise forms.ValidationError(forms.Field.default_error_messages["required"])
        return kind

    def clean_currency(self) -> str:
        # The service says which currencies are supported; codes match in capitals.
        return self.cleaned_data["currency"].upper()


@dataclass(frozen=True)
class EventRow:
    """A valid row: the event to record (unsaved)."""

    number: int
    event: RevenueEvent


@dataclass
class Validation:
    text: str
    rows: list[SourceRow]
    valid: list[EventRow] = field(default_factory=list)
    # Rows whose external id is already recorded with the same details.
    repeats: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"row", "field", "message"}

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def invalid_count(self) -> int:
        return len({error["row"] for error in self.errors})

    def preview(self, *, limit: int = 200) -> tuple[list[str], list[PreviewRow]]:
        """The columns and the first rows, each cell with the errors about it
        (invalid rows first, so problems are visible)."""
        return preview_of(self.rows, self.errors, NAMES, limit=limit)


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = list(values)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _partners(ids: set[int]) -> dict[int, PartnerOrganization]:
    found: dict[int, PartnerOrganization] = {}
    for chunk in _chunks(sorted(ids)):
        found.update(PartnerOrganization.objects.in_bulk(chunk))
    return found


def _deals(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], DealRegistration]:
    """Deals by (partner id, upper-cased reference): the API's
    ``reference__iexact`` lookup, for the whole file."""
    found: dict[tuple[int, str], DealRegistration] = {}
    for chunk in _chunks(sorted(pairs)):
        queryset = (
            DealRegistration.objects.annotate(reference_upper=Upper("reference"))
            .filter(
                partner_id__in={partner for partner, _ref in chunk},
                reference_upper__in={reference for _partner, reference in chunk},
            )
            .order_by("pk")
        )
        for deal in queryset:
            found.setdefault((deal.partner_id, deal.reference_upper), deal)
    return found


def _recorded(external_ids: set[str]) -> dict[str, RevenueEvent]:
    found: dict[str, RevenueEvent] = {}
    for chunk in _chunks(sorted(external_ids)):
        found.update(
            (event.external_id, event)
            for event in RevenueEvent.objects.filter(external_id__in=chunk)
        )
    return found


def _form_errors(row: SourceRow, field_errors) -> list[tuple[str, str]]:
    errors = [("", problem) for problem in row.problems]
    errors += [
        ("" if name == "__all__" else name, message)
        for name, messages in field_errors
        for message in messages
    ]
    return errors


def validate_events(*, text: str) -> Validation:
    """Every row through the row form, then the partners, deals and recorded
    external ids of the whole file (a query per kind and ``CHUNK`` rows), then
    the service's checks. Messages are in the active language."""
    rows = read_rows(text)
    result = Validation(text=text, rows=rows)
    form = EventRowForm()
    checked = []
    for row in rows:
        cleaned, field_errors = form.check(row.values)
        checked.append((row, dict(cleaned), _form_errors(row, field_errors)))
    partners = _partners({c["partner"] for _r, c, _e in checked if c.get("partner")})
    deals = _deals(
        {
            (c["partner"], c["deal"].upper())
            for _r, c, _e in checked
            if c.get("deal") and c.get("partner") in partners
        }
    )
    recorded = _recorded({c["external_id"] for _r, c, _e in checked if c.get("external_id")})
    tenant = require_tenant()
    first_row: dict[str, int] = {}
    for row, cleaned, errors in checked:
        external_id = cleaned.get("external_id")
        if external_id and external_id in first_row:
            errors.append(
                (
                    "external_id",
                    str(
                        _("Row %(row)s has the same external id.") % {"row": first_row[external_id]}
                    ),
                )
            )
        elif external_id:
            first_row[external_id] = row.number
        partner = partners.get(cleaned["partner"]) if cleaned.get("partner") else None
        if cleaned.get("partner") and partner is None:
            errors.append(("partner", str(_("No partner has this id."))))
        deal = None
        if partner is not None and cleaned.get("deal"):
            deal = deals.get((partner.pk, cleaned["deal"].upper()))
            if deal is None:
                errors.append(("deal", str(_("This partner has no deal with this reference."))))
        if errors:
            result.errors.extend(
                {"row": row.number, "field": name, "message": str(message)}
                for name, message in errors
            )
            continue
        assert partner is not None  # the form requires it and it was found
        try:
            external_id, facts = check_revenue_event(
                partner=partner,
                deal=deal,
                kind=cleaned["kind"],
                amount=cleaned["amount"],
                currency=cleaned["currency"],
                occurred_on=cleaned["occurred_on"],
                external_id=cleaned["external_id"],
                customer_name=cleaned["customer_name"],
                usage_quantity=cleaned.get("usage_quantity"),
            )
        except DomainError as error:
            result.errors.append(
                {"row": row.number, "field": error.field or "", "message": str(error.message)}
            )
            continue
        existing = recorded.get(external_id)
        if existing is not None:
            if same_as_recorded(existing, facts):
                result.repeats.append(row.number)
            else:
                result.errors.append(
                    {
                        "row": row.number,
                        "field": "external_id",
                        "message": str(
                            _("Event %(id)s was already recorded with different details.")
                            % {"id": external_id}
                        ),
                    }
                )
            continue
        event = RevenueEvent(tenant=tenant, external_id=external_id, **facts)
        event.partner, event.deal = partner, deal  # shown on the result page without queries
        result.valid.append(EventRow(row.number, event))
    return result


# --- the services -------------------------------------------------------------------


def preview_revenue_import(*, membership, data: bytes) -> Validation:
    """Read and validate an uploaded revenue events file; writes nothing."""
    require_finance(membership)
    return validate_events(text=decode_upload(data))


@dataclass(frozen=True)
class ImportReport:
    recorded: list[RevenueEvent]
    repeats: int  # already recorded with the same details: nothing to do
    skipped: int  # invalid rows left out (valid rows only)


def import_revenue_events(
    *, membership, actor, text: str, filename: str = "", valid_only: bool = False
) -> ImportReport:
    """Record the file's new events: all of them or none, in one transaction.
    A file with invalid rows raises ``RevenueImportInvalid`` (nothing recorded)
    unless ``valid_only``; then the valid rows are recorded and the invalid ones
    counted as skipped. Validated again from the text (the preview may be stale)."""
    require_finance(membership)
    try:
        with transaction.atomic():
            result = validate_events(text=text)
            if (result.errors and not valid_only) or (
                result.errors and not result.valid and not result.repeats
            ):
                raise RevenueImportInvalid(result.errors, valid=len(result.valid))
            events = [row.event for row in result.valid]
            creator = actor if getattr(actor, "pk", None) else None
            for event in events:
                event.created_by = creator
            for chunk in _chunks(events):
                RevenueEvent.objects.bulk_create(chunk)
            counts = {
                "rows": result.row_count,
                "recorded": len(events),
                "repeats": len(result.repeats),
                "skipped": result.invalid_count,
                "valid_only": valid_only,
            }
            record(
                actor=actor,
                action="incentives.revenue_events_imported",
                target=require_tenant(),
                summary=filename or "revenue-events.csv",
                data=counts,
            )
    except IntegrityError:
        raise Conflict(
            _(
                "The database refused a row, perhaps one someone added a moment ago, so "
                "nothing was imported. Look at the preview again and retry."
            ),
            code="import_failed",
        ) from None
    return ImportReport(recorded=events, repeats=len(result.repeats), skipped=result.invalid_count)


def iter_columns() -> Iterator[tuple[str, bool, str]]:
    """The documented columns (name, required, help) for the upload page."""
    for column in COLUMNS:
        yield column.name, column.required, column.describe()


def template_csv() -> str:
    """An empty revenue events file with its header row (and a byte order mark)."""
    return "\ufeff" + ",".join(NAMES) + "\r\n"
