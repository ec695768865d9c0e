"""Validating an import file's rows: one form per kind checks each row (errors
per field, in the active language), then external ids are checked against
earlier rows and the database."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from deals.forms import country_code, website_or_domain
from deals.imports.files import ImportFileError, SourceRow, read_table
from deals.models import Account, CompanySize, ImportBatch, Lead

Kind = ImportBatch.Kind


# --- one form per kind validates one row ------------------------------------------


class CodeField(forms.CharField):
    """One code of a fixed list, matched case-insensitively."""

    def __init__(self, *, codes: tuple[str, ...], upper: bool, **kwargs: Any):
        self.codes, self.upper = codes, upper
        super().__init__(required=False, **kwargs)

    def to_python(self, value: Any) -> str:
        text = super().to_python(value) or ""
        return text.upper() if self.upper else text.lower()

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and value not in self.codes:
            raise ValidationError(
                _("“%(value)s” is not allowed here. Use one of: %(choices)s."),
                code="invalid_choice",
                params={"value": value, "choices": ", ".join(self.codes)},
            )


def _country(*, required: bool) -> forms.CharField:
    return forms.CharField(required=required, validators=[country_code])


def _website() -> forms.CharField:
    return forms.CharField(max_length=253, required=False, validators=[website_or_domain])


def _external_id() -> forms.CharField:
    return forms.CharField(max_length=100, required=False)


class RowForm(forms.Form):
    """Validates one row at a time. A file has thousands of rows, so one form
    is bound to each row in turn (``check``) rather than built, with a deep
    copy of every field, per row; nothing in the form keeps a row's state
    between ``full_clean`` calls."""

    def check(self, values: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, list[str]]]]:
        """The row's cleaned values (the valid fields) and its errors per field,
        as text in the active language."""
        self.data, self.is_bound = values, True
        self.full_clean()
        errors = [
            (name, [str(message) for error in items for message in error.messages])
            for name, items in self.errors.as_data().items()
        ]
        return self.cleaned_data, errors


class LeadRowForm(RowForm):
    company = forms.CharField(max_length=200)
    contact_name = forms.CharField(max_length=200)
    contact_email = forms.EmailField(max_length=254)
    country = _country(required=True)
    phone = forms.CharField(max_length=40, required=False)
    website = _website()
    region = forms.CharField(max_length=100, required=False)
    industry = forms.CharField(max_length=60, required=False)
    company_size = CodeField(codes=tuple(CompanySize.values), upper=False)
    estimated_amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        error_messages={
            "invalid": _(
                "Enter the amount as a plain number with a dot for decimals, like 12500.50."
            )
        },
    )
    currency = CodeField(codes=tuple(settings.CURRENCIES), upper=True)
    source = forms.CharField(max_length=100, required=False)
    notes = forms.CharField(required=False)
    external_id = _external_id()

    def clean_country(self) -> str:
        return self.cleaned_data["country"].upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("estimated_amount") is not None and "currency" in data and not data["currency"]:
            self.add_error("currency", _("Give the amount's currency."))
        return data


class AccountRowForm(RowForm):
    name = forms.CharField(max_length=200)
    domain = _website()
    country = _country(required=False)
    owner = forms.CharField(max_length=200, required=False)
    external_id = _external_id()

    def clean_country(self) -> str:
        return self.cleaned_data["country"].upper()


def row_form_class(kind: str) -> type[RowForm]:
    return LeadRowForm if kind == Kind.LEADS else AccountRowForm


# --- validating every row ----------------------------------------------------------------


@dataclass
class Validation:
    row_count: int
    valid: list[dict[str, Any]]  # cleaned data of each valid row, in file order
    errors: list[dict[str, Any]]  # {"row", "field", "message"}, in file order


def _existing_external_ids(kind: str, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    if kind == Kind.LEADS:
        return set(Lead.objects.filter(external_id__in=ids).values_list("external_id", flat=True))
    found = Account.objects.filter(kind=kind, external_id__in=ids)
    return set(found.values_list("external_id", flat=True))


def validate_rows(kind: str, text: str) -> Validation:
    """Every row through the kind's form, then external ids against earlier
    rows and the database (one query). Messages are in the active language."""
    table = read_table(kind, text)
    form = row_form_class(kind)()
    checked: list[tuple[SourceRow, dict[str, Any], list[dict[str, Any]]]] = []
    for row in table.rows:
        cleaned, field_errors = form.check(row.values)
        errors = [{"row": row.number, "field": "", "message": p} for p in row.problems]
        errors.extend(
            {"row": row.number, "field": "" if name == "__all__" else name, "message": message}
            for name, messages in field_errors
            for message in messages
        )
        checked.append((row, cleaned, errors))
    if not checked:
        raise ImportFileError(_("The file has a header row but no data rows."), code="no_rows")
    ids = [cleaned["external_id"] for _r, cleaned, _e in checked if cleaned.get("external_id")]
    existing = _existing_external_ids(kind, ids)
    exists_message = (
        _("A lead with this external id already exists.")
        if kind == Kind.LEADS
        else _("An account of this kind with this external id already exists.")
    )
    first_row: dict[str, int] = {}
    result = Validation(row_count=len(checked), valid=[], errors=[])
    for row, cleaned, errors in checked:
        external_id = cleaned.get("external_id")
        if external_id in existing:
            errors.append(
                {"row": row.number, "field": "external_id", "message": str(exists_message)}
            )
        elif external_id and external_id in first_row:
            errors.append(
                {
                    "row": row.number,
                    "field": "external_id",
                    "message": _("Row %(row)s has the same external id.")
                    % {"row": first_row[external_id]},
                }
            )
        elif external_id:
            first_row[external_id] = row.number
        if errors:
            result.errors.extend(errors)
        else:
            result.valid.append(cleaned)
    return result
