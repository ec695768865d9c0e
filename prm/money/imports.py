"""Importing exchange rates from a CSV file: all rows, or none.

Guarantees: finance only (``Capability.MANAGE_MONEY``). Every row is checked
like a rate recorded by hand (``prm.money.services``), plus duplicates within
the file and against rates on file; one problem anywhere and nothing is
recorded, with every problem reported by line number. A valid file is recorded
in one transaction (bulk insert) with one audit row.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from prm.audit.services import record
from prm.errors import Conflict, DomainError
from prm.money.models import ExchangeRate
from prm.money.services import (
    RateInput,
    duplicate_rate,
    require_money_manager,
    validated_rate,
    violates,
)
from prm.tenancy.context import require_tenant

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
IMPORT_COLUMNS = ("base_currency", "quote_currency", "rate", "effective_date", "source")
REQUIRED_COLUMNS = ("quote_currency", "rate", "effective_date")


@dataclass(frozen=True)
class RowProblem:
    line: int  # the file's line number (the header is line 1)
    message: str


class RateImportError(DomainError):
    """The file was refused; ``problems`` lists every row's problem."""

    code = "import_invalid"
    default_message = gettext_lazy("Nothing was imported: the file has problems.")

    def __init__(self, problems: list[RowProblem], message=None):
        self.problems = problems
        super().__init__(message)


def _file_problem(message: str) -> RateImportError:
    return RateImportError([RowProblem(line=1, message=message)], message=message)


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _file_problem(_("The file is not valid UTF-16 text.")) from None
    try:
        return data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError:
        raise _file_problem(
            _("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.")
        ) from None


def _parse_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    header_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise _file_problem(_("The file is empty.")) from None
    names = [cell.strip().lower().replace(" ", "_") for cell in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise _file_problem(
            _("The header row lacks these columns: %(columns)s.") % {"columns": ", ".join(missing)}
        )
    rows: list[tuple[int, dict[str, str]]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise _file_problem(
                _("A file holds at most %(count)s rates. Split it.")
                % {"count": number_format(MAX_IMPORT_ROWS)}
            )
        values = {
            name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(names)
        }
        rows.append((reader.line_num, values))
    if not rows:
        raise _file_problem(_("The file has a header row but no rates."))
    return rows


def _parse_date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise DomainError(
            _("Write the effective date as YYYY-MM-DD, like 2026-03-31."),
            code="invalid_date",
            field="effective_date",
        ) from None


def import_rates(*, membership, actor, data: bytes, filename: str = "") -> list[ExchangeRate]:
    """Record every rate in a CSV file, or none of them.

    Columns: ``quote_currency``, ``rate``, ``effective_date`` (YYYY-MM-DD),
    and optionally ``base_currency`` (default: the tenant's currency) and
    ``source``. A row whose pair and date is already recorded, or appears twice
    in the file, is a problem like any other."""
    require_money_manager(membership)
    if len(data) > MAX_IMPORT_BYTES:
        raise _file_problem(_("The file is too large; split it."))
    rows = _parse_rows(_decode(data))
    problems: list[RowProblem] = []
    values: list[tuple[int, RateInput]] = []
    seen: dict[tuple[str, str, datetime.date], int] = {}
    for line, row in rows:
        try:
            value = validated_rate(
                base=row.get("base_currency", ""),
                quote=row.get("quote_currency", ""),
                rate=row.get("rate", ""),
                effective_date=_parse_date(row.get("effective_date", "")),
                source=row.get("source", "") or filename,
            )
        except DomainError as error:
            problems.append(RowProblem(line=line, message=str(error.message)))
            continue
        key = (value.base, value.quote, value.effective_date)
        if key in seen:
            problems.append(
                RowProblem(
                    line=line,
                    message=_("The same rate is on line %(line)s.") % {"line": seen[key]},
                )
            )
            continue
        seen[key] = line
        values.append((line, value))
    if values:
        existing = set(
            ExchangeRate.objects.filter(
                effective_date__in={value.effective_date for _line, value in values},
                base_currency__in={value.base for _line, value in values},
            ).values_list("base_currency", "quote_currency", "effective_date")
        )
        for line, value in values:
            if (value.base, value.quote, value.effective_date) in existing:
                problems.append(RowProblem(line=line, message=str(duplicate_rate(value).message)))
    if problems:
        problems.sort(key=lambda problem: problem.line)
        raise RateImportError(
            problems,
            message=_("Nothing was imported: %(count)s rows have problems.")
            % {"count": number_format(len({problem.line for problem in problems}))},
        )
    tenant = require_tenant()
    try:
        with transaction.atomic():
            created = ExchangeRate.objects.bulk_create(
                [
                    ExchangeRate(
                        tenant=tenant,
                        base_currency=value.base,
                        quote_currency=value.quote,
                        rate=value.rate,
                        effective_date=value.effective_date,
                        source=value.source,
                        created_by=actor,
                    )
                    for _line, value in values
                ]
            )
            record(
                actor=actor,
                action="exchange_rate.imported",
                target=created[0],
                summary=_("%(count)s rates imported from %(file)s")
                % {"count": len(created), "file": filename or "CSV"},
                data={"count": len(created), "filename": filename, "ids": [r.pk for r in created]},
            )
    except IntegrityError as exc:
        if violates(exc, "money_rate_pair_date_revision_unique"):
            raise Conflict(
                _("Someone recorded some of these rates meanwhile. Nothing was imported."),
                code="rate_exists",
            ) from exc
        raise
    return created


def import_template() -> str:
    """An example file with the import's header row."""
    return ",".join(IMPORT_COLUMNS) + "\r\n"
